package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/dedupe"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/observe"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

type spanMetricsConnector struct {
	cfg    *Config
	logger *zap.Logger
	tel    *spanmetricses.TelemetryBuilder
	clock  clockwork.Clock

	// routes[s] is the consumer of side s; outputs[s] indexes the distinct
	// consumers so sides that share one are sent as one batch.
	routes  []consumer.Metrics
	outputs [numSides]int

	// dedupe is nil when disabled.
	dedupe     *dedupe.Window
	stores     [numFamilies]*series.Store
	projStates *state.Tracker
	msBounds   []float64
	sizeBounds []float64

	observer   *observe.Observer
	flushMu    sync.Mutex
	writer     *series.Writer
	metricDefs [numFamilies]series.Metrics

	started  bool
	done     chan struct{}
	loopDone chan struct{}
	// flushed, when set by tests, receives after every ticker flush.
	flushed chan struct{}
}

func newConnector(set connector.Settings, cfg *Config, next consumer.Metrics, clock clockwork.Clock) (*spanMetricsConnector, error) {
	tel, err := spanmetricses.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &spanMetricsConnector{
		cfg:        cfg,
		logger:     set.Logger,
		tel:        tel,
		clock:      clock,
		sizeBounds: cfg.ResultSizeBuckets,
		msBounds:   defaultMsBuckets,
		done:       make(chan struct{}),
		loopDone:   make(chan struct{}),
	}
	if err := c.resolveRoutes(next); err != nil {
		return nil, err
	}
	hist := series.HistExplicit
	if cfg.Histogram.Exponential != nil {
		hist = series.HistExponential
	} else if cfg.Histogram.Explicit != nil {
		c.msBounds = cfg.Histogram.Explicit.Buckets
	}
	for f := range numFamilies {
		def := &families[f]
		o := series.Options{Agg: def.agg, Limit: cfg.CardinalityLimit, OverflowAttr: semconv.MetricAttrOverflow}
		if def.hist != "" {
			if def.msHist {
				o.Hist = hist
				o.Bounds = c.msBounds
			} else {
				o.Hist = series.HistExplicit
				o.Bounds = c.sizeBounds
			}
			if cfg.Histogram.Exponential != nil {
				o.ExpoMaxSize = cfg.Histogram.Exponential.MaxSize
			}
		}
		if def.exemplars && cfg.Exemplars.Enabled {
			o.Exemplars = cfg.Exemplars.MaxPerDataPoint
		}
		c.stores[f] = series.NewStore(o)
	}
	c.projStates = state.NewTracker(state.Rules{
		Window:     cfg.ProjectionState.Window,
		MinSamples: cfg.ProjectionState.MinSamples,
		MaxSamples: cfg.ProjectionState.MaxSamples,
	}, cfg.CardinalityLimit)
	opts := observe.Options{
		ResourceDimensions:       cfg.ResourceDimensions,
		ExtrapolateSampledCounts: cfg.ExtrapolateSampledCounts,
	}
	if len(cfg.AssumedSamplingRatio) > 0 {
		opts.AssumedWeights = make(map[string]uint64, len(cfg.AssumedSamplingRatio))
		for svc, r := range cfg.AssumedSamplingRatio {
			opts.AssumedWeights[svc] = uint64(math.Round(1 / r))
		}
	}
	for _, d := range cfg.Dimensions {
		opts.Dimensions = append(opts.Dimensions, observe.Dimension{Name: d.Name, Default: d.Default})
	}
	if cfg.CollectorInstance.Enabled {
		opts.InstanceKey = cfg.CollectorInstance.AttributeKey
		opts.InstanceValue = collectorInstanceID(set, cfg.CollectorInstance.Value)
	}
	if cfg.Dedupe.Enabled {
		c.dedupe = dedupe.New(cfg.Dedupe.MaxEntries, cfg.Dedupe.Window)
		opts.Dedupe = c.dedupe
	}
	c.observer = observe.New(opts, sink{stores: &c.stores, states: c.projStates})
	c.writer = series.NewWriter(len(c.routes), spanmetricses.ScopeName)
	c.metricDefs = metricDefs(cfg.Histogram.Exponential != nil)
	return c, nil
}

// Attribute sets of the self-telemetry, built once: recording with a
// precomputed set allocates nothing.
var (
	droppedPermanent = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "permanent_error")))
	droppedTemporary = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "temporary_error")))
)

// droppedOpt is the reason of data points a consumer refused with err.
func (c *spanMetricsConnector) droppedOpt(err error) metric.AddOption {
	if consumererror.IsPermanent(err) {
		return droppedPermanent
	}
	return droppedTemporary
}

