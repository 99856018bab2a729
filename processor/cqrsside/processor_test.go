package cqrsside

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadatatest"
)

// metric sums the int64 data points of a component metric whose
// attributes include kv (key, value, key, value...).
func metricSum(t *testing.T, tel *componenttest.Telemetry, name string, kv ...string) int64 {
	t.Helper()
	m, err := tel.GetMetric("otelcol_" + name)
	if err != nil {
		return 0
	}
	var total int64
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok)
	for _, dp := range sum.DataPoints {
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			v, ok := dp.Attributes.Value(attribute.Key(kv[i]))
			if !ok || v.AsString() != kv[i+1] {
				match = false
			}
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

func defaultCfg() *Config { return createDefaultConfig().(*Config) }

func TestConventionClassificationTelemetry(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("order-service", cqrsSpans("")...))
	m := func(name string, kv ...string) int64 { return metricSum(t, h.tel, name, kv...) }
	assert.Equal(t, int64(3), m("processor_cqrsside_spans_classified", "source", "attribute"))
	assert.Equal(t, int64(2), m("processor_cqrsside_spans_classified", "side", "write", "source", "convention"))
	assert.Equal(t, int64(3), m("processor_cqrsside_spans_classified", "source", "inherited"))
	assert.Equal(t, int64(1), m("processor_cqrsside_spans_unclassified"))
	assert.Zero(t, m("processor_cqrsside_invalid_input"))
}

func TestParentInEarlierBatchUsesCache(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("svc", sp{name: "projection.p", id: "p", scope: "app"}))
	h.clock.Advance(10 * time.Second)
	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "p", scope: "repo"}))
	side, src := h.side("l")
	assert.Equal(t, "projection", side)
	assert.Equal(t, "inherited", src)
	assert.Zero(t, h.p.held.live)
}

func TestParentInLaterBatchReleasesHeld(t *testing.T) {
	h := newHarness(t, defaultCfg())
	// Children end, and are exported, before their parents.
	h.consume(tracesOf("svc", sp{name: semconv.EventStoreSQLite + semconv.SpanSuffixGetEvents, id: "g", parent: "l", scope: "store"},
		sp{name: "SELECT events", id: "db", parent: "g", scope: "db", kind: ptrace.SpanKindClient}))
	assert.Empty(t, h.sink.AllTraces(), "all spans wait for their ancestors")
	assert.Equal(t, 2, h.p.held.live)
	assert.Equal(t, int64(2), metricSum(t, h.tel, "processor_cqrsside_held_spans"))
	h.clock.Advance(2 * time.Second)
	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"}))
	assert.Equal(t, 3, h.p.held.live)
	h.clock.Advance(2 * time.Second)
	h.consume(tracesOf("svc", sp{name: "command.Ship", id: "c", scope: "app"}))

	for _, id := range []string{"l", "g", "db"} {
		side, src := h.side(id)
		assert.Equal(t, "write", side, id)
		assert.Equal(t, "inherited", src, id)
	}
	assert.Zero(t, h.p.held.live)
	// The released spans go out on their own, before their ancestor's batch: were that batch refused, its
	// client could not resend spans held from earlier requests.
	require.Len(t, h.sink.AllTraces(), 2)
	assert.Equal(t, 3, h.sink.AllTraces()[0].SpanCount(), "the released spans")
	assert.Equal(t, 1, h.sink.AllTraces()[1].SpanCount(), "the ancestor's batch")
	assert.Equal(t, int64(3), metricSum(t, h.tel, "processor_cqrsside_spans_inherited_late"))
	assert.Zero(t, metricSum(t, h.tel, "processor_cqrsside_spans_held_timeout"))
	assert.Empty(t, h.p.held.byParent)
	assert.Zero(t, metricSum(t, h.tel, "processor_cqrsside_held_spans"))
}

