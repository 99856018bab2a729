package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	otsemconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// sink is a minimal OTLP gRPC trace receiver that keeps every span.
type sink struct {
	collectortrace.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	services map[string]bool
}

func (s *sink) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == string(otsemconv.ServiceNameKey) {
				s.services[kv.Value.GetStringValue()] = true
			}
		}
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func startSink(t *testing.T) (*sink, string) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	s := &sink{services: map[string]bool{}}
	collectortrace.RegisterTraceServiceServer(srv, s)
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
	assert.Equal(t, 1, gt.Replays)
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
		{"-lag-source", "nope"}, {"-tee-lag-source", "reported_lag"}, {"-commands", "-1"}} {
		_, err := parseFlags(args)
		assert.Error(t, err, args)
	}
}
