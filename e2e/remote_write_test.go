package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// config/gateway.yaml's "CQRS metrics by remote write": a real Prometheus with its remote-write receiver
// enabled gets them, with the values seed 000 implies (sent three times over TLS with the bearer token),
// labelled with the gateway's instance id and the service.
func TestGatewayRemoteWriteIntoPrometheus(t *testing.T) {
	const sends = 3
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prom := tb.StartPrometheus(t, tb.PrometheusBinary(t), []string{}, "--web.enable-remote-write-receiver")
	pki := tb.NewPKI(t)
	env := append(pki.Env(t), "OTELCOL_ES_STORAGE_DIR="+t.TempDir(), "OTELCOL_ES_REMOTE_WRITE_URL="+prom+"/api/v1/write")
	c := tb.StartCollector(t, collectorBin, env, "--config", filepath.Join("..", "config", "gateway.yaml"))
	c.WaitReady(t)

	pool := x509.NewCertPool()
	pool.AddCert(pki.CA)
	conn, err := grpc.NewClient(c.Addr(t, "OTELCOL_ES_GATEWAY_GRPC"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+pki.Token)
	seed := tb.LoadTraces(t, "cqrs-conventions-traces.json")
	for range sends {
		_, err := ptraceotlp.NewGRPCClient(conn).Export(authed, ptraceotlp.NewExportRequestFromTraces(tb.WithFreshIDs(seed)))
		require.NoError(t, err)
	}

	value := func(q string) (float64, bool) {
		res, err := tb.Query(ctx, prom, q)
		if err != nil || len(res) != 1 {
			return 0, false
		}
		v, err := strconv.ParseFloat(res[0].Value[1].(string), 64)
		return v, err == nil
	}
	n := float64(sends)
	want := map[string]float64{
		`sum(cqrs_command_total{command_type="PlaceOrder",command_status="success",service_name="order-service"})`: 2 * n,
		`sum(cqrs_command_total{command_type="CancelOrder",command_status="error"})`:                               1 * n,
		`sum(cqrs_events_produced{command_type="PlaceOrder"})`:                                                     3 * n,
		`sum(cqrs_query_total{query_type="GetOrder"})`:                                                             2 * n,
		`sum(cqrs_command_duration_sum{command_type="PlaceOrder"})`:                                                (12 + 8) * n,
		`sum(cqrs_projection_lag_sum{projection_name="OrderSummary"})`:                                             (40 + 120) * n,
		`sum(cqrs_projection_lag_count{projection_name="OrderSummary"})`:                                           2 * n,
		`count(count by (otelcol_instance_id) (cqrs_command_total))`:                                               1,
	}
	// Bounded by ctx, not a shorter wall-clock wait: on a loaded machine the WAL, the retries and
	// Prometheus's ingestion take their time, and the values are exact either way.
	got := map[string]float64{}
	waitStart := time.Now()
	for {
		done := true
		for q, w := range want {
			v, ok := value(q)
			got[q] = v
			done = done && ok && v == w
		}
		if done {
			break
		}
		if ctx.Err() != nil {
			exporter := "(telemetry not scraped)"
			if tel, err := tb.Scrape(context.Background(), "http://"+c.Telemetry+"/metrics"); err == nil {
				exporter = fmt.Sprintf("points sent %v, failed %v", tel.Sum("otelcol_exporter_sent_metric_points", nil),
					tel.Sum("otelcol_exporter_send_failed_metric_points", nil))
			}
			t.Fatalf("not every CQRS value was remote-written before the test's deadline:\ngot  %v\nwant %v\nexporters: %s",
				got, want, exporter)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("every value remote-written %v after the last send", time.Since(waitStart).Round(time.Second))
	assert.Equal(t, want, got)
}
