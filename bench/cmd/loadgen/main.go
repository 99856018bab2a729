// Command loadgen is the end-to-end load harness. It starts built collector
// binaries one after the other, drives each over OTLP/gRPC on loopback with
// the same generated stream at fixed offered rates, and reads:
//
//   - CPU seconds from the collector process's own accounting (/proc/<pid>/stat,
//     utime+stime, children excluded);
//   - peak RSS (VmHWM) and current RSS (VmRSS) from /proc/<pid>/status;
//   - accepted and refused spans from the collector's own telemetry
//     (otelcol_receiver_accepted_spans / otelcol_receiver_refused_spans on the
//     Prometheus endpoint configured under service.telemetry).
//
// Every collector gets its own free loopback ports through the environment
// variables config/default.yaml reads (OTELCOL_ES_OTLP_GRPC, OTELCOL_ES_OTLP_HTTP,
// OTELCOL_ES_PROMETHEUS, OTELCOL_ES_TELEMETRY_PORT); bench/configs/*.yaml read
// the same ones.
//
// Modes:
//
//	-mode rates        each -dist at each -rates step, then (with -max) a ramp
//	                   that finds the highest offered rate sustained without a
//	                   refused span, a failed export or a sender backlog.
//	-mode cardinality  one -dist at one -rate for -duration, with fresh batches
//	                   (distinct aggregate ids / command types from the knobs),
//	                   sampling RSS every -sample (the P5 memory curve).
//
// Results are printed as Markdown tables (and appended to -out when set).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-es/otelcol-es/internal/spangen"
)

type dist struct {
	name, bin, config string
}

type distList []dist

func (d *distList) String() string { return fmt.Sprint(*d) }

func (d *distList) Set(v string) error {
	// name=binary:config
	name, rest, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want name=binary:config")
	}
	bin, cfg, ok := strings.Cut(rest, ":")
	if !ok {
		return errors.New("want name=binary:config")
	}
	*d = append(*d, dist{name, bin, cfg})
	return nil
}

