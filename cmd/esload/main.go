// Command esload offers a realistic CQRS / event-sourcing span stream to an
// OTLP/gRPC endpoint at a fixed rate and prints what it sent as JSON: spans,
// commands, queries and projection applies offered, accepted (answered OK),
// failed and left as backlog. Those are the totals otelcol-es must show
// (otelcol_receiver_accepted_spans, cqrs_command_total, cqrs_query_total,
// cqrs_projection_total), which makes it a capacity and accounting check for a
// deployment as well as the source of the reliability soak (reliability/).
//
// The stream mixes both seed runtimes' shapes (internal/spangen): commands,
// queries and projections on the cqrs.* scopes, and the eventsource runtime's
// repository, event store, bus, projection and checkpoint spans.
//
//	esload -endpoint 127.0.0.1:4317 -rate 50000 -duration 1m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otelcol-es/otelcol-es/internal/spangen"
)

// result is esload's JSON output.
type result struct {
	Endpoint string  `json:"endpoint"`
	Rate     float64 `json:"rate_spans_per_s"`
	// Achieved is the accepted spans per second of the load phase.
	Achieved float64       `json:"achieved_spans_per_s"`
	Services []string      `json:"services"`
	Stats    spangen.Stats `json:"stats"`
}

func main() {
	cfg := spangen.DefaultConfig()
	endpoint := flag.String("endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint (plaintext)")
	rate := flag.Float64("rate", 10_000, "offered load, spans per second")
	duration := flag.Duration("duration", 30*time.Second, "how long load is offered")
	workers := flag.Int("workers", 4, "exports in flight")
	pool := flag.Int("pool", 256, "requests generated up front and cycled (each later cycle with new trace ids); 0: generate fresh requests while sending")
	retry := flag.Bool("retry", true, "resend requests refused with Unavailable / ResourceExhausted, with backoff, as an OpenTelemetry SDK does")
	drain := flag.Duration("drain", 30*time.Second, "after the load phase, how long offered requests may still be sent")
	out := flag.String("out", "", "write the JSON result to this file (default: standard output)")
	flag.IntVar(&cfg.BatchSpans, "batch-spans", cfg.BatchSpans, "spans per request (whole traces, so a few more)")
	flag.IntVar(&cfg.Services, "services", cfg.Services, "distinct service.name values")
	flag.IntVar(&cfg.AggregateIDs, "aggregate-ids", cfg.AggregateIDs, "distinct aggregate ids")
	flag.IntVar(&cfg.CommandTypes, "command-types", cfg.CommandTypes, "distinct command types")
	flag.Float64Var(&cfg.ErrorRatio, "error-ratio", cfg.ErrorRatio, "share of failing command, query and projection traces")
	flag.Float64Var(&cfg.LinkShare, "link-share", cfg.LinkShare, "share of projection applies that only link to their producer")
	flag.Float64Var(&cfg.EventsourceShare, "eventsource-share", cfg.EventsourceShare, "share of traces shaped like the eventsource runtime's (the rest: the CQRS conventions of command/query/projection spans)")
	flag.Float64Var(&cfg.EventsourceShare, "seed001-share", cfg.EventsourceShare, "deprecated: -eventsource-share")
	flag.Float64Var(&cfg.LateShare, "late-share", 0, "share of write traces sent -late-by after the projections that apply their events (needs -pool 0)")
	flag.DurationVar(&cfg.LateBy, "late-by", 20*time.Second, "how late -late-share write traces are sent")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "generator seed: runs with the same seed send the same span ids")
	flag.Parse()
	if *rate <= 0 || *duration <= 0 {
		fatalf("-rate and -duration must be positive")
	}
	if cfg.LateShare > 0 && *pool > 0 {
		// A pool is generated up front: its held-back traces would come a cycle late at most.
		fatalf("-late-share needs -pool 0 (requests generated while sending)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fatalf("dial %s: %v", *endpoint, err)
	}
	defer conn.Close()

	var src spangen.Source
	if *pool > 0 {
		src = spangen.NewPool(cfg, *pool)
	} else {
		src = spangen.NewFresh(ctx, cfg)
	}
	st := spangen.Drive(ctx, ptraceotlp.NewGRPCClient(conn), src, spangen.DriveOptions{
		Workers: *workers, Rate: *rate, Duration: *duration, Retry: *retry, Drain: *drain,
	})
	res := result{Endpoint: *endpoint, Rate: *rate, Services: spangen.New(cfg).ServiceNames(), Stats: st}
	if st.Elapsed > 0 {
		res.Achieved = float64(st.Sent.Spans) / st.Elapsed.Seconds()
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		fatalf("%v", err)
	}
	b = append(b, '\n')
	if *out == "" {
		_, err = os.Stdout.Write(b)
	} else {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "esload: offered %d spans in %s, accepted %d (%.0f/s), failed %d, backlog %d, %d refusals retried\n",
		st.Offered.Spans, st.Elapsed.Round(time.Millisecond), st.Sent.Spans, res.Achieved, st.Failed.Spans, st.Backlog.Spans, st.Refusals)
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "esload: "+format+"\n", args...)
	os.Exit(1)
}
