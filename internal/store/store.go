// Package store is the broker's durable store: durable queues, exchanges
// and bindings, and the persistent messages on durable queues, kept in one
// journal (package journal) in the store directory. It implements
// broker.Journal: the broker tells it every change of a durable object as
// it happens, and a transfer to a durable queue is settled only once its
// record is synced. At start the journal is replayed and what it holds
// restored into the broker; while the broker runs, segments whose records
// are all dead are dropped, and the live records of the oldest segment are
// carried forward when the journal holds far more than what lives, so the
// disk holds about the live backlog.
package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/journal"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// JournalDir is the journal's directory in the store directory.
const JournalDir = "journal"

// Config configures a store.
type Config struct {
	// Dir is the store directory (the broker's store-dir or data-dir).
	Dir string
	// FS is the file system the store is in; nil: the operating system's,
	// at Dir.
	FS vfs.FS
	// SegmentSize is the size of the journal's files (default 16 MiB).
	SegmentSize int64
	// Truncate discards what the store holds instead of recovering it.
	Truncate bool
	// Manual runs no goroutines: tests call Flush and Reclaim.
	Manual bool
	// RetryInterval is how often writing is tried again while the disk is
	// full (default 1 s).
	RetryInterval time.Duration
	// Log is where the store reports (nil: nowhere).
	Log *logrus.Logger
	// OnFatal is called once when a write or sync failed for another
	// reason than a full disk: the broker must stop (see journal.Config).
	OnFatal func(err error)
	// OnSync is told how long each group commit's fdatasync took and how
	// many records it made durable (nil: nobody asks).
	OnSync func(took time.Duration, records uint64)
}

