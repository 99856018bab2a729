package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Exemplar   bool           `json:"exemplar"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

// loadDashboard reads deploy/grafana/otelcol-es.json and returns its panels that query (rows unfolded).
func loadDashboard(t *testing.T) (grafanaDashboard, []grafanaPanel) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "otelcol-es.json"))
	require.NoError(t, err)
	var d grafanaDashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	var out []grafanaPanel
	var visit func([]grafanaPanel)
	visit = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				visit(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	visit(d.Panels)
	return d, out
}

// The variables a dashboard query may use and what the test puts in their place: the demo's service, and a
// rate window a few scrapes (1 s apart here) wide, as Grafana's $__rate_interval would be.
func substitute(expr, service string) string {
	return strings.NewReplacer(
		"${service:regex}", regexp.QuoteMeta(service),
		"${service}", regexp.QuoteMeta(service),
		"$service", regexp.QuoteMeta(service),
		"$__rate_interval", "1m",
	).Replace(expr)
}

var readmeSeedQueries = regexp.MustCompile("(?s)```promql\n(.*?)```")

// The dashboard is well formed: unique panel ids, every panel on the ${datasource} variable with a query, and
// the seed's three queries, as the README prints them, verbatim among them.
func TestDashboardStructure(t *testing.T) {
	d, panels := loadDashboard(t)
	require.NotEmpty(t, d.UID)
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	assert.Equal(t, "datasource", vars["datasource"], "a datasource variable")
	assert.Equal(t, "query", vars["service"], "a service variable")
	ids := map[int]bool{}
	var exprs []string
	for _, p := range panels {
		assert.Falsef(t, ids[p.ID], "panel id %d twice", p.ID)
		ids[p.ID] = true
		assert.Equalf(t, "${datasource}", p.Datasource["uid"], "panel %q: datasource", p.Title)
		require.NotEmptyf(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			assert.NotEmptyf(t, strings.TrimSpace(tg.Expr), "panel %q %s: empty expr", p.Title, tg.RefID)
			assert.Equalf(t, "${datasource}", tg.Datasource["uid"], "panel %q %s: datasource", p.Title, tg.RefID)
			exprs = append(exprs, tg.Expr)
			for _, v := range regexp.MustCompile(`\$\{?([a-zA-Z_]+)`).FindAllStringSubmatch(tg.Expr, -1) {
				if v[1] != "__rate_interval" {
					assert.Containsf(t, vars, v[1], "panel %q uses $%s, which the dashboard does not define", p.Title, v[1])
				}
			}
		}
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	m := readmeSeedQueries.FindSubmatch(readme)
	require.NotNil(t, m, "README.md has no ```promql block")
	seeds := strings.Split(strings.TrimSpace(string(m[1])), "\n")
	require.Len(t, seeds, 3)
	for _, q := range seeds {
		assert.Containsf(t, exprs, q, "the seed query %q is not a panel query, verbatim", q)
	}
}