func TestHeldSpanKeepsResourceAndScope(t *testing.T) {
	h := newHarness(t, defaultCfg())
	in := tracesOf("svc-a", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"})
	in.ResourceSpans().At(0).SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	in.ResourceSpans().At(0).ScopeSpans().At(0).Scope().SetVersion("1.2.3")
	want := ptrace.NewTraces()
	in.CopyTo(want)
	h.consume(in)
	h.consume(tracesOf("svc-b", sp{name: "command.Ship", id: "c", scope: "app"}))

	out := h.sink.AllTraces()[0] // the released span, ahead of its ancestor's batch
	require.Equal(t, 1, out.ResourceSpans().Len())
	rs := out.ResourceSpans().At(0)
	assert.Equal(t, "https://opentelemetry.io/schemas/1.26.0", rs.SchemaUrl())
	assert.Equal(t, want.ResourceSpans().At(0).Resource().Attributes().AsRaw(), rs.Resource().Attributes().AsRaw())
	assert.Equal(t, "repo", rs.ScopeSpans().At(0).Scope().Name())
	assert.Equal(t, "1.2.3", rs.ScopeSpans().At(0).Scope().Version())
	assert.Equal(t, semconv.SpanRepositoryLoad, rs.ScopeSpans().At(0).Spans().At(0).Name())
}

func TestHeldSpanTimesOutWithFallback(t *testing.T) {
	cfg := defaultCfg()
	h := newHarness(t, cfg)
	h.consume(tracesOf("svc",
		sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "gone", scope: "repo"},
		sp{name: "HTTP GET", id: "x", parent: "gone2", scope: "http"},
	))
	h.clock.Advance(cfg.AncestorWait - time.Nanosecond)
	h.p.releaseExpired(context.Background())
	assert.Empty(t, h.sink.AllTraces(), "not released before the wait ends")

	h.clock.Advance(time.Nanosecond)
	h.p.releaseExpired(context.Background())
	side, src := h.side("l")
	assert.Equal(t, "read", side)
	assert.Equal(t, "convention", src)
	side, _ = h.side("x")
	assert.Empty(t, side, "no ancestor, no convention: unclassified")
	assert.Equal(t, int64(2), metricSum(t, h.tel, "processor_cqrsside_spans_held_timeout"))
	assert.Equal(t, int64(1), metricSum(t, h.tel, "processor_cqrsside_spans_unclassified"))
	assert.Zero(t, h.p.held.live)

	// The fallback side is remembered for late children.
	h.consume(tracesOf("svc", sp{name: semconv.SpanSnapshotGet, id: "s", parent: "l", scope: "repo"}))
	side, src = h.side("s")
	assert.Equal(t, "read", side)
	assert.Equal(t, "inherited", src)
}

func TestFullBufferReleasesOldestEarly(t *testing.T) {
	cfg := defaultCfg()
	cfg.MaxHeldSpans = 2
	h := newHarness(t, cfg)
	for _, id := range []string{"a", "b", "c"} {
		h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: id, parent: "p-" + id, scope: "repo"}))
		h.clock.Advance(time.Second)
	}
	assert.Equal(t, 2, h.p.held.live)
	side, src := h.side("a")
	assert.Equal(t, "read", side)
	assert.Equal(t, "convention", src)
	side, _ = h.side("b")
	assert.Equal(t, "-", side, "still held")
	assert.Equal(t, int64(1), metricSum(t, h.tel, "processor_cqrsside_spans_held_early_release", "reason", "buffer_full"))

	require.NoError(t, h.p.shutdown(context.Background()))
	assert.Equal(t, 3, h.sink.SpanCount(), "shutdown releases everything held")
	assert.Equal(t, int64(2), metricSum(t, h.tel, "processor_cqrsside_spans_held_early_release", "reason", "shutdown"))
}

func TestHoldPolicies(t *testing.T) {
	batch := func() ptrace.Traces {
		return tracesOf("svc",
			sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"},
			sp{name: "HTTP GET", id: "x", parent: "c", scope: "http"},
		)
	}
	for _, tt := range []struct {
		hold       string
		lSide      string
		xSide      string
		heldBefore int
	}{
		{hold: holdAll, lSide: "write", xSide: "write", heldBefore: 2},
		{hold: holdAncestorDependent, lSide: "write", xSide: "", heldBefore: 1},
		{hold: holdNone, lSide: "read", xSide: "", heldBefore: 0},
	} {
		t.Run(tt.hold, func(t *testing.T) {
			cfg := defaultCfg()
			cfg.HoldSpans = tt.hold
			h := newHarness(t, cfg)
			h.consume(batch())
			assert.Equal(t, tt.heldBefore, h.p.held.live)
			h.consume(tracesOf("svc", sp{name: "command.C", id: "c", scope: "app"}))
			lSide, _ := h.side("l")
			xSide, _ := h.side("x")
			assert.Equal(t, tt.lSide, lSide)
			assert.Equal(t, tt.xSide, xSide)
		})
	}
}

func TestCrossBatchCycleEnds(t *testing.T) {
	cfg := defaultCfg()
	h := newHarness(t, cfg)
	h.consume(tracesOf("svc", sp{name: semconv.SpanSnapshotGet, id: "a", parent: "b", scope: "s"}))
	h.consume(tracesOf("svc", sp{name: "b", id: "b", parent: "a", scope: "s"}))
	assert.Equal(t, 2, h.p.held.live)
	h.clock.Advance(cfg.AncestorWait)
	h.p.releaseExpired(context.Background())
	assert.Equal(t, 2, h.sink.SpanCount())
	assert.Zero(t, h.p.held.live)
}

