package store_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// node is a broker serving AMQP on a random port, its store on fs.
type node struct {
	st    *store.Store
	b     *broker.Broker
	srv   *amqpserver.Server
	url   string
	fatal chan error
}

func startNode(t *testing.T, fs vfs.FS, retry time.Duration) *node {
	t.Helper()
	n := &node{fatal: make(chan error, 1)}
	var rec *store.Recovered
	var err error
	n.st, rec, err = store.Open(store.Config{Dir: "/store", FS: fs, SegmentSize: 64 << 10, RetryInterval: retry,
		OnFatal: func(err error) { n.fatal <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if n.b, err = broker.New(broker.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := rec.Restore(n.b); err != nil {
		t.Fatal(err)
	}
	n.b.SetJournal(n.st)
	for _, q := range []struct {
		name    string
		durable bool
	}{{"durable", true}, {"plain", false}} {
		if n.b.Queue(q.name) == nil {
			s, _ := broker.ParseQueueArgs(broker.Args{"durable": q.durable})
			if _, _, err := n.b.DeclareQueue(q.name, s); err != nil {
				t.Fatal(err)
			}
		}
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	n.srv = amqpserver.New(amqpserver.Config{Broker: n.b, Log: log})
	addr, err := n.srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.url = "amqp://" + addr.String()
	return n
}

func (n *node) stop() {
	n.srv.Shutdown(5 * time.Second)
	n.st.Close()
}

func session(t *testing.T, ctx context.Context, url string) *goamqp.Session {
	t.Helper()
	conn, err := goamqp.Dial(ctx, url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
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

func persistent(body string) *goamqp.Message {
	m := goamqp.NewMessage([]byte(body))
	m.Header = &goamqp.MessageHeader{Durable: true}
	return m
}

// Power loss under load, with real clients: go-amqp senders (a window of
// unsettled transfers each) and a receiver on a broker whose store is on a
// file system that keeps only what was synced. At a random moment the
// power goes; the broker restarts on what the disk kept. Every message a
// sender saw accepted is there (or was accepted by the receiver), none is
// invented, each sender's messages are in order. Three rounds.
func TestPowerLossUnderLoad(t *testing.T) {
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	fs := vfs.NewMem()
	acked := map[string]bool{}
	for round := 0; round < 3; round++ {
		n := startNode(t, fs, 0)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		received := map[string]bool{}
		var wg sync.WaitGroup
		for s := 0; s < 4; s++ {
			sess := session(t, ctx, n.url)
			snd, err := sess.NewSender(ctx, "durable", nil)
			if err != nil {
				t.Fatal(err)
			}
			prefix := fmt.Sprintf("r%d-s%d-", round, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var window []goamqp.SendReceipt
				var bodies []string
				for i := 0; ctx.Err() == nil; i++ {
					body := prefix + strconv.Itoa(i)
					r, err := snd.SendWithReceipt(ctx, persistent(body), nil)
					if err != nil {
						return
					}
					window, bodies = append(window, r), append(bodies, body)
					if len(window) < 50 {
						continue
					}
					st, err := window[0].Wait(ctx)
					if err != nil {
						return
					}
					if _, ok := st.(*goamqp.StateAccepted); ok {
						mu.Lock()
						acked[bodies[0]] = true
						mu.Unlock()
					}
					window, bodies = window[1:], bodies[1:]
				}
			}()
		}
		rcv, err := session(t, ctx, n.url).NewReceiver(ctx, "durable", &goamqp.ReceiverOptions{Credit: 20})
		if err != nil {
			t.Fatal(err)
		}
		rrng := rand.New(rand.NewSource(rng.Int63()))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := rcv.Receive(ctx, nil)
				if err != nil {
					return
				}
				if rrng.Intn(3) == 0 {
					continue // left unsettled: back on the queue after the crash
				}
				if rcv.AcceptMessage(ctx, m) == nil {
					mu.Lock()
					received[string(m.GetData())] = true
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(100+rng.Intn(300)) * time.Millisecond)
		mu.Lock()
		after := fs.Crash(nil) // the power goes: nothing more reaches the disk
		mu.Unlock()
		cancel()
		wg.Wait()
		n.stop()
		fs = after

		check := startNode(t, fs, 0)
		var bodies []string
		check.b.Queue("durable").Entries(func(live []*broker.Entry) {
			for _, e := range live {
				bodies = append(bodies, dataBody(t, e.Msg.Bare))
			}
		})
		present := map[string]bool{}
		last := map[string]int{}
		for _, body := range bodies {
			i := strings.LastIndexByte(body, '-')
			if i < 0 || present[body] {
				t.Fatalf("round %d: invented or repeated message %q", round, body)
			}
			present[body] = true
			sender, k := body[:i], atoi(body[i+1:])
			if p, seen := last[sender]; seen && k <= p {
				t.Fatalf("round %d: %s after %s-%d: out of order", round, body, sender, p)
			}
			last[sender] = k
		}
		mu.Lock()
		lost := 0
		for body := range acked {
			if !present[body] && !received[body] {
				lost++
				t.Errorf("round %d: %s was accepted by the broker and is lost", round, body)
			}
		}
		for body := range received {
			delete(acked, body)
		}
		mu.Unlock()
		t.Logf("round %d: %d acknowledged and not consumed, %d on the queue after the crash, %d lost", round, len(acked), len(bodies), lost)
		if t.Failed() {
			return
		}
		check.stop()
	}
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged: the test proved nothing")
	}
}

// dataBody is the text of a message's data section (go-amqp's NewMessage).
func dataBody(t *testing.T, bare []byte) string {
	d := types.NewDecoder(bare)
	for d.Len() > 0 {
		code, err := d.ReadDescriptor()
		if err != nil {
			t.Fatal(err)
		}
		if code == types.DescriptorData {
			v, err := d.Value()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := v.([]byte)
			return string(b)
		}
		if err := d.Skip(); err != nil {
			t.Fatal(err)
		}
	}
	return ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// A full disk refuses new persistent messages with
// amqp:resource-limit-exceeded; transient messages and other queues go on,
// and so do consumers. Once space is back, persistent messages are taken
// again and the one that was waiting is settled.
func TestDiskFullWithClients(t *testing.T) {
	fs := vfs.NewMem()
	n := startNode(t, fs, 50*time.Millisecond)
	defer n.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sess := session(t, ctx, n.url)
	snd, err := sess.NewSender(ctx, "durable", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, persistent("before"), nil); err != nil {
		t.Fatal(err)
	}
	fs.SetQuota(fs.Used() + 2000)
	var waiting []goamqp.SendReceipt
	var refused *goamqp.Error
	// Space a spare file took before the disk filled up is used first.
	for i := 0; refused == nil && i < 500; i++ {
		r, err := snd.SendWithReceipt(ctx, persistent(strings.Repeat("x", 4000)+strconv.Itoa(i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		short, stop := context.WithTimeout(ctx, 100*time.Millisecond)
		st, err := r.Wait(short)
		stop()
		switch s := st.(type) {
		case *goamqp.StateRejected:
			refused = s.Error
		case nil:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatal(err)
			}
			waiting = append(waiting, r) // written when space comes back
		}
	}
	if refused == nil || refused.Condition != goamqp.ErrCondResourceLimitExceeded || !strings.Contains(refused.Description, "disk is full") {
		t.Fatalf("a persistent message on a full disk: %v", refused)
	}
	if len(waiting) == 0 {
		t.Fatal("no message was waiting for the disk")
	}
	// The rest is served.
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("transient")), nil); err != nil {
		t.Fatalf("a transient message on a full disk: %v", err)
	}
	plain, err := sess.NewSender(ctx, "plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Send(ctx, persistent("to a non-durable queue"), nil); err != nil {
		t.Fatalf("a non-durable queue on a full disk: %v", err)
	}
	rcv, err := sess.NewReceiver(ctx, "durable", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil || string(m.GetData()) != "before" {
		t.Fatalf("receiving on a full disk: %v", err)
	}
	rcv.AcceptMessage(ctx, m)
	// Space comes back.
	fs.SetQuota(0)
	for _, r := range waiting {
		if st, err := r.Wait(ctx); err != nil {
			t.Fatalf("a waiting message once space came back: %v", err)
		} else if _, ok := st.(*goamqp.StateAccepted); !ok {
			t.Fatalf("a waiting message once space came back: %v", st)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := snd.Send(ctx, persistent("after"), nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("persistent messages still refused once space came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
