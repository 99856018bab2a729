package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// kafkaDemoTruth is the part of the ground truth of `esdemo -bus kafka` that groundTruth leaves out.
type kafkaDemoTruth struct {
	ProjectionServiceName string `json:"projection_service_name"`
	Bus                   string `json:"bus"`
	HeadPosition          int64  `json:"head_position"`
	Kafka                 *struct {
		InProcess bool             `json:"in_process"`
		Published int64            `json:"published"`
		Delivered map[string]int64 `json:"delivered"`
	} `json:"kafka"`
}

// The demo across two services through Kafka (esdemo -bus kafka, on its in-process broker): the write side
// (commands, appends, publish) in one service, the projections in another that consumes the topic in a
// consumer group, each exporting its spans and its kafka.eventbus.* metrics to the default config. The apply
// spans carry no lag (-lag-source link), so every lag the collector reports is an apply in the projection
// service joined to the append it links to in the write service: its count and sum per projection and event
// type equal what esdemo measured on its own clock, as does the consistency delay (apply → command span in the
// other service). The app's Kafka counters arrive through metrics/app with the events published.
func TestDemoKafkaLagAcrossServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	demo := demoBinary(t)
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)

	out := filepath.Join(t.TempDir(), "kafka.json")
	truth, err := runDemo(ctx, demo, out, c.GRPC, "-service-name", "demo-kafka", "-bus", "kafka", "-lag-source", "link",
		"-commands", "120", "-rate", "40", "-query-rate", "20", "-error-ratio", "0.1")
	require.NoError(t, err, "esdemo -bus kafka")
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var kt kafkaDemoTruth
	require.NoError(t, json.Unmarshal(raw, &kt))
	require.Equal(t, "kafka", kt.Bus)
	require.NotNil(t, kt.Kafka, "no kafka section in the ground truth")
	require.True(t, kt.Kafka.InProcess)
	writer, projections := truth.ServiceName, kt.ProjectionServiceName
	require.Equal(t, "demo-kafka-projections", projections)
	published := kt.Kafka.Published
	require.Positive(t, published)
	require.Equal(t, kt.HeadPosition, published, "every event published once")
	for name, n := range kt.Kafka.Delivered {
		require.Equalf(t, published, n, "records delivered to %s", name)
	}
	url := "http://" + c.Prom + "/metrics"

	// The app's metrics first: the exporter drops a series a minute after its last update (metric_expiration),
	// and the demo has exited. No unit or _total suffix (UnderscoreEscapingWithoutSuffixes).
	wantSum := func(metric, service string, want float64) {
		t.Helper()
		labels := map[string]string{"service_name": service}
		var got float64
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
			if mf, err := tb.Scrape(ctx, url); err == nil {
				if got = mf.Sum(metric, labels); got == want {
					return
				}
			}
			if time.Now().After(deadline) {
				require.Failf(t, "metric not reached", "%s%v = %v after 30s, want %v", metric, labels, got, want)
			}
		}
	}
	wantSum("kafka_eventbus_messages_published", writer, float64(published))
	wantSum("kafka_eventbus_messages_consumed", projections, float64(published))
	// Both runners handle every record (a runner settles an apply failure itself: no failed invocation).
	wantSum("kafka_eventbus_handler_invocations", projections, float64(2*published))
	mf, err := tb.Scrape(ctx, url)
	require.NoError(t, err)
	assert.Zero(t, mf.Sum("kafka_eventbus_messages_published", map[string]string{"service_name": projections}))
	assert.Zero(t, mf.Sum("kafka_eventbus_messages_consumed", map[string]string{"service_name": writer}))
	published1, _ := mf.Value("kafka_eventbus_messages_published", map[string]string{"service_name": writer,
		"messaging_system": "kafka", "event_type": "OrderPlaced"})
	assert.Positive(t, published1, "kafka_eventbus_messages_published carries its attributes as labels")

	live := checkAcrossServices(ctx, t, c, truth, writer, projections)
	t.Logf("%d commands, %d events published and consumed through Kafka, %d live applies in %s joined to appends in %s",
		truth.CommandsTotal, published, live, projections, writer)
	for name, p := range truth.Projections {
		var n int64
		var sum float64
		for _, st := range p.Phases["live"].LagBySource["link"] {
			n, sum = n+st.Count, sum+st.Sum
		}
		t.Logf("%s: %d live applies, link lag sum %.3f ms over %d", name, p.Phases["live"].Applies, sum, n)
	}
}

// checkAcrossServices checks what the collector derived from a demo run across two services (-bus kafka or
// rabbitmq, -lag-source link): the write side under the writer's name, the projection side (applies, the link
// lag and the consistency delay) under the projections' name, as for the in-process demo, nothing of either
// side under the other's name, and every live apply joined to its producer in the other service. It returns
// the live applies.
func checkAcrossServices(ctx context.Context, t *testing.T, c *tb.Collector, truth *groundTruth, writer, projections string) int64 {
	t.Helper()
	url := "http://" + c.Prom + "/metrics"
	checkWriteSide(ctx, t, url, truth, writer)
	projSide := *truth
	projSide.ServiceName = projections
	projSide.Commands, projSide.Queries = nil, nil
	projSide.EventsProduced.ByCommandType = nil
	checkDemo(ctx, t, url, &projSide, "link")

	mf, err := tb.Scrape(ctx, url)
	require.NoError(t, err)
	for _, m := range []string{"cqrs_projection_total", "cqrs_projection_lag", "cqrs_consistency_delay"} {
		assert.Zerof(t, mf.Sum(m, map[string]string{"service_name": writer}), "%s in the write service", m)
	}
	assert.Zero(t, mf.Sum("cqrs_command_total", map[string]string{"service_name": projections}), "commands in the projection service")

	var live int64
	for _, p := range truth.Projections {
		live += p.Phases["live"].Applies
	}
	tel, err := tb.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
	require.NoError(t, err)
	require.True(t, tel.Has("otelcol_processor_projectionlag_link_pairs"), "projectionlag's link_pairs counter")
	assert.Equal(t, float64(live), tel.Sum("otelcol_processor_projectionlag_link_pairs", nil), "applies joined to their producer")
	assert.Zero(t, tel.Sum("otelcol_processor_projectionlag_link_unmatched", nil), "applies without their producer")
	return live
}
