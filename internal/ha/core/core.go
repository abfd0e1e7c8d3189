// Package core is the HA module's logic as a state machine with no IO, in
// the style of etcd's raft and of our AMQP engine: a broker's role and its
// legal transitions, the membership and its ready set with epochs, the
// promotion rules, a primary's guard parties (who every message must wait
// for) and the order in which a lost backup is dropped and its messages
// released, recovering and its timeout, and what a primary does after its
// process was frozen. Time enters only through Tick.
//
// The driver (package ha) calls one method per event, serialized (Core is
// not safe for concurrent use), and after each call takes what to do with
// Actions: persist first, then send the memberships, release parties from
// held messages, ask the peers, stop the broker. Messages and their holds
// stay in the broker; the core only says which parties they wait for.
package core

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"
)

// Config configures a core.
type Config struct {
	ID                  string        // this broker's identity
	Cluster             bool          // ha-cluster: a member starts joining
	HeartbeatInterval   time.Duration // link-heartbeat-interval
	MaintenanceInterval time.Duration // link-maintenance-interval
	BackupTimeout       time.Duration // ha-backup-timeout
	LagTimeout          time.Duration // ha-backup-lag-timeout (0: no bound)
	MinReadyBackups     int           // ha-min-ready-backups
	// Peers is how many other brokers the cluster has (ha-brokers-url):
	// with none, a new primary's epoch needs nobody to know it.
	Peers int
}

// Saved is what a broker persists: the highest epoch it has seen (a
// promotion goes beyond it) and the newest membership it knows.
type Saved struct {
	Epoch      uint64
	Membership Membership
}

// PeerStatus is what a status check learned of another broker.
type PeerStatus struct {
	Address    string
	Reachable  bool
	State      State
	BrokerID   string
	Membership Membership
	Position   Position // what it holds (a joining broker: what its store recovered)
}

// StreamID names a backup's replication stream, as the driver numbers them.
type StreamID uint64

// BarrierID names a membership every stream must acknowledge before
// parties are released (see Cast).
type BarrierID uint64

// Errors of promotion, with the reasons the original gave, and of streams.
var (
	ErrCatchingUp   = errors.New("Still catching up, cannot be promoted")
	ErrJoining      = errors.New("Joining active cluster, cannot be promoted")
	ErrPrimaryExist = errors.New("another broker is already primary")
	ErrNotReady     = errors.New("not in the current ready set: another backup took over while this one was away")
	// ErrBehind refuses the first primary of a restarted cluster when a
	// reachable peer that may lead holds more.
	ErrBehind     = errors.New("a peer holds more of what the cluster acknowledged: promote it instead")
	ErrNotCluster = errors.New("not a member of a cluster (ha-cluster=no)")
	ErrNotPrimary = errors.New("this broker is not the primary")
	// ErrStale refuses a primary of an older epoch than the one known,
	// or another primary of the same epoch.
	ErrStale = errors.New("stale primary: an older epoch than this broker knows")
)

// A process that did not run for freezeGap was frozen (SIGSTOP, a paused
// VM); for a while after, a primary checks its peers before it drops a
// backup (see BackupLost).
const freezeGap = time.Second

// Core is one broker's HA logic.
type Core struct {
	cfg      Config
	state    State
	saved    Saved
	now      time.Duration
	lastTick time.Duration
	ticked   bool
	frozenAt time.Duration // when the process last woke from a freeze
	frozen   bool          // ... if it ever did
	stopping bool

	// A backup's: whether it applied the snapshot of the primary it
	// follows.
	caughtUp bool
	// position is what this broker holds (SetPosition).
	position Position

	p       *primaryRole
	barrier BarrierID
	out     Actions
}

