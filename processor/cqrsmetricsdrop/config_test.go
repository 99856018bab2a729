package cqrsmetricsdrop

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       component.ID
		expected *Config
		errMsg   string
	}{
		{id: component.NewID(metadata.Type), expected: &Config{MetricNamePrefixes: []string{"cqrs."}}},
		{id: component.NewIDWithName(metadata.Type, "custom"), expected: &Config{MetricNamePrefixes: []string{"cqrs.", "legacy.cqrs_"}}},
		{id: component.NewIDWithName(metadata.Type, "empty_list"), errMsg: "metric_name_prefixes is empty"},
		{id: component.NewIDWithName(metadata.Type, "empty_prefix"), errMsg: "metric_name_prefixes[1] is empty: it would drop every metric"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			if tt.errMsg != "" {
				assert.ErrorContains(t, confmap.Validate(cfg), tt.errMsg)
				return
			}
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}
