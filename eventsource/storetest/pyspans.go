package storetest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Sources of eventsource-py 0.14 whose spans the runtime's DLQ and snapshot
// stores reproduce, as the span catalogue names them (relative to
// src/eventsource/).
const (
	PySQLDLQ            = "adapters/sql/dlq.py"
	PyMemoryDLQ         = "adapters/memory/dlq.py"
	PyMemorySnapshots   = "adapters/memory/snapshots.py"
	PySQLiteSnapshots   = "adapters/sqlite/snapshots.py"
	PyPostgresSnapshots = "adapters/postgresql/snapshots.py"
)

// catalogueFile is eventsource-py 0.14's span catalogue, relative to the
// repository root.
var catalogueFile = filepath.Join("testdata", "eventsource-py-0.14", "spans.yaml")

// PySpans returns the spans eventsource-py 0.14 emits from source (one of the
// Py* constants), span name -> attribute keys, sorted, read from the span
// catalogue (testdata/eventsource-py-0.14/spans.yaml, found in the working
// directory or one of its parents). It skips t when there is no catalogue.
func PySpans(t testing.TB, source string) map[string][]string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for {
		if raw, err = os.ReadFile(filepath.Join(dir, catalogueFile)); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no eventsource-py span catalogue (", catalogueFile, ") above the working directory")
		}
		dir = parent
	}
	want := map[string][]string{}
	for _, entry := range strings.Split(string(raw), "\n- name: ")[1:] {
		if !strings.Contains(entry, "source: src/eventsource/"+source+":") {
			continue
		}
		name := strings.Trim(strings.SplitN(entry, "\n", 2)[0], `"`)
		_, rest, _ := strings.Cut(entry, "attributes: [")
		list, _, _ := strings.Cut(rest, "]")
		keys := []string{}
		for _, k := range strings.Split(list, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		want[name] = keys
	}
	if len(want) == 0 {
		t.Fatalf("no spans of %s in %s", source, catalogueFile)
	}
	return want
}

// pyTypes are the value types eventsource-py gives the DLQ and snapshot
// span attributes (str() of ids, ints for counts and versions).
var pyTypes = map[string]attribute.Type{
	semconv.AttrESEventID: attribute.STRING, semconv.AttrESEventType: attribute.STRING,
	semconv.AttrESProjectionName: attribute.STRING, semconv.AttrESErrorType: attribute.STRING,
	semconv.AttrESRetryCount: attribute.INT64, semconv.AttrDBSystem: attribute.STRING,
	semconv.AttrLimit: attribute.INT64, semconv.AttrStatusFilter: attribute.STRING,
	semconv.AttrDLQID: attribute.STRING, semconv.AttrResolvedBy: attribute.STRING,
	semconv.AttrESAggregateID: attribute.STRING, semconv.AttrESAggregateType: attribute.STRING,
	semconv.AttrESVersion: attribute.INT64,
}

// spanCheck is one expected span: its name, the catalogue keys it leaves out
// (when the call does not pass what eventsource-py's does), and the values
// it must carry.
type spanCheck struct {
	name    string
	without []string
	values  map[string]any
}

// checkPySpans compares the spans sr ended, in order, with want, against the
// catalogue's keys of source and pyTypes.
func checkPySpans(t *testing.T, sr *tracetest.SpanRecorder, source string, want []spanCheck) {
	t.Helper()
	py := PySpans(t, source)
	var got []sdktrace.ReadOnlySpan
	for _, sp := range sr.Ended() {
		if strings.HasPrefix(sp.Name(), semconv.SpanPrefixDLQ) || strings.HasPrefix(sp.Name(), semconv.SpanPrefixSnapshot) {
			got = append(got, sp)
		}
	}
	if len(got) != len(want) {
		names := make([]string, len(got))
		for i, sp := range got {
			names[i] = sp.Name()
		}
		t.Fatalf("%d spans %v, want %d", len(got), names, len(want))
	}
	for i, w := range want {
		sp := got[i]
		if sp.Name() != w.name {
			t.Errorf("span %d is %s, want %s", i, sp.Name(), w.name)
			continue
		}
		pyKeys, ok := py[w.name]
		if !ok {
			t.Errorf("%s: eventsource-py's %s has no such span", w.name, source)
			continue
		}
		wantKeys := slices.DeleteFunc(slices.Clone(pyKeys), func(k string) bool { return slices.Contains(w.without, k) })
		var keys []string
		values := map[string]attribute.Value{}
		for _, kv := range sp.Attributes() {
			keys = append(keys, string(kv.Key))
			values[string(kv.Key)] = kv.Value
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("span %d %s has attributes %v, eventsource-py's %s %v", i, w.name, keys, source, wantKeys)
		}
		for k, v := range values {
			if typ, ok := pyTypes[k]; ok && v.Type() != typ {
				t.Errorf("%s: %s is a %v, eventsource-py's a %v", w.name, k, v.Type(), typ)
			}
		}
		for k, v := range w.values {
			if got := values[k].AsInterface(); got != v {
				t.Errorf("%s: %s = %v (%T), want %v (%T)", w.name, k, got, got, v, v)
			}
		}
	}
}

