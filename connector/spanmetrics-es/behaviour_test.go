package spanmetricses

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricsestest"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
)

// consumeAndFlush runs one batch through a fresh connector and returns the
// flushed metrics.
func consumeAndFlush(t *testing.T, cfg *Config, b *testbatch.Batch) pmetric.Metrics {
	t.Helper()
	sink := new(consumertest.MetricsSink)
	c, clock := newTestConnector(t, cfg, sink)
	require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
	clock.Advance(time.Second)
	require.NoError(t, c.flush(context.Background()))
	return allMetrics(sink)
}

// points returns name's data points as attribute-string -> value (sum/gauge
// value, or histogram count).
func points(md pmetric.Metrics, name string) map[string]int64 {
	out := map[string]int64{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				switch m.Type() {
				case pmetric.MetricTypeSum:
					for d := 0; d < m.Sum().DataPoints().Len(); d++ {
						dp := m.Sum().DataPoints().At(d)
						out[fmt.Sprint(dp.Attributes().AsRaw())] += dp.IntValue()
					}
				case pmetric.MetricTypeGauge:
					for d := 0; d < m.Gauge().DataPoints().Len(); d++ {
						dp := m.Gauge().DataPoints().At(d)
						out[fmt.Sprint(dp.Attributes().AsRaw())] += dp.IntValue()
					}
				case pmetric.MetricTypeHistogram:
					for d := 0; d < m.Histogram().DataPoints().Len(); d++ {
						dp := m.Histogram().DataPoints().At(d)
						out[fmt.Sprint(dp.Attributes().AsRaw())] += int64(dp.Count())
					}
				}
			}
		}
	}
	return out
}

func cmdKey(ct string) string {
	return fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: ct})
}

func TestEventsProducedCountedOnce(t *testing.T) {
	b := behaviourInputs["events-produced-once"]()

	got := points(consumeAndFlush(t, createDefaultConfig().(*Config), b), semconv.MetricEventsProduced)
	assert.Equal(t, map[string]int64{
		cmdKey("Own"): 3, cmdKey("Events"): 2, cmdKey("Bare"): 5, cmdKey("None"): 0, cmdKey("Outer"): 0, cmdKey("Inner"): 1,
		cmdKey("Py"): 2, cmdKey("Routed"): 3, cmdKey("Retried"): 1,
	}, got)
}

func TestStatusAndInvalidInput(t *testing.T) {
	b := behaviourInputs["status-and-invalid"]()

	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	sink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig().(*Config)
	c, err := newConnector(spanmetricsestest.NewSettings(tt), cfg, sink, fakeClock())
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
	require.NoError(t, c.flush(context.Background()))
	md := allMetrics(sink)

	assert.Equal(t, map[string]int64{
		fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: "A", semconv.MetricAttrCommandStatus: semconv.StatusError}):   1,
		fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: "A", semconv.MetricAttrCommandStatus: semconv.StatusSuccess}): 2,
	}, points(md, semconv.MetricCommandTotal))
	sn, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get(semconv.AttrServiceName)
	assert.Equal(t, semconv.UnknownServiceName, sn.Str())
	assert.Empty(t, points(md, semconv.MetricProjectionLag))

	opt := metricdatatest.IgnoreTimestamp()
	// bad events count, bad timestamps, bad lag
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsSpansInvalid(t, tt, []metricdata.DataPoint[int64]{{Value: 3}}, opt)
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsSpansWithoutSide(t, tt, []metricdata.DataPoint[int64]{{Value: 1}}, opt)
	// command family x2 (error/success), events, projection family
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsActiveSeries(t, tt, []metricdata.DataPoint[int64]{{Value: 4}}, opt)
}

func TestDimensionsAndInstance(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	def := "none"
	cfg.Dimensions = []Dimension{{Name: "deployment.environment"}, {Name: "tenant", Default: &def}}
	cfg.ResourceDimensions = []string{"service.namespace"}
	cfg.CollectorInstance = CollectorInstanceConfig{Enabled: true, AttributeKey: semconv.AttrCollectorInstanceID, Value: "gw-1"}
	b := behaviourInputs["dimensions-and-instance"]()
	md := consumeAndFlush(t, cfg, b)

	res := md.ResourceMetrics().At(0).Resource().Attributes().AsRaw()
	assert.Equal(t, map[string]any{semconv.AttrServiceName: "svc", "service.namespace": "shop", semconv.AttrCollectorInstanceID: "gw-1"}, res)
	assert.Equal(t, map[string]int64{
		fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: "A", semconv.MetricAttrCommandStatus: "success", "deployment.environment": "prod", "tenant": "t1"}):     1,
		fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: "A", semconv.MetricAttrCommandStatus: "success", "deployment.environment": "canary", "tenant": "none"}): 1,
	}, points(md, semconv.MetricCommandTotal))
}

