// Package observe turns spans into observations: for each span it decides
// the metric family, builds the series key and the observation, and hands
// them to a Sink. It knows nothing of the connector, its pipelines or its
// telemetry: Batch returns what it counted, the caller reports it.
package observe // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/observe"

import (
	"encoding/hex"
	"math"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/dedupe"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/key"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/join"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
)

// Family is a set of metrics sharing one attribute set, stored in one
// series.Store so each span's key is built once for all of them.
type Family uint8

const (
	Command     Family = iota // cqrs.command.total + cqrs.command.duration
	Events                    // cqrs.events.produced
	Query                     // cqrs.query.total + cqrs.query.duration
	ResultSize                // cqrs.query.result_size
	Projection                // cqrs.projection.total + cqrs.projection.duration
	Lag                       // cqrs.projection.lag (live)
	ReplayLag                 // cqrs.projection.replay.lag
	Consistency               // cqrs.consistency.delay
	Positions                 // cqrs.projection.positions_behind
	NumFamilies
)

// Sink stores observations; the connector's series stores and projection
// state tracker behind it.
type Sink interface {
	// Observe records obs into family f's series with the given key
	// (key[:resLen] is the resource part); d describes a new series.
	Observe(f Family, key []byte, resLen int, d series.Describer, obs *series.Obs) series.Result
	// Checkpoint records a checkpoint sample of the projection keyed so.
	Checkpoint(key []byte, resLen int, d series.Describer, s state.Sample) (created, dropped bool)
}

// Dimension is an extra data point attribute: read from the span, else its
// resource, else Default (when not nil), else omitted.
type Dimension struct {
	Name    string
	Default *string
}

// Options configure an Observer.
type Options struct {
	Dimensions         []Dimension
	ResourceDimensions []string
	// InstanceKey, when set, is put on every resource with InstanceValue.
	InstanceKey, InstanceValue string
	// ExtrapolateSampledCounts weights spans by their tracestate's adjusted count.
	ExtrapolateSampledCounts bool
	// AssumedWeights, by service.name: the weight of that service's spans whose tracestate states no
	// threshold (SDKs sampling by ratio without writing one). Used only with ExtrapolateSampledCounts.
	AssumedWeights map[string]uint64
	// Dedupe, when set, skips spans counted before.
	Dedupe *dedupe.Window
}

// Counts are what one batch met, for the caller's telemetry.
type Counts struct {
	// NoSide: spans without cqrs.side; Invalid: spans with an unusable value.
	NoSide, Invalid int64
	// Created: new series and state trackers; Overflowed: observations that
	// went to an overflow series (or samples a full tracker turned away).
	Created, Overflowed int64
	// Duplicates: spans skipped as counted before; Evicted: dedupe entries
	// dropped early from a full table.
	Duplicates, Evicted int64
}

// Observer is safe for concurrent use: each Batch call works in its own
// pooled scratch state.
type Observer struct {
	opts Options
	sink Sink
	pool sync.Pool
}

// New returns an Observer feeding sink.
func New(opts Options, sink Sink) *Observer {
	o := &Observer{opts: opts, sink: sink}
	o.pool.New = func() any { return &scratch{o: o} }
	return o
}

// Batch observes every span of td; now is the collector clock.
func (o *Observer) Batch(td ptrace.Traces, now time.Time) Counts {
	sc := o.pool.Get().(*scratch)
	sc.consume(td, now)
	n := sc.n
	sc.n = Counts{}
	o.pool.Put(sc)
	return n
}

// maxAncestorDepth bounds the walk from an append span up to its command.
const maxAncestorDepth = 64

type kv struct{ k, v string }

const maxPooledLen = 1 << 16

// pendingCmd is a command span without its own event count; its events are
// counted from the writes beneath it once the whole batch is seen.
type pendingCmd struct {
	rs      int
	span    ptrace.Span
	weight  uint64
	ordinal int32 // the span's place in the batch
}

// scratch is the per-call working state of ConsumeTraces. It is pooled so
// that, in the steady state, a batch allocates nothing: the key buffer, the
// observation, the pending commands and the event climb are all reused.
// It also implements series.Describer for the series a span creates.
type scratch struct {
	o  *Observer
	kb key.Builder

	resAttrs    pcommon.Map
	serviceName string
	spanAttrs   pcommon.Map
	kvs         [2]kv
	nkv         int

	now    pcommon.Timestamp
	obs    series.Obs
	lastTS string
	lastW  uint64

	wall time.Time // collector clock, for the dedupe window

	pending []pendingCmd
	ordinal int32 // of the span being observed, in batch order
	climb   join.Climb

	// What each span of the batch counts as (pass 1), and for those counted, in order, whether the dedupe
	// window saw it before.
	kinds   []spanKind
	refs    []dedupe.Ref
	dups    []bool
	nextDup int
	dedupe  dedupe.Scratch

	n Counts
}