func TestCacheExpiryMeansWaiting(t *testing.T) {
	cfg := defaultCfg()
	h := newHarness(t, cfg)
	h.consume(tracesOf("svc", sp{name: "command.C", id: "c", scope: "app"}))
	h.clock.Advance(cfg.AncestorCache.TTL + time.Second)
	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"}))
	assert.Equal(t, 1, h.p.held.live, "the parent's side expired, so the span waits")
	assert.Equal(t, int64(1), metricSum(t, h.tel, "processor_cqrsside_cache_evictions", "reason", "expired"))
}

func TestCacheCapacityEvictionsCounted(t *testing.T) {
	cfg := defaultCfg()
	cfg.AncestorCache.MaxEntries = 4
	h := newHarness(t, cfg)
	h.consume(tracesOf("svc", cqrsSpans("")...))
	assert.Equal(t, int64(5), metricSum(t, h.tel, "processor_cqrsside_cache_evictions", "reason", "capacity"))
}

func TestEmitSideSourceOff(t *testing.T) {
	cfg := defaultCfg()
	cfg.EmitSideSource = false
	h := newHarness(t, cfg)
	h.consume(tracesOf("svc", sp{name: "command.C", id: "c", scope: "app", attrs: map[string]any{semconv.AttrSideSource: "stale"}}))
	s := h.spans()[spanID("c")]
	_, ok := s.Attributes().Get(semconv.AttrSideSource)
	assert.False(t, ok)
	assert.Equal(t, "write", strOf(s.Attributes(), semconv.AttrSide))
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, defaultCfg())
	// A class-name-shaped type, so the name alone is a command's.
	long := semconv.SpanPrefixCommand + strings.Repeat("A", 100_000)
	td := tracesOf("svc",
		sp{name: "command.A", id: "a", scope: "app", attrs: map[string]any{semconv.AttrSide: int64(3)}},
		sp{name: "x", id: "b", scope: "app", attrs: map[string]any{semconv.AttrSide: "sideways"}},
		sp{name: "command.C", id: "c", scope: "app", attrs: map[string]any{semconv.AttrCommandType: map[string]any{"k": "v"}}},
		sp{name: "", id: "d", scope: ""},
		sp{name: long, id: "e", scope: "app"},
		sp{name: "query.Q", id: "", scope: "app"},
		sp{name: "query.Q", id: "dup", scope: "app"},
		sp{name: "query.Q", id: "dup", scope: "app"},
		sp{name: semconv.SpanRepositoryLoad, id: "self", parent: "self", scope: "repo"},
		sp{name: "Write", id: "f", scope: "app", attrs: map[string]any{semconv.AttrSide: "Write"}},
		sp{name: "projection.", id: "g", scope: "app"},
	)
	require.NotPanics(t, func() { h.consume(td) })
	spans := h.spans()
	get := func(id, key string) string { return strOf(spans[spanID(id)].Attributes(), key) }
	assert.Equal(t, "write", get("a", semconv.AttrSide), "int side ignored, name classifies")
	assert.Equal(t, "A", get("a", semconv.AttrCommandType))
	assert.Equal(t, "sideways", get("b", semconv.AttrSide), "unknown value left as is when nothing classifies")
	assert.Equal(t, "C", get("c", semconv.AttrCommandType), "map replaced by the name's type")
	assert.Equal(t, "write", get("e", semconv.AttrSide))
	assert.Empty(t, get("e", semconv.AttrCommandType), "a 100 kB type is not copied")
	assert.Equal(t, "read", get("self", semconv.AttrSide), "self-parent treated as root")
	assert.Equal(t, "write", get("f", semconv.AttrSide), "side values are normalised")
	assert.Equal(t, "attribute", get("f", semconv.AttrSideSource))
	assert.Empty(t, get("g", semconv.AttrSide), "a bare prefix is no convention")
	assert.Equal(t, 11, h.sink.SpanCount())
	m := func(reason string) int64 {
		return metricSum(t, h.tel, "processor_cqrsside_invalid_input", "reason", reason)
	}
	assert.Equal(t, int64(1), m("side_not_string"))
	assert.Equal(t, int64(1), m("side_unknown_value"))
	assert.Equal(t, int64(1), m("type_attribute_not_string"))
	assert.Equal(t, int64(2), m("duplicate_or_empty_span_id"))
	assert.Equal(t, int64(1), m("parent_cycle"))
	assert.Equal(t, int64(1), m("type_name_too_long"))
}

