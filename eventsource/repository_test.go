package eventsource_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func TestRepositoryLoadSaveExistsSnapshot(t *testing.T) {
	sr, tp := newRecorder(t)
	opt := eventsource.WithTracerProvider(tp)
	store := eventsource.NewInMemoryEventStore(opt)
	snaps := eventsource.NewInMemorySnapshotStore(opt)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: store, Factory: newOrder, Snapshots: snaps}, opt)
	require.NoError(t, err)
	ctx := context.Background()

	_, err = repo.Load(ctx, "o1")
	require.ErrorIs(t, err, eventsource.ErrAggregateNotFound)
	ok, err := repo.Exists(ctx, "o1")
	require.NoError(t, err)
	assert.False(t, ok)

	o := repo.New("o1")
	require.NoError(t, o.Place(3))
	_, err = repo.Save(ctx, o)
	require.NoError(t, err)
	assert.Empty(t, o.PendingEvents())
	require.NoError(t, repo.CreateSnapshot(ctx, o))
	require.NoError(t, o.Cancel())
	_, err = repo.Save(ctx, o)
	require.NoError(t, err)

	loaded, err := repo.Load(ctx, "o1")
	require.NoError(t, err)
	assert.Equal(t, int64(2), loaded.Version())
	assert.Equal(t, "cancelled", loaded.Status)
	assert.Equal(t, 3, loaded.Qty, "state restored from the snapshot")
	ok, err = repo.Exists(ctx, "o1")
	require.NoError(t, err)
	assert.True(t, ok)

	spans := sr.Ended()
	load := byName(spans, semconv.SpanRepositoryLoad)
	require.Len(t, load, 2)
	snapGet := byName(spans, semconv.SpanSnapshotGet)
	require.Len(t, snapGet, 2)
	assertChild(t, snapGet[1], load[1])
	// The second load reads only the events after the snapshot.
	gets := byName(spans, semconv.EventStoreInMemory+semconv.SpanSuffixGetEvents)
	var fromSnap bool
	for _, g := range gets {
		if g.Parent().SpanID() == load[1].SpanContext().SpanID() {
			fromSnap = true
			assert.Equal(t, int64(1), attrs(g)[semconv.AttrESFromVersion].AsInt64())
			assert.Equal(t, int64(1), attrs(g)[semconv.AttrESEventCount].AsInt64())
		}
	}
	assert.True(t, fromSnap)
	one(t, spans, semconv.SpanRepositorySnapshot)
	one(t, spans, semconv.SpanSnapshotSave)
	assert.Len(t, byName(spans, semconv.SpanRepositoryExists), 2)
}

func TestRepositoryConcurrentSavesConflict(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder})
	require.NoError(t, err)
	ctx := context.Background()
	o := repo.New("o1")
	require.NoError(t, o.Place(1))
	_, err = repo.Save(ctx, o)
	require.NoError(t, err)

	// Many writers load the same version and cancel: exactly one wins.
	const writers = 16
	var wg sync.WaitGroup
	errs := make([]error, writers)
	copies := make([]*order, writers)
	for i := range writers {
		copies[i], err = repo.Load(ctx, "o1")
		require.NoError(t, err)
	}
	for i := range writers {
		wg.Go(func() {
			if errs[i] = copies[i].Cancel(); errs[i] == nil {
				_, errs[i] = repo.Save(ctx, copies[i])
			}
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else {
			require.ErrorIs(t, err, eventsource.ErrConcurrencyConflict)
			assert.Contains(t, err.Error(), "expected version 1, stream is at 2")
		}
	}
	assert.Equal(t, 1, wins)
}

func TestSnapshotStoreKeepsNewest(t *testing.T) {
	s := eventsource.NewInMemorySnapshotStore()
	ctx := context.Background()
	require.NoError(t, s.SaveSnapshot(ctx, eventsource.Snapshot{AggregateID: "a", Version: 5, State: []byte("5")}))
	require.NoError(t, s.SaveSnapshot(ctx, eventsource.Snapshot{AggregateID: "a", Version: 3, State: []byte("3")}))
	got, ok, err := s.GetSnapshot(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, int64(5), got.Version)
	ok, _ = s.SnapshotExists(ctx, "a")
	assert.True(t, ok)
	require.NoError(t, s.DeleteSnapshot(ctx, "a"))
	ok, _ = s.SnapshotExists(ctx, "a")
	assert.False(t, ok)
}
