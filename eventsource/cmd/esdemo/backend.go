package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"
	"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus/rabbittest"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

// -bus and -store values.
const (
	busMemory     = "memory"
	busKafka      = "kafka"
	busRabbitMQ   = "rabbitmq"
	storeMemory   = "memory"
	storeSQLite   = "sqlite"
	storePostgres = "postgres"
)

// stores is the event store and its companions. With -bus kafka|rabbitmq and -store postgres the projection service
// has its own handle on the database (its store spans are its own); the in-memory and SQLite stores are one
// handle shared by both services, their spans in the write service's provider.
type stores struct {
	write, read eventsource.EventStore
	snapshots   eventsource.SnapshotStore
	checkpoints eventsource.CheckpointStore
	dlq         eventsource.DeadLetterQueue
	// outbox is the write handle's outbox (sqlite and postgres with -bus kafka|rabbitmq), else nil.
	outbox  eventsource.Outbox
	closers []func() error
}

// openStores opens -store for the write service (opt) and the projection service (projOpt); withOutbox
// makes a SQL store write an outbox row per event, which a relay publishes.
func openStores(ctx context.Context, cfg config, opt, projOpt eventsource.Option, withOutbox bool) (*stores, error) {
	s := &stores{}
	switch cfg.store {
	case storeSQLite:
		path := cfg.sqlitePath
		if path == "" {
			dir, err := os.MkdirTemp("", "esdemo-")
			if err != nil {
				return nil, err
			}
			s.closers = append(s.closers, func() error { return os.RemoveAll(dir) })
			path = filepath.Join(dir, "esdemo.db")
		}
		w, err := sqlitestore.OpenConfig(path, sqlitestore.Config{Outbox: withOutbox}, opt)
		if err != nil {
			return nil, s.closeWith(err)
		}
		s.closers = append(s.closers, w.Close)
		// One handle for both services: sqlitestore serialises its writers on one connection, and a second
		// handle's appends would meet SQLITE_BUSY. The projection service's runner spans (apply, checkpoints)
		// are still its own.
		s.write, s.read, s.snapshots, s.checkpoints, s.dlq = w, w, w.Snapshots(), w, w.DLQ()
		if withOutbox {
			s.outbox = w.Outbox()
		}
	case storePostgres:
		w, err := pgstore.OpenConfig(ctx, cfg.postgresURL, pgstore.Config{Outbox: withOutbox}, opt)
		if err != nil {
			return nil, s.closeWith(fmt.Errorf("-postgres-url: %w", err))
		}
		s.closers = append(s.closers, w.Close)
		r := w
		if cfg.bus != busMemory {
			if r, err = pgstore.Open(ctx, cfg.postgresURL, projOpt); err != nil {
				return nil, s.closeWith(fmt.Errorf("-postgres-url: %w", err))
			}
			s.closers = append(s.closers, r.Close)
		}
		s.write, s.read, s.snapshots, s.checkpoints, s.dlq = w, r, w.Snapshots(), r, r.DLQ()
		if withOutbox {
			s.outbox = w.Outbox()
		}
	default:
		m := eventsource.NewInMemoryEventStore(opt)
		s.write, s.read = m, m
		s.snapshots = eventsource.NewInMemorySnapshotStore(opt)
		s.checkpoints = eventsource.NewInMemoryCheckpointStore()
		s.dlq = eventsource.NewInMemoryDLQ(100000, projOpt)
	}
	return s, nil
}

func (s *stores) closeWith(err error) error { return errors.Join(err, s.close()) }

// close closes the handles, then removes a temporary SQLite file.
func (s *stores) close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// dlqEntries counts the unresolved dead letters of the projections.
func (s *stores) dlqEntries(ctx context.Context, projections []string) int {
	if m, ok := s.dlq.(*eventsource.InMemoryDLQ); ok {
		return m.Len()
	}
	n := 0
	for _, p := range projections {
		entries, _ := s.dlq.Get(ctx, p)
		n += len(entries)
	}
	return n
}

// brokerBus is a bus through a broker: kafkabus.Bus or rabbitbus.Bus.
type brokerBus interface {
	eventsource.EventPublisher
	eventsource.EventSubscriber
	Consume(ctx context.Context) error
	Close() error
}

