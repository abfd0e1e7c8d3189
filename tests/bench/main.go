// Command bench is a load generator for message brokers: N senders and N
// receivers on one queue, 1 KiB messages (by default), at-least-once. Each
// sender keeps a fixed window of unconfirmed messages and each receiver
// acknowledges every message, with a fixed number of messages in flight to it.
// It prints messages/s and end-to-end latency percentiles (the send time
// travels in the first 8 bytes of the body).
//
// Two protocols, one per client library:
//
//   - amqp1 (github.com/Azure/go-amqp): the window is of unsettled transfers
//     (SendWithReceipt, waiting for the accepted outcome); receivers accept
//     each message and keep at most -credit granted and not yet accepted,
//     granting -creditbatch at a time (see amqp1Receiver). For RabbitMQ's
//     AMQP 1.0 plugin use -address /queue/NAME (a classic queue), or
//     /amq/queue/NAME (an existing queue: with -queue-type quorum); -declare
//     declares NAME through AMQP 0-9-1 on the same URL first.
//   - amqp091 (github.com/rabbitmq/amqp091-go): the window is of unconfirmed
//     publishes (publisher confirms) to the default exchange; receivers
//     consume with manual acks and a prefetch of -credit. The bench declares
//     the queue (-address is its name; durable=false, or with -queue-type
//     quorum a durable quorum queue).
//
// The senders and the receivers may run in separate processes (-role send,
// -role recv): start the receivers first with -ready FILE, wait for FILE,
// then start the senders with the same -n and -senders. The receivers'
// process prints the result.
//
// -persistent sends persistent messages (to a durable queue: see the flag).
// -fsync DIR talks to no broker: it measures the machine's own fdatasync
// rate in DIR (say, a broker's data directory), appending -size bytes to a
// new file before each fdatasync, for -fsync-time, and prints syncs/s and
// microseconds per sync.
//
//	bench -url amqp://127.0.0.1:5672 -address bench -n 200000 -window 100
//	bench -protocol amqp091 -url amqp://guest:guest@127.0.0.1:5672 -address bench
//	bench -fsync /var/lib/qpidd
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	protocol, url, address, user, password string
	label, role, ready, format, cpuprofile string
	queueType                              string
	n, size, window, senders, receivers    int
	credit, creditBatch, gcPercent         int
	declare, autoCredit, coalesce          bool
	persistent                             bool
	timeout                                time.Duration
	fsync                                  string
	fsyncTime                              time.Duration
}

// A client speaks one protocol to one broker.
type client interface {
	// prepare runs once before any sender or receiver is opened (it declares
	// the queue where the protocol needs one).
	prepare(ctx context.Context) error
	newSender(ctx context.Context) (sender, error)
	newReceiver(ctx context.Context) (receiver, error)
}

type sender interface {
	// send starts one message; the returned confirmation waits until the
	// broker has taken responsibility for it.
	send(ctx context.Context, body []byte) (confirmation, error)
	close()
}

// A confirmation waits for the broker's outcome of one message and fails
// unless the broker accepted it.
type confirmation func(ctx context.Context) error

type receiver interface {
	// receive returns the next message's body and a function that
	// acknowledges it.
	receive(ctx context.Context) (body []byte, ack func(context.Context) error, err error)
	close()
}

