package reliability

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/spangen"
	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// TestSoak (R1) offers otelcol-es, on its default config at GOMAXPROCS=1, 80% of the saturation the load
// harness measured (190 733 spans/s, so ~152.6k spans/s; main_test.go says why this figure) for -soak.duration (CI: 1m,
// `make soak`: 10m), and accounts for everything sent. Two sources share the collector:
//   - esload (cmd/esload) carries the rate: spans it sent = otelcol_receiver_accepted_spans (with esdemo's),
//     and its commands, queries and projection applies = cqrs_command_total, cqrs_query_total and
//     cqrs_projection_total summed over its services' series;
//   - esdemo (the eventsource runtime) runs a real application alongside, its apply spans stripped of their
//     reported lag: every command, query and apply of its ground truth is in the CQRS metrics, the lag the
//     collector computes from the event timestamps equals what esdemo measured on its own clock, and every
//     projection ends with 0 positions behind.
//
// esdemo also tees its spans, stripped of the event timestamp too, to a second collector that sees only
// them (the demo collector): its lag comes from the link join alone, through a deliberately small link store,
// and its projectionlag telemetry counts the demo's applies only, so every link lag and consistency delay
// it could not measure must be accounted for by those counters.
func TestSoak(t *testing.T) {
	d := *soakDuration
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Minute)
	defer cancel()
	// GOMAXPROCS=1, as when the saturation was measured; the load sources get the other core. The overlay
	// sizes projectionlag's link store for this rate (testdata/soak.yaml says how).
	c := testbed.StartCollector(t, collectorBin, []string{"GOMAXPROCS=1"},
		"--config", configPath("default.yaml"), "--config", filepath.Join("testdata", "soak.yaml"))
	dc := testbed.StartCollector(t, collectorBin, []string{"GOMAXPROCS=1"},
		"--config", configPath("default.yaml"), "--config", filepath.Join("testdata", "soak-demo.yaml"))
	c.WaitReady(t)
	dc.WaitReady(t)
	pid := c.Cmd.Process.Pid

	// The connector drops a series after series_expiry (5m) without data, and the exporter stops exposing
	// it 1m later: a soak outlives rare series (StockAdded only happens at start). Keep what every scrape
	// showed, as Prometheus would.
	acc := &accumulator{url: "http://" + c.Prom + "/metrics"}
	stopAcc := acc.every(ctx, 10*time.Second)
	demoAcc := &accumulator{url: "http://" + dc.Prom + "/metrics"}
	stopDemoAcc := demoAcc.every(ctx, 10*time.Second)
	var load *loadResult
	var loadErr error
	var loadDone sync.WaitGroup
	loadDone.Go(func() {
		// Fresh requests: every span id is new, as from real applications (a pool would repeat them).
		load, loadErr = runLoadE(ctx, t, c.GRPC, "-rate", fmt.Sprint(*soakLoadRate), "-duration", d.String(), "-drain", "1m", "-pool", "0")
	})
	tr, demoErr := startDemo(ctx, t, c.GRPC, "-duration", d.String(), "-rate", fmt.Sprint(*soakRate),
		"-query-rate", fmt.Sprint(*soakRate/2), "-replay-after", (d / 2).String(),
		// Some apply attempts fail and are retried (a few may be dead-lettered): error paths are accounted too.
		"-projection-error-ratio", "0.01", "-service-name", "soak",
		"-lag-source", lagEventTimestamp, "-tee-endpoint", dc.GRPC, "-tee-lag-source", lagLink)()
	loadDone.Wait()
	require.NoError(t, demoErr)
	require.NoError(t, loadErr)
	st := load.Stats
	t.Logf("esdemo: %d spans, %d commands, head position %d", tr.SpansTotal, tr.CommandsTotal, tr.HeadPosition)
	t.Logf("esload: offered %.0f spans/s for %s: sent %+v (%.0f spans/s), failed %d spans, backlog %d spans, %d refusals retried",
		*soakLoadRate, st.Elapsed, st.Sent, load.Achieved, st.Failed.Spans, st.Backlog.Spans, st.Refusals)
	require.Zero(t, st.Failed, "esload requests answered with a non-retryable error: %s", st.LastError)
	if *soakStrict {
		assert.Zero(t, st.Backlog, "esload could not send everything offered: the collector did not keep up")
		assert.GreaterOrEqual(t, load.Achieved, 0.97**soakLoadRate, "achieved rate")
	}

	// Both sources flushed before they exited: the receivers have counted every span already.
	accepted, refused, err := acceptedSpans(ctx, c, "otlp")
	require.NoError(t, err)
	// Requests still in flight when esload's drain ended (the collector did not keep up: a slow machine, the
	// race build) may or may not have been accepted; only they widen the equality into a range.
	sent := float64(tr.SpansTotal + st.Sent.Spans)
	if st.Unanswered.Spans == 0 {
		assert.Equal(t, sent, accepted, "spans sent (esdemo spans_total + esload sent) = otelcol_receiver_accepted_spans")
	} else {
		t.Logf("esload: %d spans in flight when its drain ended", st.Unanswered.Spans)
		assert.GreaterOrEqual(t, accepted, sent, "otelcol_receiver_accepted_spans >= spans sent (esdemo spans_total + esload sent)")
		assert.LessOrEqual(t, accepted, sent+float64(st.Unanswered.Spans), "otelcol_receiver_accepted_spans <= spans sent + in flight")
	}
	t.Logf("otelcol_receiver_refused_spans = %v (refusals are retried by both sources); collector peak RSS (VmHWM) %d MiB",
		refused, readStatusKiB(pid, "VmHWM")/1024)
	demoAccepted, _, err := acceptedSpans(ctx, dc, "otlp")
	require.NoError(t, err)
	assert.Equal(t, float64(tr.SpansTotal), demoAccepted, "esdemo spans_total = the demo collector's otelcol_receiver_accepted_spans")

	stopAcc()
	acc.add(waitForMetrics(ctx, t, "http://"+c.Prom+"/metrics", demoTotals(tr), loadTotals(load)))
	mf := acc.families()
	checkAgainstTruthExceptDelay(t, scrape(mf), tr, lagEventTimestamp)
	checkPositionsBehind(t, scrape(mf), tr)
	// Consistency delays need the producer and command spans still in projectionlag's link store when the
	// apply comes. At this rate the store (2M entries, testdata/soak.yaml) keeps ~23 s, and esdemo's live
	// applies may come later than that (its projections share the machine with ~152k spans/s of load, and
	// wait while one rebuilds): those delays are not measured, but none is invented, and a series with
	// every sample has the exact sum. This collector's counters also count esload's applies (none of which
	// has a command span), so the demo collector below accounts for the missing ones.
	missing := checkConsistencyDelay(t, scrape(mf), tr, false)
	var slowest float64
	for _, byProj := range tr.ConsistencyDelay {
		for _, s := range byProj {
			if s.Count > 0 {
				slowest = max(slowest, s.Sum/float64(s.Count))
			}
		}
	}
	t.Logf("esdemo consistency delays: %d of %d not measured under load (slowest series' mean delay %.1f s)",
		missing, consistencySamples(tr), slowest/1000)
	// A late command or producer completes its join when it arrives (pending joins wait link.ttl), so
	// nearly every delay is measured: 0 of 10,165 missing on an idle machine (2026-12-07). The bound leaves
	// room for a loaded one, where an apply can come after the ~23 s the store keeps. It holds while the
	// collector keeps up with the load: saturated (esload left a backlog; with a second make test beside,
	// 90k of 153k spans/s were taken and esdemo's own delays averaged 16.7 s), applies come after the
	// store's history, and 7 % went unmeasured. Those are then only logged; every delay that is measured is
	// still exact (checkConsistencyDelay).
	if st.Backlog.Spans == 0 {
		assert.LessOrEqualf(t, missing, consistencySamples(tr)/20,
			"more than 5 %% of the demo's consistency delays missing on the main collector (%d of %d)", missing, consistencySamples(tr))
	} else {
		t.Logf("the collector was saturated (esload backlog %d spans): the 5 %% bound on missing consistency delays is not applied", st.Backlog.Spans)
	}

	stopDemoAcc()
	demoAcc.add(waitForMetrics(ctx, t, "http://"+dc.Prom+"/metrics", demoTotals(tr)))
	checkDemoCollector(ctx, t, dc, scrape(demoAcc.families()), tr)
}

