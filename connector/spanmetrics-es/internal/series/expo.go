package series

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// maxScale is the finest resolution used; the histogram downscales as the
// range of recorded values grows, as the OpenTelemetry SDKs do.
const maxScale = 20

// Expo is a base-2 exponential histogram of positive values with at most
// maxSize buckets. Values <= 0 go to the zero bucket (durations, lags and
// sizes are never negative).
type Expo struct {
	scale   int32
	offset  int32
	counts  []uint64 // len = buckets in use, cap = maxSize
	zero    uint64
	maxSize int
}

func newExpo(maxSize int) *Expo {
	if maxSize < 2 {
		maxSize = 2
	}
	return &Expo{scale: maxScale, counts: make([]uint64, 0, maxSize), maxSize: maxSize}
}

// Reset empties the histogram but keeps its scale, so a steady stream keeps
// a steady resolution across delta intervals.
func (e *Expo) Reset() {
	e.counts = e.counts[:0]
	e.zero = 0
	e.offset = 0
}

func expoIndex(v float64, scale int32) int32 {
	frac, exp := math.Frexp(v) // v = frac × 2^exp, frac in [0.5, 1)
	if scale <= 0 {
		// Exact powers of two belong to the lower bucket (upper-inclusive).
		if frac == 0.5 {
			exp--
		}
		return int32(exp-1) >> -scale
	}
	idx := math.Ceil(math.Log2(v)*math.Ldexp(1, int(scale))) - 1
	if idx > math.MaxInt32/2 || idx < math.MinInt32/2 {
		return 0
	}
	return int32(idx)
}

// Record adds weight observations of v.
func (e *Expo) Record(v float64, weight uint64) {
	if !(v > 0) || math.IsInf(v, 0) {
		e.zero += weight
		return
	}
	idx := expoIndex(v, e.scale)
	if len(e.counts) == 0 {
		e.offset = idx
		e.counts = append(e.counts, weight)
		return
	}
	lo, hi := e.offset, e.offset+int32(len(e.counts))-1
	if idx < lo {
		lo = idx
	}
	if idx > hi {
		hi = idx
	}
	shift := int32(0)
	for (hi>>shift)-(lo>>shift)+1 > int32(e.maxSize) {
		shift++
	}
	if shift > 0 {
		e.downscale(shift)
		idx = expoIndex(v, e.scale)
	}
	switch {
	case idx < e.offset:
		n := int(e.offset - idx)
		old := len(e.counts)
		e.counts = e.counts[:old+n]
		copy(e.counts[n:], e.counts[:old])
		for i := 0; i < n; i++ {
			e.counts[i] = 0
		}
		e.offset = idx
	case int(idx-e.offset) >= len(e.counts):
		for int(idx-e.offset) >= len(e.counts) {
			e.counts = append(e.counts, 0)
		}
	}
	e.counts[idx-e.offset] += weight
}

// downscale merges buckets pairwise shift times.
func (e *Expo) downscale(shift int32) {
	e.scale -= shift
	newOff := e.offset >> shift
	n := 0
	for i, c := range e.counts {
		j := int(((e.offset + int32(i)) >> shift) - newOff)
		if j != i {
			e.counts[j] += c
			e.counts[i] = 0
		}
		if j+1 > n {
			n = j + 1
		}
	}
	e.counts = e.counts[:n]
	e.offset = newOff
}

func (e *Expo) write(dp pmetric.ExponentialHistogramDataPoint) {
	dp.SetScale(e.scale)
	dp.SetZeroCount(e.zero)
	dp.Positive().SetOffset(e.offset)
	dp.Positive().BucketCounts().FromRaw(e.counts)
}
