package ha

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/config"
)

// Individual queue replication (ha-queue-replication): a replica queue on
// this broker follows the same-named queue on another broker or cluster,
// through the same replication stream restricted to one queue. The source
// does not hold its senders for a replica. The replica tries the source's
// addresses in turn, so it follows a new primary of a source cluster; and
// the definition of each replica travels in its own cluster's replication
// stream, so a new primary of the replica's cluster takes replication over.

// EvReplica carries a replica definition to backups: Name (the queue) and
// Key (the source URL); EvReplicaStop removes it.
const (
	EvReplica     = "replica"
	EvReplicaStop = "replica-stop"
)

// replicaQueue replicates one queue from a source.
type replicaQueue struct {
	m      *Module
	queue  string
	source string   // the URL as given
	addrs  []string // its addresses, host:port
	log    *logrus.Entry
	stop   chan struct{}
	done   chan struct{}
}

// StartReplica starts replicating a local queue from the same-named queue at
// source (a URL of one broker or of a cluster's brokers). The queue must
// exist here.
func (m *Module) StartReplica(queue, source string) error {
	if !m.cfg.QueueReplication {
		return errors.New("queue replication is off: start the broker with ha-queue-replication=yes (or ha-cluster=yes)")
	}
	if m.broker.Queue(queue) == nil {
		return fmt.Errorf("no queue %q on this broker: create it first (qpid-config add queue --start-replica does both)", queue)
	}
	u, err := config.ParseURL(source)
	if err != nil || u.Empty() {
		return fmt.Errorf("source %q: not a broker URL (host[:port][,host[:port]...]): %v", source, err)
	}
	var addrs []string
	for _, a := range u.Addrs {
		addrs = append(addrs, PeerAddress(a))
	}
	m.mu.Lock()
	if m.replicas == nil {
		m.replicas = map[string]*replicaQueue{}
	}
	if old := m.replicas[queue]; old != nil {
		m.mu.Unlock()
		if old.source == source {
			return nil
		}
		return fmt.Errorf("queue %q already replicates from %s", queue, old.source)
	}
	r := &replicaQueue{m: m, queue: queue, source: source, addrs: addrs,
		log:  m.log.WithFields(logrus.Fields{"replica": queue, "source": source}),
		stop: make(chan struct{}), done: make(chan struct{})}
	m.replicas[queue] = r
	p := m.primary
	st := m.core.State()
	runs := st == Standalone || st.IsPrimary()
	m.mu.Unlock()
	if p != nil {
		p.broadcast(item{kind: EvReplica, queueName: queue, source: source})
	}
	if runs {
		go r.run()
	}
	r.log.Info("queue replication started")
	return nil
}

// startReplicas runs the replicas a backup learned of, now that it is the
// primary of its cluster.
func (m *Module) startReplicas() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.replicas {
		go r.run()
	}
}

// learnReplica records a replica definition from the replication stream.
func (m *Module) learnReplica(queue, source string, stop bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.replicas == nil {
		m.replicas = map[string]*replicaQueue{}
	}
	if stop {
		delete(m.replicas, queue)
		return
	}
	if m.replicas[queue] != nil {
		return
	}
	u, err := config.ParseURL(source)
	if err != nil {
		return
	}
	var addrs []string
	for _, a := range u.Addrs {
		addrs = append(addrs, PeerAddress(a))
	}
	m.replicas[queue] = &replicaQueue{m: m, queue: queue, source: source, addrs: addrs,
		log:  m.log.WithFields(logrus.Fields{"replica": queue, "source": source}),
		stop: make(chan struct{}), done: make(chan struct{})}
}