// primaryRole is a primary's guard: parties are bits of a mask, one per
// backup stream, one per backup expected back after a failover, one for
// ha-min-ready-backups while too few backups are ready. A message waits
// for the parties of the streams subscribed to its queue (the driver's
// masks) and for held.
type primaryRole struct {
	epoch    uint64
	streams  map[StreamID]*streamState
	expected map[string]uint64 // recovering: backup id -> its party
	used     uint64            // parties in use
	held     uint64            // parties every new message waits for
	minBit   uint64
	minHeld  bool
	// unknownBit holds every message until a backup has learned this
	// primary's epoch (see EpochKnown).
	unknownBit uint64
	deadline   time.Duration // recovering gives up on the expected backups then; 0: none
	barriers   map[BarrierID]uint64
	parked     []lostStream // lost just after a freeze: dropped once the peers say no newer primary exists
	// ha-backup-timeout passed during a freeze: expire once the peers say
	// no newer primary exists.
	expireParked bool
	checking     bool // a status check of the peers is out
	nextCheck    time.Duration
	cluster      bool // false: a standalone broker serving queue replicas
}

type streamState struct {
	backup string
	bit    uint64
	caught bool // it acknowledged its snapshot: its backup is ready
	cut    bool // its acknowledgements lagged: the driver was told to end it
}

type lostStream struct {
	streamState
	reason string
}

// New returns a core that starts from what the broker saved: standalone,
// or joining for a cluster member.
func New(cfg Config, saved Saved) *Core {
	c := &Core{cfg: cfg, saved: saved}
	c.saved.Membership = saved.Membership.Clone()
	if cfg.Cluster {
		c.state = Joining
		c.out.Transitions = append(c.out.Transitions, Transition{From: Standalone, To: Joining, Epoch: c.saved.Membership.Epoch})
	}
	return c
}

// Actions are what the driver must do after an event, in this order:
// persist, then send the casts, release the parties (and tell Released),
// ask the peers (and tell PeersChecked), stop the broker.
type Actions struct {
	Transitions []Transition
	// Persist, if set, must be on disk before anything else happens.
	Persist *Saved
	// Casts are memberships to send, in order, each to the streams named.
	Casts []Cast
	// Release is parties to release from every held message; the driver
	// then calls Released with them (their bits are reused only after).
	Release uint64
	// CheckPeers asks for every peer's status (answer: PeersChecked).
	CheckPeers bool
	// Disconnect are streams to end, as if their backups had gone: the
	// driver closes their connections with the reason and tells
	// BackupLost.
	Disconnect []Disconnect
	// Exit stops the broker: why (a stale primary, an illegal transition).
	Exit string
	Log  []Log
}

// Disconnect is a stream to end, and why.
type Disconnect struct {
	Stream StreamID
	Reason string
}

// Transition is a change of state.
type Transition struct {
	From, To State
	Epoch    uint64
}

// Cast is a membership for streams: each stream sends it in order with
// the messages; with a Barrier, the driver calls BarrierDone once every
// stream of Pending (their parties) acknowledged it.
type Cast struct {
	Membership Membership
	To         []StreamID
	Barrier    BarrierID
	Pending    uint64
}

// Log is a line for the broker's log.
type Log struct {
	Level  Level
	Msg    string
	Fields map[string]any
}

// Level of a log line.
type Level uint8

// Log levels.
const (
	Info Level = iota
	Warn
	Error
)

// Actions takes what was produced since the last call.
func (c *Core) Actions() Actions {
	a := c.out
	c.out = Actions{}
	return a
}

func (c *Core) log(l Level, msg string, kv ...any) {
	var f map[string]any
	if len(kv) > 0 {
		f = map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			f[fmt.Sprint(kv[i])] = kv[i+1]
		}
	}
	c.out.Log = append(c.out.Log, Log{Level: l, Msg: msg, Fields: f})
}

// State is the broker's state.
func (c *Core) State() State { return c.state }

// Membership is the newest membership the broker knows.
func (c *Core) Membership() Membership { return c.saved.Membership.Clone() }

// Saved is what the broker would persist now.
func (c *Core) Saved() Saved {
	s := c.saved
	s.Membership = s.Membership.Clone()
	return s
}

// Primary reports whether the broker is a primary (or serves queue
// replicas as a standalone broker), and its epoch.
func (c *Core) Primary() (epoch uint64, ok bool) {
	if c.p == nil {
		return 0, false
	}
	return c.p.epoch, true
}

