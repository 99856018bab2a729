package storetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// RunOutbox runs the transactional outbox suite. newStore must return an
// empty store with its outbox on (Outbox() not nil) each call.
func RunOutbox(t *testing.T, newStore func(t *testing.T) eventsource.OutboxStore) {
	t.Run("AppendWritesOneRowPerEvent", func(t *testing.T) { outboxRows(t, newStore(t)) })
	t.Run("FailedAppendWritesNoRow", func(t *testing.T) { outboxFailedAppend(t, newStore(t)) })
	t.Run("RelayPublishesInOrderThenMarks", func(t *testing.T) { outboxRelayOrder(t, newStore(t)) })
	t.Run("PublishErrorLeavesRowsPending", func(t *testing.T) { outboxPublishError(t, newStore(t)) })
	t.Run("RepositorySaveGoesThroughTheOutbox", func(t *testing.T) { outboxRepository(t, newStore(t)) })
	t.Run("CleanupDeletesOnlyPublishedRows", func(t *testing.T) { outboxCleanup(t, newStore(t)) })
	t.Run("GivesUpOnAPoisonEntryThenRequeues", func(t *testing.T) { outboxGiveUp(t, newStore(t)) })
}

// poisoned refuses any batch holding an event of its type; it records what it published.
type poisoned struct {
	Recorder
	typ string
}

func (p *poisoned) Publish(ctx context.Context, events []eventsource.Event) error {
	for _, e := range events {
		if e.Type == p.typ {
			return fmt.Errorf("cannot serialise %s", e.Type)
		}
	}
	return p.Recorder.Publish(ctx, events)
}

// outboxGiveUp: one entry no publish accepts sits second of five. With MaxAttempts 3 the relay isolates
// it, gives it up after three failed publishes (its error kept), and publishes the other four in order;
// the stats count it; requeued, it is published once the publisher takes it.
func outboxGiveUp(t *testing.T, s eventsource.OutboxStore) {
	dl, ok := s.Outbox().(eventsource.OutboxDeadLetters)
	st, ok2 := s.Outbox().(eventsource.OutboxStatter)
	if !ok || !ok2 {
		t.Skip("the outbox lists no dead letters or counts nothing")
	}
	ctx := context.Background()
	c := chk{t}
	c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("A"), NewEvent("Poison"), NewEvent("C")}))
	c.evs(s.AppendEvents(ctx, "b", "Order", 0, []eventsource.Event{NewEvent("D"), NewEvent("E")}))
	pub := &poisoned{typ: "Poison"}
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: s.Outbox(), Publisher: pub, BatchSize: 10, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if n, _ := r.RelayOnce(ctx); n == 0 && len(pending(t, s)) == 0 {
			break
		}
	}
	var types []string
	for _, e := range pub.Events() {
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "A,C,D,E" {
		t.Fatalf("published %v, want A,C,D,E", types)
	}
	failed, err := dl.Failed(ctx, 10)
	if err != nil || len(failed) != 1 || failed[0].Event.Type != "Poison" || failed[0].Attempts != 3 ||
		!strings.Contains(failed[0].LastError, "cannot serialise Poison") {
		t.Fatalf("failed entries %+v, %v", failed, err)
	}
	if rs := r.Stats(); rs.GaveUp != 1 || rs.Published != 4 {
		t.Fatalf("relay stats %+v", rs)
	}
	if got, err := st.Stats(ctx); err != nil || got.Pending != 0 || got.Failed != 1 || got.Published != 4 || !got.OldestPending.IsZero() {
		t.Fatalf("outbox stats %+v, %v", got, err)
	}

	pub.typ = "" // fixed: the publisher takes it now
	if n, err := dl.Requeue(ctx, []int64{failed[0].ID, failed[0].ID + 1000}); n != 1 || err != nil {
		t.Fatalf("requeued %d: %v", n, err)
	}
	if got, err := st.Stats(ctx); err != nil || got.Pending != 1 || got.Failed != 0 || got.OldestPending.IsZero() {
		t.Fatalf("outbox stats after the requeue %+v, %v", got, err)
	}
	if n, err := r.RelayOnce(ctx); n != 1 || err != nil {
		t.Fatalf("relayed %d after the requeue: %v", n, err)
	}
	if got := pub.Events(); got[len(got)-1].Type != "Poison" {
		t.Fatalf("published last %+v", got[len(got)-1])
	}
}

// OutboxCleaner is an outbox that can delete old published rows
// (sqlstore.Outbox is one).
type OutboxCleaner interface {
	Cleanup(ctx context.Context, olderThanDays int) (int64, error)
}

