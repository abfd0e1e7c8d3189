package store

import (
	"bytes"
	"fmt"
	"sort"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/journal"
)

// Recovered is what a store held at start, ready to restore.
type Recovered struct {
	Exchanges []RecoveredExchange
	Queues    []RecoveredQueue
	Bindings  []RecoveredBinding
	// DroppedTxns counts transactions whose commit was not on disk: their
	// records were dropped.
	DroppedTxns int
	// Position is the last HA replication position recorded (zero: none):
	// every durable change the broker made up to it was recovered.
	Position broker.MessageID
	Journal  journal.Recovery
	Took     time.Duration
}

// RecoveredExchange is a durable exchange.
type RecoveredExchange struct {
	ID                   uint64
	Name, Type, Identity string
	Args                 broker.Args
}

// RecoveredQueue is a durable queue with its persistent messages, in the
// order of their positions.
type RecoveredQueue struct {
	ID       uint64
	Name     string
	Identity string
	Args     broker.Args
	Messages []broker.Restored
	Bytes    int64
}

// RecoveredBinding is a binding of a durable queue.
type RecoveredBinding struct {
	ID                   uint64
	Exchange, Queue, Key string
	Args                 broker.Args
}

// Messages counts the recovered messages.
func (r *Recovered) Messages() int {
	n := 0
	for _, q := range r.Queues {
		n += len(q.Messages)
	}
	return n
}

// Restore puts what was recovered into a broker that has none of it yet:
// exchanges, queues, bindings, then each queue's messages.
func (r *Recovered) Restore(b *broker.Broker) error {
	for _, x := range r.Exchanges {
		st, err := broker.ParseExchangeArgs(x.Args)
		if err != nil {
			return fmt.Errorf("restoring exchange %s: %w", x.Name, err)
		}
		st.Identity = x.Identity
		if _, err := b.RestoreExchange(x.Name, x.Type, st, x.ID); err != nil {
			return fmt.Errorf("restoring exchange %s: %w", x.Name, err)
		}
	}
	queues := map[string]*broker.Queue{}
	for _, rq := range r.Queues {
		st, err := broker.ParseQueueArgs(rq.Args)
		if err != nil {
			return fmt.Errorf("restoring queue %s: %w", rq.Name, err)
		}
		st.Identity = rq.Identity
		q, err := b.RestoreQueue(rq.Name, st, rq.ID)
		if err != nil {
			return fmt.Errorf("restoring queue %s: %w", rq.Name, err)
		}
		queues[rq.Name] = q
	}
	for _, bd := range r.Bindings {
		if err := b.RestoreBinding(bd.Exchange, bd.Queue, bd.Key, bd.Args, bd.ID); err != nil {
			return fmt.Errorf("restoring a binding: %w", err)
		}
	}
	for _, rq := range r.Queues {
		queues[rq.Name].Restore(rq.Messages)
	}
	return nil
}

// replay is the state a journal replay builds, record by record. A record
// may appear twice (carried forward, with the older copy not yet gone): the
// later copy wins. References between records are resolved at the end,
// since a carried declaration can come after what refers to it.
type replay struct {
	queues    map[uint64]*rQueue
	exchanges map[uint64]*rExchange
	bindings  map[uint64]*rBinding
	msgs      map[uint64]*rMsg
	pending   map[uint64][]pendingOp // by transaction: waiting for its commit
	// inTxn are messages enqueued in a transaction not committed yet: a
	// consumer may take one before the commit record is written (it is on
	// its queue from the enqueue on), and its dequeue must then win.
	inTxn   map[uint64]bool
	removed map[uint64]bool
	maxID   uint64
	mark    *markObj // the last position record
}

type rQueue struct {
	loc
	name, identity string
	args           broker.Args
	payload        []byte
}

type rExchange struct {
	loc
	name, kind, identity string
	args                 broker.Args
	payload              []byte
}

type rBinding struct {
	loc
	exchange    uint64
	exName, key string
	queue       uint64
	args        broker.Args
	payload     []byte
}

type rMsg struct {
	loc
	queue, pos uint64
	expires    int64
	failures   uint32
	ha         broker.MessageID
	msg        []byte
}

type pendingOp struct {
	enqueue *rMsg // or a dequeue of id
	id      uint64
}

func newReplay() *replay {
	return &replay{
		queues:    map[uint64]*rQueue{},
		exchanges: map[uint64]*rExchange{},
		bindings:  map[uint64]*rBinding{},
		msgs:      map[uint64]*rMsg{},
		pending:   map[uint64][]pendingOp{},
		inTxn:     map[uint64]bool{},
		removed:   map[uint64]bool{},
	}
}

