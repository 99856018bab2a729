package cqrsside

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Set CQRSSIDE_UPDATE_GOLDEN=1 to rewrite the golden files (inputs from the
// builders in builders_test.go, outputs from the processor); review the diff.
var updateGolden = os.Getenv("CQRSSIDE_UPDATE_GOLDEN") != ""

// lateParentBatches is the SDK export order of convention-shaped spans: children
// end first, so they arrive one batch before their parents; one span's
// parent never arrives.
func lateParentBatches() []ptrace.Traces {
	return []ptrace.Traces{
		tracesOf("order-service",
			sp{name: semconv.EventStorePostgreSQL + semconv.SpanSuffixGetEvents, id: "get", parent: "load", scope: "eventsource.stores.postgresql"},
			sp{name: semconv.SpanRepositoryLoad, id: "load", parent: "cmd", scope: "eventsource.aggregates.repository"},
			sp{name: "INSERT orders", id: "db", parent: "cmd", scope: "sqlalchemy", kind: ptrace.SpanKindClient},
			sp{name: semconv.SpanSnapshotGet, id: "snap", parent: "ph", scope: "eventsource.snapshots"},
			sp{name: semconv.SpanRepositoryLoad, id: "orphan", parent: "never-exported", scope: "eventsource.aggregates.repository"},
		),
		tracesOf("order-service",
			sp{name: "command.PlaceOrder", id: "cmd", scope: semconv.ScopeWrite, attrs: map[string]any{
				semconv.AttrSide: semconv.SideWrite, semconv.AttrCommandType: "PlaceOrder",
			}},
			sp{name: semconv.SpanProjectionHandle, id: "ph", parent: "hdl", scope: "eventsource.projections", attrs: map[string]any{
				semconv.AttrESProjectionName: "OrderProjection", semconv.AttrESEventType: "OrderPlaced",
			}},
		),
	}
}

func TestGolden(t *testing.T) {
	one := func(f func() ptrace.Traces) func() []ptrace.Traces {
		return func() []ptrace.Traces { return []ptrace.Traces{f()} }
	}
	tests := []struct {
		name   string
		input  func() []ptrace.Traces
		config func(*Config)
	}{
		{name: "cqrs-conventions", input: one(func() ptrace.Traces { return tracesOf("order-service", cqrsSpans("")...) })},
		{name: "eventsource-conventions", input: one(func() ptrace.Traces { return tracesOf("tutorial-20-app", eventsourceSpans("")...) })},
		{name: "inheritance", input: one(func() ptrace.Traces { return tracesOf("shipping", inheritanceSpans()...) })},
		{name: "rules", input: one(rulesInput), config: rulesConfig},
		{name: "late-parent", input: lateParentBatches},
		{name: "eventsource-py-kafka", input: pyKafkaBatches},
		{name: "eventsource-py-brokers", input: one(pyBrokersInput)},
		{name: "hostile", input: hostileBatches},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if tt.config != nil {
				tt.config(cfg)
			}
			require.NoError(t, cfg.Validate())
			h := newHarness(t, cfg)

			batches := tt.input()
			for i := range batches {
				in := filepath.Join("testdata", fmt.Sprintf("%s-in.yaml", tt.name))
				if len(batches) > 1 {
					in = filepath.Join("testdata", fmt.Sprintf("%s-%d-in.yaml", tt.name, i+1))
				}
				if updateGolden {
					require.NoError(t, golden.WriteTracesToFile(in, batches[i]))
				}
				td, err := golden.ReadTraces(in)
				require.NoError(t, err)
				h.consume(td)
				h.clock.Advance(time.Second)
			}
			require.NoError(t, h.p.shutdown(context.Background()))
			got := h.all()

			want := filepath.Join("testdata", tt.name+"-expected.yaml")
			if updateGolden {
				require.NoError(t, golden.WriteTracesToFile(want, got))
			}
			expected, err := golden.ReadTraces(want)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(expected, got))
		})
	}
}
