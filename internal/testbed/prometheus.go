package testbed

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

// PrometheusBinary finds a real Prometheus server, or fails the test saying how to install one.
// It never skips: CI installs Prometheus, and a missing one must not pass silently.
func PrometheusBinary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("this test needs a real Prometheus server: install it with `apt-get install -y prometheus` (Debian) " +
			"or put a `prometheus` binary on PATH; .ci/run installs it")
	}
	return bin
}

// StartPrometheus runs a Prometheus server scraping targets every second and returns its base URL.
// extraFlags are passed through (e.g. --web.enable-remote-write-receiver).
func StartPrometheus(t testing.TB, bin string, targets []string, extraFlags ...string) string {
	t.Helper()
	return StartPrometheusWithRules(t, bin, targets, nil, extraFlags...)
}

// StartPrometheusWithRules is StartPrometheus evaluating the given rule files (absolute paths) every second.
func StartPrometheusWithRules(t testing.TB, bin string, targets, ruleFiles []string, extraFlags ...string) string {
	t.Helper()
	dir := t.TempDir()
	tj, err := json.Marshal(targets)
	require.NoError(t, err)
	rj, err := json.Marshal(ruleFiles)
	require.NoError(t, err)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: %s\nscrape_configs:\n"+
		"  - job_name: otelcol-es\n    static_configs:\n      - targets: %s\n", rj, tj)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o600))
	addr := FreeAddr(t)
	out := &SyncBuffer{}
	args := append([]string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr}, extraFlags...)
	cmd := exec.Command(bin, args...)
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

// PromSample is one series of an instant-query result.
type PromSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs a PromQL instant query through Prometheus's HTTP API.
func Query(ctx context.Context, base, promql string) ([]PromSample, error) {
	var data struct {
		Result []PromSample `json:"result"`
	}
	err := API(ctx, base, "/api/v1/query", url.Values{"query": {promql}}, &data)
	return data.Result, err
}

// API calls a Prometheus HTTP API endpoint (path, e.g. /api/v1/query) with params and decodes the
// response's data into data; a response whose status is not "success" is an error.
func API(ctx context.Context, base, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if res.Status != "success" {
		return fmt.Errorf("prometheus: %s", res.Error)
	}
	return json.Unmarshal(res.Data, data)
}

// WaitForQuery runs an instant query until its result has a series for every wanted value of label (each
// with a non-zero, non-NaN value when nonZero is set), and returns that result.
func WaitForQuery(ctx context.Context, t testing.TB, base, promql, label string, want []string, nonZero bool) []PromSample {
	t.Helper()
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		res, err := Query(ctx, base, promql)
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%+v", res)
			got := map[string]bool{}
			for _, r := range res {
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
				return res
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("query %s never returned %s=%v (non-zero: %v); last result: %s", promql, label, want, nonZero, last)
	return nil
}
