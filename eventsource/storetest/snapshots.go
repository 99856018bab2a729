package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// RunSnapshotStore runs the snapshot store suite. newStore must return an
// empty store each call.
func RunSnapshotStore(t *testing.T, newStore func(t *testing.T) eventsource.SnapshotStore) {
	t.Run("SaveGetRoundTrip", func(t *testing.T) { snapRoundTrip(t, newStore(t)) })
	t.Run("NewestWins", func(t *testing.T) { snapNewest(t, newStore(t)) })
	t.Run("ExistsDelete", func(t *testing.T) { snapExistsDelete(t, newStore(t)) })
}

func snapshot(id string, version int64, state string) eventsource.Snapshot {
	return eventsource.Snapshot{AggregateID: id, AggregateType: "Order", Version: version, State: []byte(state),
		CreatedAt: time.Unix(1_700_000_200, version)}
}

func getSnapshot(t *testing.T, s eventsource.SnapshotStore, id string) (eventsource.Snapshot, bool) {
	t.Helper()
	snap, ok, err := s.GetSnapshot(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return snap, ok
}

func snapRoundTrip(t *testing.T, s eventsource.SnapshotStore) {
	if _, ok := getSnapshot(t, s, "a"); ok {
		t.Fatal("a snapshot of an unknown aggregate")
	}
	want := snapshot("a", 3, `{"qty":3}`)
	if err := s.SaveSnapshot(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	want.State[0] = 'X' // the store kept its own copy
	got, ok := getSnapshot(t, s, "a")
	if !ok || got.AggregateID != "a" || got.AggregateType != "Order" || got.Version != 3 ||
		!bytes.Equal(got.State, []byte(`{"qty":3}`)) || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("got %+v (found %v)", got, ok)
	}
}

func snapNewest(t *testing.T, s eventsource.SnapshotStore) {
	ctx := context.Background()
	for _, snap := range []eventsource.Snapshot{snapshot("a", 5, "five"), snapshot("a", 3, "three"), snapshot("b", 1, "b")} {
		if err := s.SaveSnapshot(ctx, snap); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := getSnapshot(t, s, "a"); got.Version != 5 || string(got.State) != "five" {
		t.Fatalf("an older snapshot replaced a newer one: %+v", got)
	}
	if err := s.SaveSnapshot(ctx, snapshot("a", 7, "seven")); err != nil {
		t.Fatal(err)
	}
	if got, _ := getSnapshot(t, s, "a"); got.Version != 7 || string(got.State) != "seven" {
		t.Fatalf("a newer snapshot was not kept: %+v", got)
	}
}

func snapExistsDelete(t *testing.T, s eventsource.SnapshotStore) {
	ctx := context.Background()
	if err := s.SaveSnapshot(ctx, snapshot("a", 1, "x")); err != nil {
		t.Fatal(err)
	}
	exists := func(id string) bool {
		ok, err := s.SnapshotExists(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !exists("a") || exists("b") {
		t.Fatal("SnapshotExists is wrong before delete")
	}
	if err := s.DeleteSnapshot(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if exists("a") {
		t.Fatal("the snapshot is still there after DeleteSnapshot")
	}
	if err := s.DeleteSnapshot(ctx, "never"); err != nil {
		t.Fatalf("deleting a missing snapshot: %v", err)
	}
}
