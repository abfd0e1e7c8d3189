// Package ha tests HA clusters of real qpidd processes on loopback.
package ha

import (
	"context"
	"fmt"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

func dial(t *testing.T, b *qpiddtest.Broker) *goamqp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, b.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReplicationAndFailover(t *testing.T) {
	c := qpiddtest.StartCluster(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*")
	a, b := c.Brokers[0], c.Brokers[1]
	if err := qpiddtest.Promote(t, a); err != nil {
		t.Fatalf("promote: %v\n%s", err, a.Log())
	}
	qpiddtest.WaitStatus(t, a, "active", 20*time.Second)
	qpiddtest.WaitStatus(t, b, "ready", 20*time.Second)
	s := dial(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snd, err := s.NewSender(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprint(i))), nil); err != nil {
			t.Fatalf("send %d: %v\nprimary:\n%s\nbackup:\n%s", i, err, a.Log(), b.Log())
		}
	}
	a.Kill()
	if err := qpiddtest.Promote(t, b); err != nil {
		t.Fatalf("promote b: %v\n%s", err, b.Log())
	}
	qpiddtest.WaitStatus(t, b, "active", 20*time.Second)
	rcv, err := dial(t, b).NewReceiver(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("message %d: %v\n%s", i, err, b.Log())
		}
		if string(m.GetData()) != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m.GetData())
		}
		rcv.AcceptMessage(ctx, m)
	}
}
