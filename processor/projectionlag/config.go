package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Values of Config.NegativeLag.
const (
	negativeLagClamp     = "clamp"
	negativeLagFlag      = "flag"
	negativeLagDropValue = "drop_value"
)

// Config configures the projectionlag processor.
type Config struct {
	// EventTimestampKeys are the span attributes, in order, that may carry
	// the event's creation time (epoch s/ms/µs/ns as int or double, a
	// numeric string, or RFC 3339). Empty disables the event_timestamp source.
	EventTimestampKeys []string `mapstructure:"event_timestamp_keys"`
	// FutureTolerance is how far after the projection span's start an event
	// timestamp may lie before it is rejected as absurd (rather than taken as
	// clock skew and handled by NegativeLag).
	FutureTolerance time.Duration `mapstructure:"future_tolerance"`
	// NegativeLag says what to do with a negative lag or consistency delay
	// (clock skew between hosts): "clamp" it to 0, "flag" it (keep the value,
	// set cqrs.projection.clock_skew=true), or "drop_value" (set nothing).
	NegativeLag string `mapstructure:"negative_lag"`
	// Link configures the link source and the write→read consistency delay.
	Link linkConfig `mapstructure:"link"`
	// Positions configures positions behind on checkpoint spans.
	Positions positionsConfig `mapstructure:"positions"`
	// Phase configures the live/replay label.
	Phase phaseConfig `mapstructure:"phase"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// linkConfig configures the join between projection spans and the spans
// that produced their events.
type linkConfig struct {
	// Enabled turns the join (link lag and consistency delay) on.
	Enabled bool `mapstructure:"enabled"`
	// MaxProducers bounds the producer store; when full the oldest entry is evicted.
	MaxProducers int `mapstructure:"max_producers"`
	// TTL is how long a producer span is remembered, and how long a pending
	// join waits for its producer or command.
	TTL time.Duration `mapstructure:"ttl"`
	// MaxPending bounds the pending joins: apply spans that went on before
	// their producer or command arrived, whose lag or delay is measured when
	// it does (within TTL). When full, the oldest is dropped (counted).
	MaxPending int `mapstructure:"max_pending"`
	// MaxCommandTypes bounds the table of distinct command types remembered.
	MaxCommandTypes int `mapstructure:"max_command_types"`
	// MaxDepth bounds each walk up the parent chain (relay spans to a
	// producer, producer to its command).
	MaxDepth int `mapstructure:"max_depth"`
}

// positionsConfig configures positions behind.
type positionsConfig struct {
	// HeadKeyAttributes name the attributes (span first, then resource)
	// whose values key a head position. Append and checkpoint spans that
	// share these values compare their positions.
	HeadKeyAttributes []string `mapstructure:"head_key_attributes"`
	// MaxHeads bounds the number of head positions kept.
	MaxHeads int `mapstructure:"max_heads"`
	// MaxProjections bounds the number of projection states kept.
	MaxProjections int `mapstructure:"max_projections"`
}

// phaseConfig configures the live/replay label.
type phaseConfig struct {
	// Keys are span attributes that state the phase; their values are
	// mapped (catchup, catching_up, rebuild, replay… → replay; live, tail… → live).
	Keys []string `mapstructure:"keys"`
	// ReplayPositionsBehind: a projection first seen (or reset) more than
	// this many positions behind its head is replaying until it comes within
	// it. A live projection that falls behind stays live.
	ReplayPositionsBehind int64 `mapstructure:"replay_positions_behind"`
	// ReplayLag, when > 0, labels an apply span replay when nothing else
	// decides and its lag exceeds this. Off by default: a live projection
	// far behind would be mislabelled.
	ReplayLag time.Duration `mapstructure:"replay_lag"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	for i, k := range c.EventTimestampKeys {
		if k == "" {
			errs = append(errs, fmt.Errorf("event_timestamp_keys[%d] is empty: remove it or name an attribute", i))
		}
	}
	if c.FutureTolerance < 0 {
		errs = append(errs, fmt.Errorf("future_tolerance must be >= 0, got %s", c.FutureTolerance))
	}
	switch c.NegativeLag {
	case negativeLagClamp, negativeLagFlag, negativeLagDropValue:
	default:
		errs = append(errs, fmt.Errorf("negative_lag %q is not valid: use %q, %q or %q",
			c.NegativeLag, negativeLagClamp, negativeLagFlag, negativeLagDropValue))
	}
	if c.Link.Enabled {
		if c.Link.MaxProducers < 1 {
			errs = append(errs, fmt.Errorf("link.max_producers must be >= 1, got %d (or set link.enabled: false)", c.Link.MaxProducers))
		}
		if c.Link.TTL <= 0 {
			errs = append(errs, fmt.Errorf("link.ttl must be > 0, got %s", c.Link.TTL))
		}
		if c.Link.MaxPending < 1 {
			errs = append(errs, fmt.Errorf("link.max_pending must be >= 1, got %d (or set link.enabled: false)", c.Link.MaxPending))
		}
		if c.Link.MaxCommandTypes < 0 {
			errs = append(errs, fmt.Errorf("link.max_command_types must be >= 0, got %d", c.Link.MaxCommandTypes))
		}
		if c.Link.MaxDepth < 1 || c.Link.MaxDepth > 64 {
			errs = append(errs, fmt.Errorf("link.max_depth must be between 1 and 64, got %d", c.Link.MaxDepth))
		}
	}
	for i, k := range c.Positions.HeadKeyAttributes {
		if k == "" {
			errs = append(errs, fmt.Errorf("positions.head_key_attributes[%d] is empty: remove it or name an attribute", i))
		}
	}
	if c.Positions.MaxHeads < 1 {
		errs = append(errs, fmt.Errorf("positions.max_heads must be >= 1, got %d", c.Positions.MaxHeads))
	}
	if c.Positions.MaxProjections < 1 {
		errs = append(errs, fmt.Errorf("positions.max_projections must be >= 1, got %d", c.Positions.MaxProjections))
	}
	for i, k := range c.Phase.Keys {
		if k == "" {
			errs = append(errs, fmt.Errorf("phase.keys[%d] is empty: remove it or name an attribute", i))
		}
	}
	if c.Phase.ReplayPositionsBehind < 0 {
		errs = append(errs, fmt.Errorf("phase.replay_positions_behind must be >= 0, got %d", c.Phase.ReplayPositionsBehind))
	}
	if c.Phase.ReplayLag < 0 {
		errs = append(errs, fmt.Errorf("phase.replay_lag must be >= 0 (0 disables it), got %s", c.Phase.ReplayLag))
	}
	return errors.Join(errs...)
}
