package spangen

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

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
			st := Drive(context.Background(), client, NewPool(smallConfig(), 16),
				DriveOptions{Workers: 2, Rate: 20_000, Duration: 300 * time.Millisecond, Retry: tc.retry})
			assert.Positive(t, st.Offered.Spans)
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
	st := Drive(context.Background(), client, NewPool(smallConfig(), 4),
		DriveOptions{Workers: 1, Rate: 5_000, Duration: 100 * time.Millisecond, Retry: true, Drain: 200 * time.Millisecond})
	assert.Zero(t, st.Sent.Spans)
	assert.Equal(t, st.Offered, st.Backlog)
	assert.Positive(t, st.Refusals)
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
