package projectionlag // import "github.com/otelcol-es/otelcol-es/processor/projectionlag"

import (
	"strconv"
	"strings"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/sampling"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// samplingThreshold is the OpenTelemetry sampling threshold (ot=th) of a span's trace plus one, or 0 when
// its tracestate states none. A pending join keeps it so the observation made when the join completes,
// on another span, weighs as the apply span would have (spanmetrics_es extrapolates sampled counts).
func samplingThreshold(span ptrace.Span) uint64 {
	raw := span.TraceState().AsRaw()
	if !strings.Contains(raw, "th:") {
		return 0
	}
	w3c, err := sampling.NewW3CTraceState(raw)
	if err != nil {
		return 0
	}
	th, ok := w3c.OTelValue().TValueThreshold()
	if !ok {
		return 0
	}
	return th.Unsigned() + 1
}

// encodeThreshold writes a 56-bit threshold as the specification's th value: 14 hex digits without their
// trailing zeros ("0" for 0).
func encodeThreshold(t uint64) string {
	s := strconv.FormatUint(t, 16)
	s = strings.Repeat("0", max(14-len(s), 0)) + s
	if s = strings.TrimRight(s, "0"); s == "" {
		return "0"
	}
	return s
}
