package main

import (
	"bytes"
	"testing"

	"github.com/google/pprof/profile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cpuProfile builds a CPU profile whose samples have the given stacks (leaf
// first) and CPU nanoseconds.
func cpuProfile(duration int64, samples map[int64][]string) *profile.Profile {
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		DurationNanos: duration,
	}
	fns := map[string]*profile.Function{}
	for ns, stack := range samples {
		s := &profile.Sample{Value: []int64{1, ns}}
		for _, name := range stack {
			fn, ok := fns[name]
			if !ok {
				fn = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
				fns[name] = fn
				p.Function = append(p.Function, fn)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func TestInnermostStageTakesTheSample(t *testing.T) {
	const (
		receiver = "go.opentelemetry.io/collector/receiver/otlpreceiver/internal/trace.(*Receiver).Export"
		grpc     = "google.golang.org/grpc.(*Server).processUnaryRPC"
		helper   = "go.opentelemetry.io/collector/processor/processorhelper.NewTraces.func1"
		cqrs     = "github.com/otelcol-es/otelcol-es/processor/cqrsside.(*cqrsProcessor).processTraces"
		lag      = "github.com/otelcol-es/otelcol-es/processor/projectionlag.(*lagProcessor).processTraces"
		join     = "github.com/otelcol-es/otelcol-es/internal/join.(*Tx).Remember"
		conn     = "github.com/otelcol-es/otelcol-es/connector/spanmetrics-es.(*connectorImp).ConsumeTraces"
	)
	p := cpuProfile(2e9, map[int64][]string{
		// pdata copies made by cqrsside are cqrsside's
		100: {"go.opentelemetry.io/collector/pdata/internal.CopySpan", cqrs, helper, receiver, grpc},
		// the join engine under projectionlag is projectionlag's, not cqrsside's above it
		200: {join, lag, helper, cqrs, helper, receiver, grpc},
		// decoding: only the receiver's frames
		300: {"go.opentelemetry.io/collector/pdata/internal.(*Span).UnmarshalProto", grpc},
		// the wrapper's own counting, between two processors
		50:  {"go.opentelemetry.io/otel/sdk/metric.(*int64Inst).Add", helper, receiver, grpc},
		400: {"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker.func2", "runtime.gcBgMarkWorker"},
		500: {"runtime.futex", "runtime.findRunnable", "runtime.schedule"},
		600: {"runtime.mallocgc", conn, "go.opentelemetry.io/collector/processor/batchprocessor.(*shard).sendItems"},
	})
	by, total, err := split(p)
	require.NoError(t, err)
	assert.Equal(t, int64(2150), total)
	assert.Equal(t, map[string]int64{
		"cqrsside": 100, "projectionlag": 200, "receiver (gRPC, decode)": 300,
		"component wrappers (processorhelper, fan-out)": 50, gcStage: 400, otherStage: 500,
		"spanmetrics_es (connector)": 600,
	}, by)

	var out bytes.Buffer
	require.NoError(t, write(&out, p, 1000)) // 2000 spans in 2 s
	assert.Contains(t, out.String(), "2000 spans in 2.0 s")
	assert.Contains(t, out.String(), "| projectionlag | 9.3 % | 0 |")
}

func TestRefusesAProfileWithoutCPUTime(t *testing.T) {
	p := cpuProfile(1e9, map[int64][]string{1: {"main.main"}})
	p.SampleType = []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}, {Type: "inuse_space", Unit: "bytes"}}
	_, _, err := split(p)
	assert.ErrorContains(t, err, "not a CPU profile")
}
