package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
)

// Event types of the order and inventory app.
const (
	evOrderPlaced    = "OrderPlaced"
	evOrderCancelled = "OrderCancelled"
	evStockAdded     = "StockAdded"
	evStockReserved  = "StockReserved"
	evStockReleased  = "StockReleased"
)

const initialStock = 1_000_000

// order aggregate.
type order struct {
	eventsource.Root
	SKU    string
	Qty    int
	Status string
}

type orderPlaced struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

func newOrder(id string) *order {
	o := &order{}
	o.Init(id, "Order", o.apply)
	return o
}

func (o *order) apply(e eventsource.Event) error {
	switch e.Type {
	case evOrderPlaced:
		var d orderPlaced
		if err := e.Decode(&d); err != nil {
			return err
		}
		o.SKU, o.Qty, o.Status = d.SKU, d.Qty, "placed"
	case evOrderCancelled:
		o.Status = "cancelled"
	}
	return nil
}

// inventory aggregate, one per SKU.
type inventory struct {
	eventsource.Root
	Available int
}

type stockChange struct {
	OrderID string `json:"order_id,omitempty"`
	Qty     int    `json:"qty"`
}

func newInventory(sku string) *inventory {
	i := &inventory{}
	i.Init(sku, "Inventory", i.apply)
	return i
}

func (i *inventory) apply(e eventsource.Event) error {
	var d stockChange
	if err := e.Decode(&d); err != nil {
		return err
	}
	switch e.Type {
	case evStockAdded, evStockReleased:
		i.Available += d.Qty
	case evStockReserved:
		i.Available -= d.Qty
	}
	return nil
}

// Commands.
type placeOrder struct {
	OrderID, SKU string
	Qty          int
	Fail         bool // injected failure (the -error-ratio)
}

func (placeOrder) CommandType() string   { return "PlaceOrder" }
func (c placeOrder) AggregateID() string { return c.OrderID }

type cancelOrder struct {
	OrderID string
	Fail    bool
}

func (cancelOrder) CommandType() string   { return "CancelOrder" }
func (c cancelOrder) AggregateID() string { return c.OrderID }

// Queries.
type getOrder struct{ OrderID string }

func (getOrder) QueryType() string { return "GetOrder" }

type listOrders struct{ Limit int }

func (listOrders) QueryType() string { return "ListOrders" }

var (
	errPaymentDeclined = errors.New("payment declined")
	errOrderNotFound   = errors.New("order not found in read model")
)

type handlers struct {
	orders    *eventsource.Repository[*order]
	inventory *eventsource.Repository[*inventory]
	summary   *orderSummary
}

// The command handlers return only an error: the events a command produced are those its repositories
// saved (Dispatch returns them, and they go on the command span).

func (h *handlers) placeOrder(ctx context.Context, cmd placeOrder) error {
	if cmd.Fail {
		return errPaymentDeclined
	}
	inv, err := h.inventory.Load(ctx, cmd.SKU)
	if errors.Is(err, eventsource.ErrAggregateNotFound) {
		inv = h.inventory.New(cmd.SKU)
		err = inv.Raise(evStockAdded, stockChange{Qty: initialStock})
	}
	if err != nil {
		return err
	}
	if inv.Available < cmd.Qty {
		return fmt.Errorf("sku %s: %d available, %d wanted", cmd.SKU, inv.Available, cmd.Qty)
	}
	if err := inv.Raise(evStockReserved, stockChange{OrderID: cmd.OrderID, Qty: cmd.Qty}); err != nil {
		return err
	}
	o := h.orders.New(cmd.OrderID)
	if err := o.Raise(evOrderPlaced, orderPlaced{SKU: cmd.SKU, Qty: cmd.Qty}); err != nil {
		return err
	}
	if _, err := h.inventory.Save(ctx, inv); err != nil {
		return err
	}
	_, err = h.orders.Save(ctx, o)
	return err
}

