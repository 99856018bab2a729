package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type families map[string]*dto.MetricFamily

// snapshot is one scrape of both endpoints; a failed scrape leaves its families nil.
type snapshot struct {
	at          time.Time
	cqrs, tel   families
	err, telErr error
}

func scrapeAll(ctx context.Context, client *http.Client, metricsURL, telemetryURL string) snapshot {
	s := snapshot{at: time.Now()}
	s.cqrs, s.err = scrape(ctx, client, metricsURL)
	if telemetryURL != "" {
		s.tel, s.telErr = scrape(ctx, client, telemetryURL)
	}
	return s
}

func scrape(ctx context.Context, client *http.Client, url string) (families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parse(body)
}

func parse(body []byte) (families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// view is one table: rates and quantiles over the interval between two snapshots. NaN means "no data".
type view struct {
	errs        []string
	collector   *collectorRow
	commands    []commandRow
	queries     []queryRow
	projections []projectionRow
}

// collectorRow: span intake, and projectionlag's joins waiting for a late producer (pending) and those that
// ended without it (unmatched, since the collector started).
type collectorRow struct{ accepted, refused, pending, unmatched float64 }

type commandRow struct {
	typ              string
	perSec, errRatio float64
}

type queryRow struct {
	typ         string
	perSec, p95 float64
}

type projectionRow struct {
	name                   string
	perSec, lagP99, behind float64
	state                  string
}

// derive computes the table from two consecutive snapshots. Counters are summed over services, statuses and
// collectors by the type or projection name; a counter that went down (a restarted collector, an expired
// series) counts from zero.
func derive(prev, cur snapshot) view {
	var v view
	if cur.err != nil {
		v.errs = append(v.errs, "cqrs metrics: "+cur.err.Error())
	}
	if cur.telErr != nil {
		v.errs = append(v.errs, "collector telemetry: "+cur.telErr.Error())
	}
	dt := cur.at.Sub(prev.at).Seconds()
	ratesKnown := prev.cqrs != nil && cur.cqrs != nil && dt > 0

	if cur.tel != nil {
		c := &collectorRow{accepted: math.NaN(), refused: math.NaN(),
			pending:   sumBy(cur.tel, "otelcol_processor_projectionlag_link_pending", "", nil)[""],
			unmatched: sumBy(cur.tel, "otelcol_processor_projectionlag_link_unmatched", "", nil)[""]}
		if prev.tel != nil && dt > 0 {
			c.accepted = rates(prev.tel, cur.tel, "otelcol_receiver_accepted_spans", "", nil, dt)[""]
			c.refused = rates(prev.tel, cur.tel, "otelcol_receiver_refused_spans", "", nil, dt)[""]
		}
		v.collector = c
	}
	if cur.cqrs == nil {
		return v
	}

	cmds := sumBy(cur.cqrs, "cqrs_command_total", "command_type", nil)
	for _, typ := range keys(cmds) {
		row := commandRow{typ: typ, perSec: math.NaN(), errRatio: math.NaN()}
		if ratesKnown {
			all := rates(prev.cqrs, cur.cqrs, "cqrs_command_total", "command_type", nil, dt)[typ]
			failed := rates(prev.cqrs, cur.cqrs, "cqrs_command_total", "command_type", map[string]string{"command_status": "error"}, dt)[typ]
			row.perSec = all
			if all > 0 {
				row.errRatio = failed / all
			}
		}
		v.commands = append(v.commands, row)
	}

	queries := sumBy(cur.cqrs, "cqrs_query_total", "query_type", nil)
	for _, typ := range keys(queries) {
		row := queryRow{typ: typ, perSec: math.NaN(), p95: math.NaN()}
		if ratesKnown {
			row.perSec = rates(prev.cqrs, cur.cqrs, "cqrs_query_total", "query_type", nil, dt)[typ]
			row.p95 = quantile(0.95, bucketDelta(prev.cqrs, cur.cqrs, "cqrs_query_duration", "query_type", typ))
		}
		v.queries = append(v.queries, row)
	}

	names := map[string]bool{}
	for _, m := range []string{"cqrs_projection_total", "cqrs_projection_state", "cqrs_projection_positions_behind"} {
		for k := range sumBy(cur.cqrs, m, "projection_name", nil) {
			names[k] = true
		}
	}
	behind := maxBy(cur.cqrs, "cqrs_projection_positions_behind", "projection_name")
	for _, name := range keys(names) {
		row := projectionRow{name: name, perSec: math.NaN(), lagP99: math.NaN(), behind: math.NaN(), state: projectionState(cur.cqrs, name)}
		if b, ok := behind[name]; ok {
			row.behind = b
		}
		if ratesKnown {
			if r, ok := rates(prev.cqrs, cur.cqrs, "cqrs_projection_total", "projection_name", nil, dt)[name]; ok {
				row.perSec = r
			}
			row.lagP99 = quantile(0.99, bucketDelta(prev.cqrs, cur.cqrs, "cqrs_projection_lag", "projection_name", name))
		}
		v.projections = append(v.projections, row)
	}
	return v
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func label(m *dto.Metric, name string) (string, bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}

func matches(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		if got, ok := label(m, k); !ok || got != v {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// sumBy adds up the series of a metric matching want, by the value of one label ("" for one total).
func sumBy(f families, name, by string, want map[string]string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f[name].GetMetric() {
		if !matches(m, want) {
			continue
		}
		k := ""
		if by != "" {
			var ok bool
			if k, ok = label(m, by); !ok {
				continue
			}
		}
		out[k] += value(m)
	}
	return out
}

func maxBy(f families, name, by string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f[name].GetMetric() {
		if k, ok := label(m, by); ok {
			if cur, seen := out[k]; !seen || value(m) > cur {
				out[k] = value(m)
			}
		}
	}
	return out
}

// rates is the per-second increase of each series between two scrapes, summed by one label.
func rates(prev, cur families, name, by string, want map[string]string, dt float64) map[string]float64 {
	before := map[string]float64{}
	for _, m := range prev[name].GetMetric() {
		if matches(m, want) {
			before[seriesKey(m)] = value(m)
		}
	}
	out := map[string]float64{}
	for _, m := range cur[name].GetMetric() {
		if !matches(m, want) {
			continue
		}
		k := ""
		if by != "" {
			var ok bool
			if k, ok = label(m, by); !ok {
				continue
			}
		}
		inc := value(m) - before[seriesKey(m)]
		if inc < 0 {
			inc = value(m) // reset
		}
		out[k] += inc / dt
	}
	return out
}

func seriesKey(m *dto.Metric) string {
	var b bytes.Buffer
	for _, l := range m.GetLabel() {
		b.WriteString(l.GetName())
		b.WriteByte(0)
		b.WriteString(l.GetValue())
		b.WriteByte(0)
	}
	return b.String()
}

type bucket struct{ upper, count float64 }

// bucketDelta is the increase of each cumulative bucket of a histogram over the series whose label by equals
// key, summed over the other labels.
func bucketDelta(prev, cur families, name, by, key string) []bucket {
	before := map[string]*dto.Histogram{}
	for _, m := range prev[name].GetMetric() {
		before[seriesKey(m)] = m.GetHistogram()
	}
	sum := map[float64]float64{}
	for _, m := range cur[name].GetMetric() {
		if k, ok := label(m, by); !ok || k != key || m.GetHistogram() == nil {
			continue
		}
		h, p := m.GetHistogram(), before[seriesKey(m)]
		reset := p != nil && p.GetSampleCount() > h.GetSampleCount()
		old := map[float64]float64{}
		if p != nil && !reset {
			for _, b := range p.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) { // +Inf is the sample count, below
					old[b.GetUpperBound()] = float64(b.GetCumulativeCount())
				}
			}
			old[math.Inf(1)] = float64(p.GetSampleCount())
		}
		for _, b := range h.GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				sum[b.GetUpperBound()] += float64(b.GetCumulativeCount()) - old[b.GetUpperBound()]
			}
		}
		sum[math.Inf(1)] += float64(h.GetSampleCount()) - old[math.Inf(1)]
	}
	out := make([]bucket, 0, len(sum))
	for u, c := range sum {
		out = append(out, bucket{u, c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].upper < out[j].upper })
	return out
}

