package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"context"
	"math"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/join"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/positions"
)

type lagProcessor struct {
	cfg    *Config
	logger *zap.Logger
	clock  clockwork.Clock
	tel    *metadata.TelemetryBuilder

	// join remembers producers and relays and keeps the pending joins of applies that went on before
	// their producer or command arrived; nil when the link source is disabled. It owns its lock.
	join *join.Engine

	// mu serialises the rest of the per-batch state: positions and the scratch below. It is taken
	// before the join's transaction.
	mu        sync.Mutex
	positions *positions.Tracker
	// headBuf and projBuf are reused for position keys.
	headBuf, projBuf []byte
	// Per batch: the parents of write spans, and the unclassified entry points (server, consumer or
	// root spans) seen. An entry point above a write is the top of a write with no command span
	// (eventsource-py has none): it is stored as a dead end, so a walk to the command stops there at
	// once instead of waiting link.ttl for a command that does not exist. Both are lists, matched once
	// per batch through a set of the entry points (fewer than the writes).
	writeParents []join.Key
	entryPoints  []join.Key
	entrySet     join.KeySet // the batch's entry points
	deadEnds     join.KeySet // the ones stored as dead ends
	// completions and carriers: joins this batch completed, and the key of the span each is written on.
	completions []join.Completion
	carriers    []join.Key
	byCarrier   map[join.Key][]int
	// climb and commands: this batch's event counts on their way to their commands (produced.go).
	climb    join.Climb
	commands []commandSpan
}

// counts accumulates one batch's telemetry, recorded after the lock is released; the join engine
// reports its own (recordJoin).
type counts struct {
	pairs, unmatched, stale                                int64
	invalidTS, invalidReported, invalidPositions, negative int64
	headsEvicted, projectionsEvicted                       int64
}

func newProcessor(set processor.Settings, cfg *Config, clock clockwork.Clock) (*lagProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &lagProcessor{
		cfg:       cfg,
		logger:    set.Logger,
		clock:     clock,
		tel:       tel,
		positions: positions.New(cfg.Positions.MaxHeads, cfg.Positions.MaxProjections, cfg.Phase.ReplayPositionsBehind),
	}
	if cfg.Link.Enabled {
		p.join = join.New(join.Config{
			MaxFacts:        cfg.Link.MaxProducers,
			MaxPending:      cfg.Link.MaxPending,
			TTL:             cfg.Link.TTL,
			MaxCommandTypes: cfg.Link.MaxCommandTypes,
			MaxDepth:        cfg.Link.MaxDepth,
		}, clock, p.recordJoin)
		err = tel.RegisterProcessorProjectionlagLinkPendingCallback(func(_ context.Context, o metric.Int64Observer) error {
			o.Observe(p.join.PendingLen())
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *lagProcessor) start(context.Context, component.Host) error {
	if p.join != nil {
		p.join.Start()
	}
	return nil
}

func (p *lagProcessor) shutdown(context.Context) error {
	if p.join != nil {
		p.join.Shutdown()
	}
	p.tel.Shutdown()
	return nil
}

func (p *lagProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var c counts
	p.mu.Lock()
	var tx *join.Tx
	if p.join != nil {
		tx = p.join.Begin()
	}
	// Pass 1: remember producers and relays, move heads, so that pass 2 sees everything this batch
	// brings, in any order; then finish the pending joins this batch's spans complete.
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				p.observe(tx, rs.Resource(), spans.At(k), &c)
			}
		}
	}
	if tx != nil {
		p.storeEntryPoints(tx)
		p.attributeEvents(tx)
		p.completions, p.carriers = tx.Resume(p.completions[:0], p.carriers[:0])
		if len(p.completions) > 0 {
			p.writeCompletions(tx, td, &c)
		}
	}
	// Pass 2: annotate apply and checkpoint spans. None is held: an apply whose producer has not
	// arrived goes on now, and its join completes on the producer's span (writeCompletions).
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				p.annotate(tx, rs.Resource(), spans.At(k), &c)
			}
		}
	}
	p.mu.Unlock()
	if tx != nil {
		tx.End(ctx)
	}
	p.record(ctx, &c)
	return td, nil
}

