package amqpserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

// Local transactions (part 4). A client declares a transaction on a
// coordinator link, sends transfers and settles deliveries in it, then
// discharges it. Until the discharge nothing the transaction did is visible:
// its messages wait here, and the messages it accepted stay acquired by
// their consumers. A commit applies every dequeue, then every enqueue, with
// no other work of this connection in between; it is settled only when every
// change is on every ready HA backup (TxnBarrier). A rollback drops the
// messages and returns the acquired ones to their queues, counted as a
// failed delivery. What is atomic is documented in the README.

// maxTxnBytes bounds what one transaction may buffer: a client cannot fill
// the broker's memory with a transaction it never discharges.
const maxTxnBytes = 64 << 20

// TxnBarrier is implemented by an Extension that must see a transaction's
// changes applied elsewhere before its commit is acknowledged (the HA
// module: on every ready backup). The hold it returns, nil if there is
// nothing to wait for, is done when that is so.
type TxnBarrier interface {
	CommitBarrier(txn string) *broker.Hold
}

// coordinator is a link to the transaction coordinator (part 4.3). Its
// deliveries carry declare and discharge requests.
type coordinator struct {
	producer // its link and credit
}

// txn is one declared transaction.
type txn struct {
	id    []byte // as the client names it
	name  string // as replication tags its changes: unique in the broker
	coord *coordinator
	sends []txnSend
	// outcomes are the dispositions the client gave in the transaction.
	outcomes []txnOutcome
	bytes    int
	// failed, when set, is why the transaction can only roll back.
	failed error
}

type txnSend struct {
	node broker.Node
	msg  *message.Message
}

type txnOutcome struct {
	cons  *consumer
	entry *broker.Entry
	state any // *types.Accepted, Rejected, Released or Modified
}

// attachCoordinator serves a link whose target is the coordinator.
func (c *conn) attachCoordinator(l *amqp.Link, t *types.Coordinator) {
	for _, capability := range t.Capabilities {
		if capability != types.TxnCapabilityLocalTransactions {
			refuse(l, types.NewError(types.CondNotImplemented, "transaction capability %s is not supported: this broker has local transactions only", capability))
			return
		}
	}
	co := &coordinator{producer{link: l}}
	l.Context = co
	l.Target = &types.Coordinator{Capabilities: []types.Symbol{types.TxnCapabilityLocalTransactions}}
	l.Attach()
	l.Flow(c.srv.cfg.CreditWindow, false)
}

// coordinate answers a declare or a discharge.
func (c *conn) coordinate(co *coordinator, d *amqp.Delivery) {
	defer c.replenish(&co.producer)
	var request any
	m, err := message.Parse(d.Payload())
	if err == nil {
		request, err = m.Value()
	}
	if err != nil {
		settleIn(d, &types.Rejected{Error: types.NewError(types.CondDecodeError, "coordinator request: %v", err)})
		return
	}
	switch r := request.(type) {
	case *types.Declare:
		if r.GlobalID != nil {
			settleIn(d, &types.Rejected{Error: types.NewError(types.CondNotImplemented, "distributed transactions (a declare with a global-id) are not supported")})
			return
		}
		t := c.declare(co)
		c.log.WithField("txn", t.name).Debug("transaction declared")
		settleIn(d, &types.Declared{TxnID: t.id})
	case *types.Discharge:
		t := c.txns[string(r.TxnID)]
		if t == nil {
			c.dischargeUnknown(d, r)
			return
		}
		delete(c.txns, string(r.TxnID))
		switch {
		case r.Fail:
			c.rollback(t)
			settleIn(d, &types.Accepted{})
		case t.failed != nil:
			c.rollback(t)
			settleIn(d, &types.Rejected{Error: types.NewError(types.CondTransactionRollback, "transaction rolled back: %v", t.failed)})
		default:
			holds, err := c.commit(t)
			switch {
			case err != nil:
				settleIn(d, &types.Rejected{Error: types.NewError(types.CondTransactionRollback, "commit failed: %v", err)})
			case len(holds) > 0:
				c.acceptWhenReleased(&co.producer, d, holds)
			default:
				settleIn(d, &types.Accepted{})
			}
		}
	default:
		settleIn(d, &types.Rejected{Error: types.NewError(types.CondDecodeError, "a coordinator takes declare or discharge, not %T", request)})
	}
}

// dischargeUnknown answers the discharge of a transaction not open on this
// connection: usually one whose connection ended while its commit was in
// flight (a failover, a reconnection), asked about again. If its commit is
// known to have gone through (here, or replicated here before a failover)
// the answer is the truth, accepted; otherwise whatever it did was rolled
// back with its connection.
func (c *conn) dischargeUnknown(d *amqp.Delivery, r *types.Discharge) {
	name := txnName(r.TxnID)
	switch {
	case !r.Fail && c.srv.cfg.Broker.Committed(name):
		c.log.WithField("txn", name).Info("a client asked again about a transaction: it committed")
		settleIn(d, &types.Accepted{})
	case r.Fail:
		settleIn(d, &types.Accepted{}) // rolled back already
	default:
		settleIn(d, &types.Rejected{Error: types.NewError(types.CondTransactionRollback, "transaction %x was rolled back: it was not committed when its connection ended (a failover, a reconnection)", r.TxnID)})
	}
}

func txnName(id []byte) string { return "tx-" + hex.EncodeToString(id) }

// declare starts a transaction.
func (c *conn) declare(co *coordinator) *txn {
	if c.txns == nil {
		c.txns = map[string]*txn{}
	}
	// Random ids: one a client kept from a connection that ended (by a
	// failover, say) can never name a transaction declared since.
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	t := &txn{id: id, name: txnName(id), coord: co}
	c.txns[string(id)] = t
	return t
}

