package pgstore

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

// TestDLQAndSnapshotSpansMatchEventsourcePy: the store's eventsource.dlq.*
// and eventsource.snapshot.* spans are eventsource-py 0.14's SQL DLQ and
// PostgreSQL snapshot store spans (names, attribute keys, value types).
func TestDLQAndSnapshotSpansMatchEventsourcePy(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	s := open(t, Config{}, eventsource.WithTracerProvider(tp))
	storetest.CheckDeadLetterSpans(t, s.DLQ(), sr, storetest.PySQLDLQ, "")
	storetest.CheckSnapshotSpans(t, s.Snapshots(), sr, storetest.PyPostgresSnapshots)
}
