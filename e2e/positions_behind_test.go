package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spantest"
	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// TestPositionsBehindMidRun: cqrs_projection_positions_behind through the default config follows a
// projection that falls behind on purpose and catches up, with the exact value at each step (the event
// runtime's shapes: store appends carry the global position, checkpoint updates the projection's). The
// writer appends positions 1-10 and the projection checkpoints 10 (0 behind); the projection pauses while
// the writer appends 11-25; it resumes and checkpoints 12 (13 behind), then 25 (0 behind). A gauge stuck at
// 0, or one that missed the head moving, fails.
//
// Positions behind is measured when a checkpoint is recorded: while the projection is paused it records
// none, and the gauge keeps its last value (connector README, under its metrics table).
func TestPositionsBehindMidRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	metrics := "http://" + c.Prom + "/metrics"
	labels := map[string]string{"projection_name": "TaskListProjection", "service_name": "task-projections"}
	start := time.Now()
	next := uint64(0)
	id := func() (pcommon.TraceID, pcommon.SpanID) {
		next++
		var tr pcommon.TraceID
		var s pcommon.SpanID
		copy(tr[:], fmt.Sprintf("positions-%07d", next))
		copy(s[:], fmt.Sprintf("s%07d", next))
		return tr, s
	}
	appends := func(from, to int) ptrace.Traces {
		b := spantest.New().Service("task-service").Scope("eventsource.observability")
		for pos := from; pos <= to; pos++ {
			tr, s := id()
			at := start.Add(time.Duration(pos) * time.Millisecond)
			b.Span("sqlite"+semconv.SpanSuffixAppendEvents).Trace(tr).ID(s).Kind(ptrace.SpanKindClient).At(at, at.Add(time.Millisecond)).
				Attrs(map[string]any{semconv.AttrESAggregateID: fmt.Sprintf("task-%d", pos), semconv.AttrESEventCount: 1,
					semconv.AttrESPosition: pos, semconv.AttrDBSystem: "sqlite", semconv.AttrDBName: "events"})
		}
		return b.Traces()
	}
	checkpoint := func(pos int) ptrace.Traces {
		b := spantest.New().Service("task-projections").Scope("eventsource.observability")
		tr, s := id()
		at := start.Add(time.Second + time.Duration(pos)*time.Millisecond)
		b.Span(semconv.SpanCheckpointUpdate).Trace(tr).ID(s).At(at, at.Add(time.Millisecond)).
			Attrs(map[string]any{semconv.AttrESProjectionName: "TaskListProjection", semconv.AttrESEventID: fmt.Sprintf("e-%d", pos),
				semconv.AttrESPosition: pos, semconv.AttrDBName: "events"})
		return b.Traces()
	}
	step := func(what string, want float64, sends ...ptrace.Traces) {
		t.Helper()
		for _, td := range sends {
			tb.Send(ctx, t, c, tb.GRPC, td)
		}
		mf := tb.WaitForValue(ctx, t, metrics, 90*time.Second, "cqrs_projection_positions_behind", labels, want)
		got, _ := mf.Value("cqrs_projection_positions_behind", labels)
		require.Equalf(t, want, got, "%s", what)
		t.Logf("%s: positions behind %v", what, got)
	}
	step("writer at 10, checkpoint 10", 0, appends(1, 10), checkpoint(10))
	tb.Send(ctx, t, c, tb.GRPC, appends(11, 25)) // paused: the writer goes on alone
	step("writer at 25, resumed, checkpoint 12", 13, checkpoint(12))
	step("caught up, checkpoint 25", 0, checkpoint(25))
}