func outboxCleanup(t *testing.T, s eventsource.OutboxStore) {
	cl, ok := s.Outbox().(OutboxCleaner)
	if !ok {
		t.Skip("the outbox has no Cleanup")
	}
	ctx := context.Background()
	c := chk{t}
	c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("X"), NewEvent("Y")}))
	if n, err := relay(t, s, &Recorder{}, 10).RelayOnce(ctx); n != 2 || err != nil {
		t.Fatalf("relayed %d: %v", n, err)
	}
	c.evs(s.AppendEvents(ctx, "a", "Order", 2, []eventsource.Event{NewEvent("Z")}))
	if n, err := cl.Cleanup(ctx, 1); n != 0 || err != nil {
		t.Fatalf("cleanup of rows older than a day deleted %d: %v", n, err)
	}
	if n, err := cl.Cleanup(ctx, 0); n != 2 || err != nil {
		t.Fatalf("cleanup deleted %d published rows, want 2: %v", n, err)
	}
	if rows := pending(t, s); len(rows) != 1 || rows[0].Event.Type != "Z" {
		t.Fatalf("pending after cleanup: %+v", rows)
	}
}

// Recorder is an eventsource.EventPublisher that records what it is given;
// while Fail is set, Publish returns it instead.
type Recorder struct {
	mu     sync.Mutex
	events []eventsource.Event
	fail   error
	calls  int
}

// Publish implements eventsource.EventPublisher.
func (r *Recorder) Publish(_ context.Context, events []eventsource.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		return r.fail
	}
	r.events = append(r.events, events...)
	return nil
}

// Fail makes Publish fail with err (nil: succeed again).
func (r *Recorder) Fail(err error) {
	r.mu.Lock()
	r.fail = err
	r.mu.Unlock()
}

// Events returns the events published so far.
func (r *Recorder) Events() []eventsource.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]eventsource.Event(nil), r.events...)
}

func pending(t *testing.T, s eventsource.OutboxStore) []eventsource.OutboxEntry {
	t.Helper()
	got, err := s.Outbox().GetPending(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func outboxRows(t *testing.T, s eventsource.OutboxStore) {
	ctx := context.Background()
	c := chk{t}
	in := NewEvent("X")
	in.Metadata = map[string]string{"k": "v"}
	stored := c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{in, NewEvent("Y")}))
	stored = append(stored, c.evs(s.AppendEvents(ctx, "b", "Order", 0, []eventsource.Event{NewEvent("Z")}))...)
	rows := pending(t, s)
	if len(rows) != len(stored) {
		t.Fatalf("%d outbox rows for %d events", len(rows), len(stored))
	}
	for i, r := range rows {
		w, g := stored[i], r.Event
		if i > 0 && r.ID <= rows[i-1].ID {
			t.Errorf("row %d: id %d after %d", i, r.ID, rows[i-1].ID)
		}
		if g.ID != w.ID || g.Type != w.Type || g.AggregateID != w.AggregateID || g.AggregateType != w.AggregateType ||
			g.Version != w.Version || g.Position != w.Position || string(g.Data) != string(w.Data) ||
			!g.Timestamp.Equal(w.Timestamp) || len(g.Metadata) != len(w.Metadata) || r.Attempts != 0 {
			t.Errorf("row %d = %+v, want the stored event %+v", i, r, w)
		}
		for k, v := range w.Metadata {
			if g.Metadata[k] != v {
				t.Errorf("row %d: metadata %s = %q, want %q", i, k, g.Metadata[k], v)
			}
		}
	}
}

func outboxFailedAppend(t *testing.T, s eventsource.OutboxStore) {
	ctx := context.Background()
	c := chk{t}
	c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("X")}))
	if _, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("Y"), NewEvent("Z")}); !errors.Is(err, eventsource.ErrConcurrencyConflict) {
		t.Fatalf("err = %v, want a conflict", err)
	}
	if _, err := s.AppendEvents(ctx, "b", "Order", 0, []eventsource.Event{NewEvent("ok"), {}}); err == nil {
		t.Fatal("event without type accepted")
	}
	if rows := pending(t, s); len(rows) != 1 {
		t.Fatalf("%d outbox rows after one good append", len(rows))
	}
}

