package cqrsside // import "github.com/otelcol-es/otelcol-es/processor/cqrsside"

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/join"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/matcher"
	"github.com/otelcol-es/otelcol-es/processor/cqrsside/internal/metadata"
)

// source is why a span got its side.
type source uint8

const (
	srcNone source = iota
	srcAttribute
	srcRule
	srcConvention
	srcInherited
	numSources
)

func (s source) String() string {
	switch s {
	case srcAttribute:
		return semconv.SideSourceAttribute
	case srcRule:
		return semconv.SideSourceRule
	case srcConvention:
		return semconv.SideSourceConvention
	case srcInherited:
		return semconv.SideSourceInherited
	}
	return ""
}

const numSides = int(matcher.SideProjection) + 1

// Reasons for processor_cqrsside_invalid_input.
type invalidReason uint8

const (
	invalidSideType invalidReason = iota
	invalidSideValue
	invalidTypeAttr
	invalidTypeTooLong
	invalidSpanID
	invalidParentCycle
	numInvalid
)

var invalidNames = [numInvalid]string{
	invalidSideType:    "side_not_string",
	invalidSideValue:   "side_unknown_value",
	invalidTypeAttr:    "type_attribute_not_string",
	invalidTypeTooLong: "type_name_too_long",
	invalidSpanID:      "duplicate_or_empty_span_id",
	invalidParentCycle: "parent_cycle",
}

// counts accumulates one batch's telemetry so that the
// instruments are touched once per batch, not once per span.
type counts struct {
	classified   [numSides][numSources]int64
	unclassified int64
	// unclassifiedReceiving: of unclassified, the message consumers without evidence.
	unclassifiedReceiving int64
	invalid               [numInvalid]int64
	parentUnseen          int64
	boundary              [numBoundary]int64
}

func (c *counts) reset() { *c = counts{} }

func (c *counts) side(s matcher.Side, src source) {
	if s == matcher.SideNone {
		c.unclassified++
		return
	}
	c.classified[s][src]++
}

// telemetry holds the instruments and the precomputed attribute options,
// so recording allocates nothing.
type telemetry struct {
	tb            *metadata.TelemetryBuilder
	classifiedOpt [numSides][numSources]metric.AddOption
	invalidOpt    [numInvalid]metric.AddOption
	boundaryOpt   [numBoundary]metric.AddOption
	capacityOpt   metric.AddOption
	expiredOpt    metric.AddOption
	// Reasons of processor_cqrsside_spans_unclassified.
	noEvidenceOpt, receivingOpt metric.AddOption
}

func newTelemetry(tb *metadata.TelemetryBuilder) *telemetry {
	t := &telemetry{tb: tb}
	for s := matcher.SideWrite; int(s) < numSides; s++ {
		for src := srcAttribute; src < numSources; src++ {
			t.classifiedOpt[s][src] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("side", s.String()), attribute.String("source", src.String())))
		}
	}
	for i := range invalidNames {
		t.invalidOpt[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", invalidNames[i])))
	}
	for i := range boundaryNames {
		t.boundaryOpt[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", boundaryNames[i])))
	}
	t.capacityOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "capacity")))
	t.expiredOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "expired")))
	t.noEvidenceOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "no_evidence")))
	t.receivingOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "receiving_without_evidence")))
	return t
}

func (t *telemetry) record(ctx context.Context, c *counts) {
	for s := range c.classified {
		for src, n := range c.classified[s] {
			if n > 0 {
				t.tb.ProcessorCqrssideSpansClassified.Add(ctx, n, t.classifiedOpt[s][src])
			}
		}
	}
	if n := c.unclassified - c.unclassifiedReceiving; n > 0 {
		t.tb.ProcessorCqrssideSpansUnclassified.Add(ctx, n, t.noEvidenceOpt)
	}
	if c.unclassifiedReceiving > 0 {
		t.tb.ProcessorCqrssideSpansUnclassified.Add(ctx, c.unclassifiedReceiving, t.receivingOpt)
	}
	for i, n := range c.invalid {
		if n > 0 {
			t.tb.ProcessorCqrssideInvalidInput.Add(ctx, n, t.invalidOpt[i])
		}
	}
	if c.parentUnseen > 0 {
		t.tb.ProcessorCqrssideSpansParentUnseen.Add(ctx, c.parentUnseen)
	}
	for i, n := range c.boundary {
		if n > 0 {
			t.tb.ProcessorCqrssideProcessBoundaries.Add(ctx, n, t.boundaryOpt[i])
		}
	}
}

// recordAncestry records what the ancestor cache (join.Ancestry) dropped in a batch.
func (t *telemetry) recordAncestry(ctx context.Context, c join.AncestryCounts) {
	if c.Evicted > 0 {
		t.tb.ProcessorCqrssideCacheEvictions.Add(ctx, c.Evicted, t.capacityOpt)
	}
	if c.Expired > 0 {
		t.tb.ProcessorCqrssideCacheEvictions.Add(ctx, c.Expired, t.expiredOpt)
	}
}
