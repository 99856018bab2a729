package cqrsmetricsdrop // import "github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop"

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/otelcol-es/otelcol-es/processor/cqrsmetricsdrop/internal/metadata"
)

type dropProcessor struct {
	prefixes  []string
	telemetry *metadata.TelemetryBuilder
}

func newProcessor(set processor.Settings, cfg *Config) (*dropProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &dropProcessor{prefixes: cfg.MetricNamePrefixes, telemetry: tb}, nil
}

// processMetrics removes the matching metrics, then the scopes and resources
// they leave empty; a batch left with nothing goes no further.
func (p *dropProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	var dropped int64
	md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		rm.ScopeMetrics().RemoveIf(func(sm pmetric.ScopeMetrics) bool {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if !p.matches(m.Name()) {
					return false
				}
				dropped += int64(dataPoints(m))
				return true
			})
			return sm.Metrics().Len() == 0
		})
		return rm.ScopeMetrics().Len() == 0
	})
	if dropped > 0 {
		p.telemetry.ProcessorCqrsmetricsdropDatapointsDropped.Add(ctx, dropped)
	}
	if md.ResourceMetrics().Len() == 0 {
		return md, processorhelper.ErrSkipProcessingData
	}
	return md, nil
}

func (p *dropProcessor) matches(name string) bool {
	for _, prefix := range p.prefixes {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// dataPoints is how many data points a metric carries, whatever its type.
func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