// checkPositionsBehind: esdemo drained every projection before it exited (its checkpoints = its head), and
// the collector's last positions behind say so.
func checkPositionsBehind(t *testing.T, src scrape, tr *truth) {
	t.Helper()
	require.NotEmpty(t, tr.Projections)
	for _, name := range sortedKeys(tr.Projections) {
		assert.Equalf(t, tr.HeadPosition, tr.Projections[name].Checkpoint, "esdemo's %s checkpoint at exit = its head", name)
		l := map[string]string{"service_name": tr.ServiceName, "projection_name": name}
		behind, ok := testbed.Families(src).Value("cqrs_projection_positions_behind", l)
		if assert.Truef(t, ok, "no cqrs_projection_positions_behind%v", l) {
			assert.Zerof(t, behind, "cqrs_projection_positions_behind%v at exit", l)
		}
	}
}

// checkDemoCollector checks the collector that received only esdemo's spans, with neither reported lag nor
// event timestamp, through a link store too small to keep every producer (testdata/soak-demo.yaml). Its
// projectionlag counters are esdemo's alone, so each unmeasured value is accounted for exactly:
//   - a live apply without link lag never met its producer (its join expired): their number = link_unmatched;
//   - a replayed apply without link lag found no producer (replays are looked up once, never held):
//     their number = link_stale;
//   - a consistency delay not measured is an apply released unmatched, or joined to its producer but not to
//     the command (link_command_unresolved, which may also count replayed applies, which have no delay):
//     link_unmatched <= missing <= link_unmatched + link_command_unresolved.
//
// Series with every sample have the exact sums esdemo measured on its own clock.
func checkDemoCollector(ctx context.Context, t *testing.T, dc *testbed.Collector, src scrape, tr *truth) {
	t.Helper()
	// An apply whose producer left the store waits for it until link.ttl: count once none is pending.
	var tel testbed.Families
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var err error
		tel, err = testbed.Scrape(ctx, "http://"+dc.Telemetry+"/metrics")
		require.NoError(t, err)
		if tel.Has("otelcol_processor_projectionlag_link_pending") && tel.Sum("otelcol_processor_projectionlag_link_pending", nil) == 0 {
			break
		}
		require.False(t, time.Now().After(deadline), "projectionlag's pending joins never expired")
		time.Sleep(500 * time.Millisecond)
	}
	counted := map[string]float64{}
	for _, n := range []string{"link_pairs", "link_unmatched", "link_command_unresolved", "link_stale", "link_evicted"} {
		counted[n] = tel.Sum("otelcol_processor_projectionlag_"+n, nil)
	}
	missingLag := map[string]int64{}
	var samples int64
	for _, name := range sortedKeys(tr.Projections) {
		for _, phase := range sortedKeys(tr.Projections[name].Phases) {
			metric := map[string]string{"live": "cqrs_projection_lag", "replay": "cqrs_projection_replay_lag"}[phase]
			lag := tr.Projections[name].Phases[phase].LagBySource[lagLink]
			for _, et := range sortedKeys(lag) {
				s := lag[et]
				l := map[string]string{"service_name": tr.ServiceName, "projection_name": name, "event_type": et}
				got := src.total(metric, l)
				samples += s.Count
				assert.LessOrEqualf(t, got, float64(s.Count), "%s count%v: more samples than the ground truth", metric, l)
				missingLag[phase] += s.Count - int64(got)
				if got == float64(s.Count) {
					assertClose(t, s.Sum, src.histSum(metric, l), 0, "%s sum%v (link lag)", metric, l)
				}
			}
		}
	}
	missingDelay := checkConsistencyDelay(t, src, tr, false)
	t.Logf("demo collector: link lag not measured for %v of %d applies, consistency delay for %d of %d; projectionlag counted %v",
		missingLag, samples, missingDelay, consistencySamples(tr), counted)
	assert.Equal(t, counted["link_unmatched"], float64(missingLag["live"]), "live applies without link lag = link_unmatched")
	assert.Equal(t, counted["link_stale"], float64(missingLag["replay"]), "replayed applies without link lag = link_stale")
	assert.LessOrEqual(t, counted["link_unmatched"], float64(missingDelay), "consistency delays: fewer missing than applies released unmatched")
	assert.LessOrEqual(t, float64(missingDelay), counted["link_unmatched"]+counted["link_command_unresolved"],
		"consistency delays lost without being counted")
}

