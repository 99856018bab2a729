package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	otsemconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// sink is a minimal OTLP gRPC receiver that keeps every span, the service of each, and the newest value of
// every cumulative sum it is sent.
type sink struct {
	collectortrace.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool
	// spanService is the service.name of each span, by span id.
	spanService map[string]string
	// sums is the newest value of each sum data point, by service, metric name and attribute set.
	sums map[[3]string]float64
}

// metricsSink is the sink's metrics service.
type metricsSink struct {
	collectormetrics.UnimplementedMetricsServiceServer
	s *sink
}

func serviceName(attrs []*commonpb.KeyValue) string {
	for _, kv := range attrs {
		if kv.Key == string(otsemconv.ServiceNameKey) {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

func (s *sink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		svc := serviceName(rs.GetResource().GetAttributes())
		if svc != "" {
			s.services[svc] = true
		}
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
			for _, sp := range ss.Spans {
				s.spanService[string(sp.SpanId)] = svc
			}
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (m metricsSink) Export(_ context.Context, req *collectormetrics.ExportMetricsServiceRequest) (*collectormetrics.ExportMetricsServiceResponse, error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	for _, rm := range req.ResourceMetrics {
		svc := serviceName(rm.GetResource().GetAttributes())
		for _, sm := range rm.ScopeMetrics {
			for _, mt := range sm.Metrics {
				for _, dp := range mt.GetSum().GetDataPoints() {
					v := dp.GetAsDouble() + float64(dp.GetAsInt())
					m.s.sums[[3]string{svc, mt.Name, fmt.Sprint(dp.Attributes)}] = v
				}
			}
		}
	}
	return &collectormetrics.ExportMetricsServiceResponse{}, nil
}

// sum adds up the newest values of a sum's data points in a service.
func (s *sink) sum(service, name string) float64 {
	var total float64
	for k, v := range s.sums {
		if k[0] == service && k[1] == name {
			total += v
		}
	}
	return total
}

func startSink(t *testing.T) (*sink, string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	s := &sink{services: map[string]bool{}, spanService: map[string]string{}, sums: map[[3]string]float64{}}
	collectortrace.RegisterTraceServiceServer(srv, s)
	collectormetrics.RegisterMetricsServiceServer(srv, metricsSink{s: s})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s, lis.Addr().String()
}

func attr(sp *tracepb.Span, key string) *commonpb.AnyValue {
	for _, kv := range sp.Attributes {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// TestGroundTruthMatchesExportedSpans runs the demo against an in-process
// OTLP receiver and checks that the printed ground truth equals what the
// spans say: the same comparison the collector end-to-end test makes with
// metrics.
func TestGroundTruthMatchesExportedSpans(t *testing.T) {
	s, addr := startSink(t)
	// Bounded by count, with the rebuild after the 100th command: the workload does not depend on the clock.
	cfg, err := parseFlags([]string{"-endpoint", addr, "-service-name", "esdemo-test", "-commands", "200",
		"-rate", "200", "-query-rate", "100", "-error-ratio", "0.1", "-projection-error-ratio", "0.3", "-max-attempts", "2",
		"-replay-after-commands", "100", "-summary-delay", "1ms", "-summary-jitter", "1ms", "-inventory-delay", "1ms", "-inventory-jitter", "1ms"})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), cfg, &out, io.Discard))
	var gt groundTruth
	require.NoError(t, json.Unmarshal(out.Bytes(), &gt))

	s.mu.Lock()
	defer s.mu.Unlock()
	assert.True(t, s.services["esdemo-test"])
	checkSpans(t, s, &gt)
	assert.Equal(t, 1, gt.Replays)
}

// checkSpans compares the ground truth with the exported spans: counts by name and status, events produced,
// applies per projection and phase, the lag by source as projectionlag computes it, the lag per phase, and
// every checkpoint at the head. The caller holds s.mu.
func checkSpans(t *testing.T, s *sink, gt *groundTruth) {
	t.Helper()
	byName := map[string]int64{}
	for _, sp := range s.spans {
		byName[sp.Name]++
	}
	assert.Equal(t, gt.Spans, byName, "every span counted was exported")
	assert.Equal(t, gt.SpansTotal, int64(len(s.spans)))
	require.Positive(t, gt.CommandsTotal)

	commands := map[string]map[string]int64{}
	queries := map[string]map[string]int64{}
	var produced int64
	type agg struct {
		n        int64
		sum, max float64
	}
	lag := map[string]*agg{}
	applies := map[string]map[string]int64{}
	// The lag each source gives, from the spans the way projectionlag computes it, by
	// projection/phase/source/event type.
	appendEnd := map[string]uint64{}
	for _, sp := range s.spans {
		if semconv.IsAppend(sp.Name) {
			appendEnd[string(sp.SpanId)] = sp.EndTimeUnixNano
		}
	}
	bySource := map[[4]string]*agg{}
	addSource := func(k [4]string, v float64) {
		if bySource[k] == nil {
			bySource[k] = &agg{}
		}
		bySource[k].n++
		bySource[k].sum += v
	}
	for _, sp := range s.spans {
		st := semconv.StatusSuccess
		if sp.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			st = semconv.StatusError
		}
		switch {
		case strings.HasPrefix(sp.Name, semconv.SpanPrefixCommand):
			inc(commands, attr(sp, semconv.AttrCommandType).GetStringValue(), st)
			for _, ev := range sp.Events {
				if ev.Name == semconv.EventDomainEventProduced {
					produced++
				}
			}
		case strings.HasPrefix(sp.Name, semconv.SpanPrefixQuery):
			inc(queries, attr(sp, semconv.AttrQueryType).GetStringValue(), st)
		case semconv.IsProjectionApply(sp.Name):
			phase, _ := semconv.NormalizeProjectionPhase(attr(sp, semconv.AttrSubscriptionPhase).GetStringValue())
			name := attr(sp, semconv.AttrProjectionName).GetStringValue()
			if applies[name] == nil {
				applies[name] = map[string]int64{}
			}
			applies[name][phase]++
			a := lag[phase]
			if a == nil {
				a = &agg{}
				lag[phase] = a
			}
			v := attr(sp, semconv.AttrProjectionLagMs).GetDoubleValue()
			a.n++
			a.sum += v
			a.max = max(a.max, v)
			require.Len(t, sp.Links, 1, "apply spans link to the producer")
			et := attr(sp, semconv.AttrEventType).GetStringValue()
			eventMs := attr(sp, semconv.AttrESEventTimestamp).GetIntValue()
			addSource([4]string{name, phase, lagEventTimestamp, et}, float64(int64(sp.StartTimeUnixNano)-eventMs*1e6)/1e6)
			end, ok := appendEnd[string(sp.Links[0].SpanId)]
			require.True(t, ok, "apply span linked to an append span")
			addSource([4]string{name, phase, lagLink, et}, float64(int64(sp.StartTimeUnixNano)-int64(end))/1e6)
		}
	}
	assert.Equal(t, gt.Commands, commands)
	assert.Equal(t, gt.Queries, queries)
	assert.Equal(t, gt.EventsProduced.Total, produced)
	for name, pt := range gt.Projections {
		for phase, ph := range pt.Phases {
			assert.Equal(t, ph.Applies, applies[name][phase], "%s %s", name, phase)
			for source, byType := range ph.LagBySource {
				require.NotEmpty(t, byType, "%s %s: no %s lag", name, phase, source)
				for et, st := range byType {
					k := [4]string{name, phase, source, et}
					require.NotNil(t, bySource[k], "%v", k)
					assert.Equal(t, bySource[k].n, st.Count, "%v", k)
					assert.InDelta(t, bySource[k].sum, st.Sum, 1e-9*float64(st.Count)*max(1, st.Mean), "%v", k)
				}
			}
		}
		assert.Equal(t, gt.HeadPosition, pt.Checkpoint, "%s caught up", name)
	}
	for phase, st := range gt.Lag {
		if st.Count == 0 {
			continue
		}
		a := lag[phase]
		require.NotNil(t, a, phase)
		assert.Equal(t, st.Count, a.n)
		assert.InDelta(t, st.Mean, a.sum/float64(a.n), 1e-6, phase)
		assert.InDelta(t, st.Max, a.max, 1e-9, phase)
	}
}

// TestConsistencyDelayMatchesSpans derives command end → apply end from the
// exported spans the way projectionlag does (apply span → link → append span
// → its trace's command span) and compares it with the ground truth.
func TestConsistencyDelayMatchesSpans(t *testing.T) {
	s, addr := startSink(t)
	cfg, err := parseFlags([]string{"-endpoint", addr, "-commands", "70", "-rate", "100", "-query-rate", "0",
		"-summary-delay", "1ms", "-inventory-delay", "1ms"})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), cfg, &out, io.Discard))
	var gt groundTruth
	require.NoError(t, json.Unmarshal(out.Bytes(), &gt))

	s.mu.Lock()
	defer s.mu.Unlock()
	spanTrace := map[string]string{}   // span id → trace id
	commandEnd := map[string]uint64{}  // trace id → command span end (ns)
	commandType := map[string]string{} // trace id → command type
	for _, sp := range s.spans {
		spanTrace[string(sp.SpanId)] = string(sp.TraceId)
		if strings.HasPrefix(sp.Name, semconv.SpanPrefixCommand) {
			commandEnd[string(sp.TraceId)] = sp.EndTimeUnixNano
			commandType[string(sp.TraceId)] = attr(sp, semconv.AttrCommandType).GetStringValue()
		}
	}
	type agg struct {
		n   int64
		sum float64
	}
	got := map[string]map[string]*agg{}
	for _, sp := range s.spans {
		if !semconv.IsProjectionApply(sp.Name) || attr(sp, semconv.AttrSubscriptionPhase).GetStringValue() != semconv.PhaseValueLive {
			continue
		}
		tr := spanTrace[string(sp.Links[0].SpanId)]
		typ, name := commandType[tr], attr(sp, semconv.AttrProjectionName).GetStringValue()
		if got[typ] == nil {
			got[typ] = map[string]*agg{}
		}
		if got[typ][name] == nil {
			got[typ][name] = &agg{}
		}
		got[typ][name].n++
		got[typ][name].sum += max(0, float64(int64(sp.EndTimeUnixNano)-int64(commandEnd[tr]))/1e6) // negative: clamped
	}
	require.NotEmpty(t, gt.ConsistencyDelay)
	for typ, byProj := range gt.ConsistencyDelay {
		for name, st := range byProj {
			a := got[typ][name]
			require.NotNil(t, a, "%s %s", typ, name)
			assert.Equal(t, st.Count, a.n, "%s %s", typ, name)
			// The demo takes both ends from the spans it ended: exact, to float rounding.
			assert.InDelta(t, a.sum, st.Sum, 1e-9*a.sum, "%s %s", typ, name)
		}
	}
}

