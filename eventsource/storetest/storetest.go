// Package storetest holds the conformance suites store implementations run
// in their own tests: Run for an eventsource.EventStore (versions, positions,
// optimistic concurrency), RunDeadLetterQueue and RunSnapshotStore, so every
// backend behaves alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// NewEvent returns an unsaved event of the given type.
func NewEvent(typ string) eventsource.Event {
	return eventsource.Event{Type: typ, Timestamp: time.UnixMilli(1_700_000_000_000), Data: []byte(`{"k":1}`)}
}

// Run runs the suite. newStore must return an empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) eventsource.EventStore) {
	t.Run("AppendAssignsVersionsAndPositions", func(t *testing.T) { appendAssigns(t, newStore(t)) })
	t.Run("GetEventsFromVersion", func(t *testing.T) { getFrom(t, newStore(t)) })
	t.Run("ReadAllPages", func(t *testing.T) { readAll(t, newStore(t)) })
	t.Run("ConflictError", func(t *testing.T) { conflict(t, newStore(t)) })
	t.Run("InvalidAppends", func(t *testing.T) { invalid(t, newStore(t)) })
	t.Run("ConcurrentWritersOneStream", func(t *testing.T) { concurrentOneStream(t, newStore(t)) })
	t.Run("ConcurrentWritersManyStreams", func(t *testing.T) { concurrentManyStreams(t, newStore(t)) })
}

// chk turns (value, error) results into values, failing the test on error.
type chk struct{ t *testing.T }

func (c chk) evs(v []eventsource.Event, err error) []eventsource.Event {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func (c chk) pos(v int64, err error) int64 {
	c.t.Helper()
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func appendAssigns(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	a := c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("X"), NewEvent("Y")}))
	b := c.evs(s.AppendEvents(ctx, "b", "Order", 0, []eventsource.Event{NewEvent("X")}))
	a2 := c.evs(s.AppendEvents(ctx, "a", "Order", 2, []eventsource.Event{NewEvent("Z")}))
	got := append(append(a, b...), a2...)
	want := []struct {
		agg      string
		ver, pos int64
	}{{"a", 1, 1}, {"a", 2, 2}, {"b", 1, 3}, {"a", 3, 4}}
	if len(got) != len(want) {
		t.Fatalf("got %d events", len(got))
	}
	for i, w := range want {
		e := got[i]
		if e.AggregateID != w.agg || e.Version != w.ver || e.Position != w.pos || e.AggregateType != "Order" || e.ID == "" {
			t.Errorf("event %d = %+v, want agg %s version %d position %d", i, e, w.agg, w.ver, w.pos)
		}
	}
	if head := c.pos(s.HeadPosition(ctx)); head != 4 {
		t.Errorf("head = %d, want 4", head)
	}
}

func getFrom(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	in := NewEvent("X")
	in.Metadata = map[string]string{"k": "v"}
	c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{in, NewEvent("Y"), NewEvent("Z")}))
	all := c.evs(s.GetEvents(ctx, "a", 0))
	if len(all) != 3 || all[0].Type != "X" || all[0].Metadata["k"] != "v" || string(all[0].Data) != `{"k":1}` ||
		!all[0].Timestamp.Equal(in.Timestamp) {
		t.Fatalf("GetEvents(0) = %+v", all)
	}
	tail := c.evs(s.GetEvents(ctx, "a", 2))
	if len(tail) != 1 || tail[0].Version != 3 {
		t.Fatalf("GetEvents(2) = %+v", tail)
	}
	if none := c.evs(s.GetEvents(ctx, "missing", 0)); len(none) != 0 {
		t.Fatalf("unknown stream returned %d events", len(none))
	}
	// Returned events must not alias the store's copies.
	all[0].Metadata["k"] = "changed"
	if again := c.evs(s.GetEvents(ctx, "a", 0)); again[0].Metadata["k"] != "v" {
		t.Fatal("store state changed through a returned event")
	}
}

