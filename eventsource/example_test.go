package eventsource_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sort"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/semconv"
)

// Account is an event-sourced bank account. Root numbers its versions and
// keeps the events it raised until the repository saves them.
type Account struct {
	eventsource.Root
	Owner   string
	Balance int64
}

// NewAccount is the repository's factory. Init is the one place the
// aggregate type is given.
func NewAccount(id string) *Account {
	a := &Account{}
	a.Init(id, "Account", a.apply)
	return a
}

// Event payloads, stored as JSON.
type (
	AccountOpened  struct{ Owner string }
	MoneyDeposited struct{ Amount int64 }
	MoneyWithdrawn struct{ Amount int64 }
)

// apply changes the state for one event, raised now or loaded from the store.
func (a *Account) apply(e eventsource.Event) error {
	switch e.Type {
	case "AccountOpened":
		var d AccountOpened
		if err := e.Decode(&d); err != nil {
			return err
		}
		a.Owner = d.Owner
	case "MoneyDeposited":
		var d MoneyDeposited
		if err := e.Decode(&d); err != nil {
			return err
		}
		a.Balance += d.Amount
	case "MoneyWithdrawn":
		var d MoneyWithdrawn
		if err := e.Decode(&d); err != nil {
			return err
		}
		a.Balance -= d.Amount
	}
	return nil
}

// ErrInvalidAmount rejects a deposit or withdrawal of zero or less.
var ErrInvalidAmount = errors.New("amount must be positive")

// InsufficientFunds names itself, so a command span that fails with it has
// error.type "InsufficientFunds" however it was wrapped.
type InsufficientFunds struct{ Balance, Amount int64 }

func (e *InsufficientFunds) Error() string {
	return fmt.Sprintf("balance %d is less than %d", e.Balance, e.Amount)
}

// ErrorType implements eventsource.ErrorTyper.
func (*InsufficientFunds) ErrorType() string { return "InsufficientFunds" }

func (a *Account) Open(owner string) error {
	return a.Raise("AccountOpened", AccountOpened{Owner: owner})
}

func (a *Account) Deposit(amount int64) error {
	if amount <= 0 {
		return ErrInvalidAmount
	}
	return a.Raise("MoneyDeposited", MoneyDeposited{Amount: amount})
}

func (a *Account) Withdraw(amount int64) error {
	if amount <= 0 {
		return ErrInvalidAmount
	}
	if amount > a.Balance {
		return &InsufficientFunds{Balance: a.Balance, Amount: amount}
	}
	return a.Raise("MoneyWithdrawn", MoneyWithdrawn{Amount: amount})
}

// Commands. CommandType is the one place a command's type name is written;
// AggregateID sets cqrs.aggregate.id on the command span.
type (
	OpenAccount struct{ AccountID, Owner string }
	Deposit     struct {
		AccountID string
		Amount    int64
	}
	Withdraw struct {
		AccountID string
		Amount    int64
	}
)

func (OpenAccount) CommandType() string   { return "OpenAccount" }
func (c OpenAccount) AggregateID() string { return c.AccountID }
func (Deposit) CommandType() string       { return "Deposit" }
func (c Deposit) AggregateID() string     { return c.AccountID }
func (Withdraw) CommandType() string      { return "Withdraw" }
func (c Withdraw) AggregateID() string    { return c.AccountID }

// Queries.
type (
	GetBalance   struct{ AccountID string }
	ListAccounts struct{}
)

func (GetBalance) QueryType() string   { return "GetBalance" }
func (ListAccounts) QueryType() string { return "ListAccounts" }

// BalanceRow is one row of the Balances read model.
type BalanceRow struct {
	AccountID, Owner string
	Balance          int64
	// Version is the account version the row reflects.
	Version int64
}

// Balances is a projection: the read model the queries read. Delivery is at
// least once, so Apply is idempotent: an event at or below the version a
// row already reflects is skipped.
type Balances struct {
	mu   sync.Mutex
	rows map[string]BalanceRow
}

func (b *Balances) Name() string { return "balances" }

func (b *Balances) Apply(_ context.Context, e eventsource.Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	row := b.rows[e.AggregateID]
	if e.Version <= row.Version {
		return nil // seen already
	}
	row.AccountID, row.Version = e.AggregateID, e.Version
	switch e.Type {
	case "AccountOpened":
		var d AccountOpened
		if err := e.Decode(&d); err != nil {
			return err
		}
		row.Owner = d.Owner
	case "MoneyDeposited", "MoneyWithdrawn":
		var d MoneyDeposited // both carry Amount
		if err := e.Decode(&d); err != nil {
			return err
		}
		if e.Type == "MoneyWithdrawn" {
			d.Amount = -d.Amount
		}
		row.Balance += d.Amount
	}
	if b.rows == nil {
		b.rows = map[string]BalanceRow{}
	}
	b.rows[e.AggregateID] = row
	return nil
}

func (b *Balances) Reset(context.Context) error {
	b.mu.Lock()
	b.rows = nil
	b.mu.Unlock()
	return nil
}

