package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"context"
	"math"
	"time"
	"unicode/utf8"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/key"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// maxAncestorDepth bounds the walk from an append span up to its command.
const maxAncestorDepth = 64

type kv struct{ k, v string }

type spanRef struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

const (
	notCommand   = -1
	countedCmd   = -2 // a command that reported its own events
	eventWrite   = -3 // a span that writes events: the appends beneath it are its own
	maxPooledLen = 1 << 16
)

type ancestor struct {
	parent  pcommon.SpanID
	pending int // index into scratch.pending, or notCommand / countedCmd / eventWrite
}

// pendingCmd is a command span without its own event count; its events are
// counted from the append spans beneath it once the whole batch is seen.
type pendingCmd struct {
	rs     int
	span   ptrace.Span
	weight uint64
	count  float64
}

type appendRef struct {
	trace  pcommon.TraceID
	parent pcommon.SpanID
	count  float64
}

// scratch is the per-call working state of ConsumeTraces. It is pooled so
// that, in the steady state, a batch allocates nothing: the key buffer, the
// observation, the pending lists and the ancestry index are all reused.
// It also implements series.Describer for the series a span creates.
type scratch struct {
	c  *spanMetricsConnector
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

	pending []pendingCmd
	appends []appendRef
	index   map[spanRef]ancestor

	noSide, invalid, overflowed, created int64
}

func newScratch(c *spanMetricsConnector) *scratch {
	return &scratch{c: c, index: make(map[spanRef]ancestor)}
}

// Describe implements series.Describer; it runs only when a series is new.
func (sc *scratch) Describe(res, attrs pcommon.Map) {
	c := sc.c
	res.PutStr(semconv.AttrServiceName, sc.serviceName)
	if c.instanceKey != "" {
		res.PutStr(c.instanceKey, c.instanceVal)
	}
	for _, k := range c.resDims {
		if v, ok := sc.resAttrs.Get(k); ok {
			v.CopyTo(res.PutEmpty(k))
		}
	}
	for i := 0; i < sc.nkv; i++ {
		if sc.kvs[i].v != "" {
			attrs.PutStr(sc.kvs[i].k, sc.kvs[i].v)
		}
	}
	for i := range c.dims {
		d := &c.dims[i]
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
	sc.serviceName = semconv.UnknownServiceName
	if v, ok := sc.resAttrs.Get(semconv.AttrServiceName); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
		sc.serviceName = v.Str()
	}
	sc.kb.Reset()
	sc.kb.Str(sc.serviceName)
	for _, k := range sc.c.resDims {
		if v, ok := sc.resAttrs.Get(k); ok {
			sc.kb.Value(v)
		} else {
			sc.kb.Absent()
		}
	}
	sc.kb.EndResource()
}

// maxValueLen bounds the attribute values the connector copies from spans
// (command/query/projection/event types), so one absurd value cannot make a
// series arbitrarily large.
const maxValueLen = 256

// clip cuts v to maxValueLen bytes at a rune boundary; no allocation.
func clip(v string) string {
	if len(v) <= maxValueLen {
		return v
	}
	n := maxValueLen
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}

func (sc *scratch) set1(k, v string) {
	sc.kvs[0] = kv{k, clip(v)}
	sc.nkv = 1
}

func (sc *scratch) set2(k1, v1, k2, v2 string) {
	sc.kvs[0] = kv{k1, clip(v1)}
	sc.kvs[1] = kv{k2, clip(v2)}
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
	for i := range sc.c.dims {
		if v, ok := sc.dimValue(sc.c.dims[i].Name); ok {
			sc.kb.Value(v)
		} else {
			sc.kb.Absent()
		}
	}
	return sc.kb.Bytes()
}

func (sc *scratch) observe(f family) {
	switch sc.c.stores[f].Observe(sc.buildKey(), sc.kb.ResourceLen(), sc, &sc.obs) {
	case series.Created:
		sc.created++
	case series.CreatedOverflow:
		sc.created++
		sc.overflowed++
	case series.Overflowed:
		sc.overflowed++
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

func (sc *scratch) consume(ctx context.Context, td ptrace.Traces) {
	now, nowTS := sc.c.nowTS()
	sc.now = nowTS
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sc.setResource(rs.Resource())
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sc.span(spans.At(k), i, now)
			}
		}
	}
	if len(sc.pending) > 0 {
		sc.resolvePending(td)
	}
	sc.report(ctx)
	// Drop references to the batch so pooled scratch does not pin it.
	clear(sc.pending)
	sc.pending = sc.pending[:0]
	sc.appends = sc.appends[:0]
	sc.spanAttrs = pcommon.Map{}
	sc.resAttrs = pcommon.Map{}
	sc.lastTS = ""
	// Pooled buffers keep the capacity of the largest batch seen; release
	// them after an unusually large one.
	if cap(sc.appends) > maxPooledLen {
		sc.appends = nil
	}
	if cap(sc.pending) > maxPooledLen {
		sc.pending = nil
	}
	if len(sc.index) > maxPooledLen {
		sc.index = make(map[spanRef]ancestor)
	}
}