// brokerSide is -bus kafka or rabbitmq: the write service's bus (publish only) and the projection service's
// bus (its consumer group), each with its own providers, on a broker of the demo's own unless one is given.
type brokerSide struct {
	name      string // the bus, for logs
	inProcess bool   // the demo started the broker (closeBroker stops it)
	brokers   []string
	topic     string // Kafka's topic, RabbitMQ's exchange
	group     string
	pub, sub  brokerBus
	published atomic.Int64 // events the brokers acknowledged, through publisher()
	delivered map[string]*atomic.Int64
	stop      context.CancelFunc
	done      chan error

	closeBroker func()
}

// runID names the default topic on a real broker, so that a run never reads another run's events.
func runID() string { return fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()) }

// startKafka is -bus kafka: an in-process kfake broker unless -brokers.
func startKafka(ctx context.Context, cfg config, tp, projTP trace.TracerProvider, mp, projMP metric.MeterProvider) (*brokerSide, error) {
	k := &brokerSide{name: busKafka, topic: cfg.topic, group: cfg.consumerGroup, delivered: map[string]*atomic.Int64{}}
	if k.group == "" {
		k.group = cfg.projService
	}
	if cfg.brokers == "" {
		if k.topic == "" {
			k.topic = "esdemo.events"
		}
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
			kfake.SeedTopics(int32(cfg.partitions), k.topic, k.topic+kafkabus.DefaultDLQSuffix))
		if err != nil {
			return nil, fmt.Errorf("in-process Kafka: %w", err)
		}
		k.closeBroker, k.brokers, k.inProcess = cluster.Close, cluster.ListenAddrs(), true
	} else {
		for _, b := range strings.Split(cfg.brokers, ",") {
			if b = strings.TrimSpace(b); b != "" {
				k.brokers = append(k.brokers, b)
			}
		}
		if k.topic == "" {
			k.topic = "esdemo.events." + runID()
		}
	}
	pub, err := kafkabus.New(kafkabus.Config{Brokers: k.brokers, Topic: k.topic, ClientID: cfg.service},
		kafkabus.WithTracerProvider(tp), kafkabus.WithMeterProvider(mp))
	if err != nil {
		k.close()
		return nil, err
	}
	k.pub = pub
	if !k.inProcess {
		// On a real broker: the run's own topic (and its DLQ), bounded; topics that exist are kept.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := pub.CreateTopics(cctx, int32(cfg.partitions), -1)
		cancel()
		if err != nil {
			k.close()
			return nil, fmt.Errorf("-brokers: %w", err)
		}
	}
	// A runner settles every event itself (retries, DLQ): the bus retries only an unsettled one.
	k.sub, err = kafkabus.New(kafkabus.Config{Brokers: k.brokers, Topic: k.topic, ConsumerGroup: k.group,
		ClientID: cfg.projService, RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: 2 * time.Second},
		kafkabus.WithTracerProvider(projTP), kafkabus.WithMeterProvider(projMP))
	if err != nil {
		k.close()
		return nil, err
	}
	return k, nil
}

// startRabbitMQ is -bus rabbitmq: a throw-away rabbitmq-server node (Debian's package) unless -rabbitmq-url,
// an exchange of the run's own unless -topic.
func startRabbitMQ(ctx context.Context, cfg config, tp, projTP trace.TracerProvider) (*brokerSide, error) {
	r := &brokerSide{name: busRabbitMQ, topic: cfg.topic, group: cfg.consumerGroup, delivered: map[string]*atomic.Int64{}}
	if r.group == "" {
		r.group = cfg.projService
	}
	if r.topic == "" {
		r.topic = "esdemo.events." + runID()
	}
	url := cfg.rabbitmqURL
	if url == "" {
		node, err := rabbittest.Start()
		if err != nil {
			return nil, fmt.Errorf("starting a RabbitMQ node (or give -rabbitmq-url): %w", err)
		}
		r.closeBroker, r.inProcess, url = func() { _ = node.Stop() }, true, node.URL
	}
	r.brokers = []string{url}
	pub, err := rabbitbus.New(rabbitbus.Config{URL: url, Exchange: r.topic, ConnectionName: cfg.service},
		rabbitbus.WithTracerProvider(tp))
	if err != nil {
		r.close()
		return nil, err
	}
	r.pub = pub
	sub, err := rabbitbus.New(rabbitbus.Config{URL: url, Exchange: r.topic, ConsumerGroup: r.group,
		ConnectionName: cfg.projService, RetryBaseDelay: 100 * time.Millisecond, RetryMaxDelay: 2 * time.Second},
		rabbitbus.WithTracerProvider(projTP))
	if err != nil {
		r.close()
		return nil, err
	}
	r.sub = sub
	// The broker drops what no queue is bound for: the group's queue exists before the first publish.
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sub.Declare(cctx); err != nil {
		r.close()
		return nil, fmt.Errorf("-rabbitmq-url: %w", err)
	}
	return r, nil
}

