package pipelinetest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/eventsourcepy"
)

// pipeline is the chain on its default configurations.
type pipeline struct{ *Pipeline }

func newPipeline(t *testing.T) *pipeline {
	return &pipeline{New(t, Options{})}
}

// flush shuts the pipeline down, which makes the connector flush its series.
func (p *pipeline) flush(t *testing.T) { p.Shutdown(t) }

// lastFlush calls f for every metric named name in the connector's last flush.
func (p *pipeline) lastFlush(name string, f func(pmetric.Metric)) {
	all := p.Metrics.AllMetrics()
	if len(all) == 0 {
		return
	}
	for _, rm := range all[len(all)-1].ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Name() == name {
					f(m)
				}
			}
		}
	}
}

// histogram sums the count and sum of every data point of a histogram metric in the last flush.
func (p *pipeline) histogram(name string) (count uint64, sum float64) {
	p.lastFlush(name, func(m pmetric.Metric) {
		if m.Type() != pmetric.MetricTypeHistogram {
			return
		}
		for _, dp := range m.Histogram().DataPoints().All() {
			count += dp.Count()
			sum += dp.Sum()
		}
	})
	return count, sum
}

// arrival is one export: what a process's SDK sends at one moment.
type arrival struct {
	at    time.Duration
	spans []eventsourcepy.Span
}

// deliver sends the exports in the order they reach the collector.
func (p *pipeline) deliver(t *testing.T, exports []arrival) {
	sort.SliceStable(exports, func(i, j int) bool { return exports[i].at < exports[j].at })
	for _, e := range exports {
		require.NoError(t, p.In.ConsumeTraces(context.Background(), eventsourcepy.Traces(e.spans...)))
	}
}

var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// outboxEnd is when the first write span naming an event (the outbox add) ends, in a Write's flow.
const outboxEnd = 14 * time.Millisecond

func write(i int) (eventsourcepy.Write, []eventsourcepy.Span, eventsourcepy.Span) {
	w := eventsourcepy.Write{Service: "orders-api", Trace: fmt.Sprintf("write-%d", i), Start: t0.Add(time.Duration(i) * 100 * time.Millisecond),
		AggregateID: fmt.Sprintf("order-%d", i), EventID: fmt.Sprintf("evt-%d", i), EventType: "OrderCreated", Topic: "orders"}
	spans, save := w.Spans()
	return w, spans, save
}

// TestLateProducersEveryLagMeasured: a projection's spans reach the collector before the writer's,
// late by 0 to 30 s as SDKs flushing every 5 s and a gateway hop make them. No span waits, and every
// lag observation still reaches cqrs.projection.lag with its exact value.
func TestLateProducersEveryLagMeasured(t *testing.T) {
	lateness := []time.Duration{0, 2 * time.Second, 5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second}
	const perLateness = 100
	p := newPipeline(t)
	var exports []arrival
	var want float64
	n := len(lateness) * perLateness
	for i := range n {
		w, ws, save := write(i)
		apply := eventsourcepy.LiveApply{Service: "order-projector", Trace: fmt.Sprintf("apply-%d", i), Parent: save,
			Start: w.Start.Add(50 * time.Millisecond), Subscription: "OrderSummaryProjection", EventID: w.EventID,
			EventType: w.EventType, Topic: w.Topic, DB: "orders", Position: int64(i + 1)}
		as, applySpan := apply.Spans()
		want += float64(applySpan.Start.Sub(w.Start.Add(outboxEnd))) / 1e6
		sent := apply.Start.Sub(t0) + 5*time.Second // the consumer's SDK exports first
		exports = append(exports,
			arrival{at: sent, spans: as},
			arrival{at: sent + lateness[i%len(lateness)], spans: ws})
	}
	p.deliver(t, exports)
	p.flush(t)

	count, sum := p.histogram(semconv.MetricProjectionLag)
	assert.Equal(t, uint64(n), count, "every apply's lag observed once")
	assert.InDelta(t, want, sum, 1e-6, "each lag exact: apply start - end of the write naming the event")
	calls, _ := p.histogram(semconv.MetricProjectionDuration)
	assert.Equal(t, uint64(n), calls, "every apply counted once")
}

