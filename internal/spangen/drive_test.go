package spangen

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
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

// startReceiver serves r over an in-memory connection (bufconn): inside a synctest bubble, a goroutine
// waiting for its answer is durably blocked, so the bubble's clock never moves past an export in flight.
func startReceiver(t *testing.T, r *receiver) ptraceotlp.GRPCClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, r)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return ptraceotlp.NewGRPCClient(conn)
}

// driveOnFakeClock runs Drive with o against r inside a synctest bubble. The bubble's clock moves only when
// every goroutine in it (Drive's, the receiver's, gRPC's) is blocked, and then straight to the next timer:
// time advances by exactly what the code waits for (the pacing, a retry backoff, the drain), never while an
// export is being answered, and takes no wall-clock time. Nothing depends on the machine's speed or -cpu.
func driveOnFakeClock(t *testing.T, r *receiver, src Source, o DriveOptions) Stats {
	t.Helper()
	var st Stats
	synctest.Test(t, func(t *testing.T) {
		client := startReceiver(t, r)
		// The real clock's API: inside the bubble, time.Now, timers and sleeps are the bubble's fake time.
		o.Clock = clockwork.NewRealClock()
		st = Drive(t.Context(), client, src, o)
	})
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
			// A drain far longer than the retries need: everything offered gets an answer.
			st := driveOnFakeClock(t, r, NewPool(smallConfig(), 16),
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
	st := driveOnFakeClock(t, r, NewPool(smallConfig(), 4),
		DriveOptions{Workers: 1, Rate: 5_000, Duration: 100 * time.Millisecond, Retry: true, Drain: 200 * time.Millisecond})
	assert.Positive(t, st.Offered.Spans)
	assert.Zero(t, st.Sent.Spans)
	assert.Equal(t, st.Offered, st.Backlog)
	// In the bubble the receiver answers at once: every attempt before the drain ended was refused and counted.
	assert.Positive(t, st.Refusals)
	assert.Equal(t, r.requests.Load(), st.Refusals)
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
