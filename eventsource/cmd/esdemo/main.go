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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
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
	bus             string
	brokers         string
	topic           string
	partitions      int
	consumerGroup   string
	projService     string
	store           string
	sqlitePath      string
	postgresURL     string
	rabbitmqURL     string
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
	fs.StringVar(&c.bus, "bus", busMemory, `event bus: "memory" (in-process), or "kafka" or "rabbitmq" (the projections consume in a second service)`)
	fs.StringVar(&c.brokers, "brokers", "", "with -bus kafka: Kafka brokers host:port,... (empty: an in-process kfake broker)")
	fs.StringVar(&c.rabbitmqURL, "rabbitmq-url", "", "with -bus rabbitmq: the broker, amqp://user:password@host:port/vhost (empty: a throw-away rabbitmq-server node)")
	fs.StringVar(&c.topic, "topic", "", `with -bus kafka: the events topic (default "esdemo.events" in process, "esdemo.events.<run id>" on -brokers); with -bus rabbitmq: the exchange (default "esdemo.events.<run id>")`)
	fs.IntVar(&c.partitions, "partitions", 1, "with -bus kafka: partitions of the topic the demo creates")
	fs.StringVar(&c.consumerGroup, "consumer-group", "", "with -bus kafka|rabbitmq: the projections' consumer group (default: -projection-service-name)")
	fs.StringVar(&c.projService, "projection-service-name", "", `with -bus kafka|rabbitmq: service.name of the projections (default "<service-name>-projections")`)
	fs.StringVar(&c.store, "store", storeMemory, `event store, checkpoints, dead letters, snapshots: "memory", "sqlite" or "postgres"`)
	fs.StringVar(&c.sqlitePath, "sqlite-path", "", "with -store sqlite: the database file (default: a temporary file removed at exit)")
	fs.StringVar(&c.postgresURL, "postgres-url", "", "with -store postgres: the database URL (required), e.g. postgres://user@host:5432/db")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch c.bus {
	case busMemory, busKafka, busRabbitMQ:
	default:
		return c, fmt.Errorf("-bus must be %s, %s or %s, not %q", busMemory, busKafka, busRabbitMQ, c.bus)
	}
	if c.bus == busMemory {
		for _, f := range []string{"topic", "consumer-group", "projection-service-name"} {
			if set[f] {
				return c, fmt.Errorf("-%s needs -bus kafka or rabbitmq", f)
			}
		}
	} else if set["workers"] {
		return c, fmt.Errorf("-workers is the in-process bus's: with -bus %s the projections consume in one consumer group", c.bus)
	}
	for f, bus := range map[string]string{"brokers": busKafka, "partitions": busKafka, "rabbitmq-url": busRabbitMQ} {
		if set[f] && c.bus != bus {
			return c, fmt.Errorf("-%s needs -bus %s", f, bus)
		}
	}
	switch c.store {
	case storeMemory, storeSQLite, storePostgres:
	default:
		return c, fmt.Errorf("-store must be %s, %s or %s, not %q", storeMemory, storeSQLite, storePostgres, c.store)
	}
	switch {
	case set["sqlite-path"] && c.store != storeSQLite:
		return c, errors.New("-sqlite-path needs -store sqlite")
	case set["postgres-url"] && c.store != storePostgres:
		return c, errors.New("-postgres-url needs -store postgres")
	case c.store == storePostgres && c.postgresURL == "":
		return c, errors.New("-store postgres needs -postgres-url (e.g. postgres://user@127.0.0.1:5432/esdemo)")
	case c.partitions < 1:
		return c, errors.New("-partitions must be >= 1")
	case c.bus == busKafka && c.brokers != "" && strings.Trim(c.brokers, ", ") == "":
		return c, errors.New("-brokers has no host:port")
	}
	if c.projService == "" {
		c.projService = c.service
		if c.bus != busMemory {
			c.projService = c.service + "-projections"
		}
	}
	if c.bus != busMemory && c.projService == c.service {
		return c, errors.New("-projection-service-name must differ from -service-name")
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
func newTracerProvider(ctx context.Context, cfg config, service string, rec *recorder) (*sdktrace.TracerProvider, error) {
	res, err := resource.New(ctx, resource.WithAttributes(otsemconv.ServiceName(service)), resource.WithTelemetrySDK())
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

func newMeterProvider(ctx context.Context, cfg config, service string) (*sdkmetric.MeterProvider, error) {
	res, err := resource.New(ctx, resource.WithAttributes(otsemconv.ServiceName(service)), resource.WithTelemetrySDK())
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
	log := slog.New(eventsource.NewTraceHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	tp, err := newTracerProvider(ctx, cfg, cfg.service, rec)
	if err != nil {
		return err
	}
	tps := []*sdktrace.TracerProvider{tp}
	// Through a broker the projections run in a second service: its own provider and resource, the same
	// ground truth.
	projTP := tp
	if cfg.bus != busMemory {
		if projTP, err = newTracerProvider(ctx, cfg, cfg.projService, rec); err != nil {
			return err
		}
		tps = append(tps, projTP)
	}
	opt, projOpt := eventsource.WithTracerProvider(tp), eventsource.WithTracerProvider(projTP)
	// Only the buses and projection runners take the meter provider; the cqrs.* runtime metrics only with
	// -runtime-metrics. The Kafka buses' kafka.eventbus.* metrics are always exported: the collector does not
	// derive them.
	metricOpt := eventsource.WithMeterProvider(nil)
	projMetricOpt := metricOpt
	var busMP, projBusMP metric.MeterProvider = noop.NewMeterProvider(), noop.NewMeterProvider()
	var mps []*sdkmetric.MeterProvider
	shutdownMetrics := func(ctx context.Context) {
		for _, mp := range mps {
			if err := mp.Shutdown(ctx); err != nil {
				log.Warn("shutting down the meter provider", "err", err)
			}
		}
		mps = nil
	}
	defer func() { shutdownMetrics(context.WithoutCancel(ctx)) }()
	if cfg.endpoint != "none" && (cfg.runtimeMetrics || cfg.bus == busKafka) {
		mp, err := newMeterProvider(ctx, cfg, cfg.service)
		if err != nil {
			return err
		}
		mps, busMP = append(mps, mp), mp
		if cfg.runtimeMetrics {
			metricOpt, projMetricOpt = eventsource.WithMeterProvider(mp), eventsource.WithMeterProvider(mp)
		}
		if cfg.bus == busKafka {
			pmp, err := newMeterProvider(ctx, cfg, cfg.projService)
			if err != nil {
				return err
			}
			mps, projBusMP = append(mps, pmp), pmp
			if cfg.runtimeMetrics {
				projMetricOpt = eventsource.WithMeterProvider(pmp)
			}
		}
	}
	rnd := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))

	// Through a broker, a SQL store publishes through its outbox and a relay.
	st, err := openStores(ctx, cfg, opt, projOpt, cfg.bus != busMemory && cfg.store != storeMemory)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.close(); err != nil {
			log.Warn("closing the store", "err", err)
		}
	}()
	var (
		bus        *eventsource.EventBus
		broker     *brokerSide
		relay      *eventsource.OutboxRelay
		publisher  eventsource.EventPublisher
		subscriber eventsource.EventSubscriber
	)
	switch cfg.bus {
	case busKafka:
		broker, err = startKafka(ctx, cfg, tp, projTP, busMP, projBusMP)
	case busRabbitMQ:
		broker, err = startRabbitMQ(ctx, cfg, tp, projTP)
	}
	if err != nil {
		return err
	}
	if broker != nil {
		defer broker.close()
		subscriber = broker
		if st.outbox != nil {
			relay, err = eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: st.outbox, Publisher: broker.publisher(),
				PollInterval: 20 * time.Millisecond, OnError: func(err error) { log.Warn("outbox relay", "err", err) }})
			if err != nil {
				return err
			}
		} else {
			publisher = broker.publisher()
		}
	} else {
		bus = eventsource.NewEventBus(eventsource.EventBusConfig{Workers: cfg.workers, QueueSize: 4096}, opt)
		publisher, subscriber = bus, bus
	}
	summary := &orderSummary{rows: map[string]orderView{},
		slow: &slowness{delay: cfg.summaryDelay, jitter: cfg.summaryJitter, failRatio: cfg.projErrorRatio, rnd: rand.New(rand.NewPCG(cfg.seed+1, 1))}}
	levels := &inventoryLevels{lvl: map[string]int{},
		slow: &slowness{delay: cfg.inventoryDelay, jitter: cfg.inventoryJitter, failRatio: cfg.projErrorRatio, rnd: rand.New(rand.NewPCG(cfg.seed+2, 2))}}
	handles = []eventsource.EventFilter{summary, levels}
	orders, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{
		Store: st.write, Factory: newOrder, Snapshots: st.snapshots, Publisher: publisher}, opt)
	if err != nil {
		return err
	}
	inv, err := eventsource.NewRepository(eventsource.RepositoryConfig[*inventory]{
		Store: st.write, Factory: newInventory, Publisher: publisher}, opt)
	if err != nil {
		return err
	}
	runners := map[string]*eventsource.ProjectionRunner{}
	for _, p := range []eventsource.Projection{summary, levels} {
		r, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{
			Projection: p, Store: st.read, Checkpoints: st.checkpoints, DLQ: st.dlq,
			MaxAttempts: cfg.maxAttempts, OnApply: rec.apply}, projOpt, projMetricOpt)
		if err != nil {
			return err
		}
		// Subscribe, then catch up from the checkpoint (a reused -sqlite-path or database has one).
		if _, err := r.Start(ctx, subscriber); err != nil {
			return err
		}
		runners[p.Name()] = r
	}
	if broker != nil {
		broker.consume(ctx, log)
	}
	if relay != nil {
		relay.Start(context.WithoutCancel(ctx))
		defer relay.Stop()
	}

	h := &handlers{orders: orders, inventory: inv, summary: summary}
	commands := eventsource.NewCommandBus(opt, metricOpt)
	queries := eventsource.NewQueryBus(opt, metricOpt)
	if err := errors.Join(
		eventsource.Register(commands, h.placeOrder),
		eventsource.Register(commands, h.cancelOrder),
		eventsource.RegisterQuery(queries, h.getOrder),
		eventsource.RegisterQuery(queries, h.listOrders),
	); err != nil {
		return err
	}

	log.InfoContext(ctx, "esdemo starting", "endpoint", cfg.endpoint, "bus", cfg.bus, "store", cfg.store, "rate", cfg.rate, "duration", cfg.duration)
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
				rec.query(q.QueryType(), execute(context.WithoutCancel(loadCtx), queries, q))
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
	if broker != nil {
		// Caught up: every runner's checkpoint at the store's head, every record delivered, and the relay's
		// last pass marked what it published (a pass stopped in between would leave published rows pending).
		for !broker.caughtUp(dctx, st.write.HeadPosition, runners) || relay != nil && relay.Stats().Published < broker.published.Load() {
			if dctx.Err() != nil {
				log.Warn("projections did not catch up before exit", "published", broker.published.Load())
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if relay != nil {
			relay.Stop()
		}
		broker.close() // the consumer commits (Kafka) or acknowledges (RabbitMQ) and leaves
	} else {
		if err := bus.Drain(dctx); err != nil {
			log.Warn("projections did not catch up before exit", "pending", bus.QueueDepth())
		}
		bus.Close()
	}
	for _, p := range tps {
		if err := p.ForceFlush(dctx); err != nil {
			log.Warn("flushing spans", "err", err)
		}
		if err := p.Shutdown(dctx); err != nil {
			log.Warn("shutting down the tracer provider", "err", err)
		}
	}
	shutdownMetrics(dctx) // the last kafka.eventbus.* values
	names := make([]string, 0, len(runners))
	for name := range runners {
		names = append(names, name)
	}
	dlqEntries := st.dlqEntries(context.Background(), names) // the providers are shut down: no spans

	rec.mu.Lock()
	defer rec.mu.Unlock()
	gt := &rec.gt
	gt.ProjectionServiceName, gt.Bus, gt.Store = cfg.projService, cfg.bus, cfg.store
	switch cfg.bus {
	case busKafka:
		gt.Kafka = broker.truth(relay != nil, cfg.partitions)
	case busRabbitMQ:
		gt.RabbitMQ = broker.truth(relay != nil, 0)
	}
	gt.DurationMs = float64(time.Since(start)) / float64(time.Millisecond)
	gt.Replays = int(replays.Load())
	gt.HeadPosition, _ = st.write.HeadPosition(context.Background())
	for name, r := range runners {
		if gt.Projections[name] == nil {
			gt.Projections[name] = &projectionTruth{Phases: map[string]*phaseTruth{}}
		}
		gt.Projections[name].Checkpoint = r.Checkpoint()
	}
	gt.DLQEntries = dlqEntries

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