// replicaDefinitions lists the replicas, for a new backup's snapshot.
func (m *Module) replicaDefinitions() [][2]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][2]string
	for q, r := range m.replicas {
		out = append(out, [2]string{q, r.source})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func (r *replicaQueue) run() {
	defer close(r.done)
	next := 0
	for {
		addr := r.addrs[next%len(r.addrs)]
		next++
		if err := r.replicateFrom(addr); err != nil && !errors.Is(err, errStopped) {
			r.log.WithField("address", addr).WithError(err).Debug("no queue replication from this address")
		}
		select {
		case <-r.stop:
			return
		case <-time.After(r.m.cfg.MaintenanceInterval):
		}
		if q := r.m.broker.Queue(r.queue); q == nil {
			r.log.Info("replica queue deleted: replication stops")
			return
		}
	}
}

func (r *replicaQueue) replicateFrom(addr string) error {
	mech, err := r.m.clientMechanism()
	if err != nil {
		return err
	}
	cfg := amqp.Config{
		ContainerID:      "qpid-ha-replica-" + r.m.BrokerID()[:8] + "-" + r.queue,
		SASLClient:       mech,
		IdleTimeout:      r.m.cfg.HeartbeatInterval,
		HandshakeTimeout: r.m.cfg.HeartbeatInterval,
		MaxFrameSize:     1 << 20,
		Properties:       types.Map{{Key: types.Symbol(amqpserver.AdminProperty), Value: true}},
	}
	h := &queueReplicator{r: r}
	ctx, cancel := context.WithTimeout(context.Background(), r.m.cfg.HeartbeatInterval)
	dc, done, err := r.m.dial(ctx, addr, cfg, h)
	cancel()
	if err != nil {
		return err
	}
	dc.Inject(dc.Engine.Open)
	select {
	case err := <-done:
		if h.streaming {
			r.log.WithField("address", addr).WithError(err).Warn("lost the source queue")
		}
		return err
	case <-r.stop:
		dc.Close(nil)
		<-done
		return errStopped
	}
}

// queueReplicator is a replica's side of one connection to the source.
type queueReplicator struct {
	r         *replicaQueue
	inventory []Event
	invLink   *amqp.Link
	repLink   *amqp.Link
	streaming bool
}

func (h *queueReplicator) properties() types.Map {
	return types.Map{
		{Key: types.Symbol(PropProtocol), Value: uint32(ProtocolVersion)},
		{Key: types.Symbol(PropBrokerID), Value: h.r.m.BrokerID()},
		{Key: types.Symbol(PropReplicated), Value: h.r.queue},
	}
}

func (h *queueReplicator) HandleEvent(c *driver.Conn, e amqp.Event) {
	eng := c.Engine
	switch e.Type {
	case amqp.EventConnectionOpen:
		s, err := eng.Session()
		if err != nil {
			eng.Close(nil)
			return
		}
		s.Begin()
		h.inventory = []Event{{Kind: EvInventoryEnd}}
		if q := h.r.m.broker.Queue(h.r.queue); q != nil {
			ev := Event{Kind: EvInventory, Name: q.Name()}
			for _, rg := range ranges(q.IDs()) {
				ev.IDs = append(ev.IDs, rg.first, rg.last)
			}
			h.inventory = append([]Event{ev}, h.inventory...)
		}
		l, _ := s.NewSender("qpid.ha-inventory")
		l.Target = &types.Target{Address: InventoryNode}
		l.Properties = h.properties()
		l.Attach()
		h.invLink = l
	case amqp.EventLinkFlow:
		if e.Link == h.invLink {
			h.sendInventory()
		}
	case amqp.EventLinkAttach:
		if e.Link == h.repLink && e.Link.RemoteSource() != nil {
			h.streaming = true
			h.r.log.Info("replicating the source queue")
			e.Link.Flow(uint32(h.r.m.cfg.FlowMessages), false)
		}
	case amqp.EventDelivery:
		if e.Link == h.repLink {
			h.apply(e.Delivery)
		}
	case amqp.EventLinkDetach:
		if err := e.Link.RemoteError(); err != nil {
			h.r.log.WithField("error", err).Debug("queue replication refused")
		}
		eng.Close(nil)
	case amqp.EventConnectionClose:
		eng.Close(nil)
	}
}

func (h *queueReplicator) Writable(*driver.Conn) {}

func (h *queueReplicator) sendInventory() {
	l := h.invLink
	for l.Credit() > 0 && len(h.inventory) > 0 {
		b, err := h.inventory[0].Marshal(nil)
		if err != nil {
			return
		}
		if _, err := l.Send(nil, b, true); err != nil {
			return
		}
		h.inventory = h.inventory[1:]
		if len(h.inventory) == 0 {
			rl, _ := l.Session().NewReceiver("qpid.ha-replicate-" + h.r.queue)
			rl.Source = &types.Source{Address: ReplicateNode}
			rl.Properties = h.properties()
			rl.Attach()
			h.repLink = rl
		}
	}
}

func (h *queueReplicator) apply(d *amqp.Delivery) {
	ev, err := UnmarshalEvent(d.Payload())
	if err == nil {
		q := h.r.m.broker.Queue(h.r.queue)
		switch {
		case q == nil:
		case ev.Kind == EvEnqueue && len(ev.IDs) == 1:
			if m, err := message.Parse(ev.Message); err == nil {
				_, _ = q.EnqueueReplica(m, ev.IDs[0])
			}
		case ev.Kind == EvDequeue:
			q.DequeueIDs(ev.IDs)
		case ev.Kind == EvCaughtUp:
			h.r.log.Info("replica caught up")
		}
	}
	d.Update(&types.Accepted{}, true)
	if l := h.repLink; l.Credit() <= uint32(h.r.m.cfg.FlowMessages)/2 {
		l.Flow(uint32(h.r.m.cfg.FlowMessages), false)
	}
}

// attachQueueStream serves one queue to a replica: no configuration, no
// ready set, no hold on the source's senders.
func (p *primary) attachQueueStream(c *amqpserver.Conn, l *amqp.Link, name string) {
	q := p.m.broker.Queue(name)
	if q == nil {
		refuse(l, types.NewError(types.CondNotFound, "no queue %q to replicate on this broker", name))
		return
	}
	p.mu.Lock()
	inv := p.inventory[c.Info().ID]
	delete(p.inventory, c.Info().ID)
	p.mu.Unlock()
	r := p.watchAny(q)
	s := newStream(p, c, l, "replica:"+c.Info().Container, 0)
	s.single = true
	l.Context = s
	l.Source = l.RemoteSource()
	l.Attach()
	held := inv.forQueue(q)
	q.Entries(func(live []*broker.Entry) {
		s.subscribe(r)
		have := map[broker.MessageID]bool{}
		for _, e := range live {
			have[e.ID()] = true
			if !held.has(e.ID()) {
				s.push(item{kind: EvEnqueue, queue: q, entry: e})
			}
		}
		if gone := held.missingFrom(have); len(gone) > 0 {
			s.push(item{kind: EvDequeue, queue: q, ids: gone})
		}
	})
	s.push(item{kind: EvCaughtUp})
	s.log.WithField("queue", name).Info("replica subscribed")
	go s.run()
}

// watchAny makes sure a queue is observed, whatever its replication level
// (a queue replicated individually may be of level none).
func (p *primary) watchAny(q *broker.Queue) *queueRepl {
	if v, ok := p.queues.Load(q); ok {
		return v.(*queueRepl)
	}
	r := &queueRepl{p: p, q: q}
	if v, loaded := p.queues.LoadOrStore(q, r); loaded {
		return v.(*queueRepl)
	}
	q.Observe(r, r.identify)
	return r
}