type options struct {
	mode        string
	dists       distList
	rates       []int
	step        time.Duration
	warmup      time.Duration
	findMax     bool
	maxStart    int
	maxFactor   float64
	gomaxprocs  int
	poolSize    int
	workers     int
	out         string
	logDir      string
	duration    time.Duration
	rate        int
	sample      time.Duration
	profile     string
	extraConfig stringList
	gen         spangen.Config
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o options
	var rates string
	flag.StringVar(&o.mode, "mode", "rates", "rates | cardinality")
	flag.Var(&o.dists, "dist", "name=binary:config (repeatable; run in the order given)")
	flag.StringVar(&rates, "rates", "20000,50000,100000", "offered rates (spans/s) for the fixed-rate steps")
	flag.DurationVar(&o.step, "step", 20*time.Second, "measured time per rate step")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "unmeasured load before the first step")
	flag.BoolVar(&o.findMax, "max", true, "after the fixed steps, ramp to the highest sustained rate")
	flag.IntVar(&o.maxStart, "max-start", 50000, "first rate of the ramp (spans/s)")
	flag.Float64Var(&o.maxFactor, "max-factor", 1.25, "ramp multiplier between steps")
	flag.IntVar(&o.gomaxprocs, "gomaxprocs", 1, "GOMAXPROCS of the collector (0 leaves it unset)")
	flag.IntVar(&o.poolSize, "pool", 256, "batches generated up front and cycled (0: generate fresh batches while sending)")
	flag.IntVar(&o.workers, "workers", 4, "concurrent OTLP/gRPC exports")
	flag.StringVar(&o.out, "out", "", "append the Markdown results to this file")
	flag.StringVar(&o.logDir, "logs", os.TempDir(), "where the collectors' stdout/stderr go")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "cardinality mode: total time")
	flag.IntVar(&o.rate, "rate", 20000, "cardinality mode: offered rate (spans/s)")
	flag.DurationVar(&o.sample, "sample", 30*time.Second, "cardinality mode: RSS sampling interval")
	flag.StringVar(&o.profile, "profile", "", "name=file: enable the pprof extension on that dist (it must include it); rates mode saves a CPU profile of one extra step at the last fixed rate (and the heap after it), cardinality mode saves heap profiles after the first and the last sample")
	flag.Var(&o.extraConfig, "extra-config", "an extra --config for every collector, e.g. yaml:connectors::spanmetrics_es::series_expiry: 30s (repeatable)")
	o.gen = spangen.DefaultConfig()
	flag.IntVar(&o.gen.AggregateIDs, "aggregate-ids", o.gen.AggregateIDs, "distinct aggregate ids")
	flag.IntVar(&o.gen.CommandTypes, "command-types", o.gen.CommandTypes, "distinct command types")
	flag.Float64Var(&o.gen.ErrorRatio, "error-ratio", o.gen.ErrorRatio, "share of failing traces")
	flag.Float64Var(&o.gen.LinkShare, "link-share", o.gen.LinkShare, "share of projection spans that only link to their producer")
	flag.Parse()
	for _, r := range strings.Split(rates, ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		n, err := strconv.Atoi(r)
		if err != nil {
			fatalf("-rates: %v", err)
		}
		o.rates = append(o.rates, n)
	}
	if len(o.dists) == 0 {
		fatalf("at least one -dist name=binary:config is needed")
	}
	var report strings.Builder
	switch o.mode {
	case "rates":
		runRates(&o, &report)
	case "cardinality":
		runCardinality(&o, &report)
	default:
		fatalf("-mode %q: use rates or cardinality", o.mode)
	}
	fmt.Print(report.String())
	if o.out != "" {
		f, err := os.OpenFile(o.out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fatalf("%v", err)
		}
		_, _ = f.WriteString(report.String())
		_ = f.Close()
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().UTC().Format("15:04:05 ")+format+"\n", args...)
}

// --- the collector process ---