// observe records what pass 1 needs from one span.
func (p *lagProcessor) observe(tx *join.Tx, res pcommon.Resource, span ptrace.Span, c *counts) {
	attrs := span.Attributes()
	name := span.Name()
	if k := headPositionKey(name); k != "" {
		if v, ok := attrs.Get(k); ok {
			if pos, st, ok := positionOf(v); ok {
				c.headsEvicted += int64(p.positions.Append(p.headKey(attrs, res, st), pos))
			} else {
				c.invalidPositions++
			}
		}
	}
	if tx == nil {
		return
	}
	side := spanattr.Str(attrs, semconv.AttrSide)
	commandType := ""
	if side == semconv.SideWrite {
		commandType = spanattr.Str(attrs, semconv.AttrCommandType)
	}
	key := join.NewKey(span.TraceID(), span.SpanID())
	p.climbSpan(span, key, name, side, commandType)
	switch {
	case side == semconv.SideWrite && !span.ParentSpanID().IsEmpty():
		p.writeParents = append(p.writeParents, key.WithSpan(span.ParentSpanID()))
	case side == "" && (span.ParentSpanID().IsEmpty() || span.Kind() == ptrace.SpanKindServer || span.Kind() == ptrace.SpanKindConsumer):
		p.entryPoints = append(p.entryPoints, key)
	}
	var f join.Fact
	var eventKey join.Key
	hasEvent := false
	if id := spanattr.Str(attrs, semconv.AttrESEventID); id != "" {
		eventKey, hasEvent = tx.EventKey(id), true
	}
	switch {
	case side == semconv.SideWrite && !validSpanTimes(span):
		// Its times would make any lag joined to it absurd; keep it only as a step of the walk.
		c.invalidTS++
		f = join.Fact{Kind: join.Relay, Parent: span.ParentSpanID()}
	case side == semconv.SideWrite && !hasEvent && !joinableWrite(span, name, commandType) && !tx.Waited(key):
		// No join reaches it: not remembered, so the store's history stays long.
	case side == semconv.SideWrite:
		f = join.Fact{Kind: join.Producer, Parent: span.ParentSpanID(),
			Start: int64(span.StartTimestamp()), End: int64(span.EndTimestamp())}
		if commandType != "" {
			f.Command = tx.CommandID(commandType)
		}
	case !span.ParentSpanID().IsEmpty() &&
		((side == semconv.SideProjection && !semconv.IsProjectionApply(name)) || span.Kind() == ptrace.SpanKindConsumer):
		f = join.Fact{Kind: join.Relay, Parent: span.ParentSpanID()}
	}
	if hasEvent && f.Kind != 0 {
		f.Event = join.EventHash(eventKey)
	}
	var duplicate bool
	if hasEvent && f.Kind == join.Producer {
		duplicate = tx.Remember(key, f, &eventKey)
	} else {
		duplicate = tx.Remember(key, f, nil)
	}
	if side == semconv.SideWrite {
		p.noteEventWrite(span, key, duplicate)
	}
}

// joinableWrite reports whether a join can reach a write span or pass through it on the way to its
// command: a command span, an event write, or any span that can carry its context to a consumer (a
// publish, an outbox, the caller of either) or stand between them and the command. A call out of the
// process (a CLIENT span: a database, cache or HTTP call) that writes no events, and a read of the store
// made for the command, cannot: their children, if any, live in another process that starts its own
// side, and no bus injects their context.
func joinableWrite(span ptrace.Span, name, commandType string) bool {
	if semconv.IsEventWrite(name) || commandType != "" {
		return true
	}
	return span.Kind() != ptrace.SpanKindClient && !semconv.IsStoreRead(name)
}

// storeEntryPoints stores, as dead ends, this batch's unclassified entry points that are parents of
// write spans, then forgets the batch's sets.
func (p *lagProcessor) storeEntryPoints(tx *join.Tx) {
	if len(p.writeParents) > 0 && len(p.entryPoints) > 0 {
		for _, k := range p.entryPoints {
			p.entrySet.Add(k)
		}
		for _, k := range p.writeParents {
			if p.entrySet.Has(k) && p.deadEnds.Add(k) && !tx.Stored(k) {
				tx.Remember(k, join.Fact{Kind: join.DeadEnd}, nil)
			}
		}
		p.entrySet.Reset()
		p.deadEnds.Reset()
	}
	p.writeParents = p.writeParents[:0]
	p.entryPoints = p.entryPoints[:0]
}