// Describe implements series.Describer; it runs only when a series is new.
func (sc *scratch) Describe(res, attrs pcommon.Map) {
	c := &sc.o.opts
	res.PutStr(semconv.AttrServiceName, sc.serviceName)
	if c.InstanceKey != "" {
		res.PutStr(c.InstanceKey, c.InstanceValue)
	}
	for _, k := range c.ResourceDimensions {
		if v, ok := sc.resAttrs.Get(k); ok {
			v.CopyTo(res.PutEmpty(k))
		}
	}
	for i := 0; i < sc.nkv; i++ {
		if sc.kvs[i].v != "" {
			attrs.PutStr(sc.kvs[i].k, sc.kvs[i].v)
		}
	}
	for i := range c.Dimensions {
		d := &c.Dimensions[i]
		if v, ok := sc.dimValue(d.Name); ok {
			v.CopyTo(attrs.PutEmpty(d.Name))
		} else if d.Default != nil {
			attrs.PutStr(d.Name, *d.Default)
		}
	}
}

func (sc *scratch) dimValue(name string) (pcommon.Value, bool) {
	if v, ok := sc.spanAttrs.Get(name); ok {
		return v, true
	}
	return sc.resAttrs.Get(name)
}

func (sc *scratch) setResource(r pcommon.Resource) {
	sc.resAttrs = r.Attributes()
	service := semconv.UnknownServiceName
	if v, ok := sc.resAttrs.Get(semconv.AttrServiceName); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		service = v.Str()
	}
	sc.setService(service)
}

// setService starts the series key's resource part: service, then the
// resource dimensions of the current resource.
func (sc *scratch) setService(service string) {
	sc.serviceName = service
	sc.kb.Reset()
	sc.kb.Str(sc.serviceName)
	for _, k := range sc.o.opts.ResourceDimensions {
		if v, ok := sc.resAttrs.Get(k); ok {
			sc.kb.Value(v)
		} else {
			sc.kb.Absent()
		}
	}
	sc.kb.EndResource()
}

func (sc *scratch) set1(k, v string) {
	sc.kvs[0] = kv{k, spanattr.Bound(v, spanattr.Stated)}
	sc.nkv = 1
}

func (sc *scratch) set2(k1, v1, k2, v2 string) {
	sc.kvs[0] = kv{k1, spanattr.Bound(v1, spanattr.Stated)}
	sc.kvs[1] = kv{k2, spanattr.Bound(v2, spanattr.Stated)}
	sc.nkv = 2
}

// buildKey builds the current series key once, into the reused buffer.
func (sc *scratch) buildKey() []byte {
	sc.kb.Truncate()
	for i := 0; i < sc.nkv; i++ {
		if v := sc.kvs[i].v; v != "" {
			sc.kb.Str(v)
		} else {
			sc.kb.Absent()
		}
	}
	dims := sc.o.opts.Dimensions
	for i := range dims {
		if v, ok := sc.dimValue(dims[i].Name); ok {
			sc.kb.Value(v)
		} else {
			sc.kb.Absent()
		}
	}
	return sc.kb.Bytes()
}

func (sc *scratch) observe(f Family) {
	switch sc.o.sink.Observe(f, sc.buildKey(), sc.kb.ResourceLen(), sc, &sc.obs) {
	case series.Created:
		sc.n.Created++
	case series.CreatedOverflow:
		sc.n.Created++
		sc.n.Overflowed++
	case series.Overflowed:
		sc.n.Overflowed++
	}
}

func (sc *scratch) setObs(s ptrace.Span, weight uint64, value float64) {
	sc.obs = series.Obs{
		Now:      sc.now,
		Weight:   weight,
		Value:    value,
		TraceID:  s.TraceID(),
		SpanID:   s.SpanID(),
		SpanTime: s.EndTimestamp(),
	}
}