func (sc *scratch) report(ctx context.Context) {
	t := sc.c.tel
	if sc.noSide > 0 {
		t.ConnectorSpanmetricsEsSpansWithoutSide.Add(ctx, sc.noSide)
	}
	if sc.invalid > 0 {
		t.ConnectorSpanmetricsEsSpansInvalid.Add(ctx, sc.invalid)
	}
	if sc.overflowed > 0 {
		t.ConnectorSpanmetricsEsOverflowDataPoints.Add(ctx, sc.overflowed)
	}
	if sc.created > 0 {
		t.ConnectorSpanmetricsEsActiveSeries.Add(ctx, sc.created)
	}
	sc.noSide, sc.invalid, sc.overflowed, sc.created = 0, 0, 0, 0
}

func strAttr(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
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
			if n, ok := numeric(v); ok && n >= 0 {
				sc.appends = append(sc.appends, appendRef{trace: s.TraceID(), parent: s.ParentSpanID(), count: n})
			}
		}
	}
	if semconv.IsCheckpointUpdate(name) {
		sc.checkpoint(s, now)
		return
	}
	sv, ok := attrs.Get(semconv.AttrSide)
	if !ok {
		sc.noSide++
		return
	}
	switch sv.Str() {
	case semconv.SideWrite:
		if ct := strAttr(attrs, semconv.AttrCommandType); ct != "" {
			sc.command(s, ct, rs)
		}
	case semconv.SideRead:
		if qt := strAttr(attrs, semconv.AttrQueryType); qt != "" {
			sc.query(s, qt)
		}
	case semconv.SideProjection:
		if semconv.IsProjectionApply(name) && !isNestedApply(attrs) {
			sc.apply(s)
		}
	}
}

// isNestedApply: cqrsside marked the apply span as running inside a
// subscription runner's apply span, which is the one counted.
func isNestedApply(attrs pcommon.Map) bool {
	v, ok := attrs.Get(semconv.AttrProjectionNested)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool()
}

// weight is 1, or the span's adjusted count from the OpenTelemetry sampling
// threshold in its W3C tracestate (ot=th:...), rounded to an integer.
func (sc *scratch) weight(s ptrace.Span) uint64 {
	if !sc.c.cfg.ExtrapolateSampledCounts {
		return 1
	}
	ts := s.TraceState().AsRaw()
	if ts == "" {
		return 1
	}
	// Spans of one trace share their tracestate: parse once per run.
	if ts == sc.lastTS {
		return sc.lastW
	}
	w := uint64(1)
	if w3c, err := sampling.NewW3CTraceState(ts); err == nil {
		if th, ok := w3c.OTelValue().TValueThreshold(); ok {
			if adj := th.AdjustedCount(); adj >= 1 && adj < math.MaxUint32 {
				w = uint64(math.Round(adj))
			}
		}
	} else {
		sc.invalid++
	}
	sc.lastTS, sc.lastW = ts, w
	return w
}

func (sc *scratch) duration(s ptrace.Span) float64 {
	d, ok := spanDurationMs(s)
	if !ok {
		// Recorded as 0 so the call is still counted; the bad timestamps are.
		sc.invalid++
	}
	return d
}

func (sc *scratch) command(s ptrace.Span, ct string, rs int) {
	w := sc.weight(s)
	sc.setObs(s, w, sc.duration(s))
	sc.set2(semconv.MetricAttrCommandType, ct, semconv.MetricAttrCommandStatus, status(s))
	sc.observe(famCommand)

	// A failed command produced no events, whatever it reports or stored
	// before failing: only successful commands count.
	if s.Status().Code() == ptrace.StatusCodeError {
		return
	}
	if n, ok := sc.ownEvents(s); ok {
		sc.obs.Value = n
		sc.set1(semconv.MetricAttrCommandType, ct)
		sc.observe(famEvents)
		return
	}
	sc.pending = append(sc.pending, pendingCmd{rs: rs, span: s, weight: w})
}