// annotate handles one span in pass 2.
func (p *lagProcessor) annotate(tx *join.Tx, res pcommon.Resource, span ptrace.Span, c *counts) {
	name := span.Name()
	switch {
	case semconv.IsCheckpointUpdate(name):
		p.checkpoint(res, span, c)
		return
	case name == semconv.SpanCheckpointReset:
		if pn := spanattr.ProjectionOrSubscription(span.Attributes()); pn != "" {
			_, key := p.projectionKey(span.Attributes(), res, "", pn)
			c.projectionsEvicted += int64(p.positions.Reset(key))
		}
		return
	case !semconv.IsProjectionApply(name):
		return
	}
	if spanattr.Str(span.Attributes(), semconv.AttrSide) != semconv.SideProjection {
		return
	}
	// A reported lag that is not a finite number would poison every histogram downstream, whichever
	// path the span takes below (nested, invalid times, held): drop it here once.
	if v, ok := span.Attributes().Get(semconv.AttrProjectionLagMs); ok {
		if _, finite := spanattr.Num(v); !finite {
			c.invalidReported++
			span.Attributes().Remove(semconv.AttrProjectionLagMs)
		}
	}
	if semconv.IsRunnerApply(name) {
		// The runner's position is its own, even when its inner apply is the one counted.
		p.runnerPosition(res, span, c)
	}
	if spanattr.Bool(span.Attributes(), semconv.AttrProjectionNested) {
		// The other apply span of the nesting (the runner's, or the inner one that arrived first)
		// carries the lag: one event, one lag.
		return
	}
	if !validSpanTimes(span) {
		c.invalidTS++
		span.Attributes().PutStr(semconv.AttrProjectionPhase, p.applyPhase(res, name, span.Attributes(), lagState{}))
		return
	}
	st := p.timeLag(span, c)
	// A replayed or very old event's producer is long gone: look it up, but
	// neither wait for it nor count it as unmatched. A rebuild of a million
	// events must not fill the held set.
	if ph, ok := p.statedPhase(name, span.Attributes()); ok && ph == semconv.PhaseReplay {
		st.stale = true
	}
	if st.source != "" && tx != nil && st.lagMs > float64(p.cfg.Link.TTL.Milliseconds()) {
		st.stale = true
	}
	var r join.Resolution
	var t join.Target
	if tx != nil {
		t = target(tx, span)
		r = tx.Resolve(&t)
	}
	phase := p.finish(tx, res, span, st, &r, c)
	switch {
	case tx == nil || r.Candidates == 0 || r.ProducerFound && !r.CanAwait():
	case st.stale && !r.ProducerFound:
		c.stale++
	case r.CanAwait() && !st.stale:
		// It goes on now; the producer's or command's span completes the join (writeCompletions).
		attrs := span.Attributes()
		tx.Await(join.Apply{
			Span:       join.NewKey(span.TraceID(), span.SpanID()),
			Start:      int64(span.StartTimestamp()),
			End:        int64(span.EndTimestamp()),
			Projection: spanattr.ProjectionName(attrs),
			EventType:  spanattr.Str(attrs, semconv.AttrEventType),
			Service:    spanattr.Str(res.Attributes(), semconv.AttrServiceName),
			Replay:     phase == semconv.PhaseReplay,
			LagKnown:   st.source != "" || r.ProducerFound,
			Threshold:  samplingThreshold(span),
		}, &t, &r)
	case !r.ProducerFound:
		c.unmatched++
	}
}

// validSpanTimes: the span's own times can be measured from. A start of 0 or past 2^63 ns (as some
// broken clocks send 2^64-1) or an end before the start is counted, and the span gets no lag.
func validSpanTimes(span ptrace.Span) bool {
	start, end := uint64(span.StartTimestamp()), uint64(span.EndTimestamp())
	return start > 0 && end >= start && end <= math.MaxInt64
}