// Every panel's query returns data against a real Prometheus scraping the collector (its CQRS metrics and its
// own) while the demo workload runs; the queries with exemplars get them; every cqrs_*/otelcol_* name the
// dashboard and the rules use exists; every recording rule of deploy/prometheus/rules.yaml yields data and
// every rule evaluates without error; the live view of `make run` shows the demo's types.
func TestDashboardQueriesAgainstDemo(t *testing.T) {
	promBin := tb.PrometheusBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	_, panels := loadDashboard(t)
	rulesFile, err := filepath.Abs(filepath.Join("..", "deploy", "prometheus", "rules.yaml"))
	require.NoError(t, err)

	c := tb.StartCollector(t, collectorBin, nil)
	c.WaitReady(t)
	prom := tb.StartPrometheusWithRules(t, promBin, []string{c.Prom, c.Telemetry}, []string{rulesFile},
		"--enable-feature=exemplar-storage")
	const service = "dashboard-demo"
	demoCtx, stopDemo := context.WithCancel(ctx)
	demo := exec.CommandContext(demoCtx, demoBinary(t), "-endpoint", c.GRPC, "-service-name", service,
		"-duration", "10m", "-rate", "40", "-query-rate", "20", "-error-ratio", "0.1", "-out", filepath.Join(t.TempDir(), "truth.json"))
	demoOut := &tb.SyncBuffer{}
	demo.Stdout, demo.Stderr = demoOut, demoOut
	require.NoError(t, demo.Start())
	t.Cleanup(func() {
		stopDemo()
		_ = demo.Wait()
		if t.Failed() {
			t.Logf("esdemo output:\n%s", demoOut.String())
		}
	})

	for _, p := range panels {
		for _, tg := range p.Targets {
			t.Run(fmt.Sprintf("%s/%s", p.Title, tg.RefID), func(t *testing.T) {
				expr := substitute(tg.Expr, service)
				res := waitForData(ctx, t, prom, expr)
				t.Logf("%s -> %d series, e.g. %v", strings.Join(strings.Fields(expr), " "), len(res), res[0])
				if tg.Exemplar {
					var got []promExemplar
					require.Eventually(t, func() bool {
						got, err = queryExemplars(ctx, prom, expr, time.Now().Add(-5*time.Minute), time.Now())
						return err == nil && len(got) > 0
					}, 90*time.Second, time.Second, "no exemplar for %s (last error %v)", expr, err)
					assert.Regexp(t, `^[0-9a-f]{32}$`, got[0].Labels["trace_id"])
				}
			})
		}
	}

	t.Run("recording rules", func(t *testing.T) {
		var rules struct {
			Groups []struct {
				Rules []struct {
					Record string `yaml:"record"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		raw, err := os.ReadFile(rulesFile)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(raw, &rules))
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					n++
					waitForData(ctx, t, prom, fmt.Sprintf("%s{service_name=%q}", r.Record, service))
				}
			}
		}
		require.Positive(t, n)
		waitRulesHealthy(ctx, t, prom)
	})

	t.Run("metric names exist", func(t *testing.T) {
		var exprs []string
		for _, p := range panels {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
		}
		exprs = append(exprs, ruleExprs(t, rulesFile)...)
		observed := map[string]bool{}
		res, err := tb.Query(ctx, prom, `count by (__name__) ({__name__=~"cqrs_.+|otelcol_.+"})`)
		require.NoError(t, err)
		for _, r := range res {
			observed[r.Metric["__name__"]] = true
		}
		documented := documentedTelemetry(t)
		for _, name := range metricNames(exprs) {
			assert.Truef(t, observed[name] || documented[name],
				"%s: neither scraped from the collector nor listed in a component's documentation.md (a typo?)", name)
		}
	})

	t.Run("live view", func(t *testing.T) {
		// Two tables 6 s apart: the last one spans 12 s, more than two of the connector's 5 s flushes, so its
		// rates cannot read 0 just because both ends fell between the same two flushes.
		out, err := exec.CommandContext(ctx, viewBinary(t), "-metrics", "http://"+c.Prom+"/metrics",
			"-telemetry", "http://"+c.Telemetry+"/metrics", "-interval", "6s", "-count", "2").CombinedOutput()
		require.NoError(t, err, string(out))
		t.Logf("esview:\n%s", out)
		last := string(out)[strings.LastIndex(string(out), "otelcol-es live view"):]
		assert.Regexp(t, `spans in [1-9][0-9.]*/s  refused 0\.0/s`, last)
		for _, row := range []string{
			`PlaceOrder +[1-9][0-9.]* +[0-9.]+%`, `CancelOrder +[1-9][0-9.]* +[0-9.]+%`,
			`GetOrder +[1-9][0-9.]* +[0-9.]+`, `ListOrders +[1-9][0-9.]* +[0-9.]+`,
			`order_summary +[1-9][0-9.]* +[0-9.]+ +[0-9]+ +(ok|lagging)`, `inventory_levels +[1-9][0-9.]* +[0-9.]+ +[0-9]+ +(ok|lagging)`,
		} {
			assert.Regexp(t, row, last)
		}
	})
}

// waitForData runs an instant query until it returns a series with a finite value, and returns the result.
func waitForData(ctx context.Context, t *testing.T, prom, expr string) []tb.PromSample {
	t.Helper()
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		res, err := tb.Query(ctx, prom, expr)
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%+v", res)
			for _, r := range res {
				s, _ := r.Value[1].(string)
				if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
					return res
				}
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("%s returned no finite value in 90 s; last result: %s", expr, last)
	return nil
}

// waitRulesHealthy waits until Prometheus has evaluated every rule and fails on any evaluation error.
func waitRulesHealthy(ctx context.Context, t *testing.T, prom string) {
	t.Helper()
	var last []string
	require.Eventually(t, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, prom+"/api/v1/rules", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var res struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&res) != nil {
			return false
		}
		last = nil
		ok := len(res.Data.Groups) > 0
		for _, g := range res.Data.Groups {
			for _, r := range g.Rules {
				if r.Health != "ok" {
					ok = false
					last = append(last, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
				}
			}
		}
		return ok
	}, 60*time.Second, time.Second, "rules not all evaluated without error: %v", &last)
}

var promIdent = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)

// metricNames are the cqrs_* and otelcol_* metric names used in exprs (recording rules' names, with colons,
// are not metrics).
func metricNames(exprs []string) []string {
	var out []string
	for _, e := range exprs {
		for _, id := range promIdent.FindAllString(e, -1) {
			if (strings.HasPrefix(id, "cqrs_") || strings.HasPrefix(id, "otelcol_")) && !strings.Contains(id, ":") &&
				!slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// ruleExprs are the expressions of a Prometheus rule file.
func ruleExprs(t *testing.T, file string) []string {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	var out []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// documentedTelemetry lists the self-telemetry documented (generated documentation.md) by this repository's
// components and by the collector's receiver, processor and exporter helpers (from the distribution's
// module graph): counters that appear on /metrics only once something happened, such as a failed export.
func documentedTelemetry(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "*", "*", "documentation.md"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.opentelemetry.io/collector/receiver/receiverhelper",
		"go.opentelemetry.io/collector/processor/processorhelper", "go.opentelemetry.io/collector/exporter/exporterhelper")
	list.Dir = filepath.Join("..", "cmd", "otelcol-es")
	dirs, err := list.Output()
	require.NoError(t, err, "go list the collector helpers' modules")
	for _, d := range strings.Fields(string(dirs)) {
		files = append(files, filepath.Join(d, "documentation.md"))
	}
	out := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?m)^### (otelcol_[a-z0-9_]+)`).FindAllStringSubmatch(string(raw), -1) {
			out[m[1]] = true
		}
	}
	return out
}

// viewBinary is $OTELCOL_ES_VIEW_BIN (set by the Makefile), else cmd/esview built here.
func viewBinary(t *testing.T) string {
	if bin := os.Getenv("OTELCOL_ES_VIEW_BIN"); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	bin := filepath.Join(t.TempDir(), "esview")
	build := exec.Command("go", "build", "-o", bin, "./cmd/esview")
	build.Dir = tb.RepoRoot()
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}
