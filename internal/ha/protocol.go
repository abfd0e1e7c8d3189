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
	var one [2]uint64 // most events name one message
	ids := one[:0]
	for _, p := range ev.IDs {
		ids = append(ids, p.Epoch, p.Seq)
	}
	b = types.AppendUlongs(b, ids)
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

// UnmarshalEvent decodes a transfer payload made by Marshal. A backup
// decodes one per replicated message, so the fields are read one by one
// rather than as generic values (which cost an allocation each), and the
// event's Message is a slice of payload, not a copy: payload must not
// change while the event or the message is in use (a delivery's payload
// is its own).
func UnmarshalEvent(payload []byte) (*Event, error) {
	d := types.NewDecoder(payload)
	code, err := d.ReadDescriptor()
	if err != nil || code != types.DescriptorAMQPValue {
		return nil, ErrNotEvent
	}
	if c, err := d.PeekCode(); err != nil || c != 0x00 {
		return nil, ErrNotEvent
	}
	d.Seek(d.Offset() + 1)
	if desc, _, err := d.ReadSymbol(); err != nil || desc != eventDescriptor {
		return nil, ErrNotEvent
	}
	n, end, err := d.ReadList()
	if err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	if n < 11 {
		return nil, fmt.Errorf("replication event: %d fields, want 11", n)
	}
	ev := &Event{}
	for _, f := range []*string{&ev.Kind, &ev.Name, &ev.UUID, &ev.Exchange, &ev.Key, &ev.Type} {
		if *f, err = readText(d); err != nil {
			return nil, fmt.Errorf("replication event: %w", err)
		}
	}
	args, err := d.Value()
	if err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	ev.Args, _ = args.(types.Map)
	var ids [2]uint64 // most events name one message
	list, _, err := d.ReadUlongs(ids[:0])
	if err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	if len(list)%2 != 0 {
		return nil, errors.New("replication event: odd number of id fields")
	}
	if len(list) > 0 {
		ev.IDs = make([]Position, 0, len(list)/2)
	}
	for i := 0; i < len(list); i += 2 {
		ev.IDs = append(ev.IDs, Position{Epoch: list[i], Seq: list[i+1]})
	}
	if ev.Message, _, err = d.ReadBinaryInPlace(); err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	if ev.Seq, _, err = d.ReadUlong(); err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	if ev.Txn, err = readText(d); err != nil {
		return nil, fmt.Errorf("replication event: %w", err)
	}
	if d.Offset() > end {
		return nil, errors.New("replication event: fields run past the end of its list")
	}
	d.Seek(end) // fields a later version may add
	return ev, nil
}

// readText reads a string or symbol field; null is "".
func readText(d *types.Decoder) (string, error) {
	c, err := d.PeekCode()
	if err != nil {
		return "", err
	}
	if c == types.CodeSymbolSym8 || c == types.CodeSymbolSym32 {
		s, _, err := d.ReadSymbol()
		return string(s), err
	}
	s, _, err := d.ReadString()
	return s, err
}