func relay(t *testing.T, s eventsource.OutboxStore, p eventsource.EventPublisher, batch int) *eventsource.OutboxRelay {
	t.Helper()
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: s.Outbox(), Publisher: p, BatchSize: batch})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func outboxRelayOrder(t *testing.T, s eventsource.OutboxStore) {
	ctx := context.Background()
	c := chk{t}
	for i := range 3 {
		c.evs(s.AppendEvents(ctx, fmt.Sprint("agg", i%2), "Order", int64(i/2), []eventsource.Event{NewEvent("X")}))
	}
	rec := &Recorder{}
	r := relay(t, s, rec, 2)
	var passes []int
	for range 10 {
		n, err := r.RelayOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		passes = append(passes, n)
		if n == 0 {
			break
		}
	}
	if fmt.Sprint(passes) != "[2 1 0]" {
		t.Fatalf("passes published %v, want [2 1 0] (batch size 2)", passes)
	}
	got := rec.Events()
	for i, e := range got {
		if e.Position != int64(i+1) {
			t.Fatalf("published positions out of order: %d at %d", e.Position, i)
		}
	}
	if len(got) != 3 || len(pending(t, s)) != 0 || r.Stats().Published != 3 {
		t.Fatalf("published %d, %d still pending, stats %+v", len(got), len(pending(t, s)), r.Stats())
	}
}

func outboxPublishError(t *testing.T, s eventsource.OutboxStore) {
	ctx := context.Background()
	c := chk{t}
	stored := c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("X"), NewEvent("Y")}))
	rec := &Recorder{}
	rec.Fail(errors.New("broker down"))
	var reported []error
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: s.Outbox(), Publisher: rec,
		OnError: func(err error) { reported = append(reported, err) }})
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		n, err := r.RelayOnce(ctx)
		var pe *eventsource.PublishError
		if n != 0 || !errors.As(err, &pe) || pe.Attempts != attempt || len(pe.Events) != 2 {
			t.Fatalf("attempt %d: n %d err %v", attempt, n, err)
		}
		rows := pending(t, s)
		if len(rows) != 2 || rows[0].Attempts != attempt || rows[1].Attempts != attempt || !strings.Contains(rows[0].LastError, "broker down") {
			t.Fatalf("after failed attempt %d the rows are %+v", attempt, rows)
		}
	}
	if st := r.Stats(); st.Failed != 2 || st.Published != 0 || len(reported) != 2 {
		t.Fatalf("stats %+v, %d reported", st, len(reported))
	}
	rec.Fail(nil)
	if n, err := r.RelayOnce(ctx); n != 2 || err != nil {
		t.Fatalf("after recovery: n %d err %v", n, err)
	}
	got := rec.Events()
	if len(got) != 2 || got[0].ID != stored[0].ID || got[1].ID != stored[1].ID || len(pending(t, s)) != 0 {
		t.Fatalf("published %+v", got)
	}
}

// Counter is a minimal aggregate for the outbox tests: Add raises Added.
type Counter struct {
	eventsource.Root
	N int
}

// NewCounter is Counter's repository factory.
func NewCounter(id string) *Counter {
	c := &Counter{}
	c.Init(id, "Counter", func(eventsource.Event) error { c.N++; return nil })
	return c
}

// Add raises one Added event.
func (c *Counter) Add() error { return c.Raise("Added", map[string]int{"n": c.N + 1}) }

func outboxRepository(t *testing.T, s eventsource.OutboxStore) {
	ctx := context.Background()
	rec := &Recorder{}
	if _, err := eventsource.NewRepository(eventsource.RepositoryConfig[*Counter]{Store: s, Factory: NewCounter, Publisher: rec}); err == nil {
		t.Fatal("a repository publishing directly to a store with an outbox was accepted")
	}
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*Counter]{Store: s, Factory: NewCounter})
	if err != nil {
		t.Fatal(err)
	}
	var stored []eventsource.Event
	for i := range 4 {
		c := repo.New(fmt.Sprint("c", i))
		if err := c.Add(); err != nil {
			t.Fatal(err)
		}
		if err := c.Add(); err != nil {
			t.Fatal(err)
		}
		evs, err := repo.Save(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, evs...)
	}
	if len(rec.Events()) != 0 || len(pending(t, s)) != len(stored) {
		t.Fatalf("Save published %d events itself; %d rows pending", len(rec.Events()), len(pending(t, s)))
	}
	r := relay(t, s, rec, 3)
	r.Start(ctx)
	defer r.Stop()
	waitFor(t, func() bool { return len(rec.Events()) >= len(stored) }, "the relay to publish every saved event")
	r.Stop()
	checkDelivered(t, stored, rec.Events())
}

