package rabbittest

import (
	"net"
	"os"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Each test's vhost is its own: a queue declared in one is not in the other.
func TestVhostsAreIsolated(t *testing.T) {
	a, b := NewVhost(t), NewVhost(t)
	if a == b {
		t.Fatalf("two tests got the same vhost %s", a)
	}
	ca, err := amqp.Dial(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	ch, err := ca.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("only-in-a", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	cb, err := amqp.Dial(b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	chb, err := cb.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chb.QueueDeclarePassive("only-in-a", false, false, false, false, nil); err == nil {
		t.Fatal("a queue declared in one vhost is visible in another")
	}
}

// A port taken between picking it and the node binding it (here the distribution port, held by a
// listener of the test's own) fails that boot; Start picks both ports again and the node comes up.
func TestStartPicksPortsAgainWhenOneIsTaken(t *testing.T) {
	if os.Getenv(EnvURL) != "" {
		t.Skip(EnvURL + " is set: no node is started")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var picks int
	pick := func() (int, error) {
		picks++
		if picks == 2 { // the first boot's distribution port
			return taken.Addr().(*net.TCPAddr).Port, nil
		}
		return pickPort()
	}
	b, err := startNode(pick)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Stop(); err != nil {
			t.Error(err)
		}
	}()
	// Two boots of two ports each at least: another port taken by chance on a busy machine adds a boot.
	if picks < 4 {
		t.Fatalf("%d ports picked: the node did not boot again after its distribution port was taken", picks)
	}
	conn, err := amqp.Dial(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}
