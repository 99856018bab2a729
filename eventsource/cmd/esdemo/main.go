// Command esdemo is an order and inventory app built on the eventsource
// runtime. It sends its traces over OTLP gRPC (to otelcol-es), runs a
// command/query workload for a while, and prints at exit the ground truth the
// collector's metrics should match (see ../../README.md for the JSON shape).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	otsemconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

type config struct {
	endpoint        string
	insecure        bool
	service         string
	rate            float64
	queryRate       float64
	duration        time.Duration
	errorRatio      float64
	cancelRatio     float64
	summaryDelay    time.Duration
	summaryJitter   time.Duration
	inventoryDelay  time.Duration
	inventoryJitter time.Duration
	projErrorRatio  float64
	maxAttempts     int
	workers         int
	replayAfter     time.Duration
	replayName      string
	seed            uint64
	out             string
	drainTimeout    time.Duration
	runtimeMetrics  bool
	lagSource       string
	teeEndpoint     string
	teeLagSource    string
	commands        int
	replayAfterCmds int
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("esdemo", flag.ContinueOnError)
	fs.StringVar(&c.endpoint, "endpoint", "127.0.0.1:4317", `OTLP gRPC endpoint (host:port); "none" disables export`)
	fs.BoolVar(&c.insecure, "insecure", true, "use plaintext gRPC")
	fs.StringVar(&c.service, "service-name", "esdemo", "service.name resource attribute")
	fs.Float64Var(&c.rate, "rate", 50, "commands per second")
	fs.Float64Var(&c.queryRate, "query-rate", 20, "queries per second (0 disables)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send load")
	fs.Float64Var(&c.errorRatio, "error-ratio", 0.05, "fraction of commands that fail")
	fs.Float64Var(&c.cancelRatio, "cancel-ratio", 0.3, "fraction of commands that are CancelOrder")
	fs.DurationVar(&c.summaryDelay, "summary-delay", 2*time.Millisecond, "order_summary processing time per event")
	fs.DurationVar(&c.summaryJitter, "summary-jitter", 2*time.Millisecond, "order_summary delay jitter (±)")
	fs.DurationVar(&c.inventoryDelay, "inventory-delay", 5*time.Millisecond, "inventory_levels processing time per event")
	fs.DurationVar(&c.inventoryJitter, "inventory-jitter", 5*time.Millisecond, "inventory_levels delay jitter (±)")
	fs.Float64Var(&c.projErrorRatio, "projection-error-ratio", 0, "probability that one projection apply attempt fails")
	fs.IntVar(&c.maxAttempts, "max-attempts", 3, "apply attempts before an event is dead-lettered")
	fs.IntVar(&c.workers, "workers", 1, "event bus workers")
	fs.DurationVar(&c.replayAfter, "replay-after", 0, "rebuild a projection (replay phase) this long after start; 0 = never")
	fs.IntVar(&c.replayAfterCmds, "replay-after-commands", 0, "rebuild a projection once this many commands have run; 0 = never")
	fs.IntVar(&c.commands, "commands", 0, "run exactly this many commands, then stop (0: run for -duration)")
	fs.StringVar(&c.replayName, "replay-projection", "order_summary", "projection to rebuild with -replay-after")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed (workload and failures are reproducible)")
	fs.StringVar(&c.out, "out", "-", `where to write the ground-truth JSON ("-" = stdout)`)
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 30*time.Second, "how long to wait at exit for projections to catch up")
	fs.BoolVar(&c.runtimeMetrics, "runtime-metrics", false,
		"also export the seed-000 metrics from the runtime over OTLP (off: the collector derives them; on, both count)")
	fs.StringVar(&c.lagSource, "lag-source", lagReported,
		`what apply spans carry for the collector's lag: "reported" (cqrs.projection.lag_ms and the event timestamp), "event_timestamp" (no lag_ms), "link" (neither: projectionlag must join the producer)`)
	fs.StringVar(&c.teeEndpoint, "tee-endpoint", "", "a second OTLP gRPC endpoint receiving the same spans (empty: none)")
	fs.StringVar(&c.teeLagSource, "tee-lag-source", lagReported, "-lag-source for -tee-endpoint")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.rate <= 0:
		return c, errors.New("-rate must be > 0")
	case c.queryRate < 0:
		return c, errors.New("-query-rate must be >= 0")
	case c.duration <= 0:
		return c, errors.New("-duration must be > 0")
	case c.errorRatio < 0 || c.errorRatio > 1, c.cancelRatio < 0 || c.cancelRatio > 1, c.projErrorRatio < 0 || c.projErrorRatio > 1:
		return c, errors.New("ratios must be within [0, 1]")
	case c.replayName != "order_summary" && c.replayName != "inventory_levels":
		return c, errors.New("-replay-projection must be order_summary or inventory_levels")
	case c.commands < 0 || c.replayAfterCmds < 0:
		return c, errors.New("-commands and -replay-after-commands must be >= 0")
	case lagDropped[c.lagSource] == nil || lagDropped[c.teeLagSource] == nil:
		return c, fmt.Errorf("-lag-source and -tee-lag-source must be %s, %s or %s", lagReported, lagEventTimestamp, lagLink)
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "esdemo:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "esdemo:", err)
		os.Exit(1)
	}
}

