package eventsource_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

// memOutbox is an eventsource.Outbox in memory whose calls can fail.
type memOutbox struct {
	mu                  sync.Mutex
	rows                []eventsource.OutboxEntry
	published           map[int64]bool
	failGet, failMark   error
	marks, retries, ids int
}

func (o *memOutbox) add(events ...eventsource.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range events {
		o.ids++
		o.rows = append(o.rows, eventsource.OutboxEntry{ID: int64(o.ids), Event: e})
	}
}

func (o *memOutbox) GetPending(_ context.Context, limit int) ([]eventsource.OutboxEntry, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failGet != nil {
		return nil, o.failGet
	}
	var out []eventsource.OutboxEntry
	for _, r := range o.rows {
		if !o.published[r.ID] && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (o *memOutbox) MarkPublished(_ context.Context, ids []int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failMark != nil {
		return o.failMark
	}
	if o.published == nil {
		o.published = map[int64]bool{}
	}
	for _, id := range ids {
		o.published[id] = true
	}
	o.marks++
	return nil
}

func (o *memOutbox) MarkFailed(_ context.Context, id int64, _ string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.published == nil {
		o.published = map[int64]bool{}
	}
	o.published[id] = true // out of the line: enough for the relay's side
	return nil
}

func (o *memOutbox) IncrementRetry(_ context.Context, id int64, _ string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.retries++
	for i := range o.rows {
		if o.rows[i].ID == id {
			o.rows[i].Attempts++
		}
	}
	return nil
}

// outboxStore is an in-memory store with an outbox (not transactional:
// enough for the repository's side).
type outboxStore struct {
	*eventsource.InMemoryEventStore
	ob *memOutbox
}

func (s outboxStore) Outbox() eventsource.Outbox { return s.ob }

func (s outboxStore) AppendEvents(ctx context.Context, id, typ string, expected int64, events []eventsource.Event) ([]eventsource.Event, error) {
	stored, err := s.InMemoryEventStore.AppendEvents(ctx, id, typ, expected, events)
	if err == nil {
		s.ob.add(stored...)
	}
	return stored, err
}

func TestRepositoryWithOutboxDoesNotPublish(t *testing.T) {
	s := outboxStore{eventsource.NewInMemoryEventStore(), &memOutbox{}}
	rec := &storetest.Recorder{}
	_, err := eventsource.NewRepository(eventsource.RepositoryConfig[*storetest.Counter]{Store: s, Factory: storetest.NewCounter, Publisher: rec})
	if err == nil {
		t.Fatal("Publisher with an outbox store accepted")
	}
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*storetest.Counter]{Store: s, Factory: storetest.NewCounter})
	if err != nil {
		t.Fatal(err)
	}
	c := repo.New("c1")
	if err := c.Add(); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Save(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if len(s.ob.rows) != 1 || repo.PublishStats() != (eventsource.PublishStats{}) {
		t.Fatalf("rows %d, stats %+v", len(s.ob.rows), repo.PublishStats())
	}
	// A store whose outbox is off is an ordinary store: Publisher allowed.
	off := outboxStore{eventsource.NewInMemoryEventStore(), nil}
	if _, err := eventsource.NewRepository(eventsource.RepositoryConfig[*storetest.Counter]{Store: nilOutbox{off}, Factory: storetest.NewCounter, Publisher: rec}); err != nil {
		t.Fatal(err)
	}
}

// nilOutbox is a store whose outbox is switched off.
type nilOutbox struct{ outboxStore }

func (nilOutbox) Outbox() eventsource.Outbox { return nil }

func TestOutboxRelayConfig(t *testing.T) {
	if _, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: &memOutbox{}}); err == nil {
		t.Fatal("relay without publisher accepted")
	}
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: &memOutbox{}, Publisher: &storetest.Recorder{}})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop() // without Start
	r.Stop()
	r.Start(context.Background()) // after Stop: does nothing
}

func TestOutboxRelayCountsOutboxErrors(t *testing.T) {
	ob := &memOutbox{failGet: errors.New("db down")}
	ob.add(storetest.NewEvent("X"))
	rec := &storetest.Recorder{}
	var reported []error
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: ob, Publisher: rec,
		OnError: func(err error) { reported = append(reported, err) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.RelayOnce(ctx); err == nil {
		t.Fatal("read error swallowed")
	}
	ob.failGet, ob.failMark = nil, errors.New("db down")
	if _, err := r.RelayOnce(ctx); err == nil {
		t.Fatal("mark error swallowed")
	}
	// Published but not marked: published again (at least once).
	ob.failMark = nil
	if n, err := r.RelayOnce(ctx); n != 1 || err != nil {
		t.Fatalf("n %d err %v", n, err)
	}
	if st := r.Stats(); st.Errors != 2 || st.Published != 1 || len(reported) != 2 || len(rec.Events()) != 2 {
		t.Fatalf("stats %+v reported %d published %d", st, len(reported), len(rec.Events()))
	}
}

func TestOutboxRelayStartStop(t *testing.T) {
	ob := &memOutbox{}
	for range 250 {
		ob.add(storetest.NewEvent("X"))
	}
	rec := &storetest.Recorder{}
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: ob, Publisher: rec, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.Start(ctx)
	r.Start(ctx) // second call does nothing
	waitUntil(t, func() bool { return r.Stats().Published == 250 })
	ob.add(storetest.NewEvent("Late"))
	waitUntil(t, func() bool { return r.Stats().Published == 251 })
	r.Stop()
	ob.mu.Lock()
	marks := ob.marks
	ob.mu.Unlock()
	if marks < 4 || len(rec.Events()) != 251 {
		t.Fatalf("%d marks, %d published", marks, len(rec.Events()))
	}
}

// After Stop, Drain publishes what the loop had not reached, batch after batch, and stops at the first
// failed publish with the rest pending.
func TestOutboxRelayDrainAfterStop(t *testing.T) {
	ob := &memOutbox{}
	for range 250 {
		ob.add(storetest.NewEvent("X"))
	}
	rec := &storetest.Recorder{}
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: ob, Publisher: rec, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	r.Stop() // never started: everything is still pending
	n, err := r.Drain(context.Background())
	if n != 250 || err != nil || len(rec.Events()) != 250 {
		t.Fatalf("drained %d (%v), published %d", n, err, len(rec.Events()))
	}
	if n, err := r.Drain(context.Background()); n != 0 || err != nil {
		t.Fatalf("an empty outbox drained %d (%v)", n, err)
	}

	ob.add(storetest.NewEvent("Y"))
	failing := &storetest.Recorder{}
	failing.Fail(errors.New("broker down"))
	r2, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: ob, Publisher: failing})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r2.Drain(context.Background()); n != 0 || err == nil {
		t.Fatalf("a failing publisher drained %d (%v)", n, err)
	}
	if pending, _ := ob.GetPending(context.Background(), 10); len(pending) != 1 {
		t.Fatalf("%d pending after a failed drain, want 1", len(pending))
	}
}

