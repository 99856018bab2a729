//go:build unix && !race

package ringmap

import (
	"syscall"
	"unsafe"
)

const offHeapAvailable = true

// mapSlice maps n Ts of anonymous memory: zeroed, and resident only once
// touched. The race detector only watches the Go heap, so race builds keep
// tables there (alloc_other.go) and check every access.
func mapSlice[T any](n int, size uintptr) ([]T, func(), bool) {
	mem, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	adviseHugePages(mem)
	offHeapBytes.Add(int64(size))
	free := func() {
		if syscall.Munmap(mem) == nil {
			offHeapBytes.Add(-int64(size))
		}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(mem))), n), free, true
}
