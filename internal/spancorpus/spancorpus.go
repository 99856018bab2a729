// Package spancorpus loads testdata/ordinary-instrumentation: spans as ordinary OpenTelemetry
// instrumentation emits them (HTTP, databases, messaging, jobs), each citing its source, for tests that
// check the components leave what is not CQRS work alone. Test support: no component imports it.
package spancorpus // import "github.com/otelcol-es/otelcol-es/internal/spancorpus"

import (
	"crypto/sha256"
	"fmt"
	"os"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
	"github.com/otelcol-es/otelcol-es/internal/spantest"
)

// Corpus is the file's content.
type Corpus struct {
	// Sources maps a short key to the convention or instrumentation code a span follows.
	Sources map[string]string `yaml:"sources"`
	Traces  []Trace           `yaml:"traces"`
}

// Trace is one trace; its spans may come from several services.
type Trace struct {
	Name  string `yaml:"name"`
	Spans []Span `yaml:"spans"`
}

// Span is one span as its instrumentation emits it.
type Span struct {
	Service string `yaml:"service"`
	ID      string `yaml:"id"`
	// Parent is the id of the parent span: in this trace, or outside the corpus (an uninstrumented caller).
	Parent string `yaml:"parent"`
	// Remote: the parent came through headers (OTLP flags HAS_IS_REMOTE|IS_REMOTE).
	Remote bool           `yaml:"remote"`
	Name   string         `yaml:"name"`
	Kind   string         `yaml:"kind"`
	Scope  string         `yaml:"scope"`
	Src    string         `yaml:"src"`
	Attrs  map[string]any `yaml:"attrs"`
	// Links are ids of spans of this trace the span links to (batch consumers).
	Links []string `yaml:"links"`
}

var kinds = map[string]ptrace.SpanKind{
	"INTERNAL": ptrace.SpanKindInternal, "SERVER": ptrace.SpanKindServer, "CLIENT": ptrace.SpanKindClient,
	"PRODUCER": ptrace.SpanKindProducer, "CONSUMER": ptrace.SpanKindConsumer,
}

// OTLP SpanFlags: the SDK knew whether the parent was remote (Go and Python set it on every span).
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// Load reads and checks a corpus: every span has a known kind, a cited source, and an id unique in its trace.
func Load(path string) (*Corpus, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Corpus
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, t := range c.Traces {
		ids := map[string]bool{}
		for _, s := range t.Spans {
			switch {
			case s.ID == "" || ids[s.ID]:
				return nil, fmt.Errorf("trace %s: span id %q empty or used twice", t.Name, s.ID)
			case s.Service == "" || s.Name == "":
				return nil, fmt.Errorf("trace %s, span %s: service and name are required", t.Name, s.ID)
			case c.Sources[s.Src] == "":
				return nil, fmt.Errorf("trace %s, span %s: src %q is not in sources", t.Name, s.ID, s.Src)
			}
			if _, ok := kinds[s.Kind]; !ok {
				return nil, fmt.Errorf("trace %s, span %s: kind %q", t.Name, s.ID, s.Kind)
			}
			ids[s.ID] = true
		}
	}
	return &c, nil
}

// Len is the number of spans.
func (c *Corpus) Len() int {
	n := 0
	for _, t := range c.Traces {
		n += len(t.Spans)
	}
	return n
}

// Batches returns the corpus as its services' SDKs export it: one batch per service, in order of first
// appearance, each service's spans under one resource and one ScopeSpans per scope.
func (c *Corpus) Batches() []ptrace.Traces {
	var order []string
	builders := map[string]*spantest.Builder{}
	start := pcommon.Timestamp(1_765_076_400_000_000_000) // 2026-12-07T03:00:00Z
	for _, t := range c.Traces {
		trace := traceID(t.Name)
		for i, s := range t.Spans {
			b, ok := builders[s.Service]
			if !ok {
				b = spantest.New().Resource(map[string]any{semconv.AttrServiceName: s.Service, semconv.AttrServiceInstanceID: s.Service + "-0"})
				builders[s.Service] = b
				order = append(order, s.Service)
			}
			flags := uint32(flagHasIsRemote)
			if s.Remote {
				flags |= flagIsRemote
			}
			at := start + pcommon.Timestamp(i)*1_000_000
			span := b.Scope(s.Scope).Span(s.Name).Trace(trace).ID(spanID(t.Name, s.ID)).Kind(kinds[s.Kind]).
				Flags(flags).Times(at, at+500_000).Attrs(s.Attrs)
			if s.Parent != "" {
				span.Parent(spanID(t.Name, s.Parent))
			}
			for _, l := range s.Links {
				span.Link(trace, spanID(t.Name, l))
			}
		}
		start += pcommon.Timestamp(len(t.Spans)+1) * 1_000_000
	}
	out := make([]ptrace.Traces, 0, len(order))
	for _, svc := range order {
		out = append(out, builders[svc].Traces())
	}
	return out
}

func traceID(name string) pcommon.TraceID {
	sum := sha256.Sum256([]byte(name))
	return pcommon.TraceID(sum[:16])
}

func spanID(trace, id string) pcommon.SpanID { return spantest.NamedSpanID(trace + "/" + id) }