// Store is an open store.
type Store struct {
	cfg Config
	fs  vfs.FS
	log *logrus.Entry
	j   *journal.Journal

	mu        sync.Mutex
	scratch   []byte
	nextID    uint64
	queues    map[uint64]*queueObj
	exchanges map[uint64]*exchangeObj
	bindings  map[uint64]*bindingObj
	msgs      map[uint64]*msgObj
	txns      map[string]*txnObj // transactions with records, not committed yet
	segs      map[uint64]*segLive
	liveBytes int64
	reclaimed int // segments dropped
	carried   int // records carried forward

	// The HA replication position (see SetPosition): the last recorded,
	// its record, and the last known to be on disk.
	position     atomic.Pointer[func() broker.MessageID]
	mark         *markObj
	marked       broker.MessageID
	markedSynced broker.MessageID

	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

// loc is where an object's record is: the segment, its LSN, its size.
type loc struct {
	seq, lsn uint64
	size     int64
}

// segLive is what lives in a segment: it can go when nothing does.
type segLive struct {
	records int
	msgs    int // of which messages (the others are declarations, in memory)
	bytes   int64
}

type queueObj struct {
	loc
	name     string
	payload  []byte // the record, to carry forward
	bindings map[uint64]struct{}
}

type exchangeObj struct {
	loc
	name     string
	payload  []byte
	bindings map[uint64]struct{}
}

type bindingObj struct {
	loc
	payload  []byte
	exchange uint64 // 0: a built-in exchange
	exName   string
	queue    uint64
	key      string
}

type msgObj struct {
	loc
	queue    uint64
	failures uint32
	txn      uint64 // the transaction that enqueued it, until it commits
}

// markObj is the last position record: it lives until a newer one is written.
type markObj struct {
	loc
	pos     broker.MessageID
	payload []byte
}

// txnObj is a transaction being committed: its records are tagged with
// its id and take effect with its commit record.
type txnObj struct {
	id       uint64
	enqueued []uint64
	// dequeued are messages it removed, with the LSN of the dequeue: they
	// stay live (and are carried forward if need be) until the commit,
	// since without it on disk they come back.
	dequeued []txnDequeue
}

type txnDequeue struct{ id, lsn uint64 }

// Open opens the store in cfg.Dir (creating it), replays its journal and
// returns the store with what it recovered; Recovered.Restore puts that
// into the broker before the broker's SetJournal attaches the store.
func Open(cfg Config) (*Store, *Recovered, error) {
	s := &Store{
		cfg:       cfg,
		fs:        cfg.FS,
		queues:    map[uint64]*queueObj{},
		exchanges: map[uint64]*exchangeObj{},
		bindings:  map[uint64]*bindingObj{},
		msgs:      map[uint64]*msgObj{},
		txns:      map[string]*txnObj{},
		segs:      map[uint64]*segLive{},
		kick:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	if s.fs == nil {
		if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
			return nil, nil, fmt.Errorf("store %s: %w", cfg.Dir, err)
		}
		s.fs = vfs.Dir(cfg.Dir)
	}
	log := cfg.Log
	if log == nil {
		log = logrus.New()
		log.SetOutput(io.Discard)
	}
	s.log = log.WithField("store", cfg.Dir)
	if cfg.Truncate {
		if err := s.truncate(); err != nil {
			return nil, nil, err
		}
	}
	began := time.Now()
	rs := newReplay()
	j, rec, err := journal.Open(journal.Config{
		FS:            s.fs,
		Dir:           JournalDir,
		SegmentSize:   cfg.SegmentSize,
		Manual:        cfg.Manual,
		Preallocate:   !cfg.Manual,
		RetryInterval: cfg.RetryInterval,
		OnFatal:       s.fatal,
		OnFull:        s.full,
		AfterSync:     s.kickReclaim,
		OnSync:        cfg.OnSync,
		BeforeBatch:   s.markPosition,
	}, rs.record)
	if err != nil {
		if errors.Is(err, journal.ErrVersion) {
			err = fmt.Errorf("%w: start the qpidd that wrote it, or discard the store with --truncate yes", err)
		}
		return nil, nil, fmt.Errorf("store %s: %w", cfg.Dir, err)
	}
	s.j = j
	recovered, err := rs.finish(s)
	if err != nil {
		j.Close()
		return nil, nil, fmt.Errorf("store %s: %w", cfg.Dir, err)
	}
	recovered.Journal = rec
	recovered.Took = time.Since(began)
	switch d := rec.Damage; {
	case d == nil:
	case len(d.Later) == 0:
		s.log.WithField("damage", d.String()).Warn("store: the journal ends in a torn or damaged record (what a crash or power loss while writing leaves): recovered everything before it and cut the rest, which was never acknowledged")
	default:
		s.log.WithField("damage", d.String()).Error("store: the journal is damaged before its end (not a torn write: a disk or file error): recovered everything before the damage; the records after it are lost, and the later files were renamed *.dropped for inspection")
	}
	if recovered.DroppedTxns > 0 {
		s.log.WithField("transactions", recovered.DroppedTxns).Info("store: dropped the records of transactions whose commit was not on disk")
	}
	if !cfg.Manual {
		go s.reclaimLoop()
	} else {
		close(s.done)
	}
	return s, recovered, nil
}

// truncate discards the journal's files.
func (s *Store) truncate() error {
	names, err := s.fs.List(JournalDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: truncate: %w", s.cfg.Dir, err)
	}
	for _, name := range names {
		if err := s.fs.Remove(path.Join(JournalDir, name)); err != nil {
			return fmt.Errorf("store %s: truncate: %w", s.cfg.Dir, err)
		}
	}
	if err := s.fs.SyncDir(JournalDir); err != nil {
		return fmt.Errorf("store %s: truncate: %w", s.cfg.Dir, err)
	}
	if len(names) > 0 {
		s.log.WithField("files", len(names)).Warn("store: truncate: discarded what the store held")
	}
	return nil
}

func (s *Store) fatal(err error) {
	s.log.WithError(err).Error("store: writing the journal failed: stopping (after a failed fdatasync the data may be gone, so no retry can be trusted)")
	if s.cfg.OnFatal != nil {
		s.cfg.OnFatal(err)
	}
}

func (s *Store) full(err error) {
	if err != nil {
		s.log.WithError(err).Error("store: the disk is full: new persistent messages are refused (amqp:resource-limit-exceeded) until space is freed; retrying every second")
	} else {
		s.log.Info("store: the disk has space again: persistent messages are taken again")
	}
}

// Close stops the store: what was recorded is written and synced.
func (s *Store) Close() error {
	select {
	case <-s.quit:
	default:
		close(s.quit)
	}
	<-s.done
	return s.j.Close()
}

// Flush writes and syncs what was recorded (Config.Manual).
func (s *Store) Flush() error { return s.j.Flush() }

// Synced is the journal's synced position: the LSN up to which every
// record is known to be on disk.
func (s *Store) Synced() uint64 { return s.j.Synced() }

// Dir is the store directory.
func (s *Store) Dir() string { return s.cfg.Dir }

func (s *Store) newID() uint64 {
	s.nextID++
	return s.nextID
}

// append adds a record whose payload is the parts (s.mu held); false if
// the journal stopped.
func (s *Store) append(typ byte, c journal.Completer, payload ...[]byte) (loc, bool) {
	lsn, seq, err := s.j.Append(typ, c, payload...)
	if err != nil {
		return loc{}, false
	}
	size := 0
	for _, p := range payload {
		size += len(p)
	}
	return loc{seq: seq, lsn: lsn, size: journal.RecordSize(size)}, true
}

// live and dead count a record in or out of its segment (s.mu held); msg
// says it is a message's.
func (s *Store) live(l loc, msg bool) {
	sl := s.segs[l.seq]
	if sl == nil {
		sl = &segLive{}
		s.segs[l.seq] = sl
	}
	sl.records++
	if msg {
		sl.msgs++
	}
	sl.bytes += l.size
	s.liveBytes += l.size
}

func (s *Store) dead(l loc, msg bool) {
	if sl := s.segs[l.seq]; sl != nil {
		sl.records--
		if msg {
			sl.msgs--
		}
		sl.bytes -= l.size
	}
	s.liveBytes -= l.size
}

// txn is the transaction of that name (s.mu held); nil for none.
func (s *Store) txn(name string) *txnObj {
	if name == "" {
		return nil
	}
	t := s.txns[name]
	if t == nil {
		t = &txnObj{id: s.newID()}
		s.txns[name] = t
	}
	return t
}

func (t *txnObj) ID() uint64 {
	if t == nil {
		return 0
	}
	return t.id
}

// queueRecord is a queue record's payload, in s.scratch (s.mu held).
func (s *Store) queueRecord(id uint64, name string, st broker.QueueSettings) []byte {
	p := putUvarint(s.scratch[:0], id)
	p = putString(p, name)
	p = putString(p, st.Identity)
	p = putArgs(p, queueArgs(st))
	s.scratch = p
	return p
}

// QueueDeclared implements broker.Journal.
func (s *Store) QueueDeclared(q *broker.Queue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	p := s.queueRecord(id, q.Name(), q.Settings())
	l, ok := s.append(recQueue, nil, p)
	if !ok {
		return
	}
	q.SetJournalID(id)
	s.queues[id] = &queueObj{loc: l, name: q.Name(), payload: clone(p), bindings: map[uint64]struct{}{}}
	s.live(l, false)
}

// QueueDeleted implements broker.Journal.
func (s *Store) QueueDeleted(q *broker.Queue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := q.JournalID()
	qo := s.queues[id]
	if qo == nil {
		return
	}
	s.scratch = putUvarint(s.scratch[:0], id)
	s.append(recQueueDel, nil, s.scratch)
	s.dead(qo.loc, false)
	for mid, mo := range s.msgs { // a queue's deletion is rare: no index
		if mo.queue == id {
			s.forget(mid, mo)
		}
	}
	for bid := range qo.bindings {
		s.dropBinding(bid)
	}
	delete(s.queues, id)
}

// QueueSetAside implements broker.Journal: the queue's record again, with
// the new name (a later record of an id wins at replay), and its bindings
// gone.
func (s *Store) QueueSetAside(q *broker.Queue, aside string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := q.JournalID()
	qo := s.queues[id]
	if qo == nil {
		return
	}
	for bid := range qo.bindings {
		s.scratch = putUvarint(s.scratch[:0], bid)
		s.append(recUnbind, nil, s.scratch)
		s.dropBinding(bid)
	}
	p := s.queueRecord(id, aside, q.Settings())
	l, ok := s.append(recQueue, nil, p)
	if !ok {
		return
	}
	s.dead(qo.loc, false)
	qo.loc, qo.name, qo.payload = l, aside, clone(p)
	s.live(l, false)
}

// ExchangeDeclared implements broker.Journal.
func (s *Store) ExchangeDeclared(e *broker.Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newID()
	st := e.Settings()
	p := putUvarint(s.scratch[:0], id)
	p = putString(p, e.Name())
	p = putString(p, e.Type())
	p = putString(p, st.Identity)
	p = putArgs(p, exchangeArgs(st))
	s.scratch = p
	l, ok := s.append(recExchange, nil, p)
	if !ok {
		return
	}
	e.SetJournalID(id)
	s.exchanges[id] = &exchangeObj{loc: l, name: e.Name(), payload: clone(p), bindings: map[uint64]struct{}{}}
	s.live(l, false)
}

// ExchangeDeleted implements broker.Journal.
func (s *Store) ExchangeDeleted(e *broker.Exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := e.JournalID()
	xo := s.exchanges[id]
	if xo == nil {
		return
	}
	s.scratch = putUvarint(s.scratch[:0], id)
	s.append(recExchangeDel, nil, s.scratch)
	s.dead(xo.loc, false)
	for bid := range xo.bindings {
		s.dropBinding(bid)
	}
	delete(s.exchanges, id)
}

// dropBinding forgets a binding whose exchange or queue went, or which a
// new one replaced (s.mu held): no record, the cause has one or is one.
func (s *Store) dropBinding(id uint64) {
	bo := s.bindings[id]
	if bo == nil {
		return
	}
	s.dead(bo.loc, false)
	if qo := s.queues[bo.queue]; qo != nil {
		delete(qo.bindings, id)
	}
	if xo := s.exchanges[bo.exchange]; xo != nil {
		delete(xo.bindings, id)
	}
	delete(s.bindings, id)
}

// Bound implements broker.Journal.
func (s *Store) Bound(b *broker.Binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	qid, xid := b.To().JournalID(), b.From().JournalID()
	qo := s.queues[qid]
	xo := s.exchanges[xid]
	if qo == nil || (xid != 0 && xo == nil) || (xid == 0 && !b.From().Builtin()) {
		return
	}
	for bid := range qo.bindings { // the broker replaced an identical binding
		if bo := s.bindings[bid]; bo.exName == b.Exchange && bo.key == b.Key {
			s.dropBinding(bid)
		}
	}
	id := s.newID()
	p := putUvarint(s.scratch[:0], id)
	p = putUvarint(p, xid)
	p = putString(p, b.Exchange)
	p = putUvarint(p, qid)
	p = putString(p, b.Key)
	p = putArgs(p, b.Args)
	s.scratch = p
	l, ok := s.append(recBind, nil, p)
	if !ok {
		return
	}
	b.SetJournalID(id)
	s.bindings[id] = &bindingObj{loc: l, payload: clone(p), exchange: xid, exName: b.Exchange, queue: qid, key: b.Key}
	qo.bindings[id] = struct{}{}
	if xo != nil {
		xo.bindings[id] = struct{}{}
	}
	s.live(l, false)
}

// Unbound implements broker.Journal.
func (s *Store) Unbound(b *broker.Binding) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := b.JournalID()
	if s.bindings[id] == nil {
		return
	}
	s.scratch = putUvarint(s.scratch[:0], id)
	s.append(recUnbind, nil, s.scratch)
	s.dropBinding(id)
}

