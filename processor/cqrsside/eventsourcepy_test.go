package cqrsside

import (
	"cmp"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/eventsourcepy"
)

// catalogueDir holds eventsource-py 0.14's telemetry, extracted from its source.
var catalogueDir = filepath.Join("..", "..", "testdata", "eventsource-py-0.14")

type catalogueSpan struct {
	Name       string   `yaml:"name"`
	Pattern    string   `yaml:"pattern"`
	Example    string   `yaml:"example"`
	Kind       string   `yaml:"kind"`
	Source     string   `yaml:"source"`
	Attributes []string `yaml:"attributes"`
	Group      string   `yaml:"group"`
	Side       string   `yaml:"side"`
	Inherits   bool     `yaml:"inherits"`
	Reason     string   `yaml:"reason"`
}

func loadCatalogue(t *testing.T) []catalogueSpan {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(catalogueDir, "spans.yaml"))
	require.NoError(t, err)
	var spans []catalogueSpan
	require.NoError(t, yaml.Unmarshal(raw, &spans))
	return spans
}

var catalogueKinds = map[string]ptrace.SpanKind{
	"INTERNAL": ptrace.SpanKindInternal, "PRODUCER": ptrace.SpanKindProducer, "CONSUMER": ptrace.SpanKindConsumer,
	"CLIENT": ptrace.SpanKindClient, "SERVER": ptrace.SpanKindServer,
}

// catalogueValues is a value for every span attribute key eventsource-py 0.14 sets, of the type and shape
// the library gives it (testdata/eventsource-py-0.14/NOTES.md and attributes.yaml; internal/eventsourcepy):
// ids are strings, positions on eventsource.* keys are Position.to_str() JSON tokens while the migration
// spans' unprefixed positions are ints, counts are ints, flags are bools, durations are float ms. Keys whose
// value depends on the emitting site are set by catalogueAttrs.
var catalogueValues = map[string]any{
	"aggregate.type": "Order", "audit.entry_id": "3f0e6a1c-5a4e-4b8e-9c61-0d2b7f0a9e11", "audit.event_type": "OrderCreated",
	"batch_size": int64(1000), "cache.hit": true, "checkpoint.failed": false, "checkpoint.updated": true,
	"consumer.name": "orders-projector-1", "deleted_count": int64(12), "dlq.id": "17", "dry_run": false,
	"end_position": int64(1042), "error": "ConnectionError: broker unavailable", "event.id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
	"event.unknown_type": false, "events.replayed": int64(1),
	semconv.AttrESAggregateID: "order-1", semconv.AttrESAggregateType: "Order",
	semconv.AttrESBatchSize: int64(100), "eventsource.buffer.size": int64(3),
	"eventsource.cutover.migration_id": "5b1d8f3e-2c1a-4f6b-8e0d-9a7c3b2e1f40", "eventsource.cutover.target_store_id": "pg:orders_v2",
	"eventsource.cutover.timeout_ms": int64(500), "eventsource.error.type": "ValueError: unknown order status",
	semconv.AttrESEventCount: int64(2), semconv.AttrESEventID: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
	semconv.AttrESEventType: "OrderCreated", "eventsource.events.processed": int64(42),
	semconv.AttrESFromPosition: eventsourcepy.Position("orders", 1000), semconv.AttrESHandlerCount: int64(1),
	semconv.AttrESHandlerName: "OrderSummaryProjection", semconv.AttrESHandlerSuccess: true,
	"eventsource.lock.acquired": true, semconv.AttrESLockID: "8d5e2f1a-6b3c-4d7e-9f0a-1b2c3d4e5f60",
	"eventsource.lock.key": "migration:5b1d8f3e", "eventsource.lock.timeout": -1.0,
	"eventsource.migration.id": "5b1d8f3e-2c1a-4f6b-8e0d-9a7c3b2e1f40", "eventsource.migration.source_store": "pg:orders",
	"eventsource.migration.sync_lag_events": int64(7), "eventsource.migration.target_store": "pg:orders_v2",
	"eventsource.migration.tenant_id": "tenant-acme", semconv.AttrESPosition: eventsourcepy.Position("orders", 1042),
	semconv.AttrESProjectionName: "OrderSummaryProjection", "eventsource.query.filter_count": int64(1),
	"eventsource.query.limit": int64(50), semconv.AttrESReadModelID: "order-1", semconv.AttrESReadModelType: "OrderSummary",
	"eventsource.retry.count": int64(3), semconv.AttrESSubscriptionName: "OrderSummaryProjection",
	semconv.AttrSubscriptionPhase: "live", "eventsource.sync_lag.is_sync_ready": true, "eventsource.sync_lag.sync_threshold": int64(100),
	"eventsource.tenant.id": "tenant-acme", semconv.AttrESToPosition: eventsourcepy.Position("orders", 1042),
	semconv.AttrESVersion: int64(4), semconv.AttrESWatermark: eventsourcepy.Position("orders", 1042), "exists": true,
	"handler.count": int64(2), "handler.duration_ms": 19.5, "level": "hash", "limit": int64(100),
	"mapping.id": "c2a4e6f8-1b3d-4f5a-8c7e-9d0b2a4c6e81", "message.id": "1700000000000-0",
	"messaging.batch.chunk_size": int64(100), "messaging.batch.failed": int64(0), "messaging.batch.max_concurrent": int64(10),
	"messaging.batch.published": int64(3), "messaging.batch.size": int64(3), semconv.AttrMessagingDestination: "orders",
	"messaging.kafka.consumer_group": "orders-projector", "messaging.kafka.offset": int64(41), "messaging.kafka.partition": int64(0),
	"messaging.message_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "messaging.rabbitmq.routing_key": "OrderCreated",
	"messaging.source": "orders", "messaging.source_kind": "topic", "migration.events_copied": int64(500),
	"migration.events_total": int64(1042), "migration.id": "5b1d8f3e-2c1a-4f6b-8e0d-9a7c3b2e1f40", "migration.new_phase": "dual_write",
	"migration.paused": false, "migration_state": "dual_write", "new_version": int64(4), "offset": int64(0),
	"older_than_days": int64(7), "outbox.id": "ob-1", semconv.AttrPositionToken: eventsourcepy.Position("orders", 1042),
	"processing.duration_ms": 12.25, "processing.success": true, "projection.count": int64(2), "publish.success": true,
	"resolved_by": "ops@example.com", "sample_percentage": 10.0, "save.success": true, "snapshot.used": true,
	"snapshot.version": int64(2), "source_position": int64(1042), "start_position": int64(0), "status_filter": "failed",
	"store_id": "pg:orders_v2", "stream_id": "Order-order-1", "subscription.name": "OrderSummaryProjection",
	"subscription_count": int64(2), "target_position": int64(2017), "target_store_id": "pg:orders_v2",
	"tenant.id": "tenant-acme", "tenant_id": "tenant-acme", "update_interval": 1.0, "use_nearest": true,
}

