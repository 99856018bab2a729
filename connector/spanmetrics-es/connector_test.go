package spanmetricses

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es/internal/spanmetricses"
	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// updateGolden regenerates the expected files: UPDATE_GOLDEN=1 go test ./...
var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// testStart is the fake clock's start, shortly after the test spans.
var testStart = time.Unix(0, 1763776801000000000).UTC()

func newTestConnector(t *testing.T, cfg *Config, next consumer.Metrics) (*spanMetricsConnector, *clockwork.FakeClock) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	clock := clockwork.NewFakeClockAt(testStart)
	c, err := newConnector(connectortest.NewNopSettings(spanmetricses.Type), cfg, next, clock)
	require.NoError(t, err)
	return c, clock
}

func allMetrics(sink *consumertest.MetricsSink) pmetric.Metrics {
	out := pmetric.NewMetrics()
	for _, md := range sink.AllMetrics() {
		md.ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
	}
	return out
}

var compareOpts = []pmetrictest.CompareMetricsOption{
	pmetrictest.IgnoreResourceMetricsOrder(),
	pmetrictest.IgnoreMetricsOrder(),
	pmetrictest.IgnoreMetricDataPointsOrder(),
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string // <in>-trace.yaml; the case name when empty
		cfg  func(*Config)
	}{
		// The CQRS bus conventions (cqrs.* attributes; seed 000's trace).
		{name: "cqrs-conventions"},
		// The eventsource runtime conventions (eventsource.* attributes, sampled with ot=th: → counts ×10,
		// events from the append span; seed 001's trace).
		{name: "eventsource-conventions"},
		// eventsource-py 0.14's Kafka chain, catch-up, RabbitMQ and Redis flows, as cqrsside and
		// projectionlag annotate them (processor/projectionlag/testdata/eventsource-py-expected.yaml):
		// a runner's apply counts once, not again for the projection.handle inside it.
		{name: "eventsource-py"},
		// Other emitters' failed writes: only non-Error commands and non-Error, outermost writes count.
		{name: "failed-writes"},
		// The eventsource runtime's own spans for a small bank app with a conflict and a rejected
		// command (TestRuntimeEmitsGoldenTrace keeps the trace file equal to what the runtime emits).
		{name: "eventsource-runtime"},
		{name: "eventsource-conventions-delta-exponential", in: "eventsource-conventions", cfg: func(c *Config) {
			c.AggregationTemporality = temporalityDelta
			c.Histogram.Exponential = &ExponentialHistogramConfig{MaxSize: 20}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			sink := new(consumertest.MetricsSink)
			c, clock := newTestConnector(t, cfg, sink)
			in := tc.name
			if tc.in != "" {
				in = tc.in
			}
			td, err := golden.ReadTraces(filepath.Join("testdata", in+"-trace.yaml"))
			require.NoError(t, err)
			require.NoError(t, c.ConsumeTraces(context.Background(), td))
			clock.Advance(time.Second)
			require.NoError(t, c.flush(context.Background()))
			got := allMetrics(sink)
			expectedFile := filepath.Join("testdata", tc.name+"-expected-metrics.yaml")
			if updateGolden {
				require.NoError(t, golden.WriteMetricsToFile(expectedFile, got, golden.SkipMetricTimestampNormalization()))
			}
			want, err := golden.ReadMetrics(expectedFile)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got, compareOpts...))
		})
	}
}

func TestFlushOnTickerAndShutdown(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	// The same trace is sent twice to have data after the last tick: dedupe
	// would rightly count it once (TestRetryThroughFanoutCountsOnce).
	cfg.Dedupe.Enabled = false
	sink := new(consumertest.MetricsSink)
	c, clock := newTestConnector(t, cfg, sink)
	c.flushed = make(chan struct{})
	require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
	td, err := golden.ReadTraces(filepath.Join("testdata", "cqrs-conventions-trace.yaml"))
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), td))

	require.NoError(t, clock.BlockUntilContext(context.Background(), 1))
	clock.Advance(cfg.MetricsFlushInterval)
	<-c.flushed
	require.Len(t, sink.AllMetrics(), 1)

	// Data that arrives after the last tick is emitted at shutdown.
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	require.NoError(t, c.Shutdown(context.Background()))
	require.Len(t, sink.AllMetrics(), 2)
	total := findSum(t, sink.AllMetrics()[1], "cqrs.command.total", "PlaceOrder")
	require.Equal(t, int64(2), total)
}

// findSum returns the value of a sum data point whose attributes include the value v.
func findSum(t *testing.T, md pmetric.Metrics, name, v string) int64 {
	t.Helper()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				dps := m.Sum().DataPoints()
				for d := 0; d < dps.Len(); d++ {
					for _, a := range dps.At(d).Attributes().All() {
						if a.AsString() == v {
							return dps.At(d).IntValue()
						}
					}
				}
			}
		}
	}
	t.Fatalf("no %s data point with %q", name, v)
	return 0
}

// bankAccount is the aggregate of the runtime golden trace.
type bankAccount struct {
	eventsource.Root
	balance int64
}

func newBankAccount(id string) *bankAccount {
	a := &bankAccount{}
	a.Init(id, "Account", func(e eventsource.Event) error {
		var d struct{ Amount int64 }
		if err := e.Decode(&d); err != nil {
			return err
		}
		a.balance += d.Amount
		return nil
	})
	return a
}

type openAccount struct{ ID string }

func (openAccount) CommandType() string   { return "OpenAccount" }
func (c openAccount) AggregateID() string { return c.ID }

type deposit struct {
	ID     string
	Amount int64
}

func (deposit) CommandType() string   { return "Deposit" }
func (c deposit) AggregateID() string { return c.ID }

