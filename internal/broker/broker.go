// Package broker is the messaging model: queues, exchanges and bindings,
// consumers, and at-least-once delivery. It knows nothing of the wire
// protocol; package amqpserver maps AMQP links onto it.
package broker

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
)

// Errors of the broker's registry.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists with different settings")
	ErrInUse    = errors.New("in use")
	ErrBuiltin  = errors.New("built-in exchanges cannot be changed")
	// ErrQueueQuota refuses a queue its creator may not have: they created
	// as many as their limit allows (Creator).
	ErrQueueQuota = errors.New("queue limit per user reached")
)

// Creator is the identity a client creates a queue as, with the most
// queues it may have created (max-queues-per-user, the ACL's "quota
// queues"). A queue counts for its creator from its creation until it is
// deleted (or set aside), whoever deletes it; queues declared without a
// creator (at start-up, restored from the store, replicated by HA) count
// for nobody.
type Creator struct {
	User    string
	Limited bool   // Max applies
	Max     int    // the most queues User may have created, with Limited
	Source  string // what sets Max, for the refusal: "max-queues-per-user"
}

// Config configures a broker.
type Config struct {
	// QueuePatterns are regular expressions: an attach to an unknown address
	// matching one creates a queue of that name (qpidd's queue-patterns).
	QueuePatterns []string
	// TopicPatterns likewise create topic exchanges (qpidd's topic-patterns).
	TopicPatterns []string
	// DefaultQueueLimit is the byte limit of queues that declare none (0: none).
	DefaultQueueLimit int64
	// FlowStopThreshold and FlowResumeThreshold are the percentages of a
	// queue's limits at which producer flow control starts and ends, for
	// queues whose arguments set no flow levels (0: none by default).
	FlowStopThreshold, FlowResumeThreshold int
	// FlowChanged, if set, is told when a queue's flow control starts or
	// ends (with the queue locked: it must not call back into the broker).
	FlowChanged func(queue string, stopped bool, depth int, bytes int64)
	// MaxMemory bounds the bytes of all queues' messages together for
	// producers' new messages (memory.go; 0: no bound).
	MaxMemory int64
	// MemoryChanged, if set, is told when producer flow control for memory
	// starts or ends (with the broker's memory accounting locked: it must
	// only log).
	MemoryChanged func(stopped bool, bytes, max int64)
	// Now is the clock (message expiry). Nil means time.Now.
	Now func() time.Time
}

// The built-in exchanges every broker has.
var builtinExchanges = []struct{ name, kind string }{
	{"", Direct}, // the default exchange: every queue is bound by its name
	{"amq.direct", Direct},
	{"amq.topic", Topic},
	{"amq.fanout", Fanout},
	{"amq.match", Headers},
}

// Broker is the registry of queues and exchanges.
type Broker struct {
	cfg           Config
	queuePatterns []*regexp.Regexp
	topicPatterns []*regexp.Regexp

	// mu guards the registry; configuration changes (declare, delete, bind,
	// unbind) hold it for writing, so the observer sees them in order.
	mu        sync.RWMutex
	queues    map[string]*Queue
	exchanges map[string]*Exchange
	observer  ConfigObserver
	journal   Journal // the durable store, nil if none (set before serving)

	txns txnLog // recently committed transactions

	created map[string]int // queues alive per creator (b.mu)
	mem     memory         // message bytes on all queues (memory.go)
}

// New returns a broker with only the built-in exchanges.
func New(cfg Config) (*Broker, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlowStopThreshold > 0 && cfg.FlowResumeThreshold > cfg.FlowStopThreshold {
		return nil, fmt.Errorf("flow control would resume (at %d%% of a queue's limit) above where it stops (%d%%): make default-flow-resume-threshold at most default-flow-stop-threshold",
			cfg.FlowResumeThreshold, cfg.FlowStopThreshold)
	}
	b := &Broker{cfg: cfg, queues: map[string]*Queue{}, exchanges: map[string]*Exchange{}}
	var err error
	if b.queuePatterns, err = compilePatterns("queue", cfg.QueuePatterns); err != nil {
		return nil, err
	}
	if b.topicPatterns, err = compilePatterns("topic", cfg.TopicPatterns); err != nil {
		return nil, err
	}
	for _, x := range builtinExchanges {
		e, _ := newExchange(x.name, x.kind, ExchangeSettings{Durable: true}, true)
		b.exchanges[x.name] = e
	}
	return b, nil
}

