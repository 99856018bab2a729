package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
)

// Values of Config.RulesOrder.
const (
	rulesOrderBefore = "before"
	rulesOrderAfter  = "after"
)

// Config configures the cqrsside processor.
type Config struct {
	// Rules are user classification rules, tried in order; the first match wins.
	Rules []RuleConfig `mapstructure:"rules"`
	// RulesOrder decides whether Rules run "before" (default: rules can
	// override the built-in conventions) or "after" the built-in conventions
	// (rules only classify spans the conventions do not know). A valid
	// cqrs.side already on the span always wins.
	RulesOrder string `mapstructure:"rules_order"`
	// EmitSideSource adds cqrs.side.source (attribute|rule|convention|inherited).
	EmitSideSource bool `mapstructure:"emit_side_source"`
	// AncestorCache remembers the side of recent spans so a child arriving
	// in a later batch than its parent still inherits. No span waits for a
	// parent that has not arrived: it goes on at once with its fallback side.
	AncestorCache AncestorCacheConfig `mapstructure:"ancestor_cache"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// AncestorCacheConfig bounds the span id -> side cache.
type AncestorCacheConfig struct {
	// MaxEntries is the most span ids remembered; the oldest is evicted first.
	MaxEntries int `mapstructure:"max_entries"`
	// TTL is how long a span's side is remembered.
	TTL time.Duration `mapstructure:"ttl"`
}

// RuleConfig is one user rule. Every matcher that is set must match.
type RuleConfig struct {
	// Name matches the span name exactly.
	Name string `mapstructure:"name"`
	// NamePrefix matches the start of the span name.
	NamePrefix string `mapstructure:"name_prefix"`
	// NameRegexp matches the span name (RE2). A named group "type", e.g.
	// `^handle_(?P<type>\w+)$`, supplies the type.
	NameRegexp string `mapstructure:"name_regexp"`
	// SpanKind is one of internal, server, client, producer, consumer.
	SpanKind string `mapstructure:"span_kind"`
	// ScopeName matches the instrumentation scope (tracer) name exactly.
	ScopeName string `mapstructure:"scope_name"`
	// ResourceAttributes must all be present (and equal, when value is set).
	ResourceAttributes []AttributeMatch `mapstructure:"resource_attributes"`
	// Attributes are span attributes that must all be present (and equal).
	Attributes []AttributeMatch `mapstructure:"attributes"`
	// Side is write, read or projection.
	Side string `mapstructure:"side"`
	// Type is the command type (write), query type (read) or projection
	// name (projection) to set; the regexp's "type" capture takes precedence.
	Type string `mapstructure:"type"`
}

// AttributeMatch matches an attribute by key, and by value when Value is set.
type AttributeMatch struct {
	Key   string  `mapstructure:"key"`
	Value *string `mapstructure:"value"`
}

var spanKinds = map[string]ptrace.SpanKind{
	"internal": ptrace.SpanKindInternal,
	"server":   ptrace.SpanKindServer,
	"client":   ptrace.SpanKindClient,
	"producer": ptrace.SpanKindProducer,
	"consumer": ptrace.SpanKindConsumer,
}

// Validate checks the configuration; errors name the field and the fix.
func (cfg *Config) Validate() error {
	var errs []error
	switch cfg.RulesOrder {
	case rulesOrderBefore, rulesOrderAfter:
	default:
		errs = append(errs, fmt.Errorf("rules_order: %q is not valid, use %q or %q", cfg.RulesOrder, rulesOrderBefore, rulesOrderAfter))
	}
	if cfg.AncestorCache.MaxEntries <= 0 {
		errs = append(errs, errors.New("ancestor_cache.max_entries: must be positive (e.g. 100000)"))
	}
	if cfg.AncestorCache.TTL <= 0 {
		errs = append(errs, errors.New("ancestor_cache.ttl: must be positive (e.g. 30s)"))
	}
	if _, err := cfg.ruleSpecs(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ruleSpecs converts and compiles the rules; the compiled form is what the
// processor uses, so Validate and start-up share one code path.
func (cfg *Config) ruleSpecs() (*matcher.Rules, error) {
	specs := make([]matcher.RuleSpec, 0, len(cfg.Rules))
	for i, r := range cfg.Rules {
		side, ok := matcher.ParseSide(r.Side)
		if !ok || side == matcher.SideNone {
			return nil, fmt.Errorf("rules[%d].side: %q is not valid, use write, read or projection", i, r.Side)
		}
		kind := ptrace.SpanKindUnspecified
		if r.SpanKind != "" {
			k, ok := spanKinds[strings.ToLower(r.SpanKind)]
			if !ok {
				return nil, fmt.Errorf("rules[%d].span_kind: %q is not valid, use internal, server, client, producer or consumer", i, r.SpanKind)
			}
			kind = k
		}
		specs = append(specs, matcher.RuleSpec{
			Name:          r.Name,
			NamePrefix:    r.NamePrefix,
			NameRegexp:    r.NameRegexp,
			SpanKind:      kind,
			ScopeName:     r.ScopeName,
			ResourceAttrs: attrSpecs(r.ResourceAttributes),
			Attrs:         attrSpecs(r.Attributes),
			Side:          side,
			Type:          r.Type,
		})
	}
	return matcher.CompileRules(specs)
}

func attrSpecs(in []AttributeMatch) []matcher.AttrSpec {
	out := make([]matcher.AttrSpec, 0, len(in))
	for _, a := range in {
		out = append(out, matcher.AttrSpec{Key: a.Key, Value: a.Value})
	}
	return out
}