// waitFor polls cond until it holds, failing t after a minute.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkDelivered fails t unless every stored event was published at least
// once, and each aggregate's events in version order.
func checkDelivered(t *testing.T, stored, published []eventsource.Event) {
	t.Helper()
	seen := map[string]int{}
	last := map[string]int64{}
	for _, e := range published {
		seen[e.ID]++
		if e.Version < last[e.AggregateID] {
			t.Errorf("%s: version %d published after %d", e.AggregateID, e.Version, last[e.AggregateID])
		}
		last[e.AggregateID] = e.Version
	}
	lost := 0
	for _, e := range stored {
		if seen[e.ID] == 0 {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d stored events were never published", lost, len(stored))
	}
}

const (
	envCrashChild  = "STORETEST_OUTBOX_CRASH_CHILD"
	envCrashTarget = "STORETEST_OUTBOX_CRASH_TARGET"
	crashStored    = "OUTBOX-CRASH-STORED "
)

// IsOutboxCrashChild reports whether this process is the child
// RunOutboxCrash re-executed; a TestMain that starts shared resources (a
// database server) should skip them then.
func IsOutboxCrashChild() bool { return os.Getenv(envCrashChild) != "" }

// RunOutboxCrash proves that the transactional outbox loses no event when
// the process is killed (SIGKILL) after Repository.Save and before the
// publish. Call it from a top-level test, with target naming the store
// (a file path, a URL) and open opening a store with its outbox on at
// target.
//
// The test binary re-executes itself, running only the calling test, as a
// child that saves aggregates through a Repository while a relay's
// publisher blocks forever, prints how many events it stored, and waits.
// The parent kills it with SIGKILL, opens the store again, relays with a
// recording publisher, and checks that every stored event was published
// (at least once) and no row stays pending.
func RunOutboxCrash(t *testing.T, target string, open func(t *testing.T, target string) eventsource.OutboxStore) {
	if IsOutboxCrashChild() {
		crashChild(t, os.Getenv(envCrashTarget), open)
		return
	}
	ctx := context.Background()
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), envCrashChild+"=1", envCrashTarget+"="+target)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // on failure paths
	storedN := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), crashStored); ok {
				v, _ := strconv.Atoi(strings.TrimSpace(n))
				storedN <- v
			}
		}
		close(storedN)
	}()
	var n int
	select {
	case v, ok := <-storedN:
		if !ok {
			t.Fatal("the child exited before storing its events")
		}
		n = v
	case <-time.After(2 * time.Minute):
		t.Fatal("the child did not report its events stored within 2 minutes")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL: %v", err)
	}

	s := open(t, target)
	stored, err := s.ReadAll(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n {
		t.Fatalf("the child reported %d events stored, the store holds %d", n, len(stored))
	}
	if rows := pending(t, s); len(rows) != n {
		t.Fatalf("%d outbox rows pending for %d events the child never got published", len(rows), n)
	}
	rec := &Recorder{}
	r := relay(t, s, rec, 7)
	for range n + 2 { // bounded: every pass publishes at least one row or ends
		done, err := r.RelayOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if done == 0 {
			break
		}
	}
	checkDelivered(t, stored, rec.Events())
	if rows := pending(t, s); len(rows) != 0 {
		t.Fatalf("%d rows still pending after the relay", len(rows))
	}
	t.Logf("child killed by %v after storing %d events; %d published after the restart", ws.Signal(), n, len(rec.Events()))
}

// blocked is a publisher that never returns (until the process dies).
type blocked struct{ called chan struct{} }

func (b blocked) Publish(ctx context.Context, _ []eventsource.Event) error {
	select {
	case b.called <- struct{}{}:
	default:
	}
	select {} // the process is killed while publishing
}

func crashChild(t *testing.T, target string, open func(t *testing.T, target string) eventsource.OutboxStore) {
	ctx := context.Background()
	s := open(t, target)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*Counter]{Store: s, Factory: NewCounter})
	if err != nil {
		t.Fatal(err)
	}
	pub := blocked{called: make(chan struct{}, 1)}
	r := relay(t, s, pub, 5)
	r.Start(ctx) // its first publish never returns
	n := 0
	for i := range 10 {
		c := repo.New(fmt.Sprint("crash-", i))
		for range 3 {
			if err := c.Add(); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := repo.Save(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		n += len(evs)
	}
	select {
	case <-pub.called: // the relay is inside Publish: killed between append and publish
	case <-time.After(time.Minute):
		t.Fatal("the relay never called the publisher")
	}
	fmt.Printf("%s%d\n", crashStored, n)
	time.Sleep(5 * time.Minute) // killed long before
	t.Fatal("the child was not killed")
}