// Refusal implements broker.Journal.
func (s *Store) Refusal() error {
	// What the sender is told (the log has the details).
	switch err := s.j.Err(); {
	case err == nil:
		return nil
	case errors.Is(err, journal.ErrFull):
		return fmt.Errorf("%w: its disk is full; try again once space is freed", broker.ErrStoreFull)
	default:
		return fmt.Errorf("%w: it stopped after a disk error; the broker is shutting down", broker.ErrStoreFull)
	}
}

// Enqueued implements broker.Journal.
func (s *Store) Enqueued(q *broker.Queue, e *broker.Entry) *broker.Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	qid := q.JournalID()
	qo := s.queues[qid]
	if qo == nil {
		return nil // a queue being deleted
	}
	id := s.newID()
	t := s.txn(e.Txn())
	rec := enqueue{id: id, queue: qid, pos: e.Pos, txn: t.ID(), failures: e.Failures(), ha: e.ID()}
	if t := e.Expires(); !t.IsZero() {
		rec.expires = t.UnixNano()
	}
	// The record: its fields, then the message as the broker keeps it
	// (header, annotations, bare message, footer), in parts: no copy.
	p := rec.append(s.scratch[:0])
	m := e.Msg
	if m.HasHeader {
		p, _ = m.Header.Marshal(p)
	}
	s.scratch = p
	h := broker.NewHold(1)
	l, ok := s.append(recEnqueue, h, p, m.MessageAnnotations, m.Bare, m.Footer)
	if !ok {
		return h // the store stopped: never acknowledged
	}
	e.SetJournalID(id)
	s.msgs[id] = &msgObj{loc: l, queue: qid, failures: e.Failures(), txn: t.ID()}
	if t != nil {
		t.enqueued = append(t.enqueued, id)
	}
	s.live(l, true)
	return h
}