// HoldMask is the parties every new message waits for besides the streams
// subscribed to its queue.
func (c *Core) HoldMask() uint64 {
	if c.p == nil {
		return 0
	}
	return c.p.held
}

// MinReadyHeld is the min-ready party while it holds messages, else 0.
func (c *Core) MinReadyHeld() uint64 {
	if c.p == nil || !c.p.minHeld {
		return 0
	}
	return c.p.minBit
}

// StreamBits is the parties of the streams; with ready, only those whose
// backup is in the ready set.
func (c *Core) StreamBits(ready bool) uint64 {
	if c.p == nil {
		return 0
	}
	var m uint64
	for _, s := range c.p.streams {
		if !ready || c.saved.Membership.IsReady(s.backup) {
			m |= s.bit
		}
	}
	return m
}

// Expecting reports whether a recovering primary still waits for backups
// of the old primary.
func (c *Core) Expecting() bool { return c.p != nil && len(c.p.expected) > 0 }

// Tick tells the core the time (any origin, never going back). The driver
// ticks often (every 100 ms) and right before every other event: a gap of
// more than a second means the process was frozen.
func (c *Core) Tick(now time.Duration) {
	if now < c.now {
		now = c.now
	}
	if c.ticked && now-c.lastTick > freezeGap {
		c.frozenAt, c.frozen = now, true
	}
	c.now, c.lastTick, c.ticked = now, now, true
	p := c.p
	if p == nil {
		return
	}
	if p.deadline != 0 && now >= p.deadline {
		p.deadline = 0
		if c.frozeRecently() {
			// The timeout passed while this primary was frozen: another
			// may have been promoted meanwhile. Give up on the backups (and
			// serve alone) only once the peers say otherwise.
			p.expireParked = true
			c.askPeers()
		} else {
			c.expire()
		}
	}
	if p.cluster && now >= p.nextCheck {
		c.askPeers()
	}
}

// frozeRecently: the process woke from a freeze less than two heartbeats
// ago (two seconds at least).
func (c *Core) frozeRecently() bool {
	return c.frozen && c.now-c.frozenAt < max(2*c.cfg.HeartbeatInterval, 2*freezeGap)
}

// checkPeriod is how often a primary asks its peers whether a newer
// primary exists.
func (c *Core) checkPeriod() time.Duration { return max(2*c.cfg.MaintenanceInterval, time.Second) }

// move changes state. An illegal transition is a bug: it is refused and
// the broker stops.
func (c *Core) move(to State) error {
	from := c.state
	if from == to {
		return nil
	}
	if !CanMove(from, to) {
		err := ErrIllegalTransition{from, to}
		c.log(Error, "illegal HA state transition (a bug): stopping the broker", "error", err.Error())
		c.out.Exit = err.Error()
		return err
	}
	c.state = to
	c.out.Transitions = append(c.out.Transitions, Transition{From: from, To: to, Epoch: c.saved.Membership.Epoch})
	return nil
}

// moveFrom changes state only from one of the states given.
func (c *Core) moveFrom(to State, from ...State) {
	if slices.Contains(from, c.state) {
		_ = c.move(to)
	}
}

func (c *Core) persist() {
	s := c.Saved()
	c.out.Persist = &s
}

// adopt makes ms the known membership if it is newer.
func (c *Core) adopt(ms Membership) bool {
	if !ms.Newer(c.saved.Membership) {
		return false
	}
	c.saved.Membership = ms.Clone()
	c.saved.Epoch = max(c.saved.Epoch, ms.Epoch)
	c.persist()
	return true
}

