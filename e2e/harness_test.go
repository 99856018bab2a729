// Package e2e runs the built otelcol-es binary on loopback and talks to it the way users do: real OTLP in
// (gRPC, HTTP/protobuf, HTTP/JSON), Prometheus exposition out, and a real Prometheus server scraping it.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// collectorBin is the binary under test: $OTELCOL_ES_BIN (set by `make test`), else built once here.
var collectorBin string

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	collectorBin = os.Getenv("OTELCOL_ES_BIN")
	if collectorBin == "" || !fileExists(collectorBin) {
		dir, err := os.MkdirTemp("", "otelcol-es-e2e")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dir)
		collectorBin = filepath.Join(dir, "otelcol-es")
		build := exec.Command("go", "build", "-trimpath", "-o", collectorBin, ".")
		build.Dir = filepath.Join("..", "cmd", "otelcol-es")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return 0, fmt.Errorf("building otelcol-es (run `make build` first to reuse a binary): %w", err)
		}
	}
	return m.Run(), nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// syncBuffer collects a process's output for the test log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// collector is one running otelcol-es process.
type collector struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
	// Addresses of the default config's listeners.
	grpc, http, prom, telemetry string
}

// startCollector runs the binary with args (no --config: the embedded default) and extra environment.
// The default config's listeners are moved to free ports.
func startCollector(t *testing.T, env []string, args ...string) *collector {
	t.Helper()
	c := &collector{out: &syncBuffer{}, done: make(chan error, 1),
		grpc: freeAddr(t), http: freeAddr(t), prom: freeAddr(t), telemetry: freeAddr(t)}
	c.cmd = exec.Command(collectorBin, args...)
	c.cmd.Env = append(os.Environ(),
		"OTELCOL_ES_OTLP_GRPC="+c.grpc,
		"OTELCOL_ES_OTLP_HTTP="+c.http,
		"OTELCOL_ES_PROMETHEUS="+c.prom,
		"OTELCOL_ES_TELEMETRY_PORT="+port(c.telemetry),
		"OTELCOL_ES_HEALTH="+freeAddr(t),
		"OTELCOL_ES_PPROF="+freeAddr(t),
		"OTELCOL_ES_ZPAGES="+freeAddr(t),
	)
	c.cmd.Env = append(c.cmd.Env, env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	require.NoError(t, c.cmd.Start())
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		c.stop(t)
		if t.Failed() {
			t.Logf("otelcol-es output:\n%s", c.out.String())
		}
	})
	return c
}

// waitReady waits until the collector logs that it is ready, or fails the test if it exits.
func (c *collector) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(c.out.String(), "Everything is ready") {
		select {
		case err := <-c.done:
			t.Fatalf("otelcol-es exited before becoming ready: %v\n%s", err, c.out.String())
		case <-deadline:
			t.Fatalf("otelcol-es not ready after 60s:\n%s", c.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *collector) stop(t *testing.T) {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// scrape reads a Prometheus text exposition.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// sample finds the value of one series: counter/gauge value, or histogram count.
func sample(mf map[string]*dto.MetricFamily, name string, labels map[string]string) (value float64, found bool) {
	fam, ok := mf[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// histogramSum returns a histogram series' sample sum.
func histogramSum(mf map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	fam, ok := mf[name]
	if !ok {
		return 0, false
	}
	for _, m := range fam.GetMetric() {
		if m.Histogram != nil && hasLabels(m, labels) {
			return m.GetHistogram().GetSampleSum(), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}