func (h *handlers) cancelOrder(ctx context.Context, cmd cancelOrder) error {
	if cmd.Fail {
		return errors.New("cancellation window closed")
	}
	o, err := h.orders.Load(ctx, cmd.OrderID)
	if err != nil {
		return err
	}
	if o.Status != "placed" {
		return fmt.Errorf("order %s is %s", cmd.OrderID, o.Status)
	}
	inv, err := h.inventory.Load(ctx, o.SKU)
	if err != nil {
		return err
	}
	if err := o.Raise(evOrderCancelled, struct{}{}); err != nil {
		return err
	}
	if err := inv.Raise(evStockReleased, stockChange{OrderID: o.AggregateID(), Qty: o.Qty}); err != nil {
		return err
	}
	if _, err := h.orders.Save(ctx, o); err != nil {
		return err
	}
	_, err = h.inventory.Save(ctx, inv)
	return err
}

func (h *handlers) getOrder(_ context.Context, q getOrder) (orderView, error) {
	s, ok := h.summary.get(q.OrderID)
	if !ok {
		return orderView{}, errOrderNotFound
	}
	return s, nil
}

func (h *handlers) listOrders(_ context.Context, q listOrders) ([]orderView, error) {
	return h.summary.list(q.Limit), nil
}

// slowness makes a projection take delay ± jitter per event, and fail an
// attempt with probability failRatio.
type slowness struct {
	delay, jitter time.Duration
	failRatio     float64
	mu            sync.Mutex
	rnd           *rand.Rand
}

func (s *slowness) wait(ctx context.Context) error {
	s.mu.Lock()
	d := s.delay
	if s.jitter > 0 {
		d += time.Duration(s.rnd.Int64N(int64(2*s.jitter)+1)) - s.jitter
	}
	fail := s.failRatio > 0 && s.rnd.Float64() < s.failRatio
	s.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if fail {
		return errors.New("read model write failed")
	}
	return nil
}

type orderView struct {
	OrderID string `json:"order_id"`
	SKU     string `json:"sku"`
	Qty     int    `json:"qty"`
	Status  string `json:"status"`
}

// orderSummary projection: one row per order.
type orderSummary struct {
	slow *slowness
	mu   sync.RWMutex
	rows map[string]orderView
}

func (*orderSummary) Name() string { return "order_summary" }

func (*orderSummary) Handles(t string) bool { return t == evOrderPlaced || t == evOrderCancelled }

func (p *orderSummary) Apply(ctx context.Context, e eventsource.Event) error {
	if err := p.slow.wait(ctx); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch e.Type {
	case evOrderPlaced:
		var d orderPlaced
		if err := e.Decode(&d); err != nil {
			return err
		}
		p.rows[e.AggregateID] = orderView{OrderID: e.AggregateID, SKU: d.SKU, Qty: d.Qty, Status: "placed"}
	case evOrderCancelled:
		v := p.rows[e.AggregateID]
		v.Status = "cancelled"
		p.rows[e.AggregateID] = v
	}
	return nil
}

func (p *orderSummary) Reset(context.Context) error {
	p.mu.Lock()
	p.rows = map[string]orderView{}
	p.mu.Unlock()
	return nil
}

func (p *orderSummary) get(id string) (orderView, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, ok := p.rows[id]
	return v, ok
}

func (p *orderSummary) list(limit int) []orderView {
	p.mu.RLock()
	out := make([]orderView, 0, len(p.rows))
	for _, v := range p.rows {
		out = append(out, v)
	}
	p.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].OrderID < out[j].OrderID })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// inventoryLevels projection: available stock per SKU.
type inventoryLevels struct {
	slow *slowness
	mu   sync.Mutex
	lvl  map[string]int
}

func (*inventoryLevels) Name() string { return "inventory_levels" }

func (*inventoryLevels) Handles(t string) bool {
	return t == evStockAdded || t == evStockReserved || t == evStockReleased
}

func (p *inventoryLevels) Apply(ctx context.Context, e eventsource.Event) error {
	if err := p.slow.wait(ctx); err != nil {
		return err
	}
	var d stockChange
	if err := e.Decode(&d); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Type == evStockReserved {
		d.Qty = -d.Qty
	}
	p.lvl[e.AggregateID] += d.Qty
	return nil
}

func (p *inventoryLevels) Reset(context.Context) error {
	p.mu.Lock()
	p.lvl = map[string]int{}
	p.mu.Unlock()
	return nil
}