// catalogueAttrs gives every key the entry lists the value the library sets at that site; keys whose value
// depends on the site (the adapter's db.system, the bus, the sentinels NOTES.md lists) are set from the entry.
func catalogueAttrs(t *testing.T, c catalogueSpan) map[string]any {
	t.Helper()
	attrs := map[string]any{}
	for _, k := range c.Attributes {
		v, ok := catalogueValues[k]
		switch k {
		case semconv.AttrDBSystem:
			v, ok = "postgresql", true
			for _, db := range []string{"sqlite", "memory"} {
				if strings.Contains(c.Source, "/"+db+"/") {
					v = db
				}
			}
		case semconv.AttrDBOperation:
			v, ok = "SELECT", true
			for suffix, op := range map[string]string{".save": "UPSERT", ".delete": "DELETE", ".update": "UPDATE"} {
				if strings.Contains(c.Name, suffix) {
					v = op
				}
			}
		case semconv.AttrMessagingSystem:
			v, ok = c.Group, c.Group == "kafka" || c.Group == "rabbitmq" || c.Group == "redis"
		case semconv.AttrMessagingOperation:
			// The one key whose value matters to classification: publish on producers, receive on consumers.
			v, ok = map[string]string{"PRODUCER": "publish", "CONSUMER": "receive"}[c.Kind]
		case "messaging.destination_kind":
			v, ok = map[string]string{"kafka": "topic", "rabbitmq": "exchange"}[c.Group]
			if c.Kind == "CONSUMER" {
				v = "queue"
			}
		case "eventsource.expected_version":
			// ExpectedVersion.kind on appends, the model's int version on read models.
			v, ok = any("any"), true
			if c.Group == "readmodel" {
				v = int64(3)
			}
		case "eventsource.migration.phase":
			v, ok = "bulk_copy", true
			for name, phase := range map[string]string{"dual_write": "dual_write", "cutover": "cutover"} {
				if strings.Contains(c.Name, name) {
					v = phase
				}
			}
		}
		require.Truef(t, ok, "%s: no realistic value for %s: add it to catalogueValues", c.Name, k)
		attrs[k] = v
	}
	// The router's sentinels (attributes.yaml, values).
	switch c.Name {
	case "eventsource.router.append":
		attrs["eventsource.tenant.id"] = "none"
	case "eventsource.router.read_category", "eventsource.router.read_all":
		attrs["eventsource.tenant.id"] = "all"
	}
	if _, ok := attrs[semconv.AttrESPosition]; ok && c.Name == "eventsource.router.read_all" {
		attrs[semconv.AttrESPosition] = "start"
	}
	return attrs
}

// catalogueEntries: the emission sites spans.yaml lists for 0.14 (one entry each).
const catalogueEntries = 244

