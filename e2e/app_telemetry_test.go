package e2e

// The app's own telemetry (issue 13, point 5): an eventsource-py 0.14.0 application sends its Kafka bus and
// subscription metrics and its logs to the same OTLP endpoint as its spans, and every shipped config must
// take them and pass them on without counting anything twice.
//
//   - TestAppTelemetryDefaultConfig: config/default.yaml, the app's metrics on the Prometheus endpoint
//     (exact families, types, help, label sets, values, buckets), its logs accepted and sent to debug.
//   - TestAppTelemetrySidecarConfig: config/sidecar.yaml, every data point and log record at an in-test
//     OTLP backend exactly once and unchanged.
//   - TestAppTelemetryEveryShippedConfig: the gateways, the load-balancing agent and split-sides, the same
//     way (the Kafka pair needs a broker; see that test).
//   - TestAppTelemetryShippedConfigsWiring: the pipelines of every shipped config, read from the YAML.
//
// Both of the first two also send seed 000's spans and a cqrs.command.total from the app (as the eventsource
// runtime's WithMeterProvider would), and check that every cqrs.* series derived from the spans is as it
// was, and that the app's copy was dropped.
//
// The instruments are a literal Go table (appInstruments) rather than YAML parsed while sending, so the
// shapes sent are readable here, next to what is expected of them. TestAppTelemetryCatalogueMatchesLibrary
// keeps the table honest: it parses testdata/eventsource-py-0.14/metrics.yaml (extracted from the library's
// source) and fails unless the table holds exactly its kafka.eventbus.* and subscription.* entries, with
// the same kind, unit, description, attribute keys and meter.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	// The collector's otlp exporter compresses with gzip by default.
	_ "google.golang.org/grpc/encoding/gzip"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// appInstrument is one OpenTelemetry instrument of eventsource-py 0.14.0, field for field as
// testdata/eventsource-py-0.14/metrics.yaml lists it, plus the Prometheus name config/default.yaml gives it
// (translation_strategy UnderscoreEscapingWithoutSuffixes: dots become underscores, no unit or _total suffix).
type appInstrument struct {
	Name        string
	Kind        string // counter | histogram | observable_gauge
	Unit        string
	Description string
	Attributes  []string
	Meter       string // meter name, " (version)" when the library passes one
	Prom        string
}

// appInstruments: every kafka.eventbus.* (adapters/kafka/metrics.py) and subscription.*
// (application/subscriptions/metrics.py) instrument of eventsource-py 0.14.0. 0.14 has no UpDownCounter
// and no synchronous Gauge; its gauges are all observable.
var appInstruments = []appInstrument{
	{"kafka.eventbus.messages.published", "counter", "messages", "Total messages published to Kafka",
		[]string{"messaging.system", "messaging.destination", "event.type"}, "eventsource.bus.kafka", "kafka_eventbus_messages_published"},
	{"kafka.eventbus.messages.consumed", "counter", "messages", "Total messages consumed from Kafka",
		[]string{"messaging.system", "messaging.destination", "messaging.kafka.partition", "event.type"}, "eventsource.bus.kafka", "kafka_eventbus_messages_consumed"},
	{"kafka.eventbus.handler.invocations", "counter", "invocations", "Total handler invocations",
		[]string{"handler.name", "event.type"}, "eventsource.bus.kafka", "kafka_eventbus_handler_invocations"},
	{"kafka.eventbus.handler.errors", "counter", "errors", "Total handler errors",
		[]string{"handler.name", "event.type", "error.type"}, "eventsource.bus.kafka", "kafka_eventbus_handler_errors"},
	{"kafka.eventbus.messages.dlq", "counter", "messages", "Total messages sent to dead letter queue",
		[]string{"dlq.reason", "error.type"}, "eventsource.bus.kafka", "kafka_eventbus_messages_dlq"},
	{"kafka.eventbus.connection.errors", "counter", "errors", "Total connection errors",
		[]string{"error.type"}, "eventsource.bus.kafka", "kafka_eventbus_connection_errors"},
	{"kafka.eventbus.reconnections", "counter", "reconnections", "Total reconnection attempts",
		[]string{}, "eventsource.bus.kafka", "kafka_eventbus_reconnections"},
	{"kafka.eventbus.rebalances", "counter", "rebalances", "Total consumer rebalances",
		[]string{"messaging.kafka.consumer_group"}, "eventsource.bus.kafka", "kafka_eventbus_rebalances"},
	{"kafka.eventbus.publish.errors", "counter", "errors", "Total publish errors",
		[]string{"messaging.system", "messaging.destination", "event.type", "error.type"}, "eventsource.bus.kafka", "kafka_eventbus_publish_errors"},
	{"kafka.eventbus.publish.duration", "histogram", "ms", "Time to publish messages to Kafka",
		[]string{"messaging.destination"}, "eventsource.bus.kafka", "kafka_eventbus_publish_duration"},
	{"kafka.eventbus.consume.duration", "histogram", "ms", "Time to process consumed messages",
		[]string{"messaging.destination"}, "eventsource.bus.kafka", "kafka_eventbus_consume_duration"},
	{"kafka.eventbus.handler.duration", "histogram", "ms", "Handler execution time",
		[]string{"handler.name", "event.type"}, "eventsource.bus.kafka", "kafka_eventbus_handler_duration"},
	{"kafka.eventbus.batch.size", "histogram", "messages", "Publish batch size",
		[]string{}, "eventsource.bus.kafka", "kafka_eventbus_batch_size"},
	{"kafka.eventbus.connections.active", "observable_gauge", "connections", "Connection status (1=connected, 0=disconnected)",
		[]string{"messaging.kafka.consumer_group"}, "eventsource.bus.kafka", "kafka_eventbus_connections_active"},
	{"kafka.eventbus.consumer.lag", "observable_gauge", "messages", "Consumer lag per partition (messages behind)",
		[]string{"messaging.kafka.partition", "messaging.kafka.consumer_group", "messaging.destination"}, "eventsource.bus.kafka", "kafka_eventbus_consumer_lag"},
	{"subscription.events.processed", "counter", "events", "Total number of events processed by subscription",
		[]string{"subscription", "event.type", "status"}, "eventsource.application.subscriptions (1.0.0)", "subscription_events_processed"},
	{"subscription.events.failed", "counter", "events", "Total number of events that failed processing",
		[]string{"subscription", "event.type", "error.type"}, "eventsource.application.subscriptions (1.0.0)", "subscription_events_failed"},
	{"subscription.processing.duration", "histogram", "ms", "Event processing duration in milliseconds",
		[]string{"subscription", "event.type", "status"}, "eventsource.application.subscriptions (1.0.0)", "subscription_processing_duration"},
	{"subscription.lag", "observable_gauge", "events", "Current event lag (events behind)",
		[]string{"subscription"}, "eventsource.application.subscriptions (1.0.0)", "subscription_lag"},
	{"subscription.state", "observable_gauge", "1", "Current subscription state (numeric)",
		[]string{"subscription", "state_name"}, "eventsource.application.subscriptions (1.0.0)", "subscription_state"},
}

