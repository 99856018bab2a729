//go:generate go tool mdatagen metadata.yaml

// Package projectionlag annotates projection spans with how far behind the
// write side they run (lag in time and in positions), whether they are live
// or replaying, and how long a write takes to become visible on the read side.
package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"