// TestFeedDrivenRunnersJoinTheirOwnEvent: eventsource-py 0.14's live runner is woken by a Kafka
// message and applies every new event from the store's feed, so with two replicas on two partitions
// half the applies run under another event's consume and dispatch spans. Each apply names its own
// event: its lag comes from that event's write, not from the write of the message that woke it.
// Consumer spans are exported first, the writer's 0 to 10 s later.
func TestFeedDrivenRunnersJoinTheirOwnEvent(t *testing.T) {
	const n = 40
	p := newPipeline(t)
	var exports []arrival
	var want float64
	observations := 0
	writes := make([]eventsourcepy.Write, n)
	saves := make([]eventsourcepy.Span, n)
	for i := range n {
		w, ws, save := write(i)
		writes[i], saves[i] = w, save
		exports = append(exports, arrival{at: w.Start.Sub(t0) + 5*time.Second + time.Duration(i%6)*2*time.Second, spans: ws})
	}
	// Replica r gets the messages of events i with i%2 == r; woken by message i, it applies every event
	// it has not applied yet: i-1 (under message i's spans) and i.
	for r := range 2 {
		service := fmt.Sprintf("order-projector-%d", r)
		next := 0
		for i := r; i < n; i += 2 {
			woke := writes[i]
			msg := eventsourcepy.LiveApply{Service: service, Trace: fmt.Sprintf("r%d-msg-%d", r, i), Parent: saves[i],
				Start: woke.Start.Add(60 * time.Millisecond), Subscription: "OrderSummaryProjection", EventID: woke.EventID,
				EventType: woke.EventType, Topic: woke.Topic, DB: "orders"}
			spans, _ := msg.Spans()
			consume, dispatch := spans[0], spans[1]
			batch := []eventsourcepy.Span{consume, dispatch}
			last := i
			if i+2 >= n {
				last = n - 1 // the last wake-up drains the feed
			}
			for ; next <= last; next++ {
				e := writes[next]
				start := msg.Start.Add(time.Duration(next-i+2) * 3 * time.Millisecond)
				if minStart := e.Start.Add(60 * time.Millisecond); start.Before(minStart) {
					start = minStart // an event is applied after it was written
				}
				one := eventsourcepy.LiveApply{Service: service, Trace: fmt.Sprintf("r%d-apply-%d", r, next), Parent: saves[i],
					Start: start, Subscription: "OrderSummaryProjection",
					EventID: e.EventID, EventType: e.EventType, Topic: e.Topic, DB: "orders", Position: int64(next + 1)}
				applySpans, apply := one.Spans()
				// The apply and everything beneath it run under the waking message's dispatch span.
				for _, s := range applySpans[2:] {
					if s.ID == apply.ID {
						s.Parent = dispatch.ID
					}
					batch = append(batch, s)
				}
				want += float64(apply.Start.Sub(e.Start.Add(outboxEnd))) / 1e6
				observations++
			}
			exports = append(exports, arrival{at: msg.Start.Sub(t0) + 5*time.Second, spans: batch})
		}
	}
	require.Equal(t, 2*n, observations, "each replica applies every event")
	p.deliver(t, exports)
	p.flush(t)

	count, sum := p.histogram(semconv.MetricProjectionLag)
	assert.Equal(t, uint64(observations), count)
	assert.InDelta(t, want, sum, 1e-6, "every lag from the applied event's own write")
}

// TestRunnerAfterItsHandleCountsOnce: the live runner's process_event span ends after the
// projection.handle inside it, so an SDK flush can export the handle (and the spans under it) one
// batch before the runner's span. Each event applied still counts once, with one exact lag: the
// handle's, the span that arrived first; in the other order the runner's.
func TestRunnerAfterItsHandleCountsOnce(t *testing.T) {
	const n = 60
	p := newPipeline(t)
	var exports []arrival
	var want float64
	for i := range n {
		w, ws, save := write(i)
		apply := eventsourcepy.LiveApply{Service: "order-projector", Trace: fmt.Sprintf("apply-%d", i), Parent: save,
			Start: w.Start.Add(50 * time.Millisecond), Subscription: "OrderSummaryProjection", EventID: w.EventID,
			EventType: w.EventType, Topic: w.Topic, DB: "orders", Position: int64(i + 1)}
		as, runner := apply.Spans()
		var first, later []eventsourcepy.Span
		counted := runner
		for _, s := range as {
			switch {
			case i%2 == 0 && (s.ID == runner.ID || s.ID == runner.Parent || s.Name == semconv.SpanBusConsume):
				later = append(later, s) // the runner and the spans around it: the next flush
			case i%2 == 1 && s.Parent == runner.ID && s.Name == semconv.SpanProjectionHandle:
				later = append(later, s) // the usual order: the handle after its runner
			default:
				first = append(first, s)
			}
			if i%2 == 0 && s.Name == semconv.SpanProjectionHandle {
				counted = s
			}
		}
		want += float64(counted.Start.Sub(w.Start.Add(outboxEnd))) / 1e6
		sent := apply.Start.Sub(t0)
		exports = append(exports, arrival{at: 0, spans: ws},
			arrival{at: sent + time.Second, spans: first}, arrival{at: sent + 6*time.Second, spans: later})
	}
	p.deliver(t, exports)
	p.flush(t)

	calls, _ := p.histogram(semconv.MetricProjectionDuration)
	assert.Equal(t, uint64(n), calls, "every event applied counted once")
	count, sum := p.histogram(semconv.MetricProjectionLag)
	assert.Equal(t, uint64(n), count, "one lag per event applied")
	assert.InDelta(t, want, sum, 1e-6, "each lag from the counted apply span's start")
}