// dequeue removes a message, or cancels its enqueue in a transaction not
// committed yet.
func (rs *replay) dequeue(id uint64) {
	delete(rs.msgs, id)
	if rs.inTxn[id] {
		rs.removed[id] = true
	}
}

func (rs *replay) id(id uint64) uint64 {
	rs.maxID = max(rs.maxID, id)
	return id
}

// record applies one journal record.
func (rs *replay) record(jr journal.Record) error {
	r := reader{b: jr.Data}
	at := loc{seq: jr.Segment, lsn: jr.LSN, size: journal.RecordSize(len(jr.Data))}
	switch jr.Type {
	case recQueue:
		q := &rQueue{loc: at}
		id := rs.id(r.uvarint())
		q.name, q.identity, q.args = r.string(), r.string(), r.args()
		if err := r.end(); err != nil {
			return fmt.Errorf("queue record: %w", err)
		}
		q.payload = bytes.Clone(jr.Data)
		rs.queues[id] = q
	case recQueueDel:
		id := r.uvarint()
		if err := r.end(); err != nil {
			return fmt.Errorf("queue-delete record: %w", err)
		}
		delete(rs.queues, id)
	case recExchange:
		x := &rExchange{loc: at}
		id := rs.id(r.uvarint())
		x.name, x.kind, x.identity, x.args = r.string(), r.string(), r.string(), r.args()
		if err := r.end(); err != nil {
			return fmt.Errorf("exchange record: %w", err)
		}
		x.payload = bytes.Clone(jr.Data)
		rs.exchanges[id] = x
	case recExchangeDel:
		id := r.uvarint()
		if err := r.end(); err != nil {
			return fmt.Errorf("exchange-delete record: %w", err)
		}
		delete(rs.exchanges, id)
		for bid, b := range rs.bindings {
			if b.exchange == id {
				delete(rs.bindings, bid)
			}
		}
	case recBind:
		b := &rBinding{loc: at}
		id := rs.id(r.uvarint())
		b.exchange, b.exName, b.queue, b.key, b.args = r.uvarint(), r.string(), r.uvarint(), r.string(), r.args()
		if err := r.end(); err != nil {
			return fmt.Errorf("bind record: %w", err)
		}
		b.payload = bytes.Clone(jr.Data)
		rs.bindings[id] = b
	case recUnbind:
		id := r.uvarint()
		if err := r.end(); err != nil {
			return fmt.Errorf("unbind record: %w", err)
		}
		delete(rs.bindings, id)
	case recEnqueue:
		e, err := parseEnqueue(jr.Data)
		if err != nil {
			return fmt.Errorf("enqueue record: %w", err)
		}
		rs.id(e.id)
		m := &rMsg{loc: at, queue: e.queue, pos: e.pos, expires: e.expires, failures: e.failures, ha: e.ha, msg: bytes.Clone(e.msg)}
		if e.txn != 0 {
			rs.id(e.txn)
			rs.pending[e.txn] = append(rs.pending[e.txn], pendingOp{enqueue: m, id: e.id})
			rs.inTxn[e.id] = true
		} else {
			rs.msgs[e.id] = m
		}
	case recDequeue:
		id, txn := r.uvarint(), r.uvarint()
		if err := r.end(); err != nil {
			return fmt.Errorf("dequeue record: %w", err)
		}
		if txn != 0 {
			rs.id(txn)
			rs.pending[txn] = append(rs.pending[txn], pendingOp{id: id})
		} else {
			rs.dequeue(id)
		}
	case recRedeliver:
		id, failures := r.uvarint(), r.uvarint()
		if err := r.end(); err != nil {
			return fmt.Errorf("redeliver record: %w", err)
		}
		if m := rs.msgs[id]; m != nil && failures <= 1<<32-1 {
			m.failures = uint32(failures)
		}
	case recCommit:
		txn := r.uvarint()
		if err := r.end(); err != nil {
			return fmt.Errorf("commit record: %w", err)
		}
		ops := rs.pending[txn]
		for _, op := range ops {
			switch {
			case op.enqueue == nil:
				rs.dequeue(op.id)
			case !rs.removed[op.id]:
				rs.msgs[op.id] = op.enqueue
			}
		}
		for _, op := range ops {
			delete(rs.inTxn, op.id)
			delete(rs.removed, op.id)
		}
		delete(rs.pending, txn)
	case recPosition:
		pos, err := parsePosition(jr.Data)
		if err != nil {
			return fmt.Errorf("position record: %w", err)
		}
		if rs.mark == nil || !pos.Less(rs.mark.pos) {
			rs.mark = &markObj{loc: at, pos: pos, payload: bytes.Clone(jr.Data)}
		}
	default:
		return fmt.Errorf("unknown record type %d", jr.Type)
	}
	return nil
}

