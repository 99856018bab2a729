package sqlitestore

import (
	"path/filepath"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

func openOutbox(t *testing.T, path string, opts ...eventsource.Option) *Store {
	t.Helper()
	s, err := OpenConfig(path, Config{Outbox: true}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestOutbox(t *testing.T) {
	storetest.RunOutbox(t, func(t *testing.T) eventsource.OutboxStore {
		return openOutbox(t, filepath.Join(t.TempDir(), "events.db"))
	})
}

func TestConformanceWithOutbox(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventsource.EventStore {
		return openOutbox(t, filepath.Join(t.TempDir(), "events.db"))
	})
}

func TestCheckpointConformance(t *testing.T) {
	storetest.RunCheckpointStore(t, func(t *testing.T) eventsource.CheckpointStore { return tempStore(t) })
}

func TestNoOutboxByDefault(t *testing.T) {
	if tempStore(t).Outbox() != nil {
		t.Fatal("Open turned the outbox on")
	}
}

// TestOutboxSurvivesKill: a child process saves aggregates and is killed
// with SIGKILL while its relay is publishing; every event is published after
// the restart.
func TestOutboxSurvivesKill(t *testing.T) {
	target := filepath.Join(t.TempDir(), "events.db")
	storetest.RunOutboxCrash(t, target, func(t *testing.T, path string) eventsource.OutboxStore { return openOutbox(t, path) })
}

func TestOutboxSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	s := openOutbox(t, filepath.Join(t.TempDir(), "events.db"), eventsource.WithTracerProvider(tp))
	storetest.CheckOutboxSpans(t, s, sr, semconv.DBSystemSQLite)
}
