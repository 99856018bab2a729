package pgstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore/pgtest"
)

// counting records how many times each event was published, across relays.
type counting struct {
	mu   sync.Mutex
	seen map[string]int
	by   map[string]int // events per relay
}

func (c *counting) publisher(relay string) eventsource.EventPublisher {
	return publishFunc(func(_ context.Context, events []eventsource.Event) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range events {
			c.seen[e.ID]++
			c.by[relay]++
		}
		return nil
	})
}

type publishFunc func(context.Context, []eventsource.Event) error

func (f publishFunc) Publish(ctx context.Context, events []eventsource.Event) error {
	return f(ctx, events)
}

// appendMany appends n events, over n/10 aggregates, through s.
func appendMany(t *testing.T, s *Store, n int) []eventsource.Event {
	t.Helper()
	var stored []eventsource.Event
	for a := range n / 10 {
		evs := make([]eventsource.Event, 10)
		for i := range evs {
			evs[i] = eventsource.Event{Type: "Deposited", Data: []byte(`{}`)}
		}
		got, err := s.AppendEvents(context.Background(), fmt.Sprint("acct-", a), "Account", 0, evs)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, got...)
	}
	return stored
}

// relayUntilEmpty runs RelayOnce until the outbox has nothing pending: rows claimed by a relay that died
// are taken once their lease ends, so an empty pass waits a little; the deadline only bounds a failure.
func relayUntilEmpty(t *testing.T, s *Store, r *eventsource.OutboxRelay) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := s.outbox.Stats(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if st.Pending == 0 {
			return
		}
		n, err := r.RelayOnce(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		if n == 0 {
			if time.Now().After(deadline) {
				t.Errorf("%d rows still pending after a minute", st.Pending)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func openShared(t *testing.T, dsn string, lease time.Duration) *Store {
	t.Helper()
	s, err := OpenConfig(context.Background(), dsn, Config{Outbox: true, OutboxLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Three relays, each with its own connection pool as three processes would have, share one outbox: every
// one of 1,000 events is published exactly once.
func TestOutboxSharedByThreeRelays(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	stores := []*Store{openShared(t, dsn, time.Minute), openShared(t, dsn, time.Minute), openShared(t, dsn, time.Minute)}
	stored := appendMany(t, stores[0], 1000)
	c := runRelays(t, stores, 10)
	checkOnce(t, stored, c)
	t.Logf("published by relay: %v", c.by)
}

// runRelays runs one relay per store, all at once, batch entries a pass, until nothing is pending, and
// returns what they published.
func runRelays(t *testing.T, stores []*Store, batch int) *counting {
	t.Helper()
	c := &counting{seen: map[string]int{}, by: map[string]int{}}
	var wg sync.WaitGroup
	for i, s := range stores {
		r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: s.Outbox(), Publisher: c.publisher(fmt.Sprint("relay-", i)), BatchSize: batch})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { relayUntilEmpty(t, s, r) })
	}
	wg.Wait()
	return c
}

func checkOnce(t *testing.T, stored []eventsource.Event, c *counting) {
	t.Helper()
	twice := 0
	for _, e := range stored {
		switch c.seen[e.ID] {
		case 0:
			t.Fatalf("event %s (position %d) never published", e.ID, e.Position)
		case 1:
		default:
			twice++
		}
	}
	if twice > 0 || len(c.seen) != len(stored) {
		t.Fatalf("%d of %d events published more than once (%d published)", twice, len(stored), len(c.seen))
	}
}

const (
	envSharedChild = "PGSTORE_SHARED_OUTBOX_CHILD"
	claimedLine    = "SHARED-OUTBOX-CLAIMED"
)

// A relay in another process claims a batch and is killed with SIGKILL while publishing it; the two relays
// left publish everything, the dead relay's batch once its 1 s lease ends: every event exactly once (the
// dead relay never got to publish).
func TestSharedOutboxSurvivesAKilledRelay(t *testing.T) {
	const lease = time.Second
	if dsn := os.Getenv(envSharedChild); dsn != "" {
		sharedChild(t, dsn, lease)
		return
	}
	dsn := pgtest.NewDatabase(t)
	a, b := openShared(t, dsn, lease), openShared(t, dsn, lease)
	stored := appendMany(t, a, 500)

	cmd := exec.Command(os.Args[0], "-test.run=^TestSharedOutboxSurvivesAKilledRelay$", "-test.count=1", "-test.timeout=5m")
	// The crash children of storetest skip the shared server in TestMain too.
	cmd.Env = append(os.Environ(), envSharedChild+"="+dsn, "STORETEST_OUTBOX_CRASH_CHILD=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	claimed := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), claimedLine) {
				close(claimed)
				return
			}
		}
	}()
	select {
	case <-claimed:
	case <-time.After(2 * time.Minute):
		t.Fatal("the child relay did not claim a batch within 2 minutes")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the child was not killed by SIGKILL: %v", cmd.ProcessState)
	}

	c := runRelays(t, []*Store{a, b}, 25)
	checkOnce(t, stored, c)
	t.Logf("the killed relay's batch waited out its lease; published by the two left: %v", c.by)
}

// sharedChild claims one batch of 50 through a relay whose publisher never returns, says so, and waits to be
// killed.
func sharedChild(t *testing.T, dsn string, lease time.Duration) {
	s := openShared(t, dsn, lease)
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: s.Outbox(), BatchSize: 50,
		Publisher: publishFunc(func(context.Context, []eventsource.Event) error {
			fmt.Println(claimedLine)
			select {} // killed while publishing
		})})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = r.RelayOnce(context.Background())
}

// A failed publish gives its claimed rows back at once: the same relay's next pass publishes them, in order,
// rather than skipping to later rows for the length of the lease.
func TestSharedOutboxFailedPublishGivesRowsBack(t *testing.T) {
	s := openShared(t, pgtest.NewDatabase(t), time.Hour)
	stored := appendMany(t, s, 20)
	var got []eventsource.Event
	fail := true
	r, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: s.Outbox(), BatchSize: 10,
		Publisher: publishFunc(func(_ context.Context, events []eventsource.Event) error {
			if fail {
				fail = false
				return fmt.Errorf("broker down")
			}
			got = append(got, events...)
			return nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.RelayOnce(ctx); err == nil {
		t.Fatal("the first publish did not fail")
	}
	for range 2 {
		if n, err := r.RelayOnce(ctx); n != 10 || err != nil {
			t.Fatalf("relayed %d: %v", n, err)
		}
	}
	for i, e := range got {
		if e.ID != stored[i].ID {
			t.Fatalf("published #%d is position %d, want %d: the failed batch's rows stayed claimed", i, e.Position, stored[i].Position)
		}
	}
}
