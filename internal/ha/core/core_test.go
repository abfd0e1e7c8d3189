package core

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var testCfg = Config{
	ID:                  "self",
	Cluster:             true,
	HeartbeatInterval:   2 * time.Second,
	MaintenanceInterval: 100 * time.Millisecond,
	BackupTimeout:       10 * time.Second,
}

func newCore(t *testing.T, cfg Config, saved Saved) *Core {
	t.Helper()
	c := New(cfg, saved)
	c.Tick(0)
	c.Actions()
	return c
}

// ready makes a backup that followed a primary and is in its ready set.
func ready(t *testing.T, cfg Config, ms Membership) *Core {
	t.Helper()
	c := newCore(t, cfg, Saved{Epoch: ms.Epoch, Membership: ms})
	if err := c.Subscribed(ms.Epoch, ms.Primary); err != nil {
		t.Fatal(err)
	}
	c.CaughtUp()
	if c.State() != Ready {
		t.Fatalf("state %s, want ready", c.State())
	}
	c.Actions()
	return c
}

// promoted makes a primary of a fresh cluster.
// tickUntil ticks every 100 ms (no freeze) from from to to.
func tickUntil(c *Core, from, to time.Duration) {
	for now := from; now <= to; now += 100 * time.Millisecond {
		c.Tick(now)
	}
}

func promoted(t *testing.T, cfg Config) *Core {
	t.Helper()
	c := newCore(t, cfg, Saved{})
	if err := c.Promote(nil); err != nil {
		t.Fatal(err)
	}
	c.Actions()
	return c
}

func TestLegalTransitions(t *testing.T) {
	legalOnes := map[[2]State]bool{
		{Standalone, Joining}: true, {Joining, CatchUp}: true, {Joining, Recovering}: true,
		{CatchUp, Ready}: true, {Ready, Recovering}: true, {Ready, CatchUp}: true, {Recovering, Active}: true,
	}
	all := []State{Standalone, Joining, CatchUp, Ready, Recovering, Active}
	for _, from := range all {
		for _, to := range all {
			if got := CanMove(from, to); got != legalOnes[[2]State{from, to}] {
				t.Errorf("CanMove(%s, %s) = %v", from, to, got)
			}
		}
	}
}

// An illegal transition is refused, logged as a bug, and stops the broker.
func TestIllegalTransitionStops(t *testing.T) {
	c := newCore(t, testCfg, Saved{})
	err := c.move(Active)
	var ill ErrIllegalTransition
	if !errors.As(err, &ill) || ill.From != Joining || ill.To != Active || c.State() != Joining {
		t.Fatalf("joining -> active: %v, state %s", err, c.State())
	}
	a := c.Actions()
	if !strings.Contains(a.Exit, "illegal HA state transition joining -> active") || len(a.Log) != 1 || a.Log[0].Level != Error {
		t.Fatalf("actions %+v", a)
	}
}

func TestNewStartsJoiningOrStandalone(t *testing.T) {
	c := New(testCfg, Saved{})
	if a := c.Actions(); c.State() != Joining || !reflect.DeepEqual(a.Transitions, []Transition{{From: Standalone, To: Joining}}) {
		t.Fatalf("a cluster member: %s %+v", c.State(), a)
	}
	cfg := testCfg
	cfg.Cluster = false
	if c := New(cfg, Saved{}); c.State() != Standalone {
		t.Fatalf("a standalone broker: %s", c.State())
	}
}

// at gives a peer status an identity and a position.
func at(p PeerStatus, id string, pos Position) PeerStatus {
	p.BrokerID, p.Position = id, pos
	return p
}

