package ha

import (
	"errors"
	"fmt"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// ProtocolVersion is the replication protocol this broker speaks. A backup
// and a primary with different versions refuse each other with an error
// that names both versions, on both sides.
const ProtocolVersion = 1

// Nodes on a primary that backups attach to.
const (
	// ReplicateNode streams events to a backup (the backup's receiver).
	ReplicateNode = "$ha-replicate"
	// InventoryNode receives a backup's inventory before catch-up (the
	// backup's sender): the messages it already holds, so the primary sends
	// only what it lacks.
	InventoryNode = "$ha-inventory"
)

// Link properties exchanged on attach.
const (
	PropProtocol   = "qpid.ha-protocol"
	PropBrokerID   = "qpid.ha-broker-id"
	PropEpoch      = "qpid.ha-epoch"
	PropInventory  = "qpid.ha-inventory" // number of inventory events sent
	PropReplicated = "qpid.ha-queue"     // set on a single-queue replication link
)

// Kinds of replication events.
const (
	EvMembership     = "membership"       // Args: the new membership
	EvQueueDeclare   = "queue-declare"    // Name, UUID, Args (settings)
	EvQueueDelete    = "queue-delete"     // Name, UUID
	EvExchange       = "exchange-declare" // Name, UUID, Type, Args
	EvExchangeDelete = "exchange-delete"  // Name, UUID
	EvBind           = "bind"             // Exchange, Name (queue), Key, Args
	EvUnbind         = "unbind"           // Exchange, Name (queue), Key
	EvEnqueue        = "enqueue"          // Name (queue), IDs[0], Message
	EvDequeue        = "dequeue"          // Name (queue), IDs
	EvCaughtUp       = "caught-up"        // the snapshot is complete: acknowledge to become ready
	EvInventory      = "inventory"        // backup -> primary: Name, UUID, IDs held (ranges)
	EvInventoryEnd   = "inventory-end"    // backup -> primary: no more inventory
	EvTxCommit       = "tx-commit"        // Txn: apply the events tagged with it, all together
)

// eventDescriptor identifies replication events in an amqp-value section.
const eventDescriptor types.Symbol = "qpidha:ha-event:list"

// Event is one replication event.
type Event struct {
	Kind     string
	Name     string // queue or exchange
	UUID     string // the object's identity: recreated objects differ
	Exchange string // bind/unbind
	Key      string // bind/unbind
	Type     string // exchange type
	Args     types.Map
	// IDs are message identifiers; for an inventory they come in pairs
	// (first, last) of inclusive ranges.
	IDs     []Position
	Message []byte // enqueue: the encoded message
	// Seq is the primary's position when the event happened: a backup that
	// applied it holds the primary's state up to (epoch, Seq).
	Seq uint64
	// Txn tags the enqueues and dequeues of a committing transaction: a
	// backup holds them until the transaction's tx-commit and applies them
	// together, or drops them if the stream ends first.
	Txn string
}

// Marshal encodes the event as a whole AMQP message (an amqp-value section
// holding a described list), ready to be sent as a transfer payload.
func (ev *Event) Marshal(b []byte) ([]byte, error) {
	b = types.AppendDescriptor(b, types.DescriptorAMQPValue)
	b = append(b, 0x00)
	b = types.AppendSymbol(b, eventDescriptor)
	b, start := types.BeginCompound(b)
	b = types.AppendSymbol(b, types.Symbol(ev.Kind))
	b = types.AppendString(b, ev.Name)
	b = types.AppendString(b, ev.UUID)
	b = types.AppendString(b, ev.Exchange)
	b = types.AppendString(b, ev.Key)
	b = types.AppendString(b, ev.Type)
	var err error
	if ev.Args != nil {
		if b, err = types.AppendValue(b, ev.Args); err != nil {
			return b, err
		}
	} else {
		b = types.AppendNull(b)
	}
	ids := make([]any, 0, 2*len(ev.IDs))
	for _, p := range ev.IDs {
		ids = append(ids, p.Epoch, p.Seq)
	}
	if b, err = types.AppendArray(b, types.Array{Type: types.TypeUlong, Items: ids}); err != nil {
		return b, err
	}
	if ev.Message != nil {
		b = types.AppendBinary(b, ev.Message)
	} else {
		b = types.AppendNull(b)
	}
	b = types.AppendUlong(b, ev.Seq)
	b = types.AppendString(b, ev.Txn)
	return types.EndList(b, start, 11), nil
}

// ErrNotEvent is returned for a message that is not a replication event.
var ErrNotEvent = errors.New("not a replication event")

// UnmarshalEvent decodes a transfer payload made by Marshal.
func UnmarshalEvent(payload []byte) (*Event, error) {
	d := types.NewDecoder(payload)
	code, err := d.ReadDescriptor()
	if err != nil || code != types.DescriptorAMQPValue {
		return nil, ErrNotEvent
	}
	v, err := d.Value()
	if err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	desc, ok := v.(types.Described)
	if !ok || desc.Descriptor != eventDescriptor {
		return nil, ErrNotEvent
	}
	f, ok := desc.Value.([]any)
	if !ok || len(f) < 11 {
		return nil, fmt.Errorf("replication event: %d fields, want 11", len(f))
	}
	ev := &Event{}
	str := func(i int) string {
		switch s := f[i].(type) {
		case string:
			return s
		case types.Symbol:
			return string(s)
		}
		return ""
	}
	ev.Kind, ev.Name, ev.UUID, ev.Exchange, ev.Key, ev.Type = str(0), str(1), str(2), str(3), str(4), str(5)
	ev.Args, _ = f[6].(types.Map)
	if arr, ok := f[7].(types.Array); ok {
		if len(arr.Items)%2 != 0 {
			return nil, errors.New("replication event: odd number of id fields")
		}
		for i := 0; i < len(arr.Items); i += 2 {
			e, ok1 := arr.Items[i].(uint64)
			s, ok2 := arr.Items[i+1].(uint64)
			if !ok1 || !ok2 {
				return nil, errors.New("replication event: ids must be ulongs")
			}
			ev.IDs = append(ev.IDs, Position{Epoch: e, Seq: s})
		}
	}
	ev.Message, _ = f[8].([]byte)
	ev.Seq, _ = f[9].(uint64)
	ev.Txn = str(10)
	return ev, nil
}