// waitUntil polls cond until it holds, failing t after a minute.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOutboxSpansMatchTheCatalogue: every eventsource.outbox.* span the
// instrumentation emits has the name and exactly the attribute keys of
// eventsource-py 0.14's PostgreSQL outbox (testdata/eventsource-py-0.14).
func TestOutboxSpansMatchTheCatalogue(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "eventsource-py-0.14", "spans.yaml"))
	if err != nil {
		t.Skip("the span catalogue is not next to this module:", err)
	}
	want := map[string][]string{}
	for _, entry := range strings.Split(string(raw), "\n- name: ")[1:] {
		name := strings.Trim(strings.SplitN(entry, "\n", 2)[0], `"`)
		if !strings.Contains(entry, "adapters/postgresql/outbox.py") {
			continue
		}
		_, rest, _ := strings.Cut(entry, "attributes: [")
		list, _, _ := strings.Cut(rest, "]")
		var keys []string
		for _, k := range strings.Split(list, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		want[name] = keys
	}
	if len(want) == 0 {
		t.Fatal("no PostgreSQL outbox spans in the catalogue")
	}
	sr, tp := newRecorder(t)
	o := eventsource.NewOutboxInstrumentation("postgresql", eventsource.WithTracerProvider(tp))
	ctx := context.Background()
	_, sp := o.StartAdd(ctx, eventsource.Event{ID: "e", Type: "X", AggregateID: "a", AggregateType: "Order"})
	o.End(sp, nil)
	_, sp = o.StartGetPending(ctx, 10)
	o.EndGetPending(sp, 1, nil)
	_, sp = o.StartMarkPublished(ctx, 1)
	o.End(sp, nil)
	_, sp = o.StartIncrementRetry(ctx, 1, "boom")
	o.End(sp, nil)
	_, sp = o.StartCleanup(ctx, 7)
	o.EndCleanup(sp, 3, nil)
	for _, s := range sr.Ended() {
		var keys []string
		for _, kv := range s.Attributes() {
			keys = append(keys, string(kv.Key))
		}
		sort.Strings(keys)
		w, ok := want[s.Name()]
		if !ok {
			t.Errorf("%s is not a span of eventsource-py's outbox", s.Name())
			continue
		}
		if strings.Join(keys, ",") != strings.Join(w, ",") {
			t.Errorf("%s has attributes %v, eventsource-py %v", s.Name(), keys, w)
		}
	}
	if len(sr.Ended()) != 5 {
		t.Fatalf("%d spans", len(sr.Ended()))
	}
}

// statOutbox is a memOutbox that counts itself as an OutboxStatter does.
type statOutbox struct {
	*memOutbox
	stats eventsource.OutboxStats
}

func (o statOutbox) Stats(context.Context) (eventsource.OutboxStats, error) { return o.stats, nil }

// With a MeterProvider, the relay reports the outbox's state as gauges read from its Stats, until Stop.
func TestOutboxRelayGauges(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	ob := statOutbox{memOutbox: &memOutbox{}, stats: eventsource.OutboxStats{Pending: 7, Failed: 2, Published: 40,
		OldestPending: time.Now().Add(-90 * time.Second)}}
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: ob, Publisher: &storetest.Recorder{}, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() map[string]float64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Gauge[int64]:
					got[m.Name] = float64(d.DataPoints[0].Value)
				case metricdata.Gauge[float64]:
					got[m.Name] = d.DataPoints[0].Value
				}
			}
		}
		return got
	}
	got := collect()
	if got[semconv.MetricOutboxPending] != 7 || got[semconv.MetricOutboxFailed] != 2 {
		t.Fatalf("gauges %v", got)
	}
	if a := got[semconv.MetricOutboxOldestPendingAge]; a < 90 || a > 3600 {
		t.Fatalf("oldest pending age %v s, want about 90", a)
	}
	r.Stop()
	if got := collect(); len(got) != 0 {
		t.Fatalf("gauges after Stop: %v", got)
	}
}
