package broker

import "sync"

// committedMemory is how many committed transactions a broker remembers.
const committedMemory = 1 << 16

// txnLog remembers the names of recently committed transactions, so that a
// client whose connection dropped while its commit was in flight learns the
// true outcome when it asks again: here, or on the backup promoted in this
// broker's place (replication records each commit it applies).
type txnLog struct {
	mu    sync.Mutex
	names map[string]struct{}
	ring  []string
	next  int
}

// RecordCommit notes that transaction txn committed.
func (b *Broker) RecordCommit(txn string) {
	l := &b.txns
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.names == nil {
		l.names = map[string]struct{}{}
		l.ring = make([]string, committedMemory)
	}
	if _, ok := l.names[txn]; ok {
		return
	}
	delete(l.names, l.ring[l.next]) // forget the oldest
	l.ring[l.next] = txn
	l.names[txn] = struct{}{}
	l.next = (l.next + 1) % len(l.ring)
}

// Committed reports whether transaction txn is known to have committed
// (among the last 65536).
func (b *Broker) Committed(txn string) bool {
	l := &b.txns
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.names[txn]
	return ok
}
