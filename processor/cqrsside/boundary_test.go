package cqrsside

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// A process boundary stops inheritance, whichever way it shows: the span kind, messaging receive
// attributes, the OTLP remote-parent flags, or a parent from another service (in the same batch, from
// the ancestor cache, or arriving after the child waited for it). Within one process, spans still inherit.
func TestProcessBoundaryStopsInheritance(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("writer", sp{name: semconv.SpanRepositorySave, id: "save", scope: "repo"},
		sp{name: "validate", id: "same-process", parent: "save", scope: "app"}))

	td := tracesOf("reader",
		sp{name: "orders.events process", id: "consumer", parent: "save", scope: "kafka", kind: ptrace.SpanKindConsumer,
			attrs: map[string]any{semconv.AttrESEventType: "OrderPlaced"}},
		sp{name: "handle_order", id: "consumer-child", parent: "consumer", scope: "app"},
		sp{name: "receive order", id: "receive", parent: "save", scope: "kafka",
			attrs: map[string]any{semconv.AttrMessagingOperationType: "receive"}},
		sp{name: "worker.handle", id: "remote", parent: "save", scope: "app", flags: flagHasIsRemote | flagIsRemote},
		sp{name: semconv.SpanPrefixReadModel + "save", id: "remote-rm", parent: "remote", scope: "rm"},
		sp{name: "POST /audit", id: "server", parent: "save", scope: "http", kind: ptrace.SpanKindServer},
		sp{name: "audit.record", id: "unflagged", parent: "save", scope: "app"},
	)
	// The same batch also carries the writer's next save and a child of it from the reader.
	appendSpans(td, "writer", []sp{{name: semconv.SpanRepositorySave, id: "save2", scope: "repo"}})
	appendSpans(td, "reader", []sp{{name: "audit.record", id: "in-batch", parent: "save2", scope: "app"}})
	h.consume(td)

	// A child that arrives before its parent, which then arrives from another service.
	h.consume(tracesOf("reader", sp{name: semconv.SpanRepositoryLoad, id: "early", parent: "save3", scope: "repo"}))
	h.clock.Advance(time.Second)
	h.consume(tracesOf("writer", sp{name: semconv.SpanRepositorySave, id: "save3", scope: "repo"}))

	want := map[string][2]string{
		"same-process":   {"write", "inherited"},
		"consumer":       {"projection", "convention"},
		"consumer-child": {"projection", "inherited"},
		"receive":        {"", ""}, // receiving alone is no CQRS work (precision_test.go)
		"remote":         {"", ""},
		"remote-rm":      {"projection", "convention"},
		"server":         {"", ""},
		"unflagged":      {"", ""},
		"in-batch":       {"", ""},
		"early":          {"read", "convention"},
	}
	for id, w := range want {
		side, src := h.side(id)
		assert.Equal(t, w[0], side, id)
		if w[0] != "" {
			assert.Equal(t, w[1], src, id)
		}
	}
	m := func(reason string) int64 {
		return metricSum(t, h.tel, "processor_cqrsside_process_boundaries", "reason", reason)
	}
	assert.Equal(t, int64(1), m("consumer_kind"))
	assert.Equal(t, int64(1), m("messaging_receive"))
	assert.Equal(t, int64(1), m("remote_parent"))
	assert.Equal(t, int64(1), m("server_kind"))
	assert.Equal(t, int64(2), m("other_process"), "cache, same batch")
}

func TestHostileShapesCounted(t *testing.T) {
	h := newHarness(t, defaultCfg())
	in := 0
	for _, td := range hostileBatches() {
		in += td.SpanCount()
		h.consume(td)
		h.clock.Advance(time.Second)
	}
	assert.Equal(t, in, h.sink.SpanCount(), "every span passes, once")
	m := func(name string, kv ...string) int64 { return metricSum(t, h.tel, name, kv...) }
	assert.Equal(t, int64(1), m("processor_cqrsside_invalid_input", "reason", "parent_cycle"), "the self-parent")
	assert.Equal(t, int64(1), m("processor_cqrsside_invalid_input", "reason", "type_name_too_long"))
	assert.Equal(t, int64(1), m("processor_cqrsside_process_boundaries", "reason", "remote_parent"))
	// The cycle across batches is a missing parent like any other: its first span goes on with its
	// fallback, and the second inherits from it.
	assert.Equal(t, int64(2), m("processor_cqrsside_spans_parent_unseen"), "the unflagged orphan and the cycle")
	side, _ := h.side("clock")
	assert.Equal(t, semconv.SideRead, side, "timestamps do not matter to the side")
}
