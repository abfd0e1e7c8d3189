package checker

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ID names a message: its sender's number and its sequence number.
type ID struct{ Sender, Seq int }

func (id ID) String() string { return fmt.Sprintf("%d:%d", id.Sender, id.Seq) }

func compareIDs(a, b ID) int {
	return cmp.Or(cmp.Compare(a.Sender, b.Sender), cmp.Compare(a.Seq, b.Seq))
}

// maxNotes caps the notes (errors, unexpected output) a tracker keeps.
const maxNotes = 50

// Tracker records what happened to every message. It is safe for
// concurrent use.
type Tracker struct {
	mu          sync.Mutex
	confirmed   map[ID]int
	received    map[ID]int
	issued      map[int]int // sender -> highest sequence number issued
	retries     int
	foreign     int
	disconnects map[string]int // role -> connections lost
	lastReceive time.Time
	notes       []string
	dropped     int // notes beyond maxNotes
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{
		confirmed:   map[ID]int{},
		received:    map[ID]int{},
		issued:      map[int]int{},
		disconnects: map[string]int{},
	}
}

// Confirmed records that the broker accepted a message.
func (t *Tracker) Confirmed(id ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.confirmed[id]++
	t.issue(id)
}

// Received records that a receiver got a message (before accepting it).
func (t *Tracker) Received(id ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.received[id]++
	t.lastReceive = time.Now()
}

// Foreign records a received message that is not one of the checker's.
func (t *Tracker) Foreign() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.foreign++
	t.lastReceive = time.Now()
}

// Retry records that a sender will send a message again.
func (t *Tracker) Retry(id ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retries++
	t.issue(id)
}

// Issued records that a sender gave out sequence numbers 1..n.
func (t *Tracker) Issued(sender, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.issue(ID{sender, n})
}

func (t *Tracker) issue(id ID) {
	if id.Seq > t.issued[id.Sender] {
		t.issued[id.Sender] = id.Seq
	}
}

// Disconnected records a lost connection of a client ("sender" or
// "receiver").
func (t *Tracker) Disconnected(role string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.disconnects[role]++
}

// Note keeps a remark for the report (errors, unexpected client output).
func (t *Tracker) Note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.notes) >= maxNotes {
		t.dropped++
		return
	}
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// Progress returns how many distinct messages were confirmed and received.
func (t *Tracker) Progress() (confirmed, received int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.confirmed), len(t.received)
}

// Missing is how many confirmed messages were not received yet.
func (t *Tracker) Missing() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for id := range t.confirmed {
		if t.received[id] == 0 {
			n++
		}
	}
	return n
}

// LastReceive is when a receiver last got a message (zero if never).
func (t *Tracker) LastReceive() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastReceive
}

// Counts is the outcome for the messages, with lists of ids capped at a
// limit each.
type Counts struct {
	Issued              int      `json:"issued"`
	Confirmed           int      `json:"confirmed"`
	Unconfirmed         int      `json:"unconfirmed"`
	Received            int      `json:"received"`
	Deliveries          int      `json:"deliveries"`
	Lost                int      `json:"lost"`
	LostIDs             []string `json:"lost_ids,omitempty"`
	Duplicates          int      `json:"duplicates"`
	DuplicateDeliveries int      `json:"duplicate_deliveries"`
	DuplicateIDs        []string `json:"duplicate_ids,omitempty"`
	ReceivedUnconfirmed int      `json:"received_unconfirmed"`
	Unexpected          int      `json:"unexpected"`
	UnexpectedIDs       []string `json:"unexpected_ids,omitempty"`
	Foreign             int      `json:"foreign"`
	Retries             int      `json:"retries"`
	SenderDisconnects   int      `json:"sender_disconnects"`
	ReceiverDisconnects int      `json:"receiver_disconnects"`
	Notes               []string `json:"notes,omitempty"`
}

// Counts computes the outcome so far; limit caps each list of ids.
//
// Unexpected messages are received ones that no sender ever issued: a
// checker bug, or another run's messages left on the queue.
func (t *Tracker) Counts(limit int) Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	var c Counts
	for _, n := range t.issued {
		c.Issued += n
	}
	c.Confirmed = len(t.confirmed)
	c.Unconfirmed = c.Issued - c.Confirmed
	c.Received = len(t.received)
	var lost, dup, unexpected []ID
	for id := range t.confirmed {
		if t.received[id] == 0 {
			lost = append(lost, id)
		}
	}
	for id, n := range t.received {
		c.Deliveries += n
		if n > 1 {
			dup = append(dup, id)
			c.DuplicateDeliveries += n - 1
		}
		if t.confirmed[id] == 0 {
			if id.Seq >= 1 && id.Seq <= t.issued[id.Sender] {
				c.ReceivedUnconfirmed++
			} else {
				unexpected = append(unexpected, id)
			}
		}
	}
	c.Lost, c.LostIDs = len(lost), capIDs(lost, limit)
	c.Duplicates, c.DuplicateIDs = len(dup), capIDs(dup, limit)
	c.Unexpected, c.UnexpectedIDs = len(unexpected), capIDs(unexpected, limit)
	c.Foreign = t.foreign
	c.Retries = t.retries
	c.SenderDisconnects = t.disconnects["sender"]
	c.ReceiverDisconnects = t.disconnects["receiver"]
	c.Notes = slices.Clone(t.notes)
	if t.dropped > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("(%d more notes dropped)", t.dropped))
	}
	return c
}

// capIDs sorts ids and renders the first limit of them.
func capIDs(ids []ID, limit int) []string {
	slices.SortFunc(ids, compareIDs)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	var s []string
	for _, id := range ids {
		s = append(s, id.String())
	}
	return s
}
