package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// rabbitDemoTruth is the part of the ground truth of `esdemo -bus rabbitmq` that groundTruth leaves out.
type rabbitDemoTruth struct {
	ProjectionServiceName string `json:"projection_service_name"`
	Bus                   string `json:"bus"`
	HeadPosition          int64  `json:"head_position"`
	RabbitMQ              *struct {
		InProcess bool             `json:"in_process"`
		Published int64            `json:"published"`
		Delivered map[string]int64 `json:"delivered"`
	} `json:"rabbitmq"`
}

// The demo across two services through RabbitMQ (esdemo -bus rabbitmq on a throw-away rabbitmq-server node,
// eventsource/rabbitbus): the write side publishes to an exchange, the projections consume the consumer
// group's queue in another service, one trace per event from the publish to the apply. The apply spans carry
// no lag (-lag-source link), so every lag the collector reports is an apply in the projection service joined
// to its producer in the write service: count and sum per projection and event type equal what esdemo
// measured on its own clock, as does the consistency delay, and no apply is left unmatched.
func TestDemoRabbitMQLagAcrossServices(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	demo := demoBinary(t)
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)

	out := filepath.Join(t.TempDir(), "rabbitmq.json")
	truth, err := runDemo(ctx, demo, out, c.GRPC, "-service-name", "demo-rabbitmq", "-bus", "rabbitmq", "-lag-source", "link",
		"-commands", "120", "-rate", "40", "-query-rate", "20", "-error-ratio", "0.1")
	require.NoError(t, err, "esdemo -bus rabbitmq")
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var rt rabbitDemoTruth
	require.NoError(t, json.Unmarshal(raw, &rt))
	require.Equal(t, "rabbitmq", rt.Bus)
	require.NotNil(t, rt.RabbitMQ, "no rabbitmq section in the ground truth")
	require.True(t, rt.RabbitMQ.InProcess, "the demo ran its own node")
	writer, projections := truth.ServiceName, rt.ProjectionServiceName
	require.Equal(t, "demo-rabbitmq-projections", projections)
	published := rt.RabbitMQ.Published
	require.Positive(t, published)
	require.Equal(t, rt.HeadPosition, published, "every event published once")
	for name, n := range rt.RabbitMQ.Delivered {
		require.Equalf(t, published, n, "messages delivered to %s", name)
	}
	live := checkAcrossServices(ctx, t, c, truth, writer, projections)
	t.Logf("%d commands, %d events published and consumed through RabbitMQ, %d live applies in %s joined to producers in %s",
		truth.CommandsTotal, published, live, projections, writer)
}
