// Package key builds series keys into a reused buffer.
//
// A key is the resource part (service.name, instance id, resource
// dimensions) followed by the data point attribute values. Every value is
// length-prefixed and type-tagged, so no two different attribute sets can
// produce the same bytes.
package key // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/key"

import (
	"encoding/binary"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

const (
	tagAbsent byte = iota
	tagStr
	tagInt
	tagDouble
	tagBool
	tagOther
)

// Builder appends key parts to a buffer it keeps between uses.
type Builder struct {
	buf    []byte
	resLen int
}

// Reset starts a new resource key.
func (b *Builder) Reset() { b.buf = b.buf[:0]; b.resLen = 0 }

// EndResource marks the end of the resource part; later Truncate calls go
// back to this point so the resource part is built once per ResourceSpans.
func (b *Builder) EndResource() { b.resLen = len(b.buf) }

// Truncate drops everything after the resource part.
func (b *Builder) Truncate() { b.buf = b.buf[:b.resLen] }

// Bytes returns the key built so far; it is only valid until the next call.
func (b *Builder) Bytes() []byte { return b.buf }

// ResourceLen is the length of the resource part.
func (b *Builder) ResourceLen() int { return b.resLen }

// Str appends a string part.
func (b *Builder) Str(s string) {
	b.buf = append(b.buf, tagStr)
	b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
	b.buf = append(b.buf, s...)
}

// Absent appends a part for a missing optional value.
func (b *Builder) Absent() { b.buf = append(b.buf, tagAbsent) }

// Value appends an attribute value of any type without allocating for the
// scalar types; maps, slices and bytes fall back to their string form.
func (b *Builder) Value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		b.Str(v.Str())
	case pcommon.ValueTypeInt:
		b.buf = append(b.buf, tagInt)
		b.buf = strconv.AppendInt(b.buf, v.Int(), 10)
		b.buf = append(b.buf, 0)
	case pcommon.ValueTypeDouble:
		b.buf = append(b.buf, tagDouble)
		b.buf = binary.LittleEndian.AppendUint64(b.buf, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBool:
		if v.Bool() {
			b.buf = append(b.buf, tagBool, 1)
		} else {
			b.buf = append(b.buf, tagBool, 0)
		}
	case pcommon.ValueTypeEmpty:
		b.Absent()
	default:
		s := v.AsString()
		b.buf = append(b.buf, tagOther)
		b.buf = binary.AppendUvarint(b.buf, uint64(len(s)))
		b.buf = append(b.buf, s...)
	}
}