// lagState is what the reported / event_timestamp sources found.
type lagState struct {
	lagMs  float64
	source string
	// stale: the event is replayed or older than link.ttl.
	stale bool
}

func (p *lagProcessor) timeLag(span ptrace.Span, c *counts) lagState {
	attrs := span.Attributes()
	start := int64(span.StartTimestamp())
	if v, ok := attrs.Get(semconv.AttrProjectionLagMs); ok {
		if ms, ok := reportedLag(v, start, p.cfg.FutureTolerance); ok {
			return lagState{lagMs: ms, source: semconv.LagSourceReported}
		}
		// An invalid value would poison every histogram downstream.
		c.invalidReported++
		attrs.Remove(semconv.AttrProjectionLagMs)
	}
	for _, k := range p.cfg.EventTimestampKeys {
		v, ok := attrs.Get(k)
		if !ok {
			continue
		}
		if ns, ok := eventTimeNanos(v, start, p.cfg.FutureTolerance); ok {
			return lagState{lagMs: float64(start-ns) / 1e6, source: semconv.LagSourceEventTimestamp}
		}
		c.invalidTS++
	}
	return lagState{}
}

// finish writes the lag, delay and phase attributes, counts a pair, and returns the phase.
func (p *lagProcessor) finish(tx *join.Tx, res pcommon.Resource, span ptrace.Span, st lagState, r *join.Resolution, c *counts) string {
	attrs := span.Attributes()
	// Room for what is written below (lag, its source, delay, command type, phase): one allocation, not
	// one per growth of the attribute slice.
	attrs.EnsureCapacity(attrs.Len() + 5)
	start, end := int64(span.StartTimestamp()), int64(span.EndTimestamp())
	if st.source == "" && r.ProducerFound {
		st = lagState{lagMs: float64(start-r.Producer.End) / 1e6, source: semconv.LagSourceLink}
		if st.lagMs < 0 && r.SameTrace && nested(r.Producer, start, end) {
			// Dispatched synchronously inside the producer: visible at once.
			st.lagMs = 0
		}
	}
	if r.ProducerFound {
		c.pairs++
	}
	if st.source != "" {
		if v, keep := p.negative(attrs, st.lagMs, c); keep {
			attrs.PutDouble(semconv.AttrProjectionLagMs, v)
			attrs.PutStr(semconv.AttrProjectionLagSource, st.source)
		} else {
			attrs.Remove(semconv.AttrProjectionLagMs)
		}
	}
	if r.CommandFound {
		delay := float64(end-r.Command.End) / 1e6
		if delay < 0 && r.SameTrace && nested(r.Command, start, end) {
			delay = 0
		}
		if v, keep := p.negative(attrs, delay, c); keep {
			attrs.PutDouble(semconv.AttrConsistencyDelayMs, v)
			if t := tx.CommandName(r.Command.Command); t != "" {
				attrs.PutStr(semconv.AttrCommandType, t)
			}
		}
	}
	phase := p.applyPhase(res, span.Name(), attrs, st)
	attrs.PutStr(semconv.AttrProjectionPhase, phase)
	return phase
}

// target is what the join follows from an apply span: its first valid links, the event id it names
// and its parent.
func target(tx *join.Tx, span ptrace.Span) join.Target {
	t := join.Target{Trace: span.TraceID(), Parent: span.ParentSpanID()}
	for _, l := range span.Links().All() {
		if int(t.NLinks) == join.MaxLinks {
			break
		}
		if !l.TraceID().IsEmpty() && !l.SpanID().IsEmpty() {
			t.Links[t.NLinks] = join.NewKey(l.TraceID(), l.SpanID())
			t.NLinks++
		}
	}
	if id := spanattr.Str(span.Attributes(), semconv.AttrESEventID); id != "" {
		t.EventKey, t.HasEvent = tx.EventKey(id), true
	}
	return t
}

// nested reports whether a span [start,end] lies inside e: the projection
// ran synchronously inside its producer or command, so a negative value is
// not clock skew.
func nested(e join.Fact, start, end int64) bool {
	return e.Start <= start && end <= e.End
}

