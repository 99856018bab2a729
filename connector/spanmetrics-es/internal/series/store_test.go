package series

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

type desc string

func (d desc) Describe(res, attrs pcommon.Map) {
	res.PutStr("service.name", "svc")
	attrs.PutStr("k", string(d))
}

var bounds = []float64{1, 10, 100}

func obs(now int64, v float64) *Obs {
	return &Obs{Now: pcommon.Timestamp(now), Weight: 1, Value: v, SpanID: pcommon.SpanID{1}, TraceID: pcommon.TraceID{1}}
}

func key(res, k string) ([]byte, int) { return []byte(res + k), len(res) }

func TestOverflowAtLimit(t *testing.T) {
	s := NewStore(Options{Hist: HistExplicit, Bounds: bounds, Limit: 3, OverflowAttr: "otel.metric.overflow"})
	for i := range 100 {
		k, rl := key("r", fmt.Sprint(i))
		r := s.Observe(k, rl, desc(fmt.Sprint(i)), obs(1, 5))
		switch {
		case i < 3:
			assert.Equal(t, Created, r)
		case i == 3:
			assert.Equal(t, CreatedOverflow, r)
		default:
			assert.Equal(t, Overflowed, r)
		}
	}
	assert.Equal(t, 4, s.Len())
	var overflowCount uint64
	s.Flush(FlushOptions{Now: 2, Cumulative: true, Expiry: 100}, func(se *Series) {
		if se.Overflow {
			overflowCount = se.Count
			v, ok := se.Attrs.Get("otel.metric.overflow")
			require.True(t, ok)
			assert.True(t, v.Bool())
			assert.Equal(t, 1, se.Attrs.Len())
			sn, _ := se.Res.Get("service.name")
			assert.Equal(t, "svc", sn.Str())
		}
	})
	assert.Equal(t, uint64(97), overflowCount)
}

func TestOverflowSeriesAreBounded(t *testing.T) {
	s := NewStore(Options{Limit: 1, OverflowAttr: "o"})
	for i := range 1000 {
		k, rl := key(fmt.Sprintf("res%04d", i), "x")
		s.Observe(k, rl, desc("x"), obs(1, 1))
	}
	assert.Equal(t, 1+maxOverflowSeries, s.Len())
}

func TestCumulativeKeepsStartAndValues(t *testing.T) {
	s := NewStore(Options{Hist: HistExplicit, Bounds: bounds, Limit: 10})
	k, rl := key("r", "a")
	s.Observe(k, rl, desc("a"), obs(100, 5))
	s.Flush(FlushOptions{Now: 200, Cumulative: true, Expiry: 1000}, func(*Series) {})
	s.Observe(k, rl, desc("a"), obs(300, 50))
	n := 0
	s.Flush(FlushOptions{Now: 400, Cumulative: true, Expiry: 1000}, func(se *Series) {
		n++
		assert.Equal(t, pcommon.Timestamp(100), se.Start)
		assert.Equal(t, uint64(2), se.Count)
		assert.Equal(t, []uint64{0, 1, 1, 0}, se.Buckets)
		assert.Equal(t, 55.0, se.Sum)
		assert.Equal(t, 5.0, se.Min)
		assert.Equal(t, 50.0, se.Max)
	})
	assert.Equal(t, 1, n)
}

func TestDeltaResetsAndSkipsIdleSeries(t *testing.T) {
	s := NewStore(Options{Hist: HistExplicit, Bounds: bounds, Limit: 10})
	k, rl := key("r", "a")
	s.Observe(k, rl, desc("a"), obs(100, 5))
	s.Flush(FlushOptions{Now: 200, Expiry: 1000}, func(se *Series) {
		assert.Equal(t, pcommon.Timestamp(100), se.Start)
		assert.Equal(t, uint64(1), se.Count)
	})
	emitted := 0
	s.Flush(FlushOptions{Now: 300, Expiry: 1000}, func(*Series) { emitted++ })
	assert.Zero(t, emitted, "idle delta series are not emitted")
	s.Observe(k, rl, desc("a"), obs(350, 500))
	s.Flush(FlushOptions{Now: 400, Expiry: 1000}, func(se *Series) {
		emitted++
		assert.Equal(t, pcommon.Timestamp(300), se.Start, "delta start is the previous flush")
		assert.Equal(t, uint64(1), se.Count)
		assert.Equal(t, []uint64{0, 0, 0, 1}, se.Buckets)
		assert.Equal(t, 500.0, se.Min)
	})
	assert.Equal(t, 1, emitted)
}

