package testbed

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Families is one scrape of a Prometheus text exposition, by metric name.
type Families map[string]*dto.MetricFamily

// Scrape reads a Prometheus text exposition.
func Scrape(ctx context.Context, url string) (Families, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(body))
}

// Value finds one series whose labels include want: a counter/gauge value, or a histogram's count.
func (f Families) Value(name string, want map[string]string) (float64, bool) {
	for _, m := range f.series(name, want) {
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// HistogramSum adds up the sample sums of the histogram series whose labels include want.
func (f Families) HistogramSum(name string, want map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, m := range f.series(name, want) {
		if m.Histogram != nil {
			sum += m.GetHistogram().GetSampleSum()
			found = true
		}
	}
	return sum, found
}

// Sum adds up every series of a metric whose labels include want (histograms: their counts).
func (f Families) Sum(name string, want map[string]string) float64 {
	var total float64
	for _, m := range f.series(name, want) {
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// Has reports whether the scrape holds a metric.
func (f Families) Has(name string) bool { _, ok := f[name]; return ok }

func (f Families) series(name string, want map[string]string) []*dto.Metric {
	fam, ok := f[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		n := 0
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				n++
			}
		}
		if n == len(want) {
			out = append(out, m)
		}
	}
	return out
}

// WaitForValue scrapes url until the series reaches want, and returns that scrape.
func WaitForValue(ctx context.Context, t testing.TB, url string, within time.Duration, metric string, labels map[string]string, want float64) Families {
	t.Helper()
	deadline := time.Now().Add(within)
	var last float64
	for {
		f, err := Scrape(ctx, url)
		if err == nil {
			if v, ok := f.Value(metric, labels); ok {
				last = v
				if v == want {
					return f
				}
			}
		}
		if time.Now().After(deadline) {
			require.Failf(t, "series not reached", "%s%v = %v after %v, want %v (last scrape error: %v)", metric, labels, last, within, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
