package core

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qpidha/qpidha/internal/broker"
)

// Position is a point in the replication stream, and the identity of a
// replicated message: the epoch of the primary that produced it and a
// sequence number within that epoch. Every promotion starts a new epoch, so
// no position is ever reused: catch-up can never skip a message because a
// new primary happened to number it like one the backup already had.
type Position = broker.MessageID

// Membership is the cluster's replicated view of who may take over: the
// primary of an epoch and the ready set, the backups it waits for before
// acknowledging a message. The primary changes it (a backup becomes ready,
// or is dropped) and sends it to every backup in order with the messages,
// so a backup that acknowledged a message also knows the ready set it was
// acknowledged under. Version counts changes within an epoch.
type Membership struct {
	Epoch   uint64   `json:"epoch"`
	Version uint64   `json:"version"`
	Primary string   `json:"primary"`
	Ready   []string `json:"ready"`
}

// Newer reports whether m is a later view than o.
func (m Membership) Newer(o Membership) bool {
	return m.Epoch > o.Epoch || (m.Epoch == o.Epoch && m.Version > o.Version)
}

// IsReady reports whether a broker is in the ready set.
func (m Membership) IsReady(id string) bool { return slices.Contains(m.Ready, id) }

// WithReady returns the next version with id added to the ready set.
func (m Membership) WithReady(id string) Membership {
	if m.IsReady(id) {
		return m
	}
	n := m.Clone()
	n.Version++
	n.Ready = append(n.Ready, id)
	slices.Sort(n.Ready)
	return n
}

// Without returns the next version with id removed from the ready set.
func (m Membership) Without(id string) Membership {
	if !m.IsReady(id) {
		return m
	}
	n := m.Clone()
	n.Version++
	n.Ready = slices.DeleteFunc(n.Ready, func(r string) bool { return r == id })
	return n
}

// Clone returns a copy that shares nothing with m.
func (m Membership) Clone() Membership {
	m.Ready = slices.Clone(m.Ready)
	return m
}

func (m Membership) String() string {
	return fmt.Sprintf("epoch %d v%d primary %s ready [%s]", m.Epoch, m.Version, Short(m.Primary), strings.Join(ShortAll(m.Ready), " "))
}

// Short abbreviates a broker id for logs.
func Short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// ShortAll abbreviates broker ids for logs.
func ShortAll(ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = Short(id)
	}
	return out
}
