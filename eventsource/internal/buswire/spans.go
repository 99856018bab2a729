package buswire

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// AttrErrorType is the OpenTelemetry error.type attribute.
const AttrErrorType = "error.type"

// FailSpan records err on span: the exception event, status ERROR and error.type.
func FailSpan(span trace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(attribute.String(AttrErrorType, ErrorType(err)))
}

// EndSpans fails and ends spans, for a publish that failed before reaching the broker.
func EndSpans(spans []trace.Span, err error) {
	for _, s := range spans {
		FailSpan(s, err)
		s.End()
	}
}
