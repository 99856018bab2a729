package eventsource_test

import (
	"testing"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

func TestInMemoryEventStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) eventsource.EventStore { return eventsource.NewInMemoryEventStore() })
}
