package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
)

// A process boundary stops inheritance: the consumer of a bus is not the command that published,
// even when the producer put its caller's context in the message headers (eventsource-py's Kafka
// bus puts the writer's repository.save there, so consume would otherwise inherit "write").

// Reasons for processor_cqrsside_process_boundaries.
type boundaryReason uint8

const (
	boundaryConsumerKind boundaryReason = iota
	boundaryMessagingReceive
	boundaryRemoteParent
	boundaryServerKind
	boundaryOtherProcess
	numBoundary
)

var boundaryNames = [numBoundary]string{
	boundaryConsumerKind:     "consumer_kind",
	boundaryMessagingReceive: "messaging_receive",
	boundaryRemoteParent:     "remote_parent",
	boundaryServerKind:       "server_kind",
	boundaryOtherProcess:     "other_process",
}

// OTLP span flags (opentelemetry-proto trace.proto SpanFlags): the SDK knew whether the parent
// was remote, and it was. The Go and Python SDKs set both on spans with an extracted parent.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// boundaryOf says whether span starts a new process's work, and why. consumer is true when the
// span receives a message: with the conventions' attributes and no convention or rule of its own it
// is then a projection span.
func boundaryOf(span ptrace.Span) (r boundaryReason, consumer, ok bool) {
	switch span.Kind() {
	case ptrace.SpanKindConsumer:
		return boundaryConsumerKind, true, true
	case ptrace.SpanKindServer:
		// An entry point: its parent, if any, is the caller's.
		if !span.ParentSpanID().IsEmpty() {
			return boundaryServerKind, false, true
		}
	}
	if isMessagingReceive(span.Attributes()) {
		return boundaryMessagingReceive, true, true
	}
	if f := span.Flags(); f&flagHasIsRemote != 0 && f&flagIsRemote != 0 {
		return boundaryRemoteParent, false, true
	}
	return 0, false, false
}

// isMessagingReceive: messaging.operation (or messaging.operation.type) says receive, process or
// deliver, as OpenTelemetry's messaging conventions spell a consumer's operation.
func isMessagingReceive(attrs pcommon.Map) bool {
	for _, k := range [...]string{semconv.AttrMessagingOperation, semconv.AttrMessagingOperationType} {
		switch spanattr.Str(attrs, k) {
		case "receive", "process", "deliver":
			return true
		}
	}
	return false
}

// conventionAttrs: a cqrs.* or eventsource.* key says the span is CQRS or event-sourcing work.
func conventionAttrs(attrs pcommon.Map) bool {
	return matcher.HasAttrIn(attrs, semconv.AttrNamespaceCQRS) || matcher.HasAttrIn(attrs, semconv.AttrNamespaceEventsource)
}

// processKey identifies the process that emitted a resource's spans (FNV-1a of service.name and
// service.instance.id). A parent from another process is a boundary even when the SDK did not flag
// it remote. Two replicas without an instance id look like one process; their spans rarely parent
// each other except through a bus, which the span kind already marks.
func processKey(res pcommon.Resource) uint32 {
	h := uint32(2166136261)
	for _, k := range [...]string{semconv.AttrServiceName, semconv.AttrServiceInstanceID} {
		s := spanattr.Str(res.Attributes(), k) // absent and "" hash alike
		for i := 0; i < len(s); i++ {
			h ^= uint32(s[i])
			h *= 16777619
		}
		h ^= 0xff // separator: ("ab","") and ("a","b") differ
		h *= 16777619
	}
	return h
}