// appAttrValues gives every attribute key of appInstruments a value of the kind the library records there
// (messaging.kafka.partition: an int, the consumed record's partition).
var appAttrValues = map[string]any{
	"messaging.system":               "kafka",
	"messaging.destination":          "orders.events",
	"event.type":                     "OrderCreated",
	"messaging.kafka.partition":      int64(3),
	"messaging.kafka.consumer_group": "order-projections",
	"handler.name":                   "_LiveEventHandler",
	"error.type":                     "KafkaTimeoutError",
	"dlq.reason":                     "max_retries_exceeded",
	"subscription":                   "OrderSummaryProjection",
	"status":                         "success",
	"state_name":                     "live",
}

// pythonDefaultBounds are the OpenTelemetry Python SDK's default explicit bucket boundaries; metrics.yaml
// lists no boundaries for any eventsource-py histogram.
var pythonDefaultBounds = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

// appResource is what the Python SDK puts on every export of the app (service.name from OTEL_SERVICE_NAME).
// It is the service whose spans cqrs-conventions-traces.json holds, so the app's series and the cqrs_* series share
// service_name: nothing but the metric names keeps them apart.
func appResource(r pcommon.Resource) {
	a := r.Attributes()
	a.PutStr("service.name", "order-service")
	a.PutStr("telemetry.sdk.language", "python")
	a.PutStr("telemetry.sdk.name", "opentelemetry")
	a.PutStr("telemetry.sdk.version", "1.39.1")
}

func meterOf(in appInstrument) (name, version string) {
	name, version, ok := strings.Cut(in.Meter, " (")
	if ok {
		version = strings.TrimSuffix(version, ")")
	}
	return name, version
}

// appPoint is one data point the app exports: its attributes and, by kind, its value.
type appPoint struct {
	attrs   map[string]any
	value   int64     // counter (cumulative) and observable gauge
	samples []float64 // histogram: every value recorded since the start
}

// appSeries gives an instrument's points at export round 1 and 2 (the SDK's periodic reader exports every
// live series each round, cumulatively). Instruments with event.type have a second series for another
// event type. subscription.state is observed under its state name, so its series changes from
// catching_up (2) in round 1 to live (3) in round 2, as a runner going live reports it.
func appSeries(i int, in appInstrument, round int) []appPoint {
	base := map[string]any{}
	for _, k := range in.Attributes {
		base[k] = appAttrValues[k]
	}
	sets := []map[string]any{base}
	if _, ok := base["event.type"]; ok {
		other := copyAttrs(base)
		other["event.type"] = "OrderShipped"
		sets = append(sets, other)
	}
	if in.Name == "subscription.state" {
		if round == 1 {
			return []appPoint{{attrs: withAttr(base, "state_name", "catching_up"), value: 2}}
		}
		return []appPoint{{attrs: withAttr(base, "state_name", "live"), value: 3}}
	}
	var out []appPoint
	for s, attrs := range sets {
		p := appPoint{attrs: attrs}
		switch in.Kind {
		case "counter":
			p.value = int64(10*(i+1) + s)
			if round == 2 {
				p.value += int64(5 * (i + 1))
			}
		case "histogram":
			p.samples = []float64{float64(i + 1), 7, float64(30 + s)}
			if round == 2 {
				p.samples = append(p.samples, 260, 4000)
			}
		case "observable_gauge":
			p.value = int64(20 + i + s)
			if round == 2 {
				p.value = int64(5 + i + s)
			}
		}
		out = append(out, p)
	}
	return out
}

func copyAttrs(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func withAttr(m map[string]any, k string, v any) map[string]any {
	out := copyAttrs(m)
	out[k] = v
	return out
}

func putAttrs(dst pcommon.Map, attrs map[string]any) {
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := attrs[k].(type) {
		case string:
			dst.PutStr(k, v)
		case int64:
			dst.PutInt(k, v)
		default:
			panic(fmt.Sprintf("attribute %s: %T", k, v))
		}
	}
}

// bucketCounts spreads samples over bounds as OTLP explicit buckets do: bucket i holds (bounds[i-1], bounds[i]].
func bucketCounts(bounds, samples []float64) []uint64 {
	counts := make([]uint64, len(bounds)+1)
	for _, v := range samples {
		i := sort.SearchFloat64s(bounds, v) // first bound >= v
		counts[i]++
	}
	return counts
}

// appTimes are the SDK's process start and the two export rounds' collection times.
type appTimes struct{ start, round1, round2 time.Time }

// appMetrics builds export round 1 or 2 of the app, as the Python SDK's OTLP exporter sends it: one
// ResourceMetrics, one ScopeMetrics per meter, cumulative temporality.
func appMetrics(ts appTimes, round int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	appResource(rm.Resource())
	scopes := map[string]pmetric.ScopeMetrics{}
	now := ts.round1
	if round == 2 {
		now = ts.round2
	}
	for i, in := range appInstruments {
		meter, version := meterOf(in)
		sm, ok := scopes[in.Meter]
		if !ok {
			sm = rm.ScopeMetrics().AppendEmpty()
			sm.Scope().SetName(meter)
			sm.Scope().SetVersion(version)
			scopes[in.Meter] = sm
		}
		m := sm.Metrics().AppendEmpty()
		m.SetName(in.Name)
		m.SetUnit(in.Unit)
		m.SetDescription(in.Description)
		switch in.Kind {
		case "counter":
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, p := range appSeries(i, in, round) {
				dp := sum.DataPoints().AppendEmpty()
				putAttrs(dp.Attributes(), p.attrs)
				dp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts.start))
				dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
				dp.SetIntValue(p.value)
			}
		case "histogram":
			h := m.SetEmptyHistogram()
			h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, p := range appSeries(i, in, round) {
				dp := h.DataPoints().AppendEmpty()
				putAttrs(dp.Attributes(), p.attrs)
				dp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts.start))
				dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
				dp.SetCount(uint64(len(p.samples)))
				dp.SetSum(floatSum(p.samples))
				dp.SetMin(slices.Min(p.samples))
				dp.SetMax(slices.Max(p.samples))
				dp.ExplicitBounds().FromRaw(pythonDefaultBounds)
				dp.BucketCounts().FromRaw(bucketCounts(pythonDefaultBounds, p.samples))
			}
		case "observable_gauge":
			g := m.SetEmptyGauge()
			for _, p := range appSeries(i, in, round) {
				dp := g.DataPoints().AppendEmpty()
				putAttrs(dp.Attributes(), p.attrs)
				dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
				dp.SetIntValue(p.value)
			}
		default:
			panic("kind " + in.Kind)
		}
	}
	return md
}

func floatSum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

// rogueCQRSMetrics is a cqrs.* metric arriving over OTLP: what the eventsource runtime sends with
// WithMeterProvider (scope cqrs.write), or an upstream otelcol-es. The collector derives cqrs.command.total
// from the spans itself, so it must drop this copy rather than count the same commands twice.
func rogueCQRSMetrics(ts appTimes) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "order-service")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("cqrs.write")
	m := sm.Metrics().AppendEmpty()
	m.SetName("cqrs.command.total")
	m.SetUnit("1")
	m.SetDescription("Total commands processed")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("command.type", "PlaceOrder")
	dp.Attributes().PutStr("command.status", "success")
	dp.SetStartTimestamp(pcommon.NewTimestampFromTime(ts.start))
	dp.SetTimestamp(pcommon.NewTimestampFromTime(ts.round1))
	dp.SetIntValue(2)
	return md
}

