package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"encoding/hex"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/join"
)

// Completions: a join the engine finished when its late span arrived, written onto that span.

// writeCompletions writes each join this batch completed onto the span whose arrival completed it,
// as a cqrs.projection.applied event: spanmetrics_es observes its lag and delay as the apply span's.
func (p *lagProcessor) writeCompletions(tx *join.Tx, td ptrace.Traces, c *counts) {
	// Indexed by carrier, so a batch with many completions stays one pass over its spans.
	if p.byCarrier == nil {
		p.byCarrier = make(map[join.Key][]int)
	}
	for i, k := range p.carriers {
		p.byCarrier[k] = append(p.byCarrier[k], i)
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				for _, i := range p.byCarrier[join.NewKey(span.TraceID(), span.SpanID())] {
					p.writeCompletion(tx, span, &p.completions[i], c)
				}
			}
		}
	}
	clear(p.byCarrier)
	clear(p.completions) // drop the names
}

func (p *lagProcessor) writeCompletion(tx *join.Tx, span ptrace.Span, jc *join.Completion, c *counts) {
	ev := span.Events().AppendEmpty()
	ev.SetName(semconv.EventProjectionApplied)
	ev.SetTimestamp(pcommon.Timestamp(jc.End))
	attrs := ev.Attributes()
	attrs.EnsureCapacity(10)
	attrs.PutStr(semconv.AttrProjectionName, jc.Projection)
	if jc.EventType != "" {
		attrs.PutStr(semconv.AttrEventType, jc.EventType)
	}
	if jc.Service != "" {
		attrs.PutStr(semconv.AttrServiceName, jc.Service)
	}
	phase := semconv.PhaseLive
	if jc.Replay {
		phase = semconv.PhaseReplay
	}
	attrs.PutStr(semconv.AttrProjectionPhase, phase)
	attrs.PutStr(semconv.EventAttrAppliedTraceID, hex.EncodeToString(jc.Span[:16]))
	attrs.PutStr(semconv.EventAttrAppliedSpanID, hex.EncodeToString(jc.Span[16:]))
	if jc.Threshold > 0 {
		attrs.PutStr(semconv.EventAttrAppliedTraceState, "ot=th:"+encodeThreshold(jc.Threshold-1))
	}
	if jc.HasLag {
		if v, keep := p.negative(attrs, jc.LagMs, c); keep {
			attrs.PutDouble(semconv.AttrProjectionLagMs, v)
			attrs.PutStr(semconv.AttrProjectionLagSource, semconv.LagSourceLink)
		}
	}
	if jc.HasDelay {
		if v, keep := p.negative(attrs, jc.DelayMs, c); keep {
			attrs.PutDouble(semconv.AttrConsistencyDelayMs, v)
			if t := tx.CommandName(jc.Command); t != "" {
				attrs.PutStr(semconv.AttrCommandType, t)
			}
		}
	}
}