type collector struct {
	d         dist
	cmd       *exec.Cmd
	grpcAddr  string
	telemetry string
	pprofAddr string
	promURL   string
	log       *os.File
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func start(o *options, d dist) *collector {
	grpcPort, httpPort, promPort, telPort := freePort(), freePort(), freePort(), freePort()
	c := &collector{d: d, grpcAddr: fmt.Sprintf("127.0.0.1:%d", grpcPort),
		telemetry: fmt.Sprintf("http://127.0.0.1:%d/metrics", telPort),
		promURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", promPort)}
	logPath := filepath.Join(o.logDir, "loadgen-"+d.name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		fatalf("%v", err)
	}
	c.log = f
	args := []string{"--config", d.config}
	for _, e := range o.extraConfig {
		args = append(args, "--config", e)
	}
	if name, _, _ := strings.Cut(o.profile, "="); name == d.name {
		c.pprofAddr = fmt.Sprintf("127.0.0.1:%d", freePort())
		args = append(args, "--config", "yaml:extensions::pprof::endpoint: "+c.pprofAddr,
			"--config", "yaml:service::extensions: [pprof]")
	}
	c.cmd = exec.Command(d.bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = f, f
	c.cmd.Env = append(os.Environ(),
		"OTELCOL_ES_OTLP_GRPC="+c.grpcAddr,
		fmt.Sprintf("OTELCOL_ES_OTLP_HTTP=127.0.0.1:%d", httpPort),
		fmt.Sprintf("OTELCOL_ES_PROMETHEUS=127.0.0.1:%d", promPort),
		fmt.Sprintf("OTELCOL_ES_TELEMETRY_PORT=%d", telPort),
	)
	if o.gomaxprocs > 0 {
		c.cmd.Env = append(c.cmd.Env, fmt.Sprintf("GOMAXPROCS=%d", o.gomaxprocs))
	}
	if err := c.cmd.Start(); err != nil {
		fatalf("start %s: %v", d.bin, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := scrape(c.telemetry); err == nil {
			if conn, err := net.DialTimeout("tcp", c.grpcAddr, time.Second); err == nil {
				conn.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			c.stop()
			fatalf("%s did not come up in 30s; see %s", d.name, logPath)
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("%s up (pid %d, otlp %s, telemetry %s, log %s)", d.name, c.cmd.Process.Pid, c.grpcAddr, c.telemetry, logPath)
	return c
}

func (c *collector) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.log.Close()
}

// cpuSeconds is utime+stime of the process (not its children).
func (c *collector) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		fatalf("%v", err)
	}
	// Fields after the parenthesised command name; utime and stime are fields 14 and 15.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// memKiB returns VmRSS, VmHWM and RssAnon (the part of RSS not backed by
// the executable's file pages) in KiB.
func (c *collector) memKiB() (rss, hwm, anon float64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		fatalf("%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		v = strings.TrimSuffix(strings.TrimSpace(v), " kB")
		switch k {
		case "VmRSS":
			rss, _ = strconv.ParseFloat(v, 64)
		case "VmHWM":
			hwm, _ = strconv.ParseFloat(v, 64)
		case "RssAnon":
			anon, _ = strconv.ParseFloat(v, 64)
		}
	}
	return rss, hwm, anon
}

// scrape sums every series of the metrics we read, whatever their labels.
func scrape(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		name = strings.TrimSuffix(name, "_total")
		switch name {
		case "otelcol_receiver_accepted_spans", "otelcol_receiver_refused_spans",
			"otelcol_exporter_sent_spans", "otelcol_exporter_send_failed_spans",
			"otelcol_connector_spanmetrics_es_active_series", "otelcol_connector_spanmetrics_es_expired_series",
			"otelcol_connector_spanmetrics_es_overflow_data_points":
		default:
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil && len(f) >= 2 {
			v, err = strconv.ParseFloat(f[len(f)-2], 64) // a trailing timestamp
		}
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

func (c *collector) counters() (accepted, refused float64) {
	m, err := scrape(c.telemetry)
	if err != nil {
		fatalf("scrape %s: %v", c.d.name, err)
	}
	return m["otelcol_receiver_accepted_spans"], m["otelcol_receiver_refused_spans"]
}

// drive offers rate spans/s for d; in-flight exports get 5 s to finish.
func drive(client ptraceotlp.GRPCClient, src spangen.Source, workers, rate int, d time.Duration) spangen.Stats {
	return spangen.Drive(context.Background(), client, src, spangen.DriveOptions{Workers: workers, Rate: float64(rate), Duration: d})
}

type stepResult struct {
	rate               int
	secs               float64
	sendStats          spangen.Stats
	accepted, refused  float64
	cpu                float64
	rssMiB, hwmMiB     float64
	anonMiB            float64
	achieved           float64
	cpuPerMSpans       float64
	spansPerCoreSecond float64
}

func (r stepResult) sustained() bool {
	return r.refused == 0 && r.sendStats.Failed.Spans == 0 && r.sendStats.Backlog.Spans == 0 &&
		r.achieved >= 0.97*float64(r.rate)
}

func measure(c *collector, client ptraceotlp.GRPCClient, src spangen.Source, workers, rate int, d time.Duration) stepResult {
	a0, r0 := c.counters()
	cpu0 := c.cpuSeconds()
	t0 := time.Now()
	st := drive(client, src, workers, rate, d)
	// The batch processor flushes within 200ms; give the pipeline a moment.
	time.Sleep(500 * time.Millisecond)
	secs := time.Since(t0).Seconds()
	cpu1 := c.cpuSeconds()
	a1, r1 := c.counters()
	rss, hwm, anon := c.memKiB()
	res := stepResult{rate: rate, secs: secs, sendStats: st, accepted: a1 - a0, refused: r1 - r0,
		cpu: cpu1 - cpu0, rssMiB: rss / 1024, hwmMiB: hwm / 1024, anonMiB: anon / 1024}
	res.achieved = res.accepted / d.Seconds()
	if res.accepted > 0 {
		res.cpuPerMSpans = res.cpu / res.accepted * 1e6
		res.spansPerCoreSecond = res.accepted / res.cpu
	}
	logf("%s rate=%d accepted=%.0f refused=%.0f failed=%d backlog=%d cpu=%.2fs (%.2f cpu-s/Mspans) rss=%.0fMiB (anon %.0fMiB) hwm=%.0fMiB %s",
		c.d.name, rate, res.accepted, res.refused, st.Failed.Spans, st.Backlog.Spans, res.cpu, res.cpuPerMSpans, res.rssMiB, res.anonMiB, res.hwmMiB, st.LastError)
	return res
}

// countSamples counts the samples a Prometheus endpoint exposes (-1 if it
// does not answer, e.g. a distribution without a Prometheus exporter).
func countSamples(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			n++
		}
	}
	return n
}

func fetchProfile(addr string, d time.Duration, file string) error {
	return fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds())), file)
}

func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func dial(addr string) (*grpc.ClientConn, ptraceotlp.GRPCClient) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fatalf("dial %s: %v", addr, err)
	}
	return conn, ptraceotlp.NewGRPCClient(conn)
}

