// Command bench measures an AMQP 1.0 broker with go-amqp clients: N senders
// and N receivers on one queue, 1 KiB messages (by default), at-least-once:
// each sender keeps a fixed window of unsettled transfers and each receiver
// accepts every message. It prints messages/s and end-to-end latency
// percentiles (the send time travels in the message body).
//
//	bench -url amqp://127.0.0.1:5672 -address bench -n 200000 -window 100
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

type options struct {
	url, address, user, password, label string
	n, size, window, senders, receivers int
	credit                              int
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "amqp://127.0.0.1:5672", "broker URL")
	flag.StringVar(&o.address, "address", "bench", "queue address")
	flag.StringVar(&o.user, "user", "", "SASL PLAIN user (default ANONYMOUS)")
	flag.StringVar(&o.password, "password", "", "SASL PLAIN password")
	flag.StringVar(&o.label, "label", "", "label printed with the result")
	flag.IntVar(&o.n, "n", 200000, "messages in all")
	flag.IntVar(&o.size, "size", 1024, "message body size in bytes")
	flag.IntVar(&o.window, "window", 100, "unsettled transfers per sender")
	flag.IntVar(&o.senders, "senders", 1, "sender connections")
	flag.IntVar(&o.receivers, "receivers", 1, "receiver connections")
	flag.IntVar(&o.credit, "credit", 200, "link credit per receiver")
	flag.Parse()
	r, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("%-28s %2d/%-2d  %8.0f msgs/s  p50 %7.2f ms  p99 %7.2f ms  (%d msgs of %d B, window %d)\n",
		o.label, o.senders, o.receivers, r.rate, ms(r.p50), ms(r.p99), o.n, o.size, o.window)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type result struct {
	rate     float64
	p50, p99 time.Duration
}

func connect(ctx context.Context, o options) (*goamqp.Conn, *goamqp.Session, error) {
	opts := &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}
	if o.user != "" {
		opts.SASLType = goamqp.SASLTypePlain(o.user, o.password)
	}
	conn, err := goamqp.Dial(ctx, o.url, opts)
	if err != nil {
		return nil, nil, err
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, sess, nil
}

func run(o options) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	perSender := o.n / o.senders
	total := perSender * o.senders
	var received atomic.Int64
	latencies := make([][]time.Duration, o.receivers)
	errs := make(chan error, o.senders+o.receivers)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	var attached sync.WaitGroup

	for i := 0; i < o.receivers; i++ {
		conn, sess, err := connect(ctx, o)
		if err != nil {
			return result{}, err
		}
		defer conn.Close()
		rcv, err := sess.NewReceiver(ctx, o.address, &goamqp.ReceiverOptions{Credit: int32(o.credit)})
		if err != nil {
			return result{}, err
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, total/o.receivers+1)
			for received.Load() < int64(total) {
				m, err := rcv.Receive(ctx, nil)
				if err != nil {
					if received.Load() >= int64(total) {
						break
					}
					errs <- fmt.Errorf("receive: %w", err)
					return
				}
				if body := m.GetData(); len(body) >= 8 {
					lat = append(lat, time.Duration(time.Now().UnixNano()-int64(binary.BigEndian.Uint64(body))))
				}
				if err := rcv.AcceptMessage(ctx, m); err != nil {
					errs <- fmt.Errorf("accept: %w", err)
					return
				}
				if received.Add(1) >= int64(total) {
					cancel() // wake the other receivers
				}
			}
			latencies[i] = lat
		}(i)
	}

	start := time.Now()
	for i := 0; i < o.senders; i++ {
		conn, sess, err := connect(ctx, o)
		if err != nil {
			return result{}, err
		}
		defer conn.Close()
		snd, err := sess.NewSender(ctx, o.address, nil)
		if err != nil {
			return result{}, err
		}
		attached.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			attached.Done()
			<-ready
			body := make([]byte, max(o.size, 8))
			window := make([]goamqp.SendReceipt, o.window)
			for j := 0; j < perSender; j++ {
				slot := &window[j%o.window]
				if j >= o.window {
					if err := settled(ctx, slot); err != nil {
						errs <- err
						return
					}
				}
				binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
				r, err := snd.SendWithReceipt(ctx, goamqp.NewMessage(body), nil)
				if err != nil {
					errs <- fmt.Errorf("send: %w", err)
					return
				}
				*slot = r
			}
			for j := max(0, perSender-o.window); j < perSender; j++ {
				if err := settled(ctx, &window[j%o.window]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	attached.Wait()
	start = time.Now()
	close(ready)
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{rate: float64(total) / elapsed.Seconds()}
	if len(all) > 0 {
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r, nil
}

// settled waits for a transfer's outcome and requires it to be accepted.
func settled(ctx context.Context, r *goamqp.SendReceipt) error {
	st, err := r.Wait(ctx)
	if err != nil {
		return fmt.Errorf("settlement: %w", err)
	}
	if _, ok := st.(*goamqp.StateAccepted); !ok {
		return fmt.Errorf("message not accepted: %T %v", st, st)
	}
	return nil
}