func (sc *scratch) consume(td ptrace.Traces, now time.Time) {
	sc.now = pcommon.NewTimestampFromTime(now)
	sc.wall = now
	rss := td.ResourceSpans()
	sc.classify(rss)
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sc.setResource(rs.Resource())
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sc.span(spans.At(k), i, now)
				sc.ordinal++
			}
		}
	}
	if len(sc.pending) > 0 {
		sc.resolvePending(td)
	}
	// Drop references to the batch so pooled scratch does not pin it.
	clear(sc.pending)
	sc.pending = sc.pending[:0]
	sc.ordinal = 0
	sc.climb.Reset()
	sc.kinds = sc.kinds[:0]
	clear(sc.refs)
	sc.refs = sc.refs[:0]
	sc.nextDup = 0
	sc.spanAttrs = pcommon.Map{}
	sc.resAttrs = pcommon.Map{}
	sc.lastTS = ""
	// Pooled buffers keep the capacity of the largest batch seen; release
	// them after an unusually large one.
	if cap(sc.pending) > maxPooledLen {
		sc.pending = nil
	}
	if cap(sc.kinds) > maxPooledLen {
		sc.kinds, sc.refs, sc.dups = nil, nil, nil
	}
}

// spanKind is what a span counts as itself (and the command or query type), decided once per batch.
type spanKind struct {
	kind counted
	typ  string
}

type counted uint8

const (
	notCounted counted = iota
	noSide             // no cqrs.side: counted as such
	countedCommand
	countedQuery
	countedApply
	countedCheckpoint
	checkpointUnset // a checkpoint update without positions behind
)

// classify decides what each span counts as and asks the dedupe window, in one call for the whole batch,
// which of the counted spans it saw before (a retried batch). Only the spans counted themselves are
// remembered: commands, queries, applies and checkpoints. Event writes are not: they count only under a
// command of their own batch, and a repeated command is skipped with everything beneath it, while a new
// command's writes were never counted before.
func (sc *scratch) classify(rss ptrace.ResourceSpansSlice) {
	w := sc.o.opts.Dedupe
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				kind := kindOf(s)
				sc.kinds = append(sc.kinds, kind)
				if w != nil && kind.kind >= countedCommand && kind.kind <= countedCheckpoint {
					sc.refs = append(sc.refs, dedupe.Ref{Trace: s.TraceID(), Span: s.SpanID()})
				}
			}
		}
	}
	if len(sc.refs) == 0 {
		return
	}
	if cap(sc.dups) < len(sc.refs) {
		sc.dups = make([]bool, len(sc.refs))
	}
	sc.dups = sc.dups[:len(sc.refs)]
	dups, evicted := w.SeenAll(&sc.dedupe, sc.refs, sc.wall, sc.dups)
	sc.n.Duplicates += int64(dups)
	sc.n.Evicted += int64(evicted)
}

func kindOf(s ptrace.Span) spanKind {
	attrs := s.Attributes()
	name := s.Name()
	if semconv.IsCheckpointUpdate(name) {
		if _, ok := attrs.Get(semconv.AttrProjectionPositionsBehind); ok {
			return spanKind{kind: countedCheckpoint}
		}
		return spanKind{kind: checkpointUnset}
	}
	sv, ok := attrs.Get(semconv.AttrSide)
	if !ok {
		return spanKind{kind: noSide}
	}
	switch sv.Str() {
	case semconv.SideWrite:
		if ct := spanattr.Str(attrs, semconv.AttrCommandType); ct != "" {
			return spanKind{kind: countedCommand, typ: ct}
		}
	case semconv.SideRead:
		if qt := spanattr.Str(attrs, semconv.AttrQueryType); qt != "" {
			return spanKind{kind: countedQuery, typ: qt}
		}
	case semconv.SideProjection:
		if semconv.IsProjectionApply(name) && !isNestedApply(attrs) {
			return spanKind{kind: countedApply}
		}
	}
	return spanKind{}
}

// seen reports whether the counted span being observed was counted before, within the dedupe window
// (classify asked for the whole batch).
func (sc *scratch) seen() bool {
	if sc.o.opts.Dedupe == nil {
		return false
	}
	d := sc.dups[sc.nextDup]
	sc.nextDup++
	return d
}

func status(s ptrace.Span) string {
	if s.Status().Code() == ptrace.StatusCodeError {
		return semconv.StatusError
	}
	return semconv.StatusSuccess
}

