// Package rabbittest starts a throw-away RabbitMQ node for tests, from the
// operating system's rabbitmq-server package (Debian: /usr/lib/rabbitmq/bin).
// One node is shared by a whole test binary (Main, from TestMain); each test
// gets its own virtual host (NewVhost), so tests never see each other's
// exchanges and queues.
//
// Set RABBITMQTEST_URL to an existing broker's administrator URL (e.g.
// amqp://guest:guest@127.0.0.1:5672/) to use it instead of starting a node.
// Without it and without the package, tests fail saying what to install: CI
// installs it, and a missing broker must not pass silently.
package rabbittest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// EnvURL names the environment variable holding an existing broker's URL.
const EnvURL = "RABBITMQTEST_URL"

// ErrNoRabbitMQ is returned by Start when the rabbitmq-server package is not installed.
var ErrNoRabbitMQ = errors.New("rabbittest: no rabbitmq-server (install Debian's rabbitmq-server package, or set " + EnvURL + ")")

// startTimeout bounds a node's boot (about 9 s on an idle 2-core machine).
const startTimeout = 2 * time.Minute

// startAttempts bounds the boots on fresh ports: a port found free can be taken by another process
// (an outgoing connection's ephemeral port, another test's listener) before the node binds it.
const startAttempts = 5

// errPortTaken is a boot that failed because one of its ports was taken after it was picked.
var errPortTaken = errors.New("rabbittest: a port picked for the node was taken before it bound it")

// Broker is a running RabbitMQ node.
type Broker struct {
	// URL is the administrator's URL of the default virtual host "/".
	URL string
	// Port is the AMQP listener's port (127.0.0.1 only).
	Port int

	node   string // "" for an external broker
	dir    string
	bin    string
	env    []string
	cmd    *exec.Cmd
	exited chan struct{}
	vhosts atomic.Int64
}

// FindBinaries returns the directory of rabbitmq-server and rabbitmqctl, or "".
func FindBinaries() string {
	for _, d := range []string{"/usr/lib/rabbitmq/bin", "/usr/local/lib/rabbitmq/bin"} {
		if isExec(filepath.Join(d, "rabbitmq-server")) && isExec(filepath.Join(d, "rabbitmqctl")) {
			return d
		}
	}
	if p, err := exec.LookPath("rabbitmqctl"); err == nil {
		if d := filepath.Dir(p); isExec(filepath.Join(d, "rabbitmq-server")) {
			return d
		}
	}
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start starts a node on free loopback ports, with its own data, logs, cookie
// and no plugins, and waits until it accepts AMQP connections. Stop it with Stop.
func Start() (*Broker, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return &Broker{URL: u}, nil
	}
	return startNode(pickPort)
}

// startNode boots a node on ports from pick, picking both again when one was taken.
func startNode(pick func() (int, error)) (*Broker, error) {
	bin := FindBinaries()
	if bin == "" {
		return nil, ErrNoRabbitMQ
	}
	dir, err := os.MkdirTemp("", "rabbittest-")
	if err != nil {
		return nil, err
	}
	b := &Broker{dir: dir, bin: bin}
	for attempt := 1; ; attempt++ {
		err = b.start(pick)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			_ = b.Stop()
			return nil, err
		}
		// Both ports are picked again: the failed VM's group is gone, so neither is still ours.
		b.killGroup()
	}
}

