package reliability

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

const (
	kafkaTopic      = "otlp_spans"
	kafkaGroup      = "otelcol-es-test"
	kafkaPartitions = 6
)

// TestKafkaConsumerGroupMatchesDirectPipeline: esdemo -> agent (config/agent-kafka.yaml, partitioned by
// trace id) -> an in-process Kafka broker (franz-go kfake on 127.0.0.1) -> two gateways
// (config/gateway-kafka.yaml) consuming as one group. The agent also tees the stream straight to a reference
// gateway over OTLP (the direct pipeline). Totals and histograms summed over the two Kafka gateways equal
// the direct pipeline's and esdemo's ground truth; every span is consumed exactly once.
func TestKafkaConsumerGroupMatchesDirectPipeline(t *testing.T) {
	promBin := testbed.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(kafkaPartitions, kafkaTopic))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	brokers := strings.Join(cluster.ListenAddrs(), ",")
	kenv := []string{"OTELCOL_ES_KAFKA_BROKERS=" + brokers, "OTELCOL_ES_KAFKA_TOPIC=" + kafkaTopic, "OTELCOL_ES_KAFKA_GROUP=" + kafkaGroup}

	sink, refSink := testbed.StartTraceSink(t), testbed.StartTraceSink(t)
	var gws []*testbed.Collector
	for range 2 {
		gws = append(gws, testbed.StartCollector(t, collectorBin, append([]string{"OTELCOL_ES_BACKEND=" + sink.Addr}, kenv...),
			"--config", configPath("gateway-kafka.yaml")))
	}
	ref := startGateway(t, refSink.Addr)
	ref.WaitReady(t)
	agent := testbed.StartCollector(t, collectorBin, append([]string{"RELIABILITY_REFERENCE=" + gatewayAddr(t, ref)}, kenv...),
		"--config", configPath("agent-kafka.yaml"), "--config", writeOverlay(t, fmt.Sprintf(referenceOverlay, "kafka")))
	for _, c := range append(gws, ref, agent) {
		c.WaitReady(t)
	}
	// Both gateways hold partitions before any span is produced: no rebalance (and so no redelivery)
	// happens under load, and "exactly once" below is a fair expectation.
	waitGroupStable(ctx, t, brokers, kafkaGroup, len(gws))

	var targets []string
	for _, g := range gws {
		targets = append(targets, g.Prom)
	}
	prom := testbed.StartPrometheus(t, promBin, append(targets, ref.Prom))

	tr := runDemo(ctx, t, agent.GRPC, "-duration", "15s", "-rate", "60", "-replay-after", "8s", "-service-name", "kafka",
		"-lag-source", lagEventTimestamp)
	t.Logf("esdemo: %d spans, %d commands", tr.SpansTotal, tr.CommandsTotal)
	recheckSpans := waitSpans(ctx, t, tr.SpansTotal, agent, gws, "kafka", ref, sink, refSink)

	checkTopologyMatchesReference(ctx, t, prom, gws, ref, tr, lagEventTimestamp)

	// Consumer lag drained to zero on every partition each gateway holds: the gauge must be there (the
	// receiver reports it once it has consumed), and reach 0.
	for i, g := range gws {
		url := "http://" + g.Telemetry + "/metrics"
		deadline := time.Now().Add(60 * time.Second)
		for {
			f, err := testbed.Scrape(ctx, url)
			require.NoError(t, err)
			if f.Has("otelcol_kafka_receiver_offset_lag") && f.Sum("otelcol_kafka_receiver_offset_lag", nil) == 0 {
				break
			}
			require.Falsef(t, time.Now().After(deadline), "gateway %d: otelcol_kafka_receiver_offset_lag never 0 (present: %v, sum %v)",
				i, f.Has("otelcol_kafka_receiver_offset_lag"), f.Sum("otelcol_kafka_receiver_offset_lag", nil))
			time.Sleep(500 * time.Millisecond)
		}
	}
	recheckSpans()
}

// waitGroupStable waits until the consumer group is Stable with n members, each assigned partitions.
func waitGroupStable(ctx context.Context, t *testing.T, brokers, group string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	require.NoError(t, err)
	defer cl.Close()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Groups = []string{group}
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Groups) == 1 {
			g := resp.Groups[0]
			assigned := 0
			for _, m := range g.Members {
				if len(m.MemberAssignment) > 0 {
					assigned++
				}
			}
			last = fmt.Sprintf("state %s, %d members, %d with an assignment", g.State, len(g.Members), assigned)
			if g.State == "Stable" && len(g.Members) == n && assigned == n {
				t.Logf("consumer group %s: %s", group, last)
				return
			}
		} else if err != nil {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("consumer group %s never became stable with %d members: %s", group, n, last)
}
