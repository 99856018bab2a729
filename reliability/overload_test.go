package reliability

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

const (
	overloadLimitMiB = 192
	overloadSpikeMiB = 48
)

// TestOverloadRefusesRetryablyAndLosesNothing (R3): testdata/overload.yaml (memory_limiter limit_mib 192) in
// front of a backend that takes nothing until the collector has refused: whatever it accepts meanwhile
// stays in it, so offering more than its memory_limiter and sending queue hold (overloadOffered spans: a
// count, not a rate) makes it refuse on any machine, fast or loaded. Then esdemo joins and the backend takes
// spans again. The collector refuses with retryable codes only, both senders retry (esload as an SDK would,
// esdemo with the OpenTelemetry SDK's own OTLP exporter), peak RSS stays under limit + slack, and in the end
// everything offered is accepted and every span accepted reaches the backend.
func TestOverloadRefusesRetryablyAndLosesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	sink := testbed.StartTraceSink(t)
	sink.Hold()
	defer sink.Release()
	require.Falsef(t, testbed.IsRaceBuild(releaseBin), "%s is a -race build, whose RSS the limit below does not bound: set OTELCOL_ES_RELEASE_BIN to a normal build", releaseBin)
	c := testbed.StartCollector(t, releaseBin, []string{
		"OTELCOL_ES_BACKEND=" + sink.Addr,
		fmt.Sprintf("RELIABILITY_LIMIT_MIB=%d", overloadLimitMiB), fmt.Sprintf("RELIABILITY_SPIKE_MIB=%d", overloadSpikeMiB),
		fmt.Sprintf("GOMEMLIMIT=%dMiB", overloadLimitMiB),
	}, "--config", filepath.Join("testdata", "overload.yaml"))
	c.WaitReady(t)
	addr := c.Addr(t, "OTELCOL_ES_GATEWAY_GRPC")
	pid := c.Cmd.Process.Pid

	idle := readStatusKiB(pid, "VmRSS") / 1024
	var peak rssPeak
	stopSampling := peak.sample(pid)

	// esload offers overloadOffered spans in all, however long that takes here, and retries what is
	// refused; its drain outlasts the hold.
	const loadFor = 10 * time.Second
	var load *loadResult
	var loadErr error
	var loadDone sync.WaitGroup
	loadDone.Go(func() {
		load, loadErr = runLoadE(ctx, t, addr, "-rate", fmt.Sprint(overloadOffered/loadFor.Seconds()), "-duration", loadFor.String(),
			"-pool", "0", "-retry", "-drain", "4m")
	})
	// The collector refuses while only esload sends: esload meets refusals.
	refused := waitRefused(ctx, t, c)
	t.Logf("the collector refused %v spans while its backend took nothing", refused)
	// esdemo joins the overloaded collector, the backend takes spans again, and both senders drain,
	// retrying what was refused.
	demo := startDemo(ctx, t, addr, "-duration", loadFor.String(), "-rate", "40", "-service-name", "overload-demo",
		// Its exporter backs off up to 30 s between attempts; give the final flush room for that.
		"-drain-timeout", "2m")
	sink.Release()
	tr, err := demo()
	require.NoError(t, err)
	loadDone.Wait()
	require.NoError(t, loadErr)
	stopSampling()

	st := load.Stats
	rss, hwm := peak.max(), readStatusKiB(pid, "VmHWM")/1024
	t.Logf("esload: offered %d spans, accepted %d, %d refusals retried, failed %d, backlog %d",
		st.Offered.Spans, st.Sent.Spans, st.Refusals, st.Failed.Spans, st.Backlog.Spans)
	t.Logf("RSS: idle %d MiB, peak sampled %d MiB, VmHWM %d MiB; limit_mib %d", idle, rss, hwm, overloadLimitMiB)

	assert.GreaterOrEqual(t, st.Offered.Spans, int64(overloadOffered), "esload offered what it was asked to")
	assert.Positive(t, st.Refusals, "esload met no refusal, though the collector refused while only esload sent")
	assert.Zero(t, st.Failed, "refusals must be retryable (Unavailable / ResourceExhausted): %s", st.LastError)
	assert.Zero(t, st.Backlog, "once the backend took spans again, every request offered was accepted after retries")
	// The slack: memory_limiter bounds the Go heap; RSS also holds what the idle process already has
	// resident (the ~190 MB binary's touched pages, runtime, caches preallocated at start-up: ~100 MiB
	// measured), plus what the Go runtime keeps beside the heap it counts (stacks, GC metadata, freed spans
	// not yet returned): runtimeSlackMiB. So peak RSS <= limit_mib + idle RSS + runtimeSlackMiB; measured
	// peaks sat ~20 MiB under limit_mib + idle.
	// GOMEMLIMIT = limit_mib keeps garbage from piling up.
	const runtimeSlackMiB = 64
	assert.LessOrEqual(t, hwm, int64(overloadLimitMiB)+idle+runtimeSlackMiB, "peak RSS (VmHWM) above limit_mib + idle RSS + runtime slack")

	// Nothing the collector accepted, from esload or from esdemo, is lost: the backend ends up with exactly
	// the spans otelcol_receiver_accepted_spans counted (span ids are all fresh, so distinct = no loss).
	received := waitDrained(ctx, t, c, sink)
	assert.Equal(t, received, float64(sink.Distinct()), "spans accepted by the receiver = distinct spans at the backend")
	// esdemo's exporter retried its refused batches; the Go SDK's OTLP exporter gives up on a batch when
	// its export timeout (10 s by default, covering every retry) runs out, so some of the demo's spans may
	// be dropped in the app, never accepted. Those are the SDK's to keep: report them.
	demoAccepted := int64(received) - st.Sent.Spans
	t.Logf("esdemo: %d spans ended, %d accepted by the collector (the rest dropped by the SDK after its export timeout)",
		tr.SpansTotal, demoAccepted)
	assert.Positive(t, demoAccepted, "none of esdemo's spans got through")
	assert.LessOrEqual(t, demoAccepted, tr.SpansTotal, "more spans accepted than esload and esdemo sent")
}