// publisher is the write service's bus, counting the events it published.
func (k *brokerSide) publisher() eventsource.EventPublisher { return countingPublisher{k} }

type countingPublisher struct{ k *brokerSide }

func (c countingPublisher) Publish(ctx context.Context, events []eventsource.Event) error {
	err := c.k.pub.Publish(ctx, events)
	if err == nil {
		c.k.published.Add(int64(len(events)))
	}
	return err
}

// Subscribe implements eventsource.EventSubscriber for ProjectionRunner.Start: the projection service's bus,
// with each runner wrapped by settled.
func (k *brokerSide) Subscribe(h eventsource.EventHandler) {
	n := &atomic.Int64{}
	k.delivered[h.HandlerName()] = n
	k.sub.Subscribe(settled{h: h, delivered: n})
}

// settled hands a record to a projection runner. A runner settles an event itself (MaxAttempts, then the
// DLQ) and returns the apply error even then; the record is done once the runner's checkpoint is past it,
// so the bus does not retry it (as the in-process bus does not). Only an unsettled event (the DLQ refused
// it) goes back to the bus's retries.
type settled struct {
	h         eventsource.EventHandler
	delivered *atomic.Int64
}

func (s settled) HandlerName() string { return s.h.HandlerName() }

func (s settled) HandleEvent(ctx context.Context, e eventsource.Event) error {
	err := s.h.HandleEvent(ctx, e)
	if r, ok := s.h.(*eventsource.ProjectionRunner); ok && err != nil && e.Position > 0 && r.Checkpoint() >= e.Position {
		err = nil
	}
	if err == nil {
		s.delivered.Add(1)
	}
	return err
}

// consume runs the projection service's consumer until stopConsuming.
func (k *brokerSide) consume(ctx context.Context, log *slog.Logger) {
	cctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	k.stop, k.done = stop, make(chan error, 1)
	go func() {
		err := k.sub.Consume(cctx)
		if err != nil {
			log.Error("consumer stopped", "bus", k.name, "err", err)
		}
		k.done <- err
	}()
}

// caughtUp: every runner's checkpoint is at the store's head, and every runner got every record published.
func (k *brokerSide) caughtUp(ctx context.Context, head func(context.Context) (int64, error), runners map[string]*eventsource.ProjectionRunner) bool {
	h, err := head(ctx)
	if err != nil {
		return false
	}
	for name, r := range runners {
		if r.Checkpoint() < h || k.delivered[name] == nil || k.delivered[name].Load() < k.published.Load() {
			return false
		}
	}
	return true
}

// close stops the consumer (finishing the message in progress), then the buses and the demo's own broker.
func (k *brokerSide) close() {
	if k.stop != nil {
		k.stop()
		<-k.done
		k.stop = nil
	}
	if k.sub != nil {
		_ = k.sub.Close()
	}
	if k.pub != nil {
		_ = k.pub.Close()
	}
	if k.closeBroker != nil {
		k.closeBroker()
		k.closeBroker = nil
	}
}

func (k *brokerSide) truth(outbox bool, partitions int) *busTruth {
	t := &busTruth{Brokers: strings.Join(k.brokers, ","), InProcess: k.inProcess, Topic: k.topic,
		ConsumerGroup: k.group, Partitions: partitions, Outbox: outbox, Published: k.published.Load(),
		Delivered: map[string]int64{}}
	if k.name == busRabbitMQ {
		t.Brokers, t.Partitions = redactURL(t.Brokers), 0
	}
	for name, n := range k.delivered {
		t.Delivered[name] = n.Load()
	}
	return t
}

// redactURL hides a URL's password.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
