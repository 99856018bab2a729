package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// RunCheckpointStore runs the checkpoint store suite. newStore must return
// an empty store each call.
func RunCheckpointStore(t *testing.T, newStore func(t *testing.T) eventsource.CheckpointStore) {
	t.Run("UnknownIsZero", func(t *testing.T) { cpUnknown(t, newStore(t)) })
	t.Run("UpdateGetReset", func(t *testing.T) { cpUpdateReset(t, newStore(t)) })
	t.Run("ProjectionsAreIndependent", func(t *testing.T) { cpIndependent(t, newStore(t)) })
}

func getCheckpoint(t *testing.T, s eventsource.CheckpointStore, projection string) int64 {
	t.Helper()
	pos, err := s.GetCheckpoint(context.Background(), projection)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func cpUnknown(t *testing.T, s eventsource.CheckpointStore) {
	if pos := getCheckpoint(t, s, "p"); pos != 0 {
		t.Fatalf("unknown projection at %d", pos)
	}
	if err := s.ResetCheckpoint(context.Background(), "p"); err != nil {
		t.Fatalf("resetting an unknown projection: %v", err)
	}
}

func cpUpdateReset(t *testing.T, s eventsource.CheckpointStore) {
	ctx := context.Background()
	for _, pos := range []int64{3, 5, 4} {
		if err := s.UpdateCheckpoint(ctx, "p", pos); err != nil {
			t.Fatal(err)
		}
		if got := getCheckpoint(t, s, "p"); got != pos {
			t.Fatalf("after update to %d: %d", pos, got)
		}
	}
	if err := s.ResetCheckpoint(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if got := getCheckpoint(t, s, "p"); got != 0 {
		t.Fatalf("after reset: %d", got)
	}
}

func cpIndependent(t *testing.T, s eventsource.CheckpointStore) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := s.UpdateCheckpoint(ctx, fmt.Sprint("p", i), int64(i+1)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.ResetCheckpoint(ctx, "p0"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		want := int64(i + 1)
		if i == 0 {
			want = 0
		}
		if got := getCheckpoint(t, s, fmt.Sprint("p", i)); got != want {
			t.Errorf("p%d at %d, want %d", i, got, want)
		}
	}
}
