package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-es/otelcol-es/internal/testbed"
)

// truth is the part of esdemo's ground-truth JSON the tests compare (eventsource/README.md documents it).
type truth struct {
	ServiceName    string                      `json:"service_name"`
	Commands       map[string]map[string]int64 `json:"commands"`
	CommandsTotal  int64                       `json:"commands_total"`
	EventsProduced struct {
		ByCommandType map[string]int64 `json:"by_command_type"`
	} `json:"events_produced"`
	Queries      map[string]map[string]int64 `json:"queries"`
	QueryResults map[string]*stats           `json:"query_result_size"`
	Projections  map[string]struct {
		Phases     map[string]*phaseTruth `json:"phases"`
		Checkpoint int64                  `json:"checkpoint"`
	} `json:"projections"`
	Lag              map[string]*stats            `json:"lag_ms"`
	HeadPosition     int64                        `json:"head_position"`
	SpansTotal       int64                        `json:"spans_total"`
	ConsistencyDelay map[string]map[string]*stats `json:"consistency_delay_ms"`
}

type phaseTruth struct {
	Applies        int64             `json:"applies"`
	DeadLettered   int64             `json:"dead_lettered"`
	LagByEventType map[string]*stats `json:"lag_ms_by_event_type"`
	// LagBySource: the lag by event type that each source (esdemo -lag-source) must give, from esdemo's
	// own clock readings, not from the span attributes.
	LagBySource map[string]map[string]*stats `json:"lag_ms_by_source"`
}

type stats struct {
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
}

// Lag sources (esdemo -lag-source): what the collector must compute the lag from.
const (
	lagReported       = "reported"
	lagEventTimestamp = "event_timestamp"
	lagLink           = "link"
)

// runDemo runs esdemo against an OTLP/gRPC endpoint until it exits (load duration, then drain and flush)
// and returns its ground truth.
func runDemo(ctx context.Context, t *testing.T, endpoint string, args ...string) *truth {
	t.Helper()
	tr, err := startDemo(ctx, t, endpoint, args...)()
	require.NoError(t, err)
	return tr
}

// startDemo starts esdemo and returns a wait for its ground truth, which any goroutine may call (it does
// not fail the test itself).
func startDemo(ctx context.Context, t *testing.T, endpoint string, args ...string) (wait func() (*truth, error)) {
	out := filepath.Join(t.TempDir(), "truth.json")
	logs := &testbed.SyncBuffer{}
	cmd := exec.CommandContext(ctx, demoBin, append([]string{"-endpoint", endpoint, "-out", out}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("esdemo output:\n%s", logs)
		}
	})
	err := cmd.Start()
	return func() (*truth, error) {
		if err != nil {
			return nil, err
		}
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("esdemo: %w: %s", err, logs)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			return nil, err
		}
		var tr truth
		if err := json.Unmarshal(b, &tr); err != nil {
			return nil, err
		}
		if tr.SpansTotal == 0 || tr.CommandsTotal == 0 {
			return nil, fmt.Errorf("esdemo sent no spans or ran no command: %s", logs)
		}
		return &tr, nil
	}
}

// metricSource answers the questions the comparisons ask, from one scrape or from Prometheus over several
// collectors: the total of a counter (or a histogram's count) and a histogram's sum, over every series whose
// labels include want.
type metricSource interface {
	total(name string, want map[string]string) float64
	histSum(name string, want map[string]string) float64
}

// scrape is one collector's /metrics.
type scrape testbed.Families

func (s scrape) total(name string, want map[string]string) float64 {
	return testbed.Families(s).Sum(name, want)
}