// CanPromote applies the promotion rules to this broker's state and what a
// status check found of its peers (unreachable or hung peers are ignored,
// as the original did):
//   - a primary (active or recovering) is promoted already;
//   - catchup never;
//   - ready, unless a reachable peer is active or recovering, and only if
//     this broker is in the newest ready set it knows of, its own or a
//     peer's: a backup dropped while it was away must not take over;
//   - joining, only when every reachable peer is joining too (the first
//     primary of a new or restarted cluster), and then only the primary
//     or a ready backup of the newest membership they persisted that
//     holds no less than any reachable one of those (firstOfRestart).
func (c *Core) CanPromote(peers []PeerStatus) error {
	switch c.state {
	case Standalone:
		return ErrNotCluster
	case Active, Recovering:
		return nil
	case CatchUp:
		return ErrCatchingUp
	}
	for _, p := range peers {
		if p.Reachable && p.State.IsPrimary() {
			return fmt.Errorf("%w: %s is %s", ErrPrimaryExist, p.Address, p.State)
		}
	}
	newest := c.saved.Membership
	for _, p := range peers {
		if p.Reachable && p.Membership.Newer(newest) {
			newest = p.Membership
		}
	}
	if c.state == Joining {
		for _, p := range peers {
			if p.Reachable && p.State != Joining {
				return fmt.Errorf("%w (%s is %s)", ErrJoining, p.Address, p.State)
			}
		}
		return c.firstOfRestart(newest, peers)
	}
	if newest.Epoch > 0 && !newest.IsReady(c.cfg.ID) {
		return fmt.Errorf("%w (%s)", ErrNotReady, newest)
	}
	return nil
}

// firstOfRestart applies the rules of a cluster's first primary, every
// reachable broker joining: with nothing persisted anywhere (a new
// cluster) any broker may lead. Otherwise only the primary or a ready
// backup of the newest membership any of them persisted, since only those
// are known to hold every message the cluster acknowledged (on disk, with
// a store), and among those none that holds less than a reachable one.
// Unreachable peers are ignored, as everywhere: the cluster manager waits
// for every node before its first start.
func (c *Core) firstOfRestart(newest Membership, peers []PeerStatus) error {
	if newest.Epoch == 0 {
		return nil
	}
	leads := func(id string) bool { return id == newest.Primary || newest.IsReady(id) }
	if !leads(c.cfg.ID) {
		return fmt.Errorf("%w (%s)", ErrNotReady, newest)
	}
	for _, p := range peers {
		if p.Reachable && p.BrokerID != "" && leads(p.BrokerID) && c.position.Less(p.Position) {
			return fmt.Errorf("%w (%s holds %s, this broker %s)", ErrBehind, p.Address, p.Position, c.position)
		}
	}
	return nil
}

// SetPosition tells the core what this broker holds: the replication
// position its store recovered or reached (a joining broker's promotion
// compares it with its peers').
func (c *Core) SetPosition(pos Position) { c.position = pos }

// Promote makes this broker the primary of a new epoch, beyond every epoch
// it or its peers know, if the rules allow (CanPromote). A ready backup's
// new primary waits for the old primary's backups (recovering) until they
// catch up or ha-backup-timeout passes; the new epoch is persisted first.
func (c *Core) Promote(peers []PeerStatus) error {
	if err := c.CanPromote(peers); err != nil {
		return err
	}
	if c.p != nil {
		return nil
	}
	epoch := max(c.saved.Epoch, c.saved.Membership.Epoch)
	for _, p := range peers {
		epoch = max(epoch, p.Membership.Epoch)
	}
	epoch++
	var expected []string
	if c.state == Ready {
		expected = c.saved.Membership.Ready // the old primary's backups: hold for them
	}
	p := c.newPrimary(epoch, true)
	if c.cfg.Peers > 0 {
		// A promotion nobody learned of could be made again with the same
		// epoch (this broker cut off, fenced, another promoted): nothing
		// is acknowledged in an epoch until a backup knows it.
		p.unknownBit = p.alloc()
		p.held |= p.unknownBit
	}
	for _, id := range expected {
		if id == c.cfg.ID {
			continue
		}
		bit := p.alloc()
		p.expected[id] = bit
		p.held |= bit
	}
	c.saved.Epoch = epoch
	c.saved.Membership = Membership{Epoch: epoch, Version: 1, Primary: c.cfg.ID}
	c.persist()
	c.caughtUp = false
	if err := c.move(Recovering); err != nil {
		return err
	}
	if len(p.expected) > 0 || p.unknownBit != 0 {
		p.deadline = c.now + c.cfg.BackupTimeout
	}
	if len(p.expected) > 0 {
		c.log(Info, "recovering: holding acknowledgements until the old primary's backups catch up", "backups", ShortAll(expected))
	}
	c.checkRecovered()
	return nil
}

