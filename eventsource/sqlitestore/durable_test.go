package sqlitestore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

func tempStore(t *testing.T) *Store {
	s := open(t, filepath.Join(t.TempDir(), "events.db"))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestDLQConformance(t *testing.T) {
	storetest.RunDeadLetterQueue(t, func(t *testing.T) eventsource.DeadLetterQueue { return tempStore(t).DLQ() })
}

func TestSnapshotConformance(t *testing.T) {
	storetest.RunSnapshotStore(t, func(t *testing.T) eventsource.SnapshotStore { return tempStore(t).Snapshots() })
}

// picky fails every event of type Poison until fixed.
type picky struct {
	mu      sync.Mutex
	fixed   bool
	applied []int64
}

func (*picky) Name() string { return "balances" }

func (p *picky) Apply(_ context.Context, e eventsource.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Type == "Poison" && !p.fixed {
		return assert.AnError
	}
	p.applied = append(p.applied, e.Position)
	return nil
}

func (p *picky) Reset(context.Context) error { return nil }

func runner(t *testing.T, s *Store, p eventsource.Projection) *eventsource.ProjectionRunner {
	t.Helper()
	r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{
		Projection: p, Store: s, Checkpoints: s, DLQ: s.DLQ(), MaxAttempts: 2})
	require.NoError(t, err)
	return r
}

// TestDeadLettersSurviveRestart: the checkpoint moves past dead-lettered
// events, and after a restart every dead letter is still there, whole, ready
// to be retried; a lost checkpoint write that makes the projection fail the
// same events again does not duplicate them.
func TestDeadLettersSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bank.db")
	ctx := context.Background()
	s := open(t, path)
	var appended []eventsource.Event
	for i, typ := range []string{"Deposited", "Poison", "Deposited", "Poison"} {
		e := storetest.NewEvent(typ)
		e.Metadata = map[string]string{"k": "v"}
		stored, err := s.AppendEvents(ctx, "acct-1", "Account", int64(i), []eventsource.Event{e})
		require.NoError(t, err)
		appended = append(appended, stored...)
	}
	p := &picky{}
	_, err := runner(t, s, p).CatchUp(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 3}, p.applied)
	require.NoError(t, s.Close())

	s = open(t, path)
	cp, err := s.GetCheckpoint(ctx, "balances")
	require.NoError(t, err)
	assert.Equal(t, int64(4), cp, "the checkpoint moved past the dead letters")
	dead, err := s.DLQ().Get(ctx, "balances")
	require.NoError(t, err)
	require.Len(t, dead, 2, "every dead letter survived the restart")
	for i, d := range dead {
		want := appended[2*i+1]
		assert.True(t, want.Timestamp.Equal(d.Event.Timestamp))
		want.Timestamp = d.Event.Timestamp
		assert.Equal(t, want, d.Event)
		assert.Equal(t, 2, d.Attempts)
		assert.Equal(t, assert.AnError.Error(), d.Error)
	}

	// The checkpoint write is lost (as in a crash right after the DLQ add):
	// the events are applied again and fail again, still two dead letters.
	require.NoError(t, s.ResetCheckpoint(ctx, "balances"))
	_, err = runner(t, s, &picky{}).CatchUp(ctx)
	require.NoError(t, err)
	again, err := s.DLQ().Get(ctx, "balances")
	require.NoError(t, err)
	require.Len(t, again, 2)
	assert.Equal(t, []string{dead[0].ID, dead[1].ID}, []string{again[0].ID, again[1].ID})
	assert.Equal(t, 4, again[0].Attempts)
	require.NoError(t, s.Close())

	// After the fix, retrying resolves them, and that too is durable.
	s = open(t, path)
	defer s.Close()
	fixed := &picky{fixed: true}
	n, err := runner(t, s, fixed).RetryDeadLetters(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, []int64{2, 4}, fixed.applied)
	require.NoError(t, s.Close())
	s = open(t, path)
	left, err := s.DLQ().Get(ctx, "balances")
	require.NoError(t, err)
	assert.Empty(t, left)
}

type account struct {
	eventsource.Root
	Balance int64 `json:"balance"`
}

func newAccount(id string) *account {
	a := &account{}
	a.Init(id, "Account", func(e eventsource.Event) error {
		var d struct{ Amount int64 }
		if err := e.Decode(&d); err != nil {
			return err
		}
		a.Balance += d.Amount
		return nil
	})
	return a
}

func (a *account) SnapshotState() ([]byte, error) { return json.Marshal(a) }

func (a *account) RestoreSnapshot(state []byte, version int64) error {
	a.SetVersion(version)
	return json.Unmarshal(state, a)
}

// TestSnapshotsSurviveRestart: a snapshot taken before a restart is what the
// repository loads from afterwards, reading only the newer events.
func TestSnapshotsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bank.db")
	ctx := context.Background()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(ctx) }()
	opt := eventsource.WithTracerProvider(tp)
	repo := func(s *Store) *eventsource.Repository[*account] {
		r, err := eventsource.NewRepository(eventsource.RepositoryConfig[*account]{Store: s, Factory: newAccount, Snapshots: s.Snapshots()}, opt)
		require.NoError(t, err)
		return r
	}
	deposit := func(r *eventsource.Repository[*account], a *account, amount int64) {
		require.NoError(t, a.Raise("Deposited", map[string]int64{"Amount": amount}))
		_, err := r.Save(ctx, a)
		require.NoError(t, err)
	}

	s := open(t, path, opt)
	r := repo(s)
	a := r.New("acct-1")
	deposit(r, a, 10)
	deposit(r, a, 5)
	require.NoError(t, r.CreateSnapshot(ctx, a))
	require.NoError(t, s.Close())

	s = open(t, path, opt)
	defer s.Close()
	r = repo(s)
	a, err := r.Load(ctx, "acct-1")
	require.NoError(t, err)
	deposit(r, a, 1)
	sr.Reset()
	a, err = r.Load(ctx, "acct-1")
	require.NoError(t, err)
	assert.Equal(t, int64(16), a.Balance)
	assert.Equal(t, int64(3), a.Version())

	var get, events sdktrace.ReadOnlySpan
	for _, sp := range sr.Ended() {
		switch sp.Name() {
		case semconv.SpanSnapshotGet:
			get = sp
		case semconv.EventStoreSQLite + semconv.SpanSuffixGetEvents:
			events = sp
		}
	}
	require.NotNil(t, get)
	require.NotNil(t, events)
	// eventsource-py's snapshot.get: the aggregate's id and type, no db.system, no version (storetest.CheckSnapshotSpans).
	assert.ElementsMatch(t, []attribute.KeyValue{attribute.String(semconv.AttrESAggregateID, "acct-1"),
		attribute.String(semconv.AttrESAggregateType, "Account")}, get.Attributes())
	assert.Contains(t, events.Attributes(), attribute.Int64(semconv.AttrESFromVersion, 2), "only the events after the snapshot are read")
}