func runRates(o *options, w io.Writer) {
	logf("generating %d batches", o.poolSize)
	var src spangen.Source
	if o.poolSize > 0 {
		src = spangen.NewPool(o.gen, o.poolSize)
	} else {
		src = spangen.NewFresh(context.Background(), o.gen)
	}
	fmt.Fprintf(w, "\n### Load harness, %s (GOMAXPROCS=%d for the collector, %s per step)\n\n", time.Now().UTC().Format(time.RFC3339), o.gomaxprocs, o.step)
	fmt.Fprintf(w, "| dist | offered spans/s | accepted spans/s | refused | failed | backlog | collector CPU (cores) | CPU-s / M spans | spans/s per core | RSS MiB | peak RSS MiB | sustained |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	type maxRes struct {
		name string
		best stepResult
		ok   bool
	}
	var maxes []maxRes
	for _, d := range o.dists {
		c := start(o, d)
		conn, client := dial(c.grpcAddr)
		if o.warmup > 0 {
			drive(client, src, o.workers, o.rates[0], o.warmup)
		}
		row := func(r stepResult) {
			fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %d | %d | %.2f | %.2f | %.0f | %.0f | %.0f | %v |\n",
				d.name, r.rate, r.achieved, r.refused, r.sendStats.Failed.Spans, r.sendStats.Backlog.Spans,
				r.cpu/r.secs, r.cpuPerMSpans, r.spansPerCoreSecond, r.rssMiB, r.hwmMiB, r.sustained())
		}
		for _, rate := range o.rates {
			row(measure(c, client, src, o.workers, rate, o.step))
		}
		if c.pprofAddr != "" {
			_, file, _ := strings.Cut(o.profile, "=")
			done := make(chan error, 1)
			go func() { done <- fetchProfile(c.pprofAddr, o.step-2*time.Second, file) }()
			r := measure(c, client, src, o.workers, o.rates[len(o.rates)-1], o.step)
			if err := <-done; err != nil {
				logf("profile: %v", err)
			} else {
				logf("CPU profile of %s at %d spans/s saved to %s (row marked profiled)", d.name, r.rate, file)
			}
			// The heap right after the step: what the components hold at that rate.
			if err := fetch("http://"+c.pprofAddr+"/debug/pprof/heap", file+".heap"); err != nil {
				logf("heap profile: %v", err)
			}
			fmt.Fprintf(w, "| %s (profiled) | %d | %.0f | %.0f | %d | %d | %.2f | %.2f | %.0f | %.0f | %.0f | %v |\n",
				d.name, r.rate, r.achieved, r.refused, r.sendStats.Failed.Spans, r.sendStats.Backlog.Spans,
				r.cpu/r.secs, r.cpuPerMSpans, r.spansPerCoreSecond, r.rssMiB, r.hwmMiB, r.sustained())
		}
		if o.findMax {
			m := maxRes{name: d.name}
			for rate := o.maxStart; ; rate = int(float64(rate) * o.maxFactor) {
				r := measure(c, client, src, o.workers, rate, o.step)
				row(r)
				if !r.sustained() {
					break
				}
				m.best, m.ok = r, true
				// The collector cannot use more than GOMAXPROCS cores; past that, stop.
				if o.gomaxprocs > 0 && r.cpu/r.secs > float64(o.gomaxprocs)*0.98 {
					break
				}
			}
			maxes = append(maxes, m)
		}
		conn.Close()
		c.stop()
	}
	if len(maxes) > 0 {
		fmt.Fprintf(w, "\nHighest offered rate sustained (no refused span, no failed export, no backlog, >=97%% accepted), GOMAXPROCS=%d, ramp x%.2f from %d:\n\n| dist | max sustained spans/s | CPU-s / M spans there |\n|---|---|---|\n", o.gomaxprocs, o.maxFactor, o.maxStart)
		for _, m := range maxes {
			if m.ok {
				fmt.Fprintf(w, "| %s | %d | %.2f |\n", m.name, m.best.rate, m.best.cpuPerMSpans)
			} else {
				fmt.Fprintf(w, "| %s | < %d | - |\n", m.name, o.maxStart)
			}
		}
	}
}

