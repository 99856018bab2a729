package testbed

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// LoadTraces reads an OTLP/JSON file from the repository's testdata/.
func LoadTraces(t testing.TB, name string) ptrace.Traces {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(RepoRoot(), "testdata", name))
	require.NoError(t, err)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(b)
	require.NoError(t, err)
	return td
}

// WithFreshIDs returns a copy of td with new trace and span ids, consistently remapped across parents and
// links, so the same shapes can be sent repeatedly as distinct traces.
func WithFreshIDs(td ptrace.Traces) ptrace.Traces {
	out := ptrace.NewTraces()
	td.CopyTo(out)
	traces := map[pcommon.TraceID]pcommon.TraceID{}
	spans := map[pcommon.SpanID]pcommon.SpanID{}
	tid := func(id pcommon.TraceID) pcommon.TraceID {
		if id.IsEmpty() {
			return id
		}
		if n, ok := traces[id]; ok {
			return n
		}
		var n pcommon.TraceID
		_, _ = rand.Read(n[:])
		traces[id] = n
		return n
	}
	sid := func(id pcommon.SpanID) pcommon.SpanID {
		if id.IsEmpty() {
			return id
		}
		if n, ok := spans[id]; ok {
			return n
		}
		var n pcommon.SpanID
		_, _ = rand.Read(n[:])
		spans[id] = n
		return n
	}
	rss := out.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				s := ss.At(k)
				s.SetTraceID(tid(s.TraceID()))
				s.SetSpanID(sid(s.SpanID()))
				s.SetParentSpanID(sid(s.ParentSpanID()))
				for l := 0; l < s.Links().Len(); l++ {
					link := s.Links().At(l)
					link.SetTraceID(tid(link.TraceID()))
					link.SetSpanID(sid(link.SpanID()))
				}
			}
		}
	}
	return out
}

// Transport is one of the three OTLP transports the receiver offers.
type Transport string

const (
	GRPC      Transport = "grpc"
	HTTPProto Transport = "http/protobuf"
	HTTPJSON  Transport = "http/json"
)

// Send exports td to the collector's default-config OTLP listeners over the given transport.
func Send(ctx context.Context, t testing.TB, c *Collector, via Transport, td ptrace.Traces) {
	t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	switch via {
	case GRPC:
		conn, err := grpc.NewClient(c.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, req)
		require.NoError(t, err)
	case HTTPProto:
		body, err := req.MarshalProto()
		require.NoError(t, err)
		postOTLP(ctx, t, "http://"+c.HTTP+"/v1/traces", "application/x-protobuf", body)
	case HTTPJSON:
		body, err := req.MarshalJSON()
		require.NoError(t, err)
		postOTLP(ctx, t, "http://"+c.HTTP+"/v1/traces", "application/json", body)
	default:
		t.Fatalf("unknown transport %q", via)
	}
}

func postOTLP(ctx context.Context, t testing.TB, url, contentType string, body []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, fmt.Sprintf("POST %s: %s", url, msg))
}
