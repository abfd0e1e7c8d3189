package amqpserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// A go-amqp receiver with a JMS selector gets only the matching messages;
// the others stay for a plain receiver, in order.
func TestSelectorFilter(t *testing.T) {
	_, url := startServer(t, Config{})
	_, sess := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snd, err := sess.NewSender(ctx, "sel", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, colour := range []string{"red", "green", "red", "blue", "green"} {
		m := goamqp.NewMessage([]byte(colour))
		m.ApplicationProperties = map[string]any{"colour": colour, "n": int64(i)}
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(opts *goamqp.ReceiverOptions, n int) []string {
		t.Helper()
		rcv, err := sess.NewReceiver(ctx, "sel", opts)
		if err != nil {
			t.Fatal(err)
		}
		defer rcv.Close(ctx)
		var got []string
		for len(got) < n {
			m, err := rcv.Receive(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(m.GetData()))
			if err := rcv.AcceptMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	sel := &goamqp.ReceiverOptions{Credit: 10, Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("colour <> 'red' AND n > 1")}}
	if got := strings.Join(receive(sel, 2), ","); got != "blue,green" {
		t.Fatalf("the selector gave %s, want blue,green", got)
	}
	if got := strings.Join(receive(&goamqp.ReceiverOptions{Credit: 10}, 3), ","); got != "red,green,red" {
		t.Fatalf("the plain receiver gave %s, want red,green,red", got)
	}
}

// A selector that does not parse refuses the link with amqp:invalid-field
// and a message naming the problem.
func TestInvalidSelectorRefused(t *testing.T) {
	_, url := startServer(t, Config{})
	_, sess := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sess.NewReceiver(ctx, "sel", &goamqp.ReceiverOptions{Filters: []goamqp.LinkFilter{goamqp.NewSelectorFilter("colour = ")}})
	var ae *goamqp.Error
	if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondInvalidField || !strings.Contains(ae.Description, "unexpected end of input") {
		t.Fatalf("attach with a bad selector: %v, want a detach with amqp:invalid-field about the selector", err)
	}
}
