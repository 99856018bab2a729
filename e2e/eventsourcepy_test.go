package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/eventsourcepy"
	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// pyFlows are eventsource-py 0.14 flows, one batch per service as each service's SDK exports them:
//   - orders-api: a web handler loading and saving an order (snapshot read, outbox add, Kafka publish
//     from inside the save, so the record headers carry the save's context), a query through
//     readmodel.get, and the outbox relay publishing a batch to RabbitMQ;
//   - order-projector: the Kafka consumer applying the event through the live runner (a read-model save
//     and checkpoints), a catch-up rebuild of the same subscription, and a RabbitMQ consumer applying
//     the outboxed event (its handle span a root);
//   - notifier: a Redis Streams consumer (its process span a root).
type pyFlows struct {
	batches map[string]ptrace.Traces // by service
	// wantSide is every span's expected side ("" = unclassified), by span id.
	wantSide map[pcommon.SpanID]string
	// Expected lags of the live applies (ms), by span id: the Kafka one through the parent chain, the
	// RabbitMQ one through the event id.
	wantLag map[pcommon.SpanID]float64
	// catchup are the catch-up applies (phase replay).
	catchup []pcommon.SpanID
}

func newPyFlows(start time.Time, run string) pyFlows {
	w := eventsourcepy.Write{Service: "orders-api", Trace: run + "/w", Start: start, AggregateID: "order-1",
		EventID: run + "/evt-1", EventType: "OrderCreated", Topic: "orders.events"}
	writer, save := w.Spans()
	live, kafkaApply := eventsourcepy.LiveApply{Service: "order-projector", Trace: run + "/c", Parent: save,
		Start: start.Add(50 * time.Millisecond), Subscription: "OrderSummaryProjection", EventID: w.EventID,
		EventType: "OrderCreated", Topic: "orders.events", DB: "orders", Position: 42}.Spans()
	catchup, replays := eventsourcepy.Catchup{Service: "order-projector", Trace: run + "/rebuild", Start: start.Add(time.Second),
		Subscription: "OrderSummaryProjection", DB: "orders", From: 40, To: 42, EventType: "OrderCreated"}.Spans()
	query := eventsourcepy.Query("orders-api", run+"/q", start.Add(2*time.Second))
	relay := eventsourcepy.RabbitRelay("orders-api", run+"/relay", start.Add(15*time.Millisecond), 1)
	rabbit := eventsourcepy.RabbitConsume("order-projector", run+"/rmq", start.Add(40*time.Millisecond),
		"OrderSummaryProjection", w.EventID, "OrderCreated", "orders", 43)
	redis := eventsourcepy.RedisConsume("notifier", run+"/redis", start.Add(60*time.Millisecond), "EmailNotifier", "OrderCreated")

	f := pyFlows{batches: map[string]ptrace.Traces{}, wantSide: map[pcommon.SpanID]string{}, wantLag: map[pcommon.SpanID]float64{}}
	side := func(spans []eventsourcepy.Span, s string) {
		for _, sp := range spans {
			f.wantSide[sp.ID] = s
		}
	}
	side(live, semconv.SideProjection)
	side(catchup, semconv.SideProjection)
	side(rabbit, semconv.SideProjection)
	side(redis, semconv.SideProjection)
	side(relay, semconv.SideWrite)
	side(writer, semconv.SideWrite)
	f.wantSide[writer[0].ID] = ""                 // POST /orders: no command span in 0.14
	f.wantSide[writer[1].ID] = semconv.SideRead   // repository.load at an unclassified root
	f.wantSide[writer[2].ID] = semconv.SideRead   // its snapshot.get
	f.wantSide[query[0].ID] = ""                  // GET /orders/{id}
	f.wantSide[query[1].ID] = semconv.SideRead    // readmodel.get
	f.wantLag[kafkaApply.ID] = 52 - 14            // process_event start - outbox.add end (the first write naming its event)
	f.wantLag[rabbit[2].ID] = (40 + 2) - (0 + 14) // process_event start - outbox.add end
	for _, r := range replays {
		f.catchup = append(f.catchup, r.ID)
	}
	f.batches["orders-api"] = eventsourcepy.Traces(append(append(writer, query...), relay...)...)
	f.batches["order-projector"] = eventsourcepy.Traces(append(append(live, catchup...), rabbit...)...)
	f.batches["notifier"] = eventsourcepy.Traces(redis...)
	return f
}

// TestEventsourcePyThroughOneCollector sends the flows to one otelcol-es on config/default.yaml (with its
// traces also exported to an in-test OTLP backend) and checks every span's side, the exact live lags,
// the replay phase, and the cqrs_* series in a real Prometheus.
func TestEventsourcePyThroughOneCollector(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	backend := tb.StartTraceSink(t)
	backend.Keep()
	overlay := writeFile(t, "overlay.yaml", `exporters:
  otlp_grpc/e2e:
    endpoint: `+backend.Addr+`
    tls:
      insecure: true
service:
  pipelines:
    traces:
      exporters: [otlp_grpc/e2e, spanmetrics_es]
`)
	c := tb.StartCollector(t, collectorBin, nil, "--config", filepath.Join(tb.RepoRoot(), "config", "default.yaml"), "--config", overlay)
	c.WaitReady(t)
	prom := tb.StartPrometheus(t, tb.PrometheusBinary(t), []string{c.Prom})

	f := newPyFlows(time.Now().Add(-10*time.Second), "one")
	for _, svc := range []string{"orders-api", "order-projector", "notifier"} {
		sendGRPC(ctx, t, c.GRPC, f.batches[svc])
	}
	checkPyFlows(ctx, t, f, backend, prom)
}