func (sc *scratch) span(s ptrace.Span, rs int, now time.Time) {
	attrs := s.Attributes()
	sc.spanAttrs = attrs
	name := s.Name()
	// A failed write stored nothing; it still hides the writes beneath it
	// (resolvePending), which carry the same events.
	if semconv.IsEventWrite(name) && s.Status().Code() != ptrace.StatusCodeError {
		if v, ok := attrs.Get(semconv.AttrESEventCount); ok {
			if n, ok := spanattr.Num(v); ok && n >= 1 && n < 1<<31 {
				sc.climb.Write(join.NewKey(s.TraceID(), s.SpanID()), s.ParentSpanID(), int64(n))
			}
		}
	}
	if s.Events().Len() > 0 {
		sc.lateApplies(s)
	}
	k := sc.kinds[sc.ordinal]
	switch k.kind {
	case noSide:
		sc.n.NoSide++
	case countedCheckpoint:
		if !sc.seen() {
			sc.checkpoint(s, now)
		}
	case countedCommand:
		if !sc.seen() {
			sc.command(s, k.typ, rs)
		}
	case countedQuery:
		if !sc.seen() {
			sc.query(s, k.typ)
		}
	case countedApply:
		if !sc.seen() {
			sc.apply(s)
		}
	}
}

// isNestedApply: cqrsside marked the apply span as running inside a
// subscription runner's apply span, which is the one counted.
func isNestedApply(attrs pcommon.Map) bool {
	return spanattr.Bool(attrs, semconv.AttrProjectionNested)
}

// weight is the span's adjusted count from the OpenTelemetry sampling threshold in its W3C tracestate
// (ot=th:...), rounded to an integer; else its service's assumed weight; else 1.
func (sc *scratch) weight(s ptrace.Span) uint64 {
	if !sc.o.opts.ExtrapolateSampledCounts {
		return 1
	}
	if ts := s.TraceState().AsRaw(); ts != "" {
		// Spans of one trace share their tracestate: parse once per run.
		if ts != sc.lastTS {
			sc.lastTS, sc.lastW = ts, sc.thresholdWeight(ts)
		}
		if sc.lastW > 0 {
			return sc.lastW
		}
	}
	if w, ok := sc.o.opts.AssumedWeights[sc.serviceName]; ok {
		return w
	}
	return 1
}

// thresholdWeight is the adjusted count a tracestate's ot=th states, or 0 when it states none.
func (sc *scratch) thresholdWeight(ts string) uint64 {
	w3c, err := sampling.NewW3CTraceState(ts)
	if err != nil {
		sc.n.Invalid++
		return 0
	}
	th, ok := w3c.OTelValue().TValueThreshold()
	if !ok {
		return 0
	}
	if adj := th.AdjustedCount(); adj >= 1 && adj < math.MaxUint32 {
		return uint64(math.Round(adj))
	}
	return 0
}

func spanDurationMs(s ptrace.Span) (float64, bool) {
	st, end := s.StartTimestamp(), s.EndTimestamp()
	if end < st || st == 0 {
		return 0, false
	}
	return float64(end-st) / 1e6, true
}

func (sc *scratch) duration(s ptrace.Span) float64 {
	d, ok := spanDurationMs(s)
	if !ok {
		// Recorded as 0 so the call is still counted; the bad timestamps are.
		sc.n.Invalid++
	}
	return d
}

func (sc *scratch) command(s ptrace.Span, ct string, rs int) {
	w := sc.weight(s)
	sc.setObs(s, w, sc.duration(s))
	sc.set2(semconv.MetricAttrCommandType, ct, semconv.MetricAttrCommandStatus, status(s))
	sc.observe(Command)

	// A failed command produced no events, whatever it reports or stored
	// before failing: only successful commands count.
	if s.Status().Code() == ptrace.StatusCodeError {
		return
	}
	if n, ok := sc.ownEvents(s); ok {
		sc.obs.Value = n
		sc.set1(semconv.MetricAttrCommandType, ct)
		sc.observe(Events)
		return
	}
	sc.pending = append(sc.pending, pendingCmd{rs: rs, span: s, weight: w, ordinal: sc.ordinal})
}

// ownEvents is the command span's own event count: cqrs.events.count, else
// its domain_event_produced span events.
func (sc *scratch) ownEvents(s ptrace.Span) (float64, bool) {
	if v, ok := s.Attributes().Get(semconv.AttrEventsCount); ok {
		if n, ok := spanattr.Num(v); ok && n >= 0 {
			return n, true
		}
		sc.n.Invalid++
	}
	n := 0
	evs := s.Events()
	for i := 0; i < evs.Len(); i++ {
		if evs.At(i).Name() == semconv.EventDomainEventProduced {
			n++
		}
	}
	return float64(n), n > 0
}

