package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// CheckOutboxSpans checks a store's eventsource.outbox.* spans against
// eventsource-py 0.14's names and attributes. s must be empty, with its
// outbox on, and traced to sr.
func CheckOutboxSpans(t *testing.T, s eventsource.OutboxStore, sr *tracetest.SpanRecorder, dbSystem string) {
	ctx := context.Background()
	c := chk{t}
	stored := c.evs(s.AppendEvents(ctx, "a", "Order", 0, []eventsource.Event{NewEvent("X"), NewEvent("Y")}))
	rec := &Recorder{}
	rec.Fail(errors.New(strings.Repeat("x", 150)))
	r := relay(t, s, rec, 10)
	if _, err := r.RelayOnce(ctx); err == nil {
		t.Fatal("the failing publish succeeded")
	}
	rec.Fail(nil)
	if n, err := r.RelayOnce(ctx); n != 2 || err != nil {
		t.Fatalf("relayed %d: %v", n, err)
	}
	rows := map[string]int{}
	var appendSpan string
	for _, sp := range sr.Ended() {
		attrs := map[string]any{}
		for _, kv := range sp.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		if semconv.IsAppend(sp.Name()) {
			appendSpan = sp.SpanContext().SpanID().String()
			continue
		}
		if !strings.HasPrefix(sp.Name(), semconv.SpanPrefixOutbox) {
			continue
		}
		rows[sp.Name()]++
		if attrs[semconv.AttrDBSystem] != dbSystem {
			t.Errorf("%s: db.system %v", sp.Name(), attrs[semconv.AttrDBSystem])
		}
		switch sp.Name() {
		case semconv.SpanOutboxAdd:
			i := rows[sp.Name()] - 1
			if i < len(stored) && (attrs[semconv.AttrESEventID] != stored[i].ID || attrs[semconv.AttrESEventType] != stored[i].Type ||
				attrs[semconv.AttrESAggregateID] != "a" || attrs[semconv.AttrESAggregateType] != "Order") {
				t.Errorf("add span %d: %v", i, attrs)
			}
			if sp.Parent().SpanID().String() != appendSpan && appendSpan != "" {
				t.Errorf("add span is not a child of the append span")
			}
		case semconv.SpanOutboxGetPending:
			if attrs[semconv.AttrLimit] != int64(10) {
				t.Errorf("get_pending: %v", attrs)
			}
			if _, ok := attrs[semconv.AttrESEventCount]; !ok {
				t.Errorf("get_pending without event count: %v", attrs)
			}
		case semconv.SpanOutboxMarkPublished, semconv.SpanOutboxIncrementRetry:
			if id, _ := attrs[semconv.AttrOutboxID].(string); id == "" {
				t.Errorf("%s: no outbox.id: %v", sp.Name(), attrs)
			} else if _, err := strconv.ParseInt(id, 10, 64); err != nil {
				t.Errorf("%s: outbox.id %q", sp.Name(), id)
			}
			if sp.Name() == semconv.SpanOutboxIncrementRetry && len(attrs[semconv.AttrError].(string)) != 100 {
				t.Errorf("increment_retry error attribute not cut to 100 characters: %v", attrs)
			}
		default:
			t.Errorf("unexpected span %s", sp.Name())
		}
	}
	want := map[string]int{semconv.SpanOutboxAdd: 2, semconv.SpanOutboxGetPending: 2,
		semconv.SpanOutboxIncrementRetry: 2, semconv.SpanOutboxMarkPublished: 2}
	for name, n := range want {
		if rows[name] != n {
			t.Errorf("%d %s spans, want %d (all: %v)", rows[name], name, n, rows)
		}
	}
}
