package buswire

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryDelayDoublesAndCaps(t *testing.T) {
	r := Retry{BaseDelay: time.Second, MaxDelay: 5 * time.Second}
	for retries, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		if got := r.Delay(retries); got != want {
			t.Errorf("Delay(%d) = %v, want %v", retries, got, want)
		}
	}
	r.Jitter = 0.5
	for range 100 {
		if d := r.Delay(1); d < time.Second || d > 3*time.Second {
			t.Fatalf("Delay(1) with jitter 0.5 = %v, outside 2s ± 50%%", d)
		}
	}
}

func TestFillRetry(t *testing.T) {
	n, base, maxDelay, jitter := 0, time.Duration(0), time.Duration(0), 0.0
	FillRetry(&n, &base, &maxDelay, &jitter)
	if n != 3 || base != time.Second || maxDelay != time.Minute || jitter != 0.1 {
		t.Errorf("defaults: %d %v %v %v", n, base, maxDelay, jitter)
	}
	n, jitter = -1, -1
	FillRetry(&n, &base, &maxDelay, &jitter)
	if n != 0 || jitter != 0 {
		t.Errorf("negative means none: %d retries, jitter %v", n, jitter)
	}
	if errs := (Retry{BaseDelay: 2, MaxDelay: 1, Jitter: 2}).Check(); len(errs) != 2 {
		t.Errorf("Check: %v", errs)
	}
}

func TestLifecycle(t *testing.T) {
	errClosed, errConsuming := errors.New("closed"), errors.New("consuming")
	l := NewLifecycle(errClosed, errConsuming)
	ctx, end, err := l.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Begin(context.Background()); !errors.Is(err, errConsuming) {
		t.Fatalf("a second Consume: %v", err)
	}
	// Close cancels the running Consume, then waits for it to end: it must not return before end is
	// called. The Consume here ends only after the check, so a correct Close cannot fail it however slow
	// the machine; the 100 ms only give a Close that does not wait the time to show it.
	closed := make(chan bool, 1)
	go func() { closed <- l.Close() }()
	<-ctx.Done()
	select {
	case <-closed:
		t.Fatal("Close returned before the running Consume")
	case <-time.After(100 * time.Millisecond):
	}
	end()
	if !<-closed {
		t.Fatal("the first Close reports false")
	}
	if l.Close() || !l.Closed() {
		t.Fatal("a second Close reports true, or the bus is not closed")
	}
	if _, _, err := l.Begin(context.Background()); !errors.Is(err, errClosed) {
		t.Fatalf("Consume after Close: %v", err)
	}
}
