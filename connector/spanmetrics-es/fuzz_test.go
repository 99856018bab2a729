package spanmetricses

import (
	"context"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// FuzzConsumeTraces feeds arbitrary OTLP/JSON span batches (corpus in
// testdata/fuzz/FuzzConsumeTraces, from the seed-shaped golden inputs with
// mangled values) through the connector and a flush. Nothing may panic, the
// bounds must hold, and nothing is created or lost: the same spans sent as one
// request or as one request per span give the same totals (every counter,
// histogram count and sum), over the cardinality limit too (the overflow series
// keep what the limit turned away). cqrs.events.produced is left out: a command
// that reports no count takes it from the append spans of its own request.
func FuzzConsumeTraces(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		whole := consume(t, []ptrace.Traces{td})
		var parts []ptrace.Traces
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					part := ptrace.NewTraces()
					prs := part.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(prs.Resource())
					pss := prs.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(pss.Scope())
					s.CopyTo(pss.Spans().AppendEmpty())
					parts = append(parts, part)
				}
			}
		}
		split := consume(t, parts)
		delete(whole, semconv.MetricEventsProduced)
		delete(split, semconv.MetricEventsProduced)
		for name, w := range whole {
			s := split[name]
			// A NaN or an infinity is never conserved (NaN compares false with everything, so the distance
			// check alone would let it pass): no emitted total may be one.
			if !finite(w) || !finite(s) {
				t.Fatalf("%s: %v from one request, %v from one request per span: not a finite number", name, w, s)
			}
			if math.Abs(w-s) > 1e-9*math.Max(math.Abs(w), 1) {
				t.Fatalf("%s: %v from one request, %v from one request per span", name, w, s)
			}
		}
		for name, s := range split {
			if _, ok := whole[name]; !ok && s != 0 {
				t.Fatalf("%s: %v from one request per span, nothing from one request", name, s)
			}
		}
	})
}

// consume runs reqs through a new connector (with a small cardinality limit) and two flushes, checks the
// series bound, and returns the totals of what it emitted.
func consume(t *testing.T, reqs []ptrace.Traces) map[string]float64 {
	cfg := createDefaultConfig().(*Config)
	cfg.CardinalityLimit = 8
	cfg.AggregationTemporality = temporalityDelta
	cfg.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 4}
	sink := new(consumertest.MetricsSink)
	c, clock := newTestConnector(t, cfg, sink)
	for round := range 2 {
		if round == 0 {
			for _, td := range reqs {
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					t.Fatal(err)
				}
			}
		}
		clock.Advance(time.Second)
		if err := c.flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for f := range numFamilies {
		if n := c.stores[f].Len(); n > cfg.CardinalityLimit+16 {
			t.Fatalf("%s: %d series over the limit", families[f].hist+families[f].counter+families[f].gauge, n)
		}
	}
	return totals(sink.AllMetrics())
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// totals sums, per metric, every delta counter point and every histogram's count and sum. Gauges (positions
// behind, projection state) are a state, not a total.
func totals(all []pmetric.Metrics) map[string]float64 {
	out := map[string]float64{}
	for _, md := range all {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					switch m.Type() {
					case pmetric.MetricTypeSum:
						for _, dp := range m.Sum().DataPoints().All() {
							out[m.Name()] += dp.DoubleValue() + float64(dp.IntValue())
						}
					case pmetric.MetricTypeHistogram:
						for _, dp := range m.Histogram().DataPoints().All() {
							out[m.Name()+" count"] += float64(dp.Count())
							out[m.Name()+" sum"] += dp.Sum()
						}
					case pmetric.MetricTypeExponentialHistogram:
						for _, dp := range m.ExponentialHistogram().DataPoints().All() {
							out[m.Name()+" count"] += float64(dp.Count())
							out[m.Name()+" sum"] += dp.Sum()
						}
					}
				}
			}
		}
	}
	return out
}
