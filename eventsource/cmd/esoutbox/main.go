// Command esoutbox inspects a transactional outbox and puts back in line the
// entries a relay gave up on (eventsource.OutboxRelayConfig.MaxAttempts):
//
//	esoutbox -store sqlite:bank.db stats
//	esoutbox -store 'postgres://app@db/bank' failed -limit 20
//	esoutbox -store sqlite:bank.db requeue 1042 1043
//	esoutbox -store sqlite:bank.db requeue -all
//
// It opens the store the application writes (sqlitestore or pgstore, with
// its outbox on) and changes nothing but the rows it is told to requeue.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "esoutbox:", err)
		os.Exit(2)
	}
}

const usage = `usage: esoutbox -store sqlite:<path>|postgres://<dsn> <command>
commands:
  stats                     entries pending, failed and published, and the age of the oldest pending
  failed [-limit n]         the entries given up on (default limit 100): id, event, attempts, last error
  requeue <id>... | -all    make failed entries pending again, at their place in the order`

// outbox is what the commands need of a store's outbox.
type outbox interface {
	eventsource.OutboxDeadLetters
	eventsource.OutboxStatter
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("esoutbox", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	store := fs.String("store", "", "sqlite:<path> or a postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if *store == "" || fs.NArg() == 0 {
		return errors.New(usage)
	}
	ob, closeStore, err := open(ctx, *store)
	if err != nil {
		return err
	}
	defer closeStore()
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "stats":
		return stats(ctx, ob, stdout)
	case "failed":
		return failed(ctx, ob, rest, stdout)
	case "requeue":
		return requeue(ctx, ob, rest, stdout)
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// open opens the store named by spec with its outbox on.
func open(ctx context.Context, spec string) (outbox, func(), error) {
	var (
		ob      eventsource.Outbox
		closeDB func() error
	)
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		s, err := sqlitestore.OpenConfig(strings.TrimPrefix(spec, "sqlite:"), sqlitestore.Config{Outbox: true})
		if err != nil {
			return nil, nil, err
		}
		ob, closeDB = s.Outbox(), s.Close
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		s, err := pgstore.OpenConfig(ctx, spec, pgstore.Config{Outbox: true})
		if err != nil {
			return nil, nil, err
		}
		ob, closeDB = s.Outbox(), s.Close
	default:
		return nil, nil, fmt.Errorf("-store %q: give sqlite:<path> or a postgres:// URL", spec)
	}
	o, ok := ob.(outbox)
	if !ok {
		_ = closeDB()
		return nil, nil, fmt.Errorf("the outbox of %s lists no dead letters", spec)
	}
	return o, func() { _ = closeDB() }, nil
}

func stats(ctx context.Context, ob outbox, w io.Writer) error {
	s, err := ob.Stats(ctx)
	if err != nil {
		return err
	}
	age := "-"
	if !s.OldestPending.IsZero() {
		age = time.Since(s.OldestPending).Round(time.Millisecond).String()
	}
	_, err = fmt.Fprintf(w, "pending %d\nfailed %d\npublished %d\noldest pending age %s\n", s.Pending, s.Failed, s.Published, age)
	return err
}

func failed(ctx context.Context, ob outbox, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("failed", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	limit := fs.Int("limit", 100, "at most this many entries")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("failed: %w", err)
	}
	entries, err := ob.Failed(ctx, *limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENT\tTYPE\tAGGREGATE\tATTEMPTS\tLAST ERROR")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\t%d\t%s\n", e.ID, e.Event.ID, e.Event.Type, e.Event.AggregateType,
			e.Event.AggregateID, e.Attempts, strings.ReplaceAll(e.LastError, "\n", " "))
	}
	return tw.Flush()
}

func requeue(ctx context.Context, ob outbox, args []string, w io.Writer) error {
	var ids []int64
	switch {
	case len(args) == 1 && args[0] == "-all":
		// Bounded by what failed when it started: a relay running meanwhile may give entries up again.
		st, err := ob.Stats(ctx)
		if err != nil {
			return err
		}
		for int64(len(ids)) < st.Failed {
			entries, err := ob.Failed(ctx, int(min(st.Failed-int64(len(ids)), 1000)))
			if err != nil {
				return err
			}
			if len(entries) == 0 {
				break
			}
			batch := make([]int64, len(entries))
			for i, e := range entries {
				batch[i] = e.ID
			}
			if _, err := ob.Requeue(ctx, batch); err != nil {
				return err
			}
			ids = append(ids, batch...)
		}
		_, err = fmt.Fprintf(w, "requeued %d\n", len(ids))
		return err
	case len(args) == 0:
		return errors.New("requeue: give the ids of failed entries, or -all")
	}
	for _, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return fmt.Errorf("requeue: %q is not an entry id", a)
		}
		ids = append(ids, id)
	}
	n, err := ob.Requeue(ctx, ids)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "requeued %d of %d\n", n, len(ids))
	return err
}