// ownEvents is the command span's own event count: cqrs.events.count, else
// its domain_event_produced span events.
func (sc *scratch) ownEvents(s ptrace.Span) (float64, bool) {
	if v, ok := s.Attributes().Get(semconv.AttrEventsCount); ok {
		if n, ok := numeric(v); ok && n >= 0 {
			return n, true
		}
		sc.invalid++
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
	sc.observe(famQuery)
	if v, ok := s.Attributes().Get(semconv.AttrQueryResultCount); ok {
		if n, ok := numeric(v); ok && n >= 0 {
			sc.obs.Value = n
			sc.obs.SpanID = pcommon.SpanID{}
			sc.set1(semconv.MetricAttrQueryType, qt)
			sc.observe(famResultSize)
		} else {
			sc.invalid++
		}
	}
}

func projectionName(attrs pcommon.Map) string {
	if pn := strAttr(attrs, semconv.AttrProjectionName); pn != "" {
		return pn
	}
	return strAttr(attrs, semconv.AttrESProjectionName)
}

func (sc *scratch) apply(s ptrace.Span) {
	attrs := s.Attributes()
	pn := projectionName(attrs)
	if pn == "" {
		sc.invalid++
		return
	}
	w := sc.weight(s)
	sc.setObs(s, w, sc.duration(s))
	sc.set2(semconv.MetricAttrProjectionName, pn, semconv.MetricAttrStatus, status(s))
	sc.observe(famProjection)

	replay := strAttr(attrs, semconv.AttrProjectionPhase) == semconv.PhaseReplay
	if v, ok := attrs.Get(semconv.AttrProjectionLagMs); ok {
		if lag, ok := numeric(v); ok {
			// Negative lag is clock skew between hosts: the event was
			// applied as soon as it could be.
			sc.obs.Value = math.Max(lag, 0)
			sc.set2(semconv.MetricAttrProjectionName, pn, semconv.MetricAttrEventType, strAttr(attrs, semconv.AttrEventType))
			if replay {
				sc.observe(famReplayLag)
			} else {
				sc.observe(famLag)
			}
		} else {
			sc.invalid++
		}
	}
	// A replay re-applies old events: its delay says nothing about how soon
	// a command's effect becomes visible.
	if replay {
		return
	}
	if v, ok := attrs.Get(semconv.AttrConsistencyDelayMs); ok {
		ct := strAttr(attrs, semconv.AttrCommandType)
		delay, ok := numeric(v)
		if !ok || ct == "" {
			sc.invalid++
			return
		}
		sc.obs.Value = math.Max(delay, 0)
		sc.set2(semconv.MetricAttrCommandType, ct, semconv.MetricAttrProjectionName, pn)
		sc.observe(famConsistency)
	}
}

func (sc *scratch) checkpoint(s ptrace.Span, now time.Time) {
	attrs := s.Attributes()
	v, ok := attrs.Get(semconv.AttrProjectionPositionsBehind)
	if !ok {
		return
	}
	pn := projectionName(attrs)
	behind, ok := numeric(v)
	if pn == "" || !ok {
		sc.invalid++
		return
	}
	behind = math.Max(behind, 0)
	sc.setObs(s, 1, behind)
	sc.set1(semconv.MetricAttrProjectionName, pn)
	sc.observe(famPositions)

	smp := state.Sample{At: now, Behind: int64(behind)}
	if p, ok := attrs.Get(semconv.AttrESPosition); ok {
		if pos, ok := numeric(p); ok {
			smp.Pos, smp.HasPos = int64(pos), true
		}
	}
	created, dropped := sc.c.projStates.Observe(sc.buildKey(), sc.kb.ResourceLen(), sc, smp)
	if created {
		sc.created++
	}
	if dropped {
		sc.overflowed++
	}
}

// resolvePending counts the events of commands that reported none
// themselves from the append spans beneath them in this batch.
func (sc *scratch) resolvePending(td ptrace.Traces) {
	rss := td.ResourceSpans()
	if len(sc.appends) > 0 {
		clear(sc.index)
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					s := spans.At(k)
					a := ancestor{parent: s.ParentSpanID(), pending: notCommand}
					if isCommand(s) {
						a.pending = countedCmd
					} else if semconv.IsEventWrite(s.Name()) {
						a.pending = eventWrite
					}
					sc.index[spanRef{s.TraceID(), s.SpanID()}] = a
				}
			}
		}
		for i := range sc.pending {
			s := sc.pending[i].span
			r := spanRef{s.TraceID(), s.SpanID()}
			a := sc.index[r]
			a.pending = i
			sc.index[r] = a
		}
		for _, ap := range sc.appends {
			cur := ap.parent
			for depth := 0; depth < maxAncestorDepth && !cur.IsEmpty(); depth++ {
				a, ok := sc.index[spanRef{ap.trace, cur}]
				if !ok || a.pending == countedCmd || a.pending == eventWrite {
					// A write above this one (the runtime's store append under its repository.save)
					// carries the same events: only the outermost counts.
					break
				}
				if a.pending >= 0 {
					sc.pending[a.pending].count += ap.count
					break
				}
				cur = a.parent
			}
		}
	}
	for i := range sc.pending {
		p := &sc.pending[i]
		sc.setResource(rss.At(p.rs).Resource())
		sc.spanAttrs = p.span.Attributes()
		sc.setObs(p.span, p.weight, p.count)
		sc.set1(semconv.MetricAttrCommandType, strAttr(sc.spanAttrs, semconv.AttrCommandType))
		sc.observe(famEvents)
	}
}

func isCommand(s ptrace.Span) bool {
	attrs := s.Attributes()
	return strAttr(attrs, semconv.AttrSide) == semconv.SideWrite && strAttr(attrs, semconv.AttrCommandType) != ""
}