// StartSource makes a standalone broker the source of queue replicas: its
// message identities take a new epoch at every start, never reused.
func (c *Core) StartSource() uint64 {
	if c.p != nil {
		return c.p.epoch
	}
	c.saved.Epoch++
	c.newPrimary(c.saved.Epoch, false)
	c.persist()
	return c.saved.Epoch
}

func (c *Core) newPrimary(epoch uint64, cluster bool) *primaryRole {
	p := &primaryRole{
		epoch:     epoch,
		streams:   map[StreamID]*streamState{},
		expected:  map[string]uint64{},
		barriers:  map[BarrierID]uint64{},
		cluster:   cluster,
		nextCheck: c.now + c.checkPeriod(),
	}
	if cluster && c.cfg.MinReadyBackups > 0 {
		p.minBit = p.alloc()
		p.held |= p.minBit
		p.minHeld = true
	}
	c.p = p
	return p
}

// alloc takes an unused party (0 when all 64 are in use: the extra ones
// are not guarded).
func (p *primaryRole) alloc() uint64 {
	free := ^p.used
	if free == 0 {
		return 0
	}
	bit := free & -free
	p.used |= bit
	return bit
}

// checkRecovered makes a recovering primary active once no expected
// backup is awaited.
func (c *Core) checkRecovered() {
	if c.state == Recovering && c.p != nil && len(c.p.expected) == 0 {
		_ = c.move(Active)
	}
}

// Stopping says the broker is shutting down: a backup disconnecting then is
// no reason to shrink the ready set (it holds everything acknowledged, and
// one of them must be promotable next).
func (c *Core) Stopping() { c.stopping = true }

// The backup's side.

// Subscribed: primary, of epoch, accepted this backup's subscription. One
// of an older epoch than this broker knows is a stale primary, refused. So
// is another primary of the known epoch: two primaries share an epoch only
// when one was promoted and cut off before any backup learned of it, and
// another was promoted in its place without fencing it (the one a backup
// followed first keeps the epoch; the other never acknowledges anything,
// see EpochKnown, and stops when it sees its rival, see PeersChecked). A
// broker that was itself the primary of the known epoch, restarted, is
// past its reign: it follows.
func (c *Core) Subscribed(epoch uint64, primary string) error {
	known := c.saved.Membership
	if epoch < known.Epoch {
		c.log(Error, "refusing a primary of an older epoch", "primary-epoch", epoch, "known-epoch", known.Epoch)
		return fmt.Errorf("%w: its epoch %d, this broker's %d", ErrStale, epoch, known.Epoch)
	}
	if epoch == known.Epoch && known.Primary != "" && primary != known.Primary && known.Primary != c.cfg.ID {
		c.log(Error, "refusing a second primary of the same epoch", "primary", Short(primary), "epoch", epoch, "epoch-primary", Short(known.Primary))
		return fmt.Errorf("%w: epoch %d belongs to %s, not %s", ErrStale, epoch, Short(known.Primary), Short(primary))
	}
	c.caughtUp = false
	c.moveFrom(CatchUp, Joining, Ready)
	return nil
}

// CaughtUp: the backup applied the primary's snapshot.
func (c *Core) CaughtUp() {
	c.caughtUp = true
	c.maybeReady()
}

// Learn: the primary sent a membership.
func (c *Core) Learn(ms Membership) {
	c.adopt(ms)
	c.maybeReady()
}

// PrimaryLost: the connection to the primary ended. A ready backup stays
// ready (and promotable) until it follows another primary.
func (c *Core) PrimaryLost() { c.caughtUp = false }

// maybeReady: a backup is ready once it has caught up and the primary has
// put it in the ready set (which follows its acknowledgement of the
// snapshot).
func (c *Core) maybeReady() {
	if c.caughtUp && c.saved.Membership.IsReady(c.cfg.ID) {
		c.moveFrom(Ready, CatchUp)
	}
}