// TestLagSourceStripsAttributes: each exporter leaves out of the apply spans what its -lag-source says,
// and only there; both endpoints get every span.
func TestLagSourceStripsAttributes(t *testing.T) {
	linkSink, linkAddr := startSink(t)
	tsSink, tsAddr := startSink(t)
	cfg, err := parseFlags([]string{"-endpoint", linkAddr, "-lag-source", "link", "-tee-endpoint", tsAddr,
		"-tee-lag-source", "event_timestamp", "-commands", "30", "-rate", "100", "-query-rate", "0",
		"-summary-delay", "0s", "-summary-jitter", "0s", "-inventory-delay", "0s", "-inventory-jitter", "0s"})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), cfg, &out, io.Discard))
	var gt groundTruth
	require.NoError(t, json.Unmarshal(out.Bytes(), &gt))
	for _, tc := range []struct {
		s                *sink
		lagMs, eventTime bool
	}{{linkSink, false, false}, {tsSink, false, true}} {
		tc.s.mu.Lock()
		assert.Len(t, tc.s.spans, int(gt.SpansTotal))
		applies := 0
		for _, sp := range tc.s.spans {
			if semconv.IsProjectionApply(sp.Name) {
				applies++
				assert.Equal(t, tc.lagMs, attr(sp, semconv.AttrProjectionLagMs) != nil, "lag_ms on %s", sp.Name)
				assert.Equal(t, tc.eventTime, attr(sp, semconv.AttrESEventTimestamp) != nil, "event timestamp on %s", sp.Name)
				assert.NotNil(t, attr(sp, semconv.AttrProjectionName), "other attributes kept")
			}
		}
		assert.Positive(t, applies)
		tc.s.mu.Unlock()
	}
}

