package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.yaml.in/yaml/v3"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// Every Prometheus exporter of the shipped configs offers OpenMetrics, the only exposition format that carries
// exemplars.
func TestShippedPrometheusExportersOfferOpenMetrics(t *testing.T) {
	n := 0
	for _, file := range shippedConfigs(t) {
		raw, err := os.ReadFile(file)
		require.NoError(t, err)
		var doc struct {
			Exporters map[string]map[string]any `yaml:"exporters"`
		}
		require.NoError(t, yaml.Unmarshal(raw, &doc))
		for id, cfg := range doc.Exporters {
			if id == "prometheus" || strings.HasPrefix(id, "prometheus/") {
				n++
				assert.Equalf(t, true, cfg["enable_open_metrics"], "%s: exporters.%s.enable_open_metrics", filepath.Base(file), id)
			}
		}
	}
	require.Positive(t, n, "no Prometheus exporter in the shipped configs")
}

// traceIDs remembers the trace ids sent, for checking that an exemplar points at a real trace.
type traceIDs struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *traceIDs) add(td ptrace.Traces) {
	s.mu.Lock()
	defer s.mu.Unlock()
	eachSpan(td, func(sp ptrace.Span) { s.ids[sp.TraceID().String()] = true })
}

func (s *traceIDs) has(id string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.ids[id] }

// keepSending sends seed 000's traces (fresh ids) to the collector every interval until the test ends: exemplars
// are the newest spans of each flush interval, so a scrape finds them only while spans keep coming.
func keepSending(ctx context.Context, t *testing.T, c *tb.Collector, interval time.Duration) *traceIDs {
	sent := &traceIDs{ids: map[string]bool{}}
	seed := tb.LoadTraces(t, "cqrs-conventions-traces.json")
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	first := withTimesNow(tb.WithFreshIDs(seed))
	sent.add(first)
	tb.Send(ctx, t, c, tb.GRPC, first)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(interval):
			}
			td := withTimesNow(tb.WithFreshIDs(seed))
			sent.add(td)
			body, err := ptraceotlpJSON(td)
			if err == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.HTTP+"/v1/traces", strings.NewReader(string(body)))
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	})
	return sent
}

// withTimesNow moves every timestamp of td by one offset so that its first span starts now: Prometheus keeps
// only exemplars newer than the ones it has for a series, and their timestamps are the spans'.
func withTimesNow(td ptrace.Traces) ptrace.Traces {
	var first pcommon.Timestamp
	eachSpan(td, func(s ptrace.Span) {
		if first == 0 || s.StartTimestamp() < first {
			first = s.StartTimestamp()
		}
	})
	shift := func(ts pcommon.Timestamp) pcommon.Timestamp {
		return ts - first + pcommon.NewTimestampFromTime(time.Now())
	}
	eachSpan(td, func(s ptrace.Span) {
		s.SetStartTimestamp(shift(s.StartTimestamp()))
		s.SetEndTimestamp(shift(s.EndTimestamp()))
		for i := 0; i < s.Events().Len(); i++ {
			s.Events().At(i).SetTimestamp(shift(s.Events().At(i).Timestamp()))
		}
	})
	return td
}

func eachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}

func ptraceotlpJSON(td ptrace.Traces) ([]byte, error) {
	return (&ptrace.JSONMarshaler{}).MarshalTraces(td)
}

// An OpenMetrics exemplar: `name{labels} value # {trace_id="...",span_id="..."} value timestamp`.
var exemplarLine = regexp.MustCompile(`^([a-z_]+)\{[^}]*\} \S+ # \{([^}]*)\} `)
var exemplarTraceID = regexp.MustCompile(`trace_id="([0-9a-f]{32})"`)

// scrapeExemplars returns the trace ids of the exemplars on each metric of an exposition, and its content type.
func scrapeExemplars(ctx context.Context, target, accept string) (map[string][]string, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, "", err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if m := exemplarLine.FindStringSubmatch(line); m != nil {
			if id := exemplarTraceID.FindStringSubmatch(m[2]); id != nil {
				out[m[1]] = append(out[m[1]], id[1])
			}
		}
	}
	return out, resp.Header.Get("Content-Type"), nil
}

const openMetricsAccept = "application/openmetrics-text;version=1.0.0"

