package eventsource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Event is a domain event as stored and delivered.
type Event struct {
	// ID is unique per event (random 128-bit hex unless set).
	ID string
	// Type names the event, e.g. "OrderPlaced".
	Type          string
	AggregateID   string
	AggregateType string
	// Version is the aggregate's version after this event (1 for the first).
	Version int64
	// Timestamp is when the event was created (raised), not when it was stored.
	Timestamp time.Time
	// Position is the global position, assigned by the store on append
	// (1, 2, 3, ... across all aggregates). Zero until appended.
	Position int64
	// Data is the JSON-encoded payload.
	Data json.RawMessage
	// Metadata carries W3C trace context (traceparent, tracestate) and any
	// application keys.
	Metadata map[string]string
}

// Decode unmarshals the payload into v.
func (e Event) Decode(v any) error { return json.Unmarshal(e.Data, v) }

// clone returns a copy that shares nothing mutable with e.
func (e Event) clone() Event {
	c := e
	if e.Data != nil {
		c.Data = append(json.RawMessage(nil), e.Data...)
	}
	if e.Metadata != nil {
		c.Metadata = maps.Clone(e.Metadata)
	}
	return c
}

func cloneEvents(in []Event) []Event {
	out := make([]Event, len(in))
	for i := range in {
		out[i] = in[i].clone()
	}
	return out
}

// NewEventID returns a random 128-bit hex identifier.
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var propagator = propagation.TraceContext{}

// InjectTraceContext writes ctx's span context into the event's metadata as
// W3C traceparent/tracestate, unless the event already carries one (the first
// producer wins, so a re-published event still points at its origin).
func InjectTraceContext(ctx context.Context, e *Event) {
	if _, ok := e.Metadata[semconv.MetadataTraceparent]; ok {
		return
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if e.Metadata == nil {
		e.Metadata = make(map[string]string, 2)
	}
	propagator.Inject(ctx, propagation.MapCarrier(e.Metadata))
}

// TraceContext returns the producing span context carried in the event's
// metadata (invalid when there is none). Handlers link to it or continue it.
func (e Event) TraceContext() trace.SpanContext {
	if len(e.Metadata) == 0 {
		return trace.SpanContext{}
	}
	ctx := propagator.Extract(context.Background(), propagation.MapCarrier(e.Metadata))
	return trace.SpanContextFromContext(ctx)
}

// ContextWithEventTrace returns ctx with the event's producing span context
// as the remote parent, so spans started from it continue the producer's trace.
func ContextWithEventTrace(ctx context.Context, e Event) context.Context {
	sc := e.TraceContext()
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
