package main

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus/rabbittest"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// The RabbitMQ tests share one throw-away node, started by the first of them.
func TestMain(m *testing.M) { os.Exit(rabbittest.Main(m)) }

// TestRabbitMQBus runs the demo with -bus rabbitmq, the events published directly (-store memory) and
// through the outbox and its relay (-store sqlite): every event reaches both projections once, and one trace
// runs from the writer's command through publish (writer), consume and handle (projections) to the apply.
func TestRabbitMQBus(t *testing.T) {
	for _, store := range []string{storeMemory, storeSQLite} {
		t.Run(store, func(t *testing.T) {
			checkRabbitMQ(t, "-store", store, "-rabbitmq-url", rabbittest.NewVhost(t))
		})
	}
}

func checkRabbitMQ(t *testing.T, args ...string) *groundTruth {
	const writer, projections = "writer", "writer-projections"
	s, addr := startSink(t)
	gt := runDemo(t, append([]string{"-endpoint", addr, "-service-name", writer, "-bus", busRabbitMQ, "-commands", "100",
		"-rate", "200", "-query-rate", "50", "-error-ratio", "0.1", "-projection-error-ratio", "0.2", "-max-attempts", "2",
		"-replay-after-commands", "50", "-summary-delay", "1ms", "-summary-jitter", "1ms",
		"-inventory-delay", "1ms", "-inventory-jitter", "1ms"}, args...)...)

	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, busRabbitMQ, gt.Bus)
	assert.Equal(t, projections, gt.ProjectionServiceName)
	checkSpans(t, s, gt)
	require.NotNil(t, gt.RabbitMQ)
	r := gt.RabbitMQ
	assert.False(t, r.InProcess, "-rabbitmq-url given")
	assert.NotContains(t, r.Brokers, "guest:guest", "the password is not in the ground truth")
	assert.Equal(t, projections, r.ConsumerGroup)
	assert.Equal(t, gt.Store != storeMemory, r.Outbox)
	require.Positive(t, gt.HeadPosition)
	assert.Equal(t, gt.HeadPosition, r.Published, "every event published once")
	for _, name := range []string{"order_summary", "inventory_levels"} {
		assert.Equal(t, r.Published, r.Delivered[name], "%s got every message", name)
	}

	publishes := map[string]string{} // span id → trace id
	for _, sp := range s.spans {
		if sp.Name == semconv.SpanBusPublish {
			publishes[string(sp.SpanId)] = string(sp.TraceId)
			assert.Equal(t, writer, s.spanService[string(sp.SpanId)])
		}
	}
	assert.Len(t, publishes, int(r.Published), "a publish span per event")
	publishTraces := map[string]bool{}
	for _, tr := range publishes {
		publishTraces[tr] = true
	}
	consumes := map[string]bool{}
	for _, sp := range s.spans {
		if sp.Name == semconv.SpanBusConsume {
			consumes[string(sp.SpanId)] = true
			assert.Equal(t, projections, s.spanService[string(sp.SpanId)])
			assert.Equal(t, string(sp.TraceId), publishes[string(sp.ParentSpanId)], "consume's parent is a publish span of its trace")
		}
	}
	assert.Len(t, consumes, int(r.Published), "one consume span per message")
	var handles, applies, traced int
	for _, sp := range s.spans {
		switch {
		case sp.Name == semconv.SpanBusHandle:
			handles++
			assert.True(t, consumes[string(sp.ParentSpanId)], "a handle span is a child of a consume span")
		case semconv.IsProjectionApply(sp.Name):
			applies++
			if publishTraces[string(sp.TraceId)] {
				traced++
			}
		}
	}
	assert.Equal(t, 2*int(r.Published), handles, "a handle span per runner and message")
	require.Positive(t, applies)
	// Live applies run under a handle span, in the publish's trace; the replay's catch-up applies do not.
	var live int64
	for _, p := range gt.Projections {
		live += p.Phases["live"].Applies
	}
	assert.Equal(t, int(live), traced, "every live apply is in the trace of an event's publish")
	t.Logf("store %s: %d events published and consumed through RabbitMQ, %d live applies in publish traces, %d spans",
		gt.Store, r.Published, traced, len(s.spans))
	return gt
}