// The promotion rules, one case each.
func TestCanPromote(t *testing.T) {
	ms := Membership{Epoch: 3, Version: 4, Primary: "old", Ready: []string{"b", "self"}}
	newer := Membership{Epoch: 3, Version: 5, Primary: "old", Ready: []string{"b"}}
	peer := func(st State, ms Membership) PeerStatus {
		return PeerStatus{Address: "peer", Reachable: true, State: st, Membership: ms}
	}
	cases := []struct {
		name  string
		state State
		saved Membership
		peers []PeerStatus
		want  error
	}{
		{"standalone never", Standalone, Membership{}, nil, ErrNotCluster},
		{"catchup never", CatchUp, ms, nil, ErrCatchingUp},
		{"a primary is promoted already", Active, ms, []PeerStatus{peer(Active, ms)}, nil},
		{"ready, in the ready set", Ready, ms, []PeerStatus{peer(Ready, ms)}, nil},
		{"ready, a reachable primary", Ready, ms, []PeerStatus{peer(Recovering, ms)}, ErrPrimaryExist},
		{"ready, an unreachable (hung) primary is ignored", Ready, ms, []PeerStatus{{Address: "p", State: Active}}, nil},
		{"ready, dropped from a newer ready set a peer knows", Ready, ms, []PeerStatus{peer(Ready, newer)}, ErrNotReady},
		{"ready, dropped from its own ready set", Ready, newer, nil, ErrNotReady},
		{"joining, every peer joining", Joining, Membership{}, []PeerStatus{peer(Joining, Membership{})}, nil},
		{"joining, a peer ready", Joining, Membership{}, []PeerStatus{peer(Ready, ms)}, ErrJoining},
		{"joining, a peer primary", Joining, Membership{}, []PeerStatus{peer(Active, ms)}, ErrPrimaryExist},
		// A restarted cluster: only the newest membership's primary or
		// ready backups lead, and none behind a reachable one of those.
		{"restart, in the ready set", Joining, ms, []PeerStatus{peer(Joining, ms)}, nil},
		{"restart, the old primary", Joining, Membership{Epoch: 3, Version: 4, Primary: "self", Ready: []string{"b"}}, []PeerStatus{peer(Joining, Membership{})}, nil},
		{"restart, dropped from a newer ready set a peer persisted", Joining, ms, []PeerStatus{peer(Joining, newer)}, ErrNotReady},
		{"restart, a newer epoch elsewhere", Joining, ms, []PeerStatus{peer(Joining, Membership{Epoch: 4, Version: 1, Primary: "b"})}, ErrNotReady},
		{"restart, a ready peer holds more", Joining, ms, []PeerStatus{at(peer(Joining, ms), "b", Position{Epoch: 3, Seq: 9})}, ErrBehind},
		{"restart, a peer that may not lead holds more", Joining, ms, []PeerStatus{at(peer(Joining, ms), "c", Position{Epoch: 3, Seq: 9})}, nil},
		{"restart, an unreachable peer holds more", Joining, ms, []PeerStatus{{Address: "b", BrokerID: "b", State: Joining, Position: Position{Epoch: 9}}}, nil},
		{"restart, as much as a ready peer", Joining, ms, []PeerStatus{at(peer(Joining, ms), "b", Position{Epoch: 3, Seq: 5})}, nil},
	}
	for _, tc := range cases {
		c := newCore(t, testCfg, Saved{Epoch: tc.saved.Epoch, Membership: tc.saved})
		c.state = tc.state
		c.SetPosition(Position{Epoch: 3, Seq: 5})
		if err := c.CanPromote(tc.peers); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// Promotion: an epoch beyond every one known, persisted with the new
// membership before the state changes; a ready backup's primary expects
// the old primary's backups (recovering); a first primary is active at
// once.
func TestPromote(t *testing.T) {
	ms := Membership{Epoch: 3, Version: 4, Primary: "old", Ready: []string{"b", "self"}}
	c := ready(t, testCfg, ms)
	peers := []PeerStatus{{Address: "b", Reachable: true, State: Ready, Membership: Membership{Epoch: 5, Version: 1, Ready: []string{"self", "b"}}}}
	if err := c.Promote(peers); err != nil {
		t.Fatal(err)
	}
	a := c.Actions()
	if epoch, ok := c.Primary(); !ok || epoch != 6 {
		t.Fatalf("epoch %d, want 6 (beyond the peer's 5)", epoch)
	}
	if a.Persist == nil || a.Persist.Epoch != 6 || a.Persist.Membership.Epoch != 6 || a.Persist.Membership.Primary != "self" {
		t.Fatalf("persisted %+v", a.Persist)
	}
	if c.State() != Recovering || !c.Expecting() || c.HoldMask() == 0 {
		t.Fatalf("state %s, expecting %v, hold mask %b", c.State(), c.Expecting(), c.HoldMask())
	}
	// A second promotion changes nothing.
	if err := c.Promote(nil); err != nil || c.Actions().Persist != nil {
		t.Fatalf("promoting a primary again: %v", err)
	}
	// The first primary of a new cluster expects nobody.
	first := newCore(t, testCfg, Saved{})
	if err := first.Promote(nil); err != nil {
		t.Fatal(err)
	}
	a = first.Actions()
	if first.State() != Active || first.HoldMask() != 0 || len(a.Transitions) != 2 {
		t.Fatalf("first primary: %s, mask %b, %+v", first.State(), first.HoldMask(), a.Transitions)
	}
}

// A backup: it follows a primary (catchup), is ready once caught up and in
// the ready set, stays ready when it loses the primary, refuses a primary
// of an older epoch, and adopts only newer memberships.
func TestBackup(t *testing.T) {
	c := newCore(t, testCfg, Saved{Epoch: 2, Membership: Membership{Epoch: 2, Version: 3}})
	if err := c.Subscribed(1, "p"); !errors.Is(err, ErrStale) || c.State() != Joining {
		t.Fatalf("a primary of epoch 1: %v, %s", err, c.State())
	}
	if err := c.Subscribed(2, "p"); err != nil || c.State() != CatchUp {
		t.Fatalf("subscribed: %v, %s", err, c.State())
	}
	c.CaughtUp()
	if c.State() != CatchUp {
		t.Fatal("ready before the primary put it in the ready set")
	}
	c.Learn(Membership{Epoch: 2, Version: 4, Primary: "p", Ready: []string{"self"}})
	if c.State() != Ready || c.Actions().Persist == nil {
		t.Fatalf("in the ready set, caught up: %s", c.State())
	}
	c.Learn(Membership{Epoch: 2, Version: 3, Primary: "p"})
	if c.Membership().Version != 4 || c.Actions().Persist != nil {
		t.Fatal("adopted an older membership")
	}
	c.PrimaryLost()
	if c.State() != Ready {
		t.Fatal("a ready backup must stay promotable when its primary goes")
	}
	if err := c.Subscribed(2, "q"); !errors.Is(err, ErrStale) || c.State() != Ready {
		t.Fatalf("a second primary of epoch 2: %v, %s", err, c.State())
	}
	if err := c.Subscribed(3, "q"); err != nil || c.State() != CatchUp {
		t.Fatalf("following a new primary: %v, %s", err, c.State())
	}
	// Restarted after its own reign in epoch 4: it follows another
	// primary of epoch 4 (promoted without knowing of it).
	own := newCore(t, testCfg, Saved{Epoch: 4, Membership: Membership{Epoch: 4, Version: 2, Primary: testCfg.ID}})
	if err := own.Subscribed(4, "q"); err != nil || own.State() != CatchUp {
		t.Fatalf("following a primary of its own old epoch: %v, %s", err, own.State())
	}
}

// The guard: streams get parties; a caught-up backup joins the ready set
// (a membership to every stream); a lost one is held for until the
// remaining backups acknowledged its removal, and only then released and
// its party freed.
func TestDropReleasesAfterTheBarrier(t *testing.T) {
	c := promoted(t, testCfg)
	b1, _, _ := c.BackupSubscribed(1, "b1", 1)
	b2, _, _ := c.BackupSubscribed(2, "b2", 1)
	if b1 == 0 || b2 == 0 || b1 == b2 || c.StreamBits(false) != b1|b2 {
		t.Fatalf("parties %b %b", b1, b2)
	}
	c.BackupCaughtUp(1)
	c.BackupCaughtUp(2)
	a := c.Actions()
	if ms := c.Membership(); !reflect.DeepEqual(ms.Ready, []string{"b1", "b2"}) || len(a.Casts) != 2 || a.Persist == nil {
		t.Fatalf("ready set %v, casts %d", ms.Ready, len(a.Casts))
	}
	if c.StreamBits(true) != b1|b2 {
		t.Fatalf("ready streams %b", c.StreamBits(true))
	}

	c.BackupLost(1, "connection closed")
	a = c.Actions()
	if c.Membership().IsReady("b1") || len(a.Casts) != 1 {
		t.Fatalf("b1 still ready or no cast: %+v", a)
	}
	cast := a.Casts[0]
	if cast.Barrier == 0 || cast.Pending != b2 || !reflect.DeepEqual(cast.To, []StreamID{2}) || cast.Membership.IsReady("b1") {
		t.Fatalf("cast %+v: want the new ready set to b2, a barrier on b2's party", cast)
	}
	if a.Release != 0 {
		t.Fatal("released before the remaining backup acknowledged the new ready set")
	}
	c.BarrierDone(cast.Barrier)
	if a = c.Actions(); a.Release != b1 {
		t.Fatalf("release %b, want b1's %b", a.Release, b1)
	}
	c.Released(b1)
	if got, _, _ := c.BackupSubscribed(3, "b3", 1); got != b1 {
		t.Fatalf("a freed party is reused: got %b", got)
	}
}

// The last backup lost: nobody to tell, its party is released at once.
func TestDropOfTheLastBackup(t *testing.T) {
	c := promoted(t, testCfg)
	bit, _, _ := c.BackupSubscribed(1, "b1", 1)
	c.BackupCaughtUp(1)
	c.Actions()
	c.BackupLost(1, "gone")
	a := c.Actions()
	if a.Release != bit || len(a.Casts) != 1 || a.Casts[0].Barrier != 0 {
		t.Fatalf("%+v", a)
	}
	if c.HoldMask() != 0 {
		t.Fatalf("still holding %b", c.HoldMask())
	}
}

// Recovering: the old primary's backups are expected; each holds every new
// message until it catches up on a stream of its own (with its party);
// ha-backup-timeout drops those not connected; then active.
func TestRecoveringAndBackupTimeout(t *testing.T) {
	ms := Membership{Epoch: 1, Version: 5, Primary: "old", Ready: []string{"a", "b", "self"}}
	c := ready(t, testCfg, ms)
	if err := c.Promote(nil); err != nil {
		t.Fatal(err)
	}
	c.Actions()
	held := c.HoldMask()
	if popcount(held) != 2 || c.State() != Recovering {
		t.Fatalf("hold mask %b, state %s", held, c.State())
	}
	bitA, _, _ := c.BackupSubscribed(1, "a", 0)
	if bitA&held == 0 {
		t.Fatal("an expected backup must use the party it was expected with")
	}
	c.BackupCaughtUp(1)
	c.Actions()
	if c.HoldMask()&bitA != 0 || c.State() != Recovering {
		t.Fatalf("a caught up: mask %b, %s", c.HoldMask(), c.State())
	}
	tickUntil(c, 0, 9*time.Second)
	if c.State() != Recovering || c.Actions().Casts != nil {
		t.Fatal("gave up before ha-backup-timeout")
	}
	c.Tick(10 * time.Second)
	a := c.Actions()
	if c.State() != Active || c.HoldMask() != 0 || c.Membership().IsReady("b") || len(a.Casts) != 1 || a.Casts[0].Barrier == 0 {
		t.Fatalf("after the timeout: %s, mask %b, %+v", c.State(), c.HoldMask(), a)
	}
	c.BarrierDone(a.Casts[0].Barrier)
	if r := c.Actions().Release; r != held&^bitA {
		t.Fatalf("released %b, want b's party %b", r, held&^bitA)
	}
}

// An expected backup that is connected and catching up when the timeout
// passes stays expected; if its stream then ends before it caught up, its
// party stays held (never freed while in use).
func TestExpectedBackupStillCatchingUp(t *testing.T) {
	ms := Membership{Epoch: 1, Version: 2, Primary: "old", Ready: []string{"a", "self"}}
	c := ready(t, testCfg, ms)
	c.Promote(nil)
	bit, _, _ := c.BackupSubscribed(1, "a", 0)
	tickUntil(c, 0, 11*time.Second)
	if c.State() != Recovering || !c.Expecting() {
		t.Fatal("dropped an expected backup that is catching up")
	}
	c.Actions()
	c.BackupLost(1, "gone after the timeout, before catching up")
	a := c.Actions()
	if c.State() != Active || c.Expecting() || c.HoldMask()&bit != 0 || len(a.Casts) != 1 || a.Release != bit {
		t.Fatalf("given up once its stream ended after the timeout: %s %+v", c.State(), a)
	}
	// Before the timeout, a lost expected backup stays expected.
	c = ready(t, testCfg, ms)
	c.Promote(nil)
	bit, _, _ = c.BackupSubscribed(1, "a", 0)
	c.Actions()
	c.BackupLost(1, "gone before catching up")
	if a := c.Actions(); a.Release != 0 || c.HoldMask()&bit == 0 || !c.Expecting() {
		t.Fatalf("released the party of a backup still expected: %+v", a)
	}
	tickUntil(c, 0, 11*time.Second)
	if c.State() != Active {
		t.Fatalf("state %s after the timeout", c.State())
	}
}

// ha-min-ready-backups: every message waits while fewer backups are ready;
// the party is released once enough are, held again when one drops.
func TestMinReadyBackups(t *testing.T) {
	cfg := testCfg
	cfg.MinReadyBackups = 2
	c := promoted(t, cfg)
	minBit := c.MinReadyHeld()
	if minBit == 0 || c.HoldMask() != minBit {
		t.Fatalf("min-ready party %b, mask %b", minBit, c.HoldMask())
	}
	c.BackupSubscribed(1, "b1", 1)
	c.BackupSubscribed(2, "b2", 1)
	c.BackupCaughtUp(1)
	if c.Actions().Release != 0 || c.MinReadyHeld() == 0 {
		t.Fatal("ha-min-ready-backups=2: released with one backup ready")
	}
	c.BackupCaughtUp(2)
	if a := c.Actions(); a.Release != minBit || c.MinReadyHeld() != 0 || c.HoldMask() != 0 {
		t.Fatalf("two ready: release %b, held %b", a.Release, c.HoldMask())
	}
	c.Released(minBit)
	c.BackupLost(2, "gone")
	if c.MinReadyHeld() != minBit || c.HoldMask()&minBit == 0 {
		t.Fatal("min-ready party not held again with one backup ready")
	}
	if bit, _, _ := c.BackupSubscribed(3, "b3", 1); bit == minBit {
		t.Fatal("the min-ready party was given to a stream")
	}
}

// A primary waking from a freeze does not drop a lost backup before its
// peers say no other primary of its epoch or a newer one exists: if one
// does, it stops; if not, the drop goes on. A primary also asks its peers
// periodically.
func TestFrozenPrimaryChecksPeers(t *testing.T) {
	for _, rivalEpoch := range []uint64{2, 1, 0} { // newer, the same (see TestBackup), none
		c := promoted(t, testCfg)
		c.BackupSubscribed(1, "b1", 1)
		c.BackupCaughtUp(1)
		c.Tick(500 * time.Millisecond)
		c.Actions()
		c.Tick(5 * time.Second) // 4.5 s without a tick: a freeze
		c.BackupLost(1, "silent")
		a := c.Actions()
		if !a.CheckPeers || !c.Membership().IsReady("b1") || len(a.Casts) != 0 {
			t.Fatalf("dropped right after a freeze: %+v", a)
		}
		var peers []PeerStatus
		if rivalEpoch > 0 {
			peers = []PeerStatus{{Address: "b1", BrokerID: "b1", Reachable: true, State: Recovering, Membership: Membership{Epoch: rivalEpoch, Primary: "b1"}}}
		}
		c.PeersChecked(peers)
		a = c.Actions()
		want := fmt.Sprintf("stale primary: another primary has epoch %d, this one 1", rivalEpoch)
		switch {
		case rivalEpoch > 0 && (a.Exit != want || !c.Membership().IsReady("b1")):
			t.Fatalf("a rival primary of epoch %d: %+v", rivalEpoch, a)
		case rivalEpoch == 0 && (a.Exit != "" || c.Membership().IsReady("b1") || len(a.Casts) != 1):
			t.Fatalf("no rival primary: %+v", a)
		}
	}
	// Long after a freeze, a lost backup is dropped at once.
	c := promoted(t, testCfg)
	c.BackupSubscribed(1, "b1", 1)
	c.BackupCaughtUp(1)
	c.Tick(1100 * time.Millisecond) // a freeze
	for now := 1200 * time.Millisecond; now < 10*time.Second; now += 100 * time.Millisecond {
		c.Tick(now)
	}
	c.Actions()
	c.BackupLost(1, "gone")
	if c.Membership().IsReady("b1") {
		t.Fatal("a freeze long ago still parks drops")
	}
	// Periodic checks: one out at a time.
	c = promoted(t, testCfg)
	c.Tick(900 * time.Millisecond)
	if c.Actions().CheckPeers {
		t.Fatal("a check before the period")
	}
	c.Tick(time.Second)
	if !c.Actions().CheckPeers {
		t.Fatal("no periodic check")
	}
	c.Tick(1900 * time.Millisecond)
	if c.Actions().CheckPeers {
		t.Fatal("a second check while the first is out")
	}
	c.PeersChecked(nil)
	c.Tick(2500 * time.Millisecond)
	if c.Actions().CheckPeers {
		t.Fatal("a check before the period after the last answer")
	}
	c.Tick(2900 * time.Millisecond)
	if !c.Actions().CheckPeers {
		t.Fatal("no check after the period")
	}
}

// A backup that reconnected on a new stream: the old stream is replaced;
// its end drops the backup from the ready set unless the new stream caught
// up already (then only the old party is released). An expected backup's
// new stream keeps its party: the old one's end changes nothing.
func TestReplacedStream(t *testing.T) {
	c := promoted(t, testCfg)
	old, _, _ := c.BackupSubscribed(1, "b1", 1)
	c.BackupCaughtUp(1)
	_, replaced, _ := c.BackupSubscribed(2, "b1", 1)
	if !reflect.DeepEqual(replaced, []StreamID{1}) {
		t.Fatalf("replaced %v", replaced)
	}
	c.BackupCaughtUp(2)
	c.Actions()
	c.BackupLost(1, "replaced by a new connection")
	a := c.Actions()
	if !c.Membership().IsReady("b1") || a.Release != old || len(a.Casts) != 0 {
		t.Fatalf("the new stream caught up: want the old party released, b1 ready: %+v", a)
	}
	// Not caught up: dropped until it is.
	c = promoted(t, testCfg)
	c.BackupSubscribed(1, "b1", 1)
	c.BackupCaughtUp(1)
	c.BackupSubscribed(2, "b1", 1)
	c.Actions()
	c.BackupLost(1, "replaced by a new connection")
	if c.Membership().IsReady("b1") {
		t.Fatal("a backup whose new stream is catching up stayed in the ready set")
	}
	c.BackupCaughtUp(2)
	if !c.Membership().IsReady("b1") {
		t.Fatal("not ready again once caught up")
	}
	// Expected: the party is shared.
	c = ready(t, testCfg, Membership{Epoch: 1, Version: 2, Primary: "old", Ready: []string{"a", "self"}})
	c.Promote(nil)
	b1, _, _ := c.BackupSubscribed(1, "a", 0)
	b2, replaced, _ := c.BackupSubscribed(2, "a", 0)
	if b1 != b2 || len(replaced) != 1 {
		t.Fatalf("expected party %b, then %b", b1, b2)
	}
	c.Actions()
	c.BackupLost(1, "replaced by a new connection")
	if a := c.Actions(); a.Release != 0 || len(a.Casts) != 0 || c.HoldMask()&b1 == 0 {
		t.Fatalf("the shared party was released: %+v", a)
	}
}

// A backup that knows a newer epoch than its primary reveals the primary as
// stale: it stops.
func TestStaleByBackupEpoch(t *testing.T) {
	c := promoted(t, testCfg)
	if _, _, err := c.BackupSubscribed(1, "b1", 7); !errors.Is(err, ErrStale) {
		t.Fatalf("err %v", err)
	}
	if a := c.Actions(); a.Exit != "stale primary: another primary has epoch 7, this one 1" {
		t.Fatalf("%+v", a)
	}
	b := newCore(t, testCfg, Saved{})
	if _, _, err := b.BackupSubscribed(1, "x", 0); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("a backup took a stream: %v", err)
	}
}

// A stopping primary keeps its ready set: backups disconnecting then hold
// everything it acknowledged.
func TestStoppingKeepsTheReadySet(t *testing.T) {
	c := promoted(t, testCfg)
	c.BackupSubscribed(1, "b1", 1)
	c.BackupCaughtUp(1)
	c.Stopping()
	c.Actions()
	c.BackupLost(1, "broker stopping")
	if a := c.Actions(); !c.Membership().IsReady("b1") || a.Release != 0 || len(a.Casts) != 0 {
		t.Fatalf("%+v", a)
	}
}

// A standalone source of queue replicas: a new epoch at every start.
func TestStartSource(t *testing.T) {
	cfg := testCfg
	cfg.Cluster = false
	c := newCore(t, cfg, Saved{Epoch: 4})
	if e := c.StartSource(); e != 5 || c.Actions().Persist.Epoch != 5 || c.StartSource() != 5 {
		t.Fatalf("epoch %d", e)
	}
	if c.State() != Standalone || c.Actions().CheckPeers {
		t.Fatal("a source is no cluster primary")
	}
	c.Tick(time.Hour)
	if c.Actions().CheckPeers {
		t.Fatal("a standalone source asks no peers")
	}
}

// Time never goes back, and 64 parties at most are guarded.
func TestTickAndParties(t *testing.T) {
	c := promoted(t, testCfg)
	c.Tick(5 * time.Second)
	c.Tick(time.Second)
	if c.now != 5*time.Second {
		t.Fatalf("now %v", c.now)
	}
	for i := 0; i < 64; i++ {
		bit, _, _ := c.BackupSubscribed(StreamID(i+1), string(rune('a'+i)), 1)
		if (i < 64 && bit == 0) != false && i < 64 {
			t.Fatalf("stream %d got no party", i)
		}
	}
	if bit, _, _ := c.BackupSubscribed(100, "extra", 1); bit != 0 || c.Parties() != 64 {
		t.Fatalf("the 65th stream got %b, %d parties", bit, c.Parties())
	}
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// A new primary of a cluster acknowledges nothing until a backup knows its
// epoch (it acknowledged the membership its stream starts with): a
// promotion nobody learned of could be made again, with the same epoch.
// ha-backup-timeout ends the wait: then it serves alone. A broker with no
// peers configured does not wait.
func TestEpochKnown(t *testing.T) {
	cfg := testCfg
	cfg.Peers = 2
	for _, learned := range []bool{true, false} {
		c := promoted(t, cfg)
		bit := c.HoldMask()
		if bit == 0 || c.State() != Active {
			t.Fatalf("a new primary with peers: mask %b, %s", bit, c.State())
		}
		c.BackupSubscribed(1, "b1", 0)
		if c.HoldMask()&bit == 0 {
			t.Fatal("released when a backup subscribed, before it learned the epoch")
		}
		if learned {
			c.EpochKnown()
			if a := c.Actions(); a.Release != bit || c.HoldMask()&bit != 0 {
				t.Fatalf("epoch known: %+v, mask %b", a, c.HoldMask())
			}
			c.EpochKnown() // a second backup: nothing more to release
			if a := c.Actions(); a.Release != 0 {
				t.Fatalf("released twice: %+v", a)
			}
			continue
		}
		tickUntil(c, 0, testCfg.BackupTimeout-time.Millisecond)
		c.PeersChecked(nil) // the periodic checks
		if a := c.Actions(); a.Release != 0 {
			t.Fatalf("released before ha-backup-timeout: %+v", a)
		}
		c.Tick(testCfg.BackupTimeout)
		if a := c.Actions(); a.Release != bit || c.HoldMask()&bit != 0 || len(a.Log) != 1 || a.Log[0].Level != Warn {
			t.Fatalf("after ha-backup-timeout: %+v, mask %b", a, c.HoldMask())
		}
	}
	// The timeout passes while the primary is frozen: it waits for its
	// peers' answer; another primary of its epoch stops it.
	for _, rival := range []bool{false, true} {
		c := promoted(t, cfg)
		bit := c.HoldMask()
		c.Tick(testCfg.BackupTimeout + time.Second) // frozen from 0
		if a := c.Actions(); a.Release != 0 || !a.CheckPeers {
			t.Fatalf("expired right after a freeze: %+v", a)
		}
		var peers []PeerStatus
		if rival {
			peers = []PeerStatus{{BrokerID: "b1", Reachable: true, State: Active, Membership: Membership{Epoch: 1, Primary: "b1"}}}
		}
		c.PeersChecked(peers)
		a := c.Actions()
		if rival && (a.Exit == "" || a.Release != 0) || !rival && a.Release != bit {
			t.Fatalf("rival %v: %+v", rival, a)
		}
	}
	if c := promoted(t, testCfg); c.HoldMask() != 0 {
		t.Fatalf("no peers: mask %b", c.HoldMask())
	}
}

// A backup whose acknowledgements lag past ha-backup-lag-timeout (a stalled
// disk; its heartbeats still flow) is cut off once, and leaves the ready
// set as a lost backup does; not while its events are acknowledged in
// time, not without the bound, not right after a freeze of the primary.
func TestLaggingBackupIsCut(t *testing.T) {
	cfg := testCfg
	cfg.LagTimeout = 4 * time.Second
	c := promoted(t, cfg)
	c.BackupSubscribed(1, "b1", 1)
	c.BackupSubscribed(2, "b2", 1)
	c.BackupCaughtUp(1)
	c.BackupCaughtUp(2)
	c.Actions()
	tickUntil(c, 0, 10*time.Second)
	c.Unacknowledged(1, 6*time.Second, true) // waits 4 s: at the bound
	c.Unacknowledged(2, 0, false)            // nothing waits
	c.Unacknowledged(3, time.Second, true)   // no such stream
	if a := c.Actions(); len(a.Disconnect) != 0 {
		t.Fatalf("cut within the bound: %+v", a.Disconnect)
	}
	c.Unacknowledged(1, 6*time.Second-time.Millisecond, true)
	a := c.Actions()
	if len(a.Disconnect) != 1 || a.Disconnect[0].Stream != 1 || !strings.Contains(a.Disconnect[0].Reason, "ha-backup-lag-timeout (4s)") {
		t.Fatalf("a lagging backup not cut: %+v", a)
	}
	c.Unacknowledged(1, 0, true)
	if a := c.Actions(); len(a.Disconnect) != 0 {
		t.Fatal("cut twice")
	}
	if !c.Membership().IsReady("b1") {
		t.Fatal("left the ready set before its stream ended")
	}
	c.BackupLost(1, a.Disconnect[0].Reason)
	if c.Membership().IsReady("b1") || !c.Membership().IsReady("b2") {
		t.Fatalf("ready set %v", c.Membership().Ready)
	}

	// Right after a freeze every wait looks long: no cut then.
	c.Tick(20 * time.Second) // 10 s without a tick: frozen
	c.Unacknowledged(2, 0, true)
	if a := c.Actions(); len(a.Disconnect) != 0 {
		t.Fatal("cut right after a freeze")
	}
	// Without a bound, never.
	cfg.LagTimeout = 0
	n := promoted(t, cfg)
	n.BackupSubscribed(1, "b1", 1)
	tickUntil(n, 0, time.Minute)
	n.Unacknowledged(1, 0, true)
	if a := n.Actions(); len(a.Disconnect) != 0 {
		t.Fatal("cut without ha-backup-lag-timeout")
	}
}
