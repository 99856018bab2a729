package cqrsside

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// A name that only starts like the CQRS conventions is no command: "command.exe" (a process
// instrumentation's span, say) gets no side and no cqrs.command.type, and its children none either.
// The same name from the conventions' tracer, or with a cqrs.* attribute, is a command.
func TestPrefixAloneIsNoEvidence(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("svc",
		sp{name: semconv.SpanPrefixCommand + "exe", id: "exe", scope: "app"},
		sp{name: "read config", id: "exe-child", parent: "exe", scope: "app"},
		sp{name: semconv.SpanPrefixQuery + "GetOrder", id: "client", scope: "app", kind: ptrace.SpanKindClient},
		sp{name: semconv.SpanPrefixCommand + "PlaceOrder", id: "shaped", scope: "app"},
		sp{name: semconv.SpanPrefixCommand + "exe", id: "scoped", scope: semconv.ScopeWrite},
		sp{name: semconv.SpanPrefixCommand + "exe", id: "attributed", scope: "app", kind: ptrace.SpanKindClient,
			attrs: map[string]any{semconv.AttrAggregateID: "order-1"}},
	))
	want := map[string][2]string{
		"exe":        {"", ""},
		"exe-child":  {"", ""},
		"client":     {"", ""},
		"shaped":     {semconv.SideWrite, "PlaceOrder"},
		"scoped":     {semconv.SideWrite, "exe"},
		"attributed": {semconv.SideWrite, "exe"},
	}
	spans := h.spans()
	for id, w := range want {
		attrs := spans[spanID(id)].Attributes()
		assert.Equal(t, w[0], strOf(attrs, semconv.AttrSide), id)
		assert.Equal(t, w[1], strOf(attrs, semconv.AttrCommandType)+strOf(attrs, semconv.AttrQueryType), id)
	}
}
