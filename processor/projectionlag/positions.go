package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/positions"
)

// Positions: where the head of each event store is, and how far each projection is behind it.

// headPositionKey names the attribute of a span that tells where the head of
// the event log is: an append's position, or, from eventsource-py (which
// traces no append), the store's position when a subscription went live
// (watermark) and the position a catch-up runs to.
func headPositionKey(spanName string) string {
	switch {
	case semconv.IsAppend(spanName):
		return semconv.AttrESPosition
	case spanName == semconv.SpanTransitionExecute:
		return semconv.AttrESWatermark
	case spanName == semconv.SpanCatchupRunUntilPosition:
		return semconv.AttrESToPosition
	}
	return ""
}

// headKey builds the head key of a span into headBuf: the store id of an
// eventsource-py position token when there is one (it names the event store),
// else the values of positions.head_key_attributes (span first, then
// resource), 0-separated.
func (p *lagProcessor) headKey(attrs pcommon.Map, res pcommon.Resource, storeID string) []byte {
	b := p.headBuf[:0]
	if storeID != "" {
		// 0x01 keeps a store id apart from any attribute-built key.
		b = append(append(b, 1), storeID...)
		p.headBuf = b
		return b
	}
	for i, k := range p.cfg.Positions.HeadKeyAttributes {
		if i > 0 {
			b = append(b, 0)
		}
		v, ok := attrs.Get(k)
		if !ok {
			v, ok = res.Attributes().Get(k)
		}
		if !ok {
			continue
		}
		if v.Type() == pcommon.ValueTypeStr {
			b = append(b, v.Str()...)
		} else {
			b = append(b, v.AsString()...)
		}
	}
	p.headBuf = b
	return b
}

// projectionKey builds the key of a projection under the span's head into projBuf.
func (p *lagProcessor) projectionKey(attrs pcommon.Map, res pcommon.Resource, storeID, name string) (head, proj []byte) {
	head = p.headKey(attrs, res, storeID)
	p.projBuf = positions.ProjectionKey(p.projBuf[:0], head, name)
	return head, p.projBuf
}

// runnerPosition handles the position an eventsource-py runner's apply span names: the event it
// applies is at least that far into the log, so it raises the head, and the span is as far behind the
// head as the newest position seen for its store. It leaves the projection's checkpoint state to the
// checkpoint spans (an SDK exports a batch's applies and checkpoints grouped by scope, not in order).
func (p *lagProcessor) runnerPosition(res pcommon.Resource, span ptrace.Span, c *counts) {
	attrs := span.Attributes()
	v, ok := attrs.Get(semconv.AttrESPosition)
	if !ok {
		return
	}
	pos, storeID, ok := positionOf(v)
	if !ok {
		c.invalidPositions++
		return
	}
	head := p.headKey(attrs, res, storeID)
	c.headsEvicted += int64(p.positions.Append(head, pos))
	if h, ok := p.positions.Head(head); ok {
		attrs.PutInt(semconv.AttrProjectionPositionsBehind, h-pos)
	}
}

func (p *lagProcessor) checkpoint(res pcommon.Resource, span ptrace.Span, c *counts) {
	attrs := span.Attributes()
	v, ok := attrs.Get(semconv.AttrESPosition)
	if !ok {
		// An eventsource-py subscription checkpoint saves a position token.
		if v, ok = attrs.Get(semconv.AttrPositionToken); !ok {
			return
		}
	}
	pos, storeID, ok := positionOf(v)
	pn := spanattr.ProjectionOrSubscription(attrs)
	if !ok || pn == "" {
		c.invalidPositions++
		return
	}
	stated := positions.PhaseUnknown
	if ph, ok := p.statedPhase(span.Name(), attrs); ok {
		stated = positions.PhaseLive
		if ph == semconv.PhaseReplay {
			stated = positions.PhaseReplay
		}
	}
	head, key := p.projectionKey(attrs, res, storeID, pn)
	cp := p.positions.Checkpoint(head, key, pos, stated)
	c.projectionsEvicted += int64(cp.EvictedProjections)
	// An upstream collector that saw the whole stream (an agent in front of gateways) may have set the
	// value already; it knows the head better than this instance, so keep it, as a reported lag is kept.
	upstream, hasUpstream := attrs.Get(semconv.AttrProjectionPositionsBehind)
	hasUpstream = hasUpstream && upstream.Type() == pcommon.ValueTypeInt && upstream.Int() >= 0
	if cp.HaveHead && !hasUpstream {
		attrs.PutInt(semconv.AttrProjectionPositionsBehind, cp.Behind)
	}
	phase := semconv.PhaseLive
	if cp.Replay {
		phase = semconv.PhaseReplay
	}
	attrs.PutStr(semconv.AttrProjectionPhase, phase)
}
