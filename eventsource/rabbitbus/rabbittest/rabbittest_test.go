package rabbittest

import (
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
