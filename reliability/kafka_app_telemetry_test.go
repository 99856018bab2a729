package reliability

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// appBackend is an OTLP/gRPC backend for metrics and logs that counts each data point and log record by
// the id the test gave it.
type appBackend struct {
	pmetricotlp.UnimplementedGRPCServer
	addr    string
	mu      sync.Mutex
	points  map[string]int // "<metric>/<seq>" -> times received
	records map[string]int // log body -> times received
}

func startAppBackend(t *testing.T) *appBackend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &appBackend{addr: l.Addr().String(), points: map[string]int{}, records: map[string]int{}}
	srv := grpc.NewServer()
	pmetricotlp.RegisterGRPCServer(srv, b)
	plogotlp.RegisterGRPCServer(srv, &logsServer{b: b})
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return b
}

func (b *appBackend) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, rm := range req.Metrics().ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeSum {
					continue
				}
				for _, dp := range m.Sum().DataPoints().All() {
					seq, _ := dp.Attributes().Get("seq")
					b.points[fmt.Sprintf("%s/%d=%d", m.Name(), seq.Int(), dp.IntValue())]++
				}
			}
		}
	}
	return pmetricotlp.NewExportResponse(), nil
}

// logsServer adapts the logs service, whose Export has another signature.
type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	b *appBackend
}

func (s *logsServer) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	for _, rl := range req.Logs().ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, r := range sl.LogRecords().All() {
				s.b.records[r.Body().AsString()]++
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

func (b *appBackend) counts() (points, records map[string]int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	points, records = map[string]int{}, map[string]int{}
	for k, v := range b.points {
		points[k] = v
	}
	for k, v := range b.records {
		records[k] = v
	}
	return points, records
}

// The Kafka configs carry the app's own metrics and logs too: an app's export rounds go to the agent
// (config/agent-kafka.yaml), which writes them to their own topics on an in-process broker (kfake); two
// gateways (config/gateway-kafka.yaml) consume them in their own consumer groups and forward them to the
// backend, which receives every data point and every log record exactly once, values unchanged.
func TestKafkaCarriesAppMetricsAndLogs(t *testing.T) {
	const rounds, pointsPerRound, recordsPerRound = 20, 50, 30
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(kafkaPartitions, kafkaTopic, "otlp_metrics", "otlp_logs"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	brokers := strings.Join(cluster.ListenAddrs(), ",")
	const group = "otelcol-es-app"
	kenv := []string{"OTELCOL_ES_KAFKA_BROKERS=" + brokers, "OTELCOL_ES_KAFKA_TOPIC=" + kafkaTopic, "OTELCOL_ES_KAFKA_GROUP=" + group}

	backend := startAppBackend(t)
	var gws []*testbed.Collector
	for range 2 {
		gws = append(gws, testbed.StartCollector(t, collectorBin, append([]string{"OTELCOL_ES_BACKEND=" + backend.addr}, kenv...),
			"--config", configPath("gateway-kafka.yaml")))
	}
	agent := testbed.StartCollector(t, collectorBin, kenv, "--config", configPath("agent-kafka.yaml"))
	for _, c := range append(gws, agent) {
		c.WaitReady(t)
	}
	for _, g := range []string{group + "-metrics", group + "-logs"} {
		waitGroupStable(ctx, t, brokers, g, len(gws))
	}

	conn, err := grpc.NewClient(agent.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	wantPoints, wantRecords := map[string]int{}, map[string]int{}
	now := time.Now()
	for r := range rounds {
		md := pmetric.NewMetrics()
		for inst := range 2 { // two app instances: their series go to partitions by resource
			rm := md.ResourceMetrics().AppendEmpty()
			rm.Resource().Attributes().PutStr("service.name", "orders-api")
			rm.Resource().Attributes().PutStr("service.instance.id", fmt.Sprintf("orders-api-%d", inst))
			m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName(fmt.Sprintf("kafka.eventbus.messages.published.%d", inst))
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for i := range pointsPerRound / 2 {
				dp := sum.DataPoints().AppendEmpty()
				seq := int64(r*pointsPerRound + i)
				dp.Attributes().PutInt("seq", seq)
				dp.SetIntValue(seq * 3)
				dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
				wantPoints[fmt.Sprintf("%s/%d=%d", m.Name(), seq, seq*3)] = 1
			}
		}
		_, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
		require.NoError(t, err)

		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "orders-api")
		for i := range recordsPerRound {
			rec := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
			body := fmt.Sprintf("order %d placed (round %d)", r*recordsPerRound+i, r)
			rec.Body().SetStr(body)
			rec.SetTimestamp(pcommon.NewTimestampFromTime(now))
			wantRecords[body] = 1
		}
		_, err = plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
		require.NoError(t, err)
	}

	deadline := time.Now().Add(90 * time.Second)
	for {
		points, records := backend.counts()
		if len(points) >= len(wantPoints) && len(records) >= len(wantRecords) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	points, records := backend.counts()
	assert.Equal(t, wantPoints, points, "every data point once, value unchanged")
	assert.Equal(t, wantRecords, records, "every log record once")
	t.Logf("%d data points and %d log records through Kafka", len(points), len(records))
}
