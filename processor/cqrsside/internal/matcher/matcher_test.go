package matcher

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func TestBuiltinConventionNames(t *testing.T) {
	self := func(s Side) Convention { return Convention{Kind: KindSelf, Side: s} }
	anc := Convention{Kind: KindAncestor, Side: SideRead}
	tests := map[string]Convention{
		// CQRS conventions
		"command.PlaceOrder":       {Kind: KindSelf, Side: SideWrite, Role: RoleCommand, TypeName: "PlaceOrder"},
		"query.GetOrder":           {Kind: KindSelf, Side: SideRead, Role: RoleQuery, TypeName: "GetOrder"},
		"projection.order_summary": {Kind: KindSelf, Side: SideProjection, Role: RoleProjection, TypeName: "order_summary"},
		// eventsource runtime conventions
		semconv.SpanRepositorySave:             self(SideWrite),
		semconv.SpanRepositorySnapshot:         self(SideWrite),
		semconv.SpanRepositoryLoad:             anc,
		semconv.SpanRepositoryExists:           anc,
		semconv.SpanCheckpointGet:              self(SideProjection),
		semconv.SpanCheckpointUpdate:           self(SideProjection),
		semconv.SpanCheckpointReset:            self(SideProjection),
		semconv.SpanDLQAdd:                     self(SideProjection),
		semconv.SpanDLQGet:                     self(SideProjection),
		semconv.SpanDLQResolve:                 self(SideProjection),
		semconv.SpanDLQRetry:                   self(SideProjection),
		semconv.SpanOutboxAdd:                  self(SideWrite),
		semconv.SpanOutboxGetPending:           self(SideWrite),
		semconv.SpanOutboxMarkPublished:        self(SideWrite),
		semconv.SpanBusPublish:                 self(SideWrite),
		semconv.SpanBusConsume:                 self(SideProjection),
		semconv.SpanBusProcess:                 self(SideProjection),
		semconv.SpanBusDispatch:                self(SideProjection),
		semconv.SpanBusHandle:                  self(SideProjection),
		semconv.SpanSnapshotSave:               {Kind: KindAncestor, Side: SideWrite},
		semconv.SpanSnapshotGet:                anc,
		semconv.SpanSnapshotDelete:             {Kind: KindAncestor, Side: SideWrite},
		semconv.SpanSnapshotExists:             anc,
		semconv.SpanProjectionHandle:           self(SideProjection),
		semconv.SpanProjectionHandler:          self(SideProjection),
		"sqlite_event_store.append_events":     self(SideWrite),
		"postgresql_event_store.append_events": self(SideWrite),
		"in_memory_event_store.append_events":  self(SideWrite),
		"sqlite_event_store.get_events":        anc,
		"postgresql_event_store.get_events":    anc,
		"in_memory_event_store.get_events":     anc,
		// eventsource-py 0.14 (the whole catalogue is checked in eventsourcepy_test.go)
		"eventsource.event_bus.publish OrderCreated":       self(SideWrite),
		"eventsource.event_bus.consume OrderCreated":       self(SideProjection),
		"eventsource.event_bus.dispatch _LiveEventHandler": self(SideProjection),
		"eventsource.event_bus.publish_batch":              self(SideWrite),
		"eventsource.live_runner.process_event":            self(SideProjection),
		"eventsource.catchup_runner.deliver_event":         self(SideProjection),
		"eventsource.readmodel.get":                        anc,
		"eventsource.readmodel.find":                       anc,
		"eventsource.readmodel.save":                       {Kind: KindAncestor, Side: SideProjection},
		"eventsource.readmodel.truncate":                   {Kind: KindAncestor, Side: SideProjection},
		"eventsource.router.append":                        self(SideWrite),
		"eventsource.router.read_all":                      anc,
		"eventsource.dual_write.append":                    self(SideWrite),
		"eventsource.lock.acquire":                         {Kind: KindAncestor, Side: SideNone},
		"eventsource.checkpoint_manager.update":            self(SideProjection),
		"eventsource.projection.registry.dispatch":         self(SideProjection),
		"eventsource.transition_coordinator.execute":       self(SideProjection),
		// not conventions
		"eventsource.readmodel.":         {},
		"eventsource.event_bus.publish ": {},
		"":                               {},
		"command.":                       {},
		"_event_store.get_events":        {},
		"eventsource.event_bus.foo":      {},
		"HTTP GET":                       {},
	}
	for name, want := range tests {
		assert.Equal(t, want, Builtin(name), name)
	}
	assert.Equal(t, SideWrite, BuiltinScope(semconv.ScopeWrite))
	assert.Equal(t, SideRead, BuiltinScope(semconv.ScopeRead))
	assert.Equal(t, SideProjection, BuiltinScope(semconv.ScopeProjection))
	assert.Equal(t, SideNone, BuiltinScope("cqrs.writer"))
}