// The primary's side.

// BackupSubscribed: backup's replication stream s was accepted. Its party
// is the one it was expected with, else a new one. Streams of the same
// backup still open are returned: the driver ends them, and tells
// BackupLost for each (once they no longer take messages). A backup that
// knows a newer epoch reveals this primary as stale: the broker stops.
func (c *Core) BackupSubscribed(s StreamID, backup string, epoch uint64) (bit uint64, replaced []StreamID, err error) {
	p := c.p
	if p == nil {
		return 0, nil, ErrNotPrimary
	}
	if epoch > p.epoch {
		c.stale(epoch)
		return 0, nil, fmt.Errorf("%w: this primary's epoch %d is older than the backup's %d", ErrStale, p.epoch, epoch)
	}
	for id, old := range p.streams {
		if old.backup == backup {
			replaced = append(replaced, id)
		}
	}
	slices.Sort(replaced)
	bit = p.expected[backup]
	if bit == 0 {
		bit = p.alloc()
	}
	p.streams[s] = &streamState{backup: backup, bit: bit}
	return bit, replaced, nil
}

// BackupCaughtUp: the stream's backup acknowledged its snapshot: it joins
// the ready set, and an expected backup stops holding every new message
// (its stream holds the messages of the queues it subscribed to).
func (c *Core) BackupCaughtUp(s StreamID) {
	p := c.p
	st := p.stream(s)
	if st == nil {
		return
	}
	st.caught = true
	ms := c.saved.Membership.WithReady(st.backup)
	c.adopt(ms)
	if bit, ok := p.expected[st.backup]; ok && bit == st.bit {
		delete(p.expected, st.backup)
		p.held &^= bit
	}
	c.checkMinReady()
	c.cast(0)
	c.log(Info, "backup is ready", "backup", Short(st.backup), "membership", c.saved.Membership.String())
	c.checkRecovered()
}

func (p *primaryRole) stream(s StreamID) *streamState {
	if p == nil {
		return nil
	}
	return p.streams[s]
}

// BackupLost: a stream ended (its connection closed, or it was silent for
// two heartbeats). Unless the broker is stopping, its backup leaves the
// ready set (see drop); just after a freeze, only once the peers say no
// newer primary exists.
func (c *Core) BackupLost(s StreamID, reason string) {
	p := c.p
	st := p.stream(s)
	if st == nil {
		return
	}
	delete(p.streams, s)
	c.lost(*st, reason)
}

func (c *Core) lost(st streamState, reason string) {
	p := c.p
	if st.bit != 0 && p.connected(st.backup, st.bit) {
		return // replaced by a stream of the same backup and party
	}
	if c.stopping {
		c.log(Info, "backup disconnected as this primary stops", "backup", Short(st.backup), "reason", reason)
		return
	}
	if p.expected[st.backup] == st.bit && st.bit != 0 {
		if p.deadline != 0 || p.expireParked {
			// Still expected: its party holds every new message until it
			// catches up or ha-backup-timeout passes.
			c.log(Info, "an expected backup's stream ended before it caught up", "backup", Short(st.backup), "reason", reason)
			return
		}
		// ha-backup-timeout passed while it was catching up: give up now.
		c.giveUp([]string{st.backup})
		return
	}
	p.held |= st.bit // new messages wait for it until it is dropped
	if c.frozeRecently() {
		// This primary was frozen: another may have been promoted in the
		// meantime. Its messages stay held until the peers say otherwise.
		c.log(Warn, "backup lost just after this primary was frozen: checking for a newer primary before dropping it", "backup", Short(st.backup), "reason", reason)
		p.parked = append(p.parked, lostStream{st, reason})
		c.askPeers()
		return
	}
	c.dropOrForget(st, reason)
}

