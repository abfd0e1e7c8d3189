package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// Sender sends messages at least once to one address (a queue or an
// exchange), over whichever connection its Conn has: it attaches its link
// again after a failover. Safe for concurrent use; concurrent Sends share
// the link and wait for their outcomes independently.
type Sender struct {
	c      *Conn
	target string
	opts   *amqp.SenderOptions
	links  linkSlot[*amqp.Sender]

	mu      sync.Mutex
	resends uint64
}

// NewSender attaches a sender link to target, waiting (within ctx) for a
// connection. opts are go-amqp's; a sender settle mode of settled
// (at-most-once) is refused: Send needs the broker's outcome.
func (c *Conn) NewSender(ctx context.Context, target string, opts *amqp.SenderOptions) (*Sender, error) {
	if opts != nil && opts.SettlementMode != nil && *opts.SettlementMode == amqp.SenderSettleModeSettled {
		return nil, errors.New("failover: a Sender needs unsettled transfers (SenderSettleModeSettled gives no outcome)")
	}
	s := &Sender{c: c, target: target, opts: opts}
	s.links.init(c, func(ctx context.Context, sess *amqp.Session) (*amqp.Sender, error) {
		return sess.NewSender(ctx, target, opts)
	}, func(ctx context.Context, l *amqp.Sender) error { return l.Close(ctx) })
	if _, _, err := s.links.get(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Send sends msg and returns once the broker accepted it, that is settled
// it with the accepted outcome (in an HA cluster: once every ready backup
// has it too). If the connection or link is lost before the outcome
// arrives, Send sends msg again on the next connection (and again, until
// an outcome or the end of ctx): the broker may have had it already, so
// the receivers may get it twice (see the package's documentation on
// duplicates; set a message-id to let a Receiver drop them). A released or
// modified outcome is also retried after the backoff.
//
// Send returns nil once accepted; a *amqp.Error for a rejected message
// (the broker refused it: not retried); a *PermanentError if the Conn gave
// up or the link was refused (amqp:not-found, ...); ErrClosed; or ctx's
// error, when the message's fate is unknown (it may have arrived: sending
// it again may make a duplicate, not sending it may lose it).
//
// msg must not be changed until Send returns (it may be encoded again).
func (s *Sender) Send(ctx context.Context, msg *amqp.Message) error {
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, s.c.opts.Backoff.wait(try-1)); err != nil {
				return err
			}
		}
		l, gen, err := s.links.get(ctx)
		if err != nil {
			return err
		}
		if try > 0 {
			s.mu.Lock()
			s.resends++
			s.mu.Unlock()
		}
		state, err := send(ctx, l, msg)
		if err == nil {
			switch st := state.(type) {
			case *amqp.StateAccepted:
				return nil
			case *amqp.StateRejected:
				if st.Error != nil {
					return st.Error
				}
				return errors.New("failover: the broker rejected the message")
			default: // released, modified: not taken, send again
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.links.failed(l, gen, err); err != nil {
			return err
		}
	}
}

// send transfers msg and waits for its outcome.
func send(ctx context.Context, l *amqp.Sender, msg *amqp.Message) (amqp.DeliveryState, error) {
	r, err := l.SendWithReceipt(ctx, msg, nil)
	if err != nil {
		return nil, err
	}
	return r.Wait(ctx)
}

// Resends is how many times Send sent a message again after a failover or
// a released outcome: an upper bound on the duplicates this Sender made.
func (s *Sender) Resends() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resends
}

// Close detaches the link; Send returns ErrClosed from then on.
func (s *Sender) Close(ctx context.Context) error { return s.links.close(ctx) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// linkSlot holds a Sender's or Receiver's current go-amqp link and
// attaches a new one, on the Conn's current connection, when it is gone.
type linkSlot[L comparable] struct {
	c      *Conn
	attach func(context.Context, *amqp.Session) (L, error)
	detach func(context.Context, L) error
	lock   chan struct{} // held while attaching (a lock that ctx can abandon)

	mu     sync.Mutex
	link   L
	sess   *session
	err    error // ErrClosed or a permanent link error
	closed bool
}

func (s *linkSlot[L]) init(c *Conn, attach func(context.Context, *amqp.Session) (L, error), detach func(context.Context, L) error) {
	s.c, s.attach, s.detach = c, attach, detach
	s.lock = make(chan struct{}, 1)
}

// get returns the live link, attaching one if needed.
func (s *linkSlot[L]) get(ctx context.Context) (L, *session, error) {
	var zero L
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return zero, nil, ctx.Err()
	}
	defer func() { <-s.lock }()
	for {
		s.mu.Lock()
		l, sess, err := s.link, s.sess, s.err
		s.mu.Unlock()
		if err != nil {
			return zero, nil, err
		}
		if sess != nil && !sess.dead() {
			return l, sess, nil
		}
		sess, err = s.c.current(ctx)
		if err != nil {
			return zero, nil, err
		}
		actx, cancel := context.WithTimeout(ctx, s.c.opts.ConnectTimeout)
		l, err = s.attach(actx, sess.sess)
		cancel()
		if err == nil {
			s.mu.Lock()
			closed := s.closed
			if !closed {
				s.link, s.sess = l, sess
			}
			s.mu.Unlock()
			if closed {
				go s.detach(context.Background(), l)
				return zero, nil, ErrClosed
			}
			return l, sess, nil
		}
		if ctx.Err() != nil {
			return zero, nil, ctx.Err()
		}
		if linkPermanent(err) {
			return zero, nil, s.setErr(&PermanentError{Err: err})
		}
		// A timeout or a refusal on a connection in an unknown state:
		// reconnect.
		sess.fail(fmt.Errorf("attach: %w", err))
	}
}

// failed handles an error of link l on sess: it returns the error to give
// the caller (a permanent one), or nil after arranging a new link (and a
// new connection if the error was the connection's).
func (s *linkSlot[L]) failed(l L, sess *session, err error) error {
	if errors.Is(err, ErrClosed) {
		return err
	}
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	current := s.sess == sess && s.link == l
	if current {
		var zero L
		s.link, s.sess = zero, nil
	}
	s.mu.Unlock()
	if linkPermanent(err) {
		return s.setErr(&PermanentError{Err: err})
	}
	if connLevel(err) || sess.dead() {
		sess.fail(err)
	} else if current {
		go s.detach(context.Background(), l)
	}
	return nil
}

func (s *linkSlot[L]) setErr(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// close detaches the current link and makes every later get fail.
func (s *linkSlot[L]) close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.err == nil {
		s.err = ErrClosed
	}
	l, sess := s.link, s.sess
	var zero L
	s.link, s.sess = zero, nil
	s.mu.Unlock()
	if sess == nil || sess.dead() {
		return nil
	}
	if err := s.detach(ctx, l); err != nil && !sess.dead() {
		return err
	}
	return nil
}
