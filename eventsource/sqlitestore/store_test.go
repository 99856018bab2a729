package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/eventsource/storetest"
)

func open(t *testing.T, path string, opts ...eventsource.Option) *Store {
	t.Helper()
	s, err := Open(path, opts...)
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) eventsource.EventStore {
		s := open(t, filepath.Join(t.TempDir(), "events.db"))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestSurvivesRestart: append, close, reopen, read back the same events and
// positions; appends continue after the head and conflicts are still caught.
func TestSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	s := open(t, path)
	var written []eventsource.Event
	for i := range 3 {
		for j := range 2 {
			e := storetest.NewEvent(fmt.Sprint("Evt", j))
			e.Metadata = map[string]string{"k": fmt.Sprint(i)}
			stored, err := s.AppendEvents(ctx, fmt.Sprint("agg", i), "Order", int64(j), []eventsource.Event{e})
			require.NoError(t, err)
			written = append(written, stored...)
		}
	}
	require.NoError(t, s.UpdateCheckpoint(ctx, "order_summary", 4))
	require.NoError(t, s.Close())

	s = open(t, path)
	defer s.Close()
	head, err := s.HeadPosition(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(6), head)
	all, err := s.ReadAll(ctx, 0, 0)
	require.NoError(t, err)
	require.Len(t, all, len(written))
	for i := range written {
		w, g := written[i], all[i]
		assert.True(t, w.Timestamp.Equal(g.Timestamp))
		w.Timestamp = g.Timestamp
		assert.Equal(t, w, g, "event %d", i)
	}
	stream, err := s.GetEvents(ctx, "agg1", 0)
	require.NoError(t, err)
	require.Len(t, stream, 2)
	assert.Equal(t, []int64{3, 4}, []int64{stream[0].Position, stream[1].Position})
	cp, err := s.GetCheckpoint(ctx, "order_summary")
	require.NoError(t, err)
	assert.Equal(t, int64(4), cp)

	_, err = s.AppendEvents(ctx, "agg1", "Order", 1, []eventsource.Event{storetest.NewEvent("Late")})
	require.True(t, errors.Is(err, eventsource.ErrConcurrencyConflict), "got %v", err)
	next, err := s.AppendEvents(ctx, "agg1", "Order", 2, []eventsource.Event{storetest.NewEvent("Next")})
	require.NoError(t, err)
	assert.Equal(t, int64(7), next[0].Position)
	assert.Equal(t, int64(3), next[0].Version)
}

func TestCheckpointStore(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "events.db"))
	defer s.Close()
	ctx := context.Background()
	cp, err := s.GetCheckpoint(ctx, "p")
	require.NoError(t, err)
	assert.Zero(t, cp)
	require.NoError(t, s.UpdateCheckpoint(ctx, "p", 3))
	require.NoError(t, s.UpdateCheckpoint(ctx, "p", 5))
	cp, _ = s.GetCheckpoint(ctx, "p")
	assert.Equal(t, int64(5), cp)
	require.NoError(t, s.ResetCheckpoint(ctx, "p"))
	cp, _ = s.GetCheckpoint(ctx, "p")
	assert.Zero(t, cp)
}

func TestSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	s := open(t, filepath.Join(t.TempDir(), "events.db"), eventsource.WithTracerProvider(tp))
	defer s.Close()
	ctx := context.Background()
	stored, err := s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{storetest.NewEvent("X"), storetest.NewEvent("Y")})
	require.NoError(t, err)
	_, err = s.GetEvents(ctx, "a", 0)
	require.NoError(t, err)
	_, err = s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{storetest.NewEvent("Z")})
	require.Error(t, err)

	spans := sr.Ended()
	require.Len(t, spans, 3)
	app := spans[0]
	assert.Equal(t, semconv.EventStoreSQLite+semconv.SpanSuffixAppendEvents, app.Name())
	assert.Equal(t, trace.SpanKindClient, app.SpanKind())
	attrs := map[string]any{}
	for _, kv := range app.Attributes() {
		attrs[string(kv.Key)] = kv.Value.AsInterface()
	}
	assert.Equal(t, semconv.DBSystemSQLite, attrs[semconv.AttrDBSystem])
	assert.Equal(t, int64(2), attrs[semconv.AttrESPosition])
	assert.Equal(t, int64(2), attrs[semconv.AttrESEventCount])
	assert.Equal(t, app.SpanContext().SpanID(), stored[0].TraceContext().SpanID(), "events carry the append span's context")
	assert.Equal(t, semconv.EventStoreSQLite+semconv.SpanSuffixGetEvents, spans[1].Name())
	assert.Equal(t, "ConcurrencyError", func() string {
		for _, kv := range spans[2].Attributes() {
			if string(kv.Key) == semconv.AttrErrorType {
				return kv.Value.AsString()
			}
		}
		return ""
	}())
}
