package eventsource_test

import (
	"testing"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

func TestInMemoryEventStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) eventsource.EventStore { return eventsource.NewInMemoryEventStore() })
}

func TestInMemoryDLQ(t *testing.T) {
	storetest.RunDeadLetterQueue(t, func(*testing.T) eventsource.DeadLetterQueue { return eventsource.NewInMemoryDLQ(0) })
}

func TestInMemorySnapshotStore(t *testing.T) {
	storetest.RunSnapshotStore(t, func(*testing.T) eventsource.SnapshotStore { return eventsource.NewInMemorySnapshotStore() })
}
