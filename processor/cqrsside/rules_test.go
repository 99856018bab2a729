package cqrsside

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func rulesConfig(cfg *Config) {
	cfg.Rules = []RuleConfig{
		// In-process bus: dispatch runs inside the command, so it is write.
		{Name: semconv.SpanBusDispatch, ResourceAttributes: []AttributeMatch{{Key: "service.name", Value: strp("inproc-app")}}, Side: "write"},
		{NameRegexp: `^handle_(?P<type>[A-Za-z]+)Command$`, Side: "write"},
		{NamePrefix: "report.", SpanKind: "server", Side: "read", Type: "Reporting"},
		{ScopeName: "billing.consumer", Attributes: []AttributeMatch{{Key: "messaging.system"}}, Side: "projection", Type: "billing_view"},
		{Attributes: []AttributeMatch{{Key: "job.kind", Value: strp("rebuild")}, {Key: "job.shard", Value: strp("3")}}, Side: "projection"},
	}
}

func rulesInput() ptrace.Traces {
	td := tracesOf("inproc-app",
		sp{name: "handle_PlaceOrderCommand", id: "r1", scope: "app"},
		sp{name: semconv.SpanBusDispatch, id: "r2", parent: "r1", scope: "eventsource.bus.memory"},
		sp{name: semconv.SpanRepositoryLoad, id: "r3", parent: "r1", scope: "repo"},
		sp{name: "report.daily", id: "r4", scope: "app", kind: ptrace.SpanKindServer},
		sp{name: "report.daily", id: "r5", scope: "app", kind: ptrace.SpanKindClient},
		sp{name: "billing message", id: "r6", scope: "billing.consumer", attrs: map[string]any{semconv.AttrMessagingSystem: "kafka"}},
		sp{name: "rebuild", id: "r7", scope: "jobs", attrs: map[string]any{"job.kind": "rebuild", "job.shard": int64(3)}},
		sp{name: "rebuild", id: "r8", scope: "jobs", attrs: map[string]any{"job.kind": "rebuild", "job.shard": "4"}},
		// A valid cqrs.side beats every rule.
		sp{name: "handle_CancelOrderCommand", id: "r9", scope: "app", attrs: map[string]any{semconv.AttrSide: "read"}},
	)
	// Another service: the dispatch rule does not apply.
	appendSpans(td, "other-app", []sp{{name: semconv.SpanBusDispatch, id: "r10", scope: "eventsource.bus.memory"}})
	return td
}

func TestRules(t *testing.T) {
	for _, order := range []string{rulesOrderBefore, rulesOrderAfter} {
		t.Run(order, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			rulesConfig(cfg)
			cfg.RulesOrder = order
			h := newHarness(t, cfg)
			h.consume(rulesInput())
			spans := h.spans()
			get := func(id, key string) string { return strOf(spans[spanID(id)].Attributes(), key) }

			dispatch := "write"
			if order == rulesOrderAfter {
				dispatch = "projection" // the convention wins
			}
			assert.Equal(t, dispatch, get("r2", semconv.AttrSide))
			assert.Equal(t, "write", get("r1", semconv.AttrSide))
			assert.Equal(t, "rule", get("r1", semconv.AttrSideSource))
			assert.Equal(t, "PlaceOrder", get("r1", semconv.AttrCommandType))
			assert.Equal(t, "write", get("r3", semconv.AttrSide), "load under a rule-classified command inherits")
			assert.Empty(t, get("r3", semconv.AttrCommandType))
			assert.Equal(t, "read", get("r4", semconv.AttrSide))
			assert.Equal(t, "Reporting", get("r4", semconv.AttrQueryType))
			assert.Empty(t, get("r5", semconv.AttrSide), "kind does not match")
			assert.Equal(t, "projection", get("r6", semconv.AttrSide))
			assert.Equal(t, "billing_view", get("r6", semconv.AttrProjectionName))
			assert.Equal(t, "projection", get("r7", semconv.AttrSide), "int attribute matches its string form")
			assert.Empty(t, get("r8", semconv.AttrSide))
			assert.Equal(t, "read", get("r9", semconv.AttrSide))
			assert.Equal(t, "attribute", get("r9", semconv.AttrSideSource))
			assert.Equal(t, "projection", get("r10", semconv.AttrSide))
		})
	}
}