func (sc *scratch) query(s ptrace.Span, qt string) {
	w := sc.weight(s)
	sc.setObs(s, w, sc.duration(s))
	sc.set2(semconv.MetricAttrQueryType, qt, semconv.MetricAttrQueryStatus, status(s))
	sc.observe(Query)
	if v, ok := s.Attributes().Get(semconv.AttrQueryResultCount); ok {
		if n, ok := spanattr.Num(v); ok && n >= 0 {
			sc.obs.Value = n
			sc.obs.SpanID = pcommon.SpanID{}
			sc.set1(semconv.MetricAttrQueryType, qt)
			sc.observe(ResultSize)
		} else {
			sc.n.Invalid++
		}
	}
}

func (sc *scratch) apply(s ptrace.Span) {
	attrs := s.Attributes()
	pn := spanattr.ProjectionName(attrs)
	if pn == "" {
		sc.n.Invalid++
		return
	}
	w := sc.weight(s)
	sc.setObs(s, w, sc.duration(s))
	sc.set2(semconv.MetricAttrProjectionName, pn, semconv.MetricAttrStatus, status(s))
	sc.observe(Projection)

	sc.lagAndDelay(attrs, pn)
}

// lagAndDelay observes the lag and consistency delay attrs carry (an apply span's, or a late join's
// event's) into the current observation's series.
func (sc *scratch) lagAndDelay(attrs pcommon.Map, pn string) {
	replay := spanattr.Str(attrs, semconv.AttrProjectionPhase) == semconv.PhaseReplay
	if v, ok := attrs.Get(semconv.AttrProjectionLagMs); ok {
		if lag, ok := spanattr.Num(v); ok {
			// Negative lag is clock skew between hosts: the event was
			// applied as soon as it could be.
			sc.obs.Value = math.Max(lag, 0)
			sc.set2(semconv.MetricAttrProjectionName, pn, semconv.MetricAttrEventType, spanattr.Str(attrs, semconv.AttrEventType))
			if replay {
				sc.observe(ReplayLag)
			} else {
				sc.observe(Lag)
			}
		} else {
			sc.n.Invalid++
		}
	}
	// A replay re-applies old events: its delay says nothing about how soon
	// a command's effect becomes visible.
	if replay {
		return
	}
	if v, ok := attrs.Get(semconv.AttrConsistencyDelayMs); ok {
		ct := spanattr.Str(attrs, semconv.AttrCommandType)
		delay, ok := spanattr.Num(v)
		if !ok || ct == "" {
			sc.n.Invalid++
			return
		}
		sc.obs.Value = math.Max(delay, 0)
		sc.set2(semconv.MetricAttrCommandType, ct, semconv.MetricAttrProjectionName, pn)
		sc.observe(Consistency)
	}
}

// lateApplies observes the joins projectionlag completed on this span: the lag and consistency delay
// of an apply span that went on before its producer or command arrived, keyed and counted as if that
// apply span had carried them (its service, projection and event type; its ids for the exemplar).
// Resource dimensions come from this span's resource.
func (sc *scratch) lateApplies(s ptrace.Span) {
	evs := s.Events()
	service := sc.serviceName
	for i := 0; i < evs.Len(); i++ {
		if ev := evs.At(i); ev.Name() == semconv.EventProjectionApplied {
			sc.lateApply(ev.Attributes(), service)
		}
	}
	sc.spanAttrs = s.Attributes()
	if sc.serviceName != service {
		sc.setService(service)
	}
}

func (sc *scratch) lateApply(attrs pcommon.Map, carrierService string) {
	pn := spanattr.Str(attrs, semconv.AttrProjectionName)
	traceID, spanID, ok := appliedIDs(attrs)
	_, hasLag := attrs.Get(semconv.AttrProjectionLagMs)
	_, hasDelay := attrs.Get(semconv.AttrConsistencyDelayMs)
	if pn == "" || !ok || !hasLag && !hasDelay {
		sc.n.Invalid++
		return
	}
	// Counted once, apart from the apply span itself (already counted): a retried batch brings the
	// same event again; a lag and a delay completed by two spans are two observations.
	if w := sc.o.opts.Dedupe; w != nil {
		marked := spanID
		marked[0] ^= 0x80
		if hasLag {
			marked[0] ^= 0x40
		}
		if hasDelay {
			marked[0] ^= 0x20
		}
		dup, evicted := w.Seen(traceID, marked, sc.wall)
		if evicted {
			sc.n.Evicted++
		}
		if dup {
			sc.n.Duplicates++
			return
		}
	}
	if svc := spanattr.Str(attrs, semconv.AttrServiceName); svc != "" && svc != sc.serviceName {
		sc.setService(svc)
	} else if svc == "" && sc.serviceName != carrierService {
		sc.setService(carrierService)
	}
	sc.spanAttrs = attrs
	sc.obs = series.Obs{Now: sc.now, Weight: sc.lateWeight(attrs), TraceID: traceID, SpanID: spanID}
	sc.lagAndDelay(attrs, pn)
}

