package reliability

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// TestSoak (R1) runs esdemo against otelcol-es on its default config for -soak.duration (CI: 1m,
// `make soak`: 10m) and accounts for everything sent: spans sent = otelcol_receiver_accepted_spans, and
// every command, query, projection apply and lag sample of the demo's ground truth is in the CQRS metrics.
func TestSoak(t *testing.T) {
	d := *soakDuration
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Minute)
	defer cancel()
	c := testbed.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)

	// The connector drops a series after series_expiry (5m) without data, and the exporter stops exposing
	// it 5m later: a soak outlives rare series (StockAdded only happens at start). Keep what every scrape
	// showed, as Prometheus would.
	acc := &accumulator{url: "http://" + c.Prom + "/metrics"}
	stopAcc := acc.every(ctx, 10*time.Second)
	tr := runDemo(ctx, t, c.GRPC, "-duration", d.String(), "-rate", fmt.Sprint(*soakRate),
		"-query-rate", fmt.Sprint(*soakRate/2), "-replay-after", (d / 2).String(),
		// Some apply attempts fail and are retried (a few may be dead-lettered): error paths are accounted too.
		"-projection-error-ratio", "0.01", "-service-name", "soak")
	t.Logf("esdemo: %d spans, %d commands, head position %d", tr.SpansTotal, tr.CommandsTotal, tr.HeadPosition)

	// The demo flushed its exporter before it exited: the receiver has counted every span already.
	accepted, refused, err := acceptedSpans(ctx, c, "otlp")
	require.NoError(t, err)
	assert.Equal(t, float64(tr.SpansTotal), accepted, "spans sent (esdemo spans_total) = otelcol_receiver_accepted_spans")
	assert.Zero(t, refused, "otelcol_receiver_refused_spans")

	stopAcc()
	acc.add(waitForTruth(ctx, t, "http://"+c.Prom+"/metrics", tr))
	mf := acc.families()
	checkAgainstTruth(t, scrape(mf), tr)
	for name := range tr.Projections {
		behind, ok := mf.Value("cqrs_projection_positions_behind", map[string]string{"projection_name": name, "service_name": tr.ServiceName})
		if assert.Truef(t, ok, "no cqrs_projection_positions_behind for %s", name) {
			assert.Zerof(t, behind, "%s positions behind at exit (the demo drained every projection)", name)
		}
	}
}

// waitForTruth scrapes url until the headline totals (commands, projection applies) reach the ground
// truth, then returns that scrape. Metrics are flushed periodically, so they trail the spans a little.
func waitForTruth(ctx context.Context, t *testing.T, url string, tr *truth) testbed.Families {
	t.Helper()
	var applies int64
	for _, p := range tr.Projections {
		for _, ph := range p.Phases {
			applies += ph.Applies
		}
	}
	svc := map[string]string{"service_name": tr.ServiceName}
	deadline := time.Now().Add(90 * time.Second)
	var last string
	for {
		f, err := testbed.Scrape(ctx, url)
		if err == nil {
			cmds, projs := f.Sum("cqrs_command_total", svc), f.Sum("cqrs_projection_total", svc)
			if cmds == float64(tr.CommandsTotal) && projs == float64(applies) {
				return f
			}
			last = fmt.Sprintf("commands %v/%d, projection applies %v/%d", cmds, tr.CommandsTotal, projs, applies)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never reached the ground truth at %s: %s", url, last)
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

// every scrapes until the returned stop is called.
func (a *accumulator) every(ctx context.Context, d time.Duration) (stop func()) {
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
				if f, err := testbed.Scrape(ctx, a.url); err == nil {
					a.add(f)
				}
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
