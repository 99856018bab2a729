// Package config holds the ready-to-run collector configurations shipped with otelcol-es.
// default.yaml is embedded in the binary, which runs it when started without --config.
package config

import _ "embed"

// Default is config/default.yaml.
//
//go:embed default.yaml
var Default string