// Dequeued implements broker.Journal.
func (s *Store) Dequeued(q *broker.Queue, e *broker.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := e.JournalID()
	mo := s.msgs[id]
	if mo == nil {
		return // its queue's deletion took it
	}
	t := s.txn(e.Txn())
	p := putUvarint(s.scratch[:0], id)
	p = putUvarint(p, t.ID())
	s.scratch = p
	l, _ := s.append(recDequeue, nil, p)
	if t != nil {
		t.dequeued = append(t.dequeued, txnDequeue{id: id, lsn: l.lsn}) // gone with the commit
		return
	}
	s.forget(id, mo)
}

// forget drops a message that left its queue (s.mu held).
func (s *Store) forget(id uint64, mo *msgObj) {
	s.dead(mo.loc, true)
	delete(s.msgs, id)
}

// Redelivered implements broker.Journal.
func (s *Store) Redelivered(q *broker.Queue, e *broker.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mo := s.msgs[e.JournalID()]
	if mo == nil {
		return
	}
	mo.failures = e.Failures()
	p := putUvarint(s.scratch[:0], e.JournalID())
	p = putUvarint(p, uint64(mo.failures))
	s.scratch = p
	s.append(recRedeliver, nil, p)
}

// Committed implements broker.Journal.
func (s *Store) Committed(txn string) *broker.Hold {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.txns[txn]
	if t == nil {
		return nil
	}
	delete(s.txns, txn)
	// A message carried forward after its dequeue was written has a copy
	// the dequeue does not cancel (it comes later): say it again.
	for _, d := range t.dequeued {
		if mo := s.msgs[d.id]; mo != nil && mo.lsn > d.lsn {
			p := putUvarint(s.scratch[:0], d.id)
			s.scratch = putUvarint(p, t.id)
			s.append(recDequeue, nil, s.scratch)
		}
	}
	s.scratch = putUvarint(s.scratch[:0], t.id)
	h := broker.NewHold(1)
	s.append(recCommit, h, s.scratch)
	for _, id := range t.enqueued {
		if mo := s.msgs[id]; mo != nil {
			mo.txn = 0
		}
	}
	for _, d := range t.dequeued {
		if mo := s.msgs[d.id]; mo != nil {
			s.forget(d.id, mo)
		}
	}
	return h
}