func TestParseSide(t *testing.T) {
	for in, want := range map[string]Side{"write": SideWrite, "READ": SideRead, "Projection": SideProjection} {
		got, ok := ParseSide(in)
		assert.True(t, ok)
		assert.Equal(t, want, got)
		assert.Equal(t, want, mustParse(t, got.String()))
	}
	for _, in := range []string{"", "writes", "none"} {
		_, ok := ParseSide(in)
		assert.False(t, ok, in)
	}
}

func mustParse(t *testing.T, s string) Side {
	got, ok := ParseSide(s)
	require.True(t, ok)
	return got
}

func strp(s string) *string { return &s }

func testSpan(name string, kind ptrace.SpanKind, attrs map[string]any) ptrace.Span {
	s := ptrace.NewSpan()
	s.SetName(name)
	s.SetKind(kind)
	_ = s.Attributes().FromRaw(attrs)
	return s
}

func TestRulesMatch(t *testing.T) {
	rs, err := CompileRules([]RuleSpec{
		{Name: "exact", Side: SideRead, Type: "E"},
		{NamePrefix: "pre.", SpanKind: ptrace.SpanKindServer, Side: SideWrite},
		{NameRegexp: `^handle_(?P<type>\w+)$`, Side: SideProjection},
		{NameRegexp: `^plain_`, Side: SideRead, Type: "static"},
		{ScopeName: "sc", ResourceAttrs: []AttrSpec{{Key: "service.name", Value: strp("svc")}}, Side: SideWrite},
		{Attrs: []AttrSpec{{Key: "flag", Value: strp("true")}, {Key: "n", Value: strp("1.5")}, {Key: "present"}}, Side: SideRead},
		{Name: "exact", Side: SideWrite}, // shadowed by rule 0
	})
	require.NoError(t, err)
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "svc")
	scope := pcommon.NewInstrumentationScope()
	scope.SetName("sc")
	other := pcommon.NewInstrumentationScope()

	tests := []struct {
		span  ptrace.Span
		scope pcommon.InstrumentationScope
		side  Side
		typ   string
	}{
		{testSpan("exact", 0, nil), other, SideRead, "E"},
		{testSpan("pre.x", ptrace.SpanKindServer, nil), other, SideWrite, ""},
		{testSpan("pre.x", ptrace.SpanKindClient, nil), other, SideNone, ""},
		{testSpan("handle_Order", 0, nil), other, SideProjection, "Order"},
		{testSpan("plain_x", 0, nil), other, SideRead, "static"},
		{testSpan("any", 0, nil), scope, SideWrite, ""},
		{testSpan("any", 0, map[string]any{"flag": true, "n": 1.5, "present": map[string]any{}}), other, SideRead, ""},
		{testSpan("any", 0, map[string]any{"flag": "true", "n": "1.5", "present": 1}), other, SideRead, ""},
		{testSpan("any", 0, map[string]any{"flag": false, "n": 1.5, "present": 1}), other, SideNone, ""},
		{testSpan("any", 0, map[string]any{"flag": true, "n": 1.5}), other, SideNone, ""},
	}
	for i, tt := range tests {
		side, typ, ok := rs.Match(tt.span, tt.scope, res)
		assert.Equal(t, tt.side != SideNone, ok, i)
		assert.Equal(t, tt.side, side, i)
		assert.Equal(t, tt.typ, typ, i)
	}

	var none *Rules
	_, _, ok := none.Match(testSpan("x", 0, nil), other, res)
	assert.False(t, ok)
}

