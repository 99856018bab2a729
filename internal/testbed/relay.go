package testbed

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Relay is a TCP address the test holds from start to end, forwarding each connection to whatever process
// is behind it at the time (To), or closing it at once while nothing is: a fixed address for a process that
// starts later, or restarts, without a port released and picked again in between.
type Relay struct {
	Addr string

	mu    sync.Mutex
	to    string
	conns map[net.Conn]bool // open, both sides
}

// StartRelay listens on a loopback port of its own until the test ends, forwarding nowhere yet.
func StartRelay(t testing.TB) *Relay {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &Relay{Addr: l.Addr().String(), conns: map[net.Conn]bool{}}
	var conns sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		l.Close()
		conns.Wait()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { r.forward(c, done) })
		}
	}()
	return r
}

// To forwards the connections accepted from now on to addr.
func (r *Relay) To(addr string) { r.mu.Lock(); defer r.mu.Unlock(); r.to = addr }

// Down closes every open connection and every later one until To: the process behind is gone.
func (r *Relay) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = ""
	for c := range r.conns {
		c.Close()
	}
}

// track registers c as open unless the relay is down (then it reports false).
func (r *Relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to == "" {
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *Relay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
	}
}

func (r *Relay) forward(c net.Conn, done <-chan struct{}) {
	defer c.Close()
	r.mu.Lock()
	to := r.to
	r.mu.Unlock()
	if to == "" {
		return
	}
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer up.Close()
	if !r.track(c, up) {
		return
	}
	defer r.untrack(c, up)
	copied := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); copied <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); copied <- struct{}{} }()
	// Either side closing, or the test ending, ends both.
	select {
	case <-copied:
	case <-done:
	}
	c.Close()
	up.Close()
	<-copied
}
