package reliability

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// sender exports OTLP batches over gRPC from several goroutines and remembers exactly which spans the
// collector accepted (answered OK), and how it refused the others.
type sender struct {
	// service, when set, replaces the seed's service.name: load told apart in the CQRS metrics.
	service string
	// dial is how it connects (default: plaintext).
	dial []grpc.DialOption

	mu       sync.Mutex
	accepted []pcommon.SpanID

	acceptedBatches, refusedBatches, failedBatches atomic.Int64
	codes                                          sync.Map // codes.Code -> *atomic.Int64
}

// batchOf builds one request of copies seed traces with fresh ids (copies * 8 spans for seed 000).
func batchOf(seed ptrace.Traces, copies int) ptrace.Traces {
	out := ptrace.NewTraces()
	for range copies {
		testbed.WithFreshIDs(seed).ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	return out
}

func spanIDs(td ptrace.Traces) []pcommon.SpanID {
	var ids []pcommon.SpanID
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			for k := 0; k < sss.At(j).Spans().Len(); k++ {
				ids = append(ids, sss.At(j).Spans().At(k).SpanID())
			}
		}
	}
	return ids
}

// run sends from workers goroutines until ctx ends; a request in flight then still gets its answer (within
// a minute), so the accepted spans are exactly those the collector answered OK. With retry, a refused batch
// is sent again (after a short pause) until accepted or ctx ends, the way an OpenTelemetry SDK's OTLP
// exporter retries Unavailable / ResourceExhausted; without it, the batch is abandoned. target() is read for
// every request, so the address may change (a restarted collector).
func (s *sender) run(ctx context.Context, t *testing.T, target func() string, workers, copies int, retry bool) *sync.WaitGroup {
	t.Helper()
	seed := testbed.LoadTraces(t, "cqrs-conventions-traces.json")
	if s.service != "" {
		for _, rs := range seed.ResourceSpans().All() {
			rs.Resource().Attributes().PutStr("service.name", s.service)
		}
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			conns := map[string]*grpc.ClientConn{}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for ctx.Err() == nil {
				td := batchOf(seed, copies)
				ids := spanIDs(td)
				req := ptraceotlp.NewExportRequestFromTraces(td)
				for ctx.Err() == nil {
					addr := target()
					conn, ok := conns[addr]
					if !ok {
						var err error
						dial := s.dial
						if dial == nil {
							dial = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
						}
						conn, err = grpc.NewClient(addr, dial...)
						// Not require: this is not the test's goroutine.
						if !assert.NoError(t, err) {
							return
						}
						conns[addr] = conn
					}
					rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
					_, err := ptraceotlp.NewGRPCClient(conn).Export(rctx, req)
					cancel()
					if err == nil {
						s.acceptedBatches.Add(1)
						s.mu.Lock()
						s.accepted = append(s.accepted, ids...)
						s.mu.Unlock()
						break
					}
					code := status.Code(err)
					v, _ := s.codes.LoadOrStore(code, new(atomic.Int64))
					v.(*atomic.Int64).Add(1)
					if code == codes.Unavailable || code == codes.ResourceExhausted {
						s.refusedBatches.Add(1)
					} else {
						s.failedBatches.Add(1)
					}
					if !retry {
						break
					}
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		})
	}
	return &wg
}

func (s *sender) acceptedSpans() []pcommon.SpanID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pcommon.SpanID(nil), s.accepted...)
}

func (s *sender) codeCounts() map[string]int64 {
	out := map[string]int64{}
	s.codes.Range(func(k, v any) bool {
		out[k.(codes.Code).String()] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// missing returns the accepted spans the sink has not received.
func missing(accepted []pcommon.SpanID, sink *testbed.TraceSink) []pcommon.SpanID {
	var out []pcommon.SpanID
	for _, id := range accepted {
		if sink.Has(id) == 0 {
			out = append(out, id)
		}
	}
	return out
}

// waitDelivered waits until the sink has received every accepted span.
func waitDelivered(t *testing.T, accepted []pcommon.SpanID, sink *testbed.TraceSink, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		m := missing(accepted, sink)
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted spans never reached the downstream collector (sink has %d distinct, %d total)",
				len(m), len(accepted), sink.Distinct(), sink.Spans())
		}
		time.Sleep(500 * time.Millisecond)
	}
}
