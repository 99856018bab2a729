package rabbitbus_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus/rabbittest"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

// The transactional outbox publishes through the RabbitMQ bus: rows stay
// pending while the broker cannot be reached (the error names the exchange
// and the broker), then the relay publishes each of them once, in order.
func TestOutboxRelayPublishesThroughRabbitMQ(t *testing.T) {
	ctx := context.Background()
	url := rabbittest.NewVhost(t)
	store, err := sqlitestore.OpenConfig(filepath.Join(t.TempDir(), "events.db"), sqlitestore.Config{Outbox: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	for _, agg := range []string{"order-1", "order-2"} {
		evs := events(3, agg)
		for i := range evs {
			evs[i].Version, evs[i].Position = 0, 0 // the store numbers them
		}
		_, err = store.AppendEvents(ctx, agg, "Order", 0, evs)
		require.NoError(t, err)
	}

	down := newBus(t, rabbitbus.Config{URL: "amqp://guest:guest@127.0.0.1:1/", PublishTimeout: time.Second})
	relay, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: store.Outbox(), Publisher: down})
	require.NoError(t, err)
	n, err := relay.RelayOnce(ctx)
	require.Error(t, err)
	assert.Zero(t, n)
	assert.Contains(t, err.Error(), `rabbitbus: publish to exchange "events" on amqp://guest:xxxxx@127.0.0.1:1/`)
	pending, err := store.Outbox().GetPending(ctx, 10)
	require.NoError(t, err)
	assert.Len(t, pending, 6, "nothing is marked published when the publish failed")

	sub := newBus(t, rabbitbus.Config{URL: url, ConsumerGroup: "projections"})
	h := &recorder{name: "Projection"}
	sub.Subscribe(h)
	consume(t, sub)
	up := newBus(t, rabbitbus.Config{URL: url})
	relay, err = eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: store.Outbox(), Publisher: up})
	require.NoError(t, err)
	n, err = relay.RelayOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	pending, err = store.Outbox().GetPending(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, pending)

	require.Eventually(t, func() bool { return h.total() == 6 }, deadline, tick)
	require.NoError(t, sub.Close())
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Len(t, h.got, 6, "each row once")
	var last int64
	for _, e := range h.got {
		assert.Greater(t, e.Position, last, "in the store's order, with the store's positions")
		last = e.Position
	}
}
