package matcher

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TypeCapture is the named capture group of a name regexp that holds the type.
const TypeCapture = "type"

// AttrSpec matches one attribute: presence when Value is nil, else equality
// with the attribute's value (string, int, double or bool).
type AttrSpec struct {
	Key   string
	Value *string
}

// RuleSpec is one user rule as configured. Empty fields match anything.
type RuleSpec struct {
	Name          string
	NamePrefix    string
	NameRegexp    string
	SpanKind      ptrace.SpanKind // ptrace.SpanKindUnspecified: any kind
	ScopeName     string
	ResourceAttrs []AttrSpec
	Attrs         []AttrSpec
	Side          Side
	Type          string
}

type attrMatcher struct {
	key   string
	any   bool
	str   string
	isInt bool
	i     int64
	isDbl bool
	d     float64
	isBol bool
	b     bool
}

func newAttrMatcher(a AttrSpec) attrMatcher {
	m := attrMatcher{key: a.Key, any: a.Value == nil}
	if a.Value == nil {
		return m
	}
	m.str = *a.Value
	if i, err := strconv.ParseInt(m.str, 10, 64); err == nil {
		m.isInt, m.i = true, i
	}
	if d, err := strconv.ParseFloat(m.str, 64); err == nil {
		m.isDbl, m.d = true, d
	}
	if b, err := strconv.ParseBool(m.str); err == nil {
		m.isBol, m.b = true, b
	}
	return m
}

func (m *attrMatcher) match(attrs pcommon.Map) bool {
	v, ok := attrs.Get(m.key)
	if !ok {
		return false
	}
	if m.any {
		return true
	}
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str() == m.str
	case pcommon.ValueTypeInt:
		return m.isInt && v.Int() == m.i
	case pcommon.ValueTypeDouble:
		return m.isDbl && v.Double() == m.d
	case pcommon.ValueTypeBool:
		return m.isBol && v.Bool() == m.b
	}
	return false
}

type rule struct {
	name       string
	hasName    bool
	prefix     string
	re         *regexp.Regexp
	typeGroup  int // submatch index of TypeCapture, -1 when absent
	kind       ptrace.SpanKind
	scope      string
	resAttrs   []attrMatcher
	spanAttrs  []attrMatcher
	side       Side
	staticType string
}

// Rules is the compiled, ordered rule list; the first matching rule wins.
type Rules struct {
	rules []rule
	// byName maps an exact span name to the indexes (ascending) of the
	// rules that require it, so exact-name rules cost one map lookup.
	byName map[string][]int
}

// CompileRules validates and precomputes the rules. Errors name the rule
// index and field, e.g. "rules[2].name_regexp: ...".
func CompileRules(specs []RuleSpec) (*Rules, error) {
	rs := &Rules{byName: map[string][]int{}}
	for i, s := range specs {
		r := rule{
			name:       s.Name,
			hasName:    s.Name != "",
			prefix:     s.NamePrefix,
			typeGroup:  -1,
			kind:       s.SpanKind,
			scope:      s.ScopeName,
			side:       s.Side,
			staticType: s.Type,
		}
		if s.Side == SideNone {
			return nil, fmt.Errorf("rules[%d].side: must be one of write, read, projection", i)
		}
		n := 0
		for _, v := range []string{s.Name, s.NamePrefix, s.NameRegexp} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			return nil, fmt.Errorf("rules[%d]: set at most one of name, name_prefix, name_regexp", i)
		}
		if s.NameRegexp != "" {
			re, err := regexp.Compile(s.NameRegexp)
			if err != nil {
				return nil, fmt.Errorf("rules[%d].name_regexp: %w", i, err)
			}
			r.re = re
			r.typeGroup = re.SubexpIndex(TypeCapture)
		}
		for j, a := range s.ResourceAttrs {
			if strings.TrimSpace(a.Key) == "" {
				return nil, fmt.Errorf("rules[%d].resource_attributes[%d].key: must not be empty", i, j)
			}
			r.resAttrs = append(r.resAttrs, newAttrMatcher(a))
		}
		for j, a := range s.Attrs {
			if strings.TrimSpace(a.Key) == "" {
				return nil, fmt.Errorf("rules[%d].attributes[%d].key: must not be empty", i, j)
			}
			r.spanAttrs = append(r.spanAttrs, newAttrMatcher(a))
		}
		if n == 0 && s.SpanKind == ptrace.SpanKindUnspecified && s.ScopeName == "" &&
			len(s.ResourceAttrs) == 0 && len(s.Attrs) == 0 {
			return nil, fmt.Errorf("rules[%d]: needs at least one of name, name_prefix, name_regexp, span_kind, scope_name, resource_attributes, attributes", i)
		}
		if r.hasName {
			rs.byName[s.Name] = append(rs.byName[s.Name], i)
		}
		rs.rules = append(rs.rules, r)
	}
	return rs, nil
}

// Len returns the number of rules.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// Match returns the side and type of the first rule that matches. typ is
// the regexp's "type" capture when non-empty, else the rule's static type.
// Cheap predicates run first; the regexp runs last, only when the others
// passed.
func (rs *Rules) Match(span ptrace.Span, scope pcommon.InstrumentationScope, res pcommon.Resource) (Side, string, bool) {
	if rs.Len() == 0 {
		return SideNone, "", false
	}
	name := span.Name()
	exactHits := rs.byName[name]
	for i := range rs.rules {
		r := &rs.rules[i]
		if r.hasName {
			if len(exactHits) == 0 || exactHits[0] != i {
				continue
			}
			exactHits = exactHits[1:]
		}
		if r.prefix != "" && !strings.HasPrefix(name, r.prefix) {
			continue
		}
		if r.kind != ptrace.SpanKindUnspecified && span.Kind() != r.kind {
			continue
		}
		if r.scope != "" && scope.Name() != r.scope {
			continue
		}
		if !matchAll(r.resAttrs, res.Attributes()) || !matchAll(r.spanAttrs, span.Attributes()) {
			continue
		}
		typ := r.staticType
		if r.re != nil {
			if r.typeGroup < 0 {
				if !r.re.MatchString(name) {
					continue
				}
			} else {
				loc := r.re.FindStringSubmatchIndex(name)
				if loc == nil {
					continue
				}
				if s, e := loc[2*r.typeGroup], loc[2*r.typeGroup+1]; s >= 0 && e > s {
					typ = name[s:e]
				}
			}
		}
		return r.side, typ, true
	}
	return SideNone, "", false
}

func matchAll(ms []attrMatcher, attrs pcommon.Map) bool {
	for i := range ms {
		if !ms[i].match(attrs) {
			return false
		}
	}
	return true
}
