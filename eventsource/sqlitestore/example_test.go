package sqlitestore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

// Account is an event-sourced bank account (Init gives its type, once).
type Account struct {
	eventsource.Root
	Balance int64
}

// Deposited is the payload of a MoneyDeposited event.
type Deposited struct{ Amount int64 }

func NewAccount(id string) *Account {
	a := &Account{}
	a.Init(id, "Account", func(e eventsource.Event) error {
		var d Deposited
		if e.Type == "MoneyDeposited" {
			if err := e.Decode(&d); err != nil {
				return err
			}
		}
		a.Balance += d.Amount
		return nil
	})
	return a
}

// Deposit opens the account on its first deposit.
type Deposit struct {
	AccountID string
	Amount    int64
}

func (Deposit) CommandType() string   { return "Deposit" }
func (c Deposit) AggregateID() string { return c.AccountID }

// GetBalance reads the balances read model.
type GetBalance struct{ AccountID string }

func (GetBalance) QueryType() string { return "GetBalance" }

// Balances is a read model in a table of the same SQLite file, so it, the
// events and the projection's checkpoint survive a restart together. Apply
// is idempotent (delivery is at least once): a row only moves forward in
// version.
type Balances struct{ store *sqlitestore.Store }

func (b Balances) Name() string { return "balances" }

func (b Balances) Apply(ctx context.Context, e eventsource.Event) error {
	var d Deposited
	if err := e.Decode(&d); err != nil {
		return err
	}
	_, err := b.store.DB().ExecContext(ctx, `INSERT INTO balances (account_id, balance, version) VALUES (?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET balance = balance + excluded.balance, version = excluded.version
		WHERE balances.version < excluded.version`, e.AggregateID, d.Amount, e.Version)
	return err
}

func (b Balances) Reset(ctx context.Context) error {
	_, err := b.store.DB().ExecContext(ctx, `DELETE FROM balances`)
	return err
}

// run is one life of the application: open the file, wire, run commands,
// read a balance, close.
func run(path string, commands ...Deposit) {
	ctx := context.Background()
	store, err := sqlitestore.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if _, err := store.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS balances
		(account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL, version INTEGER NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	bus := eventsource.NewEventBus(eventsource.EventBusConfig{})
	defer bus.Close()
	accounts, err := eventsource.NewRepository(eventsource.RepositoryConfig[*Account]{
		Store: store, Factory: NewAccount, Snapshots: store.Snapshots(), Publisher: bus})
	if err != nil {
		log.Fatal(err)
	}
	runner, err := eventsource.NewProjectionRunner(eventsource.ProjectionConfig{
		Projection: Balances{store}, Store: store,
		Checkpoints: store,       // durable: a restart resumes, it does not replay
		DLQ:         store.DLQ(), // durable: dead letters survive the restart too
	})
	if err != nil {
		log.Fatal(err)
	}
	replayed, err := runner.Start(ctx, bus)
	if err != nil {
		log.Fatal(err)
	}

	cmds := eventsource.NewCommandBus()
	if err := eventsource.Register(cmds, func(ctx context.Context, c Deposit) error {
		a, err := accounts.Load(ctx, c.AccountID)
		if err != nil {
			a = accounts.New(c.AccountID) // first deposit
		}
		if err := a.Raise("MoneyDeposited", Deposited{Amount: c.Amount}); err != nil {
			return err
		}
		_, err = accounts.Save(ctx, a)
		return err
	}); err != nil {
		log.Fatal(err)
	}
	queries := eventsource.NewQueryBus()
	if err := eventsource.RegisterQuery(queries, func(ctx context.Context, q GetBalance) (int64, error) {
		var balance int64
		err := store.DB().QueryRowContext(ctx, `SELECT balance FROM balances WHERE account_id = ?`, q.AccountID).Scan(&balance)
		return balance, err
	}); err != nil {
		log.Fatal(err)
	}

	for _, c := range commands {
		if _, err := cmds.Dispatch(ctx, c); err != nil {
			log.Fatal(err)
		}
	}
	_ = bus.Drain(ctx)
	balance, err := eventsource.Execute[int64](ctx, queries, GetBalance{AccountID: "acct-1"})
	fmt.Printf("replayed %d, balance %d (%v), checkpoint %d\n", replayed, balance, err, runner.Checkpoint())
}

// A bank on one SQLite file, run twice: after the restart the balances
// projection resumes from its stored checkpoint instead of replaying.
func Example() {
	dir, err := os.MkdirTemp("", "bank")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bank.db")

	run(path, Deposit{"acct-1", 100}, Deposit{"acct-1", 20})
	run(path, Deposit{"acct-1", 5})
	// Output:
	// replayed 0, balance 120 (<nil>), checkpoint 2
	// replayed 0, balance 125 (<nil>), checkpoint 3
}
