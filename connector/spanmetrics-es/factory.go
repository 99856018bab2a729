package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Defaults, in one place.
var (
	// defaultMsBuckets span sub-millisecond handlers to minute-long lags.
	defaultMsBuckets = []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000}
	// defaultResultSizeBuckets are item counts.
	defaultResultSizeBuckets = []float64{0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000}
)

const (
	// 5s keeps span-to-scrape latency under 15s with a 10s scrape interval.
	defaultFlushInterval    = 5 * time.Second
	defaultSeriesExpiry     = 5 * time.Minute
	defaultCardinalityLimit = 2000
	defaultExemplars        = 1
	defaultExpoMaxSize      = 160
	defaultStateWindow      = 2 * time.Minute
	defaultStateMinSamples  = 3
	defaultStateMaxSamples  = 10
	// 2m covers an SDK exporter's retries (about 1m) with margin; 2^17
	// entries hold 2m of ~1100 counted spans/s in 5 MiB (40 bytes each).
	defaultDedupeWindow     = 2 * time.Minute
	defaultDedupeMaxEntries = 1 << 17
)

// NewFactory returns the spanmetrics_es connector factory.
func NewFactory() connector.Factory {
	return connector.NewFactory(
		spanmetricses.Type,
		createDefaultConfig,
		connector.WithTracesToMetrics(createTracesToMetrics, spanmetricses.TracesToMetricsStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		MetricsFlushInterval:     defaultFlushInterval,
		AggregationTemporality:   temporalityCumulative,
		ResultSizeBuckets:        defaultResultSizeBuckets,
		SeriesExpiry:             defaultSeriesExpiry,
		CardinalityLimit:         defaultCardinalityLimit,
		Exemplars:                ExemplarsConfig{Enabled: true, MaxPerDataPoint: defaultExemplars},
		ExtrapolateSampledCounts: true,
		CollectorInstance:        CollectorInstanceConfig{AttributeKey: semconv.AttrCollectorInstanceID},
		ProjectionState: ProjectionStateConfig{
			Window:     defaultStateWindow,
			MinSamples: defaultStateMinSamples,
			MaxSamples: defaultStateMaxSamples,
		},
		Dedupe: DedupeConfig{Enabled: true, Window: defaultDedupeWindow, MaxEntries: defaultDedupeMaxEntries},
	}
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newConnector(set, cfg.(*Config), next, clockwork.NewRealClock())
}
