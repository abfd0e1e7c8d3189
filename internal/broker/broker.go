// Package broker is the messaging model: named nodes (queues now, exchanges
// later), consumers and at-least-once delivery. It knows nothing of the wire
// protocol; package server maps AMQP links onto it.
package broker

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
)

// ErrNotFound is returned for a node that does not exist and may not be
// created on demand.
var ErrNotFound = errors.New("not found")

// Config configures a broker.
type Config struct {
	// QueuePatterns are regular expressions: an attach to an unknown address
	// matching one creates a queue of that name (qpidd's queue-patterns).
	QueuePatterns []string
}

// Broker is the registry of nodes.
type Broker struct {
	patterns []*regexp.Regexp

	mu     sync.RWMutex
	queues map[string]*Queue
}

// New returns an empty broker.
func New(cfg Config) (*Broker, error) {
	b := &Broker{queues: map[string]*Queue{}}
	for _, p := range cfg.QueuePatterns {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			return nil, fmt.Errorf("queue pattern %q: %w", p, err)
		}
		b.patterns = append(b.patterns, re)
	}
	return b, nil
}

// DeclareQueue returns the queue of that name, creating it with s if absent.
func (b *Broker) DeclareQueue(name string, s QueueSettings) (q *Queue, created bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.queues[name]; q != nil {
		return q, false
	}
	q = NewQueue(name, s)
	b.queues[name] = q
	return q, true
}

// Queue returns a queue by name, or nil.
func (b *Broker) Queue(name string) *Queue {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.queues[name]
}

// Queues lists the queues by name.
func (b *Broker) Queues() []*Queue {
	b.mu.RLock()
	qs := make([]*Queue, 0, len(b.queues))
	for _, q := range b.queues {
		qs = append(qs, q)
	}
	b.mu.RUnlock()
	sort.Slice(qs, func(i, j int) bool { return qs[i].name < qs[j].name })
	return qs
}

// Resolve finds the queue an attach addresses, creating it when its name
// matches a queue pattern.
func (b *Broker) Resolve(address string) (*Queue, error) {
	if q := b.Queue(address); q != nil {
		return q, nil
	}
	for _, re := range b.patterns {
		if re.MatchString(address) {
			q, _ := b.DeclareQueue(address, QueueSettings{})
			return q, nil
		}
	}
	return nil, fmt.Errorf("%w: no queue %q", ErrNotFound, address)
}