// negative applies the negative_lag policy; keep is false when the value
// must not be written.
func (p *lagProcessor) negative(attrs pcommon.Map, v float64, c *counts) (float64, bool) {
	if v >= 0 {
		return v, true
	}
	c.negative++
	switch p.cfg.NegativeLag {
	case negativeLagFlag:
		attrs.PutBool(semconv.AttrProjectionClockSkew, true)
		return v, true
	case negativeLagDropValue:
		return 0, false
	default:
		return 0, true
	}
}

func (p *lagProcessor) applyPhase(res pcommon.Resource, name string, attrs pcommon.Map, st lagState) string {
	if ph, ok := p.statedPhase(name, attrs); ok {
		return ph
	}
	if pn := spanattr.ProjectionOrSubscription(attrs); pn != "" && p.positions.Tracking() {
		storeID := ""
		if v, ok := attrs.Get(semconv.AttrESPosition); ok {
			_, storeID, _ = positionOf(v)
		}
		_, key := p.projectionKey(attrs, res, storeID, pn)
		if replay, known := p.positions.Replaying(key); known {
			if replay {
				return semconv.PhaseReplay
			}
			return semconv.PhaseLive
		}
	}
	if p.cfg.Phase.ReplayLag > 0 && st.source != "" && st.lagMs > float64(p.cfg.Phase.ReplayLag.Milliseconds()) {
		return semconv.PhaseReplay
	}
	return semconv.PhaseLive
}

// statedPhase is the phase a span states: an attribute of phase.keys, else
// what an eventsource-py runner's span name implies.
func (p *lagProcessor) statedPhase(name string, attrs pcommon.Map) (string, bool) {
	for _, k := range p.cfg.Phase.Keys {
		if v := spanattr.Str(attrs, k); v != "" {
			if ph, ok := semconv.NormalizeProjectionPhase(v); ok {
				return ph, true
			}
		}
	}
	return semconv.RunnerPhase(name)
}

func (p *lagProcessor) record(ctx context.Context, c *counts) {
	t := p.tel
	add(ctx, t.ProcessorProjectionlagLinkPairs, c.pairs)
	add(ctx, t.ProcessorProjectionlagLinkUnmatched, c.unmatched)
	add(ctx, t.ProcessorProjectionlagLinkStale, c.stale)
	add(ctx, t.ProcessorProjectionlagInvalidTimestamps, c.invalidTS)
	add(ctx, t.ProcessorProjectionlagInvalidReportedLag, c.invalidReported)
	add(ctx, t.ProcessorProjectionlagInvalidPositions, c.invalidPositions)
	add(ctx, t.ProcessorProjectionlagNegativeLag, c.negative)
	add(ctx, t.ProcessorProjectionlagHeadsEvicted, c.headsEvicted)
	add(ctx, t.ProcessorProjectionlagProjectionsEvicted, c.projectionsEvicted)
}

// recordJoin records what the join engine counted, per batch and per expiry tick.
func (p *lagProcessor) recordJoin(ctx context.Context, c join.Counts) {
	t := p.tel
	add(ctx, t.ProcessorProjectionlagLinkPairs, c.Pairs)
	add(ctx, t.ProcessorProjectionlagLinkLatePairs, c.LatePairs)
	add(ctx, t.ProcessorProjectionlagLinkUnmatched, c.Unmatched)
	add(ctx, t.ProcessorProjectionlagLinkPendingEvicted, c.PendingEvicted)
	add(ctx, t.ProcessorProjectionlagLinkCommandUnresolved, c.CommandUnresolved)
	add(ctx, t.ProcessorProjectionlagLinkExpired, c.FactsExpired)
	add(ctx, t.ProcessorProjectionlagLinkEvicted, c.FactsEvicted)
	add(ctx, t.ProcessorProjectionlagLinkDuplicates, c.Duplicates)
	add(ctx, t.ProcessorProjectionlagCommandTypesDropped, c.CommandTypesDropped)
	add(ctx, t.ProcessorProjectionlagLinkEventsUnattributed, c.EventsUnattributed)
}

func add(ctx context.Context, ctr metric.Int64Counter, n int64) {
	if n > 0 {
		ctr.Add(ctx, n)
	}
}
