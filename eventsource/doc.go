// Package eventsource is an embeddable event-sourcing runtime (events,
// aggregates, event stores, repository, snapshots, command and query buses,
// an asynchronous event bus, projections with checkpoints and a dead-letter
// queue) instrumented with OpenTelemetry exactly as the otelcol-es collector
// expects: command.<Type>, query.<Type> and projection.<name> spans with
// cqrs.* attributes, and eventsource.* spans and attributes spelled as
// eventsource-py spells them. Names come from the semconv package.
//
// Delivery is at least once: a projection's Apply may see an event again
// after a crash or a redelivery, so it must be idempotent.
//
// The package depends on the OpenTelemetry API only. With no TracerProvider
// installed every span is a no-op; tracing can also be switched off per
// component with WithTracing(false).
package eventsource
