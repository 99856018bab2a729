package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const before = `# TYPE cqrs_command_total counter
cqrs_command_total{service_name="a",command_type="PlaceOrder",command_status="success"} 100
cqrs_command_total{service_name="a",command_type="PlaceOrder",command_status="error"} 10
cqrs_command_total{service_name="b",command_type="PlaceOrder",command_status="success"} 50
cqrs_command_total{service_name="a",command_type="CancelOrder",command_status="success"} 500
# TYPE cqrs_query_total counter
cqrs_query_total{service_name="a",query_type="GetOrder",query_status="success"} 20
# TYPE cqrs_query_duration histogram
cqrs_query_duration_bucket{service_name="a",query_type="GetOrder",query_status="success",le="1"} 10
cqrs_query_duration_bucket{service_name="a",query_type="GetOrder",query_status="success",le="5"} 20
cqrs_query_duration_bucket{service_name="a",query_type="GetOrder",query_status="success",le="+Inf"} 20
cqrs_query_duration_sum{service_name="a",query_type="GetOrder",query_status="success"} 30
cqrs_query_duration_count{service_name="a",query_type="GetOrder",query_status="success"} 20
# TYPE cqrs_projection_total counter
cqrs_projection_total{service_name="a",projection_name="order_summary",status="success"} 1000
# TYPE cqrs_projection_lag histogram
cqrs_projection_lag_bucket{service_name="a",projection_name="order_summary",event_type="OrderPlaced",le="10"} 900
cqrs_projection_lag_bucket{service_name="a",projection_name="order_summary",event_type="OrderPlaced",le="100"} 1000
cqrs_projection_lag_bucket{service_name="a",projection_name="order_summary",event_type="OrderPlaced",le="+Inf"} 1000
cqrs_projection_lag_sum{service_name="a",projection_name="order_summary",event_type="OrderPlaced"} 5000
cqrs_projection_lag_count{service_name="a",projection_name="order_summary",event_type="OrderPlaced"} 1000
`

// 10 s later: PlaceOrder +40 (a: +30 success, +10 error; b: +0), CancelOrder's collector restarted (its counter
// starts again at 20), GetOrder +100 queries (all in (1, 5]), order_summary +100 applies with lags in
// (10, 100] and (100, +Inf), a new projection that reports only positions and state.
const after = `# TYPE cqrs_command_total counter
cqrs_command_total{service_name="a",command_type="PlaceOrder",command_status="success"} 130
cqrs_command_total{service_name="a",command_type="PlaceOrder",command_status="error"} 20
cqrs_command_total{service_name="b",command_type="PlaceOrder",command_status="success"} 50
cqrs_command_total{service_name="a",command_type="CancelOrder",command_status="success"} 20
# TYPE cqrs_query_total counter
cqrs_query_total{service_name="a",query_type="GetOrder",query_status="success"} 120
# TYPE cqrs_query_duration histogram
cqrs_query_duration_bucket{service_name="a",query_type="GetOrder",query_status="success",le="1"} 10
cqrs_query_duration_bucket{service_name="a",query_type="GetOrder",query_status="success",le="5"} 120
cqrs_query_duration_bucket{service_name="a",query_type="GetOrder",query_status="success",le="+Inf"} 120
cqrs_query_duration_sum{service_name="a",query_type="GetOrder",query_status="success"} 330
cqrs_query_duration_count{service_name="a",query_type="GetOrder",query_status="success"} 120
# TYPE cqrs_projection_total counter
cqrs_projection_total{service_name="a",projection_name="order_summary",status="success"} 1100
# TYPE cqrs_projection_lag histogram
cqrs_projection_lag_bucket{service_name="a",projection_name="order_summary",event_type="OrderPlaced",le="10"} 900
cqrs_projection_lag_bucket{service_name="a",projection_name="order_summary",event_type="OrderPlaced",le="100"} 1090
cqrs_projection_lag_bucket{service_name="a",projection_name="order_summary",event_type="OrderPlaced",le="+Inf"} 1100
cqrs_projection_lag_sum{service_name="a",projection_name="order_summary",event_type="OrderPlaced"} 9000
cqrs_projection_lag_count{service_name="a",projection_name="order_summary",event_type="OrderPlaced"} 1100
# TYPE cqrs_projection_positions_behind gauge
cqrs_projection_positions_behind{service_name="a",projection_name="order_summary",otelcol_instance_id="x"} 3
cqrs_projection_positions_behind{service_name="a",projection_name="order_summary",otelcol_instance_id="y"} 7
cqrs_projection_positions_behind{service_name="a",projection_name="inventory_levels"} 0
# TYPE cqrs_projection_state gauge
cqrs_projection_state{service_name="a",projection_name="order_summary",otelcol_instance_id="x",state="ok"} 1
cqrs_projection_state{service_name="a",projection_name="order_summary",otelcol_instance_id="x",state="lagging"} 0
cqrs_projection_state{service_name="a",projection_name="order_summary",otelcol_instance_id="y",state="ok"} 0
cqrs_projection_state{service_name="a",projection_name="order_summary",otelcol_instance_id="y",state="lagging"} 1
cqrs_projection_state{service_name="a",projection_name="inventory_levels",state="stopped"} 1
`

const telBefore = `# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 1000
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 0
# TYPE otelcol_receiver_refused_spans counter
otelcol_receiver_refused_spans{receiver="otlp",transport="grpc"} 0
`

