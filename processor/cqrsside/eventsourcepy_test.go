package cqrsside

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
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

// catalogueAttrs gives every key the entry lists a string value. messaging.operation is the one key whose
// value matters to classification; the library writes "publish" on producers and "receive" on consumers.
func catalogueAttrs(c catalogueSpan) map[string]any {
	attrs := map[string]any{}
	for _, k := range c.Attributes {
		attrs[k] = "v"
	}
	if _, ok := attrs[semconv.AttrMessagingOperation]; ok {
		attrs[semconv.AttrMessagingOperation] = map[string]string{"PRODUCER": "publish", "CONSUMER": "receive"}[c.Kind]
	}
	return attrs
}

// TestEventsourcePyCatalogue runs every span eventsource-py 0.14 can emit through cqrsside with no
// configuration: alone (its own side, or the documented default), under a command and under a query in
// the same process (spans that inherit take the caller's side; the others keep theirs), and, for
// consumers, under a remote writer.
func TestEventsourcePyCatalogue(t *testing.T) {
	spans := loadCatalogue(t)
	require.GreaterOrEqual(t, len(spans), 200, "the catalogue lists every emission site of 0.14")
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
				h.consume(tracesOf("app", parent, sp{name: name, id: "s", parent: parent.id, kind: kind, attrs: catalogueAttrs(c)}))
				got, _ := h.side("s")
				want := own
				if c.Inherits {
					want = parentSide
				}
				assert.Equal(t, want, got, "%s under %s (%s)", name, parent.name, c.Reason)
				return got
			}
			h := newHarness(t, createDefaultConfig().(*Config))
			h.consume(tracesOf("app", sp{name: name, id: "s", kind: kind, attrs: catalogueAttrs(c)}))
			got, _ := h.side("s")
			assert.Equal(t, own, got, "%s alone (%s)", name, c.Reason)

			underParent(sp{name: "command.PlaceOrder", id: "cmd", scope: semconv.ScopeWrite}, semconv.SideWrite)
			underParent(sp{name: "query.GetOrder", id: "qry", scope: semconv.ScopeRead}, semconv.SideRead)

			if kind == ptrace.SpanKindConsumer {
				// The writer's context arrives in the message headers: another process, a remote parent.
				writer := tracesOf("writer", sp{name: semconv.SpanRepositorySave, id: "save"})
				consumer := tracesOf("reader", sp{name: name, id: "s", parent: "save", kind: kind, attrs: catalogueAttrs(c), flags: 0x300})
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
