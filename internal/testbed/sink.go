package testbed

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	// The collector's otlp exporter compresses with gzip by default.
	_ "google.golang.org/grpc/encoding/gzip"
)

// TraceSink is an in-process OTLP/gRPC traces receiver on loopback: a backend for a collector's otlp
// exporter. It counts spans and remembers which span ids arrived (and how often), so a test can tell a loss
// from a redelivery.
type TraceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	Addr string

	mu    sync.Mutex
	spans int64
	seen  map[pcommon.SpanID]int
	delay time.Duration
	// held, while open, keeps every Export waiting (Hold, Release).
	held chan struct{}
	// kept holds the last copy of every span when Keep was called (tests that read attributes).
	kept map[pcommon.SpanID]ptrace.Span
}

// Keep makes the sink keep a copy of every span it receives from now on, for Span. Off by default:
// a soak sends millions.
func (s *TraceSink) Keep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kept = map[pcommon.SpanID]ptrace.Span{}
}

// Kept returns the spans kept since Keep, by span id.
func (s *TraceSink) Kept() map[pcommon.SpanID]ptrace.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[pcommon.SpanID]ptrace.Span, len(s.kept))
	for k, v := range s.kept {
		out[k] = v
	}
	return out
}

// SetDelay makes every later Export take at least d: a backend slower than the collector's intake.
func (s *TraceSink) SetDelay(d time.Duration) { s.mu.Lock(); defer s.mu.Unlock(); s.delay = d }

// Hold makes every Export from now on wait until Release (or its caller gives up): a backend that takes
// nothing, so whatever the collector accepts meanwhile stays in it, however fast the machine is.
func (s *TraceSink) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = make(chan struct{})
	}
}

// Release lets held and later Exports through.
func (s *TraceSink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		close(s.held)
		s.held = nil
	}
}

// StartTraceSink listens on a free loopback port until the test ends.
func StartTraceSink(t testing.TB) *TraceSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &TraceSink{Addr: l.Addr().String(), seen: map[pcommon.SpanID]int{}}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

// Export implements the OTLP traces service.
func (s *TraceSink) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	d, held := s.delay, s.held
	s.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return ptraceotlp.NewExportResponse(), ctx.Err()
		}
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ptraceotlp.NewExportResponse(), ctx.Err()
		}
	}
	td := req.Traces()
	s.mu.Lock()
	defer s.mu.Unlock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s.seen[spans.At(k).SpanID()]++
				if s.kept != nil {
					cp := ptrace.NewSpan()
					spans.At(k).CopyTo(cp)
					s.kept[cp.SpanID()] = cp
				}
			}
			s.spans += int64(spans.Len())
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

// Spans is the number of spans received, redeliveries included.
func (s *TraceSink) Spans() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.spans }

// Distinct is the number of distinct span ids received.
func (s *TraceSink) Distinct() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.seen) }

// Has reports how many times the span id arrived.
func (s *TraceSink) Has(id pcommon.SpanID) int { s.mu.Lock(); defer s.mu.Unlock(); return s.seen[id] }
