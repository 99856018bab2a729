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
	// defaultAncestorWait covers the OpenTelemetry SDKs' BatchSpanProcessor
	// schedule delay (5s by default in Go, Python, Java and JS) plus a
	// second for export and collector queueing: a child span exported in
	// one SDK batch usually finds its parent in the next one.
	defaultAncestorWait = 6 * time.Second
	// defaultMaxHeldSpans keeps the held buffer to a few MB (spans are held
	// without copies of their resource per span).
	defaultMaxHeldSpans = 10_000
	// defaultCacheMaxEntries preallocates about 4.5 MB (see ancestors.go).
	defaultCacheMaxEntries = 100_000
	// defaultCacheTTL outlives ancestor_wait several times, so a side
	// cached when a parent arrives is still there for late grandchildren.
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
		AncestorWait:   defaultAncestorWait,
		HoldSpans:      holdAll,
		MaxHeldSpans:   defaultMaxHeldSpans,
		AncestorCache: AncestorCacheConfig{
			MaxEntries: defaultCacheMaxEntries,
			TTL:        defaultCacheTTL,
		},
	}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	p, err := newProcessor(set, cfg.(*Config), next, clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithStart(p.start),
		processorhelper.WithShutdown(p.shutdown),
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
	)
}
