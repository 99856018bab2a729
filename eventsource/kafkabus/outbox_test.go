package kafkabus_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

// An outbox relay publishing to an unreachable broker keeps every row
// pending and reports an error naming the broker; once a broker is there,
// the same relay publishes them all, in order.
func TestOutboxRowsStayPendingWhileTheBrokerIsUnreachable(t *testing.T) {
	ctx := context.Background()
	store, err := sqlitestore.OpenConfig(filepath.Join(t.TempDir(), "events.db"), sqlitestore.Config{Outbox: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	evs := events(3, "order-1")
	for i := range evs {
		evs[i].Version, evs[i].Position = 0, 0 // the store numbers them
	}
	_, err = store.AppendEvents(ctx, "order-1", "Order", 0, evs)
	require.NoError(t, err)

	down := newBus(t, kafkabus.Config{Brokers: []string{"127.0.0.1:1"}, Topic: topic, ProduceTimeout: time.Second})
	var reported []error
	relay, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: store.Outbox(), Publisher: down,
		OnError: func(err error) { reported = append(reported, err) }})
	require.NoError(t, err)
	n, err := relay.RelayOnce(ctx)
	require.Error(t, err)
	assert.Zero(t, n)
	assert.True(t, strings.Contains(err.Error(), "kafkabus: publish to 127.0.0.1:1"), err.Error())
	require.Len(t, reported, 1)
	assert.Equal(t, int64(1), relay.Stats().Failed)
	pending, err := store.Outbox().GetPending(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, 3, "nothing is marked published when the publish failed")
	for _, p := range pending {
		assert.Equal(t, 1, p.Attempts)
		assert.Contains(t, p.LastError, "127.0.0.1:1")
	}

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic, topic+".dlq"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	up := newBus(t, kafkabus.Config{Brokers: cluster.ListenAddrs(), Topic: topic})
	relay, err = eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: store.Outbox(), Publisher: up})
	require.NoError(t, err)
	n, err = relay.RelayOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	pending, err = store.Outbox().GetPending(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, pending)
}
