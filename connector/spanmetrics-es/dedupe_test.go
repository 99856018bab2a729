package spanmetricses

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricsestest"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// refusing is an exporter that refuses the first n batches (as
// consumertest.NewErr does), then accepts: a sibling that recovers while
// the client retries.
type refusing struct {
	n      int
	refuse consumer.Traces
	consumertest.TracesSink
}

func newRefusing(n int) *refusing {
	return &refusing{n: n, refuse: consumertest.NewErr(errors.New("exporter queue full"))}
}

func (r *refusing) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if r.n > 0 {
		r.n--
		return r.refuse.ConsumeTraces(ctx, td)
	}
	return r.TracesSink.ConsumeTraces(ctx, td)
}

func newTelemetryConnector(t *testing.T, cfg *Config, next consumer.Metrics) (*spanMetricsConnector, *componenttest.Telemetry) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	c, err := newConnector(spanmetricsestest.NewSettings(tt), cfg, next, fakeClock())
	require.NoError(t, err)
	return c, tt
}

// TestRetryThroughFanoutCountsOnce: the connector shares a traces pipeline
// with an exporter that refuses twice. The collector's fanout (the traces
// router) returns the refusal to the client, which retries the whole batch
// until it is accepted; the connector sees it three times and emits exactly
// what one delivery gives (the cqrs-conventions golden file).
func TestRetryThroughFanoutCountsOnce(t *testing.T) {
	for _, temporality := range []string{temporalityCumulative, temporalityDelta} {
		t.Run(temporality, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.AggregationTemporality = temporality
			sink := new(consumertest.MetricsSink)
			c, tt := newTelemetryConnector(t, cfg, sink)
			sibling := newRefusing(2)
			fanout := connector.NewTracesRouter(map[pipeline.ID]consumer.Traces{
				pipeline.NewIDWithName(pipeline.SignalTraces, "spanmetrics"): c,
				pipeline.NewIDWithName(pipeline.SignalTraces, "export"):      sibling,
			})
			td, err := golden.ReadTraces(filepath.Join("testdata", "cqrs-conventions-trace.yaml"))
			require.NoError(t, err)

			attempts := 0
			for {
				attempts++
				if fanout.ConsumeTraces(context.Background(), td) == nil {
					break
				}
				require.Less(t, attempts, 10, "the sibling never accepted")
			}
			require.Equal(t, 3, attempts)
			require.Equal(t, 1, len(sibling.AllTraces()))

			c.clock.(*clockwork.FakeClock).Advance(time.Second)
			require.NoError(t, c.flush(context.Background()))
			want, err := golden.ReadMetrics(filepath.Join("testdata", "cqrs-conventions-expected-metrics.yaml"))
			require.NoError(t, err)
			got := allMetrics(sink)
			if temporality == temporalityCumulative {
				require.NoError(t, pmetrictest.CompareMetrics(want, got, compareOpts...))
			}
			// Delta differs from the golden file only in temporality: the counts are compared.
			for _, name := range []string{semconv.MetricCommandTotal, semconv.MetricEventsProduced, semconv.MetricQueryDuration, semconv.MetricProjectionLag, semconv.MetricConsistencyDelay} {
				assert.Equal(t, points(want, name), points(got, name), name)
			}
			// Each retry skips what one delivery counted: a second delivery to a
			// fresh connector says how many spans that is (only counted spans are
			// remembered, not, e.g., bus or event-write spans).
			ref, refTel := newTelemetryConnector(t, createDefaultConfig().(*Config), consumertest.NewNop())
			require.NoError(t, ref.ConsumeTraces(context.Background(), td))
			require.NoError(t, ref.ConsumeTraces(context.Background(), td))
			m, err := refTel.GetMetric("otelcol_connector_spanmetrics_es_spans_duplicate")
			require.NoError(t, err)
			counted := m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
			require.Positive(t, counted)
			require.Less(t, counted, int64(td.SpanCount()))
			spanmetricsestest.AssertEqualConnectorSpanmetricsEsSpansDuplicate(t, tt,
				[]metricdata.DataPoint[int64]{{Value: 2 * counted}}, metricdatatest.IgnoreTimestamp())
		})
	}
}

