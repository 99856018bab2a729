package projectionlag

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
)

// FuzzProcessTraces feeds arbitrary OTLP span batches (protobuf) through one
// long-lived processor: nothing may panic, no span may be lost or invented,
// and every lag or delay written must be a finite double.
// The committed corpus in testdata/fuzz/FuzzProcessTraces holds the golden
// inputs; run briefly with: go test -run '^$' -fuzz FuzzProcessTraces -fuzztime 10s
func FuzzProcessTraces(f *testing.F) {
	names := make([]string, 0, len(goldenInputs))
	for name := range goldenInputs {
		names = append(names, name)
	}
	sort.Strings(names)
	var m ptrace.ProtoMarshaler
	for _, name := range names {
		td, err := golden.ReadTraces(filepath.Join("testdata", name+"-in.yaml"))
		if err != nil {
			f.Fatal(err)
		}
		b, err := m.MarshalTraces(td)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if os.Getenv("UPDATE_FUZZ_CORPUS") != "" {
			writeCorpus(f, name, b)
		}
	}
	var u ptrace.ProtoUnmarshaler
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := u.UnmarshalTraces(data)
		if err != nil {
			return
		}
		// A fresh processor per input keeps coverage deterministic; the
		// batch goes through twice so the second pass meets the state
		// (duplicates, stored producers, heads) the first one left.
		h := newFuzzHarness(t)
		second := ptrace.NewTraces()
		td.CopyTo(second)
		for _, td := range []ptrace.Traces{td, second} {
			fuzzOnce(t, h, td)
		}
		h.clock.Advance(2 * time.Minute)
		h.lp.join.Begin().End(context.Background())
		if _, pending := h.lp.join.Sizes(); pending != 0 {
			t.Fatalf("%d joins still pending after the ttl", pending)
		}
	})
}

// newFuzzHarness skips processorhelper and the telemetry SDK: their
// internals iterate maps, and coverage that varies between runs of one
// input sends the fuzzer into endless minimisation.
func newFuzzHarness(t *testing.T) *harness {
	cfg := createDefaultConfig().(*Config)
	cfg.Link.MaxProducers = 64
	cfg.Link.MaxPending = 16
	cfg.Positions.MaxHeads = 8
	cfg.Positions.MaxProjections = 8
	sink := new(consumertest.TracesSink)
	clock := clockwork.NewFakeClockAt(t0)
	lp, err := newProcessor(processortest.NewNopSettings(metadata.Type), cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, clock: clock, lp: lp, sink: sink}
}

func fuzzOnce(t *testing.T, h *harness, td ptrace.Traces) {
	{
		in := td.SpanCount()
		before := h.sink.SpanCount()
		out, err := h.lp.processTraces(context.Background(), td)
		if err != nil {
			t.Fatal(err)
		}
		_ = h.sink.ConsumeTraces(context.Background(), out)
		h.clock.Advance(time.Minute)
		if got := h.sink.SpanCount() - before; got != in {
			t.Fatalf("%d spans in, %d out", in, got)
		}
		for _, out := range h.sink.AllTraces() {
			forEachSpan(out, func(_ ptrace.ResourceSpans, s ptrace.Span) {
				for _, ev := range s.Events().All() {
					if ev.Name() != semconv.EventProjectionApplied {
						continue
					}
					for _, k := range []string{semconv.AttrProjectionLagMs, semconv.AttrConsistencyDelayMs} {
						if v, ok := ev.Attributes().Get(k); ok && (math.IsNaN(v.Double()) || math.IsInf(v.Double(), 0)) {
							t.Fatalf("late %s = %v", k, v.AsRaw())
						}
					}
				}
				for _, k := range []string{semconv.AttrProjectionLagMs, semconv.AttrConsistencyDelayMs} {
					v, ok := s.Attributes().Get(k)
					if !ok || !semconv.IsProjectionApply(s.Name()) {
						continue
					}
					side, _ := s.Attributes().Get(semconv.AttrSide)
					if side.Str() != semconv.SideProjection {
						continue // not ours to validate
					}
					if math.IsNaN(v.Double()) || math.IsInf(v.Double(), 0) {
						t.Fatalf("%s = %v", k, v.AsRaw())
					}
				}
			})
		}
		h.sink.Reset()
	}
}

func writeCorpus(f *testing.F, name string, b []byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProcessTraces")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	content := "go test fuzz v1\n[]byte(" + quoteBytes(b) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		f.Fatal(err)
	}
}

func quoteBytes(b []byte) string {
	const hex = "0123456789abcdef"
	out := []byte{'"'}
	for _, c := range b {
		out = append(out, '\\', 'x', hex[c>>4], hex[c&0xf])
	}
	return string(append(out, '"'))
}
