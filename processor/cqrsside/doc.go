//go:generate go tool mdatagen metadata.yaml

// Package cqrsside classifies every span as write, read or projection
// (the CQRS side) and normalises command, query, projection, event and
// aggregate type names, so later stages can compute lag and metrics per side.
package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"
