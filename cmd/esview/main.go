// Command esview prints, every few seconds, a compact table of what otelcol-es has derived: commands per
// second and error ratio per type, queries per second and p95, projection applies per second, lag p99,
// positions behind and state, and the collector's own span intake. It reads the collector's Prometheus
// endpoints (the cqrs_* metrics and its own otelcol_* telemetry) and computes rates and quantiles over the
// last -window of scrapes. `make run` shows it.
//
// spanmetrics_es updates its cumulative series once per metrics_flush_interval (5 s by default), so two
// scrapes closer than that often see the same values; rates are therefore taken over a window several
// flushes long, not between consecutive scrapes.
//
//	esview [-metrics http://127.0.0.1:8889/metrics] [-telemetry http://127.0.0.1:8888/metrics] [-interval 5s] [-window 15s] [-count N]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	fs := flag.NewFlagSet("esview", flag.ContinueOnError)
	metrics := fs.String("metrics", "http://127.0.0.1:8889/metrics", "the collector's Prometheus endpoint with the cqrs_* metrics")
	telemetry := fs.String("telemetry", "http://127.0.0.1:8888/metrics", `the collector's own telemetry endpoint ("" to leave it out)`)
	interval := fs.Duration("interval", 5*time.Second, "time between tables")
	window := fs.Duration("window", 15*time.Second, "rates and quantiles are over this much of the past (keep it a few metrics_flush_interval long)")
	count := fs.Int("count", 0, "stop after this many tables (0: until interrupted)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if *interval <= 0 || *window <= 0 {
		fmt.Fprintln(os.Stderr, "esview: -interval and -window must be > 0")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	clear := isTerminal(os.Stdout)
	if err := run(ctx, os.Stdout, *metrics, *telemetry, *interval, *window, *count, clear); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "esview:", err)
		os.Exit(1)
	}
}

// run scrapes both endpoints every interval and prints a table comparing the newest scrape with the oldest one
// kept, which is at most window old (until window has passed, the first scrape).
func run(ctx context.Context, w io.Writer, metricsURL, telemetryURL string, interval, window time.Duration, count int, clear bool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	past := []snapshot{scrapeAll(ctx, client, metricsURL, telemetryURL)}
	for n := 0; count == 0 || n < count; n++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
		cur := scrapeAll(ctx, client, metricsURL, telemetryURL)
		if clear {
			fmt.Fprint(w, "\x1b[H\x1b[2J")
		} else if n > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "otelcol-es live view  %s  every %v  %s\n", cur.at.Format("15:04:05"), interval, metricsURL)
		past = append(past, cur)
		for len(past) > 2 && cur.at.Sub(past[1].at) >= window {
			past = past[1:]
		}
		render(w, derive(past[0], cur))
	}
	return nil
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
