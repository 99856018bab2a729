// Package matcher holds the span classifiers of the cqrsside processor: the
// built-in CQRS and eventsource conventions and the user rules. Everything is
// precomputed once so that matching a span allocates nothing.
package matcher // import "github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

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
	write      = Convention{Kind: KindSelf, Side: SideWrite}
	projection = Convention{Kind: KindSelf, Side: SideProjection}
	// A read serves whichever side called it, and is read when nothing did.
	readAncestor = Convention{Kind: KindAncestor, Side: SideRead}
	// A store write done for whichever side called it, write when nothing did.
	writeAncestor = Convention{Kind: KindAncestor, Side: SideWrite}
	// A read-model write: projections run it; under a command it is write-side work.
	projectionAncestor = Convention{Kind: KindAncestor, Side: SideProjection}
	// Only the caller says which side (a lock guards both).
	anyAncestor = Convention{Kind: KindAncestor, Side: SideNone}

	// exact holds the runtime span names that are known one by one; see
	// testdata/eventsource-py-0.14/spans.yaml for each name's reason.
	exact = map[string]Convention{
		semconv.SpanRepositorySave:         write,
		semconv.SpanRepositorySnapshot:     write,
		semconv.SpanRepositoryTakeSnapshot: write,
		semconv.SpanBusPublish:             write,
		semconv.SpanBusPublishBatch:        write,
		semconv.SpanRouterAppend:           write,
		semconv.SpanDualWriteAppend:        write,
		semconv.SpanProjectionHandle:       projection,
		semconv.SpanProjectionHandler:      projection,
		semconv.SpanBusConsume:             projection,
		semconv.SpanBusProcess:             projection,
		semconv.SpanBusDispatch:            projection,
		semconv.SpanBusHandle:              projection,
		semconv.SpanRepositoryLoad:         readAncestor,
		semconv.SpanRepositoryExists:       readAncestor,
		semconv.SpanSnapshotSave:           writeAncestor,
		semconv.SpanSnapshotDelete:         writeAncestor,
		semconv.SpanSnapshotDeleteByType:   writeAncestor,
		semconv.SpanSnapshotClear:          writeAncestor,
	}

	// prefixes are checked in order after the exact names; a longer prefix
	// comes before a shorter one it extends.
	prefixes = []prefixRule{
		{semconv.SpanPrefixCommand, Convention{Kind: KindSelf, Side: SideWrite, Role: RoleCommand}},
		{semconv.SpanPrefixQuery, Convention{Kind: KindSelf, Side: SideRead, Role: RoleQuery}},
		{semconv.SpanPrefixProjection, Convention{Kind: KindSelf, Side: SideProjection, Role: RoleProjection}},
		// eventsource-py's Kafka bus: "publish <event type>", "consume <event type>", "dispatch <handler>".
		{semconv.SpanPrefixBusPublishTyped, write},
		{semconv.SpanPrefixBusConsumeTyped, projection},
		{semconv.SpanPrefixBusDispatchTyped, projection},
		{semconv.SpanPrefixOutbox, write},
		{semconv.SpanPrefixCheckpointManager, projection},
		{semconv.SpanPrefixCheckpoint, projection},
		{semconv.SpanPrefixDLQManager, projection},
		{semconv.SpanPrefixDLQ, projection},
		// The subscription machinery feeds projections (catch-up, live, their transition and lifecycle).
		{semconv.SpanPrefixSubscriptionManager, projection},
		{semconv.SpanPrefixCatchupRunner, projection},
		{semconv.SpanPrefixLiveRunner, projection},
		{semconv.SpanPrefixTransition, projection},
		{semconv.SpanPrefixLifecycle, projection},
		{semconv.SpanPrefixPauseResume, projection},
		// projection.coordinate, projection.registry.dispatch, and any later eventsource.projection.* span.
		{semconv.SpanPrefixProjectionSpan, projection},
		{semconv.SpanPrefixSnapshot, readAncestor},
		// router.read_* / event_exists (router.append is exact above).
		{semconv.SpanPrefixRouter, readAncestor},
		{semconv.SpanPrefixLock, anyAncestor},
	}

	// suffixes match "<store>_event_store.<op>" for any store.
	suffixes = []prefixRule{
		{semconv.SpanSuffixAppendEvents, write},
		{semconv.SpanSuffixGetEvents, readAncestor},
	}

	// readModelWrites are the "eventsource.readmodel.<op>" operations that change a read model.
	readModelWrites = func() map[string]bool {
		m := map[string]bool{}
		for _, op := range semconv.ReadModelWrites {
			m[op] = true
		}
		return m
	}()
)

// Builtin classifies a span name by the built-in conventions. It never
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
	if op, ok := strings.CutPrefix(name, semconv.SpanPrefixReadModel); ok && op != "" {
		if readModelWrites[op] {
			return projectionAncestor
		}
		return readAncestor
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

// BuiltinScope classifies the CQRS conventions' tracer names (instrumentation scopes).
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

// Shaped reports whether a span that Builtin matched by one of the CQRS conventions' prefixes
// ("command.", "query.", "projection.") really has the conventions' shape, so that an ordinary span
// such as "command.exe" is not taken for a command. The conventions start these spans INTERNAL, from
// the cqrs.write/read/projection tracers, with cqrs.* attributes, and name them after the command or
// query class (type(command).__name__) or the projection. Any of these suffices:
//   - the tracer is one of the conventions' scopes;
//   - a cqrs.* attribute is present;
//   - the span is INTERNAL (or UNSPECIFIED, which receivers may read as INTERNAL) and the suffix is
//     identifier-like: a class name (an upper-case letter, then letters, digits, '_') for commands
//     and queries, a letter then letters, digits, '_' for projection names.
//
// Spans without one of these prefixes are always shaped.
func Shaped(c Convention, kind ptrace.SpanKind, scope string, attrs pcommon.Map) bool {
	if c.Role == RoleNone {
		return true
	}
	if (kind == ptrace.SpanKindInternal || kind == ptrace.SpanKindUnspecified) && identifierLike(c.Role, c.TypeName) {
		return true
	}
	return BuiltinScope(scope) != SideNone || HasAttrIn(attrs, semconv.AttrNamespaceCQRS)
}

func identifierLike(r Role, s string) bool {
	if s == "" {
		return false
	}
	first := s[0]
	if r == RoleProjection {
		if !isLetter(first) {
			return false
		}
	} else if first < 'A' || first > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if b := s[i]; !isLetter(b) && (b < '0' || b > '9') && b != '_' {
			return false
		}
	}
	return true
}

func isLetter(b byte) bool { return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' }

// HasAttrIn reports whether attrs has a key in namespace (e.g. "cqrs."), without allocating.
func HasAttrIn(attrs pcommon.Map, namespace string) bool {
	found := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		found = strings.HasPrefix(k, namespace)
		return !found
	})
	return found
}
