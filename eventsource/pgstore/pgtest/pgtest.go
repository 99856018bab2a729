// Package pgtest starts a throw-away PostgreSQL server for tests, from the
// binaries of the operating system's postgresql package (Debian:
// /usr/lib/postgresql/<major>/bin). One server is shared by a whole test
// binary (Main, from TestMain); each test gets its own empty database
// (NewDatabase).
//
// Set PGTEST_URL to the URL of an existing server's superuser (e.g.
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to use it
// instead of starting one. Without PGTEST_URL and without binaries, tests
// that need PostgreSQL are skipped, saying why.
//
// When the test runs as root (PostgreSQL refuses to), the server runs as the
// "postgres" user if it exists, otherwise as "nobody"; the cluster's
// directory is given to that user.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvURL names the environment variable holding an existing server's URL.
const EnvURL = "PGTEST_URL"

// ErrNoPostgres is returned by Start when no PostgreSQL binaries are found.
var ErrNoPostgres = errors.New("pgtest: no PostgreSQL binaries (install Debian's postgresql package, or set " + EnvURL + ")")

// Cluster is a running PostgreSQL server.
type Cluster struct {
	// URL is a superuser URL of the server's "postgres" database.
	URL string

	dir    string // removed by Stop; empty for an external server
	bin    string
	cred   *syscall.Credential
	stopFn func() error
	dbs    atomic.Int64
}

// FindBinaries returns the directory of the newest installed PostgreSQL's
// initdb, pg_ctl and postgres, or "" when there is none.
func FindBinaries() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start returns the server named by PGTEST_URL, or initdb's and starts a new
// one in a temporary directory, listening on a free localhost port (its unix
// socket in the same directory). Stop it with Stop.
func Start() (*Cluster, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return &Cluster{URL: u, stopFn: func() error { return nil }}, nil
	}
	bin := FindBinaries()
	if bin == "" {
		return nil, ErrNoPostgres
	}
	c := &Cluster{bin: bin}
	var err error
	if c.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, err
	}
	if err := c.start(); err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start() error {
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		c.cred = cred
		if err := chownAll(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	data, sock := filepath.Join(c.dir, "data"), filepath.Join(c.dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return err
	}
	if c.cred != nil {
		if err := os.Chown(sock, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return err
		}
	}
	if err := c.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"); err != nil {
		return err
	}
	var lastErr error
	for range 3 { // a free port may be taken before the server binds it
		port, err := freePort()
		if err != nil {
			return err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, sock)
		lastErr = c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "postgres.log"), "-o", opts, "-w", "-t", "60", "start")
		if lastErr == nil {
			c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
			c.stopFn = func() error {
				err := c.run("pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "60", "stop")
				return errors.Join(err, os.RemoveAll(c.dir))
			}
			return nil
		}
	}
	log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	return fmt.Errorf("%w\npostgres.log:\n%s", lastErr, log)
}

// unprivileged is the user the server runs as when the test runs as root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil && uid != 0 {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
		}
	}
	return nil, errors.New("pgtest: running as root and found neither a postgres nor a nobody user to run PostgreSQL as")
}

func chownAll(dir string, uid, gid int) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run runs one of the server's programs, as the unprivileged user when the
// test is root. Output goes to a file, not a pipe: pg_ctl's server outlives
// it and would hold a pipe open.
func (c *Cluster) run(prog string, args ...string) error {
	out, err := os.CreateTemp(c.dir, prog+"-*.out")
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("pgtest: %s %s: %w\n%s", prog, strings.Join(args, " "), err, b)
	}
	return nil
}

// Stop stops the server and removes its directory (a server named by
// PGTEST_URL is left alone).
func (c *Cluster) Stop() error {
	if c == nil || c.stopFn == nil {
		return nil
	}
	return c.stopFn()
}

// CreateDatabase creates a new, empty database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("pgx", c.URL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
		return "", fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

var (
	shared    *Cluster
	sharedErr error
)

// Main runs a test binary's tests with one shared server, started before
// and stopped after them: call it from TestMain as os.Exit(pgtest.Main(m)).
// When no server can be had the tests still run, and NewDatabase skips.
// A failure to start an installed PostgreSQL fails the binary instead.
func Main(m *testing.M) int {
	shared, sharedErr = Start()
	if sharedErr != nil && !errors.Is(sharedErr, ErrNoPostgres) {
		fmt.Fprintln(os.Stderr, sharedErr)
		return 1
	}
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest: stopping PostgreSQL:", err)
	}
	return code
}

// Shared is the server Main started; it skips t when there is none.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if shared == nil {
		if sharedErr == nil {
			t.Fatal("pgtest: call pgtest.Main from TestMain")
		}
		t.Skip(sharedErr)
	}
	return shared
}

// NewDatabase creates an empty database on the shared server for t and
// returns its URL. It skips t when PostgreSQL is not available.
func NewDatabase(t testing.TB) string {
	t.Helper()
	c := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.dbs.Add(1))
	dsn, err := c.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}