func TestFlagValidation(t *testing.T) {
	for _, args := range [][]string{{"-rate", "0"}, {"-error-ratio", "2"}, {"-duration", "0s"}, {"-replay-projection", "nope"},
		{"-lag-source", "nope"}, {"-tee-lag-source", "reported_lag"}, {"-commands", "-1"},
		{"-bus", "nats"}, {"-brokers", "127.0.0.1:9092"}, {"-topic", "t"}, {"-partitions", "3"}, {"-consumer-group", "g"},
		{"-projection-service-name", "p"}, {"-bus", "kafka", "-workers", "2"}, {"-bus", "kafka", "-partitions", "0"},
		{"-bus", "kafka", "-brokers", ","}, {"-bus", "kafka", "-projection-service-name", "esdemo"},
		{"-store", "mongo"}, {"-store", "postgres"}, {"-postgres-url", "postgres://x"}, {"-sqlite-path", "x.db"},
		{"-store", "memory", "-postgres-url", "postgres://x"}} {
		_, err := parseFlags(args)
		assert.Error(t, err, args)
	}
	for _, args := range [][]string{{"-bus", "kafka"}, {"-bus", "kafka", "-brokers", "127.0.0.1:9092", "-partitions", "3"},
		{"-store", "sqlite", "-sqlite-path", "x.db"}, {"-store", "postgres", "-postgres-url", "postgres://x"}} {
		_, err := parseFlags(args)
		assert.NoError(t, err, args)
	}
	cfg, err := parseFlags([]string{"-bus", "kafka", "-service-name", "shop"})
	require.NoError(t, err)
	assert.Equal(t, "shop-projections", cfg.projService)
	_, err = parseFlags([]string{"-brokers", "127.0.0.1:9092"})
	assert.ErrorContains(t, err, "-brokers needs -bus kafka")
}
