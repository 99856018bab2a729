// Package spangen generates realistic batches of spans shaped like the two seed
// runtimes (seed 000: command./query./projection. spans on the cqrs.* scopes;
// seed 001: the eventsource runtime's repository, event store, bus, projection
// and checkpoint spans). Every benchmark and the load generator use it, so the
// anchor (contrib) and the candidate (otelcol-es) always see the same stream.
//
// Batches hold whole traces: a trace's spans are never split across batches,
// except that a seed-001 consume span is the W3C child of a publish span sent
// in an earlier trace, as it is in a real deployment.
package spangen

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Config holds the generator's knobs.
type Config struct {
	// Services is the number of distinct service.name values.
	Services int
	// CommandTypes and QueryTypes are the numbers of distinct command and query types.
	CommandTypes int
	QueryTypes   int
	// Projections is the number of distinct projection names.
	Projections int
	// AggregateIDs is the number of distinct aggregate ids.
	AggregateIDs int
	// ErrorRatio is the share of command, query and projection traces that fail.
	ErrorRatio float64
	// LinkShare is the share of projection apply spans that carry only a link
	// to the producing span (their lag must be joined by projectionlag); the
	// others carry the event's timestamp (and, in the CQRS conventions' style, a reported lag).
	LinkShare float64
	// EventsourceShare is the share of traces shaped like the eventsource
	// runtime's (repository, store and bus spans); the rest follow the CQRS
	// conventions (command/query/projection spans).
	EventsourceShare float64
	// BatchSpans is the minimum number of spans per batch (whole traces are
	// added until it is reached, so a batch may exceed it by a few spans).
	BatchSpans int
	// Annotate adds what cqrsside and projectionlag would add (cqrs.side,
	// cqrs.side.source, normalised types, lag, phase, positions behind), for
	// benchmarking the connector alone.
	Annotate bool
	// LateShare is the share of write traces (commands, saves) held back and
	// sent LateBy later, in a batch of their own time: an SDK in the writer's
	// process flushes on its own schedule, so its spans often reach the
	// collector after the consumers' (the projections apply those events
	// before their producers arrive).
	LateShare float64
	LateBy    time.Duration
	// Seed makes the stream reproducible.
	Seed uint64
	// Now, when set, stamps traces with the wall clock (load generator);
	// otherwise a virtual clock advancing 50µs per trace is used.
	Now func() time.Time
}

// DefaultConfig is the stream every benchmark uses unless it says otherwise.
func DefaultConfig() Config {
	return Config{
		Services:         4,
		CommandTypes:     20,
		QueryTypes:       20,
		Projections:      6,
		AggregateIDs:     10_000,
		ErrorRatio:       0.02,
		LinkShare:        0.5,
		EventsourceShare: 0.5,
		BatchSpans:       1000,
		Seed:             1,
	}
}

// producedEvent is an event appended by a write trace, waiting to be applied
// by a projection trace.
type producedEvent struct {
	traceID     pcommon.TraceID
	appendSpan  pcommon.SpanID // the append (seed 001) or command (seed 000) span
	publishSpan pcommon.SpanID
	end         time.Time
	commandType string // empty for seed-001 writes, which carry no command type
	eventType   string
	aggregateID string
	position    int64
}

// Generator produces batches. It is not safe for concurrent use.
type Generator struct {
	cfg          Config
	rng          *rand.Rand
	clock        time.Time
	position     int64
	eventID      uint64
	services     []string
	instances    []string
	commandTypes []string
	eventTypes   []string
	queryTypes   []string
	projections  []string
	aggTypes     []string
	aggCache     []string
	pending      []producedEvent // FIFO of events not yet projected
	checkpoint   []int64         // per projection

	// per-batch assembly
	td     ptrace.Traces
	scopes map[scopeKey]ptrace.SpanSlice
	spans  int
	counts Counts

	late []lateTrace // write traces held back (LateShare), oldest first
}

// lateTrace is a write trace held back until release.
type lateTrace struct {
	release time.Time
	td      ptrace.Traces
	spans   int
	counts  Counts
}

