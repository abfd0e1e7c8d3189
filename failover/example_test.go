package failover_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	amqp "github.com/Azure/go-amqp"
	"github.com/qpidha/qpidha/failover"
)

// The examples need a broker: they are compiled, not run (no Output).

// Connect to whichever broker of a 3-node cluster is the primary, log every
// failover, send at least once and receive with duplicates dropped.
func Example() {
	ctx := context.Background()
	conn, err := failover.Dial(ctx, []string{"amqp://node1:5672", "amqp://node2:5672", "amqp://node3:5672"}, &failover.Options{
		ConnOptions: &amqp.ConnOptions{
			SASLType:    amqp.SASLTypePlain("guest", "secret"),
			ContainerID: "orders-app",
			IdleTimeout: 10 * time.Second, // heartbeats: a dead primary is noticed within 10 s
		},
		OnEvent: func(e failover.Event) { log.Print(e) },
	})
	if err != nil {
		log.Fatal(err) // a *failover.PermanentError: wrong credentials, unauthorized, ...
	}
	defer conn.Close()

	snd, err := conn.NewSender(ctx, "orders", nil)
	if err != nil {
		log.Fatal(err)
	}
	msg := amqp.NewMessage([]byte("order 42"))
	msg.Properties = &amqp.MessageProperties{MessageID: "order-42"} // lets receivers drop a resent copy
	if err := snd.Send(ctx, msg); err != nil {
		log.Fatal(err)
	}
	// Accepted by the primary, and so on every ready backup.

	rcv, err := conn.NewReceiver(ctx, "orders", &failover.ReceiverOptions{
		Link:        &amqp.ReceiverOptions{Credit: 100},
		DedupWindow: 10000,
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := rcv.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", m.GetData())
	if err := rcv.Accept(ctx, m); errors.Is(err, failover.ErrNotSettled) {
		// The connection was lost: the broker delivers the message again,
		// and this Receiver drops that copy (DedupWindow).
	}
}

// A single virtual IP, over TLS, with a faster backoff than the default and
// a bound on the time without a connection.
func ExampleDial_virtualIP() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := failover.Dial(ctx, []string{"amqps://vip.example.com:5671"}, &failover.Options{
		ConnOptions:      &amqp.ConnOptions{SASLType: amqp.SASLTypeExternal("")},
		ConnectTimeout:   2 * time.Second,
		Backoff:          failover.Backoff{Initial: 50 * time.Millisecond, Max: time.Second},
		ReconnectTimeout: 5 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
}

// Send bounded by a context: on its error the message's fate is unknown.
func ExampleSender_Send() {
	ctx := context.Background()
	conn, err := failover.Dial(ctx, []string{"node1:5672", "node2:5672"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	snd, err := conn.NewSender(ctx, "events", nil)
	if err != nil {
		log.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var rejected *amqp.Error
	switch err := snd.Send(sctx, amqp.NewMessage([]byte("hello"))); {
	case err == nil:
		// accepted
	case errors.As(err, &rejected):
		log.Printf("the broker rejected the message: %v", rejected)
	case errors.Is(err, context.DeadlineExceeded):
		log.Print("no outcome within 30 s: the message may or may not be on the queue")
	default:
		log.Printf("giving up: %v", err)
	}
	log.Printf("%d messages sent again after failovers", snd.Resends())
}
