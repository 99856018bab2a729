package projectionlag

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	def := loadConfig(t, "")
	require.NoError(t, confmap.Validate(def))
	assert.Equal(t, createDefaultConfig(), def)

	custom := loadConfig(t, "custom")
	require.NoError(t, confmap.Validate(custom))
	want := createDefaultConfig().(*Config)
	want.EventTimestampKeys = []string{"app.event.created_at"}
	want.FutureTolerance = 30 * time.Second
	want.NegativeLag = negativeLagFlag
	want.Link = linkConfig{Enabled: true, MaxProducers: 5000, TTL: time.Minute, MaxPending: 100,
		MaxCommandTypes: 50, MaxDepth: 8}
	want.Positions = positionsConfig{HeadKeyAttributes: []string{"db.name"}, MaxHeads: 10, MaxProjections: 20}
	want.Phase = phaseConfig{Keys: []string{"app.phase"}, ReplayPositionsBehind: 500, ReplayLag: time.Hour}
	assert.Equal(t, want, custom)

	noLink := loadConfig(t, "no_link")
	require.NoError(t, confmap.Validate(noLink), "link limits are not checked when the link source is off")
}

func TestConfigValidateErrors(t *testing.T) {
	tests := map[string][]string{
		"bad_policy": {`negative_lag "ignore" is not valid: use "clamp", "flag" or "drop_value"`},
		"bad_link": {
			"link.max_producers must be >= 1", "link.ttl must be > 0", "link.max_pending must be >= 1",
			"link.max_depth must be between 1 and 64",
		},
		"bad_bounds": {
			"event_timestamp_keys[0] is empty", "future_tolerance must be >= 0",
			"positions.head_key_attributes[0] is empty", "positions.max_heads must be >= 1",
			"positions.max_projections must be >= 1", "phase.keys[0] is empty",
			"phase.replay_positions_behind must be >= 0", "phase.replay_lag must be >= 0",
		},
	}
	for name, msgs := range tests {
		t.Run(name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, name))
			require.Error(t, err)
			for _, m := range msgs {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}
