package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
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
	"github.com/otelcol-es/otelcol-es/internal/ringmap"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/positions"
)

// maxLinksFollowed bounds the links looked at per projection span; the CQRS
// conventions link one event context, batch handlers a few.
const maxLinksFollowed = 8

type lagProcessor struct {
	cfg    *Config
	logger *zap.Logger
	next   consumer.Traces
	clock  clockwork.Clock
	tel    *metadata.TelemetryBuilder

	// One mutex serialises the join state: a batch's spans must see each
	// other's producers, and the critical section is map look-ups only.
	mu        sync.Mutex
	producers *ringmap.Map[joinKey, joinEntry] // nil when the link source is disabled
	commands  *interner
	positions *positions.Tracker
	held      heldSpans
	// waiting mirrors the number of spans waited for after each operation.
	waiting int
	// heldN counts spans ever held; origin is the Resource and Scope shared
	// by the spans held from the ScopeSpans being annotated.
	heldN  uint64
	origin *hold.Origin
	// woken is scratch for the held spans woken by a batch.
	woken []*lagWaiter
	// release sends held spans once they are done; it keeps those the next
	// consumer refuses for the next attempt (they were accepted upstream).
	release *release.Retrier
	// loop releases held spans at their deadline (link source only).
	loop *hold.Loop
	// headBuf and projBuf are reused for position keys (under mu).
	headBuf, projBuf []byte
	// Per batch (under mu): the parents of write spans, and the unclassified entry points (server,
	// consumer or root spans) seen. An entry point above a write is the top of a write with no command
	// span (eventsource-py has none): it is stored as a dead end, so a walk to the command stops there
	// at once instead of waiting link.wait for a command that does not exist.
	writeParents map[joinKey]struct{}
	entryPoints  []joinKey
	// eventSeeds hash event ids into join keys (see eventKey).
	eventSeeds [2]maphash.Seed
}

// counts accumulates one batch's telemetry, recorded after the lock is released.
type counts struct {
	pairs, unmatched, expired, evicted, duplicates, heldOverflow int64
	invalidTS, invalidReported, invalidPositions, negative       int64
	headsEvicted, projectionsEvicted, commandTypesDropped        int64
	releaseDropped, stale, commandUnresolved                     int64
}

func newProcessor(set processor.Settings, cfg *Config, next consumer.Traces, clock clockwork.Clock) (*lagProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &lagProcessor{
		cfg:          cfg,
		logger:       set.Logger,
		next:         next,
		clock:        clock,
		tel:          tel,
		positions:    positions.New(cfg.Positions.MaxHeads, cfg.Positions.MaxProjections, cfg.Phase.ReplayPositionsBehind),
		held:         heldSpans{hold.NewWaits[joinKey, lagHeld]()},
		writeParents: make(map[joinKey]struct{}),
		eventSeeds:   [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		release:      release.New(next, cfg.Link.MaxHeld),
	}
	if cfg.Link.Enabled {
		p.producers = ringmap.New[joinKey, joinEntry](cfg.Link.MaxProducers, cfg.Link.TTL, nil)
		p.commands = newInterner(cfg.Link.MaxCommandTypes)
	}
	p.loop = hold.NewLoop(clock, retryInterval(cfg), p.release, p.nextDeadline, func(ctx context.Context) {
		_ = p.releaseExpired(ctx, false)
	})
	return p, nil
}

// retryInterval is how soon held spans the next consumer refused are
// offered again: a quarter of the shortest of link.ttl and link.wait, at
// least 10ms (the period the release loop polled at before it slept until
// the next deadline).
func retryInterval(cfg *Config) time.Duration {
	d := cfg.Link.TTL / 4
	if cfg.Link.Wait > 0 && cfg.Link.Wait/4 < d {
		d = cfg.Link.Wait / 4
	}
	return max(d, 10*time.Millisecond)
}

// nextDeadline is when the oldest held span's wait ends.
func (p *lagProcessor) nextDeadline() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held.NextDeadline()
}

func (p *lagProcessor) start(context.Context, component.Host) error {
	if p.producers == nil {
		return nil
	}
	p.loop.Start()
	return nil
}

// shutdown releases every held span: nothing is lost on a clean stop.
func (p *lagProcessor) shutdown(ctx context.Context) error {
	p.loop.Stop()
	err := p.releaseExpired(ctx, true)
	if n := p.release.Pending(); n > 0 {
		// Refused again at the last attempt: nothing will send them now.
		p.record(ctx, &counts{releaseDropped: int64(n)})
	}
	p.tel.Shutdown()
	return err
}

