// Package testbed runs built otelcol-es binaries (and a real Prometheus) on loopback for end-to-end tests,
// and talks to them the way users do: OTLP in over gRPC, HTTP/protobuf and HTTP/JSON, Prometheus out.
// It is shared by the e2e tests and the reliability tests.
package testbed

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// RepoRoot is the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CollectorBinary returns $OTELCOL_ES_BIN (set by `make test`), or builds cmd/otelcol-es into dir.
func CollectorBinary(dir string) (string, error) {
	if bin := os.Getenv("OTELCOL_ES_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	bin := filepath.Join(dir, "otelcol-es")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Dir = filepath.Join(RepoRoot(), "cmd", "otelcol-es")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building otelcol-es (run `make build` first to reuse a binary): %w", err)
	}
	return bin, nil
}

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// Port returns the port of host:port.
func Port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// SyncBuffer collects a process's output for the test log.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *SyncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// Collector is one running otelcol-es process.
type Collector struct {
	Cmd  *exec.Cmd
	Out  *SyncBuffer
	done chan error
	// Listeners of the shipped configs, each moved to a free loopback port through its environment variable.
	GRPC, HTTP, Prom, Telemetry         string
	PromWrite, PromRead, PromProjection string // config/split-sides.yaml
	PromApp                             string // config/split-sides.yaml: the app's own metrics

	bin      string
	env      []string
	args     []string
	restarts int
}

// StartCollector runs bin with args (no --config: the embedded default) and extra environment. Every
// listener of the shipped configs is moved to a free port; the process is stopped when the test ends.
func StartCollector(t testing.TB, bin string, env []string, args ...string) *Collector {
	t.Helper()
	c := &Collector{Out: &SyncBuffer{}, bin: bin, env: env, args: args}
	c.start(t)
	t.Cleanup(func() {
		c.Stop()
		if strings.Contains(c.Out.String(), RaceReport) {
			t.Errorf("otelcol-es reported a data race")
		}
		if t.Failed() {
			t.Logf("otelcol-es output:\n%s", c.Out.String())
		}
	})
	return c
}

// start picks free ports for every listener and starts the process.
func (c *Collector) start(t testing.TB) {
	t.Helper()
	c.done = make(chan error, 1)
	c.GRPC, c.HTTP, c.Prom, c.Telemetry = FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t)
	c.PromWrite, c.PromRead, c.PromProjection, c.PromApp = FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t)
	c.Cmd = exec.Command(c.bin, c.args...)
	c.Cmd.Env = append(os.Environ(),
		"OTELCOL_ES_OTLP_GRPC="+c.GRPC,
		"OTELCOL_ES_OTLP_HTTP="+c.HTTP,
		"OTELCOL_ES_PROMETHEUS="+c.Prom,
		"OTELCOL_ES_TELEMETRY_PORT="+Port(c.Telemetry),
		"OTELCOL_ES_HEALTH="+FreeAddr(t),
		"OTELCOL_ES_PPROF="+FreeAddr(t),
		"OTELCOL_ES_ZPAGES="+FreeAddr(t),
		"OTELCOL_ES_PROMETHEUS_WRITE="+c.PromWrite,
		"OTELCOL_ES_PROMETHEUS_READ="+c.PromRead,
		"OTELCOL_ES_PROMETHEUS_PROJECTION="+c.PromProjection,
		"OTELCOL_ES_PROMETHEUS_APP="+c.PromApp,
	)
	// A -race build (make build-race) stops at its first data race with exit code 66; the cleanup
	// fails the test on the report. Ignored by a normal build.
	c.Cmd.Env = append(c.Cmd.Env, "GORACE=halt_on_error=1 exitcode=66")
	c.Cmd.Env = append(c.Cmd.Env, c.env...)
	c.Cmd.Stdout, c.Cmd.Stderr = c.Out, c.Out
	require.NoError(t, c.Cmd.Start())
	cmd, done := c.Cmd, c.done
	go func() { done <- cmd.Wait() }()
}

// RaceReport starts every report of the race detector.
const RaceReport = "WARNING: DATA RACE"

// IsRaceBuild reports whether bin was built with -race.
func IsRaceBuild(bin string) bool {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

// WaitReady waits until the collector logs that it is ready, or fails the test if it exits.
func (c *Collector) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(c.Out.String(), "Everything is ready") {
		select {
		case err := <-c.done:
			// FreeAddr's ports were free a moment before the collector bound them; another process
			// (a test running in parallel) can take one in between. Start again on new ports.
			if c.restarts < 3 && strings.Count(c.Out.String(), "address already in use") > c.restarts {
				c.restarts++
				t.Logf("otelcol-es lost a port to another process (%v); starting it again on new ports", err)
				c.start(t)
				continue
			}
			c.done <- err
			t.Fatalf("otelcol-es exited before becoming ready: %v\n%s", err, c.Out.String())
		case <-deadline:
			t.Fatalf("otelcol-es not ready after 60s:\n%s", c.Out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop interrupts the collector (a graceful shutdown, with final flushes) and waits for it to exit.
func (c *Collector) Stop() {
	select {
	case err := <-c.done:
		c.done <- err
		return
	default:
	}
	_ = c.Cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-c.done:
		c.done <- err
	case <-time.After(20 * time.Second):
		_ = c.Cmd.Process.Kill()
	}
}
