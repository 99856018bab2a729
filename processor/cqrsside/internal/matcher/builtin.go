// Package matcher holds the span classifiers of the cqrsside processor: the
// built-in conventions of both seeds and the user rules. Everything is
// precomputed once so that matching a span allocates nothing.
package matcher // import "github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"

import (
	"strings"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Side is a CQRS side; SideNone means "no side".
type Side uint8

const (
	SideNone Side = iota
	SideWrite
	SideRead
	SideProjection
)

// String returns the semconv value of the side ("" for SideNone).
func (s Side) String() string {
	switch s {
	case SideWrite:
		return semconv.SideWrite
	case SideRead:
		return semconv.SideRead
	case SideProjection:
		return semconv.SideProjection
	}
	return ""
}

// ParseSide accepts the semconv side values, case-insensitively, without
// allocating.
func ParseSide(v string) (Side, bool) {
	switch {
	case strings.EqualFold(v, semconv.SideWrite):
		return SideWrite, true
	case strings.EqualFold(v, semconv.SideRead):
		return SideRead, true
	case strings.EqualFold(v, semconv.SideProjection):
		return SideProjection, true
	}
	return SideNone, false
}

// Kind says how a convention decides the side.
type Kind uint8

const (
	// KindNone: no built-in convention knows this span.
	KindNone Kind = iota
	// KindSelf: the span classifies itself.
	KindSelf
	// KindAncestor: the span takes the side of its nearest classified
	// ancestor, and Side when it has none.
	KindAncestor
)

// Role says which normalised type attribute the span-name suffix fills.
type Role uint8

const (
	RoleNone Role = iota
	RoleCommand
	RoleQuery
	RoleProjection
)

// Convention is the verdict of the built-in conventions for one span name.
type Convention struct {
	Kind Kind
	Side Side
	Role Role
	// TypeName is the "<Type>" of "command.<Type>" etc.; a substring of
	// the span name, so it costs no allocation.
	TypeName string
}

type prefixRule struct {
	prefix string
	conv   Convention
}

var (
	// exact holds the seed-001 span names that are known one by one.
	exact = map[string]Convention{
		semconv.SpanRepositorySave:     {Kind: KindSelf, Side: SideWrite},
		semconv.SpanRepositorySnapshot: {Kind: KindSelf, Side: SideWrite},
		semconv.SpanBusPublish:         {Kind: KindSelf, Side: SideWrite},
		semconv.SpanProjectionHandle:   {Kind: KindSelf, Side: SideProjection},
		semconv.SpanProjectionHandler:  {Kind: KindSelf, Side: SideProjection},
		semconv.SpanBusConsume:         {Kind: KindSelf, Side: SideProjection},
		semconv.SpanBusProcess:         {Kind: KindSelf, Side: SideProjection},
		semconv.SpanBusDispatch:        {Kind: KindSelf, Side: SideProjection},
		semconv.SpanBusHandle:          {Kind: KindSelf, Side: SideProjection},
		// Reads that serve whichever side called them.
		semconv.SpanRepositoryLoad:   {Kind: KindAncestor, Side: SideRead},
		semconv.SpanRepositoryExists: {Kind: KindAncestor, Side: SideRead},
	}

	// prefixes are checked in order after the exact names.
	prefixes = []prefixRule{
		{semconv.SpanPrefixCommand, Convention{Kind: KindSelf, Side: SideWrite, Role: RoleCommand}},
		{semconv.SpanPrefixQuery, Convention{Kind: KindSelf, Side: SideRead, Role: RoleQuery}},
		{semconv.SpanPrefixProjection, Convention{Kind: KindSelf, Side: SideProjection, Role: RoleProjection}},
		{semconv.SpanPrefixOutbox, Convention{Kind: KindSelf, Side: SideWrite}},
		{semconv.SpanPrefixCheckpoint, Convention{Kind: KindSelf, Side: SideProjection}},
		{semconv.SpanPrefixDLQ, Convention{Kind: KindSelf, Side: SideProjection}},
		{semconv.SpanPrefixSnapshot, Convention{Kind: KindAncestor, Side: SideRead}},
	}

	// suffixes match "<store>_event_store.<op>" for any store.
	suffixes = []prefixRule{
		{semconv.SpanSuffixAppendEvents, Convention{Kind: KindSelf, Side: SideWrite}},
		{semconv.SpanSuffixGetEvents, Convention{Kind: KindAncestor, Side: SideRead}},
	}
)

// Builtin classifies a span name by the seed conventions. It never
// allocates and runs no regular expression.
func Builtin(name string) Convention {
	if c, ok := exact[name]; ok {
		return c
	}
	for i := range prefixes {
		p := &prefixes[i]
		if len(name) > len(p.prefix) && strings.HasPrefix(name, p.prefix) {
			c := p.conv
			if c.Role != RoleNone {
				c.TypeName = name[len(p.prefix):]
			}
			return c
		}
	}
	for i := range suffixes {
		s := &suffixes[i]
		// A store name is required before the suffix.
		if len(name) > len(s.prefix) && strings.HasSuffix(name, s.prefix) {
			return s.conv
		}
	}
	return Convention{}
}

// BuiltinScope classifies seed 000's tracer names (instrumentation scopes).
func BuiltinScope(scope string) Side {
	switch scope {
	case semconv.ScopeWrite:
		return SideWrite
	case semconv.ScopeRead:
		return SideRead
	case semconv.ScopeProjection:
		return SideProjection
	}
	return SideNone
}