func compilePatterns(what string, patterns []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range patterns {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s pattern %q: %w", what, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func (b *Broker) now() time.Time { return b.cfg.Now() }

// DeclareQueue returns the queue of that name, creating it with s if absent.
// Declaring an existing queue is not an error (qpid's passive declare); the
// existing queue's settings are kept.
func (b *Broker) DeclareQueue(name string, s QueueSettings) (q *Queue, created bool, err error) {
	return b.declareQueue(name, s, nil)
}

// DeclareQueueAs is DeclareQueue for a client: the queue, if created,
// counts for its creator, and is refused (ErrQueueQuota) when the creator
// has as many queues as its limit allows.
func (b *Broker) DeclareQueueAs(name string, s QueueSettings, by Creator) (q *Queue, created bool, err error) {
	return b.declareQueue(name, s, &by)
}

// QueuesCreatedBy is how many queues a creator has (made and not deleted).
func (b *Broker) QueuesCreatedBy(user string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.created[user]
}

func (b *Broker) declareQueue(name string, s QueueSettings, by *Creator) (q *Queue, created bool, err error) {
	if name == "" {
		return nil, false, errors.New("a queue needs a name")
	}
	if s.AlternateExchange != "" && b.Exchange(s.AlternateExchange) == nil {
		return nil, false, fmt.Errorf("%w: alternate exchange %q", ErrNotFound, s.AlternateExchange)
	}
	s = b.withDefaults(s)
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.queues[name]; q != nil {
		return q, false, nil
	}
	if by != nil && by.Limited && b.created[by.User] >= by.Max {
		return nil, false, fmt.Errorf("%w: user %s has %d queues, the most allowed (%d, %s); queue %q refused",
			ErrQueueQuota, by.User, b.created[by.User], by.Max, by.Source, name)
	}
	q = NewQueue(name, s)
	q.broker = b
	b.queues[name] = q
	if by != nil {
		if b.created == nil {
			b.created = map[string]int{}
		}
		q.creator = by.User
		b.created[by.User]++
	}
	if b.journal != nil && s.Durable {
		b.journal.QueueDeclared(q)
	}
	if b.observer != nil {
		b.observer.QueueDeclared(q)
	}
	return q, true, nil
}

// withDefaults fills in what a queue's settings leave to the broker: the
// default byte limit, flow control levels, an identity.
func (b *Broker) withDefaults(s QueueSettings) QueueSettings {
	if s.MaxBytes == 0 && s.MaxCount == 0 {
		s.MaxBytes = b.cfg.DefaultQueueLimit
	}
	s.Flow = b.cfg.flowLimits(s)
	if s.Identity == "" {
		s.Identity = NewIdentity()
	}
	return s
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
	defer b.mu.RUnlock()
	return sortedQueues(b.queues)
}

func sortedQueues(m map[string]*Queue) []*Queue {
	qs := make([]*Queue, 0, len(m))
	for _, q := range m {
		qs = append(qs, q)
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].name < qs[j].name })
	return qs
}

// DeleteQueue removes a queue with its bindings. Its messages go to its
// alternate exchange, if any; its consumers are told (their Fetch returns
// nothing and Deleted is true). ifUnused and ifEmpty make it conditional.
func (b *Broker) DeleteQueue(name string, ifUnused, ifEmpty bool) error {
	q := b.Queue(name)
	if q == nil {
		return fmt.Errorf("%w: queue %q", ErrNotFound, name)
	}
	st := q.Stats()
	if ifUnused && st.Consumers > 0 {
		return fmt.Errorf("%w: queue %q has %d consumers", ErrInUse, name, st.Consumers)
	}
	if ifEmpty && st.Depth > 0 {
		return fmt.Errorf("%w: queue %q holds %d messages", ErrInUse, name, st.Depth)
	}
	b.removeQueue(q)
	return nil
}

// deleteQueueIfUnused deletes an auto-delete queue whose last consumer left.
func (b *Broker) deleteQueueIfUnused(q *Queue) error {
	if !q.unused() {
		return nil
	}
	b.removeQueue(q)
	return nil
}