// Exemplars reach Prometheus: the default config's /metrics, scraped as OpenMetrics, carries trace_id exemplars
// on the projection lag and query duration histograms, each the id of a trace that was sent; the plain text
// format carries none and the same names; a real Prometheus with exemplar storage returns them from
// /api/v1/query_exemplars.
func TestExemplarsReachPrometheus(t *testing.T) {
	promBin := tb.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	prom := tb.StartPrometheus(t, promBin, []string{c.Prom}, "--enable-feature=exemplar-storage")
	sent := keepSending(ctx, t, c, time.Second)

	histograms := []string{"cqrs_projection_lag_bucket", "cqrs_query_duration_bucket"}
	metricsURL := "http://" + c.Prom + "/metrics"
	var last map[string][]string
	var contentType string
	require.Eventually(t, func() bool {
		var err error
		last, contentType, err = scrapeExemplars(ctx, metricsURL, openMetricsAccept)
		if err != nil {
			return false
		}
		for _, h := range histograms {
			if len(last[h]) == 0 {
				return false
			}
		}
		return true
	}, 90*time.Second, 500*time.Millisecond, "no trace_id exemplar on %v in an OpenMetrics scrape; last: %v", histograms, last)
	assert.Contains(t, contentType, "application/openmetrics-text")
	for _, h := range histograms {
		for _, id := range last[h] {
			assert.Truef(t, sent.has(id), "%s: exemplar trace_id %s is no trace that was sent", h, id)
		}
	}

	plain, plainType, err := scrapeExemplars(ctx, metricsURL, "")
	require.NoError(t, err)
	assert.Contains(t, plainType, "text/plain")
	assert.Empty(t, plain, "exemplars in the plain text format")
	f, err := tb.Scrape(ctx, metricsURL)
	require.NoError(t, err)
	for _, name := range []string{"cqrs_command_total", "cqrs_events_produced", "cqrs_projection_lag", "cqrs_query_duration"} {
		assert.Truef(t, f.Has(name), "%s missing from the text exposition", name)
	}

	for _, h := range histograms {
		t.Run("query_exemplars "+h, func(t *testing.T) {
			var got []promExemplar
			require.Eventually(t, func() bool {
				got, err = queryExemplars(ctx, prom, h, time.Now().Add(-5*time.Minute), time.Now())
				return err == nil && len(got) > 0
			}, 90*time.Second, 500*time.Millisecond, "Prometheus returned no exemplar for %s (last error: %v)", h, err)
			for _, e := range got {
				assert.Regexp(t, `^[0-9a-f]{32}$`, e.Labels["trace_id"])
				assert.Regexp(t, `^[0-9a-f]{16}$`, e.Labels["span_id"])
				assert.Truef(t, sent.has(e.Labels["trace_id"]), "%s: exemplar trace_id %s is no trace that was sent", h, e.Labels["trace_id"])
			}
			t.Logf("%s: %d exemplars, e.g. %+v", h, len(got), got[0])
		})
	}
}

type promExemplar struct {
	Labels map[string]string `json:"labels"`
	Value  string            `json:"value"`
}

// queryExemplars calls Prometheus's /api/v1/query_exemplars and returns every exemplar of every series.
func queryExemplars(ctx context.Context, base, promql string, start, end time.Time) ([]promExemplar, error) {
	var data []struct {
		Exemplars []promExemplar `json:"exemplars"`
	}
	params := url.Values{"query": {promql}, "start": {strconv.FormatInt(start.Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}}
	if err := tb.API(ctx, base, "/api/v1/query_exemplars", params, &data); err != nil {
		return nil, err
	}
	var out []promExemplar
	for _, s := range data {
		out = append(out, s.Exemplars...)
	}
	return out, nil
}

// Every histogram family in milliseconds (durations, lags, consistency delay) of every shipped config that
// exports Prometheus carries trace_id exemplars in an OpenMetrics scrape, each the id of a trace that was
// sent: default.yaml, sampled.yaml, and split-sides.yaml's three side endpoints. (cqrs_query_result_size counts
// items, and carries none by design.)
func TestExemplarsOnEveryHistogramOfEveryPrometheusConfig(t *testing.T) {
	for _, tc := range []struct {
		file      string
		endpoints func(c *tb.Collector) []string
	}{
		{"default.yaml", func(c *tb.Collector) []string { return []string{c.Prom} }},
		{"sampled.yaml", func(c *tb.Collector) []string { return []string{c.Prom} }},
		{"split-sides.yaml", func(c *tb.Collector) []string { return []string{c.PromWrite, c.PromRead, c.PromProjection} }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			backend := tb.StartTraceSink(t)
			c := tb.StartCollector(t, collectorBin, []string{"OTELCOL_ES_BACKEND=" + backend.Addr},
				"--config", filepath.Join("..", "config", tc.file))
			c.WaitReady(t)
			sent := keepSending(ctx, t, c, time.Second)
			families := 0
			for _, ep := range tc.endpoints(c) {
				target := "http://" + ep + "/metrics"
				var missing []string
				var exemplars map[string][]string
				require.Eventuallyf(t, func() bool {
					f, err := tb.Scrape(ctx, target)
					if err != nil {
						return false
					}
					exemplars, _, err = scrapeExemplars(ctx, target, openMetricsAccept)
					if err != nil {
						return false
					}
					missing = missing[:0]
					n := 0
					for name, mf := range f {
						if mf.GetType() != dto.MetricType_HISTOGRAM || !strings.HasPrefix(name, "cqrs_") || name == "cqrs_query_result_size" {
							continue
						}
						n++
						if len(exemplars[name+"_bucket"]) == 0 {
							missing = append(missing, name)
						}
					}
					families = max(families, n)
					return n > 0 && len(missing) == 0
				}, 90*time.Second, 500*time.Millisecond, "%s: histograms without an exemplar: %v", target, &missing)
				for name, ids := range exemplars {
					for _, id := range ids {
						assert.Truef(t, sent.has(id), "%s %s: exemplar trace_id %s is no trace that was sent", target, name, id)
					}
				}
			}
			t.Logf("%s: exemplars on every histogram family (%d on its largest endpoint)", tc.file, families)
		})
	}
}