func (b *Balances) Get(id string) (BalanceRow, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	row, ok := b.rows[id]
	return row, ok
}

func (b *Balances) List() []BalanceRow {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]BalanceRow, 0, len(b.rows))
	for _, row := range b.rows {
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out
}

// Bank wires the application: store, bus, repository, projection, command
// and query handlers.
type Bank struct {
	Store    eventsource.EventStore
	Bus      *eventsource.EventBus
	Accounts *eventsource.Repository[*Account]
	Balances *Balances
	Runner   *eventsource.ProjectionRunner
	Commands *eventsource.CommandBus
	Queries  *eventsource.QueryBus
}

// ErrUnknownAccount is GetBalance's answer for an account not in the read model.
var ErrUnknownAccount = errors.New("unknown account")

func NewBank(ctx context.Context, opts ...eventsource.Option) (*Bank, error) {
	b := &Bank{
		Store:    eventsource.NewInMemoryEventStore(opts...), // sqlitestore.Open("bank.db") keeps them
		Bus:      eventsource.NewEventBus(eventsource.EventBusConfig{}, opts...),
		Balances: &Balances{},
		Commands: eventsource.NewCommandBus(opts...),
		Queries:  eventsource.NewQueryBus(opts...),
	}
	var err error
	if b.Accounts, err = eventsource.NewRepository(eventsource.RepositoryConfig[*Account]{
		Store: b.Store, Factory: NewAccount, Publisher: b.Bus}, opts...); err != nil {
		return nil, err
	}
	if b.Runner, err = eventsource.NewProjectionRunner(eventsource.ProjectionConfig{
		Projection: b.Balances, Store: b.Store, DLQ: eventsource.NewInMemoryDLQ(0, opts...)}, opts...); err != nil {
		return nil, err
	}
	// Subscribe, then catch up: no event saved meanwhile is missed.
	if _, err := b.Runner.Start(ctx, b.Bus); err != nil {
		return nil, err
	}
	// update loads an account, runs one behaviour and saves what it raised.
	update := func(ctx context.Context, id string, do func(*Account) error) error {
		a, err := b.Accounts.Load(ctx, id)
		if err != nil {
			return err
		}
		if err := do(a); err != nil {
			return err
		}
		_, err = b.Accounts.Save(ctx, a)
		return err
	}
	return b, errors.Join(
		eventsource.Register(b.Commands, func(ctx context.Context, c OpenAccount) error {
			a := b.Accounts.New(c.AccountID)
			if err := a.Open(c.Owner); err != nil {
				return err
			}
			_, err := b.Accounts.Save(ctx, a) // an existing account fails on the version check
			return err
		}),
		eventsource.Register(b.Commands, func(ctx context.Context, c Deposit) error {
			return update(ctx, c.AccountID, func(a *Account) error { return a.Deposit(c.Amount) })
		}),
		eventsource.Register(b.Commands, func(ctx context.Context, c Withdraw) error {
			return update(ctx, c.AccountID, func(a *Account) error {
				if err := a.Withdraw(c.Amount); err != nil {
					return fmt.Errorf("withdraw from %s: %w", c.AccountID, err)
				}
				return nil
			})
		}),
		eventsource.RegisterQuery(b.Queries, func(_ context.Context, q GetBalance) (int64, error) {
			row, ok := b.Balances.Get(q.AccountID)
			if !ok {
				return 0, ErrUnknownAccount
			}
			return row.Balance, nil
		}),
		eventsource.RegisterQuery(b.Queries, func(context.Context, ListAccounts) ([]BalanceRow, error) {
			return b.Balances.List(), nil
		}),
	)
}

