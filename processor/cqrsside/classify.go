package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spanattr"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
)

// verdict is what a span says about itself, before any ancestor is looked at.
type verdict struct {
	side     matcher.Side
	src      source
	conv     matcher.Convention
	ruleType string
	// ancestor: the span takes its nearest classified ancestor's side,
	// else fallback.
	ancestor bool
	fallback matcher.Side
}

// classifySelf applies, in order: a valid cqrs.side attribute; rules (when
// rules_order is before); the span-name conventions; the scope
// conventions; rules (when after); else the span needs an ancestor.
func (p *cqrsProcessor) classifySelf(span ptrace.Span, scope pcommon.InstrumentationScope, res pcommon.Resource, c *counts) verdict {
	conv := matcher.Builtin(span.Name())
	if !matcher.Shaped(conv, span.Kind(), scope.Name(), span.Attributes()) {
		// A prefix alone is no evidence: "command.exe" is not a command.
		conv = matcher.Convention{}
	}
	if v, ok := span.Attributes().Get(semconv.AttrSide); ok {
		if v.Type() != pcommon.ValueTypeStr {
			c.invalid[invalidSideType]++
		} else if s, ok := matcher.ParseSide(v.Str()); ok {
			return verdict{side: s, src: srcAttribute, conv: conv}
		} else {
			c.invalid[invalidSideValue]++
		}
	}
	if p.rulesBefore {
		if s, typ, ok := p.rules.Match(span, scope, res); ok {
			return verdict{side: s, src: srcRule, conv: conv, ruleType: typ}
		}
	}
	if conv.Kind == matcher.KindSelf {
		return verdict{side: conv.Side, src: srcConvention, conv: conv}
	}
	if s := matcher.BuiltinScope(scope.Name()); s != matcher.SideNone {
		return verdict{side: s, src: srcConvention, conv: conv}
	}
	if !p.rulesBefore {
		if s, typ, ok := p.rules.Match(span, scope, res); ok {
			return verdict{side: s, src: srcRule, conv: conv, ruleType: typ}
		}
	}
	if conv.Kind == matcher.KindAncestor {
		return verdict{ancestor: true, fallback: conv.Side, conv: conv}
	}
	return verdict{ancestor: true}
}

// applySelf writes the side and the normalised type attributes of a span
// that classified itself.
func (p *cqrsProcessor) applySelf(span ptrace.Span, v *verdict, c *counts) {
	attrs := span.Attributes()
	if v.side != matcher.SideNone {
		// Room for the side, its source and a type name: one allocation, not one per growth of the
		// attribute slice.
		attrs.EnsureCapacity(attrs.Len() + 3)
	}
	p.putSide(attrs, v.side, v.src)
	c.side(v.side, v.src)

	// Types taken from the span name (or a rule) are derived: one longer
	// than spanattr.MaxValueLen is dropped, so a 100 kB name does not become
	// a 100 kB metric label downstream.
	nameType := v.conv.TypeName
	ruleType := v.ruleType
	if len(nameType) > spanattr.MaxValueLen || len(ruleType) > spanattr.MaxValueLen {
		c.invalid[invalidTypeTooLong]++
		nameType, ruleType = spanattr.Bound(nameType, spanattr.Derived), spanattr.Bound(ruleType, spanattr.Derived)
	}
	role := v.conv.Role
	switch v.side {
	case matcher.SideWrite:
		fillType(attrs, semconv.AttrCommandType, ruleType, roleType(role, matcher.RoleCommand, nameType), "", c)
	case matcher.SideRead:
		fillType(attrs, semconv.AttrQueryType, ruleType, roleType(role, matcher.RoleQuery, nameType), "", c)
	case matcher.SideProjection:
		// A valid cqrs.projection.name is kept by fillType; otherwise the
		// runtime's projection name, else its subscription name.
		fillType(attrs, semconv.AttrProjectionName, ruleType,
			spanattr.ProjectionOrSubscription(attrs), roleType(role, matcher.RoleProjection, nameType), c)
	}
	fillType(attrs, semconv.AttrEventType, "", spanattr.Str(attrs, semconv.AttrESEventType), "", c)
	fillType(attrs, semconv.AttrAggregateType, "", spanattr.Str(attrs, semconv.AttrESAggregateType), "", c)
}

// applyInherited writes only the side: an inherited span is never the
// command, query or projection itself.
func (p *cqrsProcessor) applyInherited(span ptrace.Span, side matcher.Side, src source, c *counts) {
	c.side(side, src)
	if side == matcher.SideNone {
		return
	}
	p.putSide(span.Attributes(), side, src)
}

func (p *cqrsProcessor) putSide(attrs pcommon.Map, side matcher.Side, src source) {
	putStrIfChanged(attrs, semconv.AttrSide, side.String())
	if p.emitSource {
		putStrIfChanged(attrs, semconv.AttrSideSource, src.String())
	} else {
		// A stale value from upstream would be misleading.
		attrs.Remove(semconv.AttrSideSource)
	}
}

// putStrIfChanged skips the write (and pdata's allocation for the new
// value) when the span already says the same, as CQRS-convention spans do.
func putStrIfChanged(attrs pcommon.Map, key, val string) {
	if v, ok := attrs.Get(key); ok && v.Type() == pcommon.ValueTypeStr && v.Str() == val {
		return
	}
	attrs.PutStr(key, val)
}

func roleType(have, want matcher.Role, typeName string) string {
	if have == want {
		return typeName
	}
	return ""
}

// fillType sets key to override when given; otherwise it keeps a valid
// (non-empty string) value already there, else takes the first non-empty
// candidate. A value of the wrong type is counted and replaced when a
// candidate exists.
func fillType(attrs pcommon.Map, key, override, cand1, cand2 string, c *counts) {
	if override != "" {
		attrs.PutStr(key, override)
		return
	}
	if v, ok := attrs.Get(key); ok {
		if v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return
		}
		if v.Type() != pcommon.ValueTypeStr {
			c.invalid[invalidTypeAttr]++
		}
	}
	switch {
	case cand1 != "":
		attrs.PutStr(key, cand1)
	case cand2 != "":
		attrs.PutStr(key, cand2)
	}
}
