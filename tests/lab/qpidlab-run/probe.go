package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// probe measures failover time: one go-amqp sender through the VIP that
// sends one message at a time (a new one as soon as the last was accepted,
// at most every interval) and records when each was sent and accepted. A
// send that is not accepted within sendTimeout abandons the connection (a
// client with that timeout), and the probe reconnects every retry until a
// broker accepts again. The failover time of a fault at t is the time from
// t until the first message sent at or after t is accepted. A receiver
// drains the probe's queue.
type probe struct {
	url         string
	queue       string
	interval    time.Duration
	sendTimeout time.Duration
	retry       time.Duration
	logf        func(format string, args ...any)

	mu       sync.Mutex
	accepted []acceptance // sorted by sent
	changed  chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

type acceptance struct{ sent, accepted time.Time }

func startProbe(url, queue string, logf func(string, ...any)) *probe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &probe{url: url, queue: queue, interval: 10 * time.Millisecond, sendTimeout: time.Second,
		retry: 50 * time.Millisecond, logf: logf, changed: make(chan struct{}), cancel: cancel}
	p.wg.Add(2)
	go p.send(ctx)
	go p.drain(ctx)
	return p
}

func (p *probe) stop() {
	p.cancel()
	p.wg.Wait()
}

// connectTimeout bounds the probe's TCP connect. While the VIP moves, a SYN
// to it goes to a node that no longer has it and is never answered; TCP
// would resend it only after a second. A node that has the VIP answers a
// connect at once, so a probe that gives up on a connect after this long
// and tries again sees the VIP's new node within this long of its arrival:
// the failover time is the service's, not TCP's retransmission timer's.
const connectTimeout = 250 * time.Millisecond

func (p *probe) dial(ctx context.Context, name string) (*amqp.Conn, *amqp.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	u, err := url.Parse(p.url)
	if err != nil {
		return nil, nil, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), strconv.Itoa(port))
	}
	d := net.Dialer{Timeout: connectTimeout}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, nil, err
	}
	if acc.tls != nil && u.Scheme == "amqps" {
		// TLS over the connection dialed with the short connect timeout
		// (go-amqp's own amqps dial has none of its own).
		tc := acc.tls.Clone()
		tc.ServerName = u.Hostname()
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = tlsConn
	}
	sasl := amqp.SASLTypeAnonymous()
	if acc.user != "" {
		sasl = amqp.SASLTypePlain(acc.user, acc.password)
	}
	conn, err := amqp.NewConn(ctx, nc, &amqp.ConnOptions{
		SASLType: sasl, IdleTimeout: 2 * time.Second, ContainerID: name,
		HostName: u.Hostname(),
	})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, s, nil
}

func (p *probe) send(ctx context.Context) {
	defer p.wg.Done()
	seq := 0
	for ctx.Err() == nil {
		conn, s, err := p.dial(ctx, "qpidlab-probe-sender")
		var snd *amqp.Sender
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			snd, err = s.NewSender(actx, p.queue, nil)
			cancel()
		}
		for err == nil && ctx.Err() == nil {
			seq++
			sent := time.Now()
			sctx, cancel := context.WithTimeout(ctx, p.sendTimeout)
			err = snd.Send(sctx, &amqp.Message{Value: fmt.Sprintf("probe %d", seq)}, nil)
			cancel()
			if err != nil {
				break
			}
			now := time.Now()
			p.mu.Lock()
			p.accepted = append(p.accepted, acceptance{sent, now})
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
			if d := p.interval - now.Sub(sent); d > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
			}
		}
		if conn != nil {
			conn.Close()
		}
		if ctx.Err() != nil {
			return
		}
		p.logf("probe: %v", err)
		select {
		case <-ctx.Done():
		case <-time.After(p.retry):
		}
	}
}

func (p *probe) drain(ctx context.Context) {
	defer p.wg.Done()
	for ctx.Err() == nil {
		conn, s, err := p.dial(ctx, "qpidlab-probe-receiver")
		var rcv *amqp.Receiver
		if err == nil {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			rcv, err = s.NewReceiver(actx, p.queue, &amqp.ReceiverOptions{Credit: 100})
			cancel()
		}
		for err == nil {
			var m *amqp.Message
			if m, err = rcv.Receive(ctx, nil); err == nil {
				err = rcv.AcceptMessage(ctx, m)
			}
		}
		if conn != nil {
			conn.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// firstAfter waits for the first message sent at or after t to be
// accepted, and returns how long after t that was.
func (p *probe) firstAfter(ctx context.Context, t time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		for i := len(p.accepted) - 1; i >= 0 && !p.accepted[i].sent.Before(t); i-- {
			if i == 0 || p.accepted[i-1].sent.Before(t) {
				d := p.accepted[i].accepted.Sub(t)
				p.mu.Unlock()
				return d, nil
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return 0, fmt.Errorf("no message accepted through the VIP within %v of the fault", timeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// acceptedSince counts the messages accepted after t.
func (p *probe) acceptedSince(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for i := len(p.accepted) - 1; i >= 0 && p.accepted[i].accepted.After(t); i-- {
		n++
	}
	return n
}

// maxGap is the longest time within [from, to] without an accepted probe
// message.
func (p *probe) maxGap(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	last := from
	var gap time.Duration
	for _, a := range p.accepted {
		if a.accepted.Before(from) {
			continue
		}
		if a.accepted.After(to) {
			break
		}
		gap = max(gap, a.accepted.Sub(last))
		last = a.accepted
	}
	return max(gap, to.Sub(last))
}

// outageThreshold: a gap between accepted probe messages shorter than this
// is no outage (the probe sends every 10 ms).
const outageThreshold = 250 * time.Millisecond

// failover measures a fault injected from t0 (taken just before the
// injection) to end (when the injection returned): it waits until a
// message sent after end is accepted, then finds the longest time without
// an accepted message in between. The failover time is from t0 to the end
// of that outage (the first message accepted through the VIP after it); a
// fault that caused no outage (no gap of outageThreshold) has the time to
// the first message accepted after t0. gap is the outage itself.
func (p *probe) failover(ctx context.Context, t0, end time.Time, timeout time.Duration) (fo, gap time.Duration, err error) {
	if _, err := p.firstAfter(ctx, end, timeout); err != nil {
		return 0, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	last := t0
	var first time.Time
	var resume time.Time
	for _, a := range p.accepted {
		if !a.accepted.After(t0) {
			continue
		}
		if first.IsZero() {
			first = a.accepted
		}
		if g := a.accepted.Sub(last); g > gap {
			gap, resume = g, a.accepted
		}
		last = a.accepted
		if !a.sent.Before(end) {
			break
		}
	}
	if gap < outageThreshold {
		return first.Sub(t0), gap, nil
	}
	return resume.Sub(t0), gap, nil
}
