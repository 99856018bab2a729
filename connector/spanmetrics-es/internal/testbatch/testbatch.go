// Package testbatch builds span batches for the connector's tests and
// benchmarks. The side-by-side comparison with contrib lives in the bench/ module.
package testbatch // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Batch builds test traces shaped like the seeds' runtimes after cqrsside
// and projectionlag annotated them.
type Batch struct {
	TD   ptrace.Traces
	RS   ptrace.ResourceSpans
	ss   ptrace.ScopeSpans
	next uint64
}

// New starts a batch with one resource.
func New(service string) *Batch {
	b := &Batch{TD: ptrace.NewTraces()}
	b.Resource(service)
	return b
}

// Resource starts a new ResourceSpans for service ("" for none).
func (b *Batch) Resource(service string) *Batch {
	b.RS = b.TD.ResourceSpans().AppendEmpty()
	if service != "" {
		b.RS.Resource().Attributes().PutStr(semconv.AttrServiceName, service)
	}
	b.ss = b.RS.ScopeSpans().AppendEmpty()
	return b
}

// TraceID returns a trace id built from n.
func TraceID(n uint64) pcommon.TraceID {
	var t pcommon.TraceID
	binary.BigEndian.PutUint64(t[8:], n)
	return t
}

// spanSeq numbers every span built in the process: span ids are unique
// across batches, as real ones are, so the connector's dedupe window never
// mistakes two test batches for a retry.
var spanSeq atomic.Uint64

// Span adds a span of durMs milliseconds; parent may be empty.
func (b *Batch) Span(name string, trace uint64, parent pcommon.SpanID, durMs int64, attrs map[string]any) ptrace.Span {
	b.next++
	s := b.ss.Spans().AppendEmpty()
	s.SetName(name)
	s.SetTraceID(TraceID(trace))
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], spanSeq.Add(1))
	s.SetSpanID(id)
	s.SetParentSpanID(parent)
	start := pcommon.Timestamp(1763776800000000000 + b.next*1000)
	s.SetStartTimestamp(start)
	s.SetEndTimestamp(start + pcommon.Timestamp(durMs*1e6))
	_ = s.Attributes().FromRaw(attrs)
	return s
}

// Command adds a command span (side write, cqrs.command.type).
func (b *Batch) Command(ct string, trace uint64, durMs int64, extra map[string]any) ptrace.Span {
	attrs := map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrCommandType: ct}
	for k, v := range extra {
		attrs[k] = v
	}
	return b.Span(semconv.SpanPrefixCommand+ct, trace, pcommon.SpanID{}, durMs, attrs)
}

// Query adds a query span (side read, cqrs.query.type, result count 3).
func (b *Batch) Query(qt string, trace uint64, durMs int64) ptrace.Span {
	return b.Span(semconv.SpanPrefixQuery+qt, trace, pcommon.SpanID{}, durMs,
		map[string]any{semconv.AttrSide: semconv.SideRead, semconv.AttrQueryType: qt, semconv.AttrQueryResultCount: 3})
}

// Apply adds a live projection apply span with a reported lag.
func (b *Batch) Apply(pn, et string, trace uint64, lagMs float64) ptrace.Span {
	return b.Span(semconv.SpanPrefixProjection+pn, trace, pcommon.SpanID{}, 1, map[string]any{
		semconv.AttrSide: semconv.SideProjection, semconv.AttrProjectionName: pn, semconv.AttrEventType: et,
		semconv.AttrProjectionLagMs: lagMs, semconv.AttrProjectionPhase: semconv.PhaseLive,
	})
}

// AppendEvents adds an append span of n events under parent.
func (b *Batch) AppendEvents(trace uint64, parent pcommon.SpanID, n int) ptrace.Span {
	return b.Span(semconv.EventStoreSQLite+semconv.SpanSuffixAppendEvents, trace, parent, 1, map[string]any{
		semconv.AttrSide: semconv.SideWrite, semconv.AttrESEventCount: n,
	})
}

// Checkpoint adds a checkpoint span with positions behind and position.
func (b *Batch) Checkpoint(pn string, behind, pos int64) ptrace.Span {
	return b.Span(semconv.SpanCheckpointUpdate, 1, pcommon.SpanID{}, 1, map[string]any{
		semconv.AttrSide: semconv.SideProjection, semconv.AttrESProjectionName: pn,
		semconv.AttrProjectionPositionsBehind: behind, semconv.AttrESPosition: pos,
	})
}

// Realistic is ~1000 spans shaped like the seeds' runtimes after
// cqrsside and projectionlag: per command trace a command span, a
// repository save, an append, a publish, a consume, a projection apply and a
// checkpoint (7 spans); per query trace a query span and a repository load
// (2 spans). 20 command types, 10 query types, 5 projections, 3 services,
// unique aggregate ids on every span.
func Realistic() ptrace.Traces {
	td := ptrace.NewTraces()
	n := 0
	var trace uint64
	for svc := 0; n < 1000; svc = (svc + 1) % 3 {
		b := &Batch{TD: td, next: uint64(n) * 10}
		b.Resource(fmt.Sprint("service-", svc))
		for i := 0; i < 60 && n < 1000; i++ {
			trace++
			if i%3 == 2 {
				q := b.Query(fmt.Sprint("Query", i%10), trace, 3)
				b.Span(semconv.SpanRepositoryLoad, trace, q.SpanID(), 2, map[string]any{semconv.AttrSide: semconv.SideRead, semconv.AttrESAggregateID: fmt.Sprint("agg-", trace)})
				n += 2
				continue
			}
			ct := fmt.Sprint("Command", i%20)
			cmd := b.Command(ct, trace, 12, map[string]any{semconv.AttrAggregateID: fmt.Sprint("agg-", trace), semconv.AttrEventsCount: 1})
			cmd.Events().AppendEmpty().SetName(semconv.EventDomainEventProduced)
			save := b.Span(semconv.SpanRepositorySave, trace, cmd.SpanID(), 8, map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrESEventCount: 1})
			b.AppendEvents(trace, save.SpanID(), 1)
			pub := b.Span(semconv.SpanBusPublish, trace, cmd.SpanID(), 1, map[string]any{semconv.AttrSide: semconv.SideWrite})
			con := b.Span(semconv.SpanBusConsume, trace, pub.SpanID(), 4, map[string]any{semconv.AttrSide: semconv.SideProjection})
			pn := fmt.Sprint("Projection", i%5)
			ap := b.Span(semconv.SpanProjectionHandle, trace, con.SpanID(), 2, map[string]any{
				semconv.AttrSide: semconv.SideProjection, semconv.AttrProjectionName: pn, semconv.AttrEventType: fmt.Sprint("Event", i%20),
				semconv.AttrProjectionLagMs: float64(20 + i), semconv.AttrProjectionPhase: semconv.PhaseLive,
				semconv.AttrConsistencyDelayMs: float64(25 + i), semconv.AttrCommandType: ct, semconv.AttrESEventID: fmt.Sprint("evt-", trace),
			})
			_ = ap
			cp := b.Checkpoint(pn, int64(i%4), int64(trace))
			cp.SetParentSpanID(con.SpanID())
			n += 7
		}
	}
	return td
}
