package checker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// newMessage is message seq of a sender.
func newMessage(run string, sender, seq int) *amqp.Message {
	id := ID{sender, seq}.String()
	return &amqp.Message{
		Header:     &amqp.MessageHeader{Durable: true},
		Properties: &amqp.MessageProperties{MessageID: id},
		ApplicationProperties: map[string]any{
			"run": run, "sender": int64(sender), "seq": int64(seq),
		},
		Value: id,
	}
}

// messageID reads the numbers of one of this run's messages.
func messageID(run string, m *amqp.Message) (ID, bool) {
	p := m.ApplicationProperties
	if p == nil || p["run"] != run {
		return ID{}, false
	}
	sender, ok1 := toInt(p["sender"])
	seq, ok2 := toInt(p["seq"])
	return ID{sender, seq}, ok1 && ok2
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int64:
		return int(n), true
	case int32:
		return int(n), true
	case int:
		return n, true
	case uint64:
		return int(n), true
	case uint32:
		return int(n), true
	}
	return 0, false
}

// amqpURL adds the amqp:// scheme go-amqp needs.
func amqpURL(u string) string {
	if strings.Contains(u, "://") {
		return u
	}
	return "amqp://" + u
}

// url is u with the scheme go-amqp needs: amqps:// with TLS configured.
func (c *Config) url(u string) string {
	if c.TLS != nil && !strings.Contains(u, "://") {
		return "amqps://" + u
	}
	return amqpURL(u)
}

// cycler walks the URL list: on a failure the next URL, and once every URL
// failed in a row, a pause growing from BackoffMin to BackoffMax.
type cycler struct {
	cfg      *Config
	i        int
	failures int
}

func (c *cycler) url() string { return c.cfg.url(c.cfg.URLs[c.i%len(c.cfg.URLs)]) }

// failed moves to the next URL, pausing after a full round of failures.
// It returns false if ctx ended.
func (c *cycler) failed(ctx context.Context) bool {
	c.i++
	c.failures++
	n := len(c.cfg.URLs)
	if c.failures < n {
		return ctx.Err() == nil
	}
	delay := c.cfg.BackoffMin << min(c.failures/n-1, 10)
	delay = min(delay, c.cfg.BackoffMax)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(delay):
		return true
	}
}

// ok marks a working connection: the next failure starts a new round.
func (c *cycler) ok() { c.failures = 0 }

// dial opens a connection and a session, within a few seconds.
func dial(ctx context.Context, cfg *Config, url, container string) (*amqp.Conn, *amqp.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	opts := &amqp.ConnOptions{
		SASLType:    amqp.SASLTypeAnonymous(),
		IdleTimeout: cfg.Heartbeat,
		ContainerID: container,
	}
	if cfg.User != "" {
		opts.SASLType = amqp.SASLTypePlain(cfg.User, cfg.Password)
	}
	if cfg.TLS != nil {
		opts.TLSConfig = cfg.TLS.Clone()
	}
	conn, err := amqp.Dial(ctx, url, opts)
	if err != nil {
		return nil, nil, err
	}
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, s, nil
}

// doneChan is a channel closed once.
type doneChan struct {
	ch   chan struct{}
	once sync.Once
}

func newDone() *doneChan                  { return &doneChan{ch: make(chan struct{})} }
func (d *doneChan) close()                { d.once.Do(func() { close(d.ch) }) }
func (d *doneChan) wait() <-chan struct{} { return d.ch }

// goSender is an at-least-once go-amqp sender.
type goSender struct {
	cfg    *Config
	tr     *Tracker
	id     int
	name   string
	cancel context.CancelFunc
	ended  *doneChan

	mu       sync.Mutex
	next     int   // the next new sequence number
	resend   []int // to send again, sorted
	inflight int
	t0       time.Time
	stopAt   time.Time // when told to stop (zero: not yet)
	changed  chan struct{}
}