// dropOrForget drops a lost stream's backup, unless it is back and caught
// up: then only the old stream's party is released.
func (c *Core) dropOrForget(st streamState, reason string) {
	p := c.p
	for _, o := range p.streams {
		if o.backup == st.backup && o.caught {
			c.log(Info, "backup's old stream ended; it is back and caught up, and stays in the ready set", "backup", Short(st.backup), "reason", reason)
			p.held &^= st.bit
			c.out.Release |= st.bit
			return
		}
	}
	c.drop(st, reason)
}

// drop takes a backup out of the ready set. The new membership goes to the
// remaining streams first; only once they all acknowledged it is the
// dropped backup's party released from held messages, so nothing is
// acknowledged without a backup unless every ready backup knows it is out.
func (c *Core) drop(st streamState, reason string) {
	p := c.p
	p.held &^= st.bit
	wasReady := c.saved.Membership.IsReady(st.backup)
	c.adopt(c.saved.Membership.Without(st.backup))
	c.checkMinReady()
	c.cast(st.bit)
	c.log(Warn, "backup dropped", "backup", Short(st.backup), "reason", reason, "was-ready", wasReady, "membership", c.saved.Membership.String())
}

// cast sends the membership to every stream; with parties to release, as
// a barrier they must all acknowledge first.
func (c *Core) cast(release uint64) {
	p := c.p
	to := make([]StreamID, 0, len(p.streams))
	var pending uint64
	for id, s := range p.streams {
		to = append(to, id)
		pending |= s.bit
	}
	slices.Sort(to)
	cast := Cast{Membership: c.saved.Membership.Clone(), To: to}
	if release != 0 {
		if pending == 0 {
			c.out.Release |= release // nobody to tell
		} else {
			c.barrier++
			p.barriers[c.barrier] = release
			cast.Barrier, cast.Pending = c.barrier, pending
		}
	}
	c.out.Casts = append(c.out.Casts, cast)
}

// Unacknowledged tells a primary since when (the core's time) the oldest
// event sent on a stream waits for its backup's acknowledgement (waiting
// false: none does); the driver tells it every tick. A backup that leaves
// an event unacknowledged longer than ha-backup-lag-timeout (its disk
// stalled or full, a slow fsync: heartbeats still flow) is cut off, so
// that one sick disk cannot stall every sender; it leaves the ready set
// as any lost backup does (BackupLost), and comes back through catch-up
// once it keeps up again. Not right after this process was frozen: then
// every wait looks long.
func (c *Core) Unacknowledged(s StreamID, since time.Duration, waiting bool) {
	p := c.p
	if p == nil || !waiting || c.cfg.LagTimeout <= 0 || c.frozeRecently() {
		return
	}
	st := p.streams[s]
	if st == nil || st.cut || c.now-since <= c.cfg.LagTimeout {
		return
	}
	st.cut = true
	reason := fmt.Sprintf("its acknowledgements lag by more than ha-backup-lag-timeout (%s): a stalled or full disk, or a slow fsync", c.cfg.LagTimeout)
	c.log(Warn, "cutting off a backup: "+reason, "backup", Short(st.backup))
	c.out.Disconnect = append(c.out.Disconnect, Disconnect{Stream: s, Reason: "this backup " + reason})
}

// EpochKnown: a backup acknowledged the membership its stream starts with,
// so it knows (and persisted) this primary's epoch: messages need no longer
// wait for that.
func (c *Core) EpochKnown() {
	p := c.p
	if p == nil || p.unknownBit == 0 {
		return
	}
	bit := p.unknownBit
	p.unknownBit = 0
	p.held &^= bit
	c.out.Release |= bit
}

// BarrierDone: every stream the barrier went to acknowledged it (or ended):
// its parties are released.
func (c *Core) BarrierDone(b BarrierID) {
	if c.p == nil {
		return
	}
	if bits, ok := c.p.barriers[b]; ok {
		delete(c.p.barriers, b)
		c.out.Release |= bits
	}
}

// Released: the driver released these parties from every held message:
// they may serve new streams (the min-ready party stays reserved).
func (c *Core) Released(parties uint64) {
	if c.p != nil {
		c.p.used &^= parties &^ c.p.minBit
	}
}

