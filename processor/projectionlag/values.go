package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/internal/spanattr"
)

// minEventTime is the earliest event time accepted: anything before 2000 is
// a unit mistake (seconds read as milliseconds, a counter, a zero value).
var minEventTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

// Magnitude bounds used to tell epoch units apart. An epoch in seconds stays
// below 1e11 until the year 5138; milliseconds below 1e14, microseconds
// below 1e17; anything larger is nanoseconds. Values between 2000 and the
// near future in every unit fall well inside these ranges.
const (
	maxSeconds = 1e11
	maxMillis  = 1e14
	maxMicros  = 1e17
)

// eventTimeNanos reads an event creation time: an int or double epoch in
// s/ms/µs/ns (unit detected by magnitude), a numeric string, or an RFC 3339
// string. The result must lie between 2000 and spanStart+tolerance.
func eventTimeNanos(v pcommon.Value, spanStart int64, tolerance time.Duration) (int64, bool) {
	var ns int64
	var ok bool
	switch v.Type() {
	case pcommon.ValueTypeInt:
		ns, ok = epochIntToNanos(v.Int())
	case pcommon.ValueTypeDouble:
		ns, ok = epochFloatToNanos(v.Double())
	case pcommon.ValueTypeStr:
		ns, ok = parseTimeString(v.Str())
	default:
		return 0, false
	}
	if !ok || ns < minEventTime || ns > spanStart+int64(tolerance) {
		return 0, false
	}
	return ns, true
}

func epochIntToNanos(i int64) (int64, bool) {
	var scale int64
	switch {
	case i <= 0:
		return 0, false
	case i < maxSeconds:
		scale = int64(time.Second)
	case i < maxMillis:
		scale = int64(time.Millisecond)
	case i < maxMicros:
		scale = int64(time.Microsecond)
	default:
		return i, true
	}
	if i > math.MaxInt64/scale {
		return 0, false
	}
	return i * scale, true
}

func epochFloatToNanos(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, false
	}
	var ns float64
	switch {
	case f < maxSeconds:
		ns = f * 1e9
	case f < maxMillis:
		ns = f * 1e6
	case f < maxMicros:
		ns = f * 1e3
	default:
		ns = f
	}
	if ns >= math.MaxInt64 {
		return 0, false
	}
	return int64(ns), true
}

func parseTimeString(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return epochIntToNanos(i)
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return epochFloatToNanos(f)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	// Years past 2262 overflow UnixNano; they are absurd anyway.
	if t.Year() > 2200 || t.Year() < 1970 {
		return 0, false
	}
	return t.UnixNano(), true
}

// reportedLag validates a reported cqrs.projection.lag_ms: numeric, finite,
// and implying an event time between 2000 and spanStart+tolerance (so a
// lag in the wrong unit, or a wildly negative one, is rejected rather than
// treated as clock skew).
func reportedLag(v pcommon.Value, spanStart int64, tolerance time.Duration) (float64, bool) {
	ms, ok := spanattr.Num(v)
	if !ok {
		return 0, false
	}
	implied := float64(spanStart) - ms*1e6
	if implied < float64(minEventTime) || implied > float64(spanStart)+float64(tolerance) {
		return 0, false
	}
	return ms, true
}

// positionOf reads a position: eventsource-py's token (see positionToken) or a
// plain position. storeID is the token's store id, "" for a plain position.
func positionOf(v pcommon.Value) (pos int64, storeID string, ok bool) {
	if v.Type() == pcommon.ValueTypeStr {
		if s := strings.TrimSpace(v.Str()); strings.HasPrefix(s, "{") {
			return positionToken(s)
		}
	}
	pos, ok = position(v)
	return pos, "", ok
}

// positionToken reads eventsource-py's Position.to_str(), {"s":"<store id>","k":[<key>...]}: a
// store id and the position's keys. A single non-negative integer key is a global position; a
// token with several keys (per partition) has no single one and is refused.
func positionToken(s string) (pos int64, storeID string, ok bool) {
	var tok struct {
		S string        `json:"s"`
		K []json.Number `json:"k"`
	}
	if err := json.Unmarshal([]byte(s), &tok); err != nil || len(tok.K) != 1 {
		return 0, "", false
	}
	pos, err := tok.K[0].Int64()
	if err != nil || pos < 0 || pos > maxPosition {
		return 0, "", false
	}
	return pos, tok.S, true
}

// maxPosition bounds a believable global position: no event store holds 2^62 events, and a value
// near 2^63 (a sentinel, an overflow) would make every projection look that far behind.
const maxPosition = 1 << 62

// position reads a global or checkpoint position: a non-negative int, an
// integral double, or a decimal string, at most maxPosition.
func position(v pcommon.Value) (int64, bool) {
	pos, ok := rawPosition(v)
	return pos, ok && pos <= maxPosition
}

func rawPosition(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		i := v.Int()
		return i, i >= 0
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if f < 0 || f >= math.MaxInt64 || f != math.Trunc(f) {
			return 0, false
		}
		return int64(f), true
	case pcommon.ValueTypeStr:
		i, err := strconv.ParseInt(strings.TrimSpace(v.Str()), 10, 64)
		return i, err == nil && i >= 0
	}
	return 0, false
}