func TestOneResourcePerService(t *testing.T) {
	b := behaviourInputs["one-resource-per-service"]()
	md := consumeAndFlush(t, createDefaultConfig().(*Config), b)
	require.Equal(t, 2, md.ResourceMetrics().Len())
}

func TestSampledCountsAreExtrapolated(t *testing.T) {
	for _, extrapolate := range []bool{true, false} {
		cfg := createDefaultConfig().(*Config)
		cfg.ExtrapolateSampledCounts = extrapolate
		b := behaviourInputs["sampled-counts"]()
		md := consumeAndFlush(t, cfg, b)
		want, wantEvents := int64(3), int64(2)
		if extrapolate {
			want, wantEvents = 6, 8
		}
		assert.Equal(t, want, points(md, semconv.MetricCommandTotal)[fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: "A", semconv.MetricAttrCommandStatus: "success"})])
		assert.Equal(t, wantEvents, points(md, semconv.MetricEventsProduced)[cmdKey("A")])
	}
}

func TestProjectionStateAndPositions(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	sink := new(consumertest.MetricsSink)
	c, clock := newTestConnector(t, cfg, sink)
	for i := range 4 {
		b := testbatch.New("svc")
		b.Checkpoint("stuck", int64(10+i), 100) // position never moves
		b.Checkpoint("busy", int64(10+i), int64(100+i))
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
		clock.Advance(10 * time.Second)
	}
	require.NoError(t, c.flush(context.Background()))
	md := sink.AllMetrics()[0]
	st := points(md, semconv.MetricProjectionState)
	key := func(pn, s string) string {
		return fmt.Sprint(map[string]any{semconv.MetricAttrProjectionName: pn, semconv.MetricAttrState: s})
	}
	assert.Equal(t, int64(1), st[key("stuck", semconv.StateStalled)])
	assert.Equal(t, int64(0), st[key("stuck", semconv.StateOK)])
	assert.Equal(t, int64(1), st[key("busy", semconv.StateLagging)])
	assert.Equal(t, int64(13), points(md, semconv.MetricProjectionPositionsBehind)[fmt.Sprint(map[string]any{semconv.MetricAttrProjectionName: "busy"})])

	clock.Advance(cfg.ProjectionState.Window)
	require.NoError(t, c.flush(context.Background()))
	st = points(sink.AllMetrics()[1], semconv.MetricProjectionState)
	assert.Equal(t, int64(1), st[key("busy", semconv.StateStopped)])
}

func TestReplayLagKeptApart(t *testing.T) {
	b := behaviourInputs["replay-lag-apart"]()
	md := consumeAndFlush(t, createDefaultConfig().(*Config), b)
	k := fmt.Sprint(map[string]any{semconv.MetricAttrProjectionName: "p", semconv.MetricAttrEventType: "E"})
	assert.Equal(t, map[string]int64{k: 1}, points(md, semconv.MetricProjectionLag))
	assert.Equal(t, map[string]int64{k: 1}, points(md, semconv.MetricProjectionReplayLag))
	assert.Empty(t, points(md, semconv.MetricConsistencyDelay), "replays say nothing about visibility delay")
	assert.Equal(t, int64(2), points(md, semconv.MetricProjectionTotal)[fmt.Sprint(map[string]any{semconv.MetricAttrProjectionName: "p", semconv.MetricAttrStatus: "success"})])
}

