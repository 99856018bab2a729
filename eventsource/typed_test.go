package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

type cancelOrder struct{ ID string }

func (cancelOrder) CommandType() string   { return "CancelOrder" }
func (c cancelOrder) AggregateID() string { return c.ID }

// samePlaceOrderName is another Go type claiming placeOrder's name.
type samePlaceOrderName struct{}

func (samePlaceOrderName) CommandType() string { return "PlaceOrder" }

type unnamed struct{}

func (unnamed) CommandType() string { return "" }

type nilDeref struct{ name *string }

func (c *nilDeref) CommandType() string { return *c.name }

func TestRegisterRejectsMismatchesAtRegistration(t *testing.T) {
	bus := eventsource.NewCommandBus()
	ok := func(context.Context, placeOrder) error { return nil }
	require.NoError(t, eventsource.Register(bus, ok))

	for name, err := range map[string]error{
		"same Go type twice":        eventsource.Register(bus, ok),
		"another type, same name":   eventsource.Register(bus, func(context.Context, samePlaceOrderName) error { return nil }),
		"empty name":                eventsource.Register(bus, func(context.Context, unnamed) error { return nil }),
		"interface type":            eventsource.Register(bus, func(context.Context, eventsource.Command) error { return nil }),
		"name needs a non-zero val": eventsource.Register(bus, func(context.Context, *nilDeref) error { return nil }),
		"query registered twice": func() error {
			q := eventsource.NewQueryBus()
			h := func(context.Context, getOrder) (string, error) { return "", nil }
			require.NoError(t, eventsource.RegisterQuery(q, h))
			return eventsource.RegisterQuery(q, h)
		}(),
	} {
		assert.ErrorIs(t, err, eventsource.ErrRegistration, name)
	}

	// An unregistered Go type carrying a registered name fails at dispatch, as a mismatch.
	_, err := bus.Dispatch(context.Background(), samePlaceOrderName{})
	assert.ErrorIs(t, err, eventsource.ErrTypeMismatch)
}

