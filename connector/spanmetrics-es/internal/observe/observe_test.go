package observe

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/dedupe"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/testbatch"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// recorder is a Sink that keeps what it was given, so observe is tested
// without the connector or any store.
type recorder struct {
	fams    []Family
	values  []float64
	attrs   []map[string]any
	samples []state.Sample
}

func (r *recorder) Observe(f Family, _ []byte, _ int, d series.Describer, obs *series.Obs) series.Result {
	res, attrs := pcommon.NewMap(), pcommon.NewMap()
	d.Describe(res, attrs)
	r.fams = append(r.fams, f)
	r.values = append(r.values, obs.Value)
	r.attrs = append(r.attrs, attrs.AsRaw())
	return series.Created
}

func (r *recorder) Checkpoint(_ []byte, _ int, _ series.Describer, s state.Sample) (bool, bool) {
	r.samples = append(r.samples, s)
	return true, false
}

func TestBatch(t *testing.T) {
	b := testbatch.New("svc")
	b.Command("PlaceOrder", 1, 5, map[string]any{semconv.AttrEventsCount: 2})
	b.Query("GetOrder", 2, 3)
	b.Apply("order_summary", "OrderPlaced", 3, 40)
	b.Checkpoint("order_summary", 4, 100)
	b.Span("no.side", 5, pcommon.SpanID{}, 1, nil)

	r := &recorder{}
	o := New(Options{Dedupe: dedupe.New(100, time.Minute)}, r)
	now := time.Unix(1763776801, 0)
	n := o.Batch(b.TD, now)
	assert.Equal(t, []Family{Command, Events, Query, ResultSize, Projection, Lag, Positions}, r.fams)
	assert.Equal(t, 2.0, r.values[1], "events produced")
	assert.Equal(t, map[string]any{semconv.MetricAttrCommandType: "PlaceOrder"}, r.attrs[1])
	assert.Len(t, r.samples, 1)
	assert.Equal(t, Counts{NoSide: 1, Created: 8}, n)

	// The same batch again: every counted span is a duplicate, nothing is observed.
	r.fams = nil
	n = o.Batch(b.TD, now)
	assert.Empty(t, r.fams)
	assert.Equal(t, Counts{NoSide: 1, Duplicates: 4}, n)
}

// A join projectionlag completed late rides on the span that completed it: observed as the apply's lag
// and delay, keyed by the apply's service, once even when the batch comes again.
func TestLateApplies(t *testing.T) {
	b := testbatch.New("orders-api")
	save := b.Span(semconv.SpanRepositorySave, 1, pcommon.SpanID{}, 1, map[string]any{semconv.AttrSide: semconv.SideWrite})
	applied := func(attrs map[string]any) {
		ev := save.Events().AppendEmpty()
		ev.SetName(semconv.EventProjectionApplied)
		base := map[string]any{semconv.AttrProjectionName: "order_summary", semconv.AttrEventType: "OrderPlaced",
			semconv.AttrServiceName: "views", semconv.AttrProjectionPhase: semconv.PhaseLive,
			semconv.EventAttrAppliedTraceID: "0102030405060708090a0b0c0d0e0f10", semconv.EventAttrAppliedSpanID: "1112131415161718"}
		for k, v := range attrs {
			base[k] = v
		}
		_ = ev.Attributes().FromRaw(base)
	}
	applied(map[string]any{semconv.AttrProjectionLagMs: 1412.0, semconv.AttrProjectionLagSource: semconv.LagSourceLink})
	applied(map[string]any{semconv.AttrConsistencyDelayMs: 1500.0, semconv.AttrCommandType: "PlaceOrder"})
	applied(map[string]any{semconv.AttrProjectionLagMs: 7.0, semconv.AttrProjectionPhase: semconv.PhaseReplay,
		semconv.EventAttrAppliedSpanID: "2122232425262728"})
	applied(map[string]any{semconv.EventAttrAppliedSpanID: "zz", semconv.AttrProjectionLagMs: 1.0}) // bad ids

	type seen struct {
		service string
		fam     Family
		value   float64
		attrs   map[string]any
	}
	var got []seen
	r := &serviceRecorder{record: func(service string, f Family, v float64, attrs map[string]any) {
		got = append(got, seen{service, f, v, attrs})
	}}
	o := New(Options{Dedupe: dedupe.New(100, time.Minute)}, r)
	now := time.Unix(1763776801, 0)
	n := o.Batch(b.TD, now)
	assert.Equal(t, []seen{
		{"views", Lag, 1412, map[string]any{semconv.MetricAttrProjectionName: "order_summary", semconv.MetricAttrEventType: "OrderPlaced"}},
		{"views", Consistency, 1500, map[string]any{semconv.MetricAttrCommandType: "PlaceOrder", semconv.MetricAttrProjectionName: "order_summary"}},
		{"views", ReplayLag, 7, map[string]any{semconv.MetricAttrProjectionName: "order_summary", semconv.MetricAttrEventType: "OrderPlaced"}},
	}, got)
	assert.Equal(t, int64(1), n.Invalid, "the event with unusable ids")

	got = nil
	n = o.Batch(b.TD, now)
	assert.Empty(t, got, "a retried batch observes nothing twice")
	assert.Equal(t, int64(3), n.Duplicates)
}

// serviceRecorder is a Sink that reports the service.name of each observation's resource.
type serviceRecorder struct {
	record func(service string, f Family, v float64, attrs map[string]any)
}

func (r *serviceRecorder) Observe(f Family, _ []byte, _ int, d series.Describer, obs *series.Obs) series.Result {
	res, attrs := pcommon.NewMap(), pcommon.NewMap()
	d.Describe(res, attrs)
	svc, _ := res.Get(semconv.AttrServiceName)
	r.record(svc.Str(), f, obs.Value, attrs.AsRaw())
	return series.Created
}

func (r *serviceRecorder) Checkpoint([]byte, int, series.Describer, state.Sample) (bool, bool) {
	return false, false
}