// TestEventsourcePyThroughSidecarsAndGateway: each service behind its own agent (config/agent-lb.yaml,
// load balancing by trace id over one gateway) feeding one gateway (config/gateway-lb-backend.yaml).
// The answers are the same as through one collector.
func TestEventsourcePyThroughSidecarsAndGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	backend := tb.StartTraceSink(t)
	backend.Keep()
	gw := tb.StartCollector(t, collectorBin, []string{"OTELCOL_ES_BACKEND=" + backend.Addr},
		"--config", filepath.Join(tb.RepoRoot(), "config", "gateway-lb-backend.yaml"))
	gw.WaitReady(t)
	gwAddr := gw.Addr(t, "OTELCOL_ES_GATEWAY_GRPC")
	prom := tb.StartPrometheus(t, tb.PrometheusBinary(t), []string{gw.Prom})

	f := newPyFlows(time.Now().Add(-10*time.Second), "lb")
	for _, svc := range []string{"orders-api", "order-projector", "notifier"} {
		agent := tb.StartCollector(t, collectorBin, []string{"OTELCOL_ES_LB_GATEWAYS=" + gwAddr},
			"--config", filepath.Join(tb.RepoRoot(), "config", "agent-lb.yaml"))
		agent.WaitReady(t)
		sendGRPC(ctx, t, agent.GRPC, f.batches[svc])
	}
	checkPyFlows(ctx, t, f, backend, prom)
}

func checkPyFlows(ctx context.Context, t *testing.T, f pyFlows, backend *tb.TraceSink, prom string) {
	t.Helper()
	// Every span arrives at the backend, once, with its side.
	spans := waitKept(ctx, t, backend, len(f.wantSide))
	require.Len(t, spans, len(f.wantSide), "every span passes, once")
	for id, want := range f.wantSide {
		s, ok := spans[id]
		if !assert.True(t, ok, "span %s missing", id) {
			continue
		}
		got := ""
		if v, ok := s.Attributes().Get(semconv.AttrSide); ok {
			got = v.Str()
		}
		assert.Equal(t, want, got, "side of %s", s.Name())
	}
	for id, want := range f.wantLag {
		s := spans[id]
		v, ok := s.Attributes().Get(semconv.AttrProjectionLagMs)
		if assert.True(t, ok, "%s has no lag", s.Name()) {
			assert.InDelta(t, want, v.Double(), 1e-6, "lag of %s", s.Name())
		}
		ph, _ := s.Attributes().Get(semconv.AttrProjectionPhase)
		assert.Equal(t, semconv.PhaseLive, ph.Str())
	}
	for _, id := range f.catchup {
		ph, _ := spans[id].Attributes().Get(semconv.AttrProjectionPhase)
		assert.Equal(t, semconv.PhaseReplay, ph.Str(), "catch-up applies are replays")
	}

	// The series in Prometheus: 4 applies (live Kafka, 2 catch-up, live RabbitMQ), each counted once (not
	// again for the projection.handle inside the runner's span), and a live lag histogram of exactly 2.
	sel := `{projection_name="OrderSummaryProjection",service_name="order-projector"}`
	want := map[string]float64{
		"sum(cqrs_projection_total" + sel + ")":     4,
		"sum(cqrs_projection_lag_count" + sel + ")": 2,
		"sum(cqrs_projection_lag_sum" + sel + ")":   f.sumLag(),
	}
	for q, v := range want {
		waitPromValue(ctx, t, prom, q, v)
	}
	// The seed's lag dashboard query, verbatim, has the projection's series.
	tb.WaitForQuery(ctx, t, prom, `histogram_quantile(0.99, sum(rate(cqrs_projection_lag_bucket[5m])) by (le, projection_name))`,
		"projection_name", []string{"OrderSummaryProjection"}, false)
	assert.Equal(t, int64(len(f.wantSide)), backend.Spans(), "no span arrived twice, however late")
}

func (f pyFlows) sumLag() float64 {
	var s float64
	for _, v := range f.wantLag {
		s += v
	}
	return s
}

// waitPromValue polls an instant query until it returns one sample equal to want.
func waitPromValue(ctx context.Context, t *testing.T, prom, q string, want float64) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		res, err := tb.Query(ctx, prom, q)
		last = fmt.Sprintf("%+v %v", res, err)
		if err == nil && len(res) == 1 {
			if s, ok := res[0].Value[1].(string); ok {
				if v, err := strconv.ParseFloat(s, 64); err == nil && v == want {
					return
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s never returned %v; last: %s", q, want, last)
}

func sendGRPC(ctx context.Context, t *testing.T, addr string, td ptrace.Traces) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	require.NoError(t, err)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// waitKept waits until n distinct spans arrived at sink and returns them.
func waitKept(ctx context.Context, t *testing.T, sink *tb.TraceSink, n int) map[pcommon.SpanID]ptrace.Span {
	t.Helper()
	for ctx.Err() == nil && sink.Distinct() < n {
		time.Sleep(200 * time.Millisecond)
	}
	return sink.Kept()
}