func startGoSender(ctx context.Context, cfg *Config, tr *Tracker, id int) *goSender {
	ctx, cancel := context.WithCancel(ctx)
	s := &goSender{cfg: cfg, tr: tr, id: id, name: fmt.Sprintf("sender %d", id), cancel: cancel,
		ended: newDone(), next: 1, t0: time.Now(), changed: make(chan struct{}, 1)}
	go s.run(ctx)
	return s
}

func (s *goSender) stop() {
	s.mu.Lock()
	if s.stopAt.IsZero() {
		s.stopAt = time.Now()
	}
	s.mu.Unlock()
	s.signal()
}

func (s *goSender) unthrottle()           {}
func (s *goSender) kill()                 { s.cancel(); <-s.ended.wait() }
func (s *goSender) done() <-chan struct{} { return s.ended.wait() }

func (s *goSender) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// noMoreNew reports whether no new sequence number will be issued.
func (s *goSender) noMoreNew() bool {
	return !s.stopAt.IsZero() || (s.cfg.Messages > 0 && s.next > s.cfg.Messages)
}

// gaveUp reports whether the stop timeout passed.
func (s *goSender) gaveUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopAt.IsZero() && time.Since(s.stopAt) > s.cfg.StopTimeout
}

// finished reports whether every issued message is confirmed and no new
// one will come.
func (s *goSender) finished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noMoreNew() && len(s.resend) == 0 && s.inflight == 0
}

