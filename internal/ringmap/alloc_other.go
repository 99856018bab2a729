//go:build !unix || race

package ringmap

const offHeapAvailable = false

// mapSlice is not available: tables stay in the Go heap.
func mapSlice[T any](int, uintptr) ([]T, func(), bool) { return nil, nil, false }
