package ringmap

import (
	"reflect"
	"sync/atomic"
	"unsafe"
)

// offHeapBytes is the memory mapped for tables outside the heap, not yet freed.
var offHeapBytes atomic.Int64

// offHeapMin is the size from which a table's ring and index are allocated
// outside the Go heap (where the platform allows it, see alloc_unix.go).
//
// Why: a table's slots hold no pointer, so the garbage collector never scans
// them, but in the heap they still count toward its goal, and GOGC=100 lets
// garbage grow by as much again. Measured on the default config at 50k
// spans/s: a 500k-entry producer store (43 MB) raised peak RSS by 76 MiB.
// Outside the heap a table costs its own pages only, resident as they are
// touched, like the heap's; on Linux they are advised huge pages
// (alloc_huge_linux.go), or random lookups pay a TLB miss more.
const offHeapMin = 1 << 20

// makeSlice returns a zeroed slice of n Ts and the function that frees it
// (nil for a slice in the Go heap).
func makeSlice[T any](n int) ([]T, func()) {
	var zero T
	size := uintptr(n) * unsafe.Sizeof(zero)
	if size >= offHeapMin && pointerFree(reflect.TypeFor[T]()) {
		if s, free, ok := mapSlice[T](n, size); ok {
			return s, free
		}
	}
	return make([]T, n), nil
}

// pointerFree reports whether values of t hold no pointer the garbage
// collector must see: only such values may live outside its heap.
func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || pointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	default: // pointers, strings, slices, maps, interfaces, channels, functions, uintptr
		return false
	}
}