// appLogs are log records as the OpenTelemetry Python logging handler exports eventsource-py's stdlib
// logging: the logger name as the scope, the extra={...} keys as attributes, and the trace and span ids of
// the span current when the record was logged (none for the last one, logged outside any span).
func appLogs(ts appTimes) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	appResource(rl.Resource())
	type rec struct {
		scope    string
		sev      plog.SeverityNumber
		sevText  string
		body     string
		attrs    map[string]any
		trace    string
		span     string
		fileLine int64
	}
	recs := []rec{
		{"eventsource.bus.kafka", plog.SeverityNumberInfo, "INFO", "Published event OrderCreated to orders.events",
			map[string]any{"event_type": "OrderCreated", "event_id": "0f8e1c52-6c1e-4f7a-9a43-6b1d2a7e9c01"},
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", 248},
		{"eventsource.bus.kafka", plog.SeverityNumberWarn, "WARNING", "Handler _LiveEventHandler failed, scheduling retry",
			map[string]any{"handler": "_LiveEventHandler", "error": "KafkaTimeoutError", "event_id": "0f8e1c52-6c1e-4f7a-9a43-6b1d2a7e9c01"},
			"a3ce929d0e0e47364bf92f3577b34da6", "53995c3f42cd8ad8", 713},
		{"eventsource.application.subscriptions.runners.live", plog.SeverityNumberInfo, "INFO", "Processed event",
			map[string]any{"subscription": "OrderSummaryProjection", "event_type": "OrderCreated", "position": `{"s":"pg:db","k":[1042]}`},
			"a3ce929d0e0e47364bf92f3577b34da6", "1a2b3c4d5e6f7081", 647},
		{"eventsource.application.subscriptions.runners.live", plog.SeverityNumberError, "ERROR", "Subscription entered error state",
			map[string]any{"subscription": "OrderSummaryProjection", "error": "ConnectionError"},
			"", "", 678},
	}
	scopes := map[string]plog.ScopeLogs{}
	for i, r := range recs {
		sl, ok := scopes[r.scope]
		if !ok {
			sl = rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(r.scope)
			scopes[r.scope] = sl
		}
		lr := sl.LogRecords().AppendEmpty()
		at := ts.round1.Add(time.Duration(i) * time.Millisecond)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(at))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(at))
		lr.SetSeverityNumber(r.sev)
		lr.SetSeverityText(r.sevText)
		lr.Body().SetStr(r.body)
		putAttrs(lr.Attributes(), r.attrs)
		lr.Attributes().PutStr("code.filepath", "/app/.venv/lib/python3.12/site-packages/eventsource/"+strings.ReplaceAll(strings.TrimPrefix(r.scope, "eventsource."), ".", "/")+".py")
		lr.Attributes().PutInt("code.lineno", r.fileLine)
		if r.trace != "" {
			var tid pcommon.TraceID
			var sid pcommon.SpanID
			copy(tid[:], mustHex(r.trace))
			copy(sid[:], mustHex(r.span))
			lr.SetTraceID(tid)
			lr.SetSpanID(sid)
			lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
		}
	}
	return ld
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func newAppTimes() appTimes {
	now := time.Now().Truncate(time.Millisecond)
	return appTimes{start: now.Add(-2 * time.Minute), round1: now.Add(-10 * time.Second), round2: now}
}

// ---------------------------------------------------------------------------------------------------
// The catalogue check.

type catalogueInstrument struct {
	Name        string   `yaml:"name"`
	Kind        string   `yaml:"kind"`
	Unit        string   `yaml:"unit"`
	Description string   `yaml:"description"`
	Attributes  []string `yaml:"attributes"`
	Meter       string   `yaml:"meter"`
}

func TestAppTelemetryCatalogueMatchesLibrary(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(tb.RepoRoot(), "testdata", "eventsource-py-0.14", "metrics.yaml"))
	require.NoError(t, err)
	var catalogue []catalogueInstrument
	require.NoError(t, yaml.Unmarshal(raw, &catalogue))

	table := map[string]appInstrument{}
	for _, in := range appInstruments {
		table[in.Name] = in
		for _, k := range in.Attributes {
			_, ok := appAttrValues[k]
			assert.Truef(t, ok, "%s: attribute %s has no value in appAttrValues", in.Name, k)
		}
		assert.Equal(t, strings.ReplaceAll(in.Name, ".", "_"), in.Prom, "Prometheus name of %s", in.Name)
	}
	covered := 0
	for _, c := range catalogue {
		if !strings.HasPrefix(c.Name, "kafka.eventbus.") && !strings.HasPrefix(c.Name, "subscription.") {
			continue
		}
		covered++
		in, ok := table[c.Name]
		if !assert.Truef(t, ok, "metrics.yaml has %s; appInstruments does not send it", c.Name) {
			continue
		}
		if c.Attributes == nil {
			c.Attributes = []string{}
		}
		assert.Equal(t, c, catalogueInstrument{Name: in.Name, Kind: in.Kind, Unit: in.Unit, Description: in.Description,
			Attributes: in.Attributes, Meter: in.Meter}, "appInstruments entry differs from metrics.yaml")
	}
	assert.Equal(t, len(appInstruments), covered, "appInstruments has entries metrics.yaml does not list")
}

// ---------------------------------------------------------------------------------------------------
// config/default.yaml: Prometheus exposition and debug.

