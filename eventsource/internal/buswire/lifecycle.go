package buswire

import (
	"context"
	"sync"
	"sync/atomic"
)

// Lifecycle is a bus's open/closed state and its one running Consume: Close
// stops that Consume and waits for it to return.
type Lifecycle struct {
	errClosed, errConsuming error

	closed atomic.Bool
	mu     sync.Mutex
	stop   context.CancelFunc // cancels the running Consume
	done   chan struct{}      // closed when the running Consume returns
}

// NewLifecycle returns a Lifecycle whose Begin fails with the bus's own
// errors: errClosed after Close, errConsuming while another Consume runs.
func NewLifecycle(errClosed, errConsuming error) *Lifecycle {
	return &Lifecycle{errClosed: errClosed, errConsuming: errConsuming}
}

// Closed reports whether Close was called.
func (l *Lifecycle) Closed() bool { return l.closed.Load() }

// Begin registers a Consume: it runs on the returned context, which Close
// cancels, and defers end.
func (l *Lifecycle) Begin(ctx context.Context) (_ context.Context, end func(), _ error) {
	ctx, cancel := context.WithCancel(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		cancel()
		return nil, nil, l.errClosed
	}
	if l.stop != nil {
		cancel()
		return nil, nil, l.errConsuming
	}
	done := make(chan struct{})
	l.stop, l.done = cancel, done
	return ctx, func() {
		cancel()
		l.mu.Lock()
		l.stop, l.done = nil, nil
		l.mu.Unlock()
		close(done)
	}, nil
}

// Close marks the bus closed and stops the running Consume, waiting until it
// returns. It reports false when the bus was closed already.
func (l *Lifecycle) Close() bool {
	if l.closed.Swap(true) {
		return false
	}
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	return true
}