func (b *Broker) removeQueue(q *Queue) {
	b.mu.Lock()
	if b.queues[q.name] != q {
		b.mu.Unlock()
		return
	}
	delete(b.queues, q.name)
	b.uncount(q)
	for _, e := range b.exchanges {
		e.unbindQueue(q.name)
	}
	if b.journal != nil && q.jid != 0 {
		b.journal.QueueDeleted(q) // its bindings and messages go with it
	}
	if b.observer != nil {
		b.observer.QueueDeleted(q) // its bindings go with it
	}
	b.mu.Unlock()
	msgs, consumers := q.markDeleted()
	q.deadLetter(msgs)
	for _, c := range consumers {
		c.notify()
	}
}

// uncount gives back a queue's place in its creator's limit (b.mu held).
func (b *Broker) uncount(q *Queue) {
	if q.creator == "" {
		return
	}
	if b.created[q.creator]--; b.created[q.creator] <= 0 {
		delete(b.created, q.creator)
	}
	q.creator = ""
}

// DeclareExchange returns the exchange of that name, creating it if absent.
// An existing exchange of another type is an error.
func (b *Broker) DeclareExchange(name, kind string, s ExchangeSettings) (e *Exchange, created bool, err error) {
	if name == "" {
		return nil, false, errors.New("an exchange needs a name")
	}
	if s.AlternateExchange != "" && s.AlternateExchange != name && b.Exchange(s.AlternateExchange) == nil {
		return nil, false, fmt.Errorf("%w: alternate exchange %q", ErrNotFound, s.AlternateExchange)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.exchanges[name]; e != nil {
		if e.kind != kind {
			return nil, false, fmt.Errorf("%w: exchange %q is of type %s, not %s", ErrExists, name, e.kind, kind)
		}
		return e, false, nil
	}
	if s.Identity == "" {
		s.Identity = NewIdentity()
	}
	e, err = newExchange(name, kind, s, false)
	if err != nil {
		return nil, false, err
	}
	b.exchanges[name] = e
	if b.journal != nil && s.Durable {
		b.journal.ExchangeDeclared(e)
	}
	if b.observer != nil {
		b.observer.ExchangeDeclared(e)
	}
	return e, true, nil
}

// Exchange returns an exchange by name, or nil.
func (b *Broker) Exchange(name string) *Exchange {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.exchanges[name]
}

// Exchanges lists the exchanges by name.
func (b *Broker) Exchanges() []*Exchange {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return sortedExchanges(b.exchanges)
}

func sortedExchanges(m map[string]*Exchange) []*Exchange {
	es := make([]*Exchange, 0, len(m))
	for _, e := range m {
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// DeleteExchange removes an exchange and its bindings.
func (b *Broker) DeleteExchange(name string, ifUnused bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.exchanges[name]
	if e == nil {
		return fmt.Errorf("%w: exchange %q", ErrNotFound, name)
	}
	if e.builtin {
		return fmt.Errorf("%w: %q", ErrBuiltin, name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ifUnused && len(e.bindings) > 0 {
		return fmt.Errorf("%w: exchange %q has %d bindings", ErrInUse, name, len(e.bindings))
	}
	e.deleted = true
	e.bindings, e.byKey = nil, map[string][]*Binding{}
	delete(b.exchanges, name)
	if b.journal != nil && e.jid != 0 {
		b.journal.ExchangeDeleted(e) // its bindings go with it
	}
	if b.observer != nil {
		b.observer.ExchangeDeleted(e) // its bindings go with it
	}
	return nil
}

// Bind binds a queue to an exchange with a key (and arguments, for a
// headers exchange). Binding again with the same key replaces the arguments.
func (b *Broker) Bind(exchange, queue, key string, args Args) (*Binding, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.exchanges[exchange]
	if e == nil {
		return nil, fmt.Errorf("%w: exchange %q", ErrNotFound, exchange)
	}
	if e.name == "" {
		return nil, fmt.Errorf("%w: the default exchange binds every queue by its name", ErrBuiltin)
	}
	q := b.queues[queue]
	if q == nil {
		return nil, fmt.Errorf("%w: queue %q", ErrNotFound, queue)
	}
	bd := &Binding{Exchange: exchange, Queue: queue, Key: key, Args: args.Clone(), queue: q, exchange: e}
	if err := e.bind(bd); err != nil {
		return nil, err
	}
	if b.journal != nil && q.settings.Durable && durableExchange(e) {
		b.journal.Bound(bd) // it replaces an identical binding, if any
	}
	if b.observer != nil {
		b.observer.Bound(bd)
	}
	return bd, nil
}

// Unbind removes a binding.
func (b *Broker) Unbind(exchange, queue, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.exchanges[exchange]
	if e == nil {
		return fmt.Errorf("%w: exchange %q", ErrNotFound, exchange)
	}
	bd := e.unbind(queue, key)
	if bd == nil {
		return fmt.Errorf("%w: binding of %q to %q with key %q", ErrNotFound, queue, exchange, key)
	}
	if b.journal != nil && bd.jid != 0 {
		b.journal.Unbound(bd)
	}
	if b.observer != nil {
		b.observer.Unbound(bd)
	}
	return nil
}

// Node is what an address names: a queue or an exchange.
type Node struct {
	Queue    *Queue
	Exchange *Exchange
}

// Resolve finds the node an address names: a queue, else an exchange, else
// one created on demand when the name matches a queue or topic pattern with
// the given arguments (the attach's node properties); owner becomes the
// owner of a queue created exclusive.
func (b *Broker) Resolve(address string, args Args, owner string) (Node, error) {
	return b.resolve(address, args, owner, nil)
}

// ResolveAs is Resolve for a client: a queue made on demand counts for its
// creator (DeclareQueueAs).
func (b *Broker) ResolveAs(address string, args Args, owner string, by Creator) (Node, error) {
	return b.resolve(address, args, owner, &by)
}

func (b *Broker) resolve(address string, args Args, owner string, by *Creator) (Node, error) {
	if q := b.Queue(address); q != nil {
		return Node{Queue: q}, nil
	}
	if e := b.Exchange(address); e != nil {
		return Node{Exchange: e}, nil
	}
	for _, re := range b.queuePatterns {
		if re.MatchString(address) {
			s, err := ParseQueueArgs(args)
			if err != nil {
				return Node{}, err
			}
			if s.Exclusive {
				s.Owner = owner
			}
			q, _, err := b.declareQueue(address, s, by)
			return Node{Queue: q}, err
		}
	}
	for _, re := range b.topicPatterns {
		if re.MatchString(address) {
			s, err := ParseExchangeArgs(args)
			if err != nil {
				return Node{}, err
			}
			e, _, err := b.DeclareExchange(address, Topic, s)
			return Node{Exchange: e}, err
		}
	}
	return Node{}, fmt.Errorf("%w: no queue or exchange named %q", ErrNotFound, address)
}

// Route returns the queues a message sent to an exchange reaches; the
// routing key is the message's subject. The default exchange routes to the
// queue named by the key.
func (b *Broker) Route(e *Exchange, m *message.Message, out []*Queue) []*Queue {
	key := m.Subject()
	if e.name == "" {
		if q := b.Queue(key); q != nil {
			out = append(out, q)
		}
		return out
	}
	return e.Route(key, m, out)
}

// routeTo delivers a message to an exchange by name (dead-lettering): each
// queue it reaches gets it; full queues drop it.
func (b *Broker) routeTo(exchange string, m *message.Message) {
	e := b.Exchange(exchange)
	if e == nil {
		return
	}
	for _, q := range b.Route(e, m, nil) {
		_, _ = q.Enqueue(m)
	}
}

// PurgeExpired removes expired messages from every queue.
func (b *Broker) PurgeExpired() int { return b.PurgeExpiredBatch(0) }

// PurgeExpiredBatch removes expired messages from every queue, at most max
// from each (0: no limit), and returns how many it removed.
func (b *Broker) PurgeExpiredBatch(max int) int {
	n := 0
	for _, q := range b.Queues() {
		n += q.PurgeBatch(max)
	}
	return n
}

// RunPurges is qpidd's queue cleaner (queue-purge-interval and
// max-purge-batch): each time ticks delivers, it removes expired messages
// from every queue, at most batch per queue, so they go without waiting
// for a consumer to come across them; purged tells how many each pass
// removed (nil: nobody). It returns when done is closed. The caller owns
// the ticker (a time.Ticker's channel, or a test's).
func (b *Broker) RunPurges(ticks <-chan time.Time, batch int, purged func(int), done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-ticks:
			n := b.PurgeExpiredBatch(batch)
			if purged != nil {
				purged(n)
			}
		}
	}
}