func TestRoutingPerSide(t *testing.T) {
	write, read, rest := new(consumertest.MetricsSink), new(consumertest.MetricsSink), new(consumertest.MetricsSink)
	id := func(n string) pipeline.ID { return pipeline.NewIDWithName(pipeline.SignalMetrics, n) }
	router := connector.NewMetricsRouter(map[pipeline.ID]consumer.Metrics{id("write"): write, id("read"): read, id("rest"): rest})
	cfg := createDefaultConfig().(*Config)
	cfg.MetricsPipelines = MetricsPipelinesConfig{Write: []pipeline.ID{id("write")}, Read: []pipeline.ID{id("read")}, Default: []pipeline.ID{id("rest")}}
	c, clock := newTestConnector(t, cfg, router)

	b := testbatch.New("svc")
	b.Command("C", 1, 1, nil)
	b.Query("Q", 2, 1)
	b.Apply("P", "E", 3, 5)
	require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
	clock.Advance(time.Second)
	require.NoError(t, c.flush(context.Background()))

	names := func(s *consumertest.MetricsSink) []string {
		var out []string
		for _, md := range s.AllMetrics() {
			ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
			for i := 0; i < ms.Len(); i++ {
				out = append(out, ms.At(i).Name())
			}
		}
		return out
	}
	assert.ElementsMatch(t, []string{semconv.MetricCommandTotal, semconv.MetricCommandDuration, semconv.MetricEventsProduced}, names(write))
	assert.ElementsMatch(t, []string{semconv.MetricQueryTotal, semconv.MetricQueryDuration, semconv.MetricQueryResultSize}, names(read))
	assert.ElementsMatch(t, []string{semconv.MetricProjectionTotal, semconv.MetricProjectionDuration, semconv.MetricProjectionLag}, names(rest))
}

func TestRoutingErrors(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MetricsPipelines.Write = []pipeline.ID{pipeline.NewIDWithName(pipeline.SignalMetrics, "missing")}
	_, err := newConnector(connectortestSettings(), cfg, consumertest.NewNop(), fakeClock())
	assert.ErrorContains(t, err, "not given a router")
	router := connector.NewMetricsRouter(map[pipeline.ID]consumer.Metrics{pipeline.NewID(pipeline.SignalMetrics): consumertest.NewNop()})
	_, err = newConnector(connectortestSettings(), cfg, router, fakeClock())
	assert.ErrorContains(t, err, `missing consumer: "metrics/missing"`)
}

// TestCardinalityBounded feeds 1M distinct aggregate ids across 100k
// distinct command types: series stay at the limit (+ one overflow series).
func TestCardinalityBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1M spans")
	}
	cfg := createDefaultConfig().(*Config)
	cfg.CardinalityLimit = 1000
	// The same spans are resent with new attributes: dedupe would rightly
	// count them once.
	cfg.Dedupe.Enabled = false
	c, _ := newTestConnector(t, cfg, consumertest.NewNop())
	const perBatch = 10_000
	b := testbatch.New("svc")
	spans := make([]pcommon.Map, perBatch)
	for i := range perBatch {
		spans[i] = b.Command("T", 1, 1, map[string]any{semconv.AttrAggregateID: "", semconv.AttrEventsCount: 1}).Attributes()
	}
	for round := range 100 {
		for i, attrs := range spans {
			n := round*perBatch + i
			attrs.PutStr(semconv.AttrAggregateID, fmt.Sprintf("agg-%d", n))
			attrs.PutStr(semconv.AttrCommandType, fmt.Sprintf("Cmd%d", n%100_000))
		}
		require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
	}
	for _, f := range []family{famCommand, famEvents} {
		assert.Equal(t, cfg.CardinalityLimit+1, c.stores[f].Len(), families[f])
	}
	sink := new(consumertest.MetricsSink)
	c.routes[0] = sink
	require.NoError(t, c.flush(context.Background()))
	// Each command type recurs 10 times: the first 1000 types keep their
	// own series, everything else is counted in the overflow series.
	totals := points(sink.AllMetrics()[0], semconv.MetricCommandTotal)
	overflow := fmt.Sprint(map[string]any{semconv.MetricAttrOverflow: true})
	assert.Equal(t, int64(1_000_000-10*cfg.CardinalityLimit), totals[overflow])
	var sum int64
	for _, v := range totals {
		sum += v
	}
	assert.Equal(t, int64(1_000_000), sum, "nothing is lost to the limit")
}