// take waits for the next message to send within the window: a resend
// first, else a new one when the rate allows. It returns false when the
// sender is finished, gave up, or ctx ended.
func (s *goSender) take(ctx context.Context) (int, bool) {
	for {
		s.mu.Lock()
		wait := time.Second
		if s.inflight < s.cfg.Window {
			if len(s.resend) > 0 {
				seq := s.resend[0]
				s.resend = s.resend[1:]
				s.inflight++
				s.mu.Unlock()
				return seq, true
			}
			if !s.noMoreNew() {
				due := time.Duration(0)
				if s.cfg.Rate > 0 {
					due = time.Until(s.t0.Add(time.Duration(float64(s.next-1) / s.cfg.Rate * float64(time.Second))))
				}
				if due <= 0 {
					seq := s.next
					s.next++
					s.inflight++
					s.mu.Unlock()
					s.tr.Issued(s.id, seq)
					return seq, true
				}
				wait = due
			}
		}
		finished := s.noMoreNew() && len(s.resend) == 0 && s.inflight == 0
		stopAt := s.stopAt
		s.mu.Unlock()
		if finished {
			return 0, false
		}
		if !stopAt.IsZero() {
			left := s.cfg.StopTimeout - time.Since(stopAt)
			if left <= 0 {
				return 0, false
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, false
		case <-s.changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// settle ends a message's flight: confirmed, or to be sent again.
func (s *goSender) settle(seq int, confirmed bool) {
	s.mu.Lock()
	s.inflight--
	if !confirmed {
		i, _ := slices.BinarySearch(s.resend, seq)
		s.resend = slices.Insert(s.resend, i, seq)
	}
	s.mu.Unlock()
	if confirmed {
		s.tr.Confirmed(ID{s.id, seq})
	} else {
		s.tr.Retry(ID{s.id, seq})
	}
	s.signal()
}

func (s *goSender) run(ctx context.Context) {
	defer s.ended.close()
	cy := &cycler{cfg: s.cfg}
	for ctx.Err() == nil && !s.finished() && !s.gaveUp() {
		url := cy.url()
		conn, session, err := dial(ctx, s.cfg, url, fmt.Sprintf("checker-%s-sender-%d", s.cfg.RunID, s.id))
		if err == nil {
			var snd *amqp.Sender
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			snd, err = session.NewSender(actx, s.cfg.Queue, nil)
			cancel()
			if err == nil {
				cy.ok()
				err = s.transfer(ctx, snd)
			}
			conn.Close()
		}
		if err == nil {
			continue
		}
		s.tr.Disconnected("sender")
		s.cfg.logf("%s: %s: %v", s.name, url, err)
		if !cy.failed(ctx) {
			break
		}
	}
	s.mu.Lock()
	issued := s.next - 1
	s.mu.Unlock()
	s.tr.Issued(s.id, issued)
}

// transfer sends on one link until it fails or the sender is finished.
func (s *goSender) transfer(ctx context.Context, snd *amqp.Sender) error {
	ctx, cancel := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		linkErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { linkErr = err })
		cancel()
	}
	for {
		seq, ok := s.take(ctx)
		if !ok {
			break
		}
		r, err := snd.SendWithReceipt(ctx, newMessage(s.cfg.RunID, s.id, seq), nil)
		if err != nil {
			s.settle(seq, false)
			fail(err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			state, err := r.Wait(ctx)
			if _, ok := state.(*amqp.StateAccepted); ok && err == nil {
				s.settle(seq, true)
				return
			}
			s.settle(seq, false)
			if err == nil {
				err = fmt.Errorf("message %d: outcome %T", seq, state)
			}
			fail(err)
		}()
	}
	// Finished (nothing in flight), failed, or given up: whatever is still
	// in flight will not be confirmed on this link.
	fail(context.Canceled)
	wg.Wait()
	if errors.Is(linkErr, context.Canceled) {
		return nil
	}
	return linkErr
}

// goReceiver is a go-amqp receiver that records, then accepts, every
// message.
type goReceiver struct {
	cfg       *Config
	tr        *Tracker
	id        int
	cancel    context.CancelFunc
	ended     *doneChan
	t0        time.Time
	n         int // messages received
	unlimited chan struct{}
	once      sync.Once
}

func startGoReceiver(ctx context.Context, cfg *Config, tr *Tracker, id int) *goReceiver {
	ctx, cancel := context.WithCancel(ctx)
	r := &goReceiver{cfg: cfg, tr: tr, id: id, cancel: cancel, ended: newDone(),
		t0: time.Now(), unlimited: make(chan struct{})}
	go r.run(ctx)
	return r
}

func (r *goReceiver) stop()                 { r.cancel() }
func (r *goReceiver) unthrottle()           { r.once.Do(func() { close(r.unlimited) }) }
func (r *goReceiver) kill()                 { r.cancel(); <-r.ended.wait() }
func (r *goReceiver) done() <-chan struct{} { return r.ended.wait() }

func (r *goReceiver) run(ctx context.Context) {
	defer r.ended.close()
	cy := &cycler{cfg: r.cfg}
	for ctx.Err() == nil {
		url := cy.url()
		conn, session, err := dial(ctx, r.cfg, url, fmt.Sprintf("checker-%s-receiver-%d", r.cfg.RunID, r.id))
		if err == nil {
			var rcv *amqp.Receiver
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			rcv, err = session.NewReceiver(actx, r.cfg.Queue, &amqp.ReceiverOptions{Credit: int32(r.cfg.Credit)})
			cancel()
			if err == nil {
				cy.ok()
				err = r.receive(ctx, rcv)
			}
			conn.Close()
		}
		if ctx.Err() != nil {
			return
		}
		r.tr.Disconnected("receiver")
		r.cfg.logf("receiver %d: %s: %v", r.id, url, err)
		if !cy.failed(ctx) {
			return
		}
	}
}

// pace waits until the rate limit allows another message.
func (r *goReceiver) pace(ctx context.Context) {
	if r.cfg.ReceiveRate <= 0 {
		return
	}
	due := time.Until(r.t0.Add(time.Duration(float64(r.n) / r.cfg.ReceiveRate * float64(time.Second))))
	if due <= 0 {
		return
	}
	t := time.NewTimer(due)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.unlimited:
	case <-ctx.Done():
	}
}

func (r *goReceiver) receive(ctx context.Context, rcv *amqp.Receiver) error {
	for {
		r.pace(ctx)
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			return err
		}
		r.n++
		if id, ok := messageID(r.cfg.RunID, m); ok {
			r.tr.Received(id)
		} else {
			r.tr.Foreign()
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			return err
		}
	}
}
