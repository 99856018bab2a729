package main

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// groundTruth is printed as JSON at exit; README.md documents its shape.
type groundTruth struct {
	ServiceName string `json:"service_name"`
	// ProjectionServiceName is the service the projections run in: service_name but with -bus kafka or rabbitmq.
	ProjectionServiceName string                      `json:"projection_service_name"`
	Bus                   string                      `json:"bus"`
	Store                 string                      `json:"store"`
	DurationMs            float64                     `json:"duration_ms"`
	Commands              map[string]map[string]int64 `json:"commands"`
	CommandsTotal         int64                       `json:"commands_total"`
	EventsProduced        eventsProduced              `json:"events_produced"`
	Queries               map[string]map[string]int64 `json:"queries"`
	QueriesTotal          int64                       `json:"queries_total"`
	QueryResults          map[string]*stats           `json:"query_result_size"`
	Projections           map[string]*projectionTruth `json:"projections"`
	Lag                   map[string]*stats           `json:"lag_ms"`
	HeadPosition          int64                       `json:"head_position"`
	Replays               int                         `json:"replays"`
	Spans                 map[string]int64            `json:"spans"`
	SpansTotal            int64                       `json:"spans_total"`
	DLQEntries            int                         `json:"dlq_entries"`
	// ConsistencyDelay is command end → live apply end, by command type and
	// projection: what projectionlag reports as cqrs.consistency.delay_ms.
	ConsistencyDelay map[string]map[string]*stats `json:"consistency_delay_ms"`
	// ConsistencyDelayByCommand is the same by command type alone (its quantiles are not those of the
	// projections' put together).
	ConsistencyDelayByCommand map[string]*stats `json:"consistency_delay_ms_by_command_type"`
	// QueryDurationMs is the duration of the query spans by query type, what the collector's
	// cqrs.query.duration histogram observes.
	QueryDurationMs map[string]*stats `json:"query_duration_ms"`
	// Kafka is set with -bus kafka, RabbitMQ with -bus rabbitmq.
	Kafka    *busTruth `json:"kafka,omitempty"`
	RabbitMQ *busTruth `json:"rabbitmq,omitempty"`
}

// busTruth describes the broker bus of a -bus kafka or rabbitmq run.
type busTruth struct {
	// Brokers are Kafka's host:port list, or RabbitMQ's URL without its password.
	Brokers string `json:"brokers"`
	// InProcess: the demo ran its own broker (an in-process kfake, a throw-away rabbitmq-server node).
	InProcess bool `json:"in_process"`
	// Topic is Kafka's topic or RabbitMQ's exchange.
	Topic         string `json:"topic"`
	ConsumerGroup string `json:"consumer_group"`
	Partitions    int    `json:"partitions,omitempty"`
	// Outbox: the events went through the store's outbox and a relay (-store sqlite|postgres).
	Outbox bool `json:"outbox"`
	// Published counts the events the brokers acknowledged (for Kafka, kafka.eventbus.messages.published).
	Published int64 `json:"published"`
	// Delivered counts, per projection, the records handed to its runner and settled.
	Delivered map[string]int64 `json:"delivered"`
}

type eventsProduced struct {
	Total         int64            `json:"total"`
	ByCommandType map[string]int64 `json:"by_command_type"`
	ByEventType   map[string]int64 `json:"by_event_type"`
}

type projectionTruth struct {
	// Live and Replay are keyed by phase name (semconv.PhaseLive/PhaseReplay).
	Phases     map[string]*phaseTruth `json:"phases"`
	Checkpoint int64                  `json:"checkpoint"`
}

type phaseTruth struct {
	// Applies counts projection.<name> spans: applied + dead-lettered.
	Applies        int64             `json:"applies"`
	Applied        int64             `json:"applied"`
	DeadLettered   int64             `json:"dead_lettered"`
	FailedAttempts int64             `json:"failed_attempts"`
	ByEventType    map[string]int64  `json:"by_event_type"`
	LagMs          *stats            `json:"lag_ms"`
	LagByEventType map[string]*stats `json:"lag_ms_by_event_type"`
	// LagBySource is the lag projectionlag must compute from each source when the span does not report
	// it (-lag-source), by source and event type. The demo works it out from its own clock readings at
	// apply time, not from any span attribute: event_timestamp is the apply's start − the event's
	// creation time (to the ms, as the span carries it), link is the apply's start − the end of the
	// append span the apply links to.
	LagBySource map[string]map[string]*stats `json:"lag_ms_by_source"`
}

