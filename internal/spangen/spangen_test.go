package spangen

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