// Sync implements broker.Journal.
func (s *Store) Sync() error { return s.j.Sync() }

// Health is nil while the store keeps up, else why it does not: its disk
// is full, the journal stopped, or a sync has taken longer than slow so far
// (a stalled disk). An HA backup does not rejoin its primary then: its
// acknowledgements would stall every sender.
func (s *Store) Health(slow time.Duration) error {
	if err := s.j.Err(); err != nil {
		if errors.Is(err, journal.ErrFull) {
			return errors.New("the store's disk is full")
		}
		return fmt.Errorf("the store stopped: %w", err)
	}
	if d := s.j.Syncing(); d > slow {
		return fmt.Errorf("the store's disk has taken %s for one sync so far (stalled?)", d.Round(time.Millisecond))
	}
	return nil
}

// Barrier returns a hold that is done once every record appended so far
// is on disk (a backup acknowledges a replication barrier with it).
func (s *Store) Barrier() *broker.Hold {
	h := broker.NewHold(1)
	s.j.Await(h)
	return h
}

// SetPosition makes the journal record the broker's HA replication
// position, as position returns it, before each batch it writes: position
// must return a point such that every durable change made up to it was
// recorded already. After a crash, Recovered.Position says how far the
// broker's durable state goes, which the cluster manager and the HA
// module compare to choose the broker that holds the most.
func (s *Store) SetPosition(position func() broker.MessageID) {
	s.position.Store(&position)
}

