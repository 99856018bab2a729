package spanmetricses

import (
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/connector/connectortest"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
)

func fakeClock() *clockwork.FakeClock { return clockwork.NewFakeClockAt(testStart) }

func connectortestSettings() connector.Settings {
	return connectortest.NewNopSettings(spanmetricses.Type)
}
