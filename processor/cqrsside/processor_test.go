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
	assert.Zero(t, metricSum(t, h.tel, "processor_cqrsside_spans_parent_unseen"))
}

// Children end, and are exported, before their parents. No span waits for its parent: each batch goes on
// at once, whole, with what is known; the spans whose parent had not arrived take their own fallback and
// are counted.
func TestParentInLaterBatchGoesOnAtOnce(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("svc", sp{name: semconv.EventStoreSQLite + semconv.SpanSuffixGetEvents, id: "g", parent: "l", scope: "store"},
		sp{name: "SELECT events", id: "db", parent: "g", scope: "db", kind: ptrace.SpanKindClient},
		sp{name: "HTTP GET", id: "x", parent: "gone", scope: "http"}))
	require.Len(t, h.sink.AllTraces(), 1, "the batch went on at once")
	assert.Equal(t, 3, h.sink.AllTraces()[0].SpanCount())
	side, src := h.side("g")
	assert.Equal(t, "read", side, "the store read's own fallback")
	assert.Equal(t, "convention", src)
	side, src = h.side("db")
	assert.Equal(t, "read", side, "inherits its parent's fallback within the batch")
	assert.Equal(t, "inherited", src)
	side, _ = h.side("x")
	assert.Empty(t, side, "no ancestor, no convention: unclassified")
	assert.Equal(t, int64(2), metricSum(t, h.tel, "processor_cqrsside_spans_parent_unseen"), "g and x")

	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"}))
	h.consume(tracesOf("svc", sp{name: "command.Ship", id: "c", scope: "app"}))
	require.Len(t, h.sink.AllTraces(), 3, "one batch out per batch in")
	assert.Equal(t, int64(3), metricSum(t, h.tel, "processor_cqrsside_spans_parent_unseen"))

	// A fallback side is remembered for the children that come later.
	h.consume(tracesOf("svc", sp{name: semconv.SpanSnapshotGet, id: "s", parent: "g", scope: "repo"}))
	side, src = h.side("s")
	assert.Equal(t, "read", side)
	assert.Equal(t, "inherited", src)
}

func TestCrossBatchCycleEnds(t *testing.T) {
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("svc", sp{name: semconv.SpanSnapshotGet, id: "a", parent: "b", scope: "s"}))
	h.consume(tracesOf("svc", sp{name: "b", id: "b", parent: "a", scope: "s"}))
	assert.Equal(t, 2, h.sink.SpanCount())
}

func TestCacheExpiryMeansParentUnseen(t *testing.T) {
	cfg := defaultCfg()
	h := newHarness(t, cfg)
	h.consume(tracesOf("svc", sp{name: "command.C", id: "c", scope: "app"}))
	h.clock.Advance(cfg.AncestorCache.TTL + time.Second)
	h.consume(tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "c", scope: "repo"}))
	side, src := h.side("l")
	assert.Equal(t, "read", side, "the parent's side expired: the span's own fallback")
	assert.Equal(t, "convention", src)
	assert.Equal(t, int64(1), metricSum(t, h.tel, "processor_cqrsside_spans_parent_unseen"))
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
	assert.Equal(t, len(eventsourceSpans(""))+1, sink.SpanCount(), "every span went on in its own call")
	require.NoError(t, tp.Shutdown(context.Background()))
}

// TestConcurrentConsume runs batches from several goroutines sharing the
// ancestor cache; under -race it checks the locking, and it checks that no
// span is lost or duplicated.
func TestConcurrentConsume(t *testing.T) {
	defer goleak.VerifyNone(t)
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	sink := new(consumertest.TracesSink)
	clock := clockwork.NewFakeClockAt(testStart)
	cfg := defaultCfg()
	cfg.AncestorCache.MaxEntries = 50
	p, err := newProcessor(metadatatest.NewSettings(tel), cfg, clock)
	require.NoError(t, err)

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

// Nothing is held, so a refusal by the next consumer goes back to the client
// that sent the batch, who can retry it: the batch went on in the caller's own
// call, with its context.
func TestRefusalGoesBackToTheClient(t *testing.T) {
	next := &refusingSink{err: errors.New("sending queue is full")}
	f := NewFactory()
	tp, err := f.CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), f.CreateDefaultConfig(), next)
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()
	err = tp.ConsumeTraces(context.Background(), tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "gone", scope: "repo"}))
	require.ErrorContains(t, err, "sending queue is full")
	next.err = nil
	require.NoError(t, tp.ConsumeTraces(context.Background(), tracesOf("svc", sp{name: semconv.SpanRepositoryLoad, id: "l", parent: "gone", scope: "repo"})))
	assert.Equal(t, 1, next.SpanCount())
}

// eventsource-py's live runner wraps each event's projection.handle in its own process_event span:
// one event applied counts once, on the runner's span. Whichever of the two arrives first, exactly one
// of them goes on unmarked.
func TestRunnerAndHandleCountOnceInEitherOrder(t *testing.T) {
	runner := sp{name: semconv.SpanLiveRunnerProcessEvent, id: "run", parent: "dispatch", scope: "eventsource"}
	handle := sp{name: semconv.SpanProjectionHandle, id: "h", parent: "run", scope: "eventsource"}
	nested := func(h *harness, id string) bool {
		s, ok := h.spans()[spanID(id)]
		require.Truef(t, ok, "span %s not out", id)
		v, ok := s.Attributes().Get(semconv.AttrProjectionNested)
		return ok && v.Bool()
	}
	for _, tt := range []struct {
		name    string
		batches [][]sp
		counted string
	}{
		{"same batch", [][]sp{{handle, runner}}, "run"},
		{"runner first", [][]sp{{runner}, {handle}}, "run"},
		{"handle first", [][]sp{{handle}, {runner}}, "h"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, defaultCfg())
			for _, b := range tt.batches {
				h.consume(tracesOf("svc", b...))
			}
			assert.Equal(t, tt.counted != "run", nested(h, "run"), "runner")
			assert.Equal(t, tt.counted != "h", nested(h, "h"), "handle")
		})
	}

	// A handle whose parent arrives first in another process is no inner apply of that span.
	h := newHarness(t, defaultCfg())
	h.consume(tracesOf("svc-a", handle))
	h.consume(tracesOf("svc-b", runner))
	assert.False(t, nested(h, "run"))
	assert.False(t, nested(h, "h"))
}