// newTracerProvider exports over OTLP gRPC. The batch processor blocks
// instead of dropping when its queue is full, so every span counted in the
// ground truth reaches the collector.
func newTracerProvider(ctx context.Context, cfg config, rec *recorder) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx, resource.WithAttributes(otsemconv.ServiceName(cfg.service)), resource.WithTelemetrySDK())
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(spanCounter{r: rec}),
	}
	if cfg.endpoint != "none" {
		for _, e := range []struct{ endpoint, lagSource string }{{cfg.endpoint, cfg.lagSource}, {cfg.teeEndpoint, cfg.teeLagSource}} {
			if e.endpoint == "" {
				continue
			}
			exp, err := newExporter(ctx, e.endpoint, cfg.insecure)
			if err != nil {
				return nil, err
			}
			opts = append(opts, sdktrace.WithBatcher(withoutLag(exp, e.lagSource), sdktrace.WithBlocking(),
				sdktrace.WithMaxQueueSize(16384), sdktrace.WithMaxExportBatchSize(1024),
				sdktrace.WithBatchTimeout(200*time.Millisecond)))
		}
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// newExporter is an OTLP gRPC trace exporter. The ground truth counts every span, so it must outlast a
// collector that refuses load for a while (memory_limiter answers Unavailable): the SDK's 10 s default
// timeout would drop spans.
func newExporter(ctx context.Context, endpoint string, insecure bool) (sdktrace.SpanExporter, error) {
	eopts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint),
		otlptracegrpc.WithTimeout(2 * time.Minute),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 100 * time.Millisecond,
			MaxInterval: 5 * time.Second, MaxElapsedTime: 2 * time.Minute})}
	if insecure {
		eopts = append(eopts, otlptracegrpc.WithInsecure())
	}
	return otlptracegrpc.New(ctx, eopts...)
}

func newMeterProvider(ctx context.Context, cfg config) (*sdkmetric.MeterProvider, error) {
	res, err := resource.New(ctx, resource.WithAttributes(otsemconv.ServiceName(cfg.service)), resource.WithTelemetrySDK())
	if err != nil {
		return nil, err
	}
	eopts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(cfg.endpoint)}
	if cfg.insecure {
		eopts = append(eopts, otlpmetricgrpc.WithInsecure())
	}
	exp, err := otlpmetricgrpc.New(ctx, eopts...)
	if err != nil {
		return nil, err
	}
	return sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(5*time.Second)))), nil
}