func (s scrape) histSum(name string, want map[string]string) float64 {
	var sum float64
	fam, ok := s[name]
	if !ok {
		return 0
	}
	for _, m := range fam.GetMetric() {
		if m.Histogram != nil && labelsInclude(m.GetLabel(), want) {
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return sum
}

func labelsInclude[L interface {
	GetName() string
	GetValue() string
}](labels []L, want map[string]string) bool {
	n := 0
	for _, lp := range labels {
		if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// checkAgainstTruth compares the CQRS metrics with esdemo's ground truth: every count exactly, lag and
// consistency-delay sums to float precision. lagSource is the esdemo -lag-source the collector saw: with
// reported the lag is the span's own cqrs.projection.lag_ms (pass-through); otherwise the collector
// computed it, and it is compared with what esdemo measured on its own clock.
func checkAgainstTruth(t *testing.T, src metricSource, tr *truth, lagSource string) {
	checkAgainstTruthExceptDelay(t, src, tr, lagSource)
	checkConsistencyDelay(t, src, tr, true)
}

// lagTruth is the lag by event type the collector must report for one projection phase.
func lagTruth(ph *phaseTruth, lagSource string) map[string]*stats {
	if lagSource == lagReported {
		return ph.LagByEventType
	}
	return ph.LagBySource[lagSource]
}

// checkAgainstTruthExceptDelay is checkAgainstTruth without the consistency delay.
func checkAgainstTruthExceptDelay(t *testing.T, src metricSource, tr *truth, lagSource string) {
	t.Helper()
	svc := map[string]string{"service_name": tr.ServiceName}
	with := func(kv ...string) map[string]string {
		m := map[string]string{"service_name": tr.ServiceName}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, typ := range sortedKeys(tr.Commands) {
		for _, status := range sortedKeys(tr.Commands[typ]) {
			want := float64(tr.Commands[typ][status])
			l := with("command_type", typ, "command_status", status)
			assert.Equalf(t, want, src.total("cqrs_command_total", l), "cqrs_command_total%v", l)
			assert.Equalf(t, want, src.total("cqrs_command_duration", l), "cqrs_command_duration count%v", l)
		}
	}
	assert.Equal(t, float64(tr.CommandsTotal), src.total("cqrs_command_total", svc), "cqrs_command_total summed over series")
	for _, typ := range sortedKeys(tr.EventsProduced.ByCommandType) {
		l := with("command_type", typ)
		assert.Equalf(t, float64(tr.EventsProduced.ByCommandType[typ]), src.total("cqrs_events_produced", l), "cqrs_events_produced%v", l)
	}
	for _, typ := range sortedKeys(tr.Queries) {
		for _, status := range sortedKeys(tr.Queries[typ]) {
			l := with("query_type", typ, "query_status", status)
			assert.Equalf(t, float64(tr.Queries[typ][status]), src.total("cqrs_query_total", l), "cqrs_query_total%v", l)
		}
	}
	for _, typ := range sortedKeys(tr.QueryResults) {
		l := with("query_type", typ)
		assert.Equalf(t, float64(tr.QueryResults[typ].Count), src.total("cqrs_query_result_size", l), "cqrs_query_result_size count%v", l)
		assertClose(t, tr.QueryResults[typ].Sum, src.histSum("cqrs_query_result_size", l), 0, "cqrs_query_result_size sum%v", l)
	}
	for _, name := range sortedKeys(tr.Projections) {
		p := tr.Projections[name]
		var applies, dead int64
		for _, phase := range sortedKeys(p.Phases) {
			ph := p.Phases[phase]
			applies += ph.Applies
			dead += ph.DeadLettered
			metric := map[string]string{"live": "cqrs_projection_lag", "replay": "cqrs_projection_replay_lag"}[phase]
			require.NotEmptyf(t, metric, "unknown phase %q in the ground truth", phase)
			lag := lagTruth(ph, lagSource)
			require.NotEmptyf(t, lag, "no %s lag for %s %s in the ground truth", lagSource, name, phase)
			for _, et := range sortedKeys(lag) {
				s := lag[et]
				l := with("projection_name", name, "event_type", et)
				assert.Equalf(t, float64(s.Count), src.total(metric, l), "%s count%v (lag source %s)", metric, l, lagSource)
				assertClose(t, s.Sum, src.histSum(metric, l), 0, "%s sum%v (lag source %s)", metric, l, lagSource)
			}
		}
		l := with("projection_name", name)
		assert.Equalf(t, float64(applies), src.total("cqrs_projection_total", l), "cqrs_projection_total%v (every phase)", l)
		assert.Equalf(t, float64(dead), src.total("cqrs_projection_total", with("projection_name", name, "status", "error")),
			"cqrs_projection_total%v status=error = dead-lettered applies", l)
	}
}

// checkConsistencyDelay compares cqrs_consistency_delay with the ground truth and returns how many samples
// are missing. exact: every sample is there. Otherwise samples may be missing (their producer or command
// span was evicted from projectionlag's bounded link store before the apply came) but none is invented,
// and a series with every sample also has the right sum.
func checkConsistencyDelay(t *testing.T, src metricSource, tr *truth, exact bool) (missing int64) {
	t.Helper()
	for _, cmd := range sortedKeys(tr.ConsistencyDelay) {
		for _, proj := range sortedKeys(tr.ConsistencyDelay[cmd]) {
			s := tr.ConsistencyDelay[cmd][proj]
			l := map[string]string{"service_name": tr.ServiceName, "command_type": cmd, "projection_name": proj}
			got := src.total("cqrs_consistency_delay", l)
			if exact {
				assert.Equalf(t, float64(s.Count), got, "cqrs_consistency_delay count%v", l)
			} else {
				assert.LessOrEqualf(t, got, float64(s.Count), "cqrs_consistency_delay count%v: more samples than the ground truth", l)
				missing += s.Count - int64(got)
				if got != float64(s.Count) {
					continue
				}
			}
			// esdemo takes both ends from the spans it ended: exact, to float rounding.
			assertClose(t, s.Sum, src.histSum("cqrs_consistency_delay", l), 0, "cqrs_consistency_delay sum%v", l)
		}
	}
	return missing
}

// assertClose allows abs plus a relative 1e-9 for the order in which float sums were added.
func assertClose(t *testing.T, want, got, abs float64, msg string, args ...any) {
	t.Helper()
	tol := abs + 1e-9*math.Abs(want)
	assert.InDeltaf(t, want, got, tol, msg, args...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// acceptedSpans sums otelcol_receiver_accepted_spans (every transport) of one receiver from a collector's
// own telemetry.
func acceptedSpans(ctx context.Context, c *testbed.Collector, receiver string) (accepted, refused float64, err error) {
	f, err := testbed.Scrape(ctx, "http://"+c.Telemetry+"/metrics")
	if err != nil {
		return 0, 0, err
	}
	l := map[string]string{"receiver": receiver}
	return f.Sum("otelcol_receiver_accepted_spans", l), f.Sum("otelcol_receiver_refused_spans", l), nil
}

func describe(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
