package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"context"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/join"
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

	// ancestry remembers recent spans' sides across batches; it owns its lock.
	ancestry *join.Ancestry
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
	}
	p.ancestry = join.NewAncestry(cfg.AncestorCache.MaxEntries, cfg.AncestorCache.TTL, clock, p.tel.recordAncestry)
	p.scratch.New = func() any { return &batch{} }
	return p, nil
}

func (p *cqrsProcessor) shutdown(context.Context) error {
	p.tel.tb.Shutdown()
	return nil
}

type entry struct {
	span   ptrace.Span
	id     pcommon.SpanID
	parent pcommon.SpanID
	v      verdict
	// proc identifies the emitting process (processKey of its resource).
	proc uint32
	// runner: an eventsource-py subscription runner's apply span. innerApply:
	// another apply span, which may run inside a runner's.
	runner, innerApply bool
	// indexed: this entry owns its span id in the lineage (ids are non-empty
	// and first seen here).
	indexed bool
	// receiving: a message consumer without evidence of CQRS work (counted apart when left alone).
	receiving bool
}

// batch is the per-call scratch space, pooled. entries and the lineage's
// nodes share their indexes.
type batch struct {
	entries []entry
	lineage join.Lineage
	pending []int32
	c       counts
}

func (b *batch) reset() {
	clear(b.entries) // drop references to pdata
	b.entries = b.entries[:0]
	b.lineage.Reset()
	b.pending = b.pending[:0]
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
				b.entries = append(b.entries, entry{span: span, id: span.SpanID(), parent: span.ParentSpanID(), proc: proc})
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
				if e.id.IsEmpty() {
					b.c.invalid[invalidSpanID]++
				} else if e.parent == e.id {
					// A span cannot be its own parent; treat it as a root.
					b.c.invalid[invalidParentCycle]++
					e.parent = pcommon.SpanID{}
				}
				if e.v.ancestor {
					b.lineage.Add(e.parent, proc, true, uint8(e.v.fallback))
					b.pending = append(b.pending, idx)
				} else {
					b.lineage.Add(e.parent, proc, false, uint8(e.v.side))
					p.applySelf(span, &e.v, &b.c)
				}
				if e.id.IsEmpty() {
					continue
				}
				if !b.lineage.Index(idx, e.id) {
					b.c.invalid[invalidSpanID]++
					continue
				}
				e.indexed = true
			}
		}
	}

	// Pass 2: inheritance, through the batch and the ancestry of earlier ones.
	tx := p.ancestry.Begin()
	for _, idx := range b.pending {
		if b.lineage.Pending(idx) {
			b.lineage.Resolve(idx, tx, func(i int32, side uint8, inherited, _ bool) { p.settle(b, i, side, inherited) })
		}
	}
	b.c.boundary[boundaryOtherProcess] += b.lineage.OtherProcess
	b.c.invalid[invalidParentCycle] += b.lineage.Cycles
	b.c.parentUnseen += b.lineage.Unseen
	for idx := range b.entries {
		e := &b.entries[idx]
		if !e.indexed {
			continue
		}
		if e.innerApply {
			p.markNested(b, tx, e)
		} else if e.runner {
			markRunnerAfterInner(tx, e)
		}
		tx.Put(e.id, join.Ancestor{Value: b.lineage.Value(int32(idx)), Proc: e.proc, Runner: e.runner})
	}
	tx.End(ctx)
	p.tel.record(ctx, &b.c)
	return td, nil
}

// settle gives the pending span i the side its walk found: its nearest classified ancestor's (inherited),
// else its own fallback.
func (p *cqrsProcessor) settle(b *batch, i int32, side uint8, inherited bool) {
	e := &b.entries[i]
	if inherited {
		p.applyInherited(e.span, matcher.Side(side), srcInherited, &b.c)
		return
	}
	src := srcConvention
	if matcher.Side(side) == matcher.SideNone {
		src = srcNone
		if e.receiving {
			b.c.unclassifiedReceiving++
		}
	}
	p.applyInherited(e.span, matcher.Side(side), src, &b.c)
}

// markNested marks an apply span whose parent is a subscription runner's apply
// span (eventsource-py's projection.handle inside live_runner.process_event):
// metrics and lag count the runner's span, so one event applied counts once.
// When the parent has not arrived, this apply is the one counted, and the
// ancestry remembers under the parent's id that an apply ran beneath it, for
// markRunnerAfterInner.
func (p *cqrsProcessor) markNested(b *batch, tx *join.AncestryTx, e *entry) {
	if e.parent.IsEmpty() {
		return
	}
	if pi, ok := b.lineage.Find(e.parent); ok {
		if b.entries[pi].runner {
			e.span.Attributes().PutBool(semconv.AttrProjectionNested, true)
		}
		return
	}
	if a, ok := tx.Get(e.parent); ok {
		if a.Runner {
			e.span.Attributes().PutBool(semconv.AttrProjectionNested, true)
		}
		return
	}
	tx.Put(e.parent, join.Ancestor{Proc: e.proc, ApplyBelow: true})
}

// markRunnerAfterInner marks a runner's apply span whose inner apply arrived
// first, in an earlier batch, and was counted: the runner's span then is the
// nested one, so the event still counts once whatever the order of arrival.
func markRunnerAfterInner(tx *join.AncestryTx, e *entry) {
	if a, ok := tx.Get(e.id); ok && a.ApplyBelow && a.Proc == e.proc {
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