// TestDedupeWindowAndBound: a span is remembered for the window and at most
// max_entries are; evictions are counted; disabled, every delivery counts.
func TestDedupeWindowAndBound(t *testing.T) {
	total := func(c *spanMetricsConnector, sink *consumertest.MetricsSink) int64 {
		require.NoError(t, c.flush(context.Background()))
		md := sink.AllMetrics()[len(sink.AllMetrics())-1]
		return points(md, semconv.MetricCommandTotal)[fmtCmd("A")]
	}
	b := testbatch.New("svc")
	for i := range 3 {
		b.Command("A", uint64(i+1), 1, nil)
	}

	t.Run("window", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		sink := new(consumertest.MetricsSink)
		c, _ := newTelemetryConnector(t, cfg, sink)
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		assert.Equal(t, int64(3), total(c, sink))
		// After the window, the same ids are new spans again.
		c.clock.(*clockwork.FakeClock).Advance(cfg.Dedupe.Window + time.Second)
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		assert.Equal(t, int64(6), total(c, sink))
	})
	t.Run("bound", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Dedupe.MaxEntries = 2
		sink := new(consumertest.MetricsSink)
		c, tt := newTelemetryConnector(t, cfg, sink)
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		spanmetricsestest.AssertEqualConnectorSpanmetricsEsDedupeEvictions(t, tt,
			[]metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
		// The first span was evicted, so its retry counts again; re-adding
		// it evicts the second, whose retry then counts too, and so on.
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		assert.Equal(t, int64(6), total(c, sink))
	})
	t.Run("disabled", func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Dedupe.Enabled = false
		sink := new(consumertest.MetricsSink)
		c, _ := newTelemetryConnector(t, cfg, sink)
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		assert.Equal(t, int64(6), total(c, sink))
		assert.Nil(t, c.dedupe)
	})
	t.Run("within_one_batch", func(t *testing.T) {
		dup := testbatch.New("svc")
		s := dup.Command("A", 1, 1, nil)
		s.CopyTo(dup.RS.ScopeSpans().At(0).Spans().AppendEmpty())
		sink := new(consumertest.MetricsSink)
		c, _ := newTelemetryConnector(t, createDefaultConfig().(*Config), sink)
		require.NoError(t, c.ConsumeTraces(context.Background(), dup.TD))
		assert.Equal(t, int64(1), total(c, sink))
	})
}

// TestPartlyRetriedBatchCountsEachSpanOnce: a batch mixes spans counted before (a client resending part of
// an earlier export together with new work) with new ones, of every counted kind, interleaved. Each new span
// counts and each repeated one does not, wherever it sits in the batch.
func TestPartlyRetriedBatchCountsEachSpanOnce(t *testing.T) {
	first := testbatch.New("svc")
	cmdA := first.Command("A", 1, 1, nil)
	query := first.Query("Q", 2, 1)
	apply := first.Apply("P", "E", 3, 5)
	first.Command("A", 4, 1, nil)

	second := testbatch.New("svc")
	spans := second.RS.ScopeSpans().At(0).Spans()
	second.Command("B", 10, 1, nil)
	query.CopyTo(spans.AppendEmpty())
	second.Apply("P", "E", 11, 5)
	cmdA.CopyTo(spans.AppendEmpty())
	second.Query("Q", 12, 1)
	apply.CopyTo(spans.AppendEmpty())

	sink := new(consumertest.MetricsSink)
	c, _ := newTelemetryConnector(t, createDefaultConfig().(*Config), sink)
	require.NoError(t, c.ConsumeTraces(context.Background(), first.TD))
	require.NoError(t, c.ConsumeTraces(context.Background(), second.TD))
	require.NoError(t, c.flush(context.Background()))
	md := sink.AllMetrics()[len(sink.AllMetrics())-1]
	assert.Equal(t, map[string]int64{fmtCmd("A"): 2, fmtCmd("B"): 1}, points(md, semconv.MetricCommandTotal))
	var queries, applies int64
	for _, n := range points(md, semconv.MetricQueryTotal) {
		queries += n
	}
	for _, n := range points(md, semconv.MetricProjectionTotal) {
		applies += n
	}
	assert.Equal(t, int64(2), queries, "Q once from each batch")
	assert.Equal(t, int64(2), applies, "P once from each batch")
}

func fmtCmd(ct string) string {
	return fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: ct, semconv.MetricAttrCommandStatus: semconv.StatusSuccess})
}

func TestDedupeConfigValidation(t *testing.T) {
	_, err := loadConfig(t, "bad_dedupe")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dedupe.window must be positive")
	assert.Contains(t, err.Error(), "dedupe.max_entries must be between 1 and")
	cfg := createDefaultConfig().(*Config)
	cfg.Dedupe = DedupeConfig{Enabled: false}
	assert.NoError(t, cfg.Validate(), "a disabled window needs no size")
}

// TestFlushFailuresCounted: a refused flush is counted, with the data points
// it carried, by whether the refusal is permanent.
func TestFlushFailuresCounted(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		err          error
	}{
		{"temporary", "temporary_error", errors.New("backend unavailable")},
		{"permanent", "permanent_error", consumererror.NewPermanent(errors.New("bad data"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, tt := newTelemetryConnector(t, createDefaultConfig().(*Config), consumertest.NewErr(tc.err))
			b := testbatch.New("svc")
			b.Command("A", 1, 1, map[string]any{semconv.AttrEventsCount: 1})
			require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
			require.ErrorIs(t, c.flush(context.Background()), tc.err)
			opt := metricdatatest.IgnoreTimestamp()
			spanmetricsestest.AssertEqualConnectorSpanmetricsEsFlushFailures(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, opt)
			// cqrs.command.total, cqrs.command.duration, cqrs.events.produced
			spanmetricsestest.AssertEqualConnectorSpanmetricsEsDataPointsDropped(t, tt, []metricdata.DataPoint[int64]{{
				Attributes: attribute.NewSet(attribute.String("reason", tc.reason)), Value: 3,
			}}, opt)
		})
	}
}