// releaseExpired expires old producers and releases held spans whose wait
// is over (all of them when all is set) to the next consumer.
func (p *lagProcessor) releaseExpired(ctx context.Context, all bool) error {
	if p.producers == nil {
		return nil
	}
	var c counts
	now := p.clock.Now()
	var rel hold.Out
	p.mu.Lock()
	c.expired += int64(p.producers.Expire(now))
	for {
		var w *lagWaiter
		if all {
			if w = p.held.Oldest(); w != nil {
				p.held.Remove(w, hold.Shutdown)
			}
		} else if w = p.held.Due(now.UnixNano()); w != nil {
			p.held.Remove(w, hold.AtDeadline)
		}
		if w == nil {
			break
		}
		p.releaseHeld(w, &c, &rel)
	}
	p.recordHeld(&c)
	p.mu.Unlock()
	err := p.sendReleased(ctx, rel.Traces(), &c)
	p.record(ctx, &c)
	return err
}

// sendReleased sends held spans that are done, with any the next consumer
// refused before (retried on every tick).
func (p *lagProcessor) sendReleased(ctx context.Context, td ptrace.Traces, c *counts) error {
	dropped, err := p.release.Send(ctx, td)
	c.releaseDropped += int64(dropped)
	if err != nil {
		p.logger.Debug("next consumer refused released projection spans; retried with the next release",
			zap.Int("pending", p.release.Pending()), zap.Int("dropped", dropped), zap.Error(err))
		// The release loop may be idle (nothing held): it must come back for these.
		p.loop.Notify()
	}
	return err
}

// recordHeld adds what the hold did to c and refreshes the mirror. mu must be held.
func (p *lagProcessor) recordHeld(c *counts) {
	hc := p.held.TakeCounts()
	c.heldOverflow += hc.Released[hold.Overflow]
	p.waiting = p.held.Keys()
}

func (p *lagProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	var c counts
	now := p.clock.Now()
	var rel hold.Out
	p.mu.Lock()
	if p.producers != nil {
		c.expired += int64(p.producers.Expire(now))
	}
	// Pass 1: remember producers and relays, move heads, so that pass 2
	// sees everything this batch brings, in any order.
	woken := p.woken[:0]
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				woken = p.observe(rs.Resource(), spans.At(k), now, &c, woken)
			}
		}
	}
	p.storeEntryPoints(now, &c)
	// Pass 2: annotate; projection spans still waiting for a producer leave the batch.
	heldBefore, wasEmpty := p.heldN, p.held.Len() == 0
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			p.origin = nil // spans held from ss share one
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				return p.annotate(rs, ss, span, now, &c, &rel)
			})
		}
	}
	p.origin = nil
	// Held spans whose producer (or a step towards it) just arrived; a span
	// may be woken twice, or released to make room since.
	for _, w := range woken {
		if !w.Held() {
			continue
		}
		if p.retry(w, &c) {
			p.held.Remove(w, hold.Arrived)
			rel.Add(&w.Value.Span)
		}
	}
	clear(woken)
	p.woken = woken[:0]
	heldAny := p.heldN != heldBefore
	wake := wasEmpty && p.held.Len() > 0
	p.recordHeld(&c)
	p.mu.Unlock()
	if wake {
		p.loop.Notify()
	}
	if !rel.Empty() {
		// Sent on their own: a refusal of this batch goes back to its client, who
		// cannot resend spans held from earlier requests.
		_ = p.sendReleased(ctx, rel.Traces(), &c)
	}
	p.record(ctx, &c)

	if heldAny {
		// Drop the scopes and resources that holding emptied.
		rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
			rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
			return rs.ScopeSpans().Len() == 0
		})
	}
	if rss.Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