// collectorInstanceID is the configured value, else the collector's own
// service.instance.id, else the host name and process id.
func collectorInstanceID(set connector.Settings, configured string) string {
	if configured != "" {
		return configured
	}
	if v, ok := set.Resource.Attributes().Get(semconv.AttrServiceInstanceID); ok && v.AsString() != "" {
		return v.AsString()
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// resolveRoutes picks each side's consumer once, at creation, with the
// collector's connector router.
func (c *spanMetricsConnector) resolveRoutes(next consumer.Metrics) error {
	mp := c.cfg.MetricsPipelines
	if !mp.configured() {
		c.routes = []consumer.Metrics{next}
		return nil
	}
	router, ok := next.(connector.MetricsRouterAndConsumer)
	if !ok {
		return errors.New("metrics_pipelines is set but the connector was not given a router; is it used as an exporter of a traces pipeline and a receiver of metrics pipelines?")
	}
	lists := [numSides][]pipeline.ID{sideWrite: mp.Write, sideRead: mp.Read, sideProjection: mp.Projection}
	seen := map[string]int{}
	for s := range numSides {
		ids := lists[s]
		if len(ids) == 0 {
			ids = mp.Default
		}
		var cons consumer.Metrics = router
		keyStr := "*"
		if len(ids) > 0 {
			var err error
			if cons, err = router.Consumer(ids...); err != nil {
				return fmt.Errorf("metrics_pipelines: %w; list only metrics pipelines that have this connector as a receiver", err)
			}
			keyStr = fmt.Sprint(ids)
		}
		if i, ok := seen[keyStr]; ok {
			c.outputs[s] = i
			continue
		}
		seen[keyStr] = len(c.routes)
		c.outputs[s] = len(c.routes)
		c.routes = append(c.routes, cons)
	}
	return nil
}

func (c *spanMetricsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (c *spanMetricsConnector) Start(context.Context, component.Host) error {
	c.started = true
	ticker := c.clock.NewTicker(c.cfg.MetricsFlushInterval)
	go func() {
		defer close(c.loopDone)
		defer ticker.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-ticker.Chan():
				if err := c.flush(context.Background()); err != nil {
					c.logger.Warn("Failed to export metrics", zap.Error(err))
				}
				if c.flushed != nil {
					c.flushed <- struct{}{}
				}
			}
		}
	}()
	return nil
}

// Shutdown stops the flush loop and emits what was aggregated since the
// last flush, so nothing is lost.
func (c *spanMetricsConnector) Shutdown(ctx context.Context) error {
	defer c.tel.Shutdown()
	if c.started {
		c.started = false
		close(c.done)
		<-c.loopDone
	}
	return c.flush(ctx)
}

func (c *spanMetricsConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	c.report(ctx, c.observer.Batch(td, c.clock.Now()))
	return nil
}

// report adds one batch's counts to the self-telemetry.
func (c *spanMetricsConnector) report(ctx context.Context, n observe.Counts) {
	t := c.tel
	if n.NoSide > 0 {
		t.ConnectorSpanmetricsEsSpansWithoutSide.Add(ctx, n.NoSide)
	}
	if n.Invalid > 0 {
		t.ConnectorSpanmetricsEsSpansInvalid.Add(ctx, n.Invalid)
	}
	if n.Overflowed > 0 {
		t.ConnectorSpanmetricsEsOverflowDataPoints.Add(ctx, n.Overflowed)
	}
	if n.Created > 0 {
		t.ConnectorSpanmetricsEsActiveSeries.Add(ctx, n.Created)
	}
	if n.Duplicates > 0 {
		t.ConnectorSpanmetricsEsSpansDuplicate.Add(ctx, n.Duplicates)
	}
	if n.Evicted > 0 {
		t.ConnectorSpanmetricsEsDedupeEvictions.Add(ctx, n.Evicted)
	}
}

// sink stores observe's observations: one series store per family, the
// projection state tracker for checkpoints.
type sink struct {
	stores *[numFamilies]*series.Store
	states *state.Tracker
}

func (s sink) Observe(f observe.Family, key []byte, resLen int, d series.Describer, obs *series.Obs) series.Result {
	return s.stores[f].Observe(key, resLen, d, obs)
}

func (s sink) Checkpoint(key []byte, resLen int, d series.Describer, smp state.Sample) (created, dropped bool) {
	return s.states.Observe(key, resLen, d, smp)
}

// nowTS reads the injectable clock.
func (c *spanMetricsConnector) nowTS() (time.Time, pcommon.Timestamp) {
	now := c.clock.Now()
	return now, pcommon.NewTimestampFromTime(now)
}
