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
	// Prometheus binds port 0 and the test reads back what it bound: no port can be lost to another process
	// in between. Should it still exit before it is ready (anything else on a loaded machine), it is
	// started again, up to three times.
	var last string
	for attempt := 1; attempt <= 3; attempt++ {
		base, out, ok := startPrometheus(t, bin, cfgPath, filepath.Join(dir, fmt.Sprintf("data%d", attempt)), extraFlags)
		if ok {
			return base
		}
		last = out
		t.Logf("prometheus exited before it was ready (attempt %d):\n%s", attempt, out)
	}
	t.Fatalf("prometheus did not start:\n%s", last)
	return ""
}

// startPrometheus starts one Prometheus process and waits until it is ready (ok) or exits (not ok, with
// its output).
func startPrometheus(t testing.TB, bin, cfgPath, dataDir string, extraFlags []string) (base, output string, ok bool) {
	t.Helper()
	out := &SyncBuffer{}
	args := append([]string{"--config.file=" + cfgPath, "--storage.tsdb.path=" + dataDir,
		"--web.listen-address=127.0.0.1:0"}, extraFlags...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	deadline := time.After(60 * time.Second)
	for {
		select {
		case <-exited:
			return "", out.String(), false
		case <-deadline:
			t.Fatalf("prometheus did not become ready in 60s:\n%s", out)
		case <-time.After(200 * time.Millisecond):
		}
		if base == "" {
			// Its one listener, once bound.
			if l, err := boundListeners(cmd.Process.Pid); err == nil && len(l) == 1 {
				for _, addr := range l {
					base = "http://" + addr
				}
			}
			continue
		}
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return base, "", true
		}
	}
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
