package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"context"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadata"
)

type cqrsProcessor struct {
	clock       clockwork.Clock
	tel         *telemetry
	rules       *matcher.Rules
	rulesBefore bool
	emitSource  bool

	scratch sync.Pool // *batch, reused so the hot path does not allocate

	// mu guards the ancestor cache, shared across batches.
	mu    sync.Mutex
	cache ancestorCache
}

func newProcessor(set processor.Settings, cfg *Config, clock clockwork.Clock) (*cqrsProcessor, error) {
	rules, err := cfg.ruleSpecs()
	if err != nil {
		return nil, err
	}
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &cqrsProcessor{
		clock:       clock,
		tel:         newTelemetry(tb),
		rules:       rules,
		rulesBefore: cfg.RulesOrder != rulesOrderAfter,
		emitSource:  cfg.EmitSideSource,
		cache:       newAncestorCache(cfg.AncestorCache.MaxEntries, cfg.AncestorCache.TTL),
	}
	p.scratch.New = func() any { return &batch{index: map[pcommon.SpanID]int32{}} }
	return p, nil
}

func (p *cqrsProcessor) shutdown(context.Context) error {
	p.tel.tb.Shutdown()
	return nil
}

// Entry states while a batch is resolved.
const (
	stDone     uint8 = iota // side final (maybe SideNone)
	stPending               // needs an ancestor
	stVisiting              // on the current resolution path
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
	c       counts
}

func (b *batch) reset() {
	clear(b.entries) // drop references to pdata
	b.entries = b.entries[:0]
	clear(b.index)
	b.pending = b.pending[:0]
	b.path = b.path[:0]
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

	// Pass 2: inheritance and the cache.
	now := p.clock.Now()
	p.mu.Lock()
	b.c.evictExpired += int64(p.cache.expire(now))
	for _, idx := range b.pending {
		if b.entries[idx].state == stPending {
			p.resolve(b, idx, now)
		}
	}
	for idx := range b.entries {
		e := &b.entries[idx]
		if !e.indexed {
			continue
		}
		if e.innerApply {
			p.markNested(b, e, now)
		} else if e.runner {
			p.markRunnerAfterInner(e, now)
		}
		b.c.evictCapacity += int64(p.cache.put(e.id, packCached(e.side, e.proc, e.runner), now))
	}
	p.mu.Unlock()
	p.tel.record(ctx, &b.c)
	return td, nil
}

// markNested marks an apply span whose parent is a subscription runner's apply
// span (eventsource-py's projection.handle inside live_runner.process_event):
// metrics and lag count the runner's span, so one event applied counts once.
// When the parent has not arrived, this apply is the one counted, and the cache
// remembers under the parent's id that an apply ran beneath it, for
// markRunnerAfterInner. mu must be held.
func (p *cqrsProcessor) markNested(b *batch, e *entry, now time.Time) {
	if e.parent.IsEmpty() {
		return
	}
	if pi, ok := b.index[e.parent]; ok {
		if b.entries[pi].runner {
			e.span.Attributes().PutBool(semconv.AttrProjectionNested, true)
		}
		return
	}
	if v, ok := p.cache.get(e.parent, now); ok {
		if _, _, runner := unpackCached(v); runner {
			e.span.Attributes().PutBool(semconv.AttrProjectionNested, true)
		}
		return
	}
	b.c.evictCapacity += int64(p.cache.put(e.parent, packApplyBelow(e.proc), now))
}

// markRunnerAfterInner marks a runner's apply span whose inner apply arrived
// first, in an earlier batch, and was counted: the runner's span then is the
// nested one, so the event still counts once whatever the order of arrival.
// mu must be held.
func (p *cqrsProcessor) markRunnerAfterInner(e *entry, now time.Time) {
	if v, ok := p.cache.get(e.id, now); ok && isApplyBelow(v) {
		if _, proc, _ := unpackCached(v); proc != e.proc {
			return // an apply in another process is no inner apply of this runner
		}
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
	}
}

// resolve decides the side of pending span i by walking up its parents in
// the batch, then the cache. Spans on the path get the nearest classified
// ancestor's side, else their fallback; if the walk ends at a parent not
// seen yet, they go on with their fallback at once (counted). mu must be held.
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
			case stVisiting:
				b.c.invalid[invalidParentCycle]++
				known = true
				break walk
			case stPending:
				j = pi
				continue
			}
		}
		if v, ok := p.cache.get(e.parent, now); ok && !isApplyBelow(v) {
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
	unseen := !known
	for k := len(path) - 1; k >= 0; k-- {
		e := &b.entries[path[k]]
		switch {
		case known && side != matcher.SideNone:
			e.state, e.side = stDone, side
			p.applyInherited(e.span, side, srcInherited, &b.c)
		default:
			if unseen {
				b.c.parentUnseen++
			}
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