// TestAppTelemetryDefaultConfig: through config/default.yaml, the app's metrics appear on the CQRS
// Prometheus endpoint under their own names, with exact values and label sets; its logs are accepted and
// reach the debug exporter; a cqrs.* metric from the app is dropped; and no cqrs_* series changes.
func TestAppTelemetryDefaultConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := tb.StartCollector(t, collectorBin, nil, "--config", filepath.Join("..", "config", "default.yaml"))
	c.WaitReady(t)
	promURL, telURL := "http://"+c.Prom+"/metrics", "http://"+c.Telemetry+"/metrics"

	// The CQRS metrics of seed 000's spans first, settled: every series the seed gives at its exact value.
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json")))
	before := settledScrape(ctx, t, promURL)
	require.NotEmpty(t, cqrsSeries(before), "no cqrs_* series before the app's telemetry")
	telBefore, err := tb.Scrape(ctx, telURL)
	require.NoError(t, err)

	// The app: two export rounds of metrics over OTLP/gRPC (the rogue cqrs.command.total rides in the
	// first), logs over OTLP/HTTP protobuf.
	ts := newAppTimes()
	round1 := appMetrics(ts, 1)
	rogueCQRSMetrics(ts).ResourceMetrics().MoveAndAppendTo(round1.ResourceMetrics())
	conn := dialOTLP(t, c.GRPC)
	exportMetricsGRPC(ctx, t, conn, round1)
	exportMetricsGRPC(ctx, t, conn, appMetrics(ts, 2))
	logs := appLogs(ts)
	exportLogsHTTP(ctx, t, c.HTTP, logs)
	sentPoints := appMetrics(ts, 1).DataPointCount() + appMetrics(ts, 2).DataPointCount() + 1

	// Every app series, exactly (families, types, help, label sets, values, buckets).
	want := expectedAppExposition()
	// (Within 30 s: the series expire after metric_expiration, 1m, without a new export.)
	var after tb.Families
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, err = tb.Scrape(ctx, promURL)
		if err == nil && len(diffAppExposition(after, want)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, d := range diffAppExposition(after, want) {
				t.Error(d)
			}
			logTelemetry(ctx, t, "http://"+c.Telemetry+"/metrics")
			t.Fatalf("the app's metrics never appeared as expected on %s (last scrape error: %v)", promURL, err)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The collector's own telemetry: every metric point and log record accepted, none refused; the logs
	// reached debug; exactly the one cqrs.* point was dropped by the filter. Then let the connector flush
	// at least twice more (its re-sends move otelcol_exporter_sent_metric_points of the prometheus
	// exporter), so that app metrics fed to it by mistake would have had their chance to show.
	tel := waitTelemetry(ctx, t, telURL, func(f tb.Families) bool {
		return f.Sum("otelcol_receiver_accepted_log_records", otlpReceiver) == float64(logs.LogRecordCount()) &&
			f.Sum("otelcol_exporter_sent_log_records", map[string]string{"exporter": "debug"}) == float64(logs.LogRecordCount())
	})
	sentByProm := tel.Sum("otelcol_exporter_sent_metric_points", map[string]string{"exporter": "prometheus"})
	for range 2 {
		tel = waitTelemetry(ctx, t, telURL, func(f tb.Families) bool {
			v := f.Sum("otelcol_exporter_sent_metric_points", map[string]string{"exporter": "prometheus"})
			if v > sentByProm {
				sentByProm = v
				return true
			}
			return false
		})
	}
	after, err = tb.Scrape(ctx, promURL)
	require.NoError(t, err)

	assert.Equal(t, float64(sentPoints), tel.Sum("otelcol_receiver_accepted_metric_points", otlpReceiver)-
		telBefore.Sum("otelcol_receiver_accepted_metric_points", otlpReceiver), "metric points accepted by the otlp receiver")
	assert.Zero(t, tel.Sum("otelcol_receiver_refused_metric_points", otlpReceiver), "metric points refused")
	assert.Equal(t, float64(logs.LogRecordCount()), tel.Sum("otelcol_receiver_accepted_log_records", otlpReceiver), "log records accepted")
	assert.Zero(t, tel.Sum("otelcol_receiver_refused_log_records", otlpReceiver), "log records refused")
	assert.Zero(t, tel.Sum("otelcol_exporter_send_failed_log_records", nil), "log records the debug exporter failed to send")
	assert.Equal(t, 1.0, tel.Sum("otelcol_processor_cqrsmetricsdrop_datapoints_dropped", nil),
		"cqrs.* points dropped by cqrsmetricsdrop")

	// Still exact after more connector flushes; every cqrs_* series as it was; the only new families are
	// the app's.
	for _, d := range diffAppExposition(after, want) {
		t.Error(d)
	}
	assert.Equal(t, cqrsSeries(before), cqrsSeries(after), "cqrs_* series changed when the app's telemetry arrived")
	var added []string
	for name := range after {
		if _, ok := before[name]; !ok && name != "target_info" {
			added = append(added, name)
		}
	}
	var wantAdded []string
	for _, in := range appInstruments {
		wantAdded = append(wantAdded, in.Prom)
	}
	assert.ElementsMatch(t, wantAdded, added, "metric families the app's telemetry added")
	for name := range before {
		assert.Containsf(t, after, name, "family %s disappeared", name)
	}
}

var otlpReceiver = map[string]string{"receiver": "otlp"}

