package kafkabus

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// franz-go connects to a broker again whenever it needs a connection: after dropping the seed connection,
// after reaping an idle one, for another kind of request. Only a connect after a failed attempt is a
// reconnection.
func TestReconnectionsCountOnlyAfterAFailedAttempt(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	c := &connState{in: newInstruments(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("t")), lost: map[int32]bool{}}
	reconnections := func() int64 {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == MetricReconnections {
					var n int64
					for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
						n += dp.Value
					}
					return n
				}
			}
		}
		return 0
	}
	broker := kgo.BrokerMetadata{NodeID: 1}
	for range 3 { // connect, idle reap, connect again: no reconnection
		c.OnBrokerConnect(broker, 0, nil, nil)
	}
	assert.Zero(t, reconnections())
	c.OnBrokerConnect(broker, 0, nil, errors.New("connection refused")) // the broker went away
	c.OnBrokerConnect(broker, 0, nil, errors.New("connection refused"))
	assert.False(t, c.active())
	c.OnBrokerConnect(broker, 0, nil, nil) // and came back
	assert.Equal(t, int64(1), reconnections())
	assert.True(t, c.active())
	c.OnBrokerConnect(broker, 0, nil, nil)
	assert.Equal(t, int64(1), reconnections(), "counted once")
}