// TestTypedCommandCountsWhatItSaved: a typed handler returns only an error;
// the events it saved through repositories are the command's events, and a
// failed command produced none, even if it stored some before failing.
func TestTypedCommandCountsWhatItSaved(t *testing.T) {
	sr, tp := newRecorder(t)
	opt := eventsource.WithTracerProvider(tp)
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: eventsource.NewInMemoryEventStore(opt), Factory: newOrder}, opt)
	require.NoError(t, err)
	bus := eventsource.NewCommandBus(opt)
	require.NoError(t, eventsource.Register(bus, func(ctx context.Context, c placeOrder) error {
		for i := range 2 {
			o := repo.New(fmt.Sprint(c.ID, "-", i))
			if err := o.Place(c.Qty); err != nil {
				return err
			}
			if _, err := repo.Save(ctx, o); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, eventsource.Register(bus, func(ctx context.Context, c cancelOrder) error {
		o := repo.New(c.ID)
		if err := o.Place(1); err != nil {
			return err
		}
		if _, err := repo.Save(ctx, o); err != nil {
			return err
		}
		return errors.New("the second half failed") // one event stored, command failed
	}))
	ctx := context.Background()
	events, err := bus.Dispatch(ctx, placeOrder{ID: "o", Qty: 1})
	require.NoError(t, err)
	require.Len(t, events, 2)
	assert.Equal(t, []int64{1, 2}, []int64{events[0].Position, events[1].Position})
	_, err = bus.Dispatch(ctx, cancelOrder{ID: "c"})
	require.Error(t, err)

	spans := sr.Ended()
	place := attrs(one(t, spans, semconv.SpanPrefixCommand+"PlaceOrder"))
	assert.Equal(t, int64(2), place[semconv.AttrEventsCount].AsInt64())
	assert.Len(t, one(t, spans, semconv.SpanPrefixCommand+"PlaceOrder").Events(), 2)
	cancel := one(t, spans, semconv.SpanPrefixCommand+"CancelOrder")
	assert.Equal(t, codes.Error, cancel.Status().Code)
	assert.Equal(t, int64(0), attrs(cancel)[semconv.AttrEventsCount].AsInt64())
	assert.Equal(t, "c", attrs(cancel)[semconv.AttrAggregateID].AsString())
}

type orderView struct{ ID, Status string }

func TestTypedQueries(t *testing.T) {
	sr, tp := newRecorder(t)
	bus := eventsource.NewQueryBus(eventsource.WithTracerProvider(tp))
	require.NoError(t, eventsource.RegisterQuery(bus, func(_ context.Context, q getOrder) (orderView, error) {
		return orderView{ID: q.ID, Status: "placed"}, nil
	}))
	require.NoError(t, eventsource.RegisterQuery(bus, func(context.Context, listOrders) ([]orderView, error) {
		return []orderView{{ID: "a"}, {ID: "b"}}, nil
	}))
	ctx := context.Background()

	v, err := eventsource.Execute[orderView](ctx, bus, getOrder{ID: "o1"})
	require.NoError(t, err)
	assert.Equal(t, orderView{ID: "o1", Status: "placed"}, v)
	list, err := eventsource.Execute[[]orderView](ctx, bus, listOrders{})
	require.NoError(t, err)
	assert.Len(t, list, 2)
	_, err = eventsource.Execute[string](ctx, bus, getOrder{ID: "o1"})
	require.ErrorIs(t, err, eventsource.ErrTypeMismatch)
	assert.Contains(t, err.Error(), "answers with eventsource_test.orderView, not string")

	spans := sr.Ended()
	assert.Equal(t, int64(2), attrs(one(t, spans, semconv.SpanPrefixQuery+"ListOrders"))[semconv.AttrQueryResultCount].AsInt64())
	gets := byName(spans, semconv.SpanPrefixQuery+"GetOrder")
	require.Len(t, gets, 2)
	assert.Equal(t, codes.Unset, gets[0].Status().Code)
	assert.Equal(t, codes.Error, gets[1].Status().Code, "asking for the wrong result type is a failed query")
}

func TestRepositoryTakesTheAggregateTypeFromTheFactory(t *testing.T) {
	store := eventsource.NewInMemoryEventStore()
	repo, err := eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: newOrder})
	require.NoError(t, err)
	assert.Equal(t, "Order", repo.AggregateType())

	_, err = eventsource.NewRepository(eventsource.RepositoryConfig[*order]{Store: store, Factory: func(string) *order { return &order{} }})
	assert.ErrorContains(t, err, "call Root.Init")
}

// insufficientFunds names itself for error.type.
type insufficientFunds struct{ balance, amount int64 }

func (e *insufficientFunds) Error() string {
	return fmt.Sprintf("balance %d is less than %d", e.balance, e.amount)
}
func (*insufficientFunds) ErrorType() string { return "InsufficientFunds" }

type validationError struct{ field string }

func (e validationError) Error() string { return e.field + " is invalid" }

func TestErrorTypeIsTheDomainErrorsType(t *testing.T) {
	sr, tp := newRecorder(t)
	bus := eventsource.NewCommandBus(eventsource.WithTracerProvider(tp))
	var fail error
	require.NoError(t, eventsource.Register(bus, func(context.Context, placeOrder) error { return fail }))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("withdraw: %w", &insufficientFunds{1, 2}), "InsufficientFunds"},
		{fmt.Errorf("open: %w", fmt.Errorf("validate: %w", validationError{"owner"})), "eventsource_test.validationError"},
		{errors.Join(validationError{"amount"}, errors.New("x")), "eventsource_test.validationError"},
		{fmt.Errorf("save: %w", &eventsource.ConcurrencyError{AggregateID: "a"}), "ConcurrencyError"},
		// Text only: no meaningful type, so OpenTelemetry's _OTHER, never *errors.errorString.
		{errors.New("out of stock"), "_OTHER"},
		{fmt.Errorf("reserve: %w", errors.New("out of stock")), "_OTHER"},
		{fmt.Errorf("reserve: %v", validationError{"sku"}), "_OTHER"},
		{fmt.Errorf("load: %w", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}), "*fs.PathError"},
	} {
		fail = tc.err
		sr.Reset()
		_, err := bus.Dispatch(context.Background(), placeOrder{ID: "o"})
		require.Error(t, err)
		assert.Equal(t, tc.want, attrs(sr.Ended()[0])[semconv.AttrErrorType].AsString(), tc.err.Error())
	}
}