// observe records what pass 1 needs from one span and appends to woken the
// held spans waiting on it.
func (p *lagProcessor) observe(res pcommon.Resource, span ptrace.Span, now time.Time, c *counts, woken []*lagWaiter) []*lagWaiter {
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
	if p.producers == nil {
		return woken
	}
	side := spanattr.Str(attrs, semconv.AttrSide)
	key := newJoinKey(span.TraceID(), span.SpanID())
	switch {
	case side == semconv.SideWrite && !span.ParentSpanID().IsEmpty():
		p.writeParents[key.withSpan(span.ParentSpanID())] = struct{}{}
	case side == "" && (span.ParentSpanID().IsEmpty() || span.Kind() == ptrace.SpanKindServer || span.Kind() == ptrace.SpanKindConsumer):
		p.entryPoints = append(p.entryPoints, key)
	}
	var e joinEntry
	switch {
	case side == semconv.SideWrite && !validSpanTimes(span):
		// Its times would make any lag joined to it absurd; keep it only as a step of the walk.
		c.invalidTS++
		e = joinEntry{Kind: kindRelay, Parent: span.ParentSpanID()}
	case side == semconv.SideWrite:
		e = joinEntry{Kind: kindProducer, Parent: span.ParentSpanID(),
			Start: int64(span.StartTimestamp()), End: int64(span.EndTimestamp())}
		if ek, ok := p.eventKey(attrs); ok {
			// The first write span of an event (outbox add, publish) stands for it; later ones of the
			// same event are expected, not duplicates.
			if p.producers.Put(ek, joinEntry{Kind: kindProducer, Start: e.Start, End: e.End}, now) == ringmap.AddedEvicting {
				c.evicted++
			}
		}
		if ct := spanattr.Str(attrs, semconv.AttrCommandType); ct != "" {
			id, ok := p.commands.id(ct)
			if !ok {
				c.commandTypesDropped++
			}
			e.Command = id
			// A command without a remembered type is still the command:
			// the walk stops there and the delay is measured.
			if id == 0 {
				e.Command = commandUnnamed
			}
		}
	case !span.ParentSpanID().IsEmpty() &&
		((side == semconv.SideProjection && !semconv.IsProjectionApply(name)) || span.Kind() == ptrace.SpanKindConsumer):
		e = joinEntry{Kind: kindRelay, Parent: span.ParentSpanID()}
	}
	waited := p.held.Waiting(key)
	if e.Kind == 0 && waited {
		// Remember that this span arrived and leads nowhere, so its waiters stop waiting.
		e = joinEntry{Kind: kindDeadEnd}
	}
	if e.Kind != 0 {
		switch p.producers.Put(key, e, now) {
		case ringmap.Duplicate:
			c.duplicates++
		case ringmap.AddedEvicting:
			c.evicted++
		}
	}
	if waited {
		woken = p.held.Wake(key, woken)
	}
	return woken
}

// storeEntryPoints stores, as dead ends, this batch's unclassified entry points that are parents of
// write spans, then forgets the batch's sets.
func (p *lagProcessor) storeEntryPoints(now time.Time, c *counts) {
	if p.producers != nil && len(p.writeParents) > 0 {
		for _, k := range p.entryPoints {
			if _, ok := p.writeParents[k]; !ok {
				continue
			}
			if _, stored := p.producers.Get(k); stored {
				continue
			}
			if p.producers.Put(k, joinEntry{Kind: kindDeadEnd}, now) == ringmap.AddedEvicting {
				c.evicted++
			}
		}
	}
	clear(p.writeParents)
	p.entryPoints = p.entryPoints[:0]
}

// commandUnnamed marks a command span whose type did not fit the interner.
const commandUnnamed = ^uint32(0)

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

