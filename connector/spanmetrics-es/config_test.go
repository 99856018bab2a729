package spanmetricses

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(spanmetricses.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg, confmap.Validate(cfg)
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, createDefaultConfig(), cfg)

	cfg, err = loadConfig(t, "full")
	require.NoError(t, err)
	tenant := "none"
	want := &Config{
		MetricsFlushInterval:   10 * time.Second,
		AggregationTemporality: "delta",
		Histogram:              HistogramConfig{Exponential: &ExponentialHistogramConfig{MaxSize: 80}},
		ResultSizeBuckets:      []float64{0, 10, 100},
		Dimensions:             []Dimension{{Name: "deployment.environment"}, {Name: "tenant", Default: &tenant}},
		ResourceDimensions:     []string{"service.namespace"},
		CollectorInstance:      CollectorInstanceConfig{Enabled: true, AttributeKey: "otelcol.instance.id", Value: "gateway-0"},
		SeriesExpiry:           10 * time.Minute,
		CardinalityLimit:       500,
		Exemplars:              ExemplarsConfig{Enabled: true, MaxPerDataPoint: 3},
		ProjectionState:        ProjectionStateConfig{Window: 5 * time.Minute, MinSamples: 4, MaxSamples: 20},
		MetricsPipelines: MetricsPipelinesConfig{
			Write:   []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalMetrics, "write")},
			Read:    []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalMetrics, "read")},
			Default: []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalMetrics, "all")},
		},
		Dedupe: DedupeConfig{Enabled: true, Window: 5 * time.Minute, MaxEntries: 1 << 20},
	}
	assert.Equal(t, want, cfg)
	assert.False(t, cfg.cumulative())
}

func TestLoadAssumedSamplingRatio(t *testing.T) {
	cfg, err := loadConfig(t, "sampled_services")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"orders-api": 0.1, "order-projector": 0.25}, cfg.AssumedSamplingRatio)
}

func TestConfigValidationErrors(t *testing.T) {
	for name, wantErr := range map[string]string{
		"aggregate_id":                `dimensions[0]: "cqrs.aggregate.id" holds aggregate, event, trace or span ids`,
		"event_id":                    `resource_dimensions[0]: "eventsource.event.id" holds aggregate, event, trace or span ids`,
		"span_id":                     `dimensions[0]: "span_id" holds aggregate, event, trace or span ids`,
		"both_histograms":             "histogram: set either explicit or exponential, not both",
		"bad_buckets":                 "histogram.explicit.buckets: must be strictly increasing, but 5 follows 10",
		"bad_temporality":             `aggregation_temporality must be "cumulative" or "delta", got "sometimes"`,
		"expiry_too_short":            "series_expiry (30s) must be longer than metrics_flush_interval (1m0s)",
		"reserved_dimension":          `dimensions[0]: "command.type" is set by the connector itself; remove it`,
		"traces_pipeline":             `metrics_pipelines.write: "traces/write" is not a metrics pipeline`,
		"bad_state":                   "projection_state.min_samples must be at least 2",
		"bad_ratio":                   `assumed_sampling_ratio["orders-api"]: must be in (0, 1], got 1.5`,
		"ratio_without_extrapolation": "assumed_sampling_ratio: needs extrapolate_sampled_counts: true",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadConfig(t, name)
			require.Error(t, err)
			assert.Contains(t, err.Error(), wantErr)
		})
	}
}

func TestUnboundedKeysAlwaysRejected(t *testing.T) {
	for _, k := range []string{"cqrs.aggregate.id", "eventsource.aggregate.id", "eventsource.event.id", "cqrs.event.aggregate_id", "trace_id", "span.id", "order.aggregate_id"} {
		cfg := createDefaultConfig().(*Config)
		cfg.Dimensions = []Dimension{{Name: k}}
		assert.ErrorContains(t, cfg.Validate(), "can never be a dimension", k)
	}
}

func TestExamplePipelineConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "pipeline-per-side.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("connectors::spanmetrics_es")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalMetrics, "write")}, cfg.MetricsPipelines.Write)
	assert.Equal(t, []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalMetrics, "projection")}, cfg.MetricsPipelines.Default)
}