// expectedSeries is one Prometheus series: its exact label set and value (histograms: count, sum and the
// cumulative count at each le).
type expectedSeries struct {
	labels  map[string]string
	value   float64
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

type expectedFamily struct {
	typ    dto.MetricType
	help   string
	series []expectedSeries
}

// expectedAppExposition is what config/default.yaml's Prometheus endpoint must show for the app's metrics
// after round 2: attributes as labels (dots -> underscores), plus service_name (resource_constant_labels),
// job (from service.name) and the scope as otel_scope_name / otel_scope_version / otel_scope_schema_url
// (written even when empty, as for the cqrs_* series; Prometheus treats an empty label as absent).
// subscription.state shows both the catching_up series of round 1 and the live one of round 2: a series
// the app stops reporting stays until metric_expiration (1m).
func expectedAppExposition() map[string]expectedFamily {
	out := map[string]expectedFamily{}
	for i, in := range appInstruments {
		f := expectedFamily{help: in.Description}
		switch in.Kind {
		case "counter":
			f.typ = dto.MetricType_COUNTER
		case "histogram":
			f.typ = dto.MetricType_HISTOGRAM
		default:
			f.typ = dto.MetricType_GAUGE
		}
		points := appSeries(i, in, 2)
		if in.Name == "subscription.state" {
			points = append(appSeries(i, in, 1), points...)
		}
		for _, p := range points {
			f.series = append(f.series, expectedPromSeries(in, p))
		}
		out[in.Prom] = f
	}
	return out
}

// expectedPromSeries is one app point as config/default.yaml's Prometheus exporter shows it.
func expectedPromSeries(in appInstrument, p appPoint) expectedSeries {
	meter, version := meterOf(in)
	labels := map[string]string{"service_name": "order-service", "job": "order-service",
		"otel_scope_name": meter, "otel_scope_version": version, "otel_scope_schema_url": ""}
	for k, v := range p.attrs {
		labels[strings.ReplaceAll(k, ".", "_")] = fmt.Sprint(v)
	}
	s := expectedSeries{labels: labels, value: float64(p.value)}
	if in.Kind == "histogram" {
		s.count = uint64(len(p.samples))
		s.sum = floatSum(p.samples)
		s.buckets = map[float64]uint64{}
		var cum uint64
		for b, n := range bucketCounts(pythonDefaultBounds, p.samples)[:len(pythonDefaultBounds)] {
			cum += n
			s.buckets[pythonDefaultBounds[b]] = cum
		}
		s.buckets[math.Inf(1)] = s.count
	}
	return s
}

// diffAppExposition lists every way a scrape differs from the expected app families.
func diffAppExposition(f tb.Families, want map[string]expectedFamily) []string {
	var diffs []string
	for name, wf := range want {
		mf, ok := f[name]
		if !ok {
			diffs = append(diffs, "no family "+name)
			continue
		}
		if mf.GetType() != wf.typ {
			diffs = append(diffs, fmt.Sprintf("%s: type %v, want %v", name, mf.GetType(), wf.typ))
		}
		if mf.GetHelp() != wf.help {
			diffs = append(diffs, fmt.Sprintf("%s: help %q, want %q", name, mf.GetHelp(), wf.help))
		}
		if len(mf.GetMetric()) != len(wf.series) {
			diffs = append(diffs, fmt.Sprintf("%s: %d series, want %d: %v", name, len(mf.GetMetric()), len(wf.series), seriesLabels(mf)))
		}
		for _, ws := range wf.series {
			m := exactSeries(mf, ws.labels)
			if m == nil {
				diffs = append(diffs, fmt.Sprintf("%s: no series with exactly %v; have %v", name, ws.labels, seriesLabels(mf)))
				continue
			}
			switch wf.typ {
			case dto.MetricType_COUNTER:
				if got := m.GetCounter().GetValue(); got != ws.value {
					diffs = append(diffs, fmt.Sprintf("%s%v = %v, want %v", name, ws.labels, got, ws.value))
				}
			case dto.MetricType_GAUGE:
				if got := m.GetGauge().GetValue(); got != ws.value {
					diffs = append(diffs, fmt.Sprintf("%s%v = %v, want %v", name, ws.labels, got, ws.value))
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				if h.GetSampleCount() != ws.count || h.GetSampleSum() != ws.sum {
					diffs = append(diffs, fmt.Sprintf("%s%v: count %d sum %v, want %d and %v", name, ws.labels, h.GetSampleCount(), h.GetSampleSum(), ws.count, ws.sum))
				}
				got := map[float64]uint64{}
				for _, b := range h.GetBucket() {
					got[b.GetUpperBound()] = b.GetCumulativeCount()
				}
				if !assert.ObjectsAreEqual(ws.buckets, got) {
					diffs = append(diffs, fmt.Sprintf("%s%v: buckets %v, want %v", name, ws.labels, got, ws.buckets))
				}
			}
		}
	}
	return diffs
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

func exactSeries(mf *dto.MetricFamily, want map[string]string) *dto.Metric {
	for _, m := range mf.GetMetric() {
		if assert.ObjectsAreEqual(want, labelsOf(m)) {
			return m
		}
	}
	return nil
}

func seriesLabels(mf *dto.MetricFamily) []map[string]string {
	var out []map[string]string
	for _, m := range mf.GetMetric() {
		out = append(out, labelsOf(m))
	}
	return out
}

// cqrsSeries renders every cqrs_* series of a scrape (labels, value; histograms with every bucket).
func cqrsSeries(f tb.Families) map[string]string {
	out := map[string]string{}
	for name, mf := range f {
		if !strings.HasPrefix(name, "cqrs_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := labelsOf(m)
			keys := make([]string, 0, len(l))
			for k := range l {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var id strings.Builder
			id.WriteString(name + "{")
			for _, k := range keys {
				fmt.Fprintf(&id, "%s=%q,", k, l[k])
			}
			id.WriteString("}")
			var v string
			switch {
			case m.Counter != nil:
				v = fmt.Sprint(m.GetCounter().GetValue())
			case m.Gauge != nil:
				v = fmt.Sprint(m.GetGauge().GetValue())
			case m.Histogram != nil:
				h := m.GetHistogram()
				v = fmt.Sprintf("count=%d sum=%v", h.GetSampleCount(), h.GetSampleSum())
				for _, b := range h.GetBucket() {
					v += fmt.Sprintf(" le%v=%d", b.GetUpperBound(), b.GetCumulativeCount())
				}
			default:
				v = m.String()
			}
			out[id.String()] = v
		}
	}
	return out
}

// settledScrape scrapes until every CQRS series seed 000 (sent once) gives has its exact value: every
// span is in the metrics, and nothing more can come. A series past its value fails at once.
func settledScrape(ctx context.Context, t *testing.T, url string) tb.Families {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		f, err := tb.Scrape(ctx, url)
		var behind []string
		if err != nil {
			behind = []string{err.Error()}
		}
		for _, c := range seedCounts(1) {
			got, _ := f.Value(c.metric, c.labels)
			require.LessOrEqualf(t, got, c.want, "%s%v: more than seed 000 gives", c.metric, c.labels)
			if got != c.want {
				behind = append(behind, fmt.Sprintf("%s%v = %v, want %v", c.metric, c.labels, got, c.want))
			}
		}
		if len(behind) == 0 {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CQRS metrics never reached seed 000's values in 60 s: %v", behind)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// logTelemetry logs the collector's own counters of metric points and log records, for a failing test.
func logTelemetry(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	f, err := tb.Scrape(ctx, url)
	if err != nil {
		t.Logf("telemetry: %v", err)
		return
	}
	for name, mf := range f {
		if strings.Contains(name, "metric_points") || strings.Contains(name, "log_records") || strings.Contains(name, "filter") {
			for _, m := range mf.GetMetric() {
				t.Logf("telemetry: %s%v %v", name, labelsOf(m), m.GetCounter().GetValue())
			}
		}
	}
}

func waitTelemetry(ctx context.Context, t *testing.T, url string, ok func(tb.Families) bool) tb.Families {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		f, err := tb.Scrape(ctx, url)
		if err == nil && ok(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector telemetry at %s never reached the expected state (last error %v)", url, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------------------
// config/sidecar.yaml: an in-test OTLP backend.

// TestAppTelemetrySidecarConfig: through config/sidecar.yaml, every data point and log record the app
// sends reaches the backend exactly once and unchanged (resource, scope, name, unit, description, kind,
// temporality, attributes, timestamps, values, buckets; trace and span ids), next to the CQRS metrics
// derived from the spans, which the app's telemetry leaves as they were; a cqrs.* metric from the app is
// dropped.
func TestAppTelemetrySidecarConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	backend := startOTLPBackend(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(backend.summary())
		}
	})
	c := tb.StartCollector(t, collectorBin, []string{"OTELCOL_ES_BACKEND=" + backend.addr},
		"--config", filepath.Join("..", "config", "sidecar.yaml"))
	c.WaitReady(t)

	placeOrders := func() (int64, bool) {
		return backend.latestInt("cqrs.command.total", map[string]string{"command.type": "PlaceOrder", "command.status": "success"})
	}
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json")))
	waitFor(t, "cqrs.command.total{PlaceOrder,success} = 2 at the backend", func() bool { v, ok := placeOrders(); return ok && v == 2 })
	derivedBefore := backend.settledCQRS(t)

	// The app: metrics over OTLP/HTTP protobuf (the rogue cqrs.command.total rides in round 1), logs over
	// OTLP/gRPC.
	ts := newAppTimes()
	round1 := appMetrics(ts, 1)
	rogueCQRSMetrics(ts).ResourceMetrics().MoveAndAppendTo(round1.ResourceMetrics())
	exportMetricsHTTP(ctx, t, c.HTTP, round1)
	round2 := appMetrics(ts, 2)
	exportMetricsHTTP(ctx, t, c.HTTP, round2)
	logs := appLogs(ts)
	exportLogsGRPC(ctx, t, dialOTLP(t, c.GRPC), logs)

	var wantPoints []string
	wantPoints = append(wantPoints, describePoints(appMetrics(ts, 1), nil)...)
	wantPoints = append(wantPoints, describePoints(round2, nil)...)
	wantLogs := describeLogs(logs)
	waitFor(t, "every app data point and log record at the backend", func() bool {
		return len(backend.appPoints()) >= len(wantPoints) && len(backend.logRecords()) >= len(wantLogs)
	})
	// Two more CQRS exports reach the backend after that (the connector flushes every 5 s): app
	// metrics fed to it by mistake, or duplicates, would have shown by then.
	n := backend.cqrsExports()
	waitFor(t, "two more CQRS metric exports", func() bool { return backend.cqrsExports() >= n+2 })

	assert.ElementsMatch(t, wantPoints, backend.appPoints(), "app data points at the backend (each exactly once, unchanged)")
	assert.ElementsMatch(t, wantLogs, backend.logRecords(), "log records at the backend (each exactly once, unchanged)")
	assert.Empty(t, backend.foreignCQRS(), "cqrs.* metrics at the backend not from spanmetrics_es (the app's copy must be dropped)")
	v, _ := placeOrders()
	assert.EqualValues(t, 2, v, "cqrs.command.total{PlaceOrder,success} after the app's telemetry")
	assert.Equal(t, derivedBefore, backend.derivedCQRS(), "CQRS series derived from the spans changed when the app's telemetry arrived")

	tel, err := tb.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
	require.NoError(t, err)
	assert.EqualValues(t, len(wantPoints)+1, tel.Sum("otelcol_receiver_accepted_metric_points", otlpReceiver), "metric points accepted")
	assert.Zero(t, tel.Sum("otelcol_receiver_refused_metric_points", otlpReceiver), "metric points refused")
	assert.EqualValues(t, len(wantLogs), tel.Sum("otelcol_receiver_accepted_log_records", otlpReceiver), "log records accepted")
	assert.Zero(t, tel.Sum("otelcol_receiver_refused_log_records", otlpReceiver), "log records refused")
	assert.Equal(t, 1.0, tel.Sum("otelcol_processor_cqrsmetricsdrop_datapoints_dropped", nil),
		"cqrs.* points dropped by cqrsmetricsdrop")
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s within 60 s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// summary lists what the backend received, for a failing test.
func (b *otlpBackend) summary() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out strings.Builder
	fmt.Fprintf(&out, "backend: %d spans, %d metric exports, %d log exports\n", b.spans, len(b.metrics), len(b.logs))
	for _, md := range b.metrics {
		for _, p := range describePoints(md, nil) {
			out.WriteString("  " + p + "\n")
		}
	}
	return out.String()
}

// spanmetricsScope is the instrumentation scope of the metrics spanmetrics_es derives.
const spanmetricsScope = "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"

// otlpBackend is an in-process OTLP/gRPC backend for traces, metrics and logs that keeps what it receives.
type otlpBackend struct {
	addr string

	mu      sync.Mutex
	metrics []pmetric.Metrics
	logs    []plog.Logs
	spans   int
}

type backendTraces struct {
	ptraceotlp.UnimplementedGRPCServer
	b *otlpBackend
}
type backendMetrics struct {
	pmetricotlp.UnimplementedGRPCServer
	b *otlpBackend
}
type backendLogs struct {
	plogotlp.UnimplementedGRPCServer
	b *otlpBackend
}

func (s *backendTraces) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.spans += req.Traces().SpanCount()
	return ptraceotlp.NewExportResponse(), nil
}

func (s *backendMetrics) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	md := pmetric.NewMetrics()
	req.Metrics().CopyTo(md)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.metrics = append(s.b.metrics, md)
	return pmetricotlp.NewExportResponse(), nil
}

func (s *backendLogs) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	ld := plog.NewLogs()
	req.Logs().CopyTo(ld)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.logs = append(s.b.logs, ld)
	return plogotlp.NewExportResponse(), nil
}

func startOTLPBackend(t *testing.T) *otlpBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &otlpBackend{addr: l.Addr().String()}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &backendTraces{b: b})
	pmetricotlp.RegisterGRPCServer(srv, &backendMetrics{b: b})
	plogotlp.RegisterGRPCServer(srv, &backendLogs{b: b})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return b
}

