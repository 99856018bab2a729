// Package eventsource is an embeddable event-sourcing runtime (events,
// aggregates, event stores, repository, snapshots, command and query buses,
// an asynchronous event bus, projections with checkpoints and a dead-letter
// queue) instrumented with OpenTelemetry exactly as the otelcol-es collector
// expects: seed 000's command./query./projection. spans and cqrs.* attributes,
// and seed 001's eventsource.* spans and attributes. Names come from the
// semconv package.
//
// The package depends on the OpenTelemetry API only. With no TracerProvider
// installed every span is a no-op; tracing can also be switched off per
// component with WithTracing(false).
package eventsource