func TestExpiry(t *testing.T) {
	s := NewStore(Options{Agg: AggSum, Limit: 1})
	k, rl := key("r", "a")
	s.Observe(k, rl, desc("a"), obs(100, 2))
	assert.Zero(t, s.Flush(FlushOptions{Now: 150, Cumulative: true, Expiry: 100}, func(*Series) {}))
	emitted := 0
	assert.Equal(t, 1, s.Flush(FlushOptions{Now: 201, Cumulative: true, Expiry: 100}, func(*Series) { emitted++ }))
	assert.Equal(t, 1, emitted, "an expiring series is emitted one last time")
	assert.Zero(t, s.Len())
	// The slot is free again: a new key is a regular series, not overflow.
	k2, _ := key("r", "b")
	assert.Equal(t, Created, s.Observe(k2, rl, desc("b"), obs(300, 1)))
}

func TestExemplarsAreBounded(t *testing.T) {
	s := NewStore(Options{Hist: HistExplicit, Bounds: bounds, Limit: 1, Exemplars: 2})
	k, rl := key("r", "a")
	for i := range 10 {
		o := obs(1, float64(i))
		o.SpanID = pcommon.SpanID{byte(i + 1)}
		s.Observe(k, rl, desc("a"), o)
	}
	s.Flush(FlushOptions{Now: 2, Cumulative: true, Expiry: 100}, func(se *Series) {
		dp := pmetric.NewHistogramDataPoint()
		se.WriteHistogram(dp, bounds)
		require.Equal(t, 2, dp.Exemplars().Len())
		got := []float64{dp.Exemplars().At(0).DoubleValue(), dp.Exemplars().At(1).DoubleValue()}
		assert.ElementsMatch(t, []float64{8, 9}, got, "the newest exemplars are kept")
	})
	// Exemplars are per flush interval.
	s.Flush(FlushOptions{Now: 3, Cumulative: true, Expiry: 100}, func(se *Series) {
		dp := pmetric.NewHistogramDataPoint()
		se.WriteHistogram(dp, bounds)
		assert.Zero(t, dp.Exemplars().Len())
	})
}

func TestGaugeKeepsLastValue(t *testing.T) {
	s := NewStore(Options{Agg: AggGauge, Limit: 1})
	k, rl := key("r", "a")
	s.Observe(k, rl, desc("a"), obs(1, 7))
	s.Observe(k, rl, desc("a"), obs(2, 3))
	for range 2 { // also with delta temporality, a live gauge is always emitted
		n := 0
		s.Flush(FlushOptions{Now: 3, Expiry: 100}, func(se *Series) { n++; assert.Equal(t, int64(3), se.IntValue()) })
		assert.Equal(t, 1, n)
	}
}

// expoBounds returns the (lower, upper] bounds of bucket idx at scale.
func expoBounds(idx, scale int32) (float64, float64) {
	base := math.Exp2(math.Exp2(-float64(scale)))
	return math.Pow(base, float64(idx)), math.Pow(base, float64(idx+1))
}

func TestExponentialHistogram(t *testing.T) {
	e := newExpo(20)
	values := []float64{0, 0.5, 1, 2, 3, 10, 100, 1000, 1e6, 12345.678}
	for _, v := range values {
		e.Record(v, 2)
	}
	require.LessOrEqual(t, len(e.counts), 20)
	var total uint64
	for _, c := range e.counts {
		total += c
	}
	assert.Equal(t, uint64(2), e.zero)
	assert.Equal(t, uint64(2*(len(values)-1)), total)
	// Every value falls in the bucket its index says.
	for _, v := range values[1:] {
		idx := expoIndex(v, e.scale)
		lo, hi := expoBounds(idx, e.scale)
		assert.True(t, v > lo*(1-1e-9) && v <= hi*(1+1e-9), "v=%v idx=%d scale=%d (%v,%v]", v, idx, e.scale, lo, hi)
		assert.NotZero(t, e.counts[idx-e.offset], "v=%v", v)
	}
	dp := pmetric.NewExponentialHistogramDataPoint()
	e.write(dp)
	assert.Equal(t, e.scale, dp.Scale())
	e.Reset()
	assert.Empty(t, e.counts)
}

func TestExponentialDownscaleKeepsCounts(t *testing.T) {
	e := newExpo(4)
	for i := range 1000 {
		e.Record(float64(i+1), 1)
	}
	var total uint64
	for _, c := range e.counts {
		total += c
	}
	assert.Equal(t, uint64(1000), total)
	assert.LessOrEqual(t, len(e.counts), 4)
}