// lateWeight weighs a late observation as its apply span would have been: by the apply trace's sampling
// threshold, which projectionlag carried along, else by the apply's service's assumed ratio.
func (sc *scratch) lateWeight(attrs pcommon.Map) uint64 {
	if !sc.o.opts.ExtrapolateSampledCounts {
		return 1
	}
	if ts := spanattr.Str(attrs, semconv.EventAttrAppliedTraceState); ts != "" {
		if w := sc.thresholdWeight(ts); w > 0 {
			return w
		}
	}
	if w, ok := sc.o.opts.AssumedWeights[sc.serviceName]; ok {
		return w
	}
	return 1
}

// appliedIDs reads the apply span's ids a cqrs.projection.applied event names.
func appliedIDs(attrs pcommon.Map) (pcommon.TraceID, pcommon.SpanID, bool) {
	var t pcommon.TraceID
	var s pcommon.SpanID
	ts, ss := spanattr.Str(attrs, semconv.EventAttrAppliedTraceID), spanattr.Str(attrs, semconv.EventAttrAppliedSpanID)
	if hex.DecodedLen(len(ts)) != len(t) || hex.DecodedLen(len(ss)) != len(s) {
		return t, s, false
	}
	if _, err := hex.Decode(t[:], []byte(ts)); err != nil {
		return t, s, false
	}
	if _, err := hex.Decode(s[:], []byte(ss)); err != nil {
		return t, s, false
	}
	return t, s, !t.IsEmpty() && !s.IsEmpty()
}

func (sc *scratch) checkpoint(s ptrace.Span, now time.Time) {
	attrs := s.Attributes()
	v, _ := attrs.Get(semconv.AttrProjectionPositionsBehind)
	pn := spanattr.ProjectionName(attrs)
	behind, ok := spanattr.Num(v)
	if pn == "" || !ok {
		sc.n.Invalid++
		return
	}
	behind = math.Max(behind, 0)
	sc.setObs(s, 1, behind)
	sc.set1(semconv.MetricAttrProjectionName, pn)
	sc.observe(Positions)

	smp := state.Sample{At: now, Behind: int64(behind)}
	if p, ok := attrs.Get(semconv.AttrESPosition); ok {
		if pos, ok := spanattr.Num(p); ok {
			smp.Pos, smp.HasPos = int64(pos), true
		}
	}
	created, dropped := sc.o.sink.Checkpoint(sc.buildKey(), sc.kb.ResourceLen(), sc, smp)
	if created {
		sc.n.Created++
	}
	if dropped {
		sc.n.Overflowed++
	}
}

// resolvePending counts the events of commands that reported none
// themselves from the writes beneath them in this batch (join.Climb, within
// the batch: a pipeline with projectionlag has them on the command already,
// from any batch).
func (sc *scratch) resolvePending(td ptrace.Traces) {
	rss := td.ResourceSpans()
	if sc.climb.Needed(nil) {
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					s := spans.At(k)
					kind := join.Passing
					if isCommand(s) {
						kind = join.Collecting
					} else if semconv.IsEventWrite(s.Name()) {
						kind = join.Covering
					}
					sc.climb.Span(join.NewKey(s.TraceID(), s.SpanID()), s.ParentSpanID(), kind)
				}
			}
		}
		sc.climb.Run(nil, maxAncestorDepth)
	}
	for i := range sc.pending {
		p := &sc.pending[i]
		var n int64
		if sc.climb.Needed(nil) {
			n = sc.climb.Produced(p.ordinal)
		}
		sc.setResource(rss.At(p.rs).Resource())
		sc.spanAttrs = p.span.Attributes()
		sc.setObs(p.span, p.weight, float64(n))
		sc.set1(semconv.MetricAttrCommandType, spanattr.Str(sc.spanAttrs, semconv.AttrCommandType))
		sc.observe(Events)
	}
}

func isCommand(s ptrace.Span) bool {
	attrs := s.Attributes()
	return spanattr.Str(attrs, semconv.AttrSide) == semconv.SideWrite && spanattr.Str(attrs, semconv.AttrCommandType) != ""
}
