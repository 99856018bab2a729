package eventsource

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
)

// Nothing installs a provider before this package's init, so the API's placeholder is recognised (by what its
// spans do, not by its private type) and no tracer is taken from it; a provider that records, or one that only
// samples nothing, is never taken for it.
func TestPlaceholderProviderRecognised(t *testing.T) {
	if defaultGlobal == nil {
		t.Fatal("the API's placeholder provider was not recognised: every span would go through it")
	}
	var tr Tracing
	tr.init("test", newOptions(true, nil))
	if tr.current() != nil {
		t.Fatal("a tracer from the placeholder: spans would be started for nothing")
	}
	if !startsNoSpans(noop.NewTracerProvider()) {
		t.Error("the no-op provider starts spans")
	}
	recording := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter())))
	neverSampling := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	for name, tp := range map[string]*sdktrace.TracerProvider{"recording": recording, "never sampling": neverSampling} {
		if startsNoSpans(tp) {
			t.Errorf("the SDK provider (%s) taken for the placeholder", name)
		}
	}
}