// expire gives up on the expected backups that are not connected after
// ha-backup-timeout: they leave the ready set like a dropped backup. One
// connected and catching up stays expected, until it is ready or its
// stream ends. If no backup learned the epoch by then, messages stop
// waiting for that too: the primary serves alone, as
// ha-min-ready-backups=0 allows (with fencing, no other broker can have
// been promoted meanwhile).
func (c *Core) expire() {
	p := c.p
	if bit := p.unknownBit; bit != 0 {
		p.unknownBit = 0
		p.held &^= bit
		c.out.Release |= bit
		c.log(Warn, "no backup learned this primary's epoch within ha-backup-timeout: acknowledging without one")
	}
	ids := make([]string, 0, len(p.expected))
	for id := range p.expected {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var gone []string
	for _, id := range ids {
		if !p.connected(id, p.expected[id]) {
			gone = append(gone, id)
		}
	}
	c.giveUp(gone)
}

// giveUp drops expected backups: out of the ready set, their parties
// released once the remaining streams acknowledged it.
func (c *Core) giveUp(ids []string) {
	p := c.p
	var release uint64
	ms := c.saved.Membership
	for _, id := range ids {
		release |= p.expected[id]
		delete(p.expected, id)
		ms = ms.Without(id)
	}
	if len(ids) > 0 {
		p.held &^= release
		c.adopt(ms)
		c.cast(release)
		c.log(Warn, "expected backups did not return within ha-backup-timeout: dropped from the ready set", "backups", ShortAll(ids))
	}
	c.checkRecovered()
}

func (p *primaryRole) connected(backup string, bit uint64) bool {
	for _, s := range p.streams {
		if s.backup == backup && s.bit == bit {
			return true
		}
	}
	return false
}

// checkMinReady: while fewer than ha-min-ready-backups are ready, every
// new message waits (availability traded for safety); once enough are,
// the min-ready party is released.
func (c *Core) checkMinReady() {
	p := c.p
	if p.minBit == 0 {
		return
	}
	if len(c.saved.Membership.Ready) >= c.cfg.MinReadyBackups {
		if p.minHeld {
			p.minHeld = false
			p.held &^= p.minBit
			c.out.Release |= p.minBit
		}
	} else if !p.minHeld {
		p.minHeld = true
		p.held |= p.minBit
	}
}

// PeersChecked: the answer to CheckPeers. A reachable primary of a newer
// epoch makes this primary stale (it stops), and so does one of the same
// epoch (see Subscribed: neither can prove it is the one its backups know,
// so both stop and the cluster manager promotes again, with a newer
// epoch); else the backups lost just after a freeze are dropped now.
func (c *Core) PeersChecked(peers []PeerStatus) {
	p := c.p
	if p == nil {
		return
	}
	p.checking = false
	p.nextCheck = c.now + c.checkPeriod()
	for _, peer := range peers {
		if peer.Reachable && peer.State.IsPrimary() && peer.Membership.Epoch >= p.epoch && peer.BrokerID != c.cfg.ID {
			c.stale(peer.Membership.Epoch)
			return
		}
	}
	parked := p.parked
	p.parked = nil
	for _, l := range parked {
		c.dropOrForget(l.streamState, l.reason)
	}
	if p.expireParked {
		p.expireParked = false
		c.expire()
	}
}

// askPeers sends a status check of the peers, unless one is out.
func (c *Core) askPeers() {
	if !c.p.checking {
		c.p.checking = true
		c.out.CheckPeers = true
	}
}

// stale: this primary learned of a newer epoch: another broker was promoted
// after it, so it stops serving at once (the cluster manager restarts it as
// a backup).
func (c *Core) stale(newer uint64) {
	c.log(Error, "another primary of the same or a newer epoch exists: this stale primary stops serving", "its-epoch", newer, "epoch", c.p.epoch)
	c.out.Exit = fmt.Sprintf("stale primary: another primary has epoch %d, this one %d", newer, c.p.epoch)
}

// Parties counts the parties in use (for tests and status).
func (c *Core) Parties() int {
	if c.p == nil {
		return 0
	}
	return bits.OnesCount64(c.p.used)
}
