//go:generate go tool mdatagen metadata.yaml

// Package cqrsmetricsdrop drops the metrics an app exports under the names
// the collector derives from spans (cqrs.* by default): with both copies at
// the backend, the same work would be counted twice. It matches names by
// prefix, without OTTL, so a lean sidecar build need not carry the filter
// processor.
package cqrsmetricsdrop // import "github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop"