// CheckDeadLetterSpans checks q's eventsource.dlq.* spans against
// eventsource-py 0.14's (source PySQLDLQ or PyMemoryDLQ): span names,
// attribute keys and value types as the catalogue and its source have them.
// dbSystem is the db.system the spans carry, "" for none. q must be empty
// and traced to sr.
func CheckDeadLetterSpans(t *testing.T, q eventsource.DeadLetterQueue, sr *tracetest.SpanRecorder, source, dbSystem string) {
	t.Helper()
	ctx := context.Background()
	sr.Reset()
	d := NewDeadLetter("p", 1)
	d.Error = strings.Repeat("é", 150) // cut to 100 characters, not bytes
	first := must[string](t)(q.Add(ctx, d))
	second := must[string](t)(q.Add(ctx, NewDeadLetter("p", 2)))
	if got := must[[]eventsource.DeadLetter](t)(q.Get(ctx, "p")); len(got) != 2 {
		t.Fatalf("Get: %d entries", len(got))
	}
	if got := must[[]eventsource.DeadLetter](t)(eventsource.QueryDeadLetters(ctx, q, eventsource.DeadLetterQuery{Projection: "p", Limit: 1})); len(got) != 1 || got[0].ID != first {
		t.Fatalf("Query with limit 1: %+v", got)
	}
	_ = must[eventsource.DeadLetter](t)(q.Retry(ctx, first))
	if err := eventsource.ResolveDeadLetter(ctx, q, first, "ops@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := q.Resolve(ctx, second); err != nil {
		t.Fatal(err)
	}
	dl := func(values map[string]any) map[string]any {
		if dbSystem != "" {
			values[semconv.AttrDBSystem] = dbSystem
		}
		return values
	}
	cut := strings.Repeat("é", 100)
	if utf8.RuneCountInString(cut) != 100 {
		t.Fatal("bad fixture")
	}
	checkPySpans(t, sr, source, []spanCheck{
		{name: semconv.SpanDLQAdd, values: dl(map[string]any{semconv.AttrESEventID: d.Event.ID, semconv.AttrESEventType: d.Event.Type,
			semconv.AttrESProjectionName: "p", semconv.AttrESErrorType: cut, semconv.AttrESRetryCount: int64(3)})},
		{name: semconv.SpanDLQAdd, values: dl(map[string]any{semconv.AttrESErrorType: "boom 2"})},
		{name: semconv.SpanDLQGet, values: dl(map[string]any{semconv.AttrLimit: int64(semconv.DLQLimitNone),
			semconv.AttrStatusFilter: semconv.DLQStatusFailed, semconv.AttrESProjectionName: "p"})},
		{name: semconv.SpanDLQGet, values: dl(map[string]any{semconv.AttrLimit: int64(1)})},
		{name: semconv.SpanDLQRetry, values: dl(map[string]any{semconv.AttrDLQID: first})},
		{name: semconv.SpanDLQResolve, values: dl(map[string]any{semconv.AttrDLQID: first, semconv.AttrResolvedBy: "ops@example.com"})},
		// Resolve names nobody: eventsource-py too leaves an empty resolved_by out.
		{name: semconv.SpanDLQResolve, without: []string{semconv.AttrResolvedBy}, values: dl(map[string]any{semconv.AttrDLQID: second})},
	})
}

// CheckSnapshotSpans checks s's eventsource.snapshot.* spans against
// eventsource-py 0.14's (source PyMemorySnapshots, PySQLiteSnapshots or
// PyPostgresSnapshots): span names, attribute keys and value types as the
// catalogue and its source have them. s must be empty and traced to sr.
func CheckSnapshotSpans(t *testing.T, s eventsource.SnapshotStore, sr *tracetest.SpanRecorder, source string) {
	t.Helper()
	ctx := context.Background()
	sr.Reset()
	if err := s.SaveSnapshot(ctx, snapshot("a", 3, "x")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := eventsource.GetSnapshotOfType(ctx, s, "a", "Order"); !ok || err != nil {
		t.Fatalf("GetSnapshotOfType: found %v, %v", ok, err)
	}
	if _, ok, err := s.GetSnapshot(ctx, "a"); !ok || err != nil {
		t.Fatalf("GetSnapshot: found %v, %v", ok, err)
	}
	if _, ok, err := eventsource.GetSnapshotOfType(ctx, s, "b", "Order"); ok || err != nil {
		t.Fatalf("GetSnapshotOfType of nothing: found %v, %v", ok, err)
	}
	if _, ok, err := s.GetSnapshot(ctx, "b"); ok || err != nil {
		t.Fatalf("GetSnapshot of nothing: found %v, %v", ok, err)
	}
	if ok, err := eventsource.SnapshotOfTypeExists(ctx, s, "a", "Order"); !ok || err != nil {
		t.Fatalf("SnapshotOfTypeExists: %v, %v", ok, err)
	}
	if _, err := s.SnapshotExists(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := eventsource.DeleteSnapshotOfType(ctx, s, "a", "Order"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	agg := map[string]any{semconv.AttrESAggregateID: "a", semconv.AttrESAggregateType: "Order"}
	// The old one-argument calls have no aggregate type to write, except
	// GetSnapshot, which takes it from the snapshot found.
	noType := []string{semconv.AttrESAggregateType}
	checkPySpans(t, sr, source, []spanCheck{
		{name: semconv.SpanSnapshotSave, values: map[string]any{semconv.AttrESAggregateID: "a", semconv.AttrESAggregateType: "Order",
			semconv.AttrESVersion: int64(3)}},
		{name: semconv.SpanSnapshotGet, values: agg},
		{name: semconv.SpanSnapshotGet, values: agg},
		{name: semconv.SpanSnapshotGet, values: map[string]any{semconv.AttrESAggregateID: "b", semconv.AttrESAggregateType: "Order"}},
		{name: semconv.SpanSnapshotGet, without: noType, values: map[string]any{semconv.AttrESAggregateID: "b"}},
		{name: semconv.SpanSnapshotExists, values: agg},
		{name: semconv.SpanSnapshotExists, without: noType, values: map[string]any{semconv.AttrESAggregateID: "a"}},
		{name: semconv.SpanSnapshotDelete, values: agg},
		{name: semconv.SpanSnapshotDelete, without: noType, values: map[string]any{semconv.AttrESAggregateID: "a"}},
	})
}
