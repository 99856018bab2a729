package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore/pgtest"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// TestKafkaBus runs the demo with -bus kafka on the in-process broker, the events published directly
// (-store memory) and through the outbox and its relay (-store sqlite).
func TestKafkaBus(t *testing.T) {
	for _, store := range []string{storeMemory, storeSQLite} {
		t.Run(store, func(t *testing.T) { checkKafka(t, "-store", store) })
	}
}

// TestKafkaBrokers gives -brokers (a kfake cluster standing for a real broker, with no topic): the demo creates
// its own topic, named after the run, with three partitions, so one aggregate's events stay in order but the
// runners see positions out of order across partitions and fill the gaps from the store.
func TestKafkaBrokers(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	gt := checkKafka(t, "-brokers", strings.Join(cluster.ListenAddrs(), ","), "-partitions", "3")
	assert.True(t, strings.HasPrefix(gt.Kafka.Topic, "esdemo.events."), gt.Kafka.Topic)
	assert.Equal(t, 3, gt.Kafka.Partitions)
}

// TestPostgresStore runs the demo on a throw-away PostgreSQL (pgtest): through Kafka with the outbox, the
// projection service on its own connection pool, and on the in-process bus.
func TestPostgresStore(t *testing.T) {
	c, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNoPostgres) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Run("kafka", func(t *testing.T) {
		url, err := c.CreateDatabase(ctx, "esdemo_kafka")
		require.NoError(t, err)
		checkKafka(t, "-store", storePostgres, "-postgres-url", url)
	})
	t.Run("memory bus", func(t *testing.T) {
		url, err := c.CreateDatabase(ctx, "esdemo_memory")
		require.NoError(t, err)
		s, addr := startSink(t)
		gt := runDemo(t, "-endpoint", addr, "-service-name", "esdemo-test", "-store", storePostgres, "-postgres-url", url,
			"-commands", "80", "-rate", "200", "-query-rate", "50", "-projection-error-ratio", "0.2", "-max-attempts", "2",
			"-replay-after-commands", "40", "-summary-delay", "1ms", "-inventory-delay", "1ms")
		s.mu.Lock()
		defer s.mu.Unlock()
		assert.Equal(t, busMemory, gt.Bus)
		assert.Equal(t, storePostgres, gt.Store)
		assert.Equal(t, "esdemo-test", gt.ProjectionServiceName)
		assert.Nil(t, gt.Kafka)
		checkSpans(t, s, gt)
		assert.Equal(t, 1, gt.Replays)
	})
}

func runDemo(t *testing.T, args ...string) *groundTruth {
	t.Helper()
	cfg, err := parseFlags(args)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), cfg, &out, io.Discard))
	var gt groundTruth
	require.NoError(t, json.Unmarshal(out.Bytes(), &gt))
	return &gt
}

// checkKafka runs the demo with -bus kafka and checks the ground truth against the spans and metrics of both
// services: every trace crosses from the writer to the projections through the record headers (the consume
// span's parent is the publish span, in the other service), every apply links to an append in the writer,
// and the kafka.eventbus.* counters of each service equal the events published.
func checkKafka(t *testing.T, args ...string) *groundTruth {
	const writer, projections = "writer", "writer-projections"
	s, addr := startSink(t)
	gt := runDemo(t, append([]string{"-endpoint", addr, "-service-name", writer, "-bus", busKafka, "-commands", "120",
		"-rate", "200", "-query-rate", "50", "-error-ratio", "0.1", "-projection-error-ratio", "0.2", "-max-attempts", "2",
		"-replay-after-commands", "60", "-summary-delay", "1ms", "-summary-jitter", "1ms",
		"-inventory-delay", "1ms", "-inventory-jitter", "1ms"}, args...)...)

	s.mu.Lock()
	defer s.mu.Unlock()
	assert.True(t, s.services[writer])
	assert.True(t, s.services[projections])
	assert.Equal(t, busKafka, gt.Bus)
	assert.Equal(t, writer, gt.ServiceName)
	assert.Equal(t, projections, gt.ProjectionServiceName)
	checkSpans(t, s, gt)
	assert.Equal(t, 1, gt.Replays)

	var dead int64
	for _, p := range gt.Projections {
		for _, ph := range p.Phases {
			dead += ph.DeadLettered
		}
	}
	require.Positive(t, dead, "-projection-error-ratio dead-letters some events")
	assert.Positive(t, gt.DLQEntries, "the store's DLQ has them")
	assert.LessOrEqual(t, int64(gt.DLQEntries), dead, "a redelivered event is one entry")

	require.NotNil(t, gt.Kafka)
	k := gt.Kafka
	assert.Equal(t, !slices.Contains(args, "-brokers"), k.InProcess)
	assert.Equal(t, projections, k.ConsumerGroup)
	assert.Equal(t, gt.Store != storeMemory, k.Outbox, "the outbox with a SQL store")
	require.Positive(t, gt.HeadPosition)
	assert.Equal(t, gt.HeadPosition, k.Published, "every event published once")
	for _, name := range []string{"order_summary", "inventory_levels"} {
		assert.Equal(t, k.Published, k.Delivered[name], "%s got every record", name)
	}

	publishes := map[string]bool{}
	for _, sp := range s.spans {
		if strings.HasPrefix(sp.Name, semconv.SpanPrefixBusPublishTyped) {
			publishes[string(sp.SpanId)] = true
			assert.Equal(t, writer, s.spanService[string(sp.SpanId)], sp.Name)
		}
	}
	assert.Len(t, publishes, int(k.Published))
	var consumes, applies int64
	for _, sp := range s.spans {
		id := string(sp.SpanId)
		switch {
		case strings.HasPrefix(sp.Name, semconv.SpanPrefixBusConsumeTyped):
			consumes++
			assert.Equal(t, projections, s.spanService[id], sp.Name)
			assert.True(t, publishes[string(sp.ParentSpanId)], "the parent of %s is a publish span", sp.Name)
		case semconv.IsProjectionApply(sp.Name):
			applies++
			assert.Equal(t, projections, s.spanService[id], sp.Name)
			require.Len(t, sp.Links, 1)
			assert.Equal(t, writer, s.spanService[string(sp.Links[0].SpanId)], "%s links to the writer's append", sp.Name)
		case semconv.IsAppend(sp.Name), strings.HasPrefix(sp.Name, semconv.SpanPrefixCommand):
			assert.Equal(t, writer, s.spanService[id], sp.Name)
		}
	}
	assert.Equal(t, k.Published, consumes, "one consume span per record")
	assert.Positive(t, applies)

	assert.Equal(t, float64(k.Published), s.sum(writer, kafkabus.MetricMessagesPublished))
	assert.Equal(t, float64(k.Published), s.sum(projections, kafkabus.MetricMessagesConsumed))
	assert.Equal(t, float64(k.Published), s.sum(projections, kafkabus.MetricHandlerInvocations)/2, "two runners")
	assert.Zero(t, s.sum(writer, kafkabus.MetricMessagesConsumed))
	t.Logf("store %s: %d commands, %d events published and consumed, %d consume spans, %d applies, %d spans in 2 services",
		gt.Store, gt.CommandsTotal, k.Published, consumes, applies, len(s.spans))
	return gt
}
