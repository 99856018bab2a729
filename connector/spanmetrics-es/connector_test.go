package spanmetricses

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
)

// updateGolden regenerates the expected files: UPDATE_GOLDEN=1 go test ./...
var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// testStart is the fake clock's start, shortly after the test spans.
var testStart = time.Unix(0, 1763776801000000000).UTC()

func newTestConnector(t *testing.T, cfg *Config, next consumer.Metrics) (*spanMetricsConnector, *clockwork.FakeClock) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	clock := clockwork.NewFakeClockAt(testStart)
	c, err := newConnector(connectortest.NewNopSettings(spanmetricses.Type), cfg, next, clock)
	require.NoError(t, err)
	return c, clock
}

func allMetrics(sink *consumertest.MetricsSink) pmetric.Metrics {
	out := pmetric.NewMetrics()
	for _, md := range sink.AllMetrics() {
		md.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
	}
	return out
}

var compareOpts = []pmetrictest.CompareMetricsOption{
	pmetrictest.IgnoreResourceMetricsOrder(),
	pmetrictest.IgnoreMetricsOrder(),
	pmetrictest.IgnoreMetricDataPointsOrder(),
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string // <in>-trace.yaml; the case name when empty
		cfg  func(*Config)
	}{
		{name: "seed000"},
		{name: "seed001"},
		// eventsource-py 0.14's Kafka chain, catch-up, RabbitMQ and Redis flows, as cqrsside and
		// projectionlag annotate them (processor/projectionlag/testdata/eventsource-py-expected.yaml):
		// a runner's apply counts once, not again for the projection.handle inside it.
		{name: "eventsource-py"},
		{name: "seed001-delta-exponential", in: "seed001", cfg: func(c *Config) {
			c.AggregationTemporality = temporalityDelta
			c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 20}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			sink := new(consumertest.MetricsSink)
			c, clock := newTestConnector(t, cfg, sink)
			in := tc.name
			if tc.in != "" {
				in = tc.in
			}
			td, err := golden.ReadTraces(filepath.Join("testdata", in+"-trace.yaml"))
			require.NoError(t, err)
			require.NoError(t, c.ConsumeTraces(context.Background(), td))
			clock.Advance(time.Second)
			require.NoError(t, c.flush(context.Background()))
			got := allMetrics(sink)
			expectedFile := filepath.Join("testdata", tc.name+"-expected-metrics.yaml")
			if updateGolden {
				require.NoError(t, golden.WriteMetricsToFile(expectedFile, got, golden.SkipMetricTimestampNormalization()))
			}
			want, err := golden.ReadMetrics(expectedFile)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got, compareOpts...))
		})
	}
}

func TestFlushOnTickerAndShutdown(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	sink := new(consumertest.MetricsSink)
	c, clock := newTestConnector(t, cfg, sink)
	c.flushed = make(chan struct{})
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	td, err := golden.ReadTraces(filepath.Join("testdata", "seed000-trace.yaml"))
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), td))

	require.NoError(t, clock.BlockUntilContext(context.Background(), 1))
	clock.Advance(cfg.MetricsFlushInterval)
	<-c.flushed
	require.Len(t, sink.AllMetrics(), 1)

	// Data that arrives after the last tick is emitted at shutdown.
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	require.NoError(t, c.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 2)
	total := findSum(t, sink.AllMetrics()[1], "cqrs.command.total", "PlaceOrder")
	require.Equal(t, int64(2), total)
}

// findSum returns the value of a sum data point whose attributes include the value v.
func findSum(t *testing.T, md pmetric.Metrics, name, v string) int64 {
	t.Helper()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				dps := m.Sum().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					for _, a := range dps.At(d).Attributes().All() {
						if a.AsString() == v {
							return dps.At(d).IntValue()
						}
					}
				}
			}
		}
	}
	t.Fatalf("no %s data point with %q", name, v)
	return 0
}