func runCardinality(o *options, w io.Writer) {
	d := o.dists[0]
	src := spangen.NewFresh(context.Background(), o.gen)
	c := start(o, d)
	defer c.stop()
	conn, client := dial(c.grpcAddr)
	defer conn.Close()
	fmt.Fprintf(w, "\n### Memory under cardinality, %s: %s, %d spans/s offered, %d aggregate ids, %d command types, GOMAXPROCS=%d\n\n",
		time.Now().UTC().Format(time.RFC3339), d.name, o.rate, o.gen.AggregateIDs, o.gen.CommandTypes, o.gomaxprocs)
	fmt.Fprintf(w, "| t | accepted spans (total) | refused | failed + backlog | RSS MiB | of which anonymous MiB | peak RSS MiB | CPU-s | spanmetrics_es active series | expired series (total) | overflow data points (total) | samples on the metrics endpoint |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var total, refused float64
	cpu0 := c.cpuSeconds()
	for t := time.Duration(0); t < o.duration; t += o.sample {
		r := measure(c, client, src, o.workers, o.rate, o.sample)
		total += r.accepted
		refused += r.refused
		m, _ := scrape(c.telemetry)
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %d | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %d |\n", t+o.sample, total, refused,
			r.sendStats.Failed.Spans+r.sendStats.Backlog.Spans, r.rssMiB, r.anonMiB, r.hwmMiB, c.cpuSeconds()-cpu0,
			m["otelcol_connector_spanmetrics_es_active_series"], m["otelcol_connector_spanmetrics_es_expired_series"],
			m["otelcol_connector_spanmetrics_es_overflow_data_points"], countSamples(c.promURL))
		// With -profile, heap profiles after the first and the last sample show what grew:
		//   go tool pprof -sample_index=inuse_space -top -diff_base FILE.first FILE
		if c.pprofAddr != "" {
			_, file, _ := strings.Cut(o.profile, "=")
			if t == 0 {
				file += ".first"
			}
			if err := fetch("http://"+c.pprofAddr+"/debug/pprof/heap", file); err != nil {
				logf("heap profile: %v", err)
			}
		}
	}
}
