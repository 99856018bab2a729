package kafkabus_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
)

// On brokers with no topic, CreateTopics makes the bus's topic and its DLQ with the partitions asked for;
// calling it again (another process starting) is no error; events then flow.
func TestCreateTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx := context.Background()
	s := newService(t, "B")
	bus := newBus(t, kafkabus.Config{Brokers: c.ListenAddrs(), Topic: "orders.stream", ConsumerGroup: "g"}, s.opts()...)
	require.NoError(t, bus.CreateTopics(ctx, 3, -1))
	require.NoError(t, bus.CreateTopics(ctx, 3, -1), "existing topics are fine")

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	require.NoError(t, err)
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(ctx, "orders.stream", "orders.stream.dlq")
	require.NoError(t, err)
	for _, name := range []string{"orders.stream", "orders.stream.dlq"} {
		d, ok := details[name]
		if assert.Truef(t, ok, "topic %s missing", name) {
			assert.Len(t, d.Partitions, 3, name)
		}
	}

	h := &recorder{name: "H"}
	bus.Subscribe(h)
	stop := consume(t, bus)
	require.NoError(t, bus.Publish(ctx, events(4, "order-1")))
	h.waitFor(t, 4)
	require.NoError(t, stop())
}
