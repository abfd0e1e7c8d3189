package qpidd

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// ha-flow-bytes bounds what the primary sends a backup that does not
// acknowledge: a backup whose disk stalls (it applies events but
// acknowledges them only once synced) receives about ha-flow-bytes of
// messages, not the whole backlog, while the other backup gets everything;
// once its disk recovers it gets the rest.
func TestHAFlowBytes(t *testing.T) {
	const (
		limit = 20000 // ha-flow-bytes
		size  = 2000  // message body
		total = 100
	)
	c := newMemCluster(t, "--ha-flow-bytes", fmt.Sprint(limit), "--ha-backup-lag-timeout", "60")
	c.promote(0)
	c.declareDurable(0)
	stalled := make(chan struct{})
	c.fs[2].SetSyncHook(func(string) error { <-stalled; return nil })
	defer func() {
		select {
		case <-stalled:
		default:
			close(stalled)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+c.urls[0], &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Pre-settled: the primary's acknowledgement waits for the stalled backup.
	snd, err := sess.NewSender(ctx, "dq", &goamqp.SenderOptions{SettlementMode: goamqp.SenderSettleModeSettled.Ptr()})
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), size)
	for i := 0; i < total; i++ {
		m := goamqp.NewMessage(body)
		m.Header = &goamqp.MessageHeader{Durable: true}
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	depth := func(i int) int {
		q := c.brokers[i].broker.Queue("dq")
		if q == nil {
			return 0
		}
		return q.Depth()
	}
	eventually(t, 20*time.Second, func() error {
		if n := depth(1); n != total {
			return fmt.Errorf("the healthy backup holds %d of %d messages", n, total)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // time for the stalled backup to receive more, if it could
	if n := depth(2); n < 1 || n > limit/size+1 {
		t.Fatalf("ha-flow-bytes=%d: the backup that acknowledges nothing received %d messages of %d bytes, want at most %d",
			limit, n, size, limit/size+1)
	}
	t.Logf("the stalled backup holds %d messages", depth(2))
	close(stalled)
	eventually(t, 30*time.Second, func() error {
		if n := depth(2); n != total {
			return fmt.Errorf("the recovered backup holds %d of %d messages", n, total)
		}
		return nil
	})
}

// ha-flow-messages=0 is no limit, as in the original: the most credit a
// link can grant, not the HA module's default of 1000.
func TestFlowMessagesZeroIsNoLimit(t *testing.T) {
	if got := flowMessages(0); got != math.MaxInt32 {
		t.Fatalf("ha-flow-messages=0 gives credit %d", got)
	}
	if got := flowMessages(250); got != 250 {
		t.Fatalf("ha-flow-messages=250 gives credit %d", got)
	}
}