func consistencySamples(tr *truth) (n int64) {
	for _, byProj := range tr.ConsistencyDelay {
		for _, s := range byProj {
			n += s.Count
		}
	}
	return n
}

// totalsCheck tells whether one scrape reached a source's totals, and if not, how far it got.
type totalsCheck func(testbed.Families) (reached bool, progress string)

// demoTotals: esdemo's commands and projection applies.
func demoTotals(tr *truth) totalsCheck {
	var applies int64
	for _, p := range tr.Projections {
		for _, ph := range p.Phases {
			applies += ph.Applies
		}
	}
	svc := map[string]string{"service_name": tr.ServiceName}
	return func(f testbed.Families) (bool, string) {
		cmds, projs := f.Sum("cqrs_command_total", svc), f.Sum("cqrs_projection_total", svc)
		return cmds == float64(tr.CommandsTotal) && projs == float64(applies),
			fmt.Sprintf("esdemo commands %v/%d, projection applies %v/%d", cmds, tr.CommandsTotal, projs, applies)
	}
}

// loadTotals: esload's commands, queries and projection applies, summed over its services (plus at most
// what was in flight when its drain ended, which the collector may have accepted).
func loadTotals(l *loadResult) totalsCheck {
	return func(f testbed.Families) (bool, string) {
		var got spangen.Counts
		for _, svc := range l.Services {
			s := map[string]string{"service_name": svc}
			got.Commands += int64(f.Sum("cqrs_command_total", s))
			got.Queries += int64(f.Sum("cqrs_query_total", s))
			got.Applies += int64(f.Sum("cqrs_projection_total", s))
		}
		want, extra := l.Stats.Sent, l.Stats.Unanswered
		within := func(got, want, extra int64) bool { return got >= want && got <= want+extra }
		return within(got.Commands, want.Commands, extra.Commands) && within(got.Queries, want.Queries, extra.Queries) &&
				within(got.Applies, want.Applies, extra.Applies),
			fmt.Sprintf("esload commands/queries/applies %d/%d, %d/%d, %d/%d (+ at most %d/%d/%d in flight at the end)",
				got.Commands, want.Commands, got.Queries, want.Queries, got.Applies, want.Applies,
				extra.Commands, extra.Queries, extra.Applies)
	}
}