// overloadOffered is what esload offers: three times what overload.yaml's sending queue holds (queue_size
// 200 000 spans) while its backend takes nothing; its memory_limiter refuses sooner.
const overloadOffered = 600_000

// waitRefused waits until the collector's receiver has refused spans, and returns how many.
func waitRefused(ctx context.Context, t *testing.T, c *testbed.Collector) float64 {
	t.Helper()
	for {
		_, refused, err := acceptedSpans(ctx, c, "otlp")
		require.NoError(t, err)
		if refused > 0 {
			return refused
		}
		require.NoError(t, ctx.Err(), "the collector never refused, though its backend took nothing")
		time.Sleep(200 * time.Millisecond)
	}
}

// waitDrained waits until the backend holds every span the collector accepted (distinct ids) and returns
// that count.
func waitDrained(ctx context.Context, t *testing.T, c *testbed.Collector, sink *testbed.TraceSink) float64 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		a, r, err := acceptedSpans(ctx, c, "otlp")
		require.NoError(t, err)
		if float64(sink.Distinct()) == a {
			t.Logf("receiver accepted %v spans (refused %v); the backend holds all of them", a, r)
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend holds %d distinct spans, the receiver accepted %v; the collector's loss counters: %v",
				sink.Distinct(), a, lossCounters(ctx, c))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// lossCounters returns the collector's own non-zero counters that tell of spans refused, failed or dropped.
func lossCounters(ctx context.Context, c *testbed.Collector) map[string]float64 {
	out := map[string]float64{}
	f, err := testbed.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
	if err != nil {
		return out
	}
	for name := range f {
		for _, w := range []string{"refused", "failed", "dropped", "overflow", "unmatched"} {
			if strings.Contains(name, w) {
				if v := f.Sum(name, nil); v > 0 {
					out[name] = v
				}
			}
		}
	}
	return out
}

type rssPeak struct {
	mu  sync.Mutex
	kib int64
}

// sample reads the process's RSS every 100 ms until the returned stop is called.
func (p *rssPeak) sample(pid int) (stop func()) {
	return repeat(100*time.Millisecond, func() {
		v := readStatusKiB(pid, "VmRSS")
		p.mu.Lock()
		p.kib = max(p.kib, v)
		p.mu.Unlock()
	})
}

func (p *rssPeak) max() int64 { p.mu.Lock(); defer p.mu.Unlock(); return p.kib / 1024 }

// readStatusKiB reads one "Vm...: N kB" line of /proc/<pid>/status (0 when unavailable).
func readStatusKiB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			v, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v
		}
	}
	return 0
}
