package store

import (
	"bytes"
	"errors"

	"github.com/qpidha/qpidha/internal/store/journal"
)

// slackSegments is how many segments beyond twice what lives the journal
// may hold before the live records of its oldest segment are carried
// forward: disk use stays under 2 x the live bytes + this many segments.
const slackSegments = 4

func (s *Store) kickReclaim() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// reclaimLoop reclaims after each batch the journal synced.
func (s *Store) reclaimLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.quit:
			return
		case <-s.kick:
		}
		if err := s.Reclaim(); err != nil && !errors.Is(err, journal.ErrClosed) {
			s.log.WithError(err).Warn("store: reclaiming journal space failed; trying again after the next write")
		}
	}
}

// Reclaim drops the oldest journal files while nothing in them lives, and
// carries the live records of the oldest forward (appends them again) when
// the journal holds much more than what lives, so that it can go too. Only
// the oldest file ever goes: a record in a later file may cancel one in it.
func (s *Store) Reclaim() error {
	for {
		sealed := s.j.Sealed()
		if len(sealed) == 0 {
			return nil
		}
		old := sealed[0]
		s.mu.Lock()
		sl := s.segs[old.Seq]
		empty := sl == nil || sl.records == 0
		s.mu.Unlock()
		if empty {
			if err := s.j.RemoveOldest(old.Seq); err != nil {
				return err
			}
			s.mu.Lock()
			delete(s.segs, old.Seq)
			s.reclaimed++
			s.mu.Unlock()
			continue
		}
		if !s.crowded() {
			return nil
		}
		moved, err := s.carry(old)
		if err != nil || !moved {
			return err
		}
		// Once the copies are on disk the oldest file can go.
		if err := s.j.Sync(); err != nil {
			return err
		}
	}
}

// crowded reports whether the journal holds much more than what lives.
func (s *Store) crowded() bool {
	size := s.cfg.SegmentSize
	if size <= 0 {
		size = journal.DefaultSegmentSize
	}
	js := s.j.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	return js.Bytes > 2*s.liveBytes+slackSegments*size
}

// carry appends again the records of the segment that still live: the
// declarations from memory, the messages from the file. A message enqueued
// by a transaction not committed yet keeps its transaction's tag.
func (s *Store) carry(old journal.SegmentInfo) (bool, error) {
	type enq struct {
		id, lsn uint64
		data    []byte
	}
	var msgs []enq
	s.mu.Lock()
	sl := s.segs[old.Seq]
	withMsgs := sl != nil && sl.msgs > 0
	s.mu.Unlock()
	read := func(fn func(journal.Record) error) error {
		if !withMsgs {
			return nil // only declarations live there: they are in memory
		}
		return s.j.Read(old.Seq, fn)
	}
	err := read(func(r journal.Record) error {
		if r.Type != recEnqueue {
			return nil
		}
		e, err := parseEnqueue(r.Data)
		if err != nil {
			return err
		}
		msgs = append(msgs, enq{id: e.id, lsn: r.LSN, data: bytes.Clone(r.Data)})
		return nil
	})
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	move := func(l *loc, msg bool, typ byte, payload ...[]byte) {
		if nl, ok := s.append(typ, nil, payload...); ok {
			s.dead(*l, msg)
			s.live(nl, msg)
			*l = nl
			s.carried++
		}
	}
	// In the order of their ids, so that a replayed test writes the same.
	for _, id := range sortedKeys(s.exchanges) {
		if x := s.exchanges[id]; x.seq == old.Seq {
			move(&x.loc, false, recExchange, x.payload)
		}
	}
	for _, id := range sortedKeys(s.queues) {
		if q := s.queues[id]; q.seq == old.Seq {
			move(&q.loc, false, recQueue, q.payload)
		}
	}
	for _, id := range sortedKeys(s.bindings) {
		if b := s.bindings[id]; b.seq == old.Seq {
			move(&b.loc, false, recBind, b.payload)
		}
	}
	if mk := s.mark; mk != nil && mk.seq == old.Seq {
		move(&mk.loc, false, recPosition, mk.payload)
	}
	for _, m := range msgs {
		mo := s.msgs[m.id]
		if mo == nil || mo.seq != old.Seq || mo.lsn != m.lsn {
			continue // dequeued, or a later copy lives
		}
		e, err := parseEnqueue(m.data)
		if err != nil {
			return false, err
		}
		e.txn = mo.txn // 0 once its transaction committed
		e.failures = mo.failures
		s.scratch = e.append(s.scratch[:0])
		move(&mo.loc, true, recEnqueue, s.scratch)
	}
	return true, nil
}

func sortedKeys[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sortIDs(ids)
	return ids
}
