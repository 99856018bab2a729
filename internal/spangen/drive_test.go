package spangen

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// receiver is an OTLP/gRPC trace server that refuses every refuseEvery-th
// request with code and counts the spans it accepts.
type receiver struct {
	ptraceotlp.UnimplementedGRPCServer
	requests, spans atomic.Int64
	refuseEvery     int64
	code            codes.Code
}

func (r *receiver) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if n := r.requests.Add(1); r.refuseEvery > 0 && n%r.refuseEvery == 0 {
		return ptraceotlp.NewExportResponse(), status.Error(r.code, "refused by the test")
	}
	r.spans.Add(int64(req.Traces().SpanCount()))
	return ptraceotlp.NewExportResponse(), nil
}

func startReceiver(t *testing.T, r *receiver) ptraceotlp.GRPCClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

// driveOnFakeClock runs Drive with o on a fake clock, advancing it 1 ms at a time while anything waits on
// it, until Drive returns: the load phase, retry backoffs and the drain take no wall-clock time and do not
// depend on the machine's speed (o.Drain is fake time too).
func driveOnFakeClock(t *testing.T, client ptraceotlp.GRPCClient, src Source, o DriveOptions) Stats {
	t.Helper()
	fc := clockwork.NewFakeClock()
	o.Clock = fc
	// The timeout only guards against a hang; no assertion depends on it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var st Stats
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel() // wakes the loop below once Drive returned
		st = Drive(context.Background(), client, src, o)
	}()
	for fc.BlockUntilContext(ctx, 1) == nil {
		fc.Advance(time.Millisecond)
	}
	require.NotErrorIs(t, ctx.Err(), context.DeadlineExceeded, "Drive never returned")
	<-done
	return st
}

func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.BatchSpans = 100
	return cfg
}

func TestDriveAccountsForEverySpan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		retry  bool
		code   codes.Code
		failed bool
	}{
		{name: "retried", retry: true, code: codes.Unavailable},
		{name: "not_retried", retry: false, code: codes.Unavailable, failed: true},
		{name: "not_retryable", retry: true, code: codes.InvalidArgument, failed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &receiver{refuseEvery: 3, code: tc.code}
			client := startReceiver(t, r)
			// A drain far longer than the retries need: everything offered gets an answer.
			st := driveOnFakeClock(t, client, NewPool(smallConfig(), 16),
				DriveOptions{Workers: 2, Rate: 20_000, Duration: 300 * time.Millisecond, Retry: tc.retry, Drain: time.Hour})
			// 300 ms at 20k spans/s of the clock that paced it, in requests of ~100 spans.
			assert.InDelta(t, 6000, st.Offered.Spans, 200, "offered spans")
			assert.Equal(t, 300*time.Millisecond, st.Elapsed)
			assert.Zero(t, st.Backlog.Spans, "backlog")
			assert.Equal(t, r.spans.Load(), st.Sent.Spans, "sent = what the receiver accepted")
			var all Counts
			all.Add(st.Sent)
			all.Add(st.Failed)
			assert.Equal(t, st.Offered, all, "offered = sent + failed")
			if tc.failed {
				assert.Positive(t, st.Failed.Spans)
				assert.Zero(t, st.Refusals)
			} else {
				assert.Zero(t, st.Failed.Spans)
				assert.Positive(t, st.Refusals)
				assert.Equal(t, st.Offered, st.Sent)
			}
		})
	}
}

// A receiver that never answers within the drain leaves the requests as backlog.
func TestDriveBacklogWhenTheReceiverStalls(t *testing.T) {
	r := &receiver{refuseEvery: 1, code: codes.Unavailable}
	client := startReceiver(t, r)
	st := driveOnFakeClock(t, client, NewPool(smallConfig(), 4),
		DriveOptions{Workers: 1, Rate: 5_000, Duration: 100 * time.Millisecond, Retry: true, Drain: 200 * time.Millisecond})
	assert.Positive(t, st.Offered.Spans)
	assert.Zero(t, st.Sent.Spans)
	assert.Equal(t, st.Offered, st.Backlog)
	// How many refusals come back before the (fake) drain ends depends on how fast the receiver answers.
	assert.LessOrEqual(t, st.Refusals, r.requests.Load())
}

func TestFreshNeverRepeatsSpanIDs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := NewFresh(ctx, smallConfig())
	seen := map[[8]byte]bool{}
	spans := 0
	for range 10 {
		req := src.Next()
		for _, rs := range req.Req.Traces().ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					seen[s.SpanID()] = true
					spans++
				}
			}
		}
	}
	assert.Equal(t, spans, len(seen))
}

// A pool's later cycles carry the same spans with new trace ids: no (trace
// id, span id) repeats across cycles, and within a cycle every parent and
// link still points at a span of that cycle or at the one it pointed at before.
func TestPoolCyclesRenewTraceIDs(t *testing.T) {
	const n = 4
	p := NewPool(smallConfig(), n)
	type sid struct {
		trace [16]byte
		span  [8]byte
	}
	seen := map[sid]int{}
	for cycle := 0; cycle < 3; cycle++ {
		inCycle := map[[16]byte]bool{}
		var links []sid
		for i := 0; i < n; i++ {
			td := p.Next().Req.Traces()
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, span := range ss.Spans().All() {
						k := sid{span.TraceID(), span.SpanID()}
						prev, dup := seen[k]
						require.False(t, dup, "span %v of cycle %d repeats cycle %d", k, cycle, prev)
						seen[k] = cycle
						inCycle[span.TraceID()] = true
						for _, l := range span.Links().All() {
							links = append(links, sid{l.TraceID(), l.SpanID()})
						}
					}
				}
			}
		}
		for _, l := range links {
			assert.True(t, inCycle[l.trace], "cycle %d links to a trace of another cycle", cycle)
		}
	}
	assert.NotEmpty(t, seen)
}
