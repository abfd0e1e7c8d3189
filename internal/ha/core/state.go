package core

import (
	"fmt"
	"strings"
)

// State is a broker's HA state (the original's BrokerStatus).
type State uint8

const (
	Standalone State = iota // not in a cluster
	Joining                 // started, no primary found yet
	CatchUp                 // connected to the primary, downloading its state
	Ready                   // a hot backup: may be promoted
	Recovering              // a new primary waiting for the old primary's backups
	Active                  // the primary, all expected backups caught up
)

var stateNames = [...]string{"standalone", "joining", "catchup", "ready", "recovering", "active"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// ParseState reads a state name, also the aliases qpid-ha --expect accepts:
// "primary" (active or recovering) and "backup" (joining, catchup, ready)
// are not states and are rejected here; see Matches.
func ParseState(s string) (State, bool) {
	for i, n := range stateNames {
		if strings.EqualFold(n, s) {
			return State(i), true
		}
	}
	return 0, false
}

// Matches reports whether a state satisfies an expectation: a state name,
// or "primary" (active|recovering) or "backup" (joining|catchup|ready), the
// aliases the original's manual promised but never accepted (QPID-4600).
func (s State) Matches(expect string) bool {
	switch strings.ToLower(expect) {
	case "primary":
		return s.IsPrimary()
	case "backup":
		return s == Joining || s == CatchUp || s == Ready
	}
	want, ok := ParseState(expect)
	return ok && want == s
}

// IsPrimary reports whether the broker serves clients as the primary.
func (s State) IsPrimary() bool { return s == Active || s == Recovering }

// legal lists the only transitions a broker may make; nothing leaves
// recovering or active but a restart, which starts over as joining.
var legal = map[State][]State{
	Standalone: {Joining},
	Joining:    {CatchUp, Recovering},
	CatchUp:    {Ready},
	Ready:      {Recovering, CatchUp},
	Recovering: {Active},
}

// CanMove reports whether from -> to is a legal transition.
func CanMove(from, to State) bool {
	for _, s := range legal[from] {
		if s == to {
			return true
		}
	}
	return false
}

// ErrIllegalTransition is a bug: the role machine never asks for one.
type ErrIllegalTransition struct{ From, To State }

func (e ErrIllegalTransition) Error() string {
	return fmt.Sprintf("illegal HA state transition %s -> %s", e.From, e.To)
}
