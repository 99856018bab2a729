package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag/internal/metadata"
)

// NewFactory returns the projectionlag processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
	)
}

// createDefaultConfig holds every default in one place.
// defaultMaxProducers sizes the producer store to hold defaultTTL of the benchmarks' mix at 50k spans/s:
// 0.28 of its spans are stored (TestLink_StoreShareOfTheMix), 14.2k a second, so 500k hold 35 s.
const defaultMaxProducers = 500_000

// defaultTTL covers producers exported up to 30 s after their consumers (SDKs flush every 5 s per
// process; a sidecar → gateway hop adds its queue and retries), with a margin.
const defaultTTL = 35 * time.Second

func createDefaultConfig() component.Config {
	return &Config{
		EventTimestampKeys: []string{semconv.AttrESEventTimestamp, semconv.AttrEventTimestamp},
		FutureTolerance:    time.Minute,
		NegativeLag:        negativeLagClamp,
		Link: linkConfig{
			Enabled:      true,
			MaxProducers: defaultMaxProducers,
			TTL:          defaultTTL,
			// 50k pending joins (11 MB) hold 20s of 2.5k late applies a second.
			MaxPending:      50_000,
			MaxCommandTypes: 10_000,
			MaxDepth:        16,
		},
		Positions: positionsConfig{
			// One head per event-store database, not per service: with a bus, projections often run in
			// another service than the writer (eventsource runtime conventions), and must still compare against its head.
			HeadKeyAttributes: []string{semconv.AttrDBName},
			MaxHeads:          1_000,
			MaxProjections:    10_000,
		},
		Phase: phaseConfig{
			Keys:                  []string{semconv.AttrSubscriptionPhase, semconv.AttrESSubscriptionState},
			ReplayPositionsBehind: 1_000,
		},
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newProcessor(set, cfg.(*Config), clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
	)
}