func readAll(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	for i := range 5 {
		c.evs(s.AppendEvents(ctx, fmt.Sprint("agg", i), "Order", 0, []eventsource.Event{NewEvent("X")}))
	}
	p1 := c.evs(s.ReadAll(ctx, 0, 2))
	p2 := c.evs(s.ReadAll(ctx, 2, 2))
	p3 := c.evs(s.ReadAll(ctx, 4, 2))
	p4 := c.evs(s.ReadAll(ctx, 5, 2))
	if len(p1) != 2 || len(p2) != 2 || len(p3) != 1 || len(p4) != 0 {
		t.Fatalf("pages %d %d %d %d", len(p1), len(p2), len(p3), len(p4))
	}
	if p1[0].Position != 1 || p2[0].Position != 3 || p3[0].Position != 5 {
		t.Fatalf("positions %d %d %d", p1[0].Position, p2[0].Position, p3[0].Position)
	}
}

func conflict(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("X")}))
	_, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("Y")})
	var ce *eventsource.ConcurrencyError
	if !errors.As(err, &ce) || !errors.Is(err, eventsource.ErrConcurrencyConflict) {
		t.Fatalf("err = %v, want ConcurrencyError", err)
	}
	if ce.AggregateID != "a" || ce.Expected != 0 || ce.Actual != 1 {
		t.Fatalf("conflict = %+v", ce)
	}
	// The failed append left nothing behind.
	if head := c.pos(s.HeadPosition(ctx)); head != 1 {
		t.Fatalf("head = %d after conflict", head)
	}
	c.evs(s.AppendEvents(ctx, "a", "Order", eventsource.AnyVersion, []eventsource.Event{NewEvent("Y")}))
}

func invalid(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	if _, err := s.AppendEvents(ctx, "", "Order", 0, []eventsource.Event{NewEvent("X")}); err == nil {
		t.Error("empty aggregate id accepted")
	}
	if _, err := s.AppendEvents(ctx, "a", "Order", 0, nil); err == nil {
		t.Error("empty append accepted")
	}
	other := NewEvent("X")
	other.AggregateID = "b"
	if _, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{other}); err == nil {
		t.Error("event of another aggregate accepted")
	}
	if _, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{{}}); err == nil {
		t.Error("event without type accepted")
	}
	if head := c.pos(s.HeadPosition(ctx)); head != 0 {
		t.Errorf("head = %d after rejected appends", head)
	}
}

// concurrentOneStream races writers on one stream: every version is won by
// exactly one writer, the losers get conflicts, positions stay contiguous.
func concurrentOneStream(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	const writers, rounds = 8, 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	for range writers {
		wg.Go(func() {
			for range rounds {
				evs, err := s.GetEvents(ctx, "hot", 0)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = s.AppendEvents(ctx, "hot", "Order", int64(len(evs)), []eventsource.Event{NewEvent("X")})
				mu.Lock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventsource.ErrConcurrencyConflict):
					conflicts++
				default:
					t.Error(err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	evs := c.evs(s.GetEvents(ctx, "hot", 0))
	if len(evs) != wins || wins+conflicts != writers*rounds || wins == 0 {
		t.Fatalf("wins %d conflicts %d stored %d", wins, conflicts, len(evs))
	}
	for i, e := range evs {
		if e.Version != int64(i+1) || e.Position != int64(i+1) {
			t.Fatalf("event %d has version %d position %d", i, e.Version, e.Position)
		}
	}
}

func concurrentManyStreams(t *testing.T, s eventsource.EventStore) {
	ctx := context.Background()
	c := chk{t}
	const writers, per = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				if _, err := s.AppendEvents(ctx, fmt.Sprint("w", w), "Order", int64(i), []eventsource.Event{NewEvent("X")}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	all := c.evs(s.ReadAll(ctx, 0, 0))
	if len(all) != writers*per {
		t.Fatalf("read %d events", len(all))
	}
	for i, e := range all {
		if e.Position != int64(i+1) {
			t.Fatalf("position gap at %d: %d", i, e.Position)
		}
	}
}