func main() {
	var o options
	flag.StringVar(&o.protocol, "protocol", "amqp1", "amqp1 (go-amqp) or amqp091 (amqp091-go, publisher confirms)")
	flag.StringVar(&o.url, "url", "amqp://127.0.0.1:5672", "broker URL (amqp091: with user and password, e.g. amqp://guest:guest@host:port)")
	flag.StringVar(&o.address, "address", "bench", "queue address (amqp1; /queue/NAME for RabbitMQ) or queue name (amqp091)")
	flag.StringVar(&o.user, "user", "", "amqp1: SASL PLAIN user (default ANONYMOUS)")
	flag.StringVar(&o.password, "password", "", "amqp1: SASL PLAIN password")
	flag.BoolVar(&o.declare, "declare", false, "amqp1: declare the queue of a /queue/NAME or /amq/queue/NAME address through AMQP 0-9-1 first (RabbitMQ)")
	flag.StringVar(&o.queueType, "queue-type", "", "amqp091, and amqp1 with -declare: the queue's x-queue-type (RabbitMQ: quorum; durable then); default classic, durable=false")
	flag.BoolVar(&o.persistent, "persistent", false, "persistent messages (amqp1: header durable; amqp091: delivery mode 2) to a durable queue (amqp091 and -declare: a classic queue is declared durable)")
	flag.BoolVar(&o.autoCredit, "autocredit", false, "amqp1: let go-amqp manage link credit (stalls against RabbitMQ 3.10; see amqp1Receiver)")
	flag.StringVar(&o.label, "label", "", "label printed with the result")
	flag.StringVar(&o.role, "role", "both", "both, send (senders only) or recv (receivers only; prints the result)")
	flag.StringVar(&o.ready, "ready", "", "recv: create this file once every receiver is attached")
	flag.StringVar(&o.format, "format", "text", "text, or tsv: label protocol senders receivers msgs/s p50-ms p99-ms messages size window")
	flag.IntVar(&o.n, "n", 200000, "messages in all")
	flag.IntVar(&o.size, "size", 1024, "message body size in bytes (at least 8)")
	flag.IntVar(&o.window, "window", 100, "unconfirmed messages per sender")
	flag.IntVar(&o.senders, "senders", 1, "sender connections")
	flag.IntVar(&o.receivers, "receivers", 1, "receiver connections")
	flag.IntVar(&o.credit, "credit", 200, "link credit (amqp1) or prefetch (amqp091) per receiver")
	flag.IntVar(&o.creditBatch, "creditbatch", 0, "amqp1: credit granted at a time once that many messages are accepted (default -credit; see amqp1Receiver)")
	flag.BoolVar(&o.coalesce, "coalesce", true, "gather each connection's writes made while one is in the kernel into one system call (see coalescingConn)")
	flag.IntVar(&o.gcPercent, "gogc", 400, "the load generator's own GOGC: its garbage collector's pace (the Go default, 100, cost it a fifth of its throughput in system time against a fast broker)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write the load generator's own CPU profile to this file")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.StringVar(&o.fsync, "fsync", "", "no broker: measure this directory's fdatasync rate (-size bytes appended before each sync, for -fsync-time); -format tsv: directory syncs seconds syncs/s us-per-sync size")
	flag.DurationVar(&o.fsyncTime, "fsync-time", 2*time.Second, "-fsync: how long to measure")
	flag.Parse()
	if o.creditBatch == 0 {
		o.creditBatch = o.credit
	}
	debug.SetGCPercent(o.gcPercent)
	if err := check(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.fsync != "" {
		n, elapsed, err := fsyncRate(o.fsync, o.size, o.fsyncTime)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		reportFsync(o, o.fsync, n, elapsed)
		return
	}
	var c client
	switch o.protocol {
	case "amqp1":
		c = &amqp1Client{o: o}
	case "amqp091":
		c = &amqp091Client{o: o}
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
	}
	r, err := run(c, o)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	report(o, r)
}

func check(o options) error {
	switch {
	case o.protocol != "amqp1" && o.protocol != "amqp091":
		return fmt.Errorf("unknown -protocol %q", o.protocol)
	case o.role != "both" && o.role != "send" && o.role != "recv":
		return fmt.Errorf("unknown -role %q", o.role)
	case o.format != "text" && o.format != "tsv":
		return fmt.Errorf("unknown -format %q", o.format)
	case o.senders < 1 || o.receivers < 1 || o.window < 1 || o.credit < 1:
		return errors.New("-senders, -receivers, -window and -credit must be positive")
	case o.creditBatch < 1 || o.creditBatch > o.credit:
		return errors.New("-creditbatch must be between 1 and -credit")
	case o.n < o.senders:
		return errors.New("-n must be at least -senders")
	case o.fsync != "" && (o.size < 1 || o.fsyncTime <= 0):
		return errors.New("-fsync needs a positive -size and -fsync-time")
	}
	return nil
}

// A result of a run. With role send, only rate is set: the senders' own rate
// of confirmed messages.
type result struct {
	rate     float64
	p50, p99 time.Duration
}

func report(o options, r result) {
	total := o.n / o.senders * o.senders
	label := o.label
	if o.role == "send" {
		label += " (senders)"
	}
	if o.format == "tsv" {
		fmt.Printf("%s\t%s\t%d\t%d\t%.0f\t%.3f\t%.3f\t%d\t%d\t%d\n", label, o.protocol, o.senders, o.receivers,
			r.rate, ms(r.p50), ms(r.p99), total, o.size, o.window)
		return
	}
	fmt.Printf("%-28s %2d/%-2d  %8.0f msgs/s  p50 %7.2f ms  p99 %7.2f ms  (%d msgs of %d B, window %d)\n",
		label, o.senders, o.receivers, r.rate, ms(r.p50), ms(r.p99), total, o.size, o.window)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// run opens the receivers, then the senders, and moves o.n messages (rounded
// down to a multiple of o.senders). The rate is measured by the receivers:
// messages received over the time from the earliest send timestamp seen to
// the last receipt, so that it means the same when senders and receivers run
// in separate processes.
func run(c client, o options) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	perSender := o.n / o.senders
	total := int64(perSender * o.senders)
	if o.role != "send" {
		if err := c.prepare(ctx); err != nil {
			return result{}, fmt.Errorf("prepare: %w", err)
		}
	}

	var (
		wg        sync.WaitGroup
		errOnce   sync.Once
		firstErr  error
		received  atomic.Int64
		lastRecv  atomic.Int64 // UnixNano of the last receipt
		latencies = make([][]time.Duration, o.receivers)
		firstSent = make([]int64, o.receivers) // earliest send timestamp seen by each receiver
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	// Receivers stop on their own context once every message has arrived.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()

	if o.role != "send" {
		for i := 0; i < o.receivers; i++ {
			rcv, err := c.newReceiver(ctx)
			if err != nil {
				return result{}, fmt.Errorf("receiver: %w", err)
			}
			defer rcv.close()
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				lat := make([]time.Duration, 0, total/int64(o.receivers)+1)
				first := int64(1<<63 - 1)
				defer func() { latencies[i], firstSent[i] = lat, first }()
				for received.Load() < total {
					body, ack, err := rcv.receive(rctx)
					if err != nil {
						if rctx.Err() != nil && received.Load() >= total {
							return
						}
						fail(fmt.Errorf("receive: %w", err))
						return
					}
					now := time.Now().UnixNano()
					if len(body) >= 8 {
						sent := int64(binary.BigEndian.Uint64(body))
						lat = append(lat, time.Duration(now-sent))
						first = min(first, sent)
					}
					if err := ack(rctx); err != nil {
						fail(fmt.Errorf("ack: %w", err))
						return
					}
					lastRecv.Store(time.Now().UnixNano())
					if received.Add(1) >= total {
						rcancel() // wake the other receivers
					}
				}
			}(i)
		}
		if o.ready != "" {
			if err := os.WriteFile(o.ready, nil, 0o644); err != nil {
				return result{}, err
			}
		}
	}

	var start time.Time
	if o.role != "recv" {
		ready := make(chan struct{})
		var attached sync.WaitGroup
		for i := 0; i < o.senders; i++ {
			snd, err := c.newSender(ctx)
			if err != nil {
				return result{}, fmt.Errorf("sender: %w", err)
			}
			defer snd.close()
			attached.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				attached.Done()
				<-ready
				if err := sendAll(ctx, snd, perSender, o); err != nil {
					fail(err)
				}
			}()
		}
		attached.Wait()
		start = time.Now()
		close(ready)
	}
	wg.Wait()
	if firstErr != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Say how far the run got: a broker too slow for -n in -timeout
		// is a result too.
		msg := fmt.Sprintf("timed out after %v", o.timeout)
		if o.role != "send" {
			first := slices.Min(firstSent)
			got := received.Load()
			msg += fmt.Sprintf(" with %d of %d messages received", got, total)
			if last := lastRecv.Load(); got > 0 && last > first {
				msg += fmt.Sprintf(" (%.0f msgs/s)", float64(got)/time.Duration(last-first).Seconds())
			}
		}
		return result{}, fmt.Errorf("%s: %w", msg, firstErr)
	}
	if firstErr != nil {
		return result{}, firstErr
	}
	if o.role == "send" {
		return result{rate: float64(total) / time.Since(start).Seconds()}, nil
	}

	var all []time.Duration
	first := int64(1<<63 - 1)
	for i, l := range latencies {
		all = append(all, l...)
		first = min(first, firstSent[i])
	}
	slices.Sort(all)
	var r result
	if elapsed := lastRecv.Load() - first; len(all) > 0 && elapsed > 0 {
		r.rate = float64(received.Load()) / time.Duration(elapsed).Seconds()
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r, nil
}

// sendAll sends n messages, keeping at most o.window of them unconfirmed.
func sendAll(ctx context.Context, snd sender, n int, o options) error {
	body := make([]byte, max(o.size, 8))
	window := make([]confirmation, o.window)
	for j := 0; j < n; j++ {
		slot := &window[j%o.window]
		if j >= o.window {
			if err := (*slot)(ctx); err != nil {
				return err
			}
		}
		binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
		c, err := snd.send(ctx, body)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		*slot = c
	}
	for j := max(0, n-o.window); j < n; j++ {
		if err := window[j%o.window](ctx); err != nil {
			return err
		}
	}
	return nil
}
