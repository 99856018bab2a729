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
