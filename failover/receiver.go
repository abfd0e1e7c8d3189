package failover

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/Azure/go-amqp"
)

// ReceiverOptions configure a Receiver.
type ReceiverOptions struct {
	// Link options, go-amqp's (Credit, Filters, Durability, ...).
	Link *amqp.ReceiverOptions

	// DedupWindow, if positive, drops messages whose message-id is among
	// the last DedupWindow ids this Receiver handed out: the copies a
	// Sender resent after a failover, and the redeliveries of messages
	// whose Accept was lost with the connection. A dropped copy is settled
	// as the application settled the first one (accepted, or rejected).
	// Messages without a message-id are never dropped. The window is this
	// Receiver's memory only: copies taken by other consumers, or arriving
	// after DedupWindow other ids, still get through.
	DedupWindow int
}

// Receiver receives messages from one address (a queue) over whichever
// connection its Conn has: it attaches its link again after a failover.
// Safe for concurrent use.
type Receiver struct {
	c     *Conn
	links linkSlot[*amqp.Receiver]

	mu         sync.Mutex
	dedup      *dedup // nil: off
	duplicates uint64
}

// Message is a received message: go-amqp's, and the link it came on, which
// settles it.
type Message struct {
	*amqp.Message
	rcv  *amqp.Receiver
	sess *session
	key  idKey
	keyd bool // key is set and in the window
}

// NewReceiver attaches a receiver link to source, waiting (within ctx)
// for a connection.
func (c *Conn) NewReceiver(ctx context.Context, source string, opts *ReceiverOptions) (*Receiver, error) {
	r := &Receiver{c: c}
	var lo *amqp.ReceiverOptions
	if opts != nil {
		lo = opts.Link
		if opts.DedupWindow > 0 {
			r.dedup = newDedup(opts.DedupWindow)
		}
	}
	if lo != nil && lo.SettlementMode != nil && *lo.SettlementMode == amqp.ReceiverSettleModeSecond {
		return nil, errors.New("failover: ReceiverSettleModeSecond is not supported")
	}
	r.links.init(c, func(ctx context.Context, sess *amqp.Session) (*amqp.Receiver, error) {
		return sess.NewReceiver(ctx, source, lo)
	}, func(ctx context.Context, l *amqp.Receiver) error { return l.Close(ctx) })
	if _, _, err := r.links.get(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Receive waits for the next message, reconnecting and re-attaching as
// needed. The application settles it with Accept, Release or Reject. With
// DedupWindow, copies of messages already handed out are settled and
// skipped here.
//
// Errors: ctx's; ErrClosed; a *PermanentError (the Conn gave up, or the
// source was refused).
func (r *Receiver) Receive(ctx context.Context) (*Message, error) {
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, r.c.opts.Backoff.wait(try-1)); err != nil {
				return nil, err
			}
		}
		l, sess, err := r.links.get(ctx)
		if err != nil {
			return nil, err
		}
		for {
			m, err := l.Receive(ctx, nil)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if err := r.links.failed(l, sess, err); err != nil {
					return nil, err
				}
				break
			}
			try = 0
			msg := &Message{Message: m, rcv: l, sess: sess}
			if r.dedup == nil {
				return msg, nil
			}
			k, ok := messageKey(m)
			if !ok {
				return msg, nil
			}
			r.mu.Lock()
			out, dup := r.dedup.seen(k)
			if !dup {
				r.dedup.add(k)
				msg.key, msg.keyd = k, true
			} else {
				r.duplicates++
			}
			r.mu.Unlock()
			if !dup {
				return msg, nil
			}
			// A copy of a message handed out already: settle it as
			// the first was (errors do not matter: it comes again, and
			// is dropped again).
			if out == outReject {
				_ = l.RejectMessage(ctx, m, nil)
			} else {
				_ = l.AcceptMessage(ctx, m)
			}
		}
	}
}

// Duplicates is how many messages the de-duplication window dropped.
func (r *Receiver) Duplicates() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.duplicates
}

// settled handles the error of a disposition: nil; ctx's; or, when the
// link is gone, ErrNotSettled with the cause (and the connection is
// replaced if it was the connection's error).
func (r *Receiver) settled(ctx context.Context, m *Message, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if perr := r.links.failed(m.rcv, m.sess, err); perr != nil && !errors.Is(perr, ErrClosed) {
		return fmt.Errorf("%w: %w", ErrNotSettled, perr)
	}
	return fmt.Errorf("%w: %w", ErrNotSettled, err)
}

// Accept tells the broker the message was processed. If the link it came
// on was lost, the error wraps ErrNotSettled: the broker delivers the
// message again (with DedupWindow, this Receiver drops that copy and
// accepts it). A nil error means the disposition was sent: the broker may
// still deliver the message again if the connection is lost before the
// disposition arrives.
func (r *Receiver) Accept(ctx context.Context, m *Message) error {
	return r.settled(ctx, m, m.rcv.AcceptMessage(ctx, m.Message))
}

// Reject tells the broker the message is invalid (e: an optional reason).
// If the link was lost, the error wraps ErrNotSettled: the broker delivers
// the message again (with DedupWindow, this Receiver rejects that copy).
func (r *Receiver) Reject(ctx context.Context, m *Message, e *amqp.Error) error {
	r.forget(m, outReject, false)
	return r.settled(ctx, m, m.rcv.RejectMessage(ctx, m.Message, e))
}

// Release gives the message back to the broker, for delivery to this or
// another consumer; it leaves the de-duplication window, so that its next
// delivery reaches the application. A lost link gives the message back
// just as well: Release then returns nil.
func (r *Receiver) Release(ctx context.Context, m *Message) error {
	r.forget(m, outAccept, true)
	if err := r.settled(ctx, m, m.rcv.ReleaseMessage(ctx, m.Message)); err != nil && !errors.Is(err, ErrNotSettled) {
		return err
	}
	return nil
}

// Modify is Release with go-amqp's ModifyMessageOptions (delivery failed,
// undeliverable here, annotations).
func (r *Receiver) Modify(ctx context.Context, m *Message, opts *amqp.ModifyMessageOptions) error {
	r.forget(m, outAccept, true)
	if err := r.settled(ctx, m, m.rcv.ModifyMessage(ctx, m.Message, opts)); err != nil && !errors.Is(err, ErrNotSettled) {
		return err
	}
	return nil
}

// forget records a disposition in the window, or removes the id.
func (r *Receiver) forget(m *Message, out outcome, remove bool) {
	if !m.keyd {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if remove {
		r.dedup.remove(m.key)
	} else {
		r.dedup.set(m.key, out)
	}
}

// Close detaches the link; Receive returns ErrClosed from then on.
// Messages received and not settled go back to the broker.
func (r *Receiver) Close(ctx context.Context) error { return r.links.close(ctx) }
