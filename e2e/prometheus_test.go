package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The three dashboard queries of seed 000, verbatim.
var seedQueries = []struct {
	name, promql, label string
	want                []string
}{
	{"write-side command throughput", `sum(rate(cqrs_command_total[5m])) by (command_type)`,
		"command_type", []string{"PlaceOrder", "CancelOrder"}},
	{"read-side query latency p95", `histogram_quantile(0.95,
  sum(rate(cqrs_query_duration_bucket[5m])) by (le, query_type)
)`, "query_type", []string{"GetOrder", "ListOrders"}},
	{"projection lag p99", `histogram_quantile(0.99,
  sum(rate(cqrs_projection_lag_bucket[5m])) by (le, projection_name)
)`, "projection_name", []string{"OrderSummary"}},
}

// TestSeedPromQLAgainstRealPrometheus scrapes otelcol-es with a real Prometheus server and runs the seed's
// three PromQL queries through its HTTP API.
func TestSeedPromQLAgainstRealPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("this test needs a real Prometheus server: install it with `apt-get install -y prometheus` (Debian) " +
			"or put a `prometheus` binary on PATH; .ci/run installs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	c := startCollector(t, nil)
	c.waitReady(t)
	prom := startPrometheus(t, promBin, c.prom)

	// rate() needs an increase between two scrapes: send, let Prometheus see the first values, send again.
	seed := loadTraces(t, "seed000-traces.json")
	send(ctx, t, c, viaGRPC, withFreshIDs(seed))
	waitForQuery(ctx, t, prom, `cqrs_command_total{command_type="PlaceOrder"}`, "command_type", []string{"PlaceOrder"}, false)
	waitForQuery(ctx, t, prom, `cqrs_projection_lag_count`, "projection_name", []string{"OrderSummary"}, false)
	send(ctx, t, c, viaHTTPProto, withFreshIDs(seed))

	for _, q := range seedQueries {
		t.Run(q.name, func(t *testing.T) {
			waitForQuery(ctx, t, prom, q.promql, q.label, q.want, true)
		})
	}
}

// startPrometheus runs a Prometheus server scraping target every second and returns its base URL.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: otelcol-es
    static_configs:
      - targets: [%q]
`, target)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	addr := freeAddr(t)
	out := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 200*time.Millisecond, "prometheus did not become ready:\n%s", out)
	return base
}

type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// waitForQuery runs an instant query until its result has a series for every wanted label value
// (each with a non-zero, non-NaN value when nonZero is set).
func waitForQuery(ctx context.Context, t *testing.T, base, promql, label string, want []string, nonZero bool) {
	t.Helper()
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		res, err := query(ctx, base, promql)
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%+v", res.Data.Result)
			got := map[string]bool{}
			for _, r := range res.Data.Result {
				v, _ := r.Value[1].(string)
				if !nonZero || (v != "0" && v != "NaN" && v != "") {
					got[r.Metric[label]] = true
				}
			}
			ok := true
			for _, w := range want {
				ok = ok && got[w]
			}
			if ok {
				t.Logf("%s -> %s", promql, last)
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("query %s never returned %s=%v (non-zero: %v); last result: %s", promql, label, want, nonZero, last)
}

func query(ctx context.Context, base, promql string) (*promResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(promql), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var res promResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, err
	}
	if res.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", res.Error)
	}
	return &res, nil
}
