package spanattr

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func TestReaders(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("s", "v")
	m.PutInt("i", 3)
	m.PutDouble("d", 2.5)
	m.PutDouble("nan", math.NaN())
	m.PutDouble("inf", math.Inf(1))
	m.PutBool("b", true)
	m.PutBool("f", false)

	assert.Equal(t, "v", Str(m, "s"))
	assert.Empty(t, Str(m, "i"), "no conversion")
	assert.Empty(t, Str(m, "absent"))
	assert.True(t, Bool(m, "b"))
	assert.False(t, Bool(m, "f"))
	assert.False(t, Bool(m, "s"))
	for k, want := range map[string]float64{"i": 3, "d": 2.5} {
		v, _ := m.Get(k)
		got, ok := Num(v)
		assert.True(t, ok, k)
		assert.Equal(t, want, got, k)
	}
	for _, k := range []string{"s", "nan", "inf", "b"} {
		v, _ := m.Get(k)
		_, ok := Num(v)
		assert.False(t, ok, k)
	}
}

func TestProjectionName(t *testing.T) {
	m := pcommon.NewMap()
	assert.Empty(t, ProjectionName(m))
	m.PutStr(semconv.AttrESProjectionName, "runtime")
	assert.Equal(t, "runtime", ProjectionName(m))
	m.PutStr(semconv.AttrProjectionName, "")
	assert.Equal(t, "runtime", ProjectionName(m), "an empty cqrs name does not hide the runtime's")
	m.PutStr(semconv.AttrProjectionName, "cqrs")
	assert.Equal(t, "cqrs", ProjectionName(m))
	m.PutInt(semconv.AttrProjectionName, 1)
	assert.Equal(t, "runtime", ProjectionName(m), "only strings count")
}

func TestProjectionOrSubscription(t *testing.T) {
	m := pcommon.NewMap()
	assert.Empty(t, ProjectionOrSubscription(m))
	m.PutStr(semconv.AttrESSubscriptionName, "")
	assert.Empty(t, ProjectionOrSubscription(m))
	m.PutStr(semconv.AttrESSubscriptionName, "sub")
	assert.Equal(t, "sub", ProjectionOrSubscription(m))
	m.PutStr(semconv.AttrESProjectionName, "runtime")
	assert.Equal(t, "runtime", ProjectionOrSubscription(m), "the runtime's projection name comes first")
	m.PutStr(semconv.AttrProjectionName, "cqrs")
	assert.Equal(t, "cqrs", ProjectionOrSubscription(m))
	m.PutInt(semconv.AttrProjectionName, 1)
	m.PutBool(semconv.AttrESProjectionName, true)
	assert.Equal(t, "sub", ProjectionOrSubscription(m), "only strings count")
}

func TestBound(t *testing.T) {
	short := strings.Repeat("a", MaxValueLen)
	assert.Equal(t, short, Bound(short, Stated))
	assert.Equal(t, short, Bound(short, Derived))
	long := strings.Repeat("é", 1000) // 2 bytes per rune
	assert.Len(t, Bound(long, Stated), MaxValueLen)
	assert.Len(t, Bound("a"+long, Stated), MaxValueLen-1, "cut at a rune boundary")
	assert.Empty(t, Bound(long, Derived))
}

func FuzzBound(f *testing.F) {
	f.Add(strings.Repeat("é", 200), false)
	f.Add("a"+strings.Repeat("日本", 100), true)
	f.Fuzz(func(t *testing.T, v string, derived bool) {
		o := Stated
		if derived {
			o = Derived
		}
		got := Bound(v, o)
		if len(got) > MaxValueLen || !strings.HasPrefix(v, got) {
			t.Fatalf("Bound(%q) = %q", v, got)
		}
		if len(v) <= MaxValueLen && got != v {
			t.Fatalf("short value changed: %q -> %q", v, got)
		}
		if derived && len(v) > MaxValueLen && got != "" {
			t.Fatalf("long derived value kept: %q", got)
		}
		if utf8.ValidString(v) && !utf8.ValidString(got) {
			t.Fatalf("cut inside a rune: %q", got)
		}
	})
}
