//go:generate ./mdatagen.sh

// Package spanmetricses implements the spanmetrics_es connector: it turns
// spans annotated by the cqrsside and projectionlag processors into the CQRS
// metric set (commands, queries, events produced, projection lag and state).
package spanmetricses // import "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"