func run(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	start := time.Now()
	var handles []eventsource.EventFilter
	rec := newRecorder(cfg.service, func(t string) int {
		n := 0
		for _, h := range handles {
			if h.Handles(t) {
				n++
			}
		}
		return n
	})
	tp, err := newTracerProvider(ctx, cfg, rec)
	if err != nil {
		return err
	}
	opt := eventsource.WithTracerProvider(tp)
	// Only the buses and projection runners take the meter provider.
	metricOpt := eventsource.WithMeterProvider(nil)
	if cfg.runtimeMetrics && cfg.endpoint != "none" {
		mp, err := newMeterProvider(ctx, cfg)
		if err != nil {
			return err
		}
		defer func() { _ = mp.Shutdown(context.WithoutCancel(ctx)) }()
		metricOpt = eventsource.WithMeterProvider(mp)
	}
	log := slog.New(eventsource.NewTraceHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	rnd := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))

	store := eventsource.NewInMemoryEventStore(opt)
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{Workers: cfg.workers, QueueSize: 4096}, opt)
	snapshots := eventsource.NewInMemorySnapshotStore(opt)
	summary := &orderSummary{rows: map[string]orderView{},
		slow: &slowness{delay: cfg.summaryDelay, jitter: cfg.summaryJitter, failRatio: cfg.projErrorRatio, rnd: rand.New(rand.NewPCG(cfg.seed+1, 1))}}
	levels := &inventoryLevels{lvl: map[string]int{},
		slow: &slowness{delay: cfg.inventoryDelay, jitter: cfg.inventoryJitter, failRatio: cfg.projErrorRatio, rnd: rand.New(rand.NewPCG(cfg.seed+2, 2))}}
	handles = []eventsource.EventFilter{summary, levels}
	orders, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: store, AggregateType: "Order", Factory: newOrder, Snapshots: snapshots, Publisher: bus}, opt)
	if err != nil {
		return err
	}
	inv, err := eventsource.NewRepository(eventsource.RepositoryConfig[*inventory]{
		Store: store, AggregateType: "Inventory", Factory: newInventory, Publisher: bus}, opt)
	if err != nil {
		return err
	}
	dlq := eventsource.NewInMemoryDLQ(100000, opt)
	checkpoints := eventsource.NewInMemoryCheckpointStore()
	runners := map[string]*eventsource.ProjectionRunner{}
	for _, p := range []eventsource.Projection{summary, levels} {
		r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{
			Projection: p, Store: store, Checkpoints: checkpoints, DLQ: dlq,
			MaxAttempts: cfg.maxAttempts, OnApply: rec.apply}, opt, metricOpt)
		if err != nil {
			return err
		}
		if _, err := r.CatchUp(ctx); err != nil {
			return err
		}
		bus.Subscribe(r)
		runners[p.Name()] = r
	}

	h := &handlers{orders: orders, inventory: inv, summary: summary}
	commands := eventsource.NewCommandBus(opt, metricOpt)
	commands.Register("PlaceOrder", h.placeOrder)
	commands.Register("CancelOrder", h.cancelOrder)
	queries := eventsource.NewQueryBus(opt, metricOpt)
	queries.Register("GetOrder", h.getOrder)
	queries.Register("ListOrders", h.listOrders)

	log.InfoContext(ctx, "esdemo starting", "endpoint", cfg.endpoint, "rate", cfg.rate, "duration", cfg.duration)
	// -commands bounds the load by count instead of time, so a test's workload does not depend on the clock.
	loadCtx, cancelLoad := context.WithTimeout(ctx, cfg.duration)
	if cfg.commands > 0 {
		loadCtx, cancelLoad = context.WithCancel(ctx)
	}
	defer cancelLoad()

	var (
		wg      sync.WaitGroup
		placedM sync.Mutex
		placed  []string // orders that can still be cancelled
		nextID  int
	)
	pickOrder := func(r *rand.Rand, remove bool) (string, bool) {
		placedM.Lock()
		defer placedM.Unlock()
		if len(placed) == 0 {
			return "", false
		}
		i := r.IntN(len(placed))
		id := placed[i]
		if remove {
			placed[i] = placed[len(placed)-1]
			placed = placed[:len(placed)-1]
		}
		return id, true
	}

	var replays atomic.Int32
	rebuild := func() {
		n, err := runners[cfg.replayName].Rebuild(context.WithoutCancel(loadCtx))
		log.InfoContext(ctx, "projection rebuilt", "projection", cfg.replayName, "events", n, "err", err)
		replays.Add(1)
	}

	// Commands, on one goroutine: the workload stays reproducible per seed.
	wg.Go(func() {
		if cfg.commands > 0 {
			defer cancelLoad()
		}
		tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
		defer tick.Stop()
		for dispatched := 1; cfg.commands == 0 || dispatched <= cfg.commands; dispatched++ {
			select {
			case <-loadCtx.Done():
				return
			case <-tick.C:
			}
			fail := rnd.Float64() < cfg.errorRatio
			var cmd eventsource.Command
			if rnd.Float64() < cfg.cancelRatio {
				if id, ok := pickOrder(rnd, !fail); ok {
					cmd = cancelOrder{OrderID: id, Fail: fail}
				}
			}
			if cmd == nil {
				nextID++
				cmd = placeOrder{OrderID: fmt.Sprintf("order-%06d", nextID), SKU: fmt.Sprintf("sku-%d", rnd.IntN(5)+1),
					Qty: rnd.IntN(3) + 1, Fail: fail}
			}
			// Commands run to completion even when the load window closes.
			events, err := commands.Dispatch(context.WithoutCancel(loadCtx), cmd)
			rec.command(cmd.CommandType(), events, err)
			if po, ok := cmd.(placeOrder); ok && err == nil {
				placedM.Lock()
				placed = append(placed, po.OrderID)
				placedM.Unlock()
			}
			if err != nil && !fail {
				log.WarnContext(ctx, "command failed", "type", cmd.CommandType(), "err", err)
			}
			if dispatched == cfg.replayAfterCmds {
				wg.Go(rebuild)
			}
		}
	})

	if cfg.queryRate > 0 {
		qrnd := rand.New(rand.NewPCG(cfg.seed+3, 3))
		wg.Go(func() {
			tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.queryRate))
			defer tick.Stop()
			for {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				var q eventsource.Query = listOrders{Limit: 20}
				if qrnd.IntN(2) == 0 {
					if id, ok := pickOrder(qrnd, false); ok {
						q = getOrder{OrderID: id}
					} else {
						q = getOrder{OrderID: "order-missing"}
					}
				}
				res, err := queries.Execute(context.WithoutCancel(loadCtx), q)
				rec.query(q.QueryType(), res, err)
			}
		})
	}

	if cfg.replayAfter > 0 {
		wg.Go(func() {
			t := time.NewTimer(cfg.replayAfter)
			defer t.Stop()
			select {
			case <-loadCtx.Done():
				return
			case <-t.C:
			}
			rebuild()
		})
	}

	wg.Wait()
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.drainTimeout)
	defer cancel()
	if err := bus.Drain(dctx); err != nil {
		log.Warn("projections did not catch up before exit", "pending", bus.QueueDepth())
	}
	bus.Close()
	if err := tp.ForceFlush(dctx); err != nil {
		log.Warn("flushing spans", "err", err)
	}
	if err := tp.Shutdown(dctx); err != nil {
		log.Warn("shutting down the tracer provider", "err", err)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	gt := &rec.gt
	gt.DurationMs = float64(time.Since(start)) / float64(time.Millisecond)
	gt.Replays = int(replays.Load())
	gt.HeadPosition, _ = store.HeadPosition(context.Background())
	for name, r := range runners {
		if gt.Projections[name] == nil {
			gt.Projections[name] = &projectionTruth{Phases: map[string]*phaseTruth{}}
		}
		gt.Projections[name].Checkpoint = r.Checkpoint()
	}
	gt.DLQEntries = dlq.Len()

	w := stdout
	if cfg.out != "-" {
		f, err := os.Create(cfg.out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(gt)
}
