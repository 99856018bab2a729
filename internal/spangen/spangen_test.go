package spangen

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

func TestBatchShape(t *testing.T) {
	g := New(DefaultConfig())
	names := map[string]int{}
	links, spans := 0, 0
	for range 5 {
		td := g.Batch()
		n := td.SpanCount()
		assert.GreaterOrEqual(t, n, 1000)
		assert.Less(t, n, 1010)
		spans += n
		forEachSpan(td, func(s ptrace.Span) {
			names[s.Name()]++
			links += s.Links().Len()
		})
	}
	for _, want := range []string{semconv.SpanRepositorySave, semconv.SpanBusConsume, semconv.SpanProjectionHandle, semconv.SpanCheckpointUpdate} {
		assert.Positive(t, names[want], want)
	}
	assert.Positive(t, links)
	var cqrs int
	for n, c := range names {
		if len(n) > 8 && n[:8] == semconv.SpanPrefixCommand {
			cqrs += c
		}
	}
	assert.Positive(t, cqrs)
}

func TestDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	a, b := New(cfg).Batch(), New(cfg).Batch()
	require.Equal(t, a.SpanCount(), b.SpanCount())
	var an, bn []string
	forEachSpan(a, func(s ptrace.Span) { an = append(an, s.Name()+s.SpanID().String()) })
	forEachSpan(b, func(s ptrace.Span) { bn = append(bn, s.Name()+s.SpanID().String()) })
	assert.Equal(t, an, bn)
}

func TestAnnotate(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Annotate = true
	td := New(cfg).Batch()
	sides := 0
	forEachSpan(td, func(s ptrace.Span) {
		if _, ok := s.Attributes().Get(semconv.AttrSide); ok {
			sides++
		}
	})
	// Only the seed-001 application root spans stay unclassified.
	assert.Greater(t, sides, td.SpanCount()*8/10)
}

func TestLargeCardinality(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AggregateIDs, cfg.CommandTypes = 1_000_000, 10_000
	td := New(cfg).Batch()
	assert.GreaterOrEqual(t, td.SpanCount(), 1000)
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				f(s)
			}
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	g := New(DefaultConfig())
	spans := 0
	for b.Loop() {
		spans += g.Batch().SpanCount()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
}

// TestCounts checks a batch's ground truth against its spans' names, the way
// otelcol-es will count them.
func TestCounts(t *testing.T) {
	g := New(DefaultConfig())
	var total Counts
	var commands, queries, applies int64
	for range 20 {
		td, c := g.BatchCounts()
		assert.Equal(t, int64(td.SpanCount()), c.Spans)
		total.Add(c)
		forEachSpan(td, func(s ptrace.Span) {
			n := s.Name()
			switch {
			case strings.HasPrefix(n, semconv.SpanPrefixCommand):
				commands++
			case strings.HasPrefix(n, semconv.SpanPrefixQuery):
				queries++
			case semconv.IsProjectionApply(n):
				applies++
			}
		})
	}
	assert.Equal(t, Counts{Spans: total.Spans, Commands: commands, Queries: queries, Applies: applies}, total)
	assert.Positive(t, commands)
	assert.Positive(t, queries)
	assert.Positive(t, applies)
}

// A LateShare of the write traces reaches the stream LateBy after the projections that apply their events;
// with none, every producer comes first.
func TestLateWriteTraces(t *testing.T) {
	for _, share := range []float64{0, 0.1} {
		cfg := DefaultConfig()
		cfg.LateShare, cfg.LateBy = share, time.Second // 20k traces of the virtual clock
		g := New(cfg)
		appended := map[pcommon.TraceID]int{} // a write trace's batch
		linkedFrom := map[pcommon.TraceID]int{}
		for i := range 300 {
			forEachSpan(g.Batch(), func(s ptrace.Span) {
				if strings.HasSuffix(s.Name(), semconv.SpanSuffixAppendEvents) {
					appended[s.TraceID()] = i
				}
				for _, l := range s.Links().All() {
					if _, ok := linkedFrom[l.TraceID()]; !ok {
						linkedFrom[l.TraceID()] = i
					}
				}
			})
		}
		late, joined := 0, 0
		for tr, at := range linkedFrom {
			if w, ok := appended[tr]; ok {
				joined++
				if w > at {
					late++
				}
			}
		}
		t.Logf("late share %.1f: %d of %d linked producers arrived after their apply", share, late, joined)
		require.Positive(t, joined)
		if share == 0 {
			assert.Zero(t, late)
		} else {
			assert.InDelta(t, share, float64(late)/float64(joined), 0.05)
		}
	}
}
