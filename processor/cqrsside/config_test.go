package cqrsside

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadata"
)

func strp(s string) *string { return &s }

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id       component.ID
		expected *Config
		errMsg   string
	}{
		{id: component.NewID(metadata.Type), expected: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			expected: &Config{
				RulesOrder:     rulesOrderAfter,
				EmitSideSource: false,
				AncestorCache:  AncestorCacheConfig{MaxEntries: 2000, TTL: time.Minute},
				Rules: []RuleConfig{
					{NameRegexp: `^handle_(?P<type>[A-Za-z]+)Command$`, Side: "write"},
					{NamePrefix: "report.", SpanKind: "server", Side: "read", Type: "Reporting"},
					{
						ScopeName:          "billing.consumer",
						ResourceAttributes: []AttributeMatch{{Key: "service.name", Value: strp("billing")}},
						Attributes:         []AttributeMatch{{Key: "messaging.system"}},
						Side:               "projection",
						Type:               "billing_view",
					},
				},
			},
		},
		{id: component.NewIDWithName(metadata.Type, "bad_regexp"), errMsg: "rules[2].name_regexp: error parsing regexp"},
		{id: component.NewIDWithName(metadata.Type, "bad_side"), errMsg: `rules[0].side: "writes" is not valid, use write, read or projection`},
		{id: component.NewIDWithName(metadata.Type, "bad_kind"), errMsg: `rules[0].span_kind: "Servers" is not valid`},
		{id: component.NewIDWithName(metadata.Type, "two_names"), errMsg: "rules[0]: set at most one of name, name_prefix, name_regexp"},
		{id: component.NewIDWithName(metadata.Type, "no_matcher"), errMsg: "rules[0]: needs at least one of"},
		{id: component.NewIDWithName(metadata.Type, "empty_attr_key"), errMsg: "rules[0].attributes[0].key: must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "bad_order"), errMsg: `rules_order: "first" is not valid, use "before" or "after"`},
		{id: component.NewIDWithName(metadata.Type, "bad_limits"), errMsg: "ancestor_cache.max_entries: must be positive"},
		{id: component.NewIDWithName(metadata.Type, "readme")},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.errMsg != "" {
				require.ErrorContains(t, err, tt.errMsg)
				return
			}
			require.NoError(t, err)
			if tt.expected != nil {
				assert.Equal(t, tt.expected, cfg)
			}
		})
	}
}

func TestValidateNamesEveryLimit(t *testing.T) {
	cfg := &Config{RulesOrder: "before"}
	err := cfg.Validate()
	for _, field := range []string{"ancestor_cache.max_entries", "ancestor_cache.ttl"} {
		assert.ErrorContains(t, err, field+":")
	}
}

// The keys of the span hold are gone (no span waits for its parent any more): a config that still sets
// one fails to load and names it, rather than silently doing something else.
func TestRemovedHoldKeysNamed(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, "removed_hold").String())
	require.NoError(t, err)
	err = sub.Unmarshal(createDefaultConfig())
	for _, key := range []string{"hold_spans", "ancestor_wait", "max_held_spans"} {
		assert.ErrorContains(t, err, key)
	}
}