// TestConcurrentConsumeAndFlush is meant for -race: parallel ConsumeTraces
// and flushes lose nothing.
func TestConcurrentConsumeAndFlush(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.AggregationTemporality = temporalityDelta
	sink := new(consumertest.MetricsSink)
	c, _ := newTestConnector(t, cfg, sink)
	const workers, batches = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				b := testbatch.New(fmt.Sprint("svc", w%2))
				b.Command(fmt.Sprint("C", i%7), uint64(i), 3, map[string]any{semconv.AttrEventsCount: 1})
				b.Query("Q", uint64(i), 2)
				b.Apply("P", "E", uint64(i), 4)
				b.Checkpoint("P", int64(i), int64(i))
				assert.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
			}
		}()
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-stop:
				return
			default:
				assert.NoError(t, c.flush(context.Background()))
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	require.NoError(t, c.flush(context.Background()))
	var total, events int64
	for _, md := range sink.AllMetrics() {
		for _, v := range points(md, semconv.MetricCommandTotal) {
			total += v
		}
		for _, v := range points(md, semconv.MetricEventsProduced) {
			events += v
		}
	}
	assert.Equal(t, int64(workers*batches), total)
	assert.Equal(t, int64(workers*batches), events)
}

func TestTelemetryOverflowAndExpiry(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.CardinalityLimit = 1
	sink := new(consumertest.MetricsSink)
	clock := fakeClock()
	c, err := newConnector(spanmetricsestest.NewSettings(tt), cfg, sink, clock)
	require.NoError(t, err)
	b := testbatch.New("svc")
	b.Query("A", 1, 1)
	b.Query("B", 2, 1)
	b.Query("C", 3, 1)
	require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
	require.NoError(t, c.flush(context.Background()))
	opt := metricdatatest.IgnoreTimestamp()
	// query family: A + overflow; result size family: A + overflow
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsActiveSeries(t, tt, []metricdata.DataPoint[int64]{{Value: 4}}, opt)
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsOverflowDataPoints(t, tt, []metricdata.DataPoint[int64]{{Value: 4}}, opt)

	clock.Advance(cfg.SeriesExpiry + time.Second)
	require.NoError(t, c.flush(context.Background()))
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsExpiredSeries(t, tt, []metricdata.DataPoint[int64]{{Value: 4}}, opt)
	spanmetricsestest.AssertEqualConnectorSpanmetricsEsActiveSeries(t, tt, []metricdata.DataPoint[int64]{{Value: 0}}, opt)
	// Cumulative series that expired were emitted for the last time in the
	// previous flush; a new one starts again at its creation time.
	b = testbatch.New("svc")
	b.Query("A", 4, 1)
	require.NoError(t, c.ConsumeTraces(context.Background(), b.TD))
	require.NoError(t, c.flush(context.Background()))
	last := sink.AllMetrics()[len(sink.AllMetrics())-1]
	dp := last.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
	assert.Equal(t, int64(1), dp.IntValue())
	assert.Equal(t, pcommon.NewTimestampFromTime(clock.Now()), dp.StartTimestamp())
}

func TestCollectorInstanceDefaultsToOwnID(t *testing.T) {
	set := connectortestSettings()
	set.Resource = pcommon.NewResource()
	set.Resource.Attributes().PutStr(semconv.AttrServiceInstanceID, "0b1c-uuid")
	assert.Equal(t, "0b1c-uuid", collectorInstanceID(set, ""))
	assert.Equal(t, "fixed", collectorInstanceID(set, "fixed"))
	assert.NotEmpty(t, collectorInstanceID(connectortestSettings(), ""))
}

func TestLongValuesAreClipped(t *testing.T) {
	long := strings.Repeat("é", 1000) // 2 bytes per rune
	b := behaviourInputs["long-values-clipped"]()
	md := consumeAndFlush(t, createDefaultConfig().(*Config), b)
	got := points(md, semconv.MetricCommandTotal)
	require.Len(t, got, 1)
	clip := func(v string) string { return spanattr.Bound(v, spanattr.Stated) }
	clipped := clip(long)
	assert.Len(t, clipped, spanattr.MaxValueLen)
	assert.True(t, utf8.ValidString(clip("a"+long)), "cut at a rune boundary")
	assert.Len(t, clip("a"+long), spanattr.MaxValueLen-1)
	assert.Equal(t, int64(2), got[fmt.Sprint(map[string]any{semconv.MetricAttrCommandType: clipped, semconv.MetricAttrCommandStatus: "success"})])
}
