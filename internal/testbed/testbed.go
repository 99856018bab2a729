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
	return binary(dir, "OTELCOL_ES_BIN", "otelcol-es", "make build")
}

// SidecarBinary returns $OTELCOL_ES_SIDECAR_BIN (set by `make test`), or builds the lean sidecar build
// (cmd/otelcol-es-sidecar, builder-sidecar.yaml) into dir.
func SidecarBinary(dir string) (string, error) {
	return binary(dir, "OTELCOL_ES_SIDECAR_BIN", "otelcol-es-sidecar", "make build-sidecar")
}

// binary returns $env when it names a file, or builds cmd/<name> into dir.
func binary(dir, env, name, target string) (string, error) {
	if bin := os.Getenv(env); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Dir = filepath.Join(RepoRoot(), "cmd", name)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building %s (run `%s` first to reuse a binary): %w", name, target, err)
	}
	return bin, nil
}

// ReservedAddr returns a loopback address for a process the test starts later: its port is free and left in
// TIME_WAIT (a connection to it, closed from its side first), so for about a minute the kernel hands it to
// no bind to port 0 and no outgoing connection, while a listener with SO_REUSEADDR (every Go server) can
// still bind it. Prefer AnyPort where the test can read the bound address back instead.
func ReservedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	reserve(t, l)
	return addr
}

// reserve closes l, leaving its port in TIME_WAIT.
func reserve(t testing.TB, l net.Listener) {
	t.Helper()
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	s, err := l.Accept()
	require.NoError(t, err)
	require.NoError(t, s.Close())  // the listening side closes first: its end waits in TIME_WAIT
	_, _ = c.Read(make([]byte, 1)) // the FIN has arrived
	c.Close()
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
	// Listeners of the shipped configs, as the collector bound them (set by WaitReady).
	GRPC, HTTP, Prom, Telemetry         string
	PromWrite, PromRead, PromProjection string // config/split-sides.yaml
	PromApp                             string // config/split-sides.yaml: the app's own metrics

	// byIP names the listener each loopback address was given to; bound is what WaitReady read back.
	byIP  map[string]string
	bound map[string]string
}

// StartCollector runs bin with args (no --config: the embedded default) and extra environment. Every
// listener of the shipped configs (listenerEnv), and every one env sets to AnyPort, binds port 0 on a
// loopback address of its own; WaitReady reads back what was bound. The process is stopped when the test
// ends.
func StartCollector(t testing.TB, bin string, env []string, args ...string) *Collector {
	t.Helper()
	c := &Collector{Out: &SyncBuffer{}, done: make(chan error, 1), byIP: map[string]string{}}
	listen := func(name string) string {
		ip := listenerIP(len(c.byIP))
		c.byIP[ip] = name
		return ip + ":0"
	}
	c.Cmd = exec.Command(bin, args...)
	c.Cmd.Env = os.Environ()
	for _, name := range listenerEnv {
		addr := listen(name)
		if name == "OTELCOL_ES_TELEMETRY" {
			host, port, _ := net.SplitHostPort(addr)
			c.Cmd.Env = append(c.Cmd.Env, "OTELCOL_ES_TELEMETRY_HOST="+host, "OTELCOL_ES_TELEMETRY_PORT="+port)
			continue
		}
		c.Cmd.Env = append(c.Cmd.Env, name+"="+addr)
	}
	// A -race build (make build-race) stops at its first data race with exit code 66; the cleanup
	// fails the test on the report. Ignored by a normal build.
	c.Cmd.Env = append(c.Cmd.Env, "GORACE=halt_on_error=1 exitcode=66")
	for _, kv := range env {
		if name, v, _ := strings.Cut(kv, "="); v == AnyPort {
			kv = name + "=" + listen(name)
		}
		c.Cmd.Env = append(c.Cmd.Env, kv) // later entries win (os/exec keeps the last of a name)
	}
	c.Cmd.Stdout, c.Cmd.Stderr = c.Out, c.Out
	require.NoError(t, c.Cmd.Start())
	cmd, done := c.Cmd, c.done
	go func() { done <- cmd.Wait() }()
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

// Addr is the address the listener configured by the environment variable name is bound to (after
// WaitReady; OTELCOL_ES_TELEMETRY for the collector's own metrics). It fails the test when there is none.
func (c *Collector) Addr(t testing.TB, name string) string {
	t.Helper()
	addr, ok := c.bound[name]
	require.Truef(t, ok, "otelcol-es has no listener for %s (bound: %v)", name, c.bound)
	return addr
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

// WaitReady waits until the collector logs that it is ready, or fails the test if it exits, then reads
// back the addresses its listeners bound.
func (c *Collector) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(c.Out.String(), "Everything is ready") {
		select {
		case err := <-c.done:
			c.done <- err
			t.Fatalf("otelcol-es exited before becoming ready: %v\n%s", err, c.Out.String())
		case <-deadline:
			t.Fatalf("otelcol-es not ready after 60s:\n%s", c.Out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Every listener is bound before "Everything is ready" (components start first).
	byIP, err := boundListeners(c.Cmd.Process.Pid)
	require.NoError(t, err)
	c.bound = map[string]string{}
	for ip, addr := range byIP {
		if name, ok := c.byIP[ip]; ok {
			c.bound[name] = addr
		}
	}
	c.GRPC, c.HTTP, c.Prom, c.Telemetry = c.bound["OTELCOL_ES_OTLP_GRPC"], c.bound["OTELCOL_ES_OTLP_HTTP"],
		c.bound["OTELCOL_ES_PROMETHEUS"], c.bound["OTELCOL_ES_TELEMETRY"]
	c.PromWrite, c.PromRead = c.bound["OTELCOL_ES_PROMETHEUS_WRITE"], c.bound["OTELCOL_ES_PROMETHEUS_READ"]
	c.PromProjection, c.PromApp = c.bound["OTELCOL_ES_PROMETHEUS_PROJECTION"], c.bound["OTELCOL_ES_PROMETHEUS_APP"]
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
