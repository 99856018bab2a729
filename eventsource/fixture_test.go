package eventsource_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// order is the test aggregate.
type order struct {
	eventsource.Root
	Status string `json:"status"`
	Qty    int    `json:"qty"`
}

func newOrder(id string) *order {
	o := &order{}
	o.Init(id, "Order", o.apply)
	return o
}

func (o *order) apply(e eventsource.Event) error {
	switch e.Type {
	case "OrderPlaced":
		var d struct{ Qty int }
		if err := e.Decode(&d); err != nil {
			return err
		}
		o.Status, o.Qty = "placed", d.Qty
	case "OrderCancelled":
		o.Status = "cancelled"
	}
	return nil
}

func (o *order) Place(qty int) error { return o.Raise("OrderPlaced", map[string]int{"Qty": qty}) }

func (o *order) Cancel() error {
	if o.Status != "placed" {
		return errors.New("order is not placed")
	}
	return o.Raise("OrderCancelled", struct{}{})
}

func (o *order) SnapshotState() ([]byte, error) { return json.Marshal(o) }

func (o *order) RestoreSnapshot(state []byte, version int64) error {
	o.SetVersion(version)
	return json.Unmarshal(state, o)
}

type placeOrder struct {
	ID  string
	Qty int
}

func (placeOrder) CommandType() string   { return "PlaceOrder" }
func (c placeOrder) AggregateID() string { return c.ID }

type getOrder struct{ ID string }

func (getOrder) QueryType() string { return "GetOrder" }

type listOrders struct{}

func (listOrders) QueryType() string { return "ListOrders" }

// summary is a test projection; failFor makes Apply fail for an event type.
type summary struct {
	mu      sync.Mutex
	byID    map[string]string
	applied int
	failFor string
}

func (s *summary) Name() string { return "order_summary" }

func (s *summary) Apply(_ context.Context, e eventsource.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Type == s.failFor {
		return errors.New("boom")
	}
	if s.byID == nil {
		s.byID = map[string]string{}
	}
	s.byID[e.AggregateID] = e.Type
	s.applied++
	return nil
}

func (s *summary) Reset(context.Context) error {
	s.mu.Lock()
	s.byID, s.applied = nil, 0
	s.mu.Unlock()
	return nil
}

func newRecorder(t *testing.T) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return sr, tp
}
