package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcol-es/otelcol-es/eventsource"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore"
	"github.com/otelcol-es/otelcol-es/eventsource/pgstore/pgtest"
	"github.com/otelcol-es/otelcol-es/eventsource/sqlitestore"
)

// TestMain shares one PostgreSQL server (pgtest) among the tests.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// refusing refuses every event of one type.
type refusing struct{ typ string }

func (r refusing) Publish(_ context.Context, events []eventsource.Event) error {
	for _, e := range events {
		if e.Type == r.typ {
			return fmt.Errorf("cannot serialise %s", e.Type)
		}
	}
	return nil
}

// A relay gives one entry up; esoutbox lists it, counts it, requeues it by id, and -all finds nothing left.
func TestListAndRequeueWhatTheRelayGaveUp(t *testing.T) {
	for name, spec := range map[string]func(t *testing.T) string{
		"sqlite":     func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "bank.db") },
		"postgresql": func(t *testing.T) string { return pgtest.NewDatabase(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			target := spec(t)
			var (
				store   eventsource.OutboxStore
				closeDB func() error
			)
			if path, ok := strings.CutPrefix(target, "sqlite:"); ok {
				s, err := sqlitestore.OpenConfig(path, sqlitestore.Config{Outbox: true})
				must(t, err)
				store, closeDB = s, s.Close
			} else {
				s, err := pgstore.OpenConfig(ctx, target, pgstore.Config{Outbox: true})
				must(t, err)
				store, closeDB = s, s.Close
			}
			stored, err := store.AppendEvents(ctx, "acct-1", "Account", 0, []eventsource.Event{
				{Type: "Opened", Data: []byte(`{}`)}, {Type: "Poison", Data: []byte(`{}`)}, {Type: "Deposited", Data: []byte(`{}`)}})
			must(t, err)
			relay, err := eventsource.NewOutboxRelay(eventsource.OutboxRelayConfig{Outbox: store.Outbox(),
				Publisher: refusing{typ: "Poison"}, MaxAttempts: 1})
			must(t, err)
			for range 5 {
				_, _ = relay.RelayOnce(ctx)
			}
			must(t, closeDB())

			out := esoutbox(t, "-store", target, "failed")
			if !strings.Contains(out, stored[1].ID) || !strings.Contains(out, "Poison") || !strings.Contains(out, "cannot serialise Poison") {
				t.Fatalf("failed lists:\n%s", out)
			}
			if out := esoutbox(t, "-store", target, "stats"); !strings.Contains(out, "pending 0\nfailed 1\npublished 2\n") {
				t.Fatalf("stats:\n%s", out)
			}
			id := strings.Fields(strings.Split(out, "\n")[1])[0]
			if out := esoutbox(t, "-store", target, "requeue", id, "999999"); out != "requeued 1 of 2\n" {
				t.Fatalf("requeue: %q", out)
			}
			if out := esoutbox(t, "-store", target, "stats"); !strings.Contains(out, "pending 1\nfailed 0\n") {
				t.Fatalf("stats after the requeue:\n%s", out)
			}
			if out := esoutbox(t, "-store", target, "requeue", "-all"); out != "requeued 0\n" {
				t.Fatalf("requeue -all: %q", out)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"-store", "sqlite:x.db"}, {"-store", "mysql://x", "stats"},
		{"-store", "sqlite:" + filepath.Join(t.TempDir(), "x.db"), "drop"}, {"-store", "sqlite:" + filepath.Join(t.TempDir(), "y.db"), "requeue", "abc"}} {
		if err := run(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func esoutbox(t *testing.T, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("esoutbox %v: %v", args, err)
	}
	return out.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