// finish resolves what the replay found into what lives, gives it to the
// store (its ids and where each record is, for reclaiming) and returns it
// to restore. s is nil for a check.
func (rs *replay) finish(s *Store) (*Recovered, error) {
	out := &Recovered{DroppedTxns: len(rs.pending)}
	if s != nil {
		s.nextID = rs.maxID
	}
	if m := rs.mark; m != nil {
		out.Position = m.pos
		if s != nil {
			s.mark = m
			s.marked, s.markedSynced = m.pos, m.pos
			s.live(m.loc, false)
		}
	}
	xnames := map[uint64]string{}
	xids := make([]uint64, 0, len(rs.exchanges))
	for id := range rs.exchanges {
		xids = append(xids, id)
	}
	sortIDs(xids)
	for _, id := range xids {
		x := rs.exchanges[id]
		xnames[id] = x.name
		out.Exchanges = append(out.Exchanges, RecoveredExchange{ID: id, Name: x.name, Type: x.kind, Identity: x.identity, Args: x.args})
		if s != nil {
			s.exchanges[id] = &exchangeObj{loc: x.loc, name: x.name, payload: x.payload, bindings: map[uint64]struct{}{}}
			s.live(x.loc, false)
		}
	}
	qids := make([]uint64, 0, len(rs.queues))
	for id := range rs.queues {
		qids = append(qids, id)
	}
	sortIDs(qids)
	index := map[uint64]int{}
	for _, id := range qids {
		q := rs.queues[id]
		index[id] = len(out.Queues)
		out.Queues = append(out.Queues, RecoveredQueue{ID: id, Name: q.name, Identity: q.identity, Args: q.args})
		if s != nil {
			s.queues[id] = &queueObj{loc: q.loc, name: q.name, payload: q.payload, bindings: map[uint64]struct{}{}}
			s.live(q.loc, false)
		}
	}
	bids := make([]uint64, 0, len(rs.bindings))
	for id := range rs.bindings {
		bids = append(bids, id)
	}
	sortIDs(bids)
	for _, id := range bids {
		b := rs.bindings[id]
		q, ok := rs.queues[b.queue]
		name := b.exName
		if b.exchange != 0 {
			name, ok = xnames[b.exchange], ok && xnames[b.exchange] != ""
		}
		if !ok {
			continue // its queue or exchange is gone
		}
		out.Bindings = append(out.Bindings, RecoveredBinding{ID: id, Exchange: name, Queue: q.name, Key: b.key, Args: b.args})
		if s != nil {
			s.bindings[id] = &bindingObj{loc: b.loc, payload: b.payload, exchange: b.exchange, exName: name, queue: b.queue, key: b.key}
			s.queues[b.queue].bindings[id] = struct{}{}
			if xo := s.exchanges[b.exchange]; xo != nil {
				xo.bindings[id] = struct{}{}
			}
			s.live(b.loc, false)
		}
	}
	mids := make([]uint64, 0, len(rs.msgs))
	for id, m := range rs.msgs {
		if _, ok := index[m.queue]; ok {
			mids = append(mids, id)
		}
	}
	// Messages go back in the order of their positions on their queue.
	sort.Slice(mids, func(a, b int) bool {
		ma, mb := rs.msgs[mids[a]], rs.msgs[mids[b]]
		if ma.queue != mb.queue {
			return ma.queue < mb.queue
		}
		return ma.pos < mb.pos
	})
	for _, id := range mids {
		m := rs.msgs[id]
		parsed, err := message.Parse(m.msg)
		if err != nil {
			return nil, fmt.Errorf("message %d of queue %s does not parse: %w", id, rs.queues[m.queue].name, err)
		}
		r := broker.Restored{Msg: parsed, Pos: m.pos, JID: id, Failures: m.failures, ID: m.ha}
		if m.expires != 0 {
			r.Expires = time.Unix(0, m.expires)
		}
		q := &out.Queues[index[m.queue]]
		q.Messages = append(q.Messages, r)
		q.Bytes += int64(len(m.msg))
		if s != nil {
			s.msgs[id] = &msgObj{loc: m.loc, queue: m.queue, failures: m.failures}
			s.live(m.loc, true)
		}
	}
	return out, nil
}

func sortIDs(ids []uint64) { sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] }) }
