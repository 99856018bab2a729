package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScrapeSumsSeries(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `# HELP otelcol_receiver_accepted_spans_total Number of spans successfully pushed into the pipeline.
# TYPE otelcol_receiver_accepted_spans_total counter
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 1500
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 500
otelcol_receiver_refused_spans_total{receiver="otlp",transport="grpc"} 3
otelcol_process_cpu_seconds_total 1.5
`)
	}))
	defer srv.Close()
	m, err := scrape(srv.URL)
	require.NoError(t, err)
	assert.InDelta(t, 2000.0, m["otelcol_receiver_accepted_spans"], 0)
	assert.InDelta(t, 3.0, m["otelcol_receiver_refused_spans"], 0)
	assert.NotContains(t, m, "otelcol_process_cpu_seconds")
}

// sink keeps the CPU burner's result alive.
var sink float64

func TestProcAccounting(t *testing.T) {
	c := &collector{cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}
	// Burn at least 0.5 s of CPU (counted by the kernel, not the wall clock), then compare with getrusage,
	// which reads the same process's counters in µs. /proc/<pid>/stat counts in 10 ms ticks and the kernel
	// splits and scales the two views separately (measured: up to 2 ticks apart), so 5 ticks either side:
	// a wrong field (children's time: 0) or a wrong unit (×10) is far outside.
	self := func() float64 {
		var ru syscall.Rusage
		require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	for x := 1.0; self() < 0.5; {
		for range 1_000_000 {
			x = x*1.0000001 + 1e-9
		}
		sink = x
	}
	before := self()
	got := c.cpuSeconds()
	after := self()
	const tol = 5.0 / clockTicks
	assert.GreaterOrEqual(t, got, before-tol)
	assert.LessOrEqual(t, got, after+tol)
	rss, hwm, anon := c.memKiB()
	assert.Positive(t, anon)
	assert.Positive(t, rss)
	assert.GreaterOrEqual(t, hwm, rss)
}

func TestDistFlag(t *testing.T) {
	var d distList
	require.NoError(t, d.Set("floor=bin/otelcol-floor:configs/floor.yaml"))
	assert.Equal(t, dist{"floor", "bin/otelcol-floor", "configs/floor.yaml"}, d[0])
	require.Error(t, d.Set("floor"))
}
