// Package spanattr reads span attributes the one way the CQRS components
// share: typed readers that never parse or convert, the projection-name rule,
// and one length rule for values copied from spans.
//
// Its API is meant to stay small and stable: the connector uses it, and the
// processors can adopt it without behaviour changes.
package spanattr // import "github.com/otelcol-es/otelcol-es/internal/spanattr"

import (
	"math"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Str is m[key] when it is a string, else "" (absent or another type).
func Str(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok && v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// Bool is true only when m[key] is the boolean true.
func Bool(m pcommon.Map, key string) bool {
	v, ok := m.Get(key)
	return ok && v.Type() == pcommon.ValueTypeBool && v.Bool()
}

// Num reads an int or a finite double. Strings are not parsed: a number
// sent as a string is a wrong type, for the caller to report.
func Num(v pcommon.Value) (float64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return float64(v.Int()), true
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return 0, false
		}
		return d, true
	}
	return 0, false
}

// ProjectionName is cqrs.projection.name, else eventsource.projection.name
// (the runtime's own key), else "". Only non-empty strings count.
func ProjectionName(m pcommon.Map) string {
	if n := Str(m, semconv.AttrProjectionName); n != "" {
		return n
	}
	return Str(m, semconv.AttrESProjectionName)
}

// ProjectionOrSubscription is ProjectionName, else eventsource.subscription.name,
// else "": eventsource-py's runners and subscription spans name only the
// subscription feeding a projection, which defaults to the projection's class
// name as the projection name does. The processors name projections this way;
// only non-empty strings count.
func ProjectionOrSubscription(m pcommon.Map) string {
	if n := ProjectionName(m); n != "" {
		return n
	}
	return Str(m, semconv.AttrESSubscriptionName)
}

// MaxValueLen bounds, in bytes, the values copied from spans into metric
// attributes or derived names, so one absurd value cannot make a series or
// a type arbitrarily large.
const MaxValueLen = 256

// Origin says where a value comes from, which decides what Bound does with
// one that is too long.
type Origin uint8

const (
	// Stated values are set by the emitter (an attribute such as
	// cqrs.command.type): clipped, so the span still counts under a
	// recognisable name.
	Stated Origin = iota
	// Derived values are guessed (a type name cut from a span name): dropped
	// (""), since a guess that long is not a type name.
	Derived
)

// Bound applies the one length rule: a value of at most MaxValueLen bytes is
// kept; a longer one is clipped at a rune boundary when Stated, dropped when
// Derived. It never allocates.
func Bound(v string, o Origin) string {
	if len(v) <= MaxValueLen {
		return v
	}
	if o == Derived {
		return ""
	}
	n := MaxValueLen
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n]
}
