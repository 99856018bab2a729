package spanmetricses

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// TestBehaviourGolden keeps the whole output of each input→output behaviour
// case, as the processors do: testdata/<case>-in.yaml (built by
// behaviourInputs) → testdata/<case>-expected.yaml, compared with pdatatest.
// UPDATE_GOLDEN=1 rewrites both; behaviour_test.go asserts what they mean.
func TestBehaviourGolden(t *testing.T) {
	for _, tc := range []struct {
		name, in string // in: the behaviourInputs case; name when empty
		cfg      func(*Config)
	}{
		{name: "events-produced-once"},
		{name: "status-and-invalid"},
		{name: "dimensions-and-instance", cfg: func(c *Config) {
			def := "none"
			c.Dimensions = []Dimension{{Name: "deployment.environment"}, {Name: "tenant", Default: &def}}
			c.ResourceDimensions = []string{"service.namespace"}
			c.CollectorInstance = CollectorInstanceConfig{Enabled: true, AttributeKey: semconv.AttrCollectorInstanceID, Value: "gw-1"}
		}},
		{name: "one-resource-per-service"},
		{name: "sampled-counts"},
		{name: "sampled-counts-not-extrapolated", in: "sampled-counts", cfg: func(c *Config) { c.ExtrapolateSampledCounts = false }},
		{name: "replay-lag-apart"},
		{name: "long-values-clipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.name
			if tc.in != "" {
				in = tc.in
			}
			inPath := filepath.Join("testdata", in+"-in.yaml")
			outPath := filepath.Join("testdata", tc.name+"-expected.yaml")
			// Only the case that owns an input writes it: span ids are new on every build.
			if updateGolden && tc.in == "" {
				require.NoError(t, golden.WriteTracesToFile(inPath, behaviourInputs[in]().TD))
			}
			td, err := golden.ReadTraces(inPath)
			require.NoError(t, err)

			cfg := createDefaultConfig().(*Config)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			sink := new(consumertest.MetricsSink)
			c, clock := newTestConnector(t, cfg, sink)
			require.NoError(t, c.ConsumeTraces(context.Background(), td))
			clock.Advance(time.Second)
			require.NoError(t, c.flush(context.Background()))
			got := allMetrics(sink)
			if updateGolden {
				require.NoError(t, golden.WriteMetricsToFile(outPath, got, golden.SkipMetricTimestampNormalization()))
			}
			want, err := golden.ReadMetrics(outPath)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got, compareOpts...))
		})
	}
}