// SyncedPosition is the last HA replication position known to be on disk.
func (s *Store) SyncedPosition() broker.MessageID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.markedSynced
}

// MarkPosition records the HA position now, if it moved (a new primary's
// epoch is on disk then even before any message is).
func (s *Store) MarkPosition() { s.markPosition() }

// markPosition records the HA position ahead of a batch (the journal's
// writer calls it when records are waiting), if it moved.
func (s *Store) markPosition() {
	f := s.position.Load()
	if f == nil {
		return
	}
	pos := (*f)()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.marked.Less(pos) {
		return
	}
	p := putUvarint(s.scratch[:0], pos.Epoch)
	p = putUvarint(p, pos.Seq)
	s.scratch = p
	l, ok := s.append(recPosition, markSynced{s, pos}, p)
	if !ok {
		return
	}
	if s.mark != nil {
		s.dead(s.mark.loc, false)
	}
	s.mark = &markObj{loc: l, pos: pos, payload: clone(p)}
	s.marked = pos
	s.live(l, false)
}

// markSynced moves the synced position once its record is on disk.
type markSynced struct {
	s   *Store
	pos broker.MessageID
}

func (m markSynced) Complete() {
	m.s.mu.Lock()
	if m.s.markedSynced.Less(m.pos) {
		m.s.markedSynced = m.pos
	}
	m.s.mu.Unlock()
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// Stats are the store's figures.
type Stats struct {
	journal.Stats
	Dir       string
	Queues    int   // durable queues
	Messages  int   // persistent messages stored
	LiveBytes int64 // bytes of the records that live
	Reclaimed int   // journal files dropped
	Carried   int   // records carried forward out of old files
	// Stopped: a write or sync failed (not for a full disk) and the store
	// stopped; Syncing is how long the sync in progress has taken so far.
	Stopped bool
	Syncing time.Duration
}

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	js := s.j.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.j.Err()
	return Stats{Stats: js, Dir: s.cfg.Dir, Queues: len(s.queues), Messages: len(s.msgs),
		LiveBytes: s.liveBytes, Reclaimed: s.reclaimed, Carried: s.carried,
		Stopped: err != nil && !errors.Is(err, journal.ErrFull), Syncing: s.j.Syncing()}
}

// Attributes are the store's figures for management (qpid-config list store).
func (s *Store) Attributes() map[string]any {
	st := s.Stats()
	perSync, latency := 0.0, 0.0
	if st.Syncs > 0 {
		perSync = float64(st.Records) / float64(st.Syncs)
		latency = float64(st.SyncTime.Microseconds()) / float64(st.Syncs)
	}
	return map[string]any{
		"name":             "store",
		"directory":        st.Dir,
		"journalFiles":     int64(st.Segments),
		"journalBytes":     st.Bytes,
		"liveBytes":        st.LiveBytes,
		"durableQueues":    int64(st.Queues),
		"messages":         int64(st.Messages),
		"syncedPosition":   int64(st.Synced),
		"syncs":            int64(st.Syncs),
		"records":          int64(st.Records),
		"recordsPerSync":   round2(perSync),
		"syncLatencyUs":    round2(latency),
		"maxSyncLatencyUs": st.MaxSync.Microseconds(),
		"diskFull":         st.Full,
		"reclaimedFiles":   int64(st.Reclaimed),
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
