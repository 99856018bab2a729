// Package pipelinetest runs the three components together in process, as a collector's traces pipeline
// chains them (cqrsside → projectionlag → a fan-out to a traces sink and spanmetrics_es), each built by its
// factory on its default configuration. Tests use it to check what the whole chain does; no component
// imports it.
package pipelinetest // import "github.com/otelcol-es/otelcol-es/internal/pipelinetest"

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	spanmetricses "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside"
	"github.com/otelcol-es/otelcol-es/processor/projectionlag"
)

// Options change the defaults.
type Options struct {
	// Telemetry, when set, records cqrsside's self-telemetry.
	Telemetry *componenttest.Telemetry
}

// Pipeline is the started chain.
type Pipeline struct {
	// In receives traces as the otlp receiver would pass them on.
	In consumer.Traces
	// Traces gets what the traces pipeline exports; Metrics what the connector flushes.
	Traces  *consumertest.TracesSink
	Metrics *consumertest.MetricsSink
	order   []component.Component // pipeline order
}

// New builds and starts the chain; Shutdown is registered as a cleanup too.
func New(t testing.TB, o Options) *Pipeline {
	t.Helper()
	ctx := context.Background()
	p := &Pipeline{Traces: new(consumertest.TracesSink), Metrics: new(consumertest.MetricsSink)}

	cf := spanmetricses.NewFactory()
	conn, err := cf.CreateTracesToMetrics(ctx, connectortest.NewNopSettings(cf.Type()), cf.CreateDefaultConfig(), p.Metrics)
	require.NoError(t, err)
	// The traces pipeline's exporter and the connector both read what projectionlag sends on.
	fanout, err := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		if err := p.Traces.ConsumeTraces(ctx, td); err != nil {
			return err
		}
		return conn.ConsumeTraces(ctx, td)
	})
	require.NoError(t, err)
	lf := projectionlag.NewFactory()
	lag, err := lf.CreateTraces(ctx, processortest.NewNopSettings(lf.Type()), lf.CreateDefaultConfig(), fanout)
	require.NoError(t, err)
	sf := cqrsside.NewFactory()
	scfg := sf.CreateDefaultConfig()
	set := processortest.NewNopSettings(sf.Type())
	if o.Telemetry != nil {
		set.TelemetrySettings = o.Telemetry.NewTelemetrySettings()
	}
	side, err := sf.CreateTraces(ctx, set, scfg, lag)
	require.NoError(t, err)

	p.In, p.order = side, []component.Component{side, lag, conn}
	for i := range p.order {
		require.NoError(t, p.order[len(p.order)-1-i].Start(ctx, componenttest.NewNopHost()))
	}
	t.Cleanup(func() { p.Shutdown(t) })
	return p
}

// Shutdown stops the chain in pipeline order, which releases anything held and flushes the connector. A
// second call does nothing.
func (p *Pipeline) Shutdown(t testing.TB) {
	t.Helper()
	for _, c := range p.order {
		require.NoError(t, c.Shutdown(context.Background()))
	}
	p.order = nil
}