// A small bank: commands change accounts, a projection keeps balances, and
// queries read them. With no TracerProvider installed nothing is traced;
// install one (see the openTelemetrySDK example) and every call below emits
// the spans the otelcol-es collector turns into metrics.
func Example() {
	ctx := context.Background()
	bank, err := NewBank(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer bank.Bus.Close()

	for _, c := range []eventsource.Command{
		OpenAccount{AccountID: "acct-1", Owner: "Ada"},
		Deposit{AccountID: "acct-1", Amount: 100},
		Withdraw{AccountID: "acct-1", Amount: 30},
		Withdraw{AccountID: "acct-1", Amount: 500},
		OpenAccount{AccountID: "acct-1", Owner: "Bob"},
	} {
		events, err := bank.Commands.Dispatch(ctx, c)
		fmt.Printf("%s: %d event(s), error: %v\n", c.CommandType(), len(events), err)
	}

	// The read model is updated asynchronously; wait for it before reading.
	if err := bank.Bus.Drain(ctx); err != nil {
		log.Fatal(err)
	}
	balance, err := eventsource.Execute[int64](ctx, bank.Queries, GetBalance{AccountID: "acct-1"})
	fmt.Println("balance:", balance, err)
	_, err = eventsource.Execute[int64](ctx, bank.Queries, GetBalance{AccountID: "acct-2"})
	fmt.Println("acct-2:", err)
	rows, err := eventsource.Execute[[]BalanceRow](ctx, bank.Queries, ListAccounts{})
	fmt.Printf("%+v %v, checkpoint %d\n", rows, err, bank.Runner.Checkpoint())
	// Output:
	// OpenAccount: 1 event(s), error: <nil>
	// Deposit: 1 event(s), error: <nil>
	// Withdraw: 1 event(s), error: <nil>
	// Withdraw: 0 event(s), error: withdraw from acct-1: balance 70 is less than 500
	// OpenAccount: 0 event(s), error: eventsource: concurrency conflict on aggregate acct-1: expected version 0, stream is at 3 (reload the aggregate and retry the command)
	// balance: 70 <nil>
	// acct-2: unknown account
	// [{AccountID:acct-1 Owner:Ada Balance:70 Version:3}] <nil>, checkpoint 3
}

// Register takes the command type name from the command itself; a second
// handler for the same name is an error at registration, not at run time.
func ExampleRegister() {
	commands := eventsource.NewCommandBus()
	open := func(context.Context, OpenAccount) error { return nil }
	fmt.Println(eventsource.Register(commands, open))
	err := eventsource.Register(commands, open)
	fmt.Println(errors.Is(err, eventsource.ErrRegistration), err)
	// Output:
	// <nil>
	// true eventsource: invalid registration: command type "OpenAccount" already has a handler (for eventsource_test.OpenAccount)
}

// Execute returns the handler's result typed; asking for another type fails
// before the handler runs.
func ExampleExecute() {
	queries := eventsource.NewQueryBus()
	_ = eventsource.RegisterQuery(queries, func(_ context.Context, q GetBalance) (int64, error) { return 42, nil })
	balance, err := eventsource.Execute[int64](context.Background(), queries, GetBalance{AccountID: "acct-1"})
	fmt.Println(balance, err)
	_, err = eventsource.Execute[string](context.Background(), queries, GetBalance{AccountID: "acct-1"})
	fmt.Println(err)
	// Output:
	// 42 <nil>
	// eventsource: type mismatch: query GetBalance answers with int64, not string
}

// A command that fails records error.type from the domain error, here one
// that names itself, and cqrs.events.count 0.
func ExampleErrorTyper() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	ctx := context.Background()
	bank, err := NewBank(ctx, eventsource.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}
	defer bank.Bus.Close()
	_, _ = bank.Commands.Dispatch(ctx, OpenAccount{AccountID: "acct-1", Owner: "Ada"})
	_, _ = bank.Commands.Dispatch(ctx, Withdraw{AccountID: "acct-1", Amount: 5})
	for _, s := range spans.Ended() {
		if s.Name() != semconv.SpanPrefixCommand+"Withdraw" {
			continue
		}
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case semconv.AttrErrorType, semconv.AttrEventsCount:
				fmt.Println(kv.Key, kv.Value.Emit())
			}
		}
	}
	// Output:
	// cqrs.events.count 0
	// error.type InsufficientFunds
}

// A projection added to a running application: Start subscribes it, then
// catches it up; events saved meanwhile are applied once, in order.
func ExampleProjectionRunner_Start() {
	ctx := context.Background()
	bank, err := NewBank(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer bank.Bus.Close()
	_, _ = bank.Commands.Dispatch(ctx, OpenAccount{AccountID: "acct-1", Owner: "Ada"})
	_, _ = bank.Commands.Dispatch(ctx, Deposit{AccountID: "acct-1", Amount: 10})

	audit := &Balances{}
	runner, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{Projection: audit, Store: bank.Store})
	if err != nil {
		log.Fatal(err)
	}
	replayed, err := runner.Start(ctx, bank.Bus)
	fmt.Println("caught up:", replayed, err)
	_, _ = bank.Commands.Dispatch(ctx, Deposit{AccountID: "acct-1", Amount: 5})
	_ = bank.Bus.Drain(ctx)
	row, _ := audit.Get("acct-1")
	fmt.Println(row.Balance, runner.Checkpoint())
	// Output:
	// caught up: 2 <nil>
	// 15 3
}

// The OpenTelemetry SDK set up from the standard OTEL_* variables:
// OTEL_EXPORTER_OTLP_ENDPOINT (and _HEADERS, _INSECURE, ...),
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
// OTEL_BSP_*. The batcher blocks instead of dropping spans when its queue is
// full: the collector's metrics are exact only if every span arrives.
func Example_openTelemetrySDK() {
	ctx := context.Background()
	exporter, err := otlptracegrpc.New(ctx) // OTLP over gRPC, configured by OTEL_EXPORTER_OTLP_*
	if err != nil {
		log.Fatal(err)
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithBatcher(exporter, sdktrace.WithBlocking()),
	)
	defer func() { _ = tp.Shutdown(ctx) }() // flushes what is still queued
	// The runtime's components use the global provider unless given WithTracerProvider.
	otel.SetTracerProvider(tp)

	bank, err := NewBank(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer bank.Bus.Close()
	_, _ = bank.Commands.Dispatch(ctx, OpenAccount{AccountID: "acct-1", Owner: "Ada"})
}
