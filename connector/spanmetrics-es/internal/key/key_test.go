package key

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestNoCollisions(t *testing.T) {
	build := func(parts ...any) string {
		var b Builder
		b.Reset()
		for _, p := range parts {
			switch v := p.(type) {
			case string:
				b.Str(v)
			case int64:
				b.Value(pcommon.NewValueInt(v))
			case nil:
				b.Absent()
			}
		}
		return string(b.Bytes())
	}
	assert.NotEqual(t, build("ab", "c"), build("a", "bc"))
	assert.NotEqual(t, build("1"), build(int64(1)))
	assert.NotEqual(t, build(nil, "a"), build("a", nil))
	assert.NotEqual(t, build(""), build(nil))
	assert.Equal(t, build("a", int64(7)), build("a", int64(7)))
}

func TestTruncateKeepsResource(t *testing.T) {
	var b Builder
	b.Reset()
	b.Str("svc")
	b.EndResource()
	res := string(b.Bytes())
	b.Str("x")
	b.Truncate()
	assert.Equal(t, res, string(b.Bytes()))
	assert.Equal(t, len(res), b.ResourceLen())
}
