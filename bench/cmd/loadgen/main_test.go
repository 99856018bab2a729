package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"

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

func TestProcAccounting(t *testing.T) {
	c := &collector{cmd: &exec.Cmd{Process: &os.Process{Pid: os.Getpid()}}}
	assert.GreaterOrEqual(t, c.cpuSeconds(), 0.0)
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
