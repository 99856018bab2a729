// Package sampling samples traces by ratio the way the OpenTelemetry specification's consistent probability
// sampling does, and says so in each sampled trace's W3C tracestate (ot=th:<threshold>), so that a
// collector can extrapolate exact-in-expectation counts: otelcol-es's spanmetrics_es multiplies each sampled
// command, query and apply by its adjusted count (1/ratio). The OpenTelemetry Go SDK's TraceIDRatioBased
// decides the same way in spirit but writes no threshold, so downstream counts would silently show a tenth
// of the work at 10 %.
//
//	sampler, err := sampling.Ratio(0.1)
//	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), ...)
package sampling

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// maxThreshold is 2^56: thresholds and randomness values are 56-bit.
const maxThreshold = 1 << 56

// Ratio returns a parent-based sampler: a span with a parent follows its parent's decision (and carries its
// tracestate on), and a new trace is kept with probability ratio, decided from the trace id's 56 random
// bits (or the tracestate's explicit ot=rv), with ot=th written into its tracestate. ratio must be in (0, 1].
func Ratio(ratio float64) (sdktrace.Sampler, error) {
	if !(ratio > 0 && ratio <= 1) {
		return nil, fmt.Errorf("sampling ratio must be in (0, 1], got %v", ratio)
	}
	t := uint64(math.Round((1 - ratio) * maxThreshold))
	if t >= maxThreshold {
		t = maxThreshold - 1 // the smallest ratio a 56-bit threshold can express
	}
	return sdktrace.ParentBased(root{threshold: t, th: encodeThreshold(t), ratio: ratio}), nil
}

// root decides for spans without a parent.
type root struct {
	threshold uint64
	th        string
	ratio     float64
}

func (r root) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts := trace.SpanContextFromContext(p.ParentContext).TraceState()
	if randomness(p.TraceID, ts) < r.threshold {
		return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: ts}
	}
	if next, err := ts.Insert("ot", withTH(ts.Get("ot"), r.th)); err == nil {
		ts = next
	}
	return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
}

func (r root) Description() string {
	return fmt.Sprintf("ConsistentRatio{%g, th:%s}", r.ratio, r.th)
}

// randomness is the tracestate's ot=rv when present and valid, else the trace id's last 56 bits (random
// for the SDKs' generated ids).
func randomness(id trace.TraceID, ts trace.TraceState) uint64 {
	for _, kv := range strings.Split(ts.Get("ot"), ";") {
		if v, ok := strings.CutPrefix(kv, "rv:"); ok && len(v) == 14 {
			if rv, err := strconv.ParseUint(v, 16, 64); err == nil {
				return rv
			}
		}
	}
	return binary.BigEndian.Uint64(id[8:]) & (maxThreshold - 1)
}

// encodeThreshold is the specification's th value: 14 hex digits without their trailing zeros ("0" for
// 0, i.e. keep everything).
func encodeThreshold(t uint64) string {
	s := strings.TrimRight(fmt.Sprintf("%014x", t), "0")
	if s == "" {
		return "0"
	}
	return s
}

// withTH sets th in an ot value ("k:v;k:v"), keeping its other keys.
func withTH(ot, th string) string {
	parts := []string{"th:" + th}
	for _, kv := range strings.Split(ot, ";") {
		if kv != "" && !strings.HasPrefix(kv, "th:") {
			parts = append(parts, kv)
		}
	}
	return strings.Join(parts, ";")
}
