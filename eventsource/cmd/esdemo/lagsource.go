package main

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// The lag sources projectionlag can use, as -lag-source names them (its cqrs.projection.lag.source values).
const (
	lagReported       = "reported"
	lagEventTimestamp = "event_timestamp"
	lagLink           = "link"
)

// lagDropped says, per -lag-source, which apply-span attributes an exporter leaves out so that the
// collector has to compute the lag from the next source: without cqrs.projection.lag_ms it takes the
// event's timestamp, without that too it joins the apply to the append span it links to.
var lagDropped = map[string]map[attribute.Key]bool{
	lagReported:       {},
	lagEventTimestamp: {semconv.AttrProjectionLagMs: true},
	lagLink:           {semconv.AttrProjectionLagMs: true, semconv.AttrESEventTimestamp: true},
}

// withoutLag wraps exp so that apply spans leave without the attributes lagSource drops.
func withoutLag(exp sdktrace.SpanExporter, lagSource string) sdktrace.SpanExporter {
	if len(lagDropped[lagSource]) == 0 {
		return exp
	}
	return lagStripper{SpanExporter: exp, drop: lagDropped[lagSource]}
}

type lagStripper struct {
	sdktrace.SpanExporter
	drop map[attribute.Key]bool
}

func (s lagStripper) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, sp := range spans {
		out[i] = sp
		if semconv.IsProjectionApply(sp.Name()) {
			out[i] = strippedSpan{ReadOnlySpan: sp, drop: s.drop}
		}
	}
	return s.SpanExporter.ExportSpans(ctx, out)
}

// strippedSpan is a span as exported, minus some attributes; the span the SDK holds is unchanged.
type strippedSpan struct {
	sdktrace.ReadOnlySpan
	drop map[attribute.Key]bool
}

func (s strippedSpan) Attributes() []attribute.KeyValue {
	var kept []attribute.KeyValue
	for _, kv := range s.ReadOnlySpan.Attributes() {
		if !s.drop[kv.Key] {
			kept = append(kept, kv)
		}
	}
	return kept
}
