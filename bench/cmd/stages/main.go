// Command stages splits a CPU profile of a running collector by pipeline stage
// and prints, for each, its share of the CPU and its nanoseconds per span:
//
//	go run ./cmd/stages -rate 50000 results/otelcol-es-e2e.cpu
//
// A sample counts for the innermost stage on its stack: a pdata copy made by
// cqrsside is cqrsside's, the join engine's work under projectionlag is
// projectionlag's, and the receiver's stage keeps only what no component
// below it did (gRPC, decoding the request). The collector's processor
// wrappers (processorhelper's counts) and the fan-out between consumers are
// a stage of their own. The garbage collector's background marking is not
// any stage's: it is shown apart, and so is what matches no stage.
//
// -rate is the spans per second offered while the profile was taken (loadgen
// -profile takes it at the last fixed rate, with nothing refused): spans =
// rate × the profile's duration.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/pprof/profile"
)

// stage is a pipeline stage and the function-name prefixes of its frames.
type stage struct {
	name     string
	prefixes []string
}

// stages, in pipeline order. The first frame from the leaf that matches one
// decides the sample's stage.
var stages = []stage{
	{"receiver (gRPC, decode)", []string{"go.opentelemetry.io/collector/receiver/otlpreceiver", "google.golang.org/grpc", "go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp", "golang.org/x/net/http2"}},
	{"memory_limiter", []string{"go.opentelemetry.io/collector/processor/memorylimiterprocessor", "go.opentelemetry.io/collector/internal/memorylimiter"}},
	{"cqrsside", []string{"github.com/otelcol-es/otelcol-es/processor/cqrsside"}},
	{"projectionlag", []string{"github.com/otelcol-es/otelcol-es/processor/projectionlag"}},
	{"batch", []string{"go.opentelemetry.io/collector/processor/batchprocessor"}},
	{"spanmetrics_es (connector)", []string{"github.com/otelcol-es/otelcol-es/connector/spanmetrics-es"}},
	{"exporters (and /metrics scrapes)", []string{"go.opentelemetry.io/collector/exporter", "github.com/open-telemetry/opentelemetry-collector-contrib/exporter", "github.com/prometheus/client_golang"}},
	{"component wrappers (processorhelper, fan-out)", []string{"go.opentelemetry.io/collector/processor/processorhelper", "go.opentelemetry.io/collector/internal/fanoutconsumer", "go.opentelemetry.io/collector/consumer"}},
}

const (
	gcStage    = "GC background marking (all stages)"
	otherStage = "other (runtime, scheduler, telemetry, idle pollers)"
)

func main() {
	rate := flag.Float64("rate", 0, "spans per second offered while the profile was taken")
	flag.Parse()
	if flag.NArg() != 1 || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "usage: stages -rate SPANS_PER_SECOND cpu.pprof")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := write(os.Stdout, p, *rate); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// split returns the CPU nanoseconds of each stage (by name, gcStage and
// otherStage included) and the total.
func split(p *profile.Profile) (map[string]int64, int64, error) {
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, 0, fmt.Errorf("not a CPU profile: no cpu/nanoseconds sample type")
	}
	by := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[idx]
		total += v
		by[stageOf(s)] += v
	}
	return by, total, nil
}

func stageOf(s *profile.Sample) string {
	gc := false
	for _, loc := range s.Location { // leaf first
		// Inlined calls are listed innermost first too.
		for _, line := range loc.Line {
			if line.Function == nil {
				continue
			}
			name := line.Function.Name
			for _, st := range stages {
				for _, pre := range st.prefixes {
					if strings.HasPrefix(name, pre) {
						return st.name
					}
				}
			}
			if strings.HasPrefix(name, "runtime.gcBgMarkWorker") {
				gc = true
			}
		}
	}
	if gc {
		return gcStage
	}
	return otherStage
}

func write(w io.Writer, p *profile.Profile, rate float64) error {
	by, total, err := split(p)
	if err != nil {
		return err
	}
	if total == 0 || p.DurationNanos <= 0 {
		return fmt.Errorf("empty profile")
	}
	spans := rate * float64(p.DurationNanos) / 1e9
	fmt.Fprintf(w, "%.0f spans in %.1f s, %.2f CPU-s (%.0f ns/span in all)\n\n", spans, float64(p.DurationNanos)/1e9,
		float64(total)/1e9, float64(total)/spans)
	fmt.Fprintln(w, "| stage | CPU share | ns/span |")
	fmt.Fprintln(w, "|---|---|---|")
	names := make([]string, 0, len(stages)+2)
	for _, st := range stages {
		names = append(names, st.name)
	}
	names = append(names, gcStage, otherStage)
	for _, n := range names {
		fmt.Fprintf(w, "| %s | %.1f %% | %.0f |\n", n, 100*float64(by[n])/float64(total), float64(by[n])/spans)
	}
	return nil
}
