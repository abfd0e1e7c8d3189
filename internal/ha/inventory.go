package ha

import (
	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

// A backup's inventory is what it already holds, per replicated queue: the
// queue's identity and the identities of its messages as ranges (messages
// of one epoch are mostly consecutive). The primary sends only what is
// missing and dequeues for what it no longer has: catch-up costs what the
// backup lacks, not the whole queue.

// idRange is an inclusive range of message identities within one epoch.
type idRange struct{ first, last broker.MessageID }

// ranges compresses sorted identities into ranges.
func ranges(ids []broker.MessageID) []idRange {
	var out []idRange
	for _, id := range ids {
		if n := len(out); n > 0 {
			r := &out[n-1]
			if r.last.Epoch == id.Epoch && r.last.Seq+1 == id.Seq {
				r.last = id
				continue
			}
		}
		out = append(out, idRange{id, id})
	}
	return out
}

// queueInventory is what a backup holds of one queue.
type queueInventory struct {
	identity string
	ranges   []idRange
}

func (qi *queueInventory) has(id broker.MessageID) bool {
	if qi == nil {
		return false
	}
	// Ranges are few; a linear scan beats building an index.
	for _, r := range qi.ranges {
		if id.Epoch == r.first.Epoch && id.Seq >= r.first.Seq && id.Seq <= r.last.Seq {
			return true
		}
	}
	return false
}

// missingFrom lists the identities held here but absent from have.
func (qi *queueInventory) missingFrom(have map[broker.MessageID]bool) []broker.MessageID {
	if qi == nil {
		return nil
	}
	var gone []broker.MessageID
	for _, r := range qi.ranges {
		for seq := r.first.Seq; seq <= r.last.Seq; seq++ {
			id := broker.MessageID{Epoch: r.first.Epoch, Seq: seq}
			if !have[id] {
				gone = append(gone, id)
			}
			if seq == r.last.Seq {
				break // seq may be the largest uint64
			}
		}
	}
	return gone
}

// inventory is a backup's whole inventory, as the primary received it.
type inventory struct {
	queues map[string]*queueInventory
	done   bool
}

// forQueue is what the backup holds of q; nothing if its copy is of
// another queue of the same name (it will be replaced).
func (inv *inventory) forQueue(q *broker.Queue) *queueInventory {
	if inv == nil {
		return nil
	}
	qi := inv.queues[q.Name()]
	if qi == nil || qi.identity != q.Identity() {
		return nil
	}
	return qi
}

// inventoryLink receives a backup's inventory on the primary.
type inventoryLink struct {
	p      *primary
	connID string
	inv    *inventory
}

func (p *primary) attachInventory(c *amqpserver.Conn, l *amqp.Link, backupID string) {
	il := &inventoryLink{p: p, connID: c.Info().ID, inv: &inventory{queues: map[string]*queueInventory{}}}
	p.mu.Lock()
	p.inventory[il.connID] = il.inv
	p.mu.Unlock()
	l.Context = il
	l.Target = l.RemoteTarget()
	l.Attach()
	l.Flow(uint32(p.m.cfg.FlowMessages), false)
}

func (il *inventoryLink) OnDelivery(_ *amqpserver.Conn, l *amqp.Link, d *amqp.Delivery) {
	ev, err := UnmarshalEvent(d.Payload())
	if err != nil {
		d.Update(&types.Rejected{Error: types.NewError(types.CondDecodeError, "%v", err)}, true)
		return
	}
	switch ev.Kind {
	case EvInventory:
		qi := &queueInventory{identity: ev.UUID}
		for i := 0; i+1 < len(ev.IDs); i += 2 {
			qi.ranges = append(qi.ranges, idRange{ev.IDs[i], ev.IDs[i+1]})
		}
		il.inv.queues[ev.Name] = qi
	case EvInventoryEnd:
		il.inv.done = true
	}
	d.Update(&types.Accepted{}, true)
	if l.Credit() < uint32(il.p.m.cfg.FlowMessages)/2 {
		l.Flow(uint32(il.p.m.cfg.FlowMessages), false)
	}
}

func (il *inventoryLink) OnFlow(*amqpserver.Conn, *amqp.Link)                        {}
func (il *inventoryLink) OnDisposition(*amqpserver.Conn, *amqp.Link, *amqp.Delivery) {}
func (il *inventoryLink) OnDetach(*amqpserver.Conn, *amqp.Link)                      {}

// inventoryEvents lists a backup's inventory of its replicated queues.
func (m *Module) inventoryEvents() []Event {
	var evs []Event
	for _, q := range m.broker.Queues() {
		if m.queueLevel(q) != broker.ReplicateAll {
			continue
		}
		ev := Event{Kind: EvInventory, Name: q.Name(), UUID: q.Identity()}
		for _, r := range ranges(q.IDs()) {
			ev.IDs = append(ev.IDs, r.first, r.last)
		}
		evs = append(evs, ev)
	}
	return append(evs, Event{Kind: EvInventoryEnd})
}
