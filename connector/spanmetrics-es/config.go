package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pipeline"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/ringmap"
)

// Temporality values accepted by aggregation_temporality. The contrib
// spanmetrics spellings are accepted too, so configs can be moved over.
const (
	temporalityCumulative        = "cumulative"
	temporalityDelta             = "delta"
	contribTemporalityCumulative = "AGGREGATION_TEMPORALITY_CUMULATIVE"
	contribTemporalityDelta      = "AGGREGATION_TEMPORALITY_DELTA"
)

// Config configures the spanmetrics_es connector.
type Config struct {
	// MetricsFlushInterval is how often aggregated metrics are emitted.
	MetricsFlushInterval time.Duration `mapstructure:"metrics_flush_interval"`
	// AggregationTemporality is "cumulative" (Prometheus) or "delta".
	AggregationTemporality string `mapstructure:"aggregation_temporality"`
	// Histogram selects explicit (default) or exponential histograms for
	// the millisecond metrics (durations, lags, consistency delay).
	Histogram HistogramConfig `mapstructure:"histogram"`
	// ResultSizeBuckets are the explicit bounds of cqrs.query.result_size
	// (a count of items, not milliseconds).
	ResultSizeBuckets []float64 `mapstructure:"result_size_buckets"`
	// Dimensions are extra data point attributes, read from the span, else
	// from its resource, else Default. Aggregate, event, trace and span ids
	// are rejected.
	Dimensions []Dimension `mapstructure:"dimensions"`
	// ResourceDimensions are resource attributes copied (besides
	// service.name, always kept) onto the emitted resource.
	ResourceDimensions []string `mapstructure:"resource_dimensions"`
	// CollectorInstance adds this collector's instance id to the emitted
	// resource, so gateway replicas never emit the same series.
	CollectorInstance CollectorInstanceConfig `mapstructure:"collector_instance"`
	// SeriesExpiry drops series that received no data for this long.
	SeriesExpiry time.Duration `mapstructure:"series_expiry"`
	// CardinalityLimit is the number of series per metric; data beyond it
	// goes to one series per resource marked otel.metric.overflow=true.
	CardinalityLimit int `mapstructure:"cardinality_limit"`
	// Exemplars attaches trace and span ids to duration and lag histograms.
	Exemplars ExemplarsConfig `mapstructure:"exemplars"`
	// ExtrapolateSampledCounts scales counts by the adjusted count that W3C
	// tracestate's OpenTelemetry sampling threshold (ot=th:...) records.
	ExtrapolateSampledCounts bool `mapstructure:"extrapolate_sampled_counts"`
	// AssumedSamplingRatio, by service.name, is the ratio an app samples its traces by when its SDK
	// writes no threshold into the tracestate (eventsource-py's TraceIdRatioBased): that service's
	// spans without one count round(1/ratio) each. A threshold on the span wins.
	AssumedSamplingRatio map[string]float64 `mapstructure:"assumed_sampling_ratio"`
	// ProjectionState configures the cqrs.projection.state evaluation.
	ProjectionState ProjectionStateConfig `mapstructure:"projection_state"`
	// MetricsPipelines sends each side's metrics to its own pipelines.
	MetricsPipelines MetricsPipelinesConfig `mapstructure:"metrics_pipelines"`
	// Dedupe skips spans already counted, so a retried batch counts once.
	Dedupe DedupeConfig `mapstructure:"dedupe"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HistogramConfig chooses the histogram kind; set at most one of the two.
type HistogramConfig struct {
	Explicit    *ExplicitHistogramConfig    `mapstructure:"explicit"`
	Exponential *ExponentialHistogramConfig `mapstructure:"exponential"`
}

// ExplicitHistogramConfig sets explicit bucket bounds, in milliseconds.
type ExplicitHistogramConfig struct {
	Buckets []float64 `mapstructure:"buckets"`
}

// ExponentialHistogramConfig sets the maximum number of buckets.
type ExponentialHistogramConfig struct {
	MaxSize int `mapstructure:"max_size"`
}

// Dimension is an extra data point attribute.
type Dimension struct {
	Name    string  `mapstructure:"name"`
	Default *string `mapstructure:"default"`
}

// CollectorInstanceConfig configures the collector instance resource attribute.
type CollectorInstanceConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// AttributeKey is the resource attribute that carries the id.
	AttributeKey string `mapstructure:"attribute_key"`
	// Value overrides the id; by default the collector's own
	// service.instance.id (a UUID unless configured under service::telemetry).
	Value string `mapstructure:"value"`
}

// ExemplarsConfig bounds exemplars.
type ExemplarsConfig struct {
	Enabled         bool `mapstructure:"enabled"`
	MaxPerDataPoint int  `mapstructure:"max_per_data_point"`
}

// ProjectionStateConfig configures the Burrow-like projection evaluator.
type ProjectionStateConfig struct {
	// Window is the sliding window of checkpoint samples; a projection
	// without samples for longer is stopped.
	Window time.Duration `mapstructure:"window"`
	// MinSamples needed in the window before lagging/stalled is reported.
	MinSamples int `mapstructure:"min_samples"`
	// MaxSamples kept per projection.
	MaxSamples int `mapstructure:"max_samples"`
}

// DedupeConfig bounds the memory of counted spans.
type DedupeConfig struct {
	Enabled bool `mapstructure:"enabled"`
	// Window is how long a (trace id, span id) is remembered; it must cover
	// the retries upstream (an SDK's OTLP exporter retries for about a
	// minute).
	Window time.Duration `mapstructure:"window"`
	// MaxEntries bounds the table, allocated once at start; when full, the
	// oldest entry is dropped early (reported as an eviction).
	MaxEntries int `mapstructure:"max_entries"`
}

// MetricsPipelinesConfig names the metrics pipelines of each side. A side
// with no list uses Default; with no Default, it goes to every metrics
// pipeline the connector is an exporter of.
type MetricsPipelinesConfig struct {
	Write      []pipeline.ID `mapstructure:"write"`
	Read       []pipeline.ID `mapstructure:"read"`
	Projection []pipeline.ID `mapstructure:"projection"`
	Default    []pipeline.ID `mapstructure:"default"`
}

func (m MetricsPipelinesConfig) configured() bool {
	return len(m.Write)+len(m.Read)+len(m.Projection)+len(m.Default) > 0
}

func (c *Config) cumulative() bool {
	return c.AggregationTemporality == temporalityCumulative || c.AggregationTemporality == contribTemporalityCumulative
}

// Validate checks the configuration; every error names the field and the fix.
func (c *Config) Validate() error {
	var errs []error
	if c.MetricsFlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("metrics_flush_interval must be positive, got %v", c.MetricsFlushInterval))
	}
	switch c.AggregationTemporality {
	case temporalityCumulative, temporalityDelta, contribTemporalityCumulative, contribTemporalityDelta:
	default:
		errs = append(errs, fmt.Errorf("aggregation_temporality must be %q or %q, got %q", temporalityCumulative, temporalityDelta, c.AggregationTemporality))
	}
	for _, svc := range slices.Sorted(maps.Keys(c.AssumedSamplingRatio)) {
		if r := c.AssumedSamplingRatio[svc]; !(r > 0 && r <= 1) {
			errs = append(errs, fmt.Errorf("assumed_sampling_ratio[%q]: must be in (0, 1], got %v", svc, r))
		}
	}
	if len(c.AssumedSamplingRatio) > 0 && !c.ExtrapolateSampledCounts {
		errs = append(errs, errors.New("assumed_sampling_ratio: needs extrapolate_sampled_counts: true (it scales counts)"))
	}
	if c.Histogram.Explicit != nil && c.Histogram.Exponential != nil {
		errs = append(errs, errors.New("histogram: set either explicit or exponential, not both"))
	}
	if c.Histogram.Explicit != nil {
		if err := validateBounds(c.Histogram.Explicit.Buckets); err != nil {
			errs = append(errs, fmt.Errorf("histogram.explicit.buckets: %w", err))
		}
	}
	if c.Histogram.Exponential != nil && (c.Histogram.Exponential.MaxSize < 2 || c.Histogram.Exponential.MaxSize > 16384) {
		errs = append(errs, fmt.Errorf("histogram.exponential.max_size must be between 2 and 16384, got %d", c.Histogram.Exponential.MaxSize))
	}
	if err := validateBounds(c.ResultSizeBuckets); err != nil {
		errs = append(errs, fmt.Errorf("result_size_buckets: %w", err))
	}
	seen := map[string]bool{}
	for i, d := range c.Dimensions {
		if err := validateDimensionKey(d.Name, seen); err != nil {
			errs = append(errs, fmt.Errorf("dimensions[%d]: %w", i, err))
		}
	}
	seen = map[string]bool{}
	for i, k := range c.ResourceDimensions {
		if k == semconv.AttrServiceName {
			errs = append(errs, fmt.Errorf("resource_dimensions[%d]: %q is always kept; remove it", i, k))
			continue
		}
		if err := validateDimensionKey(k, seen); err != nil {
			errs = append(errs, fmt.Errorf("resource_dimensions[%d]: %w", i, err))
		}
	}
	if c.CollectorInstance.Enabled && c.CollectorInstance.AttributeKey == "" {
		errs = append(errs, errors.New("collector_instance.attribute_key must be set when collector_instance.enabled is true"))
	}
	if c.SeriesExpiry <= c.MetricsFlushInterval {
		errs = append(errs, fmt.Errorf("series_expiry (%v) must be longer than metrics_flush_interval (%v), or series expire before they are flushed", c.SeriesExpiry, c.MetricsFlushInterval))
	}
	if c.CardinalityLimit <= 0 {
		errs = append(errs, fmt.Errorf("cardinality_limit must be positive, got %d", c.CardinalityLimit))
	}
	if c.Exemplars.Enabled && (c.Exemplars.MaxPerDataPoint < 1 || c.Exemplars.MaxPerDataPoint > 100) {
		errs = append(errs, fmt.Errorf("exemplars.max_per_data_point must be between 1 and 100 when exemplars are enabled, got %d", c.Exemplars.MaxPerDataPoint))
	}
	ps := c.ProjectionState
	if ps.Window <= 0 {
		errs = append(errs, fmt.Errorf("projection_state.window must be positive, got %v", ps.Window))
	}
	if ps.MinSamples < 2 {
		errs = append(errs, fmt.Errorf("projection_state.min_samples must be at least 2 (a trend needs two samples), got %d", ps.MinSamples))
	}
	if ps.MaxSamples < ps.MinSamples {
		errs = append(errs, fmt.Errorf("projection_state.max_samples (%d) must be at least projection_state.min_samples (%d)", ps.MaxSamples, ps.MinSamples))
	}
	if c.Dedupe.Enabled {
		if c.Dedupe.Window <= 0 {
			errs = append(errs, fmt.Errorf("dedupe.window must be positive when dedupe is enabled, got %v; set dedupe.enabled: false to turn it off", c.Dedupe.Window))
		}
		if c.Dedupe.MaxEntries < 1 || c.Dedupe.MaxEntries > ringmap.MaxSize {
			errs = append(errs, fmt.Errorf("dedupe.max_entries must be between 1 and %d, got %d", ringmap.MaxSize, c.Dedupe.MaxEntries))
		}
	}
	for name, ids := range map[string][]pipeline.ID{
		"write": c.MetricsPipelines.Write, "read": c.MetricsPipelines.Read,
		"projection": c.MetricsPipelines.Projection, "default": c.MetricsPipelines.Default,
	} {
		for _, id := range ids {
			if id.Signal() != pipeline.SignalMetrics {
				errs = append(errs, fmt.Errorf("metrics_pipelines.%s: %q is not a metrics pipeline; use ids like metrics/%s", name, id.String(), name))
			}
		}
	}
	return errors.Join(errs...)
}

func validateBounds(b []float64) error {
	if len(b) == 0 {
		return errors.New("must not be empty")
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			return fmt.Errorf("must be strictly increasing, but %v follows %v", b[i], b[i-1])
		}
	}
	return nil
}

// reservedDimensions are the keys the connector sets itself.
var reservedDimensions = []string{
	semconv.MetricAttrCommandType, semconv.MetricAttrCommandStatus, semconv.MetricAttrQueryType,
	semconv.MetricAttrQueryStatus, semconv.MetricAttrProjectionName, semconv.MetricAttrEventType,
	semconv.MetricAttrStatus, semconv.MetricAttrState, semconv.MetricAttrOverflow, semconv.AttrServiceName,
}

func validateDimensionKey(k string, seen map[string]bool) error {
	switch {
	case strings.TrimSpace(k) == "":
		return errors.New("name must not be empty")
	case seen[k]:
		return fmt.Errorf("%q is listed twice; remove the duplicate", k)
	case slices.Contains(reservedDimensions, k):
		return fmt.Errorf("%q is set by the connector itself; remove it", k)
	case semconv.IsUnboundedKey(k):
		return fmt.Errorf("%q holds aggregate, event, trace or span ids: one series per id would exhaust the cardinality limit and the backend; it can never be a dimension (put it on exemplars or traces instead)", k)
	}
	seen[k] = true
	return nil
}
