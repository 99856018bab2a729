//go:generate go tool mdatagen metadata.yaml

// Package cqrsside gives the spans that are CQRS work their side (write, read
// or projection) and normalises command, query, projection, event and
// aggregate type names, so later stages can compute lag and metrics per side.
// Spans without evidence of CQRS work pass untouched.
package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"