type stats struct {
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	// P50, P95 and P99 are exact (nearest rank: the smallest value with at least that share of the
	// values at or below it), computed from every value when the truth is written.
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`

	values []float64
}

// MarshalJSON writes the stats with their quantiles.
func (s *stats) MarshalJSON() ([]byte, error) {
	type plain stats
	out := plain(*s)
	if n := len(s.values); n > 0 {
		sorted := slices.Sorted(slices.Values(s.values))
		rank := func(q float64) float64 { return sorted[max(0, int(math.Ceil(q*float64(n)))-1)] }
		out.P50, out.P95, out.P99 = rank(0.50), rank(0.95), rank(0.99)
	}
	return json.Marshal(out)
}

func (s *stats) add(v float64) {
	s.values = append(s.values, v)
	if s.Count == 0 || v < s.Min {
		s.Min = v
	}
	if s.Count == 0 || v > s.Max {
		s.Max = v
	}
	s.Count++
	s.Sum += v
	s.Mean = s.Sum / float64(s.Count)
}

// recorder collects the ground truth from the demo's own calls.
type recorder struct {
	mu sync.Mutex
	gt groundTruth
	// pending joins a command's end with the live applies of its events;
	// either may come first since the bus is asynchronous.
	pending map[string]*join
	// appliers says how many projections handle an event type.
	appliers func(eventType string) int
	// commandEnds holds the end of the command span that just ended, by trace: Dispatch runs one command
	// at a time, and command() reads it right after. It is the span's own end, so the consistency delay
	// is exact.
	commandEnds map[trace.TraceID]time.Time
	// appendEnds holds every append span's end by span id, for the link lag of live and replayed
	// applies (a few MB for a 10-minute soak).
	appendEnds map[trace.SpanID]time.Time
	// linkWaiting holds the applies that started before their append span ended: with a SQL store the
	// outbox relay can publish, and a runner apply, the committed event before the writer's span ends.
	// Their link lag is taken when it does.
	linkWaiting map[trace.SpanID][]linkApply
}

type linkApply struct {
	byType    map[string]*stats
	eventType string
	start     time.Time
}

type join struct {
	cmdType string
	cmdEnd  time.Time
	hasCmd  bool
	left    int // applies still expected (live or replay)
	applies []applied
}

type applied struct {
	projection string
	end        time.Time
}

func (r *recorder) joinFor(e eventsource.Event) *join {
	j := r.pending[e.ID]
	if j == nil {
		j = &join{left: r.appliers(e.Type)}
		r.pending[e.ID] = j
	}
	return j
}

func (r *recorder) settle(id string, j *join) {
	if j.hasCmd {
		for _, a := range j.applies {
			m := r.gt.ConsistencyDelay[j.cmdType]
			if m == nil {
				m = map[string]*stats{}
				r.gt.ConsistencyDelay[j.cmdType] = m
			}
			if m[a.projection] == nil {
				m[a.projection] = &stats{}
			}
			// The bus may apply an event before the command span has ended (the command is still
			// returning): that delay is negative, and counts as 0, as projectionlag's default
			// negative_lag (clamp) reports it.
			d := max(0, wallMs(a.end, j.cmdEnd))
			m[a.projection].add(d)
			addTo(r.gt.ConsistencyDelayByCommand, j.cmdType, d)
		}
		j.applies = j.applies[:0]
	}
	if j.hasCmd && j.left <= 0 {
		delete(r.pending, id)
	}
}

func newRecorder(service string, appliers func(string) int) *recorder {
	return &recorder{pending: map[string]*join{}, appliers: appliers,
		commandEnds: map[trace.TraceID]time.Time{}, appendEnds: map[trace.SpanID]time.Time{},
		linkWaiting: map[trace.SpanID][]linkApply{}, gt: groundTruth{
			ServiceName:               service,
			Commands:                  map[string]map[string]int64{},
			EventsProduced:            eventsProduced{ByCommandType: map[string]int64{}, ByEventType: map[string]int64{}},
			Queries:                   map[string]map[string]int64{},
			QueryResults:              map[string]*stats{},
			Projections:               map[string]*projectionTruth{},
			Lag:                       map[string]*stats{semconv.PhaseLive: {}, semconv.PhaseReplay: {}},
			Spans:                     map[string]int64{},
			ConsistencyDelay:          map[string]map[string]*stats{},
			ConsistencyDelayByCommand: map[string]*stats{},
			QueryDurationMs:           map[string]*stats{},
		}}
}

func status(err error) string {
	if err != nil {
		return semconv.StatusError
	}
	return semconv.StatusSuccess
}

func inc(m map[string]map[string]int64, k1, k2 string) {
	if m[k1] == nil {
		m[k1] = map[string]int64{semconv.StatusSuccess: 0, semconv.StatusError: 0}
	}
	m[k1][k2]++
}

func (r *recorder) command(typ string, events []eventsource.Event, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var end time.Time
	if len(events) > 0 {
		end = r.commandEnds[events[0].TraceContext().TraceID()]
	}
	clear(r.commandEnds)
	inc(r.gt.Commands, typ, status(err))
	r.gt.CommandsTotal++
	if err != nil {
		return
	}
	r.gt.EventsProduced.Total += int64(len(events))
	r.gt.EventsProduced.ByCommandType[typ] += int64(len(events))
	for _, e := range events {
		r.gt.EventsProduced.ByEventType[e.Type]++
		j := r.joinFor(e)
		// No command span end (not sampled, say): no delay for its events rather than a wrong one.
		j.cmdType, j.cmdEnd, j.hasCmd = typ, end, !end.IsZero()
		r.settle(e.ID, j)
	}
}

// queryResult is what the recorder needs of a query's answer: its error and, for a list, its length.
type queryResult struct {
	listed int // -1: not a list
	err    error
}

// execute runs the demo's query through the typed API.
func execute(ctx context.Context, queries *eventsource.QueryBus, q eventsource.Query) queryResult {
	switch q := q.(type) {
	case listOrders:
		list, err := eventsource.Execute[[]orderView](ctx, queries, q)
		return queryResult{listed: len(list), err: err}
	default:
		_, err := eventsource.Execute[orderView](ctx, queries, q)
		return queryResult{listed: -1, err: err}
	}
}

func (r *recorder) query(typ string, res queryResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	inc(r.gt.Queries, typ, status(res.err))
	r.gt.QueriesTotal++
	if res.listed >= 0 && res.err == nil {
		if r.gt.QueryResults[typ] == nil {
			r.gt.QueryResults[typ] = &stats{}
		}
		r.gt.QueryResults[typ].add(float64(res.listed))
	}
}

func (r *recorder) apply(a eventsource.ApplyResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pt := r.gt.Projections[a.Projection]
	if pt == nil {
		pt = &projectionTruth{Phases: map[string]*phaseTruth{}}
		r.gt.Projections[a.Projection] = pt
	}
	ph := pt.Phases[a.Phase]
	if ph == nil {
		ph = &phaseTruth{ByEventType: map[string]int64{}, LagMs: &stats{}, LagByEventType: map[string]*stats{},
			LagBySource: map[string]map[string]*stats{lagEventTimestamp: {}, lagLink: {}}}
		pt.Phases[a.Phase] = ph
	}
	addTo(ph.LagByEventType, a.Event.Type, a.LagMs)
	// The span carries the event time in whole ms, and projectionlag subtracts that from the span start.
	eventMs := time.UnixMilli(a.Event.Timestamp.UnixMilli())
	addTo(ph.LagBySource[lagEventTimestamp], a.Event.Type, wallMs(a.Start, eventMs))
	if id := a.Event.TraceContext().SpanID(); id.IsValid() {
		if end, ok := r.appendEnds[id]; ok {
			addTo(ph.LagBySource[lagLink], a.Event.Type, wallMs(a.Start, end))
		} else {
			r.linkWaiting[id] = append(r.linkWaiting[id], linkApply{byType: ph.LagBySource[lagLink], eventType: a.Event.Type, start: a.Start})
		}
	}
	j := r.joinFor(a.Event)
	j.left--
	if a.Phase == semconv.PhaseLive {
		j.applies = append(j.applies, applied{projection: a.Projection, end: a.End})
	}
	r.settle(a.Event.ID, j)
	ph.Applies++
	ph.ByEventType[a.Event.Type]++
	if a.Err == nil {
		ph.Applied++
		ph.FailedAttempts += int64(a.Attempts - 1)
	} else {
		ph.FailedAttempts += int64(a.Attempts)
		if a.DeadLettered {
			ph.DeadLettered++
		}
	}
	ph.LagMs.add(a.LagMs)
	r.gt.Lag[a.Phase].add(a.LagMs)
}

func addTo(m map[string]*stats, key string, v float64) {
	if m[key] == nil {
		m[key] = &stats{}
	}
	m[key].add(v)
}

// wallMs is a − b in ms on the wall clock, as the spans carry them: time.Time.Sub would use the monotonic
// readings, which drift from the wall clock by µs over a run.
func wallMs(a, b time.Time) float64 { return ms(a.Round(0).Sub(b.Round(0))) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// spanCounter is a SpanProcessor counting ended spans by name, so the ground
// truth also says how many spans the SDK handed to the exporter. It also
// notes when command and append spans ended, for the consistency delay and
// the link lag.
type spanCounter struct{ r *recorder }

func (spanCounter) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c spanCounter) OnEnd(s sdktrace.ReadOnlySpan) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	c.r.gt.Spans[s.Name()]++
	c.r.gt.SpansTotal++
	switch {
	case strings.HasPrefix(s.Name(), semconv.SpanPrefixCommand):
		c.r.commandEnds[s.SpanContext().TraceID()] = s.EndTime()
	case semconv.IsAppend(s.Name()):
		id := s.SpanContext().SpanID()
		c.r.appendEnds[id] = s.EndTime()
		for _, a := range c.r.linkWaiting[id] {
			addTo(a.byType, a.eventType, wallMs(a.start, s.EndTime()))
		}
		delete(c.r.linkWaiting, id)
	case strings.HasPrefix(s.Name(), semconv.SpanPrefixQuery):
		addTo(c.r.gt.QueryDurationMs, strings.TrimPrefix(s.Name(), semconv.SpanPrefixQuery), wallMs(s.EndTime(), s.StartTime()))
	}
}
func (spanCounter) Shutdown(context.Context) error   { return nil }
func (spanCounter) ForceFlush(context.Context) error { return nil }
