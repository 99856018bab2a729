package spanmetricses

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FuzzConsumeTraces feeds arbitrary OTLP/JSON span batches (corpus in
// testdata/fuzz/FuzzConsumeTraces, from the seed-shaped golden inputs with
// mangled values) through the connector and a flush. Nothing may panic and
// the bounds must hold.
func FuzzConsumeTraces(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(data)
		if err != nil {
			return
		}
		cfg := createDefaultConfig().(*Config)
		cfg.CardinalityLimit = 8
		cfg.AggregationTemporality = temporalityDelta
		cfg.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 4}
		sink := new(consumertest.MetricsSink)
		c, clock := newTestConnector(t, cfg, sink)
		for range 2 {
			if err := c.ConsumeTraces(context.Background(), td); err != nil {
				t.Fatal(err)
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
	})
}
