package cqrsmetricsdrop // import "github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop"

import (
	"errors"
	"fmt"
)

// Config is the processor's configuration.
type Config struct {
	// MetricNamePrefixes: a metric whose name starts with one of them is
	// dropped with all its data points. Default: "cqrs.", the names
	// spanmetrics_es derives.
	MetricNamePrefixes []string `mapstructure:"metric_name_prefixes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate rejects a config that would drop nothing or everything.
func (c *Config) Validate() error {
	if len(c.MetricNamePrefixes) == 0 {
		return errors.New("metric_name_prefixes is empty: give at least one prefix (the default is \"cqrs.\")")
	}
	for i, p := range c.MetricNamePrefixes {
		if p == "" {
			return fmt.Errorf("metric_name_prefixes[%d] is empty: it would drop every metric", i)
		}
	}
	return nil
}
