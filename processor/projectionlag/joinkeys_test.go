package projectionlag

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJoinKeyWithSpan(t *testing.T) {
	k := newJoinKey([16]byte{1, 2}, [8]byte{3})
	k2 := k.withSpan([8]byte{4})
	assert.Equal(t, k[:16], k2[:16])
	assert.Equal(t, byte(4), k2[16])
}

func TestInterner(t *testing.T) {
	in := newInterner(2)
	a, ok := in.id("A")
	require.True(t, ok)
	b, _ := in.id("B")
	assert.NotEqual(t, a, b)
	a2, _ := in.id("A")
	assert.Equal(t, a, a2)
	_, ok = in.id("C")
	assert.False(t, ok, "table full")
	assert.Equal(t, "A", in.name(a))
	assert.Equal(t, "", in.name(0))
	assert.Equal(t, "", in.name(99))
}