// TestReleaseLoop runs the real release goroutine on a fake clock.
func TestReleaseLoop(t *testing.T) {
	defer goleak.VerifyNone(t)
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	sink := new(consumertest.TracesSink)
	clock := clockwork.NewFakeClockAt(testStart)
	cfg := defaultCfg()
	p, err := newProcessor(metadatatest.NewSettings(tel), cfg, sink, clock)
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))

	_, err = p.processTraces(context.Background(), tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"}))
	require.ErrorContains(t, err, "skip")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clock.BlockUntilContext(ctx, 1), "the loop sets a timer for the deadline")
	clock.Advance(cfg.AncestorWait)
	require.Eventually(t, func() bool { return sink.SpanCount() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, p.shutdown(context.Background()))
}

func TestFactoryPipeline(t *testing.T) {
	defer goleak.VerifyNone(t)
	f := NewFactory()
	sink := new(consumertest.TracesSink)
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	tp, err := f.CreateTraces(context.Background(), set, f.CreateDefaultConfig(), sink)
	require.NoError(t, err)
	assert.True(t, tp.Capabilities().MutatesData)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, tp.ConsumeTraces(context.Background(), tracesOf("svc", eventsourceSpans("")...)))
	require.NoError(t, tp.ConsumeTraces(context.Background(), tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "later", scope: "repo"})))
	require.NoError(t, tp.Shutdown(context.Background()))
	assert.Equal(t, len(eventsourceSpans(""))+1, sink.SpanCount(), "nothing lost, held spans released at shutdown")
}

// TestConcurrentConsume runs batches from several goroutines while the
// release loop works; under -race it checks the locking, and it checks
// that no span is lost or duplicated.
func TestConcurrentConsume(t *testing.T) {
	defer goleak.VerifyNone(t)
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	sink := new(consumertest.TracesSink)
	clock := clockwork.NewFakeClockAt(testStart)
	cfg := defaultCfg()
	cfg.MaxHeldSpans = 50
	p, err := newProcessor(metadatatest.NewSettings(tel), cfg, sink, clock)
	require.NoError(t, err)
	require.NoError(t, p.start(context.Background(), componenttest.NewNopHost()))

	const workers, rounds = 4, 50
	total := make(chan int, workers)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				clock.Advance(time.Second)
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for w := 0; w < workers; w++ {
		go func() {
			n := 0
			for r := 0; r < rounds; r++ {
				prefix := string(rune('a'+w)) + string(rune('A'+r%26)) + string(rune('0'+r/26))
				children, roots := splitByParent(tracesOf("svc", eventsourceSpans(prefix)...))
				for _, td := range []ptrace.Traces{children, roots} {
					n += td.SpanCount()
					out, err := p.processTraces(context.Background(), td)
					if err == nil {
						_ = sink.ConsumeTraces(context.Background(), out)
					}
				}
			}
			total <- n
		}()
	}
	in := 0
	for w := 0; w < workers; w++ {
		in += <-total
	}
	close(done)
	require.NoError(t, p.shutdown(context.Background()))
	assert.Equal(t, in, sink.SpanCount())
}

// refusingSink refuses while err is set.
type refusingSink struct {
	consumertest.TracesSink
	err error
}

func (r *refusingSink) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	if r.err != nil {
		return r.err
	}
	return r.TracesSink.ConsumeTraces(ctx, td)
}

// Held spans were accepted upstream: when the next consumer refuses them on
// release (a full sending queue), they are offered again, not lost; a
// permanent refusal drops them, counted.
func TestRefusedReleaseIsRetried(t *testing.T) {
	cfg := defaultCfg()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	next := &refusingSink{}
	clock := clockwork.NewFakeClockAt(testStart)
	p, err := newProcessor(metadatatest.NewSettings(tel), cfg, next, clock)
	require.NoError(t, err)
	h := &harness{t: t, p: p, sink: &next.TracesSink, clock: clock, tel: tel}

	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "gone", scope: "repo"}))
	require.Equal(t, 1, p.held.live)
	next.err = errors.New("sending queue is full")
	clock.Advance(cfg.AncestorWait)
	p.releaseExpired(context.Background())
	assert.Zero(t, p.held.live)
	assert.Equal(t, 1, p.release.Pending(), "kept for another attempt")
	assert.Zero(t, next.SpanCount())

	next.err = nil
	p.releaseExpired(context.Background())
	assert.Equal(t, 1, next.SpanCount(), "delivered on the next attempt")
	assert.Zero(t, p.release.Pending())

	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l2", parent: "gone", scope: "repo"}))
	next.err = consumererror.NewPermanent(errors.New("rejected"))
	clock.Advance(cfg.AncestorWait)
	p.releaseExpired(context.Background())
	assert.Equal(t, int64(1), metricSum(t, tel, "processor_cqrsside_spans_release_dropped"))
	assert.Zero(t, p.release.Pending())
}
