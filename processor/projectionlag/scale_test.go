package projectionlag

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// scaleStream builds n events. Event i has a write trace (command → append)
// and a projection span in another trace, linked to the append, whose time
// lag comes from a different source per i: reported, event_timestamp or
// link only. Events with i%4 == 3 are shaped by the eventsource runtime conventions instead: the
// projection continues the publish span's trace.
func scaleStream(n int) (writes, reads []ptrace.Traces) {
	for i := range n {
		wt := pcommon.TraceID{0xc, byte(i >> 8), byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // even last byte
		rt := pcommon.TraceID{0xd, byte(i >> 8), byte(i), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1} // odd last byte
		w := newBatch("orders")
		base := i * 1000
		w.command(wt, sid(1), "PlaceOrder", ms(base), ms(base+50))
		w.write("sqlite_event_store.append_events", wt, sid(2), sid(1), ms(base+10), ms(base+30), nil)
		r := newBatch("views")
		if i%4 == 3 {
			w.write(semconv.SpanBusPublish, wt, sid(3), sid(1), ms(base+31), ms(base+40), nil)
			r.span(semconv.SpanBusConsume, wt, sid(4), sid(3), ms(base+60), ms(base+90), map[string]any{semconv.AttrSide: semconv.SideProjection})
			r.apply(wt, sid(5), sid(4), fmt.Sprintf("p%d", i%4), ms(base+70), ms(base+80), nil)
		} else {
			var attrs map[string]any
			switch i % 4 {
			case 0:
				attrs = map[string]any{semconv.AttrProjectionLagMs: 12.0}
			case 1:
				attrs = map[string]any{semconv.AttrESEventTimestamp: ms(base + 5).UnixMilli()}
			}
			s := r.apply(rt, sid(9), pcommon.SpanID{}, fmt.Sprintf("p%d", i%4), ms(base+100), ms(base+120), attrs)
			link(s, wt, sid(2))
		}
		writes = append(writes, w.td)
		reads = append(reads, r.td)
	}
	return writes, reads
}

// projectionOutcome is what a projection span ended up with.
type projectionOutcome struct {
	lag, source, delay, phase string
}

func outcomes(t *testing.T, hs ...*harness) map[string]projectionOutcome {
	out := map[string]projectionOutcome{}
	for _, h := range hs {
		for _, td := range h.sink.AllTraces() {
			forEachSpan(td, func(_ ptrace.ResourceSpans, s ptrace.Span) {
				if s.Attributes().Len() == 0 || !semconv.IsProjectionApply(s.Name()) {
					return
				}
				get := func(k string) string {
					if v, ok := s.Attributes().Get(k); ok {
						return v.AsString()
					}
					return ""
				}
				key := s.TraceID().String() + s.SpanID().String()
				require.NotContains(t, out, key, "span emitted twice")
				out[key] = projectionOutcome{get(semconv.AttrProjectionLagMs), get(semconv.AttrProjectionLagSource),
					get(semconv.AttrConsistencyDelayMs), get(semconv.AttrProjectionPhase)}
			})
		}
	}
	return out
}

// TestTwoInstancesSplitStream: two instances behind a load balancer routing
// by trace id. The reported and event_timestamp sources give exactly what
// one instance gives; the link source degrades only where the projection
// span's trace differs from its producer's, and the eventsource runtime shape (the
// projection continues the producer's trace) joins as on one instance.
func TestTwoInstancesSplitStream(t *testing.T) {
	const n = 200
	writes, reads := scaleStream(n)

	single := newHarness(t, nil)
	for i := range n {
		single.consume(clone(writes[i]))
		single.consume(clone(reads[i]))
	}
	require.NoError(t, single.proc.Shutdown(context.Background()))

	a, b := newHarness(t, nil), newHarness(t, nil)
	route := func(td ptrace.Traces) {
		// A trace-id-aware load balancer: split each batch by trace id.
		parts := [2]ptrace.Traces{ptrace.NewTraces(), ptrace.NewTraces()}
		forEachSpan(td, func(rs ptrace.ResourceSpans, s ptrace.Span) {
			dst := parts[s.TraceID()[15]%2]
			nrs := dst.ResourceSpans().AppendEmpty()
			rs.Resource().CopyTo(nrs.Resource())
			s.CopyTo(nrs.ScopeSpans().AppendEmpty().Spans().AppendEmpty())
		})
		for i, h := range []*harness{a, b} {
			if parts[i].SpanCount() > 0 {
				h.consume(parts[i])
			}
		}
	}
	for i := range n {
		route(clone(writes[i]))
		route(clone(reads[i]))
	}
	// The joins the split left pending expire, counted.
	a.advance(2 * time.Minute)
	b.advance(2 * time.Minute)
	require.NoError(t, a.proc.Shutdown(context.Background()))
	require.NoError(t, b.proc.Shutdown(context.Background()))

	one, two := outcomes(t, single), outcomes(t, a, b)
	require.Len(t, one, n)
	require.Len(t, two, n, "no span lost or duplicated")
	degraded := 0
	for k, o := range one {
		s := two[k]
		switch o.source {
		case semconv.LagSourceReported, semconv.LagSourceEventTimestamp:
			assert.Equal(t, o.lag, s.lag, "time sources work on any instance")
			assert.Equal(t, o.source, s.source)
			assert.Equal(t, o.phase, s.phase)
			assert.NotEmpty(t, o.delay)
			assert.Empty(t, s.delay, "the delay needs the producer: it degrades with the link")
		case semconv.LagSourceLink:
			if s == o {
				continue // eventsource runtime shape, same trace: joined on one instance
			}
			degraded++
			assert.Empty(t, s.lag)
			assert.Empty(t, s.source)
		default:
			t.Fatalf("span %s has no lag on a single instance", k)
		}
	}
	assert.Equal(t, n/4, degraded, "only the cross-trace link-only spans lose their lag")
	assert.Equal(t, int64(n), single.counter("link_pairs"))
	assert.Equal(t, int64(n/4), a.counter("link_pairs")+b.counter("link_pairs"))
	assert.Equal(t, int64(3*n/4), a.counter("link_unmatched")+b.counter("link_unmatched"))
}

func clone(td ptrace.Traces) ptrace.Traces {
	c := ptrace.NewTraces()
	td.CopyTo(c)
	return c
}