const telAfter = `# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 9000
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 1000
# TYPE otelcol_receiver_refused_spans counter
otelcol_receiver_refused_spans{receiver="otlp",transport="grpc"} 50
# TYPE otelcol_processor_projectionlag_link_pending gauge
otelcol_processor_projectionlag_link_pending{processor="projectionlag"} 12
# TYPE otelcol_processor_projectionlag_link_unmatched counter
otelcol_processor_projectionlag_link_unmatched{processor="projectionlag"} 2
`

func mustParse(t *testing.T, s string) families {
	t.Helper()
	f, err := parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeriveAndRender(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := snapshot{at: t0, cqrs: mustParse(t, before), tel: mustParse(t, telBefore)}
	cur := snapshot{at: t0.Add(10 * time.Second), cqrs: mustParse(t, after), tel: mustParse(t, telAfter)}
	var b bytes.Buffer
	render(&b, derive(prev, cur))
	// PlaceOrder: 40 in 10 s, 10 of them failed. CancelOrder: reset, 20 in 10 s. GetOrder: 100 queries in
	// (1, 5]: p95 = 1 + 4 x 95/100. order_summary: 90 lags in (10, 100], 10 above, so the 99th is in
	// (100, +Inf): the highest finite bound. inventory_levels reports no applies (-).
	want := `spans in 900.0/s  refused 5.0/s  late joins pending 12  unmatched 2

COMMAND       /s  errors
CancelOrder  2.0    0.0%
PlaceOrder   4.0   25.0%

QUERY       /s  p95 ms
GetOrder  10.0    4.80

PROJECTION        applies/s  lag p99 ms  behind  state
inventory_levels          -           -       0  stopped
order_summary          10.0         100       7  lagging
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

// Without a previous scrape (the collector was not up yet) no rate is made up from cumulative totals.
func TestNoRatesWithoutPreviousScrape(t *testing.T) {
	v := derive(snapshot{err: fmt.Errorf("connection refused")}, snapshot{at: time.Now(), cqrs: mustParse(t, after)})
	for _, c := range v.commands {
		if !math.IsNaN(c.perSec) || !math.IsNaN(c.errRatio) {
			t.Errorf("%s: rate %v, ratio %v from one scrape", c.typ, c.perSec, c.errRatio)
		}
	}
	var b bytes.Buffer
	render(&b, derive(snapshot{}, snapshot{at: time.Now(), err: fmt.Errorf("connection refused")}))
	if !strings.HasPrefix(b.String(), "! cqrs metrics: connection refused") {
		t.Errorf("a failed scrape is not shown: %q", b.String())
	}
}

func TestQuantileMatchesPromQL(t *testing.T) {
	inf := math.Inf(1)
	for _, tc := range []struct {
		q    float64
		b    []bucket
		want float64
	}{
		{0.5, []bucket{{1, 0}, {2, 10}, {inf, 10}}, 1.5},     // interpolated inside (1, 2]
		{0.99, []bucket{{1, 50}, {inf, 100}}, 1},             // in +Inf: the highest finite bound
		{0.5, []bucket{{10, 4}, {20, 4}, {inf, 4}}, 5},       // first bucket interpolates from 0
		{0.95, []bucket{{1, 0}, {inf, 0}}, math.NaN()},       // no observations
		{0.95, nil, math.NaN()},                              // no histogram
		{0.5, []bucket{{1, 2}, {2, 2}, {3, 4}, {inf, 4}}, 1}, // rank reached at a bucket's edge
	} {
		got := quantile(tc.q, tc.b)
		if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.q, tc.b, got, tc.want)
		}
	}
}

// run against two HTTP endpoints: one table per interval after the first scrape, from the second scrape on.
func TestRunPrintsTables(t *testing.T) {
	var n atomic.Int32
	cqrs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			fmt.Fprint(w, before)
			return
		}
		fmt.Fprint(w, after)
	}))
	defer cqrs.Close()
	var out bytes.Buffer
	if err := run(context.Background(), &out, cqrs.URL, "", time.Millisecond, time.Second, 2, false); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "otelcol-es live view"); got != 2 {
		t.Errorf("%d tables, want 2:\n%s", got, out.String())
	}
	if !strings.Contains(out.String(), "order_summary") || strings.Contains(out.String(), "spans in") {
		t.Errorf("unexpected table:\n%s", out.String())
	}
}

// A table compares with the oldest scrape inside -window, not with the one before it: spanmetrics_es updates
// its series once per flush, so a scrape right after another often sees the same values, and a rate between
// those two alone would read 0.
func TestRunRatesOverWindowNotLastScrape(t *testing.T) {
	var n atomic.Int32
	cqrs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1) == 1 {
			fmt.Fprint(w, before)
			return
		}
		fmt.Fprint(w, after) // unchanged from the second scrape on, as between two flushes
	}))
	defer cqrs.Close()
	var out bytes.Buffer
	if err := run(context.Background(), &out, cqrs.URL, "", time.Millisecond, time.Hour, 3, false); err != nil {
		t.Fatal(err)
	}
	last := out.String()[strings.LastIndex(out.String(), "otelcol-es live view"):]
	if !regexp.MustCompile(`PlaceOrder +[1-9][0-9.]* `).MatchString(last) {
		t.Errorf("the third table lost the rate seen over the window:\n%s", out.String())
	}
}