// waitForMetrics scrapes url until every check is reached, then returns that scrape. Metrics are flushed
// periodically, so they trail the spans a little.
func waitForMetrics(ctx context.Context, t *testing.T, url string, checks ...totalsCheck) testbed.Families {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var last []string
	for {
		f, err := testbed.Scrape(ctx, url)
		if err == nil {
			last = last[:0]
			done := true
			for _, c := range checks {
				ok, progress := c(f)
				done = done && ok
				last = append(last, progress)
			}
			if done {
				return f
			}
		} else {
			last = []string{err.Error()}
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never reached the ground truth at %s: %s", url, strings.Join(last, "; "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// accumulator keeps the newest sample of every series any scrape showed.
type accumulator struct {
	url    string
	mu     sync.Mutex
	series map[string]map[string]*dto.Metric // family -> label set -> newest
	types  map[string]*dto.MetricFamily
}

func (a *accumulator) add(f testbed.Families) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.series == nil {
		a.series, a.types = map[string]map[string]*dto.Metric{}, map[string]*dto.MetricFamily{}
	}
	for name, fam := range f {
		if a.series[name] == nil {
			a.series[name] = map[string]*dto.Metric{}
		}
		a.types[name] = fam
		for _, m := range fam.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			a.series[name][describe(labels)] = m
		}
	}
}

// every scrapes every d until the returned stop is called.
func (a *accumulator) every(ctx context.Context, d time.Duration) (stop func()) {
	return repeat(d, func() {
		if f, err := testbed.Scrape(ctx, a.url); err == nil {
			a.add(f)
		}
	})
}

// repeat runs f every d in its own goroutine until the returned stop is called (which waits for it).
func repeat(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				f()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (a *accumulator) families() testbed.Families {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := testbed.Families{}
	for name, byLabels := range a.series {
		fam := &dto.MetricFamily{Name: a.types[name].Name, Type: a.types[name].Type}
		for _, m := range byLabels {
			fam.Metric = append(fam.Metric, m)
		}
		out[name] = fam
	}
	return out
}