func isCQRS(scope, name string) bool {
	return scope == spanmetricsScope || strings.HasPrefix(name, "cqrs.")
}

// appPoints describes every data point received that is not a cqrs.* metric.
func (b *otlpBackend) appPoints() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, md := range b.metrics {
		out = append(out, describePoints(md, func(scope, name string) bool { return !isCQRS(scope, name) })...)
	}
	return out
}

// foreignCQRS describes the cqrs.* data points received from any scope but spanmetrics_es's.
func (b *otlpBackend) foreignCQRS() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, md := range b.metrics {
		out = append(out, describePoints(md, func(scope, name string) bool {
			return isCQRS(scope, name) && scope != spanmetricsScope
		})...)
	}
	return out
}

// cqrsExports counts the exports that carried spanmetrics_es metrics.
func (b *otlpBackend) cqrsExports() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, md := range b.metrics {
		if len(describePoints(md, func(scope, _ string) bool { return scope == spanmetricsScope })) > 0 {
			n++
		}
	}
	return n
}

// derivedCQRS is the latest value of every series spanmetrics_es exported, timestamps left out (the
// connector re-sends each cumulative series every flush).
func (b *otlpBackend) derivedCQRS() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]string{}
	for _, md := range b.metrics {
		eachPoint(md, func(scope string, m pmetric.Metric, id, value string, _ pcommon.Timestamp) {
			if scope == spanmetricsScope {
				out[m.Name()+id] = value
			}
		})
	}
	return out
}

// settledCQRS waits until a CQRS export leaves derivedCQRS as it was, and returns it.
func (b *otlpBackend) settledCQRS(t *testing.T) map[string]string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		snap, n := b.derivedCQRS(), b.cqrsExports()
		waitFor(t, "one more CQRS metric export", func() bool { return b.cqrsExports() > n })
		if assert.ObjectsAreEqual(snap, b.derivedCQRS()) {
			return snap
		}
		if time.Now().After(deadline) {
			t.Fatalf("the CQRS series at the backend still change after 60 s")
		}
	}
}

// latestInt is the value of the latest point of an int sum or gauge whose attributes include want.
func (b *otlpBackend) latestInt(name string, want map[string]string) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var v int64
	var at pcommon.Timestamp
	found := false
	for _, md := range b.metrics {
		rms := md.ResourceMetrics()
		for i := 0; i < rms.Len(); i++ {
			sms := rms.At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				if sms.At(j).Scope().Name() != spanmetricsScope {
					continue
				}
				ms := sms.At(j).Metrics()
				for k := 0; k < ms.Len(); k++ {
					m := ms.At(k)
					if m.Name() != name || m.Type() != pmetric.MetricTypeSum {
						continue
					}
					dps := m.Sum().DataPoints()
					for d := 0; d < dps.Len(); d++ {
						dp := dps.At(d)
						match := true
						for wk, wv := range want {
							got, ok := dp.Attributes().Get(wk)
							match = match && ok && got.AsString() == wv
						}
						if match && dp.Timestamp() >= at {
							v, at, found = dp.IntValue(), dp.Timestamp(), true
						}
					}
				}
			}
		}
	}
	return v, found
}

func (b *otlpBackend) logRecords() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, ld := range b.logs {
		out = append(out, describeLogs(ld)...)
	}
	return out
}