// annotate handles one span in pass 2. It returns true when the span was
// moved out of the batch to be held.
func (p *lagProcessor) annotate(rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, now time.Time, c *counts, rel *hold.Out) bool {
	name := span.Name()
	switch {
	case semconv.IsCheckpointUpdate(name):
		p.checkpoint(rs.Resource(), span, c)
		return false
	case name == semconv.SpanCheckpointReset:
		if pn := spanattr.ProjectionOrSubscription(span.Attributes()); pn != "" {
			_, key := p.projectionKey(span.Attributes(), rs.Resource(), "", pn)
			c.projectionsEvicted += int64(p.positions.Reset(key))
		}
		return false
	case !semconv.IsProjectionApply(name):
		return false
	}
	if spanattr.Str(span.Attributes(), semconv.AttrSide) != semconv.SideProjection {
		return false
	}
	// A reported lag that is not a finite number would poison every histogram downstream, whichever
	// path the span takes below (nested, invalid times, held): drop it here once.
	if v, ok := span.Attributes().Get(semconv.AttrProjectionLagMs); ok {
		if _, finite := spanattr.Num(v); !finite {
			c.invalidReported++
			span.Attributes().Remove(semconv.AttrProjectionLagMs)
		}
	}
	if spanattr.Bool(span.Attributes(), semconv.AttrProjectionNested) {
		// The runner's apply span around it carries the lag: one event, one lag.
		return false
	}
	if semconv.IsRunnerApply(name) {
		p.runnerPosition(rs.Resource(), span, c)
	}
	if !validSpanTimes(span) {
		c.invalidTS++
		span.Attributes().PutStr(semconv.AttrProjectionPhase, p.applyPhase(rs.Resource(), name, span.Attributes(), lagState{}))
		return false
	}
	st := p.timeLag(span, c)
	// A replayed or very old event's producer is long gone: look it up, but
	// neither wait for it nor count it as unmatched. A rebuild of a million
	// events must not fill the held set.
	if ph, ok := p.statedPhase(name, span.Attributes()); ok && ph == semconv.PhaseReplay {
		st.stale = true
	}
	if st.source != "" && p.producers != nil && st.lagMs > float64(p.cfg.Link.TTL.Milliseconds()) {
		st.stale = true
	}
	res := p.resolve(span)
	if p.mustHold(st, res) {
		p.hold(rs, ss, span, st, res, now, c, rel)
		return true
	}
	p.finish(rs.Resource(), span, st, res, c)
	return false
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

func (p *lagProcessor) mustHold(st lagState, res resolution) bool {
	if p.producers == nil || p.cfg.Link.Wait <= 0 || len(res.waitKeys) == 0 || st.stale {
		return false
	}
	if !res.producerFound && st.source == "" {
		return true
	}
	return p.cfg.Link.HoldForConsistencyDelay
}

// finish writes the lag, delay and phase attributes and counts the outcome.
func (p *lagProcessor) finish(res pcommon.Resource, span ptrace.Span, st lagState, r resolution, c *counts) {
	attrs := span.Attributes()
	start, end := int64(span.StartTimestamp()), int64(span.EndTimestamp())
	if st.source == "" && r.producerFound {
		st = lagState{lagMs: float64(start-r.producer.End) / 1e6, source: semconv.LagSourceLink}
		if st.lagMs < 0 && r.sameTrace && nested(r.producer, start, end) {
			// Dispatched synchronously inside the producer: visible at once.
			st.lagMs = 0
		}
	}
	switch {
	case r.producerFound:
		c.pairs++
		if !r.commandFound && len(r.waitKeys) > 0 {
			// The walk to the command stopped at a span not (or no longer) stored.
			c.commandUnresolved++
		}
	case r.candidates > 0 && st.stale:
		c.stale++
	case r.candidates > 0:
		c.unmatched++
	}
	if st.source != "" {
		if v, keep := p.negative(attrs, st.lagMs, c); keep {
			attrs.PutDouble(semconv.AttrProjectionLagMs, v)
			attrs.PutStr(semconv.AttrProjectionLagSource, st.source)
		} else {
			attrs.Remove(semconv.AttrProjectionLagMs)
		}
	}
	if r.commandFound {
		delay := float64(end-r.command.End) / 1e6
		if delay < 0 && r.sameTrace && nested(r.command, start, end) {
			delay = 0
		}
		if v, keep := p.negative(attrs, delay, c); keep {
			attrs.PutDouble(semconv.AttrConsistencyDelayMs, v)
			if r.command.Command != commandUnnamed {
				if t := p.commands.name(r.command.Command); t != "" {
					attrs.PutStr(semconv.AttrCommandType, t)
				}
			}
		}
	}
	attrs.PutStr(semconv.AttrProjectionPhase, p.applyPhase(res, span.Name(), attrs, st))
}

// nested reports whether a span [start,end] lies inside e: the projection
// ran synchronously inside its producer or command, so a negative value is
// not clock skew.
func nested(e joinEntry, start, end int64) bool {
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

func (p *lagProcessor) record(ctx context.Context, c *counts) {
	add := func(ctr metric.Int64Counter, n int64) {
		if n > 0 {
			ctr.Add(ctx, n)
		}
	}
	t := p.tel
	add(t.ProcessorProjectionlagLinkPairs, c.pairs)
	add(t.ProcessorProjectionlagLinkUnmatched, c.unmatched)
	add(t.ProcessorProjectionlagLinkExpired, c.expired)
	add(t.ProcessorProjectionlagLinkEvicted, c.evicted)
	add(t.ProcessorProjectionlagLinkDuplicates, c.duplicates)
	add(t.ProcessorProjectionlagHeldOverflow, c.heldOverflow)
	add(t.ProcessorProjectionlagInvalidTimestamps, c.invalidTS)
	add(t.ProcessorProjectionlagInvalidReportedLag, c.invalidReported)
	add(t.ProcessorProjectionlagInvalidPositions, c.invalidPositions)
	add(t.ProcessorProjectionlagNegativeLag, c.negative)
	add(t.ProcessorProjectionlagHeadsEvicted, c.headsEvicted)
	add(t.ProcessorProjectionlagProjectionsEvicted, c.projectionsEvicted)
	add(t.ProcessorProjectionlagCommandTypesDropped, c.commandTypesDropped)
	add(t.ProcessorProjectionlagReleaseDropped, c.releaseDropped)
	add(t.ProcessorProjectionlagLinkStale, c.stale)
	add(t.ProcessorProjectionlagLinkCommandUnresolved, c.commandUnresolved)
}