// TestShaped: a name-only match of the CQRS conventions' prefixes needs the conventions' shape (an
// INTERNAL span named after a class or a projection), their scope, or a cqrs.* attribute.
func TestShaped(t *testing.T) {
	internal, client, unspecified := ptrace.SpanKindInternal, ptrace.SpanKindClient, ptrace.SpanKindUnspecified
	cqrsAttr := map[string]any{"process.command": "x", semconv.AttrAggregateID: "order-1"}
	tests := []struct {
		name  string
		kind  ptrace.SpanKind
		scope string
		attrs map[string]any
		want  bool
	}{
		{"command.PlaceOrder", internal, "app", nil, true},
		{"command.PlaceOrder", unspecified, "app", nil, true},
		{"query.GetOrder_v2", internal, "app", nil, true},
		{"projection.order_summary", internal, "app", nil, true},
		{"projection.OrderSummary", internal, "app", nil, true},
		// not the shape
		{"command.exe", internal, "app", nil, false},
		{"query.json", internal, "app", nil, false},
		{"command.Place Order", internal, "app", nil, false},
		{"command.PlaceOrder.v2", internal, "app", nil, false},
		{"query.GetOrder", client, "app", nil, false},
		{"command.PlaceOrder", ptrace.SpanKindServer, "app", nil, false},
		{"projection.1view", internal, "app", nil, false},
		{"projection.orders-view", internal, "app", nil, false},
		{"projection.order_summary", ptrace.SpanKindConsumer, "app", nil, false},
		// other evidence
		{"command.exe", internal, semconv.ScopeWrite, nil, true},
		{"query.GetOrder", client, semconv.ScopeRead, nil, true},
		{"command.exe", client, "app", cqrsAttr, true},
		{"command.exe", internal, "app", map[string]any{"process.command": "x"}, false},
		// no prefix of the CQRS conventions: nothing to check
		{"HTTP GET", client, "app", nil, true},
		{semconv.SpanRepositorySave, internal, "app", nil, true},
	}
	for _, tt := range tests {
		span := testSpan(tt.name, tt.kind, tt.attrs)
		assert.Equal(t, tt.want, Shaped(Builtin(tt.name), tt.kind, tt.scope, span.Attributes()), "%s %v %s %v", tt.name, tt.kind, tt.scope, tt.attrs)
	}
}

func TestCompileRulesErrors(t *testing.T) {
	for want, specs := range map[string][]RuleSpec{
		"rules[1].name_regexp: error parsing regexp":       {{Name: "a", Side: SideRead}, {NameRegexp: "(", Side: SideRead}},
		"rules[0].side: must be one of":                    {{Name: "a"}},
		"rules[0]: set at most one of":                     {{Name: "a", NameRegexp: "a", Side: SideRead}},
		"rules[0]: needs at least one of":                  {{Side: SideRead}},
		"rules[0].resource_attributes[0].key: must not be": {{ResourceAttrs: []AttrSpec{{Key: " "}}, Side: SideRead}},
	} {
		_, err := CompileRules(specs)
		assert.ErrorContains(t, err, want)
	}
}

func TestMatchingDoesNotAllocate(t *testing.T) {
	rs, err := CompileRules([]RuleSpec{
		{Name: "exact", Side: SideRead},
		{NamePrefix: "pre.", Side: SideWrite},
		{NameRegexp: `^re_`, Side: SideRead},
	})
	require.NoError(t, err)
	span := testSpan("pre.thing", 0, map[string]any{"a": "b"})
	scope := pcommon.NewInstrumentationScope()
	res := pcommon.NewResource()
	names := []string{"command.PlaceOrder", "sqlite_event_store.get_events", semconv.SpanBusHandle, "HTTP GET"}
	allocs := testing.AllocsPerRun(100, func() {
		for _, n := range names {
			_ = Builtin(n)
		}
		_, _, _ = rs.Match(span, scope, res)
		_ = Shaped(Builtin("command.exe"), ptrace.SpanKindClient, "app", span.Attributes())
	})
	assert.Zero(t, allocs)
}

func BenchmarkBuiltin(b *testing.B) {
	names := []string{"command.PlaceOrder", "sqlite_event_store.get_events", semconv.SpanBusHandle, "HTTP GET", semconv.SpanCheckpointUpdate}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = Builtin(names[i%len(names)])
	}
}

// BenchmarkShaped is the shape check's cost on the spans that pay it: a convention-shaped name (the
// suffix is scanned) and an unshaped one whose attributes are scanned for a cqrs.* key.
func BenchmarkShaped(b *testing.B) {
	shaped := Builtin("command.PlaceOrder")
	unshaped := Builtin("command.exe")
	attrs := testSpan("command.exe", ptrace.SpanKindClient, map[string]any{
		"process.command": "x", "process.pid": 1, "server.address": "a", "http.request.method": "GET", "url.full": "u",
	}).Attributes()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			_ = Shaped(shaped, ptrace.SpanKindInternal, "app", attrs)
		} else {
			_ = Shaped(unshaped, ptrace.SpanKindClient, "app", attrs)
		}
	}
}