// eachPoint calls f for every data point: the identity of its series (resource, scope, attributes) and a
// rendering of everything else about it.
func eachPoint(md pmetric.Metrics, f func(scope string, m pmetric.Metric, id, value string, ts pcommon.Timestamp)) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := renderMap(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			scope := sm.Scope().Name()
			scopeID := fmt.Sprintf("resource%s scope=%s@%s", res, scope, sm.Scope().Version())
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				meta := fmt.Sprintf("unit=%q desc=%q type=%s", m.Unit(), m.Description(), m.Type())
				switch m.Type() {
				case pmetric.MetricTypeSum:
					s := m.Sum()
					meta += fmt.Sprintf(" monotonic=%v temporality=%s", s.IsMonotonic(), s.AggregationTemporality())
					for d := 0; d < s.DataPoints().Len(); d++ {
						dp := s.DataPoints().At(d)
						f(scope, m, fmt.Sprintf("%s %s", scopeID, renderMap(dp.Attributes())),
							fmt.Sprintf("%s start=%d %s", meta, dp.StartTimestamp(), numberValue(dp)), dp.Timestamp())
					}
				case pmetric.MetricTypeGauge:
					g := m.Gauge()
					for d := 0; d < g.DataPoints().Len(); d++ {
						dp := g.DataPoints().At(d)
						f(scope, m, fmt.Sprintf("%s %s", scopeID, renderMap(dp.Attributes())),
							fmt.Sprintf("%s start=%d %s", meta, dp.StartTimestamp(), numberValue(dp)), dp.Timestamp())
					}
				case pmetric.MetricTypeHistogram:
					h := m.Histogram()
					meta += " temporality=" + h.AggregationTemporality().String()
					for d := 0; d < h.DataPoints().Len(); d++ {
						dp := h.DataPoints().At(d)
						f(scope, m, fmt.Sprintf("%s %s", scopeID, renderMap(dp.Attributes())),
							fmt.Sprintf("%s start=%d count=%d sum=%v min=%v max=%v bounds=%v buckets=%v", meta, dp.StartTimestamp(),
								dp.Count(), dp.Sum(), dp.Min(), dp.Max(), dp.ExplicitBounds().AsRaw(), dp.BucketCounts().AsRaw()), dp.Timestamp())
					}
				default:
					f(scope, m, scopeID, meta+" (unexpected type)", 0)
				}
			}
		}
	}
}

// describePoints renders every data point (of the metrics keep accepts, all when nil) as one string.
func describePoints(md pmetric.Metrics, keep func(scope, name string) bool) []string {
	var out []string
	eachPoint(md, func(scope string, m pmetric.Metric, id, value string, ts pcommon.Timestamp) {
		if keep == nil || keep(scope, m.Name()) {
			out = append(out, fmt.Sprintf("%s %s %s t=%d", m.Name(), id, value, ts))
		}
	})
	return out
}

func numberValue(dp pmetric.NumberDataPoint) string {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return fmt.Sprintf("int=%d", dp.IntValue())
	}
	if math.IsNaN(dp.DoubleValue()) {
		return "double=NaN"
	}
	return fmt.Sprintf("double=%v", dp.DoubleValue())
}

func renderMap(m pcommon.Map) string {
	raw := m.AsRaw()
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%#v,", k, raw[k])
	}
	b.WriteString("}")
	return b.String()
}

func describeLogs(ld plog.Logs) []string {
	var out []string
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				out = append(out, fmt.Sprintf("resource%s scope=%s@%s t=%d observed=%d severity=%d/%s body=%q attrs%s trace=%s span=%s flags=%d",
					renderMap(rl.Resource().Attributes()), sl.Scope().Name(), sl.Scope().Version(), lr.Timestamp(), lr.ObservedTimestamp(),
					lr.SeverityNumber(), lr.SeverityText(), lr.Body().AsString(), renderMap(lr.Attributes()),
					lr.TraceID(), lr.SpanID(), lr.Flags()))
			}
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------------------
// Every other shipped config.

// TestAppTelemetryEveryShippedConfig sends one export round of the app's metrics (with the rogue
// cqrs.command.total) and its logs over OTLP/gRPC to every shipped config with an OTLP receiver that the
// two tests above do not cover, and finds them where the config's header says they go: at the OTLP
// backend (gateways; the load-balancing agent, whose gateway list points at the in-test backend), or on
// split-sides' app endpoint. Configs that derive cqrs.* drop the rogue point; the agent forwards it to
// the gateways, which drop it. The Kafka pair (agent-kafka.yaml, gateway-kafka.yaml) needs a broker: its
// wiring is checked by TestAppTelemetryShippedConfigsWiring, and reliability/ runs the pair on one.
func TestAppTelemetryEveryShippedConfig(t *testing.T) {
	pki := tb.NewPKI(t)
	for _, tc := range []struct {
		file       string
		gateway    bool // OTLP in on OTELCOL_ES_GATEWAY_GRPC
		tls        bool // gateway.yaml: TLS and bearer token
		toBackend  bool
		keepsRogue bool
	}{
		{file: "gateway.yaml", gateway: true, tls: true, toBackend: true},
		{file: "gateway-durable.yaml", gateway: true, toBackend: true},
		{file: "gateway-lb-backend.yaml", gateway: true, toBackend: true},
		{file: "agent-lb.yaml", toBackend: true, keepsRogue: true},
		{file: "split-sides.yaml"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			backend := startOTLPBackend(t)
			t.Cleanup(func() {
				if t.Failed() {
					t.Log(backend.summary())
				}
			})
			env := append(pki.Env(t), "OTELCOL_ES_STORAGE_DIR="+t.TempDir(),
				"OTELCOL_ES_BACKEND="+backend.addr, "OTELCOL_ES_LB_GATEWAYS="+backend.addr)
			c := tb.StartCollector(t, collectorBin, env, "--config", filepath.Join("..", "config", tc.file))
			c.WaitReady(t)

			addr, conn := c.GRPC, (*grpc.ClientConn)(nil)
			if tc.gateway {
				addr = c.Addr(t, "OTELCOL_ES_GATEWAY_GRPC")
			}
			if tc.tls {
				pool := x509.NewCertPool()
				pool.AddCert(pki.CA)
				var err error
				conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
				require.NoError(t, err)
				t.Cleanup(func() { _ = conn.Close() })
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+pki.Token)
			} else {
				conn = dialOTLP(t, addr)
			}
			ts := newAppTimes()
			md := appMetrics(ts, 1)
			rogueCQRSMetrics(ts).ResourceMetrics().MoveAndAppendTo(md.ResourceMetrics())
			exportMetricsGRPC(ctx, t, conn, md)
			logs := appLogs(ts)
			exportLogsGRPC(ctx, t, conn, logs)

			if tc.toBackend {
				wantPoints := describePoints(appMetrics(ts, 1), nil)
				wantLogs := describeLogs(logs)
				rogue := describePoints(rogueCQRSMetrics(ts), nil)
				waitFor(t, "every app data point and log record at the backend", func() bool {
					return len(backend.appPoints()) >= len(wantPoints) && len(backend.logRecords()) >= len(wantLogs) &&
						(!tc.keepsRogue || len(backend.foreignCQRS()) >= len(rogue))
				})
				assert.ElementsMatch(t, wantPoints, backend.appPoints(), "app data points at the backend (each exactly once, unchanged)")
				assert.ElementsMatch(t, wantLogs, backend.logRecords(), "log records at the backend (each exactly once, unchanged)")
				if tc.keepsRogue {
					assert.ElementsMatch(t, rogue, backend.foreignCQRS(), "the agent forwards cqrs.* as it came (its gateways drop it)")
				} else {
					assert.Empty(t, backend.foreignCQRS(), "cqrs.* metrics from the app at the backend")
				}
			} else {
				// split-sides: the app's own endpoint, exactly as round 1 (before round 2, subscription.state
				// has only its catching_up series).
				want := expectedAppExposition()
				for i, in := range appInstruments {
					f := want[in.Prom]
					f.series = nil
					for _, p := range appSeries(i, in, 1) {
						f.series = append(f.series, expectedPromSeries(in, p))
					}
					want[in.Prom] = f
				}
				url := "http://" + c.PromApp + "/metrics"
				var f tb.Families
				var err error
				waitFor(t, "the app's metrics on split-sides' app endpoint", func() bool {
					f, err = tb.Scrape(ctx, url)
					return err == nil && len(diffAppExposition(f, want)) == 0
				})
				for name := range f {
					assert.Falsef(t, strings.HasPrefix(name, "cqrs_"), "%s on the app endpoint", name)
				}
				for _, side := range []string{c.PromWrite, c.PromRead, c.PromProjection} {
					sf, err := tb.Scrape(ctx, "http://"+side+"/metrics")
					require.NoError(t, err)
					assert.Emptyf(t, sf, "no spans were sent, yet %s exposes %d families", side, len(sf))
				}
			}
			tel := waitTelemetry(ctx, t, "http://"+c.Telemetry+"/metrics", func(f tb.Families) bool {
				return f.Sum("otelcol_receiver_accepted_log_records", otlpReceiver) == float64(logs.LogRecordCount())
			})
			assert.EqualValues(t, md.DataPointCount(), tel.Sum("otelcol_receiver_accepted_metric_points", otlpReceiver), "metric points accepted")
			assert.Zero(t, tel.Sum("otelcol_receiver_refused_metric_points", otlpReceiver), "metric points refused")
			assert.Zero(t, tel.Sum("otelcol_receiver_refused_log_records", otlpReceiver), "log records refused")
			if !tc.keepsRogue {
				assert.Equal(t, 1.0, tel.Sum("otelcol_processor_cqrsmetricsdrop_datapoints_dropped", nil),
					"cqrs.* points dropped by cqrsmetricsdrop")
			}
		})
	}
}