// runtimeTrace runs a bank app on the eventsource runtime: two accounts
// opened, one opened twice (a concurrency conflict on append), a deposit, and
// a deposit rejected before anything is stored.
func runtimeTrace(t *testing.T) ptrace.Traces {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	opt := eventsource.WithTracerProvider(tp)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*bankAccount]{
		Store: eventsource.NewInMemoryEventStore(opt), Factory: newBankAccount}, opt)
	require.NoError(t, err)
	bus := eventsource.NewCommandBus(opt)
	require.NoError(t, eventsource.Register(bus, func(ctx context.Context, c openAccount) error {
		a := repo.New(c.ID) // not loaded: opening an existing account conflicts on append
		if err := a.Raise("AccountOpened", struct{}{}); err != nil {
			return err
		}
		_, err := repo.Save(ctx, a)
		return err
	}))
	require.NoError(t, eventsource.Register(bus, func(ctx context.Context, c deposit) error {
		if c.Amount <= 0 {
			return errors.New("amount must be positive")
		}
		a, err := repo.Load(ctx, c.ID)
		if err != nil {
			return err
		}
		if err := a.Raise("MoneyDeposited", map[string]int64{"Amount": c.Amount}); err != nil {
			return err
		}
		_, err = repo.Save(ctx, a)
		return err
	}))
	ctx := context.Background()
	for _, c := range []eventsource.Command{openAccount{"acct-1"}, openAccount{"acct-1"}, deposit{"acct-1", 100},
		deposit{"acct-1", -5}, openAccount{"acct-2"}} {
		_, _ = bus.Dispatch(ctx, c)
	}
	return normalizedTraces(sr.Ended())
}

// normalizedTraces turns SDK spans into pdata with ids and times that depend
// only on the spans' order and nesting: trace and span ids are numbered in
// the order spans ended, and each span starts after its earlier siblings
// ended and ends after its children, 1 ms per step.
func normalizedTraces(spans []sdktrace.ReadOnlySpan) ptrace.Traces {
	traceIDs := map[oteltrace.TraceID]pcommon.TraceID{}
	spanIDs := map[oteltrace.SpanID]pcommon.SpanID{}
	children := map[oteltrace.SpanID][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for i, s := range spans {
		if _, ok := traceIDs[s.SpanContext().TraceID()]; !ok {
			traceIDs[s.SpanContext().TraceID()] = pcommon.TraceID{15: byte(len(traceIDs) + 1)}
		}
		spanIDs[s.SpanContext().SpanID()] = pcommon.SpanID{6: byte(i >> 8), 7: byte(i + 1)}
	}
	for _, s := range spans {
		if _, ok := spanIDs[s.Parent().SpanID()]; ok {
			children[s.Parent().SpanID()] = append(children[s.Parent().SpanID()], s)
		} else {
			roots = append(roots, s)
		}
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr(semconv.AttrServiceName, "bank")
	scopes := map[string]ptrace.SpanSlice{}
	tick := pcommon.Timestamp(1763776800000000000)
	var emit func(s sdktrace.ReadOnlySpan)
	emit = func(s sdktrace.ReadOnlySpan) {
		scope, ok := scopes[s.InstrumentationScope().Name]
		if !ok {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(s.InstrumentationScope().Name)
			scope = ss.Spans()
			scopes[s.InstrumentationScope().Name] = scope
		}
		out := scope.AppendEmpty()
		tick += pcommon.Timestamp(time.Millisecond)
		out.SetStartTimestamp(tick)
		for _, c := range children[s.SpanContext().SpanID()] {
			emit(c)
		}
		tick += pcommon.Timestamp(time.Millisecond)
		out.SetEndTimestamp(tick)
		out.SetName(s.Name())
		out.SetKind(ptrace.SpanKind(s.SpanKind()))
		out.SetTraceID(traceIDs[s.SpanContext().TraceID()])
		out.SetSpanID(spanIDs[s.SpanContext().SpanID()])
		out.SetParentSpanID(spanIDs[s.Parent().SpanID()])
		putAttributes(out.Attributes(), s.Attributes())
		for _, e := range s.Events() {
			oe := out.Events().AppendEmpty()
			oe.SetName(e.Name)
			oe.SetTimestamp(tick)
			putAttributes(oe.Attributes(), e.Attributes)
		}
		if s.Status().Code == codes.Error {
			out.Status().SetCode(ptrace.StatusCodeError)
			out.Status().SetMessage(s.Status().Description)
		}
	}
	for _, r := range roots {
		emit(r)
	}
	return td
}

func putAttributes(m pcommon.Map, attrs []attribute.KeyValue) {
	for _, kv := range attrs {
		k := string(kv.Key)
		switch kv.Value.Type() {
		case attribute.BOOL:
			m.PutBool(k, kv.Value.AsBool())
		case attribute.INT64:
			m.PutInt(k, kv.Value.AsInt64())
		case attribute.FLOAT64:
			m.PutDouble(k, kv.Value.AsFloat64())
		default:
			m.PutStr(k, kv.Value.Emit())
		}
	}
}

// TestRuntimeEmitsGoldenTrace: testdata/eventsource-runtime-trace.yaml, which
// TestGolden turns into metrics, is what the eventsource runtime emits. A
// failed command carries cqrs.events.count 0, its failed append is Error, and
// the expected metrics count only the three successful commands' events.
func TestRuntimeEmitsGoldenTrace(t *testing.T) {
	got := runtimeTrace(t)
	file := filepath.Join("testdata", "eventsource-runtime-trace.yaml")
	if updateGolden {
		require.NoError(t, golden.WriteTracesToFile(file, got))
	}
	want, err := golden.ReadTraces(file)
	require.NoError(t, err)
	require.NoError(t, ptracetest.CompareTraces(want, got))
}