// transaction finds the transaction a transactional state names; a
// delivery naming an unknown one is rejected (nil returned).
func (c *conn) transaction(d *amqp.Delivery, ts *types.TransactionalState) *txn {
	if t := c.txns[string(ts.TxnID)]; t != nil {
		return t
	}
	settleIn(d, &types.Rejected{Error: types.NewError(types.CondTransactionUnknownID, "no transaction %x on this connection", ts.TxnID)})
	return nil
}

// receiveInTxn keeps a message sent in a transaction until it commits.
func (c *conn) receiveInTxn(d *amqp.Delivery, ts *types.TransactionalState, node broker.Node, m *message.Message) {
	t := c.transaction(d, ts)
	if t == nil {
		return
	}
	if t.bytes += m.Size(); t.bytes > maxTxnBytes {
		e := types.NewError(types.CondResourceLimitExceeded, "a transaction may hold at most %d bytes of messages", maxTxnBytes)
		t.failed = e
		settleIn(d, &types.Rejected{Error: e})
		return
	}
	if err := c.srv.cfg.Broker.MemoryRefusal(int64(m.Size())); err != nil {
		e := errorFor(err)
		t.failed = e
		settleIn(d, &types.Rejected{Error: e})
		return
	}
	t.sends = append(t.sends, txnSend{node: node, msg: m})
	// The outcome is provisional: it holds if the transaction commits.
	settleIn(d, &types.TransactionalState{TxnID: t.id, Outcome: &types.Accepted{}})
}

// settledInTxn records a consumer's outcome for a message in a transaction;
// the message stays acquired until the discharge.
func (c *conn) settledInTxn(cons *consumer, d *amqp.Delivery, e *broker.Entry, ts *types.TransactionalState) {
	switch ts.Outcome.(type) {
	case *types.Accepted, *types.Rejected, *types.Released, *types.Modified:
	default:
		return // no outcome yet
	}
	t := c.transaction(d, ts)
	if t == nil {
		return
	}
	t.outcomes = append(t.outcomes, txnOutcome{cons: cons, entry: e, state: ts.Outcome})
	settleIn(d, ts)
}

// commit applies a transaction's outcomes and messages and returns the
// holds its acknowledgement waits for.
func (c *conn) commit(t *txn) ([]*broker.Hold, error) {
	var holds []*broker.Hold
	for _, o := range t.outcomes {
		s := o.cons.sub
		switch st := o.state.(type) {
		case *types.Accepted:
			s.AcceptTx(o.entry, t.name)
		case *types.Rejected:
			s.Reject(o.entry)
		case *types.Released:
			s.Release(o.entry, false)
		case *types.Modified:
			s.Release(o.entry, st.DeliveryFailed)
		}
	}
	var failure error
	for _, s := range t.sends {
		c.routed = c.routed[:0]
		if s.node.Queue != nil {
			c.routed = append(c.routed, s.node.Queue)
		} else {
			c.routed = c.srv.cfg.Broker.Route(s.node.Exchange, s.msg, c.routed)
		}
		for i, q := range c.routed {
			e, err := q.EnqueueTx(s.msg, t.name)
			if err != nil && failure == nil {
				failure = fmt.Errorf("queue %s: %w", q.Name(), err)
			}
			if e != nil && e.Hold() != nil {
				holds = append(holds, e.Hold())
			}
			if e != nil && e.FlowHold() != nil {
				holds = append(holds, e.FlowHold()) // the commit waits like a transfer
			}
			if e != nil && e.StoreHold() != nil {
				holds = append(holds, e.StoreHold())
			}
			c.routed[i] = nil
		}
	}
	// The barrier follows every change made above, even after a failure,
	// so backups apply exactly what this broker applied.
	if b, ok := c.srv.cfg.Extension.(TxnBarrier); ok && (len(t.outcomes) > 0 || len(t.sends) > 0) {
		if h := b.CommitBarrier(t.name); h != nil {
			holds = append(holds, h)
		}
	}
	// The store applies the transaction's records together, once this is
	// on disk: the commit is acknowledged then.
	if h := c.srv.cfg.Broker.CommitJournal(t.name); h != nil {
		holds = append(holds, h)
	}
	c.srv.cfg.Broker.RecordCommit(t.name)
	c.log.WithField("txn", t.name).WithField("enqueues", len(t.sends)).WithField("outcomes", len(t.outcomes)).Debug("transaction committed")
	return holds, failure
}

// rollback drops a transaction's messages and returns the messages it
// acquired to their queues.
func (c *conn) rollback(t *txn) {
	for _, o := range t.outcomes {
		o.cons.sub.Release(o.entry, true)
	}
	c.log.WithField("txn", t.name).Debug("transaction rolled back")
}

// coordinatorGone rolls back the transactions declared on a coordinator
// link that went away (part 4.3: they cannot be discharged any more).
func (c *conn) coordinatorGone(co *coordinator) {
	for id, t := range c.txns {
		if t.coord == co {
			delete(c.txns, id)
			c.rollback(t)
		}
	}
}

// consumerGone marks the transactions holding a departed consumer's
// messages as rollback-only: its messages went back to the queue, so the
// outcomes the transaction gave them can no longer be applied.
func (c *conn) consumerGone(cons *consumer) {
	for _, t := range c.txns {
		for _, o := range t.outcomes {
			if o.cons == cons && t.failed == nil {
				t.failed = errors.New("a receiver whose messages it settled detached before the discharge")
			}
		}
	}
}