// sum adds the data points of a sum metric in the last flush.
func (p *pipeline) sum(name string) (total int64) {
	p.lastFlush(name, func(m pmetric.Metric) {
		if m.Type() != pmetric.MetricTypeSum {
			return
		}
		for _, dp := range m.Sum().DataPoints().All() {
			total += dp.IntValue()
		}
	})
	return total
}

// TestEventsReachTheirCommandInAnyBatch: the runtime's command span ends after the repository save and
// the store append beneath it, so an SDK flush often exports those a batch (or two) before the command.
// Each command's events are counted once, whatever batch brings each span, and a retried export counts
// nothing twice.
func TestEventsReachTheirCommandInAnyBatch(t *testing.T) {
	const n, perCommand = 90, 3
	p := newPipeline(t)
	var exports []arrival
	for i := range n {
		trace := fmt.Sprintf("cmd-%d", i)
		tr := eventsourcepy.TraceID(trace)
		start := t0.Add(time.Duration(i) * 50 * time.Millisecond)
		at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
		cmd := eventsourcepy.Span{Service: "orders-api", Scope: semconv.ScopeWrite, Name: "command.PlaceOrder",
			Trace: tr, ID: eventsourcepy.ID(trace + "/cmd"), Start: at(0), End: at(30),
			Attrs: map[string]any{semconv.AttrSide: semconv.SideWrite, semconv.AttrCommandType: "PlaceOrder"}}
		handler := eventsourcepy.Span{Service: "orders-api", Scope: "app", Name: "OrderService.place",
			Trace: tr, ID: eventsourcepy.ID(trace + "/handler"), Parent: cmd.ID, Start: at(1), End: at(28)}
		save := eventsourcepy.Span{Service: "orders-api", Scope: eventsourcepy.ScopeRepository, Name: semconv.SpanRepositorySave,
			Trace: tr, ID: eventsourcepy.ID(trace + "/save"), Parent: handler.ID, Start: at(10), End: at(25),
			Attrs: map[string]any{semconv.AttrESEventCount: int64(perCommand)}}
		appendSpan := eventsourcepy.Span{Service: "orders-api", Scope: "eventsource.stores.postgresql",
			Name:  semconv.EventStorePostgreSQL + semconv.SpanSuffixAppendEvents,
			Trace: tr, ID: eventsourcepy.ID(trace + "/append"), Parent: save.ID, Start: at(12), End: at(20),
			Attrs: map[string]any{semconv.AttrESEventCount: int64(perCommand)}}
		sent := time.Duration(i) * time.Second
		switch i % 3 {
		case 0: // one export
			exports = append(exports, arrival{at: sent, spans: []eventsourcepy.Span{appendSpan, save, handler, cmd}})
		case 1: // the command one flush later; the first export sent twice (a client's retry)
			first := []eventsourcepy.Span{appendSpan, save, handler}
			exports = append(exports, arrival{at: sent, spans: first}, arrival{at: sent + time.Second, spans: first},
				arrival{at: sent + 5*time.Second, spans: []eventsourcepy.Span{cmd}})
		case 2: // three flushes, innermost first
			exports = append(exports, arrival{at: sent, spans: []eventsourcepy.Span{appendSpan}},
				arrival{at: sent + 5*time.Second, spans: []eventsourcepy.Span{save, handler}},
				arrival{at: sent + 10*time.Second, spans: []eventsourcepy.Span{cmd}})
		}
	}
	p.deliver(t, exports)
	p.flush(t)

	assert.Equal(t, int64(n*perCommand), p.sum(semconv.MetricEventsProduced), "each command's events once")
	count, _ := p.histogram(semconv.MetricCommandDuration)
	assert.Equal(t, uint64(n), count, "each command once")
}

// TestLateLagWeighsAsItsSampledApply: the projection's trace was sampled at 10 % with a threshold in its
// tracestate (each apply stands for 10), and its producer arrives later: the late lag counts 10 too.
func TestLateLagWeighsAsItsSampledApply(t *testing.T) {
	p := newPipeline(t)
	w, ws, save := write(0)
	apply := eventsourcepy.LiveApply{Service: "order-projector", Trace: "sampled-apply", Parent: save,
		Start: w.Start.Add(50 * time.Millisecond), Subscription: "OrderSummaryProjection", EventID: w.EventID,
		EventType: w.EventType, Topic: w.Topic, DB: "orders", Position: 1}
	as, _ := apply.Spans()
	td := eventsourcepy.Traces(as...)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				s.TraceState().FromRaw("ot=th:e6666666666668") // p = 0.1, as eventsource/sampling writes it
			}
		}
	}
	require.NoError(t, p.In.ConsumeTraces(context.Background(), td))
	require.NoError(t, p.In.ConsumeTraces(context.Background(), eventsourcepy.Traces(ws...)))
	p.flush(t)

	calls, _ := p.histogram(semconv.MetricProjectionDuration)
	assert.Equal(t, uint64(10), calls, "the apply stands for 10")
	count, _ := p.histogram(semconv.MetricProjectionLag)
	assert.Equal(t, uint64(10), count, "so does its lag, measured when the producer came")
}
