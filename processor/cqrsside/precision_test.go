package cqrsside

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// A consumer is not a projection because it receives: the mailer of issue 27 (a remote child of an
// HTTP API's Kafka send) and everything under it get no side. The conventions' attributes on the
// receiving span are evidence; so is a rule, the one line that makes a user's own consumers projections.
func TestReceivingIsNoEvidence(t *testing.T) {
	mailer := func() ptrace.Traces {
		td := tracesOf("api", sp{name: "POST /orders", id: "api", scope: "http", kind: ptrace.SpanKindServer},
			sp{name: "notifications publish", id: "send", parent: "api", scope: "kafka", kind: ptrace.SpanKindProducer})
		appendSpans(td, "mailer", []sp{
			{name: "notifications process", id: "process", parent: "send", scope: "kafka", kind: ptrace.SpanKindConsumer,
				flags: flagHasIsRemote | flagIsRemote, attrs: map[string]any{semconv.AttrMessagingOperationType: "process"}},
			{name: "POST", id: "smtp", parent: "process", scope: "http", kind: ptrace.SpanKindClient},
			{name: "render", id: "render", parent: "process", scope: "app"},
			{name: "thumbnails process", id: "evented", scope: "amqp", kind: ptrace.SpanKindConsumer,
				attrs: map[string]any{semconv.AttrESEventType: "OrderPlaced"}},
			{name: "resize", id: "evented-child", parent: "evented", scope: "app"},
		})
		return td
	}

	h := newHarness(t, defaultCfg())
	h.consume(mailer())
	for _, id := range []string{"api", "send", "process", "smtp", "render"} {
		side, _ := h.side(id)
		assert.Empty(t, side, id)
	}
	for _, id := range []string{"evented", "evented-child"} {
		side, _ := h.side(id)
		assert.Equal(t, semconv.SideProjection, side, id)
	}
	assert.Equal(t, int64(5), metricSum(t, h.tel, "processor_cqrsside_spans_unclassified"))
	assert.Equal(t, int64(1), metricSum(t, h.tel, "processor_cqrsside_spans_unclassified", "reason", "receiving_without_evidence"),
		"the mailer's consumer: the one rule below would make it (and its subtree) projection")

	cfg := defaultCfg()
	cfg.Rules = []RuleConfig{{SpanKind: "consumer", Side: "projection"}}
	require.NoError(t, cfg.Validate())
	h = newHarness(t, cfg)
	h.consume(mailer())
	want := map[string][2]string{
		"api": {"", ""}, "send": {"", ""},
		"process": {semconv.SideProjection, semconv.SideSourceRule},
		"smtp":    {semconv.SideProjection, semconv.SideSourceInherited},
		"render":  {semconv.SideProjection, semconv.SideSourceInherited},
	}
	for id, w := range want {
		side, src := h.side(id)
		assert.Equal(t, w, [2]string{side, src}, id)
	}
}

// Every span is counted once, as classified or as left alone, so the two counters give the share of the
// traffic that is CQRS work: checked over every golden input, whichever way its spans leave (in their
// batch, released by a parent, by the timer, or at shutdown).
func TestEverySpanCountedOnce(t *testing.T) {
	inputs := map[string]func() []ptrace.Traces{
		"cqrs":        func() []ptrace.Traces { return []ptrace.Traces{tracesOf("a", cqrsSpans("")...)} },
		"eventsource": func() []ptrace.Traces { return []ptrace.Traces{tracesOf("b", eventsourceSpans("")...)} },
		"inheritance": func() []ptrace.Traces { return []ptrace.Traces{tracesOf("c", inheritanceSpans()...)} },
		"rules":       func() []ptrace.Traces { return []ptrace.Traces{rulesInput()} },
		"late-parent": lateParentBatches,
		"py-kafka":    pyKafkaBatches,
		"py-brokers":  func() []ptrace.Traces { return []ptrace.Traces{pyBrokersInput()} },
		"hostile":     hostileBatches,
	}
	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			cfg := defaultCfg()
			rulesConfig(cfg)
			h := newHarness(t, cfg)
			in := 0
			for _, td := range input() {
				in += td.SpanCount()
				h.consume(td)
				h.clock.Advance(time.Second)
			}
			require.NoError(t, h.p.shutdown(context.Background()))
			classified := metricSum(t, h.tel, "processor_cqrsside_spans_classified")
			unclassified := metricSum(t, h.tel, "processor_cqrsside_spans_unclassified")
			assert.Equal(t, int64(in), classified+unclassified, "classified %d + unclassified %d", classified, unclassified)
		})
	}
}
