package core

import (
	"fmt"
	"maps"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/broker"
)

// TestSimulation runs three cores in one process, each with a small model
// of its driver (streams, message holds, snapshots, a store that syncs
// writes in groups a few milliseconds apart), on a simulated network that
// delays and breaks connections, with faults one at a time (a broker
// killed, its node crashed, frozen, partitioned; a connection dropped; the
// power of every node lost at once: each store keeps what it synced, and
// a third of the times the old primary's node comes back only after a new
// primary was chosen without it, as the agent's first_start_ignore does) and
// a cluster manager that promotes only as Pacemaker with quorum and fencing
// would: on the majority side, once the old primary is gone or fenced (a
// third of the seeds without fencing a frozen primary, as rgmanager
// without fencing would, or a VM paused across the fencing: the primary
// then wakes beside its successor). After every step it checks:
//   - at most one broker acknowledges messages in each epoch; with
//     fencing, at most one broker accepts clients at any time, and none
//     acknowledges once another was promoted; the newest primary holds
//     every message acknowledged (a stale one acknowledges nothing it
//     lacks); without fencing, what a replaced primary acknowledges until
//     it meets its successor and stops is at risk (counted: the manual
//     requires fencing for this reason);
//   - no message is acknowledged to its sender before it is on the
//     primary's disk and on the disk of every backup in the primary's
//     ready set, or a consumer accepted it;
//   - every acknowledged message not consumed is held by every broker the
//     cluster manager could promote (but one its primary acknowledged with
//     no ready backup, which ha-min-ready-backups=0 allows: half the seeds
//     run with 1, and never acknowledge alone).
//
// And 20 s after the last fault, every broker runs and the cluster is
// whole again (a primary, every other broker a ready backup), unless no
// broker is left that may be promoted: the hang the manual describes
// after the last primary fails with no ready backup (counted).
//
// Every choice comes from the seed: a failing seed replays exactly and
// prints its last events. HA_SIM_SEEDS sets the number of seeds (make
// ha-sim SEEDS=N); HA_SIM_SEED runs one.
func TestSimulation(t *testing.T) {
	seeds, first := 200, int64(1)
	if s, err := strconv.Atoi(os.Getenv("HA_SIM_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	if s, err := strconv.ParseInt(os.Getenv("HA_SIM_SEED"), 10, 64); err == nil {
		seeds, first = 1, s
	}
	if testing.Short() {
		seeds = 20
	}
	began := time.Now()
	var total simStats
	for seed := first; seed < first+int64(seeds); seed++ {
		s := newSim(seed)
		err := s.run(60 * time.Second)
		total.add(s.stats)
		if err != nil {
			t.Fatalf("seed %d: %v\nreplay: HA_SIM_SEED=%d go test ./internal/ha/core -run TestSimulation\nlast events:\n  %s",
				seed, err, seed, strings.Join(s.lastEvents(60), "\n  "))
		}
	}
	t.Logf("%d seeds of 60 simulated seconds in %v: %s", seeds, time.Since(began).Round(time.Millisecond), total)
}

type simStats struct {
	faults       map[string]int
	acked        int
	consumed     int
	promotes     int
	lostByDesign int // acknowledged by a primary alone (ha-min-ready-backups=0), which went down
	unfenced     int // acknowledged by a primary replaced but not fenced
	hung         int // seeds that ended with no broker left to promote (see run)
}

func (a *simStats) add(b simStats) {
	if a.faults == nil {
		a.faults = map[string]int{}
	}
	for k, v := range b.faults {
		a.faults[k] += v
	}
	a.acked += b.acked
	a.consumed += b.consumed
	a.promotes += b.promotes
	a.lostByDesign += b.lostByDesign
	a.unfenced += b.unfenced
	a.hung += b.hung
}

func (a simStats) String() string {
	var kinds []string
	for k := range a.faults {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var f []string
	for _, k := range kinds {
		f = append(f, fmt.Sprintf("%s %d", k, a.faults[k]))
	}
	return fmt.Sprintf("faults [%s], promotions %d, messages acknowledged %d, consumed %d, acknowledged alone by a primary that went down (at risk by configuration) %d, "+
		"acknowledged by a replaced primary not fenced (at risk) %d, clusters hung (no broker left to promote) %d",
		strings.Join(f, ", "), a.promotes, a.acked, a.consumed, a.lostByDesign, a.unfenced, a.hung)
}

const (
	simHeartbeat = time.Second
	simNodes     = 3
	// ownDisk is the party of a primary's own store in a message's hold
	// (the core's parties are the low bits).
	ownDisk = uint64(1) << 63
)

var simCfg = Config{
	HeartbeatInterval:   simHeartbeat,
	MaintenanceInterval: 200 * time.Millisecond,
	BackupTimeout:       3 * time.Second,
	Cluster:             true,
}

type sim struct {
	rng    *rand.Rand
	now    time.Duration
	nodes  []*simNode
	events []string
	stats  simStats

	cut        map[string]bool // a partitioned node: it reaches nobody
	faultEnds  time.Duration   // the current fault heals then
	fault      string
	nextMsg    int
	acked      map[int]bool   // acknowledged to the sender, not consumed
	alone      map[int]string // ... by a primary with an empty ready set: lost with it
	consumed   map[int]bool
	primaries  map[uint64]string // epoch -> the broker that was primary in it
	nextCM     time.Duration
	pendingErr error
	minReady   int
	quiet      time.Duration // no fault from then on
	noFencing  bool          // a frozen primary is not fenced before another is promoted
	killAt     time.Duration // a kill of the primary scheduled (0: none)
	// After a power loss, the old primary's node may not come back until
	// a new primary was chosen without it (the agent's first_start_ignore).
	ignored string
}

type simNode struct {
	s       *sim
	id      string
	core    *Core
	alive   bool
	frozen  time.Duration // frozen until then (0: running)
	saved   Saved
	msgs    map[int]bool  // the messages it holds (in memory)
	restart time.Duration // a dead node is started again then

	// Its store: what is on disk, the writes waiting for their sync (group
	// commit: syncs back to back, each taking a few milliseconds, each
	// covering what was written before it began), the replication position
	// applied and the one on disk.
	disk    map[int]bool
	writes  []simWrite
	syncEnd time.Duration // the sync in progress ends then
	nextEnd time.Duration // the next sync, planned (0: none)
	pos     Position      // applied (a primary: its own)
	diskPos Position      // synced
	// A backup's catch-up: deletions wait until it is caught up.
	caught   bool
	deferred []int
	events   uint64 // a primary's events in its epoch (positions)

	// The primary's driver: streams, held messages, barriers.
	streams  map[StreamID]*simStream
	held     map[int]*broker.Hold
	barriers map[BarrierID]*broker.Hold
	nextID   StreamID
	// The backup's stream from its primary; when it tries again.
	up    *simStream
	retry time.Duration
	// A status check of the peers out: when it answers, and what.
	checkAt     time.Duration
	checkAnswer []PeerStatus
}

// simStream is a replication stream: items to the backup and
// acknowledgements back, each delivered in order after a delay.
type simStream struct {
	id               StreamID
	p, b             *simNode
	bit              uint64
	toB              []simItem
	toP              []simItem
	broken           bool
	pDetect, bDetect time.Duration // when each end notices a break
	done             bool
}

// simWrite is a write to a store, on disk at at: then done runs.
type simWrite struct {
	at   time.Duration
	add  bool
	msg  int // 0: only a position
	pos  Position
	done func()
}

type simItem struct {
	at       time.Duration
	kind     string // snapshot, msg, dequeue, membership, caughtup
	pos      Position
	msg      int
	set      []int
	ms       Membership
	hold     *broker.Hold
	barrier  BarrierID
	acked    bool
	snapshot bool
}

func newSim(seed int64) *sim {
	s := &sim{rng: rand.New(rand.NewSource(seed)), cut: map[string]bool{}, acked: map[int]bool{}, alone: map[int]string{},
		consumed: map[int]bool{}, primaries: map[uint64]string{}, stats: simStats{faults: map[string]int{}}}
	// Half the seeds with ha-min-ready-backups=1: a primary never
	// acknowledges alone.
	s.minReady = int(seed % 2)
	s.noFencing = seed%3 == 0
	for i := 0; i < simNodes; i++ {
		n := &simNode{s: s, id: fmt.Sprintf("n%d", i+1)}
		s.nodes = append(s.nodes, n)
		n.start()
	}
	return s
}

func (s *sim) logf(format string, a ...any) {
	s.events = append(s.events, fmt.Sprintf("%7.3fs ", s.now.Seconds())+fmt.Sprintf(format, a...))
}

func (s *sim) lastEvents(n int) []string { return s.events[max(0, len(s.events)-n):] }

func (n *simNode) start() {
	cfg := simCfg
	cfg.ID = n.id
	cfg.MinReadyBackups = n.s.minReady
	cfg.Peers = simNodes - 1
	n.core = New(cfg, n.saved)
	n.alive, n.frozen, n.checkAt = true, 0, 0
	// What its store recovered: the messages and the position on disk.
	n.msgs = maps.Clone(n.disk)
	if n.msgs == nil {
		n.msgs, n.disk = map[int]bool{}, map[int]bool{}
	}
	n.writes, n.syncEnd, n.nextEnd, n.pos = nil, 0, 0, n.diskPos
	n.caught, n.deferred, n.events = false, nil, 0
	n.streams, n.held, n.barriers = map[StreamID]*simStream{}, map[int]*broker.Hold{}, map[BarrierID]*broker.Hold{}
	n.up = nil
	n.core.Tick(n.s.now)
	n.apply()
	n.s.logf("%s starts (%s, %s)", n.id, n.core.State(), n.saved.Membership)
}

// running: alive and not frozen.
func (n *simNode) running() bool { return n.alive && n.frozen == 0 }

// reaches: a and b can exchange packets.
func (s *sim) reaches(a, b *simNode) bool { return !s.cut[a.id] && !s.cut[b.id] }

func (n *simNode) isPrimary() bool { return n.alive && n.core.State().IsPrimary() }

// delay of a packet: a few milliseconds, now and then a latency spike.
func (s *sim) delay() time.Duration {
	if s.rng.Intn(40) == 0 {
		return time.Duration(100+s.rng.Intn(700)) * time.Millisecond
	}
	return time.Duration(1+s.rng.Intn(40)) * time.Millisecond
}

// apply does what the core asks (the driver's part).
func (n *simNode) apply() {
	for i := 0; i < 100; i++ {
		a := n.core.Actions()
		if a.Persist != nil {
			n.saved = *a.Persist
			n.saved.Membership = a.Persist.Membership.Clone()
		}
		for _, t := range a.Transitions {
			n.s.logf("%s: %s -> %s (epoch %d)", n.id, t.From, t.To, t.Epoch)

		}
		for _, c := range a.Casts {
			var hold *broker.Hold
			if c.Barrier != 0 {
				hold = broker.NewHold(c.Pending)
				n.barriers[c.Barrier] = hold
				id := c.Barrier
				hold.Wait(func() {
					delete(n.barriers, id)
					n.core.BarrierDone(id)
				})
			}
			pos := n.pos
			if n.core.State().IsPrimary() {
				pos = n.nextPos()
			}
			for _, id := range c.To {
				if st := n.streams[id]; st != nil {
					st.send(simItem{kind: "membership", ms: c.Membership, hold: hold, barrier: c.Barrier, pos: pos})
				}
			}
		}
		if a.Release != 0 {
			for _, id := range n.heldIDs() {
				n.held[id].Release(a.Release)
			}
			n.core.Released(a.Release)
		}
		if a.CheckPeers {
			// A status check of the peers takes a round trip or two; the
			// answer is what they were when asked.
			n.checkAt, n.checkAnswer = n.s.now+n.s.delay()+n.s.delay(), n.s.peersOf(n)
		}
		if a.Exit != "" {
			n.s.logf("%s exits: %s", n.id, a.Exit)
			n.kill(true)
			return
		}
		if a.Persist == nil && len(a.Transitions) == 0 && len(a.Casts) == 0 && a.Release == 0 && !a.CheckPeers {
			return
		}
	}
}

// write queues a write to n's store and returns when it will be on disk:
// with the next sync that begins (group commit).
func (n *simNode) write(add bool, msg int, pos Position, done func()) time.Duration {
	now := n.s.now
	lat := func() time.Duration { return time.Duration(1+n.s.rng.Intn(8)) * time.Millisecond }
	if n.nextEnd != 0 && now >= n.syncEnd {
		n.syncEnd, n.nextEnd = n.nextEnd, 0 // the planned sync began
	}
	var at time.Duration
	switch {
	case now >= n.syncEnd: // the disk is idle: a sync begins now
		n.syncEnd = now + lat()
		at = n.syncEnd
	default: // one is in progress: the write waits for the next
		if n.nextEnd == 0 {
			n.nextEnd = n.syncEnd + lat()
		}
		at = n.nextEnd
	}
	n.writes = append(n.writes, simWrite{at: at, add: add, msg: msg, pos: pos, done: done})
	return at
}

// flushed is when everything written so far is on disk.
func (n *simNode) flushed() time.Duration { return max(n.s.now, n.syncEnd, n.nextEnd) }

// sync puts the writes whose time came on disk.
func (n *simNode) sync() {
	for len(n.writes) > 0 && n.writes[0].at <= n.s.now {
		w := n.writes[0]
		n.writes = n.writes[1:]
		switch {
		case w.msg == 0:
		case w.add:
			n.disk[w.msg] = true
		default:
			delete(n.disk, w.msg)
		}
		if n.diskPos.Less(w.pos) {
			n.diskPos = w.pos
		}
		if w.done != nil {
			w.done()
		}
	}
}

// applied moves a backup's applied position.
func (n *simNode) applied(pos Position) {
	if n.pos.Less(pos) {
		n.pos = pos
	}
}

// position is what n reports: a joining broker what its store recovered,
// others what they applied.
func (n *simNode) position() Position {
	if n.core.State() == Joining {
		return n.diskPos
	}
	return n.pos
}

// canPromote asks the core, as the driver does: with what n holds and what
// a status check finds of its peers.
func (n *simNode) canPromote() error {
	n.core.SetPosition(n.position())
	return n.core.CanPromote(n.s.peersOf(n))
}

// nextPos is a primary's position for its next event.
func (p *simNode) nextPos() Position {
	p.events++
	epoch, _ := p.core.Primary()
	p.pos = Position{Epoch: epoch, Seq: p.events}
	return p.pos
}

func (n *simNode) heldIDs() []int {
	ids := make([]int, 0, len(n.held))
	for id := range n.held {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func sortedIDs(m map[int]bool) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// peersOf is what a status check from n finds: the running brokers it
// reaches (hung or unreachable ones do not answer).
func (s *sim) peersOf(n *simNode) []PeerStatus {
	var out []PeerStatus
	for _, o := range s.nodes {
		if o == n {
			continue
		}
		ps := PeerStatus{Address: o.id}
		if o.running() && s.reaches(n, o) {
			ps = PeerStatus{Address: o.id, Reachable: true, State: o.core.State(), BrokerID: o.id, Membership: o.core.Membership(), Position: o.position()}
		}
		out = append(out, ps)
	}
	return out
}

func (st *simStream) send(it simItem) {
	it.at = st.p.s.now + st.p.s.delay()
	if n := len(st.toB); n > 0 && st.toB[n-1].at > it.at {
		it.at = st.toB[n-1].at
	}
	st.toB = append(st.toB, it)
}

func (st *simStream) ack(it simItem) { st.ackAfter(it, st.b.s.now) }

// ackAfter acknowledges once what the item wrote is on disk (from), in
// order: an acknowledgement says every item before it is on disk too.
func (st *simStream) ackAfter(it simItem, from time.Duration) {
	it.at = max(from, st.b.s.now) + st.b.s.delay()
	if n := len(st.toP); n > 0 && st.toP[n-1].at > it.at {
		it.at = st.toP[n-1].at
	}
	st.toP = append(st.toP, it)
}

// brk breaks a stream: each end notices after its delay.
func (st *simStream) brk(pAfter, bAfter time.Duration) {
	if st.broken || st.done {
		return
	}
	st.broken = true
	st.pDetect, st.bDetect = st.p.s.now+pAfter, st.p.s.now+bAfter
}

// subscribe: backup b connects to primary p (the driver's attach).
func (s *sim) subscribe(b, p *simNode) {
	p.nextID++
	id := p.nextID
	bit, replaced, err := p.core.BackupSubscribed(id, b.id, b.core.Membership().Epoch)
	p.apply()
	if err != nil {
		s.logf("%s refuses %s: %v", p.id, b.id, err)
		return
	}
	st := &simStream{id: id, p: p, b: b, bit: bit}
	for _, r := range replaced {
		if old := p.streams[r]; old != nil {
			p.lose(old, "replaced by a new connection")
		}
	}
	p.streams[id] = st
	epoch, _ := p.core.Primary()
	if err := b.core.Subscribed(epoch, p.id); err != nil {
		b.apply()
		s.logf("%s refuses primary %s: %v", b.id, p.id, err)
		st.brk(0, 0)
		return
	}
	b.apply()
	b.up = st
	b.caught, b.deferred = false, nil
	s.logf("%s follows %s (stream %d, party %b)", b.id, p.id, id, bit)
	// The snapshot: the membership (once acknowledged, the backup knows
	// the epoch), every message (the backup keeps exactly these), then the
	// caught-up marker.
	known := broker.NewHold(bit)
	if !known.Wait(func() { p.core.EpochKnown() }) {
		p.core.EpochKnown()
	}
	st.send(simItem{kind: "membership", ms: p.core.Membership(), hold: known, pos: p.pos})
	st.send(simItem{kind: "snapshot", set: sortedIDs(p.msgs), pos: p.pos})
	st.send(simItem{kind: "caughtup", pos: p.pos})
}

// lose ends a stream on the primary's side (the driver's drop).
func (p *simNode) lose(st *simStream, reason string) {
	if st.done {
		return
	}
	st.done = true
	delete(p.streams, st.id)
	for _, id := range barrierIDs(p.barriers) {
		p.barriers[id].Release(st.bit)
	}
	p.core.BackupLost(st.id, reason)
	p.apply()
	p.s.logf("%s lost stream %d of %s: %s", p.id, st.id, st.b.id, reason)
}

func barrierIDs(m map[BarrierID]*broker.Hold) []BarrierID {
	ids := make([]BarrierID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// kill stops a node: what is not persisted is gone; its streams break (a
// process killed: its peers notice at once, since the kernel resets the
// connections; a node crashed or cut off: after two heartbeats).
func (n *simNode) kill(clean bool) {
	if !n.alive {
		return
	}
	after := time.Duration(0)
	if !clean {
		after = 2 * simHeartbeat
	}
	for _, st := range n.allStreams() {
		if st.p == n {
			st.brk(0, after)
		} else {
			st.brk(after, 0)
		}
	}
	n.alive = false
	n.restart = n.s.now + time.Duration(500+n.s.rng.Intn(3000))*time.Millisecond
	alone := 0
	for id, by := range n.s.alone {
		if by == n.id {
			// Acknowledged by a primary with no ready backup (allowed by
			// ha-min-ready-backups=0): lost with it, by configuration.
			delete(n.s.alone, id)
			delete(n.s.acked, id)
			alone++
		}
	}
	// Every other acknowledged message is on the disk of the primary and
	// every ready backup that acknowledged it: none is lost when every
	// broker that had it goes down (a power loss of the whole cluster).
	n.writes = nil // not synced: gone
	n.s.stats.lostByDesign += alone
	n.s.logf("%s is down (lost with it: %d messages it acknowledged alone)", n.id, alone)
}

// allStreams: the streams n is an end of.
func (n *simNode) allStreams() []*simStream {
	var out []*simStream
	for _, o := range n.s.nodes {
		for _, id := range streamIDs(o.streams) {
			st := o.streams[id]
			if st.p == n || st.b == n {
				out = append(out, st)
			}
		}
	}
	return out
}

func streamIDs(m map[StreamID]*simStream) []StreamID {
	ids := make([]StreamID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *sim) fail(err error) {
	if s.pendingErr == nil {
		s.pendingErr = err
	}
}

// run simulates d of time; faults stop 20 s before the end, by which the
// cluster must be whole again: a primary, every other broker ready.
func (s *sim) run(d time.Duration) error {
	s.quiet = d - 20*time.Second
	for s.now < d && s.pendingErr == nil {
		s.now += time.Duration(10+s.rng.Intn(90)) * time.Millisecond
		s.step()
		if s.pendingErr == nil {
			s.pendingErr = s.check()
		}
	}
	if s.pendingErr != nil {
		return s.pendingErr
	}
	// 20 s after the last fault every broker runs. With a primary, every
	// other broker must be a ready backup. Without one, no broker may be
	// promotable (the cluster manager would have promoted it): then the
	// last primary went down with no ready backup, and the cluster hangs
	// until an administrator restarts it, as the manual describes
	// (1.12.12.4, "The cluster hangs"): counted.
	var states []string
	primaries, ready := 0, 0
	for _, n := range s.nodes {
		st := n.core.State()
		states = append(states, n.id+" "+st.String())
		switch {
		case n.running() && st.IsPrimary():
			primaries++
		case n.running() && st == Ready:
			ready++
		}
	}
	switch {
	case primaries == 1 && ready == len(s.nodes)-1:
	case primaries == 0 && !s.promotable():
		s.stats.hung++
	default:
		return fmt.Errorf("20 s after the last fault the cluster is not whole: %s", strings.Join(states, ", "))
	}
	return nil
}

// promotable: a running broker the cluster manager may promote (its rules
// and the broker's agree).
func (s *sim) promotable() bool {
	allJoining := true
	for _, n := range s.nodes {
		allJoining = allJoining && (n.id == s.ignored || (n.running() && n.core.State() == Joining))
	}
	for _, n := range s.nodes {
		if !n.running() {
			continue
		}
		st := n.core.State()
		if ((st == Ready && n.core.Membership().IsReady(n.id)) || (allJoining && st == Joining)) && n.canPromote() == nil {
			return true
		}
	}
	return false
}

func (s *sim) step() {
	// Time: every running broker ticks; frozen ones wake; dead ones restart.
	for _, n := range s.nodes {
		switch {
		case !n.alive && s.now >= n.restart && s.fault != "crash-"+n.id && s.fault != "kill-"+n.id && s.fault != "drop-then-kill-"+n.id && n.id != s.ignored:
			n.start()
		case n.alive && n.frozen != 0 && s.now >= n.frozen:
			n.frozen = 0
			s.logf("%s wakes", n.id)
		}
		if n.running() {
			n.sync()
			n.core.Tick(s.now)
			n.apply()
			if n.checkAt != 0 && s.now >= n.checkAt {
				n.checkAt = 0
				n.core.PeersChecked(n.checkAnswer)
				n.apply()
			}
		}
	}
	// The network: breaks noticed, items and acknowledgements delivered.
	for _, p := range s.nodes {
		for _, id := range streamIDs(p.streams) {
			s.network(p.streams[id])
		}
	}
	// A backup notices its stream broke (also one whose primary restarted
	// since, and so forgot it).
	for _, b := range s.nodes {
		if st := b.up; st != nil && st.broken && b.running() && s.now >= st.bDetect {
			b.up = nil
			b.core.PrimaryLost()
			b.apply()
			s.logf("%s lost its primary %s", b.id, st.p.id)
		}
	}
	// Backups without a primary look for one.
	for _, b := range s.nodes {
		if !b.running() || b.up != nil || b.core.State().IsPrimary() || s.now < b.retry {
			continue
		}
		b.retry = s.now + simCfg.MaintenanceInterval
		for _, p := range s.nodes {
			if p != b && p.running() && s.reaches(b, p) && p.core.State().IsPrimary() {
				s.subscribe(b, p)
				break
			}
		}
	}
	if s.killAt != 0 && s.now >= s.killAt {
		s.killAt = 0
		for _, p := range s.nodes {
			if p.isPrimary() {
				s.logf("the primary %s is killed", p.id)
				p.kill(true)
			}
		}
	}
	s.clients()
	s.faults()
	if s.now >= s.nextCM {
		s.nextCM = s.now + 500*time.Millisecond
		s.clusterManager()
	}
}

// network moves one stream's packets and notices its break.
func (s *sim) network(st *simStream) {
	p, b := st.p, st.b
	if !st.broken && (!p.alive || !b.alive || !s.reaches(p, b)) {
		st.brk(2*simHeartbeat, 2*simHeartbeat)
	}
	if !st.broken && (p.frozen != 0 || b.frozen != 0) {
		// A frozen end sends nothing: silence for two heartbeats is a
		// break for the other end; the frozen one notices when it wakes.
		st.brk(2*simHeartbeat, 2*simHeartbeat)
	}
	if st.broken {
		if p.running() && s.now >= st.pDetect {
			p.lose(st, "connection lost")
		}
		return // the backup's side: see step
	}
	for len(st.toB) > 0 && st.toB[0].at <= s.now {
		it := st.toB[0]
		st.toB = st.toB[1:]
		b.receive(st, it)
	}
	for len(st.toP) > 0 && st.toP[0].at <= s.now {
		it := st.toP[0]
		st.toP = st.toP[1:]
		if it.hold != nil {
			it.hold.Release(st.bit)
		}
		if it.kind == "caughtup" {
			p.core.BackupCaughtUp(st.id)
			p.apply()
		}
	}
}

// receive: a backup applies an item and acknowledges it once what it
// wrote is on disk (the store's hold), in order. While it catches up,
// deletions wait until it is caught up (what it held may be the last copy).
func (b *simNode) receive(st *simStream, it simItem) {
	synced := b.s.now
	switch it.kind {
	case "snapshot":
		have := map[int]bool{}
		for _, id := range it.set {
			have[id] = true
			if !b.msgs[id] {
				b.msgs[id] = true
				synced = b.write(true, id, it.pos, nil)
			}
		}
		for _, id := range sortedIDs(b.msgs) {
			if !have[id] {
				b.deferred = append(b.deferred, id)
			}
		}
	case "msg":
		b.msgs[it.msg] = true
		synced = b.write(true, it.msg, it.pos, nil)
	case "dequeue":
		if !b.caught {
			b.deferred = append(b.deferred, it.msg)
			break
		}
		delete(b.msgs, it.msg)
		b.write(false, it.msg, it.pos, nil)
	case "membership":
		b.core.Learn(it.ms)
		b.apply()
	case "caughtup":
		b.caught = true
		for _, id := range b.deferred {
			delete(b.msgs, id)
			b.write(false, id, it.pos, nil)
		}
		b.deferred = nil
		synced = b.flushed() // a barrier: everything before on disk
		b.core.CaughtUp()
		b.apply()
	}
	b.applied(it.pos)
	st.ackAfter(it, synced)
}

// clients send messages to the primary and consume some.
func (s *sim) clients() {
	var p *simNode
	for _, n := range s.nodes {
		if n.running() && n.core.State().IsPrimary() {
			p = n
		}
	}
	if p == nil {
		return
	}
	for i := s.rng.Intn(3); i > 0; i-- {
		s.nextMsg++
		id := s.nextMsg
		mask := p.core.HoldMask() | ownDisk
		for _, sid := range streamIDs(p.streams) {
			mask |= p.streams[sid].bit
		}
		h := broker.NewHold(mask)
		p.msgs[id] = true
		p.held[id] = h
		pos := p.nextPos()
		p.write(true, id, pos, func() { h.Release(ownDisk) })
		for _, sid := range streamIDs(p.streams) {
			p.streams[sid].send(simItem{kind: "msg", msg: id, hold: h, pos: pos})
		}
		primary := p
		settle := func() { s.settled(primary, id) }
		if !h.Wait(settle) {
			settle()
		}
	}
	if s.rng.Intn(4) == 0 {
		ids := sortedIDs(p.msgs) // its own and those it had as a backup
		if len(ids) > 0 {
			id := ids[s.rng.Intn(len(ids))]
			// A consumer accepts: the message leaves the queue (its hold
			// is done), the backups are told.
			s.consumed[id] = true
			delete(s.acked, id)
			delete(s.alone, id)
			s.stats.consumed++
			h := p.held[id]
			delete(p.held, id)
			delete(p.msgs, id)
			if h != nil {
				h.Complete()
			}
			pos := p.nextPos()
			p.write(false, id, pos, nil)
			for _, sid := range streamIDs(p.streams) {
				p.streams[sid].send(simItem{kind: "dequeue", msg: id, pos: pos})
			}
		}
	}
}

// settled: the primary acknowledges a message to its sender. Every backup
// of its ready set must have it (unless consumed); no other broker ever
// acknowledged in its epoch.
func (s *sim) settled(p *simNode, id int) {
	if s.consumed[id] {
		return
	}
	epoch, _ := p.core.Primary()
	if other, ok := s.primaries[epoch]; ok && other != p.id {
		s.fail(fmt.Errorf("two primaries acknowledged messages in epoch %d: %s and %s", epoch, other, p.id))
		return
	}

	s.primaries[epoch] = p.id
	if newer := slices.Max(slices.Collect(maps.Keys(s.primaries))); newer > epoch {
		if !s.noFencing {
			s.fail(fmt.Errorf("message %d acknowledged by %s (epoch %d) after it was replaced (epoch %d)", id, p.id, epoch, newer))
			return
		}
		// Not fenced, it serves on until it meets its successor: what it
		// acknowledges meanwhile is at risk, by configuration.
		s.stats.unfenced++
		return
	}
	if !p.disk[id] {
		s.fail(fmt.Errorf("message %d acknowledged by %s before it was on its disk", id, p.id))
		return
	}
	for _, r := range p.core.Membership().Ready {
		b := s.node(r)
		if !b.disk[id] {
			s.fail(fmt.Errorf("message %d acknowledged by %s before it was on the disk of its ready backup %s (ready set %v)", id, p.id, r, p.core.Membership().Ready))
			return
		}
	}
	s.acked[id] = true
	if len(p.core.Membership().Ready) == 0 {
		s.alone[id] = p.id
	}
	s.stats.acked++
}

func newestEpoch(n *simNode) uint64 {
	e, _ := n.core.Primary()
	return e
}

func (s *sim) node(id string) *simNode {
	for _, n := range s.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// faults: one at a time, healed before the next; connections also drop.
func (s *sim) faults() {
	if s.fault != "" {
		if s.now < s.faultEnds && s.now < s.quiet {
			return
		}
		s.logf("fault %s heals", s.fault)
		for id := range s.cut {
			delete(s.cut, id)
		}
		s.fault = ""
		return
	}
	if s.now >= s.quiet {
		return
	}
	if s.rng.Intn(200) == 0 {
		var live []*simStream
		for _, p := range s.nodes {
			for _, id := range streamIDs(p.streams) {
				live = append(live, p.streams[id])
			}
		}
		if len(live) > 0 {
			st := live[s.rng.Intn(len(live))]
			s.logf("the connection of stream %d (%s -> %s) drops", st.id, st.p.id, st.b.id)
			st.brk(0, 0)
			s.stats.faults["drop"]++
		}
	}
	for _, n := range s.nodes {
		if !n.running() {
			return // the cluster is still recovering from the last one
		}
	}
	if s.rng.Intn(60) != 0 {
		return
	}
	n := s.nodes[s.rng.Intn(len(s.nodes))]
	if s.rng.Intn(2) == 0 {
		for _, o := range s.nodes {
			if o.isPrimary() {
				n = o // faults of the primary are the interesting ones
			}
		}
	}
	kinds := []string{"kill", "crash", "freeze", "partition", "drop-then-kill", "power-loss"}
	kind := kinds[s.rng.Intn(len(kinds))]
	s.fault, s.faultEnds = kind+"-"+n.id, s.now+time.Duration(1000+s.rng.Intn(5000))*time.Millisecond
	if kind == "power-loss" && s.rng.Intn(3) != 0 {
		kind = kinds[s.rng.Intn(len(kinds)-1)] // rarer than the others
		s.fault = kind + "-" + n.id
	}
	s.stats.faults[kind]++
	s.logf("fault: %s %s (until %.3fs)", kind, n.id, s.faultEnds.Seconds())
	switch kind {
	case "kill":
		n.kill(true)
	case "crash":
		n.kill(false)
	case "freeze":
		n.frozen = s.faultEnds
	case "partition":
		s.cut[n.id] = true
	case "power-loss":
		// Every node at once: each store keeps what it synced; the
		// cluster manager's first start must find what was acknowledged.
		s.fault = kind
		for _, o := range s.nodes {
			if o.isPrimary() && s.rng.Intn(3) == 0 {
				s.ignored = o.id
				s.logf("%s will not come back until a primary is chosen without it", o.id)
			}
			o.kill(false)
		}
	case "drop-then-kill":
		// A backup's connection drops; the primary dies a moment later,
		// maybe before the other backup learned the new ready set.
		for _, p := range s.nodes {
			if p.isPrimary() {
				if ids := streamIDs(p.streams); len(ids) > 0 {
					st := p.streams[ids[s.rng.Intn(len(ids))]]
					s.logf("the connection of stream %d (%s -> %s) drops", st.id, st.p.id, st.b.id)
					st.brk(0, 0)
				}
				s.killAt = s.now + time.Duration(s.rng.Intn(300))*time.Millisecond
				s.fault = kind + "-" + p.id
			}
		}
	}
}

// clusterManager is Pacemaker with quorum and fencing: on the majority side
// (two of three running brokers that reach each other), if no primary is
// there, it fences every other primary (a frozen or cut-off one is killed),
// then promotes a ready backup that is in its own ready set (the agent's
// score 1000), or, when every broker of the cluster runs, reaches the
// others and is joining, the first (the agent's first start, once every
// node published its position). The broker itself may refuse.
func (s *sim) clusterManager() {
	var quorum []*simNode
	for _, n := range s.nodes {
		if !n.running() {
			continue
		}
		var side []*simNode
		for _, o := range s.nodes {
			if o.running() && s.reaches(n, o) {
				side = append(side, o)
			}
		}
		if len(side) > len(quorum) {
			quorum = side
		}
	}
	if len(quorum) < 2 {
		return
	}
	for _, n := range quorum {
		if n.core.State().IsPrimary() {
			return
		}
	}
	for _, n := range s.nodes {
		if n.isPrimary() {
			if s.noFencing && n.frozen != 0 {
				s.logf("cluster manager does not fence frozen %s", n.id)
				continue
			}
			s.logf("cluster manager fences %s", n.id)
			n.kill(false)
		}
	}
	want := len(s.nodes)
	if s.ignored != "" {
		want-- // left out of the first start by the operator
	}
	allJoining := len(quorum) == want
	for _, n := range quorum {
		allJoining = allJoining && n.core.State() == Joining
	}
	for _, n := range quorum {
		st := n.core.State()
		if (st == Ready && n.core.Membership().IsReady(n.id)) || (allJoining && st == Joining) {
			n.core.SetPosition(n.position())
			err := n.core.Promote(n.s.peersOf(n))
			n.apply()
			s.logf("cluster manager promotes %s: %v", n.id, err)
			if err == nil {
				s.ignored = ""
				s.stats.promotes++
				epoch, _ := n.core.Primary()
				s.primaries[epoch] = n.id
				return
			}
		}
	}
}

// check: the invariants that must hold after every step.
func (s *sim) check() error {
	running := 0
	for _, n := range s.nodes {
		if n.running() && n.core.State().IsPrimary() {
			running++
		}
	}
	if running > 1 && !s.noFencing {
		return fmt.Errorf("%d brokers accept clients at once", running)
	}
	// The newest primary holds every acknowledged message: a stale primary
	// (frozen while another was promoted) acknowledges nothing it lacks.
	// Only a primary whose epoch a backup knows counts: one that shares its
	// epoch with another (promoted, frozen before anyone learned of it,
	// not fenced) acknowledges nothing, and stops. While the newest is
	// frozen, a stale one may serve (without fencing): see settled.
	var newest *simNode
	for _, n := range s.nodes {
		if n.isPrimary() && n.core.p.unknownBit == 0 {
			if e, _ := n.core.Primary(); newest == nil || e > newestEpoch(newest) {
				newest = n
			}
		}
	}
	if newest != nil && newest.running() {
		for _, id := range sortedIDs(s.acked) {
			if by, alone := s.alone[id]; alone && by == newest.id {
				continue
			}
			if !newest.msgs[id] {
				return fmt.Errorf("message %d was acknowledged, but the newest primary %s (epoch %d) lacks it", id, newest.id, newestEpoch(newest))
			}
		}
	}
	// What the cluster manager could promote now: on the majority side, a
	// ready backup the rules allow, given the peers it reaches.
	for _, n := range s.nodes {
		if !n.running() || n.core.State() != Ready {
			continue
		}
		side := 0
		for _, o := range s.nodes {
			if o.running() && s.reaches(n, o) {
				side++
			}
		}
		if side < 2 || n.canPromote() != nil {
			continue
		}
		for _, id := range sortedIDs(s.acked) {
			if _, alone := s.alone[id]; alone {
				continue // acknowledged with no ready backup: at risk by configuration
			}
			if !n.msgs[id] {
				return fmt.Errorf("message %d was acknowledged, but %s, which could be promoted, lacks it (membership %s)",
					id, n.id, n.core.Membership())
			}
		}
	}
	return nil
}
