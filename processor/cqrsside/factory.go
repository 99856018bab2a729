package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"context"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadata"
)

const (
	// defaultCacheMaxEntries preallocates about 4.5 MB (join.Ancestry: a 24 B slot an entry and its index cells).
	defaultCacheMaxEntries = 100_000
	// defaultCacheTTL covers several of the SDKs' 5 s export cycles, so a
	// side cached when a parent arrives is still there for children exported
	// in later batches.
	defaultCacheTTL = 30 * time.Second
)

// NewFactory returns the cqrsside processor factory.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{
		RulesOrder:     rulesOrderBefore,
		EmitSideSource: true,
		AncestorCache: AncestorCacheConfig{
			MaxEntries: defaultCacheMaxEntries,
			TTL:        defaultCacheTTL,
		},
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newProcessor(set, cfg.(*Config), clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithShutdown(p.shutdown),
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
	)
}
