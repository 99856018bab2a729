package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

import (
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/observe"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/series"
	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/state"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// side indexes the metric routes.
type side uint8

const (
	sideWrite side = iota
	sideRead
	sideProjection
	numSides
)

// family indexes the stores; observe decides which one a span feeds.
type family = observe.Family

const (
	famCommand     = observe.Command
	famEvents      = observe.Events
	famQuery       = observe.Query
	famResultSize  = observe.ResultSize
	famProjection  = observe.Projection
	famLag         = observe.Lag
	famReplayLag   = observe.ReplayLag
	famConsistency = observe.Consistency
	famPositions   = observe.Positions
	numFamilies    = observe.NumFamilies
)

const (
	unitMs    = "ms"
	unitOne   = "1"
	unitCount = "{position}"
)

type familyDef struct {
	side side
	// counter is the monotonic sum emitted from the series' count or value;
	// empty when the family has none.
	counter     string
	counterDesc string
	counterUnit string
	// hist is the histogram emitted; empty when the family has none.
	hist      string
	histDesc  string
	histUnit  string
	gauge     string
	gaugeDesc string
	gaugeUnit string
	agg       series.Aggregation
	exemplars bool
	msHist    bool // uses the ms histogram config (else result-size buckets)
}

var families = [numFamilies]familyDef{
	famCommand: {
		side: sideWrite, counter: semconv.MetricCommandTotal, counterDesc: "Commands processed.", counterUnit: unitOne,
		hist: semconv.MetricCommandDuration, histDesc: "Time to process a command.", histUnit: unitMs,
		exemplars: true, msHist: true,
	},
	famEvents: {
		side: sideWrite, counter: semconv.MetricEventsProduced, counterDesc: "Domain events produced by commands.", counterUnit: unitOne,
		agg: series.AggSum,
	},
	famQuery: {
		side: sideRead, counter: semconv.MetricQueryTotal, counterDesc: "Queries executed.", counterUnit: unitOne,
		hist: semconv.MetricQueryDuration, histDesc: "Time to execute a query.", histUnit: unitMs,
		exemplars: true, msHist: true,
	},
	famResultSize: {
		side: sideRead, hist: semconv.MetricQueryResultSize, histDesc: "Number of items returned by queries.", histUnit: unitOne,
	},
	famProjection: {
		side: sideProjection, counter: semconv.MetricProjectionTotal, counterDesc: "Events applied by projections.", counterUnit: unitOne,
		hist: semconv.MetricProjectionDuration, histDesc: "Time to apply one event to a projection.", histUnit: unitMs,
		exemplars: true, msHist: true,
	},
	famLag: {
		side: sideProjection, hist: semconv.MetricProjectionLag, histDesc: "Time between event creation and projection update (live phase).", histUnit: unitMs,
		exemplars: true, msHist: true,
	},
	famReplayLag: {
		side: sideProjection, hist: semconv.MetricProjectionReplayLag, histDesc: "Time between event creation and projection update while replaying a projection.", histUnit: unitMs,
		exemplars: true, msHist: true,
	},
	famConsistency: {
		side: sideProjection, hist: semconv.MetricConsistencyDelay, histDesc: "Time from a command's end to a projection applying its event (write-to-read visibility).", histUnit: unitMs,
		exemplars: true, msHist: true,
	},
	famPositions: {
		side: sideProjection, gauge: semconv.MetricProjectionPositionsBehind, gaugeDesc: "Global positions between the event store head and a projection's checkpoint.", gaugeUnit: unitCount,
		agg: series.AggGauge,
	},
}

const (
	stateDesc = "Projection state judged over a window of checkpoint samples: 1 for the current state, 0 for the others."
)

// stateGauge is cqrs.projection.state; its States follow state.All, so a
// state.State indexes them.
var stateGauge = func() series.StateGauge {
	g := series.StateGauge{Name: semconv.MetricProjectionState, Desc: stateDesc, Unit: unitOne, AttrKey: semconv.MetricAttrState}
	for i, s := range state.All {
		if int(s) != i {
			panic("state.All is not in State order")
		}
		g.States = append(g.States, s.String())
	}
	return g
}()

// metricDefs is what each family emits; exponential picks the kind of the
// millisecond histograms.
func metricDefs(exponential bool) (defs [numFamilies]series.Metrics) {
	for f := range numFamilies {
		d := &families[f]
		defs[f] = series.Metrics{
			Counter: d.counter, CounterDesc: d.counterDesc, CounterUnit: d.counterUnit,
			Hist: d.hist, HistDesc: d.histDesc, HistUnit: d.histUnit, Exponential: d.msHist && exponential,
			Gauge: d.gauge, GaugeDesc: d.gaugeDesc, GaugeUnit: d.gaugeUnit,
		}
	}
	return defs
}
