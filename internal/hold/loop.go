package hold

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/otelcol-es/otelcol-es/internal/release"
)

// Loop is the one goroutine that releases held spans when their wait ends.
// It sleeps on a timer set to the next deadline (exact, no polling tick),
// waits for Notify while nothing is held, and, while the next consumer's
// refusals are kept for another attempt, comes back after the retry
// interval to offer them again.
type Loop struct {
	clock   clockwork.Clock
	retry   time.Duration
	sender  *release.Retrier
	next    func() (int64, bool)
	release func(context.Context)

	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	started bool
}

// NewLoop returns a stopped loop. next returns the next deadline (unix
// nanoseconds) and whether anything is held; release releases what is due
// and sends it through sender (which also offers the spans it kept). Both
// take the caller's lock themselves.
func NewLoop(clock clockwork.Clock, retryInterval time.Duration, sender *release.Retrier,
	next func() (int64, bool), release func(context.Context),
) *Loop {
	return &Loop{
		clock: clock, retry: retryInterval, sender: sender, next: next, release: release,
		wake: make(chan struct{}, 1),
	}
}

// Start starts the goroutine.
func (l *Loop) Start() {
	if l.started {
		return
	}
	l.started = true
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.run()
}

// Stop stops the goroutine and waits for it; it does not release anything.
func (l *Loop) Stop() {
	if !l.started {
		return
	}
	close(l.stop)
	<-l.done
	l.started = false
}

// Notify wakes the loop when it may be idle: call it when the first span is
// held, or when a send was refused (the kept spans need a retry).
func (l *Loop) Notify() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Loop) run() {
	defer close(l.done)
	for {
		deadline, held := l.next()
		if l.sender.Pending() > 0 {
			// Refused spans are waiting: come back soon to offer them again.
			retryAt := l.clock.Now().Add(l.retry).UnixNano()
			if !held || retryAt < deadline {
				deadline = retryAt
			}
		} else if !held {
			select {
			case <-l.wake:
				continue
			case <-l.stop:
				return
			}
		}
		if d := time.Duration(deadline - l.clock.Now().UnixNano()); d > 0 {
			t := l.clock.NewTimer(d)
			select {
			case <-t.Chan():
			case <-l.stop:
				t.Stop()
				return
			}
		}
		l.release(context.Background())
	}
}