// TestAppTelemetryShippedConfigsWiring reads every shipped config: each takes metrics and logs from the
// receiver type its traces come from (otlp, or kafka on the Kafka gateway), starting with memory_limiter
// and batching as its traces pipeline does; no pipeline fed by a receiver passes metrics or logs to a
// connector (so nothing the app sends reaches spanmetrics_es); no pipeline fed by spanmetrics_es takes
// anything from a receiver; and where spanmetrics_es derives cqrs.*, incoming cqrs.* are dropped.
func TestAppTelemetryShippedConfigsWiring(t *testing.T) {
	type pipeline struct {
		Receivers  []string `yaml:"receivers"`
		Processors []string `yaml:"processors"`
		Exporters  []string `yaml:"exporters"`
	}
	type config struct {
		Receivers  map[string]any `yaml:"receivers"`
		Connectors map[string]any `yaml:"connectors"`
		Service    struct {
			Pipelines map[string]pipeline `yaml:"pipelines"`
		} `yaml:"service"`
	}
	typeOf := func(id string) string { typ, _, _ := strings.Cut(id, "/"); return typ }
	for _, file := range shippedConfigs(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			require.NoError(t, err)
			var cfg config
			require.NoError(t, yaml.Unmarshal(raw, &cfg))
			traces, ok := cfg.Service.Pipelines["traces"]
			require.True(t, ok, "no traces pipeline")
			traceIn := map[string]bool{}
			for _, r := range traces.Receivers {
				traceIn[typeOf(r)] = true
			}
			_, derives := cfg.Connectors["spanmetrics_es"]
			fed := map[string]int{}
			for id, p := range cfg.Service.Pipelines {
				signal := typeOf(id)
				var fromReceiver, fromConnector bool
				for _, r := range p.Receivers {
					if _, ok := cfg.Receivers[r]; ok {
						fromReceiver = true
						assert.Truef(t, traceIn[typeOf(r)], "%s takes %s, traces come from %v", id, r, traces.Receivers)
					} else if _, ok := cfg.Connectors[r]; ok {
						fromConnector = true
					}
				}
				assert.Falsef(t, fromReceiver && fromConnector, "%s mixes receivers and connectors: %v", id, p.Receivers)
				if !fromReceiver || signal == "traces" {
					continue
				}
				fed[signal]++
				for _, e := range p.Exporters {
					_, isConnector := cfg.Connectors[e]
					assert.Falsef(t, isConnector, "%s (fed by %v) exports to connector %s", id, p.Receivers, e)
				}
				if assert.NotEmptyf(t, p.Processors, "%s has no processors", id) {
					assert.Equalf(t, "memory_limiter", p.Processors[0], "%s: memory_limiter first", id)
				}
				assert.Equalf(t, slices.Contains(traces.Processors, "batch"), slices.Contains(p.Processors, "batch"),
					"%s batches (or not) as traces does", id)
				if signal == "metrics" {
					assert.Equalf(t, derives, slices.Contains(p.Processors, "cqrsmetricsdrop"),
						"%s drops incoming cqrs.* if and only if the config derives them", id)
				}
			}
			assert.Equal(t, 1, fed["metrics"], "metrics pipelines fed by a receiver")
			assert.Equal(t, 1, fed["logs"], "logs pipelines fed by a receiver")
		})
	}
}

// ---------------------------------------------------------------------------------------------------
// OTLP clients.

func dialOTLP(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func exportMetricsGRPC(ctx context.Context, t *testing.T, conn *grpc.ClientConn, md pmetric.Metrics) {
	t.Helper()
	resp, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	require.NoError(t, err, "metrics export refused")
	assert.Zero(t, resp.PartialSuccess().RejectedDataPoints(), "metric points rejected: %s", resp.PartialSuccess().ErrorMessage())
}

func exportLogsGRPC(ctx context.Context, t *testing.T, conn *grpc.ClientConn, ld plog.Logs) {
	t.Helper()
	resp, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	require.NoError(t, err, "logs export refused")
	assert.Zero(t, resp.PartialSuccess().RejectedLogRecords(), "log records rejected: %s", resp.PartialSuccess().ErrorMessage())
}

func exportMetricsHTTP(ctx context.Context, t *testing.T, addr string, md pmetric.Metrics) {
	t.Helper()
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	postProto(ctx, t, "http://"+addr+"/v1/metrics", body)
}

func exportLogsHTTP(ctx context.Context, t *testing.T, addr string, ld plog.Logs) {
	t.Helper()
	body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	postProto(ctx, t, "http://"+addr+"/v1/logs", body)
}

func postProto(ctx context.Context, t *testing.T, url string, body []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	require.Equalf(t, http.StatusOK, resp.StatusCode, "POST %s: %s", url, msg)
}
