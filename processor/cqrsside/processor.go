package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/hold"
	"github.com/otelcol-es/otelcol-es/internal/release"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadata"
)

type cqrsProcessor struct {
	logger      *zap.Logger
	next        consumer.Traces
	clock       clockwork.Clock
	tel         *telemetry
	rules       *matcher.Rules
	rulesBefore bool
	emitSource  bool
	hold        string
	wait        time.Duration
	maxHeld     int

	scratch sync.Pool // *batch, reused so the hot path does not allocate

	// mu guards the state shared across batches.
	mu    sync.Mutex
	cache ancestorCache
	held  heldBuffer
	work  []workItem
	// kids is scratch for the spans woken by one parent (under mu).
	kids []*waiter
	// heldGauge mirrors held.live for the async gauge without taking mu.
	heldGauge atomic.Int64

	// release sends held spans once their side is known; it keeps those the
	// next consumer refuses for the next attempt (they were accepted upstream).
	release *release.Retrier
	// loop releases held spans at their deadline.
	loop *hold.Loop
}

// retryInterval is how soon held spans the next consumer refused on release
// are offered again.
const retryInterval = 250 * time.Millisecond

type workItem struct {
	id   pcommon.SpanID
	side matcher.Side
	proc uint32
}

func newProcessor(set processor.Settings, cfg *Config, next consumer.Traces, clock clockwork.Clock) (*cqrsProcessor, error) {
	rules, err := cfg.ruleSpecs()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &cqrsProcessor{
		logger:      set.Logger,
		next:        next,
		clock:       clock,
		tel:         newTelemetry(tb),
		rules:       rules,
		rulesBefore: cfg.RulesOrder != rulesOrderAfter,
		emitSource:  cfg.EmitSideSource,
		hold:        cfg.HoldSpans,
		wait:        cfg.AncestorWait,
		maxHeld:     cfg.MaxHeldSpans,
		cache:       newAncestorCache(cfg.AncestorCache.MaxEntries, cfg.AncestorCache.TTL),
		held:        newHeldBuffer(),
		release:     release.New(next, cfg.MaxHeldSpans),
	}
	p.loop = hold.NewLoop(clock, retryInterval, p.release, p.nextDeadline, p.releaseExpired)
	p.scratch.New = func() any { return &batch{index: map[pcommon.SpanID]int32{}} }
	err = tb.RegisterProcessorCqrssideHeldSpansCallback(func(_ context.Context, o metric.Int64Observer) error {
		o.Observe(p.heldGauge.Load())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (p *cqrsProcessor) start(context.Context, component.Host) error {
	if p.hold != holdNone {
		p.loop.Start()
	}
	return nil
}

// nextDeadline is when the oldest held span's wait ends.
func (p *cqrsProcessor) nextDeadline() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held.NextDeadline()
}

// shutdown stops the release loop and releases every held span with its
// fallback side: nothing is lost.
func (p *cqrsProcessor) shutdown(ctx context.Context) error {
	p.loop.Stop()
	var c counts
	var rel hold.Out
	p.mu.Lock()
	now := p.clock.Now()
	for h := p.held.Oldest(); h != nil; h = p.held.Oldest() {
		p.held.Remove(h, hold.Shutdown)
		p.releaseHeld(h, h.Value.fallback, srcConvention, now, &rel, &c)
	}
	p.held.record(&c)
	p.heldGauge.Store(int64(p.held.live))
	p.mu.Unlock()
	err := p.sendReleased(ctx, &rel, &c)
	// Refused again at the last attempt: nothing will send them now.
	c.releaseDropped += int64(p.release.Pending())
	p.tel.record(ctx, &c)
	p.tel.tb.Shutdown()
	return err
}

// sendReleased sends released spans, with any the next consumer refused
// before.
func (p *cqrsProcessor) sendReleased(ctx context.Context, rel *hold.Out, c *counts) error {
	if rel.Empty() && p.release.Pending() == 0 {
		return nil
	}
	dropped, err := p.release.Send(ctx, rel.Traces())
	c.releaseDropped += int64(dropped)
	if err != nil {
		p.logger.Debug("next consumer refused spans released after waiting for an ancestor; retried",
			zap.Int("pending", p.release.Pending()), zap.Int("dropped", dropped), zap.Error(err))
		// The release loop may be idle (nothing held): it must come back for these.
		p.loop.Notify()
	}
	return err
}

// releaseExpired releases every held span whose wait has ended, with its
// fallback side, and sends them on.
func (p *cqrsProcessor) releaseExpired(ctx context.Context) {
	var c counts
	var rel hold.Out
	p.mu.Lock()
	now := p.clock.Now()
	nowNanos := now.UnixNano()
	for h := p.held.Due(nowNanos); h != nil; h = p.held.Due(nowNanos) {
		p.held.Remove(h, hold.AtDeadline)
		p.releaseHeld(h, h.Value.fallback, srcConvention, now, &rel, &c)
	}
	p.held.record(&c)
	p.heldGauge.Store(int64(p.held.live))
	p.mu.Unlock()
	_ = p.sendReleased(ctx, &rel, &c)
	p.tel.record(ctx, &c)
}

// releaseHeld gives h its side, remembers it and releases, in cascade, the
// spans that were waiting for h. mu must be held.
func (p *cqrsProcessor) releaseHeld(w *waiter, side matcher.Side, src source, now time.Time, rel *hold.Out, c *counts) {
	h := &w.Value
	if side == matcher.SideNone {
		src = srcNone
	}
	p.applyInherited(h.Span.Span, side, src, c)
	c.evictCapacity += int64(p.cache.put(h.id, packCached(side, h.proc, false), now))
	rel.Add(&h.Span)
	p.releaseChildren(h.id, side, h.proc, now, rel, c)
}

// releaseChildren releases the held descendants of a span that just got
// its final side. An explicit stack keeps deep chains off the Go stack;
// each held span is taken once, so parent-id cycles end. mu must be held.
func (p *cqrsProcessor) releaseChildren(id pcommon.SpanID, side matcher.Side, proc uint32, now time.Time, rel *hold.Out, c *counts) {
	if p.held.Len() == 0 {
		return
	}
	work := append(p.work[:0], workItem{id: id, side: side, proc: proc})
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		p.kids = p.held.Wake(it.id, p.kids[:0])
		for _, w := range p.kids {
			p.held.Remove(w, hold.Arrived)
			h := &w.Value
			s, src := it.side, srcInherited
			if h.proc != it.proc {
				// The parent came from another process: the child starts its own side.
				c.boundary[boundaryOtherProcess]++
				s = matcher.SideNone
			}
			if s == matcher.SideNone {
				s, src = h.fallback, srcConvention
			} else {
				c.inheritedLate++
			}
			if s == matcher.SideNone {
				src = srcNone
			}
			p.applyInherited(h.Span.Span, s, src, c)
			c.evictCapacity += int64(p.cache.put(h.id, packCached(s, h.proc, false), now))
			rel.Add(&h.Span)
			work = append(work, workItem{id: h.id, side: s, proc: h.proc})
		}
	}
	clear(p.kids)
	p.work = work[:0]
}

// Entry states while a batch is resolved.
const (
	stDone     uint8 = iota // side final (maybe SideNone)
	stPending               // needs an ancestor
	stVisiting              // on the current resolution path
	stHold                  // waits for an ancestor from a later batch
)

type entry struct {
	span   ptrace.Span
	rs, ss int32
	id     pcommon.SpanID
	parent pcommon.SpanID
	v      verdict
	state  uint8
	side   matcher.Side
	// proc identifies the emitting process (processKey of its resource).
	proc uint32
	// runner: an eventsource-py subscription runner's apply span. innerApply:
	// another apply span, which may run inside a runner's.
	runner, innerApply bool
	// indexed: this entry owns its span id in batch.index (ids are
	// non-empty and first seen here).
	indexed bool
	// receiving: a message consumer without evidence of CQRS work (counted apart when left alone).
	receiving bool
}

// batch is the per-call scratch space, pooled.
type batch struct {
	entries []entry
	index   map[pcommon.SpanID]int32
	pending []int32
	path    []int32
	held    int
	c       counts
}

func (b *batch) reset() {
	clear(b.entries) // drop references to pdata
	b.entries = b.entries[:0]
	clear(b.index)
	b.pending = b.pending[:0]
	b.path = b.path[:0]
	b.held = 0
	b.c.reset()
}

func (p *cqrsProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	b := p.scratch.Get().(*batch)
	defer func() {
		b.reset()
		p.scratch.Put(b)
	}()

	// Pass 1, lock-free: every span classifies itself if it can.
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		proc := processKey(rs.Resource())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				idx := int32(len(b.entries))
				b.entries = append(b.entries, entry{
					span: span, rs: int32(i), ss: int32(j),
					id: span.SpanID(), parent: span.ParentSpanID(), proc: proc,
				})
				if name := span.Name(); semconv.IsRunnerApply(name) {
					b.entries[idx].runner = true
				} else if semconv.IsProjectionApply(name) {
					b.entries[idx].innerApply = true
				}
				e := &b.entries[idx]
				e.v = p.classifySelf(span, ss.Scope(), rs.Resource(), &b.c)
				if e.v.ancestor {
					p.stopAtBoundary(e, &b.c)
				}
				if e.v.ancestor {
					e.state = stPending
					b.pending = append(b.pending, idx)
				} else {
					e.state = stDone
					e.side = e.v.side
					p.applySelf(span, &e.v, &b.c)
				}
				if e.id.IsEmpty() {
					b.c.invalid[invalidSpanID]++
					continue
				}
				if e.parent == e.id {
					// A span cannot be its own parent; treat it as a root.
					b.c.invalid[invalidParentCycle]++
					e.parent = pcommon.SpanID{}
					e.v.holdable = false
				}
				if _, dup := b.index[e.id]; dup {
					b.c.invalid[invalidSpanID]++
					continue
				}
				b.index[e.id] = idx
				e.indexed = true
			}
		}
	}

	// Pass 2: inheritance, the cache and the held buffer.
	var rel hold.Out
	now := p.clock.Now()
	p.mu.Lock()
	b.c.evictExpired += int64(p.cache.expire(now))
	for _, idx := range b.pending {
		if b.entries[idx].state == stPending {
			p.resolve(b, idx, now)
		}
	}
	heldBefore := p.held.Len()
	for idx := range b.entries {
		e := &b.entries[idx]
		switch e.state {
		case stDone:
			if !e.indexed {
				continue
			}
			if e.innerApply {
				p.markNested(b, e, now)
			}
			b.c.evictCapacity += int64(p.cache.put(e.id, packCached(e.side, e.proc, e.runner), now))
			p.releaseChildren(e.id, e.side, e.proc, now, &rel, &b.c)
		case stHold:
			b.held++
		}
	}
	if b.held > 0 {
		p.holdSpans(td, b, now)
	}
	for p.held.Len() > p.maxHeld {
		h := p.held.Oldest()
		p.held.Remove(h, hold.Overflow)
		p.releaseHeld(h, h.Value.fallback, srcConvention, now, &rel, &b.c)
	}
	p.held.record(&b.c)
	p.heldGauge.Store(int64(p.held.live))
	wake := heldBefore == 0 && p.held.live > 0
	p.mu.Unlock()
	if wake {
		p.loop.Notify()
	}
	// Released children go on their own: a refusal of this batch goes back to
	// its client, who cannot resend spans held from earlier requests.
	_ = p.sendReleased(ctx, &rel, &b.c)
	p.tel.record(ctx, &b.c)

	if b.held > 0 {
		removeMoved(td, b)
	}
	if td.ResourceSpans().Len() == 0 && b.held > 0 {
		// Everything is waiting; sending an empty batch would be noise.
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

// markNested marks an apply span whose parent is a subscription runner's apply
// span (eventsource-py's projection.handle inside live_runner.process_event):
// metrics and lag count the runner's span, so one event applied counts once.
// A parent that arrives in a later batch is not seen: the event then counts
// twice. mu must be held.
func (p *cqrsProcessor) markNested(b *batch, e *entry, now time.Time) {
	if e.parent.IsEmpty() {
		return
	}
	runner := false
	if pi, ok := b.index[e.parent]; ok {
		runner = b.entries[pi].runner
	} else if v, ok := p.cache.get(e.parent, now); ok {
		_, _, runner = unpackCached(v)
	}
	if runner {
		e.span.Attributes().PutBool(semconv.AttrProjectionNested, true)
	}
}

// stopAtBoundary makes a pending span that starts a new process's work a root for inheritance. A
// span receiving a message is a projection span when it carries the conventions' attributes (the
// bus delivered an event) and no rule or convention said otherwise. Receiving alone is no evidence:
// most consumers (mailers, workers, Celery tasks) are no CQRS work, and their subtrees would follow.
func (p *cqrsProcessor) stopAtBoundary(e *entry, c *counts) {
	r, consumer, ok := boundaryOf(e.span)
	if !ok {
		return
	}
	if consumer && e.v.fallback == matcher.SideNone {
		if conventionAttrs(e.span.Attributes()) {
			e.v.fallback = matcher.SideProjection
		} else {
			e.receiving = true
		}
	}
	if !e.parent.IsEmpty() {
		c.boundary[r]++
		e.parent = pcommon.SpanID{}
		e.v.holdable = false
	}
}

// resolve decides the side of pending span i by walking up its parents in
// the batch, then the cache. Spans on the path get the nearest classified
// ancestor's side, else their fallback; if the walk ends at a parent not
// seen yet, they wait (when allowed). mu must be held.
func (p *cqrsProcessor) resolve(b *batch, i int32, now time.Time) {
	path := b.path[:0]
	known, side := false, matcher.SideNone
	j := i
walk:
	for {
		e := &b.entries[j]
		e.state = stVisiting
		path = append(path, j)
		if e.parent.IsEmpty() {
			known = true
			break
		}
		if pi, ok := b.index[e.parent]; ok {
			pe := &b.entries[pi]
			if pe.proc != e.proc {
				b.c.boundary[boundaryOtherProcess]++
				known = true
				break walk
			}
			switch pe.state {
			case stDone:
				known, side = true, pe.side
				break walk
			case stHold:
				break walk
			case stVisiting:
				b.c.invalid[invalidParentCycle]++
				known = true
				break walk
			case stPending:
				j = pi
				continue
			}
		}
		if v, ok := p.cache.get(e.parent, now); ok {
			s, proc, _ := unpackCached(v)
			known = true
			if proc == e.proc {
				side = s
			} else {
				b.c.boundary[boundaryOtherProcess]++
			}
		}
		break
	}
	for k := len(path) - 1; k >= 0; k-- {
		e := &b.entries[path[k]]
		switch {
		case known && side != matcher.SideNone:
			e.state, e.side = stDone, side
			p.applyInherited(e.span, side, srcInherited, &b.c)
		case !known && e.v.holdable:
			e.state = stHold
			continue // side stays unknown for the spans below
		default:
			e.state, e.side = stDone, e.v.fallback
			src := srcConvention
			if e.side == matcher.SideNone {
				src = srcNone
				if e.receiving {
					b.c.unclassifiedReceiving++
				}
			}
			p.applyInherited(e.span, e.side, src, &b.c)
		}
		known, side = true, e.side
	}
	b.path = path
}

// holdSpans moves the spans in state stHold out of td into the held
// buffer. mu must be held.
func (p *cqrsProcessor) holdSpans(td ptrace.Traces, b *batch, now time.Time) {
	deadline := now.Add(p.wait).UnixNano()
	var o *hold.Origin
	lastRS, lastSS := int32(-1), int32(-1)
	rss := td.ResourceSpans()
	for idx := range b.entries {
		e := &b.entries[idx]
		if e.state != stHold {
			continue
		}
		if e.rs != lastRS || e.ss != lastSS {
			rs := rss.At(int(e.rs))
			o = hold.NewOrigin(rs, rs.ScopeSpans().At(int(e.ss)))
			lastRS, lastSS = e.rs, e.ss
		}
		p.held.Add(heldSpan{Span: hold.Take(e.span, o), id: e.id, proc: e.proc, fallback: e.v.fallback}, deadline, e.parent)
	}
}

// removeMoved drops the spans moved to the held buffer from td, then the
// ScopeSpans and ResourceSpans this left empty.
func removeMoved(td ptrace.Traces, b *batch) {
	n := 0
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if n >= len(b.entries) {
			return false
		}
		moved := false
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			spans := ss.Spans()
			if spans.Len() == 0 {
				return false
			}
			any := false
			spans.RemoveIf(func(ptrace.Span) bool {
				h := b.entries[n].state == stHold
				n++
				any = any || h
				return h
			})
			if any {
				moved = true
			}
			return any && spans.Len() == 0
		})
		return moved && rs.ScopeSpans().Len() == 0
	})
}
