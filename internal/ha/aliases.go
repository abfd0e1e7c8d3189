package ha

import (
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha/core"
)

// The role machine's types live in package core; these names keep the
// module's API as it was.
type (
	State                = core.State
	Membership           = core.Membership
	Position             = core.Position
	ErrIllegalTransition = core.ErrIllegalTransition
	PeerStatus           = core.PeerStatus
)

// The states.
const (
	Standalone = core.Standalone
	Joining    = core.Joining
	CatchUp    = core.CatchUp
	Ready      = core.Ready
	Recovering = core.Recovering
	Active     = core.Active
)

// ParseState reads a state name (see core.ParseState).
func ParseState(s string) (State, bool) { return core.ParseState(s) }

// CanMove reports whether from -> to is a legal transition.
func CanMove(from, to State) bool { return core.CanMove(from, to) }

func short(id string) string         { return core.Short(id) }
func shortAll(ids []string) []string { return core.ShortAll(ids) }

// ParsePosition reads a position as Position.String writes it.
func ParsePosition(s string) (Position, error) { return broker.ParseMessageID(s) }