// quantile interpolates linearly inside the bucket holding the q-th observation, as PromQL's
// histogram_quantile does; NaN without observations.
func quantile(q float64, buckets []bucket) float64 {
	if len(buckets) == 0 || buckets[len(buckets)-1].count <= 0 {
		return math.NaN()
	}
	total := buckets[len(buckets)-1].count
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		if b.count >= rank {
			if math.IsInf(b.upper, 1) {
				return lower // above the highest finite bound: that bound
			}
			if b.count == below {
				return b.upper
			}
			return lower + (b.upper-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.upper, b.count
	}
	return lower
}

var stateRank = map[string]int{"ok": 0, "lagging": 1, "stalled": 2, "stopped": 3}

// projectionState is the worst current state any collector reports for a projection ("-" if none).
func projectionState(f families, name string) string {
	state, rank := "-", -1
	for _, m := range f["cqrs_projection_state"].GetMetric() {
		if n, _ := label(m, "projection_name"); n != name || value(m) != 1 {
			continue
		}
		s, _ := label(m, "state")
		if r, ok := stateRank[s]; ok && r > rank {
			state, rank = s, r
		}
	}
	return state
}

func render(w io.Writer, v view) {
	for _, e := range v.errs {
		fmt.Fprintln(w, "! "+e)
	}
	if c := v.collector; c != nil {
		fmt.Fprintf(w, "spans in %s/s  refused %s/s  late joins pending %s  unmatched %s\n",
			num(c.accepted, 1), num(c.refused, 1), num(c.pending, 0), num(c.unmatched, 0))
	}
	if len(v.commands)+len(v.queries)+len(v.projections) == 0 && len(v.errs) == 0 {
		fmt.Fprintln(w, "(no cqrs_* series yet: send spans to the collector)")
	}
	if len(v.commands) > 0 {
		t := [][]string{{"COMMAND", "/s", "errors"}}
		for _, c := range v.commands {
			t = append(t, []string{c.typ, num(c.perSec, 1), pct(c.errRatio)})
		}
		table(w, t)
	}
	if len(v.queries) > 0 {
		t := [][]string{{"QUERY", "/s", "p95 ms"}}
		for _, q := range v.queries {
			t = append(t, []string{q.typ, num(q.perSec, 1), ms(q.p95)})
		}
		table(w, t)
	}
	if len(v.projections) > 0 {
		t := [][]string{{"PROJECTION", "applies/s", "lag p99 ms", "behind", "state"}}
		for _, p := range v.projections {
			t = append(t, []string{p.name, num(p.perSec, 1), ms(p.lagP99), num(p.behind, 0), p.state})
		}
		table(w, t)
	}
}

// table prints rows after a blank line: the first column left-aligned, the others right-aligned, the last
// left-aligned when it is text (a state).
func table(w io.Writer, rows [][]string) {
	width := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				b.WriteString(c + pad)
			case i == len(r)-1 && rows[0][i] == "state":
				b.WriteString("  " + c)
			default:
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func num(f float64, prec int) string {
	if math.IsNaN(f) {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', prec, 64)
}

func pct(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return strconv.FormatFloat(100*f, 'f', 1, 64) + "%"
}

func ms(f float64) string {
	switch {
	case math.IsNaN(f):
		return "-"
	case f < 10:
		return strconv.FormatFloat(f, 'f', 2, 64)
	default:
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
}