// Counts is a batch's ground truth: what otelcol-es must count for it.
type Counts struct {
	// Spans is every span in the batch.
	Spans int64 `json:"spans"`
	// Commands are the seed-000 command spans (cqrs.command.total), failed ones included.
	Commands int64 `json:"commands"`
	// Queries are the seed-000 query spans (cqrs.query.total).
	Queries int64 `json:"queries"`
	// Applies are the projection apply spans of both seeds (cqrs.projection.total).
	Applies int64 `json:"applies"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Spans += o.Spans
	c.Commands += o.Commands
	c.Queries += o.Queries
	c.Applies += o.Applies
}

type scopeKey struct {
	service int
	scope   string
}

const maxPending = 4096

// eventStoreDB is the db.name of the one event store every generated service
// appends to and checkpoints in: global positions are one sequence, and
// projectionlag keys its head position by db.name, so another application's
// stream (without it, or with another name) never shares the head.
const eventStoreDB = "events"

// New returns a generator for cfg; zero knobs take DefaultConfig's values.
func New(cfg Config) *Generator {
	d := DefaultConfig()
	if cfg.Services <= 0 {
		cfg.Services = d.Services
	}
	if cfg.CommandTypes <= 0 {
		cfg.CommandTypes = d.CommandTypes
	}
	if cfg.QueryTypes <= 0 {
		cfg.QueryTypes = d.QueryTypes
	}
	if cfg.Projections <= 0 {
		cfg.Projections = d.Projections
	}
	if cfg.AggregateIDs <= 0 {
		cfg.AggregateIDs = d.AggregateIDs
	}
	if cfg.BatchSpans <= 0 {
		cfg.BatchSpans = d.BatchSpans
	}
	g := &Generator{
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		clock:      time.Now().Truncate(time.Second),
		checkpoint: make([]int64, cfg.Projections),
	}
	for i := range cfg.Services {
		g.services = append(g.services, name(serviceNames, i, "service-"))
		g.instances = append(g.instances, "instance-"+strconv.Itoa(i))
	}
	for i := range cfg.CommandTypes {
		verb, noun := commandVerbs[i%len(commandVerbs)], nouns[(i/len(commandVerbs))%len(nouns)]
		typ := verb + noun
		if i >= len(commandVerbs)*len(nouns) {
			typ += strconv.Itoa(i)
		}
		g.commandTypes = append(g.commandTypes, typ)
		g.eventTypes = append(g.eventTypes, noun+eventSuffix[i%len(commandVerbs)])
	}
	for i := range cfg.QueryTypes {
		typ := "Get" + nouns[i%len(nouns)] + queryShapes[(i/len(nouns))%len(queryShapes)]
		if i >= len(nouns)*len(queryShapes) {
			typ += strconv.Itoa(i)
		}
		g.queryTypes = append(g.queryTypes, typ)
	}
	for i := range cfg.Projections {
		g.projections = append(g.projections, name(projectionNames, i, "projection_"))
	}
	g.aggTypes = nouns
	// Aggregate ids are formatted once when the set is small enough to cache.
	if cfg.AggregateIDs <= 1<<17 {
		g.aggCache = make([]string, cfg.AggregateIDs)
		for i := range g.aggCache {
			g.aggCache[i] = "agg-" + strconv.Itoa(i)
		}
	}
	return g
}

func name(list []string, i int, prefix string) string {
	if i < len(list) {
		return list[i]
	}
	return prefix + strconv.Itoa(i)
}

var (
	serviceNames    = []string{"order-service", "inventory-service", "billing-service", "shipping-service", "customer-service", "catalog-service"}
	commandVerbs    = []string{"Create", "Update", "Cancel", "Approve", "Ship"}
	eventSuffix     = []string{"Created", "Updated", "Cancelled", "Approved", "Shipped"}
	nouns           = []string{"Order", "Invoice", "Shipment", "Customer", "Product", "Payment", "Cart", "Refund"}
	queryShapes     = []string{"ById", "List", "Summary"}
	projectionNames = []string{"order_summary", "customer_orders", "inventory_levels", "billing_ledger", "shipping_board", "search_index"}
)

// Batch returns the next batch (at least Config.BatchSpans spans).
func (g *Generator) Batch() ptrace.Traces {
	td, _ := g.BatchCounts()
	return td
}

// BatchCounts returns the next batch and its ground truth.
func (g *Generator) BatchCounts() (ptrace.Traces, Counts) {
	g.td = ptrace.NewTraces()
	g.scopes = make(map[scopeKey]ptrace.SpanSlice, 16)
	g.spans, g.counts = 0, Counts{}
	g.releaseLate()
	for g.spans < g.cfg.BatchSpans {
		g.trace()
	}
	td, c := g.td, g.counts
	c.Spans = int64(g.spans)
	g.td, g.scopes = ptrace.Traces{}, nil
	return td, c
}

// ServiceNames are the service.name values the generator uses.
func (g *Generator) ServiceNames() []string { return append([]string(nil), g.services...) }

// Batches returns n consecutive batches.
func (g *Generator) Batches(n int) []ptrace.Traces {
	out := make([]ptrace.Traces, n)
	for i := range out {
		out[i] = g.Batch()
	}
	return out
}

// write generates a write trace, into a held-back batch of its own for a
// LateShare of them.
func (g *Generator) write(gen func()) {
	if g.cfg.LateShare <= 0 || g.rng.Float64() >= g.cfg.LateShare {
		gen()
		return
	}
	td, scopes, spans, counts := g.td, g.scopes, g.spans, g.counts
	g.td, g.scopes, g.spans, g.counts = ptrace.NewTraces(), make(map[scopeKey]ptrace.SpanSlice, 4), 0, Counts{}
	gen()
	g.late = append(g.late, lateTrace{release: g.peekNow().Add(g.cfg.LateBy), td: g.td, spans: g.spans, counts: g.counts})
	g.td, g.scopes, g.spans, g.counts = td, scopes, spans, counts
}

// releaseLate adds the held-back traces whose time has come to the batch.
func (g *Generator) releaseLate() {
	now := g.peekNow()
	n := 0
	for _, l := range g.late {
		if l.release.After(now) {
			break
		}
		l.td.ResourceSpans().MoveAndAppendTo(g.td.ResourceSpans())
		g.spans += l.spans
		g.counts.Add(l.counts)
		n++
	}
	if n > 0 {
		clear(g.late[:n])
		g.late = g.late[n:]
	}
}

// peekNow is the generator's time, without advancing the virtual clock.
func (g *Generator) peekNow() time.Time {
	if g.cfg.Now != nil {
		return g.cfg.Now()
	}
	return g.clock
}

func (g *Generator) now() time.Time {
	if g.cfg.Now != nil {
		return g.cfg.Now()
	}
	g.clock = g.clock.Add(50 * time.Microsecond)
	return g.clock
}

func (g *Generator) trace() {
	if g.rng.Float64() < g.cfg.EventsourceShare {
		switch r := g.rng.Float64(); {
		case r < 0.3:
			g.write(g.eventsourceSave)
		case r < 0.6:
			g.eventsourceLoad()
		default:
			if !g.eventsourceConsume() {
				g.write(g.eventsourceSave)
			}
		}
		return
	}
	switch r := g.rng.Float64(); {
	case r < 0.35:
		g.write(g.cqrsCommand)
	case r < 0.7:
		g.cqrsQuery()
	default:
		if !g.cqrsProjection() {
			g.write(g.cqrsCommand)
		}
	}
}

// span appends a span to the (service, scope) scope spans of the batch.
func (g *Generator) span(service int, scope string) ptrace.Span {
	k := scopeKey{service, scope}
	ss, ok := g.scopes[k]
	if !ok {
		rs := g.td.ResourceSpans().AppendEmpty()
		ra := rs.Resource().Attributes()
		ra.EnsureCapacity(5)
		ra.PutStr(semconv.AttrServiceName, g.services[service])
		ra.PutStr(semconv.AttrServiceInstanceID, g.instances[service])
		ra.PutStr("telemetry.sdk.name", "opentelemetry")
		ra.PutStr("telemetry.sdk.language", "go")
		ra.PutStr("deployment.environment.name", "bench")
		sc := rs.ScopeSpans().AppendEmpty()
		sc.Scope().SetName(scope)
		ss = sc.Spans()
		g.scopes[k] = ss
	}
	g.spans++
	return ss.AppendEmpty()
}

func (g *Generator) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	binary.LittleEndian.PutUint64(id[:8], g.rng.Uint64())
	binary.LittleEndian.PutUint64(id[8:], g.rng.Uint64())
	return id
}

func (g *Generator) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	binary.LittleEndian.PutUint64(id[:], g.rng.Uint64()|1)
	return id
}

func (g *Generator) ms(lo, hi float64) time.Duration {
	// log-uniform: most spans are short, a few are slow.
	v := lo * math.Pow(hi/lo, g.rng.Float64())
	return time.Duration(v * float64(time.Millisecond))
}

func (g *Generator) aggregateID() string {
	i := g.rng.IntN(g.cfg.AggregateIDs)
	if g.aggCache != nil {
		return g.aggCache[i]
	}
	return "agg-" + strconv.Itoa(i)
}

func (g *Generator) failed() bool { return g.rng.Float64() < g.cfg.ErrorRatio }

// fill sets the identity and timing of a span.
func fill(s ptrace.Span, name string, kind ptrace.SpanKind, tid pcommon.TraceID, sid, parent pcommon.SpanID, start, end time.Time) {
	s.SetName(name)
	s.SetKind(kind)
	s.SetTraceID(tid)
	s.SetSpanID(sid)
	if !parent.IsEmpty() {
		s.SetParentSpanID(parent)
	}
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
}

func setError(s ptrace.Span, errType string) {
	s.Status().SetCode(ptrace.StatusCodeError)
	s.Status().SetMessage(errType)
	s.Attributes().PutStr(semconv.AttrErrorType, errType)
}

func (g *Generator) annotate(s ptrace.Span, side, source string) {
	if !g.cfg.Annotate {
		return
	}
	s.Attributes().PutStr(semconv.AttrSide, side)
	s.Attributes().PutStr(semconv.AttrSideSource, source)
}

func (g *Generator) storeName() string {
	if g.rng.IntN(2) == 0 {
		return semconv.EventStoreSQLite
	}
	return semconv.EventStorePostgreSQL
}

// writeTail emits repository.load -> get_events, repository.save -> append_events
// and event_bus.publish under parent; it records the produced events.
func (g *Generator) writeTail(svc int, tid pcommon.TraceID, parent pcommon.SpanID, start time.Time,
	aggID, aggType, commandType string, eventTypes []string, side string,
) (end time.Time, appendSpan pcommon.SpanID) {
	store := g.storeName()
	t := start.Add(100 * time.Microsecond)

	load, loadID := g.span(svc, semconv.ScopeRuntime), g.spanID()
	loadEnd := t.Add(g.ms(0.3, 20))
	fill(load, semconv.SpanRepositoryLoad, ptrace.SpanKindInternal, tid, loadID, parent, t, loadEnd)
	load.Attributes().PutStr(semconv.AttrESAggregateID, aggID)
	load.Attributes().PutStr(semconv.AttrESAggregateType, aggType)
	g.annotate(load, side, semconv.SideSourceInherited)

	get := g.span(svc, semconv.ScopeRuntime)
	fill(get, store+semconv.SpanSuffixGetEvents, ptrace.SpanKindClient, tid, g.spanID(), loadID, t.Add(50*time.Microsecond), loadEnd.Add(-50*time.Microsecond))
	ga := get.Attributes()
	ga.PutStr(semconv.AttrDBSystem, store)
	ga.PutStr(semconv.AttrESAggregateID, aggID)
	ga.PutInt(semconv.AttrESFromVersion, 0)
	ga.PutInt(semconv.AttrESEventCount, int64(g.rng.IntN(20)))
	g.annotate(get, side, semconv.SideSourceInherited)

	t = loadEnd.Add(200 * time.Microsecond)
	save, saveID := g.span(svc, semconv.ScopeRuntime), g.spanID()
	saveEnd := t.Add(g.ms(0.5, 40))
	fill(save, semconv.SpanRepositorySave, ptrace.SpanKindInternal, tid, saveID, parent, t, saveEnd)
	save.Attributes().PutStr(semconv.AttrESAggregateID, aggID)
	save.Attributes().PutStr(semconv.AttrESAggregateType, aggType)
	save.Attributes().PutInt(semconv.AttrESEventCount, int64(len(eventTypes)))
	g.annotate(save, semconv.SideWrite, semconv.SideSourceConvention)

	app, appID := g.span(svc, semconv.ScopeRuntime), g.spanID()
	appEnd := saveEnd.Add(-100 * time.Microsecond)
	fill(app, store+semconv.SpanSuffixAppendEvents, ptrace.SpanKindClient, tid, appID, saveID, t.Add(50*time.Microsecond), appEnd)
	g.position += int64(len(eventTypes))
	aa := app.Attributes()
	aa.EnsureCapacity(9)
	aa.PutStr(semconv.AttrDBSystem, store)
	aa.PutStr(semconv.AttrDBName, eventStoreDB)
	aa.PutStr(semconv.AttrESAggregateID, aggID)
	aa.PutStr(semconv.AttrESAggregateType, aggType)
	aa.PutInt(semconv.AttrESExpectedVersion, int64(g.rng.IntN(50)))
	aa.PutInt(semconv.AttrESEventCount, int64(len(eventTypes)))
	aa.PutInt(semconv.AttrESPosition, g.position)
	g.annotate(app, semconv.SideWrite, semconv.SideSourceConvention)

	t = saveEnd.Add(100 * time.Microsecond)
	pub, pubID := g.span(svc, semconv.ScopeRuntime), g.spanID()
	end = t.Add(g.ms(0.2, 10))
	fill(pub, semconv.SpanBusPublish, ptrace.SpanKindProducer, tid, pubID, parent, t, end)
	pa := pub.Attributes()
	pa.PutStr(semconv.AttrMessagingSystem, "kafka")
	pa.PutInt(semconv.AttrESEventCount, int64(len(eventTypes)))
	pa.PutStr(semconv.AttrESEventType, eventTypes[0])
	pa.PutStr(semconv.AttrESAggregateID, aggID)
	pa.PutInt(semconv.AttrESPosition, g.position)
	g.annotate(pub, semconv.SideWrite, semconv.SideSourceConvention)

	for i, et := range eventTypes {
		if len(g.pending) >= maxPending {
			g.pending = g.pending[1:]
		}
		g.pending = append(g.pending, producedEvent{
			traceID: tid, appendSpan: appID, publishSpan: pubID, end: appEnd,
			commandType: commandType, eventType: et, aggregateID: aggID,
			position: g.position - int64(len(eventTypes)-1-i),
		})
	}
	return end, appID
}

// cqrsCommand: command.<Type> (cqrs.write) with domain_event_produced events,
// over the runtime's repository / store / bus spans.
func (g *Generator) cqrsCommand() {
	g.counts.Commands++
	svc := g.rng.IntN(len(g.services))
	ci := g.rng.IntN(len(g.commandTypes))
	typ, aggID, aggType := g.commandTypes[ci], g.aggregateID(), g.aggTypes[ci%len(g.aggTypes)]
	tid, cmdID := g.traceID(), g.spanID()
	start := g.now()
	cmd := g.span(svc, semconv.ScopeWrite)
	nEvents := 1 + g.rng.IntN(2)
	evs := make([]string, nEvents)
	for i := range evs {
		evs[i] = g.eventTypes[(ci+i)%len(g.eventTypes)]
	}
	fail := g.failed()
	var end time.Time
	if fail {
		end = start.Add(g.ms(0.5, 30))
	} else {
		end, _ = g.writeTail(svc, tid, cmdID, start, aggID, aggType, typ, evs, semconv.SideWrite)
		end = end.Add(100 * time.Microsecond)
	}
	fill(cmd, semconv.SpanPrefixCommand+typ, ptrace.SpanKindInternal, tid, cmdID, pcommon.SpanID{}, start, end)
	a := cmd.Attributes()
	a.EnsureCapacity(6)
	a.PutStr(semconv.AttrSide, semconv.SideWrite)
	a.PutStr(semconv.AttrCommandType, typ)
	a.PutStr(semconv.AttrAggregateID, aggID)
	if fail {
		setError(cmd, "ConcurrencyError")
		a.PutInt(semconv.AttrEventsCount, 0)
	} else {
		a.PutInt(semconv.AttrEventsCount, int64(nEvents))
		for _, et := range evs {
			ev := cmd.Events().AppendEmpty()
			ev.SetName(semconv.EventDomainEventProduced)
			ev.SetTimestamp(pcommon.NewTimestampFromTime(end))
			ev.Attributes().PutStr(semconv.EventAttrEventType, et)
		}
	}
	if g.cfg.Annotate {
		a.PutStr(semconv.AttrSideSource, semconv.SideSourceAttribute)
		a.PutStr(semconv.AttrAggregateType, aggType)
	}
}

// cqrsQuery: query.<Type> (cqrs.read) over an uninstrumented read-model
// span and a database client span.
func (g *Generator) cqrsQuery() {
	g.counts.Queries++
	svc := g.rng.IntN(len(g.services))
	typ := g.queryTypes[g.rng.IntN(len(g.queryTypes))]
	tid, qID := g.traceID(), g.spanID()
	start := g.now()
	end := start.Add(g.ms(0.5, 200))
	q := g.span(svc, semconv.ScopeRead)
	fill(q, semconv.SpanPrefixQuery+typ, ptrace.SpanKindInternal, tid, qID, pcommon.SpanID{}, start, end)
	a := q.Attributes()
	a.PutStr(semconv.AttrSide, semconv.SideRead)
	a.PutStr(semconv.AttrQueryType, typ)
	fail := g.failed()
	if fail {
		setError(q, "NotFound")
	} else {
		a.PutInt(semconv.AttrQueryResultCount, int64(g.rng.IntN(100)))
	}
	if g.cfg.Annotate {
		a.PutStr(semconv.AttrSideSource, semconv.SideSourceAttribute)
	}

	rm, rmID := g.span(svc, "read_model"), g.spanID()
	fill(rm, "read_model.find", ptrace.SpanKindInternal, tid, rmID, qID, start.Add(50*time.Microsecond), end.Add(-50*time.Microsecond))
	rm.Attributes().PutStr("read_model.name", g.projections[g.rng.IntN(len(g.projections))])
	g.annotate(rm, semconv.SideRead, semconv.SideSourceInherited)

	db := g.span(svc, "database/sql")
	fill(db, "SELECT", ptrace.SpanKindClient, tid, g.spanID(), rmID, start.Add(100*time.Microsecond), end.Add(-100*time.Microsecond))
	db.Attributes().PutStr(semconv.AttrDBSystem, semconv.EventStorePostgreSQL)
	db.Attributes().PutStr(semconv.AttrDBOperation, "SELECT")
	g.annotate(db, semconv.SideRead, semconv.SideSourceInherited)
}

func (g *Generator) nextEvent() (producedEvent, bool) {
	if len(g.pending) == 0 {
		return producedEvent{}, false
	}
	e := g.pending[0]
	g.pending = g.pending[1:]
	return e, true
}

// applyAttrs sets what a projection apply span carries: either only a link to
// the producing span, or the event's timestamp and (the CQRS conventions) a reported lag.
func (g *Generator) applyAttrs(s ptrace.Span, e producedEvent, start time.Time, cqrsConventions bool) {
	a := s.Attributes()
	lag := float64(start.Sub(e.end)) / float64(time.Millisecond)
	if g.rng.Float64() < g.cfg.LinkShare {
		l := s.Links().AppendEmpty()
		l.SetTraceID(e.traceID)
		l.SetSpanID(e.appendSpan)
		if g.cfg.Annotate {
			a.PutDouble(semconv.AttrProjectionLagMs, lag)
			a.PutStr(semconv.AttrProjectionLagSource, semconv.LagSourceLink)
			if e.commandType != "" {
				a.PutDouble(semconv.AttrConsistencyDelayMs, lag+1)
				a.PutStr(semconv.AttrCommandType, e.commandType)
			}
		}
	} else {
		a.PutInt(semconv.AttrESEventTimestamp, e.end.UnixMilli())
		if cqrsConventions {
			a.PutDouble(semconv.AttrProjectionLagMs, lag)
		}
		if g.cfg.Annotate {
			if !cqrsConventions {
				a.PutDouble(semconv.AttrProjectionLagMs, lag)
			}
			src := semconv.LagSourceEventTimestamp
			if cqrsConventions {
				src = semconv.LagSourceReported
			}
			a.PutStr(semconv.AttrProjectionLagSource, src)
		}
	}
	a.PutStr(semconv.AttrSubscriptionPhase, semconv.PhaseValueLive)
	if g.cfg.Annotate {
		a.PutStr(semconv.AttrProjectionPhase, semconv.PhaseLive)
	}
}

func (g *Generator) checkpointSpan(svc int, tid pcommon.TraceID, parent pcommon.SpanID, pi int, pos int64, t time.Time) {
	g.checkpoint[pi] = pos
	cp := g.span(svc, semconv.ScopeRuntime)
	fill(cp, semconv.SpanCheckpointUpdate, ptrace.SpanKindInternal, tid, g.spanID(), parent, t, t.Add(g.ms(0.1, 5)))
	a := cp.Attributes()
	a.PutStr(semconv.AttrESProjectionName, g.projections[pi])
	a.PutStr(semconv.AttrDBName, eventStoreDB)
	a.PutInt(semconv.AttrESPosition, pos)
	a.PutStr(semconv.AttrSubscriptionPhase, semconv.PhaseValueLive)
	g.annotate(cp, semconv.SideProjection, semconv.SideSourceConvention)
	if g.cfg.Annotate {
		a.PutInt(semconv.AttrProjectionPositionsBehind, max(0, g.position-pos))
		a.PutStr(semconv.AttrProjectionPhase, semconv.PhaseLive)
	}
}

// cqrsProjection: projection.<name> (cqrs.projection) applying one event,
// then the checkpoint update.
func (g *Generator) cqrsProjection() bool {
	e, ok := g.nextEvent()
	if !ok {
		return false
	}
	g.counts.Applies++
	svc := g.rng.IntN(len(g.services))
	pi := g.rng.IntN(len(g.projections))
	tid, pID := g.traceID(), g.spanID()
	start := e.end.Add(g.ms(1, 500))
	end := start.Add(g.ms(0.2, 20))
	p := g.span(svc, semconv.ScopeProjection)
	fill(p, semconv.SpanPrefixProjection+g.projections[pi], ptrace.SpanKindInternal, tid, pID, pcommon.SpanID{}, start, end)
	a := p.Attributes()
	a.EnsureCapacity(12)
	a.PutStr(semconv.AttrSide, semconv.SideProjection)
	a.PutStr(semconv.AttrProjectionName, g.projections[pi])
	a.PutStr(semconv.AttrEventType, e.eventType)
	a.PutStr(semconv.AttrEventAggregateID, e.aggregateID)
	g.eventID++
	a.PutStr(semconv.AttrESEventID, "evt-"+strconv.FormatUint(g.eventID, 10))
	a.PutInt(semconv.AttrESPosition, e.position)
	g.applyAttrs(p, e, start, true)
	if g.failed() {
		setError(p, "ProjectionError")
		a.PutStr(semconv.AttrProjectionStatus, semconv.ProjectionStatusFailed)
	} else {
		a.PutStr(semconv.AttrProjectionStatus, semconv.ProjectionStatusApplied)
	}
	if g.cfg.Annotate {
		a.PutStr(semconv.AttrSideSource, semconv.SideSourceAttribute)
	}
	g.checkpointSpan(svc, tid, pID, pi, e.position, end.Add(-100*time.Microsecond))
	return true
}

// eventsourceSave: an application service span over repository.save, append and
// publish (no cqrs.* attributes: the runtime's own conventions only).
func (g *Generator) eventsourceSave() {
	svc := g.rng.IntN(len(g.services))
	ci := g.rng.IntN(len(g.commandTypes))
	aggType, aggID := g.aggTypes[ci%len(g.aggTypes)], g.aggregateID()
	tid, rootID := g.traceID(), g.spanID()
	start := g.now()
	root := g.span(svc, "app.service")
	evs := []string{g.eventTypes[ci]}
	end, _ := g.writeTail(svc, tid, rootID, start, aggID, aggType, "", evs, semconv.SideRead)
	end = end.Add(100 * time.Microsecond)
	fill(root, "task_service.handle", ptrace.SpanKindServer, tid, rootID, pcommon.SpanID{}, start, end)
	root.Attributes().PutStr(semconv.AttrESAggregateID, aggID)
	root.Attributes().PutStr(semconv.AttrESAggregateType, aggType)
	if g.failed() {
		setError(root, "ValidationError")
	}
}

// eventsourceLoad: an application read over repository.load, get_events and a snapshot lookup.
func (g *Generator) eventsourceLoad() {
	svc := g.rng.IntN(len(g.services))
	aggType, aggID := g.aggTypes[g.rng.IntN(len(g.aggTypes))], g.aggregateID()
	tid, rootID, loadID := g.traceID(), g.spanID(), g.spanID()
	start := g.now()
	end := start.Add(g.ms(0.5, 50))
	root := g.span(svc, "app.service")
	fill(root, "task_service.get", ptrace.SpanKindServer, tid, rootID, pcommon.SpanID{}, start, end)
	root.Attributes().PutStr(semconv.AttrESAggregateID, aggID)

	load := g.span(svc, semconv.ScopeRuntime)
	fill(load, semconv.SpanRepositoryLoad, ptrace.SpanKindInternal, tid, loadID, rootID, start.Add(50*time.Microsecond), end.Add(-50*time.Microsecond))
	load.Attributes().PutStr(semconv.AttrESAggregateID, aggID)
	load.Attributes().PutStr(semconv.AttrESAggregateType, aggType)
	g.annotate(load, semconv.SideRead, semconv.SideSourceConvention)

	snap := g.span(svc, semconv.ScopeRuntime)
	fill(snap, semconv.SpanSnapshotGet, ptrace.SpanKindInternal, tid, g.spanID(), loadID, start.Add(60*time.Microsecond), start.Add(400*time.Microsecond))
	snap.Attributes().PutStr(semconv.AttrESAggregateID, aggID)
	g.annotate(snap, semconv.SideRead, semconv.SideSourceInherited)

	store := g.storeName()
	get := g.span(svc, semconv.ScopeRuntime)
	fill(get, store+semconv.SpanSuffixGetEvents, ptrace.SpanKindClient, tid, g.spanID(), loadID, start.Add(500*time.Microsecond), end.Add(-100*time.Microsecond))
	get.Attributes().PutStr(semconv.AttrDBSystem, store)
	get.Attributes().PutStr(semconv.AttrESAggregateID, aggID)
	get.Attributes().PutInt(semconv.AttrESEventCount, int64(g.rng.IntN(20)))
	g.annotate(get, semconv.SideRead, semconv.SideSourceInherited)
	if g.failed() {
		setError(root, "NotFound")
		setError(load, "AggregateNotFoundError")
	}
}

// eventsourceConsume: the bus consume span (W3C child of the producing trace's
// publish span) over dispatch, two handlers, the projection apply and its
// checkpoint update.
func (g *Generator) eventsourceConsume() bool {
	e, ok := g.nextEvent()
	if !ok {
		return false
	}
	g.counts.Applies++
	svc := g.rng.IntN(len(g.services))
	pi := g.rng.IntN(len(g.projections))
	tid := e.traceID
	conID, disID, h1ID, h2ID, apID := g.spanID(), g.spanID(), g.spanID(), g.spanID(), g.spanID()
	start := e.end.Add(g.ms(1, 500))
	d1, d2 := g.ms(0.2, 20), g.ms(0.2, 20)
	end := start.Add(d1 + d2 + 300*time.Microsecond)
	fail := g.failed()

	con := g.span(svc, semconv.ScopeRuntime)
	fill(con, semconv.SpanBusConsume, ptrace.SpanKindConsumer, tid, conID, e.publishSpan, start, end)
	con.Attributes().PutStr(semconv.AttrMessagingSystem, "kafka")
	con.Attributes().PutStr(semconv.AttrMessagingDestination, "events")
	con.Attributes().PutStr(semconv.AttrESEventType, e.eventType)
	g.annotate(con, semconv.SideProjection, semconv.SideSourceConvention)

	dis := g.span(svc, semconv.ScopeRuntime)
	fill(dis, semconv.SpanBusDispatch, ptrace.SpanKindInternal, tid, disID, conID, start.Add(50*time.Microsecond), end.Add(-50*time.Microsecond))
	dis.Attributes().PutInt(semconv.AttrESHandlerCount, 2)
	dis.Attributes().PutStr(semconv.AttrESEventType, e.eventType)
	g.annotate(dis, semconv.SideProjection, semconv.SideSourceConvention)

	t := start.Add(100 * time.Microsecond)
	h1 := g.span(svc, semconv.ScopeRuntime)
	fill(h1, semconv.SpanBusHandle, ptrace.SpanKindInternal, tid, h1ID, disID, t, t.Add(d1))
	h1.Attributes().PutStr(semconv.AttrESHandlerName, g.projections[pi])
	h1.Attributes().PutBool(semconv.AttrESHandlerSuccess, !fail)
	g.annotate(h1, semconv.SideProjection, semconv.SideSourceConvention)

	ap := g.span(svc, semconv.ScopeRuntime)
	apStart, apEnd := t.Add(20*time.Microsecond), t.Add(d1-20*time.Microsecond)
	fill(ap, semconv.SpanProjectionHandle, ptrace.SpanKindInternal, tid, apID, h1ID, apStart, apEnd)
	a := ap.Attributes()
	a.EnsureCapacity(10)
	a.PutStr(semconv.AttrESProjectionName, g.projections[pi])
	a.PutStr(semconv.AttrESEventType, e.eventType)
	g.eventID++
	a.PutStr(semconv.AttrESEventID, "evt-"+strconv.FormatUint(g.eventID, 10))
	a.PutStr(semconv.AttrESAggregateID, e.aggregateID)
	a.PutInt(semconv.AttrESPosition, e.position)
	g.applyAttrs(ap, e, apStart, false)
	g.annotate(ap, semconv.SideProjection, semconv.SideSourceConvention)
	if g.cfg.Annotate {
		a.PutStr(semconv.AttrProjectionName, g.projections[pi])
		a.PutStr(semconv.AttrEventType, e.eventType)
	}
	if fail {
		setError(ap, "ProjectionError")
		setError(h1, "ProjectionError")
	}
	g.checkpointSpan(svc, tid, apID, pi, e.position, apEnd.Add(-10*time.Microsecond))

	t = t.Add(d1 + 50*time.Microsecond)
	h2 := g.span(svc, semconv.ScopeRuntime)
	fill(h2, semconv.SpanBusHandle, ptrace.SpanKindInternal, tid, h2ID, disID, t, t.Add(d2))
	h2.Attributes().PutStr(semconv.AttrESHandlerName, "NotificationService")
	h2.Attributes().PutBool(semconv.AttrESHandlerSuccess, true)
	g.annotate(h2, semconv.SideProjection, semconv.SideSourceConvention)
	return true
}
