package cqrsside

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
)

var fuzzNames = []string{
	"command.PlaceOrder", "query.GetOrder", "projection.view", semconv.SpanRepositoryLoad,
	semconv.SpanRepositorySave, "sqlite_event_store.get_events", "in_memory_event_store.append_events",
	semconv.SpanBusPublish, semconv.SpanBusConsume, semconv.SpanSnapshotGet, semconv.SpanCheckpointUpdate,
	"HTTP GET", "", "command.", "_event_store.get_events",
	// eventsource-py 0.14
	"eventsource.event_bus.consume OrderCreated", "eventsource.event_bus.dispatch _LiveEventHandler",
	semconv.SpanLiveRunnerProcessEvent, semconv.SpanCatchupRunnerDeliverEvent, semconv.SpanProjectionHandle,
	"eventsource.readmodel.save", "eventsource.readmodel.get", "eventsource.lock.acquire", "eventsource.router.read_all",
}

var fuzzKinds = []ptrace.SpanKind{ptrace.SpanKindInternal, ptrace.SpanKindConsumer, ptrace.SpanKindServer, ptrace.SpanKindProducer}

var fuzzScopes = []string{"", semconv.ScopeWrite, semconv.ScopeRead, semconv.ScopeProjection, "other"}

// fuzzValue turns one byte into an attribute value of some type.
func fuzzValue(v pcommon.Value, b byte, rest []byte) {
	switch b % 7 {
	case 0:
		v.SetStr(semconv.SideWrite)
	case 1:
		v.SetStr(string(rest))
	case 2:
		v.SetInt(int64(b))
	case 3:
		v.SetEmptyMap().PutStr("k", "v")
	case 4:
		v.SetEmptyBytes().FromRaw(rest)
	case 5:
		v.SetBool(true)
	case 6:
		v.SetEmptySlice().AppendEmpty().SetDouble(1.5)
	}
}

var fuzzKeys = []string{semconv.AttrSide, semconv.AttrCommandType, semconv.AttrProjectionName,
	semconv.AttrESProjectionName, semconv.AttrESEventType, semconv.AttrAggregateType, semconv.AttrSideSource}

// fuzzBatches builds up to three batches from data: 4 bytes per span
// (name, id, parent with kind and remote flag, attribute), ids from a small
// space so that duplicates, self-parents and cycles are common, and two
// services so that parents cross process boundaries.
func fuzzBatches(data []byte) []ptrace.Traces {
	var out []ptrace.Traces
	td := ptrace.NewTraces()
	var ss ptrace.ScopeSpans
	for i := 0; i+4 <= len(data) && i < 4*512; i += 4 {
		op, idb, pb, ab := data[i], data[i+1], data[i+2], data[i+3]
		if op&0xC0 == 0xC0 && td.SpanCount() > 0 && len(out) < 2 {
			out = append(out, td)
			td = ptrace.NewTraces()
		}
		if td.ResourceSpans().Len() == 0 || op&0x30 == 0x30 {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", []string{"fuzz", "fuzz-other"}[ab&1])
			ss = rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fuzzScopes[int(ab)%len(fuzzScopes)])
		}
		s := ss.Spans().AppendEmpty()
		name := fuzzNames[(int(op&0x0F)+16*int(idb&1))%len(fuzzNames)]
		if op&0x0F == 0x0F {
			name = string(data[i:min(len(data), i+int(ab))])
		}
		s.SetName(name)
		if idb != 0 {
			s.SetSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, idb % 32})
		}
		if pb&0x80 != 0 {
			s.SetParentSpanID(pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, pb % 32})
		}
		s.SetKind(fuzzKinds[(pb>>5)&3])
		if ab&0x40 != 0 {
			s.SetFlags(flagHasIsRemote | flagIsRemote)
		}
		if ab&0x80 != 0 {
			fuzzValue(s.Attributes().PutEmpty(fuzzKeys[int(ab>>4)%len(fuzzKeys)]), ab, data[i:i+4])
		}
	}
	return append(out, td)
}

func FuzzConsumeTraces(f *testing.F) {
	f.Add([]byte{0x00, 1, 0, 0, 0x03, 2, 0x81, 0, 0x05, 3, 0x82, 0x80})
	f.Add([]byte{0x03, 1, 0x82, 0, 0xC9, 2, 0x81, 0x81, 0x0B, 3, 0x83, 0xA3})
	// Hostile shapes: a self-parent; a two-span parent cycle; a remote parent that never arrives
	// (flagged, and not); a consumer under a parent of another service; a 0.14 runner over its handle.
	f.Add([]byte{0x03, 1, 0x81, 0})
	f.Add([]byte{0x03, 1, 0x82, 0, 0x0C, 2, 0x81, 0})
	f.Add([]byte{0x03, 5, 0x89, 0x40, 0x03, 6, 0x8A, 0})
	f.Add([]byte{0x04, 7, 0, 0, 0x30, 9, 0xA7, 0x01})
	f.Add([]byte{0x02, 11, 0, 0, 0x03, 12, 0x8B, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := defaultCfg()
		cfg.AncestorCache.MaxEntries = 16
		h := newHarness(t, cfg)
		in := 0
		for _, td := range fuzzBatches(data) {
			in += td.SpanCount()
			h.consume(td)
			h.clock.Advance(time.Second)
			require.Equal(t, in, h.sink.SpanCount(), "every batch goes on whole, at once")
		}
		require.NoError(t, h.p.shutdown(context.Background()))
		for _, td := range h.sink.AllTraces() {
			forEachSpan(td, func(_ ptrace.ResourceSpans, _ ptrace.ScopeSpans, s ptrace.Span) {
				// A valid side always comes with a valid source.
				side, ok := s.Attributes().Get(semconv.AttrSide)
				if !ok || side.Type() != pcommon.ValueTypeStr {
					return
				}
				if _, valid := matcher.ParseSide(side.Str()); !valid {
					return
				}
				src, ok := s.Attributes().Get(semconv.AttrSideSource)
				require.True(t, ok)
				require.Contains(t, []string{"attribute", "rule", "convention", "inherited"}, src.AsString())
			})
		}
	})
}
