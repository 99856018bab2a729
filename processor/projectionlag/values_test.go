package projectionlag

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestEventTimeNanos(t *testing.T) {
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	ev := start.Add(-1500 * time.Millisecond)
	s := start.UnixNano()
	tol := time.Minute
	tests := []struct {
		name string
		v    pcommon.Value
		want int64
		ok   bool
	}{
		{"int seconds", pcommon.NewValueInt(ev.Unix()), ev.Truncate(time.Second).UnixNano(), true},
		{"int millis", pcommon.NewValueInt(ev.UnixMilli()), ev.UnixNano(), true},
		{"int micros", pcommon.NewValueInt(ev.UnixMicro()), ev.UnixNano(), true},
		{"int nanos", pcommon.NewValueInt(ev.UnixNano()), ev.UnixNano(), true},
		{"double seconds", pcommon.NewValueDouble(float64(ev.UnixNano()) / 1e9), ev.UnixNano(), true},
		{"double millis", pcommon.NewValueDouble(float64(ev.UnixMilli())), ev.UnixNano(), true},
		{"rfc3339", pcommon.NewValueStr(ev.Format(time.RFC3339Nano)), ev.UnixNano(), true},
		{"numeric string millis", pcommon.NewValueStr("  " + itoa(ev.UnixMilli())), ev.UnixNano(), true},
		{"numeric string float seconds", pcommon.NewValueStr("1795341598.5"), time.Unix(1795341598, 5e8).UnixNano(), true},
		{"within future tolerance", pcommon.NewValueInt(start.Add(30 * time.Second).UnixMilli()), start.Add(30 * time.Second).UnixNano(), true},
		{"future beyond tolerance", pcommon.NewValueInt(start.Add(2 * time.Hour).UnixMilli()), 0, false},
		{"before 2000 (seconds counter)", pcommon.NewValueInt(12345), 0, false},
		{"before 2000 (1990)", pcommon.NewValueStr("1990-01-01T00:00:00Z"), 0, false},
		{"zero", pcommon.NewValueInt(0), 0, false},
		{"negative", pcommon.NewValueInt(-5), 0, false},
		{"huge seconds overflow", pcommon.NewValueInt(99_999_999_999), 0, false},
		{"max int", pcommon.NewValueInt(math.MaxInt64), 0, false},
		{"nan", pcommon.NewValueDouble(math.NaN()), 0, false},
		{"inf", pcommon.NewValueDouble(math.Inf(1)), 0, false},
		{"huge double", pcommon.NewValueDouble(1e300), 0, false},
		{"bool", pcommon.NewValueBool(true), 0, false},
		{"empty string", pcommon.NewValueStr(""), 0, false},
		{"garbage string", pcommon.NewValueStr("yesterday"), 0, false},
		{"year 9999", pcommon.NewValueStr("9999-01-01T00:00:00Z"), 0, false},
		{"map", pcommon.NewValueMap(), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := eventTimeNanos(tt.v, s, tol)
			assert.Equal(t, tt.ok, ok)
			if tt.ok {
				assert.InDelta(t, tt.want, got, float64(time.Microsecond))
			}
		})
	}
}

func itoa(i int64) string { return pcommon.NewValueInt(i).AsString() }

func TestReportedLag(t *testing.T) {
	s := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC).UnixNano()
	tol := time.Minute
	ms, ok := reportedLag(pcommon.NewValueDouble(12.5), s, tol)
	assert.True(t, ok)
	assert.Equal(t, 12.5, ms)
	ms, ok = reportedLag(pcommon.NewValueInt(40), s, tol)
	assert.True(t, ok)
	assert.Equal(t, 40.0, ms)
	ms, ok = reportedLag(pcommon.NewValueDouble(-20), s, tol)
	assert.True(t, ok, "slightly negative is clock skew, handled by policy")
	assert.Equal(t, -20.0, ms)
	for name, v := range map[string]pcommon.Value{
		"nan":                pcommon.NewValueDouble(math.NaN()),
		"inf":                pcommon.NewValueDouble(math.Inf(-1)),
		"string":             pcommon.NewValueStr("12"),
		"bool":               pcommon.NewValueBool(false),
		"implies before2000": pcommon.NewValueDouble(1e15),
		"hugely negative":    pcommon.NewValueDouble(-1e9),
	} {
		_, ok := reportedLag(v, s, tol)
		assert.False(t, ok, name)
	}
}

func TestPosition(t *testing.T) {
	for name, tt := range map[string]struct {
		v    pcommon.Value
		want int64
		ok   bool
	}{
		"int":        {pcommon.NewValueInt(42), 42, true},
		"zero":       {pcommon.NewValueInt(0), 0, true},
		"negative":   {pcommon.NewValueInt(-1), 0, false},
		"double":     {pcommon.NewValueDouble(7), 7, true},
		"fraction":   {pcommon.NewValueDouble(7.5), 0, false},
		"nan":        {pcommon.NewValueDouble(math.NaN()), 0, false},
		"inf":        {pcommon.NewValueDouble(math.Inf(1)), 0, false},
		"string":     {pcommon.NewValueStr(" 99 "), 99, true},
		"bad string": {pcommon.NewValueStr("x"), 0, false},
		"bool":       {pcommon.NewValueBool(true), 0, false},
	} {
		got, ok := position(tt.v)
		assert.Equal(t, tt.ok, ok, name)
		if ok {
			assert.Equal(t, tt.want, got, name)
		}
	}
}