// TestEventsourcePyCatalogue runs every span eventsource-py 0.14 can emit through cqrsside with no
// configuration: alone (its own side, or the documented default), under a command and under a query in
// the same process (spans that inherit take the caller's side; the others keep theirs), and, for
// consumers, under a remote writer.
func TestEventsourcePyCatalogue(t *testing.T) {
	spans := loadCatalogue(t)
	require.Equal(t, catalogueEntries, len(spans), "the catalogue lists every emission site of 0.14")
	// Every value above belongs to a key the catalogue lists: a key the library dropped goes from both.
	listed := map[string]bool{}
	for _, c := range spans {
		for _, k := range c.Attributes {
			listed[k] = true
		}
	}
	for k := range catalogueValues {
		assert.Truef(t, listed[k], "catalogueValues: %s is on no span of the catalogue", k)
	}
	sides := map[string]string{"write": semconv.SideWrite, "read": semconv.SideRead, "projection": semconv.SideProjection, "none": ""}
	for i, c := range spans {
		name := c.Name
		if c.Pattern != "" {
			require.Regexp(t, regexp.MustCompile(c.Pattern), c.Example, "entry %d", i)
			name = c.Example
		}
		kind, ok := catalogueKinds[c.Kind]
		require.True(t, ok, "entry %d (%s): kind %q", i, name, c.Kind)
		own, ok := sides[c.Side]
		require.True(t, ok, "entry %d (%s): side %q", i, name, c.Side)
		require.NotEmpty(t, c.Reason, "entry %d (%s) needs a reason", i, name)

		t.Run(strconv.Itoa(i)+"_"+name, func(t *testing.T) {
			underParent := func(parent sp, parentSide string) string {
				h := newHarness(t, createDefaultConfig().(*Config))
				h.consume(tracesOf("app", parent, sp{name: name, id: "s", parent: parent.id, kind: kind, attrs: catalogueAttrs(t, c)}))
				got, _ := h.side("s")
				want := own
				if c.Inherits {
					want = parentSide
				}
				assert.Equal(t, want, got, "%s under %s (%s)", name, parent.name, c.Reason)
				return got
			}
			h := newHarness(t, createDefaultConfig().(*Config))
			h.consume(tracesOf("app", sp{name: name, id: "s", kind: kind, attrs: catalogueAttrs(t, c)}))
			got, _ := h.side("s")
			assert.Equal(t, own, got, "%s alone (%s)", name, c.Reason)
			// A span that classifies itself gets its types from its own values, each from its own key (the
			// realistic values differ per key, so a key read for another shows); a span that inherits its
			// side, or has none, gets no type.
			in, out := catalogueAttrs(t, c), h.spans()[spanID("s")].Attributes()
			str := func(k string) string { v, _ := in[k].(string); return v }
			if got == "" || c.Inherits {
				str = func(string) string { return "" }
			}
			assert.Equal(t, str(semconv.AttrESEventType), strOf(out, semconv.AttrEventType), "%s: cqrs.event.type", name)
			assert.Equal(t, str(semconv.AttrESAggregateType), strOf(out, semconv.AttrAggregateType), "%s: cqrs.aggregate.type", name)
			if p := cmp.Or(str(semconv.AttrESProjectionName), str(semconv.AttrESSubscriptionName)); p != "" && got == semconv.SideProjection {
				assert.Equal(t, p, strOf(out, semconv.AttrProjectionName), "%s: cqrs.projection.name", name)
			}

			underParent(sp{name: "command.PlaceOrder", id: "cmd", scope: semconv.ScopeWrite}, semconv.SideWrite)
			underParent(sp{name: "query.GetOrder", id: "qry", scope: semconv.ScopeRead}, semconv.SideRead)

			if kind == ptrace.SpanKindConsumer {
				// The writer's context arrives in the message headers: another process, a remote parent.
				writer := tracesOf("writer", sp{name: semconv.SpanRepositorySave, id: "save"})
				consumer := tracesOf("reader", sp{name: name, id: "s", parent: "save", kind: kind, attrs: catalogueAttrs(t, c), flags: 0x300})
				h := newHarness(t, createDefaultConfig().(*Config))
				h.consume(writer)
				h.consume(consumer)
				got, _ := h.side("s")
				assert.Equal(t, semconv.SideProjection, got, "%s under a remote repository.save", name)
			}
		})
	}
}

// TestSemconvSpellsEventsourcePyKeys: semconv's table of eventsource-py's ATTR_* constants is exactly
// the library's attributes.py, both ways.
func TestSemconvSpellsEventsourcePyKeys(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(catalogueDir, "attributes.yaml"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	lib := map[string]string{}
	for k, v := range doc {
		if s, ok := v.(string); ok && regexp.MustCompile(`^ATTR_[A-Z_]+$`).MatchString(k) {
			lib[k] = s
		}
	}
	require.GreaterOrEqual(t, len(lib), 40)
	assert.Equal(t, lib, semconv.EventsourcePyAttributes)
}