// start boots a node on two ports from pick; errPortTaken when it could not bind one of them.
func (b *Broker) start(pick func() (int, error)) error {
	amqpPort, err := pick()
	if err != nil {
		return err
	}
	distPort, err := pick()
	if err != nil {
		return err
	}
	b.exited = make(chan struct{})
	b.Port = amqpPort
	b.node = fmt.Sprintf("rabbittest%d_%d@localhost", os.Getpid(), amqpPort)
	conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", amqpPort)
	files := map[string]string{"rabbitmq.conf": conf, "enabled_plugins": "[].\n"}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	b.env = append(os.Environ(),
		"HOME="+b.dir, // the Erlang cookie
		// A VM that fails to boot writes its crash dump here, not into the test's working directory.
		"ERL_CRASH_DUMP="+filepath.Join(b.dir, "erl_crash.dump"),
		"RABBITMQ_NODENAME="+b.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(b.dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(b.dir, "enabled_plugins"),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(b.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(b.dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(b.dir, "rabbitmq.pid"),
	)
	log, err := os.Create(filepath.Join(b.dir, "server.out"))
	if err != nil {
		return err
	}
	b.cmd = exec.Command(filepath.Join(b.bin, "rabbitmq-server"))
	b.cmd.Env = b.env
	b.cmd.Stdout, b.cmd.Stderr = log, log
	// Its own process group: Stop reaches the Erlang VM the script starts.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("rabbittest: starting %s: %w", b.cmd.Path, err)
	}
	go func() { _ = b.cmd.Wait(); log.Close(); close(b.exited) }()

	b.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", amqpPort)
	deadline := time.Now().Add(startTimeout)
	for {
		conn, err := amqp.Dial(b.URL)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-b.exited:
			tail := b.tail()
			if portTaken(tail) {
				return fmt.Errorf("%w (AMQP %d, distribution %d): %s", errPortTaken, amqpPort, distPort, tail)
			}
			return fmt.Errorf("rabbittest: rabbitmq-server exited while starting: %s", tail)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rabbittest: no AMQP listener on port %d after %v: %w\n%s", amqpPort, startTimeout, err, b.tail())
		}
	}
}

// tail is the end of the node's console output, for errors.
func (b *Broker) tail() string {
	out, _ := os.ReadFile(filepath.Join(b.dir, "server.out"))
	if len(out) > 4000 {
		out = out[len(out)-4000:]
	}
	return string(out)
}

// portTaken reports whether a node's console output says it could not bind its distribution or AMQP port.
func portTaken(out string) bool {
	return strings.Contains(out, "dist_port_already_used") || strings.Contains(out, "eaddrinuse")
}

// pickPort is a loopback port free when it returns, which the node binds a moment later.
func pickPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop stops the node (rabbitmqctl stop, then SIGKILL to its process group if
// it is still running after 30 s) and removes its files. Nil-safe.
func (b *Broker) Stop() error {
	if b == nil || b.node == "" {
		return nil
	}
	defer os.RemoveAll(b.dir)
	if b.cmd == nil || b.cmd.Process == nil {
		return nil
	}
	ctl := exec.Command(filepath.Join(b.bin, "rabbitmqctl"), "-n", b.node, "stop")
	ctl.Env = b.env
	var out bytes.Buffer
	ctl.Stdout, ctl.Stderr = &out, &out
	ctlErr := ctl.Run()
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.exited
	}
	b.killGroup()
	if ctlErr != nil {
		return fmt.Errorf("rabbittest: rabbitmqctl stop: %w: %s", ctlErr, out.String())
	}
	return nil
}

// killGroup kills what the Erlang VM may leave of its process group (epmd stays, shared by every node on
// purpose).
func (b *Broker) killGroup() {
	if b.cmd != nil && b.cmd.Process != nil {
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// NewVhost creates an empty virtual host on the broker, gives the
// administrator every permission on it and returns its URL.
func (b *Broker) NewVhost(ctx context.Context, name string) (string, error) {
	u, err := url.Parse(b.URL)
	if err != nil {
		return "", err
	}
	if b.node == "" {
		// An external broker: the management API is not assumed; share its default vhost.
		return b.URL, nil
	}
	user := u.User.Username()
	for _, args := range [][]string{{"add_vhost", name}, {"set_permissions", "-p", name, user, ".*", ".*", ".*"}} {
		cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "rabbitmqctl"), append([]string{"-n", b.node, "-q"}, args...)...)
		cmd.Env = b.env
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("rabbittest: rabbitmqctl %v: %w: %s", args, err, out)
		}
	}
	u.Path = "/" + name
	return u.String(), nil
}

// CloseConnections makes the broker close every client connection of the
// virtual host of vhostURL, as a broker restart or a network cut would.
func (b *Broker) CloseConnections(ctx context.Context, vhostURL string) error {
	if b.node == "" {
		return errors.New("rabbittest: an external broker's connections are not closed by tests")
	}
	u, err := url.Parse(vhostURL)
	if err != nil {
		return err
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	cmd := exec.CommandContext(ctx, filepath.Join(b.bin, "rabbitmqctl"), "-n", b.node, "-q", "close_all_connections", "-p", vhost, "closed by a test")
	cmd.Env = b.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rabbittest: rabbitmqctl close_all_connections: %w: %s", err, out)
	}
	return nil
}

var (
	sharedOnce sync.Once
	shared     *Broker
	sharedErr  error
)

// Main runs a test binary's tests and stops the shared node after them: call
// it from TestMain as os.Exit(rabbittest.Main(m)). The node starts with the
// first test that asks for it (Shared), so a binary whose selected tests need
// no broker (a fuzz run) starts none.
func Main(m *testing.M) int {
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// Shared is the node shared by the test binary, started on first use; it
// fails t when there is none.
func Shared(t testing.TB) *Broker {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// NewVhost creates a virtual host for t on the shared node and returns its URL.
func NewVhost(t testing.TB) string {
	t.Helper()
	b := Shared(t)
	// No deadline of its own: each rabbitmqctl boots an Erlang VM, which took over a minute for two calls
	// on a loaded 2-core machine; go test's -timeout bounds a node that never answers.
	u, err := b.NewVhost(t.Context(), fmt.Sprintf("t%d", b.vhosts.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
