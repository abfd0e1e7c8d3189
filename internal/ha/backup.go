package ha

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/ha/core"
)

// backup keeps this broker connected to the primary: it tries the addresses
// of ha-brokers-url in turn, every link-maintenance-interval, and replicates
// from whichever broker accepts it as the primary.
type backup struct {
	m       *Module
	log     *logrus.Entry
	stop    chan struct{}
	stopped context.Context // done once stop is closed: ends a dial in progress
	cancel  context.CancelFunc
	grace   time.Duration // how long a stop waits for the primary to answer its close
	done    chan struct{}

	warned time.Time // when linkFailed last warned

	mu   sync.Mutex
	conn *driver.Conn
	self map[string]bool // addresses that turned out to be this broker
}

func newBackup(m *Module) *backup {
	b := &backup{m: m, log: m.log, stop: make(chan struct{}), done: make(chan struct{}), self: map[string]bool{}}
	b.stopped, b.cancel = context.WithCancel(context.Background())
	return b
}

// closeGrace bounds how long a stopping broker's backup waits for the
// primary to answer its close: a primary that crashed or is cut off never
// answers. A promotion does not wait at all: the cluster manager promotes
// only once the primary is gone.
const closeGrace = 100 * time.Millisecond

func (b *backup) run() {
	defer close(b.done)
	next := 0
	var sick error
	for {
		addrs := b.candidates()
		// A store that does not keep up would stall the primary's senders
		// until the primary cut this backup off again: wait for it.
		health := b.m.storeHealth()
		switch {
		case health != nil && sick == nil:
			b.log.WithError(health).Error("not replicating until the store keeps up again")
		case health == nil && sick != nil:
			b.log.Info("the store keeps up again: replicating")
		}
		sick = health
		if len(addrs) > 0 && health == nil {
			addr := addrs[next%len(addrs)]
			next++
			err := b.replicateFrom(addr)
			if err != nil && !errors.Is(err, errStopped) {
				b.linkFailed(addr, err)
			}
		}
		select {
		case <-b.stop:
			return
		case <-time.After(b.m.cfg.MaintenanceInterval):
		}
	}
}

// candidates are the cluster's addresses minus this broker's own.
func (b *backup) candidates() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, a := range b.m.cfg.Brokers {
		if !b.self[a] {
			out = append(out, a)
		}
	}
	return out
}

var errStopped = errors.New("backup stopped")

// replicateFrom connects to one address and replicates until the
// connection ends.
func (b *backup) replicateFrom(addr string) error {
	mech, err := b.m.clientMechanism()
	if err != nil {
		return err
	}
	cfg := amqp.Config{
		ContainerID:  b.m.BrokerID(),
		SASLClient:   mech,
		IdleTimeout:  b.m.cfg.HeartbeatInterval,
		MaxFrameSize: 1 << 20,
		Properties: types.Map{
			{Key: types.Symbol(PropBrokerID), Value: b.m.BrokerID()},
			{Key: types.Symbol(amqpserver.AdminProperty), Value: true},
		},
		HandshakeTimeout: b.m.cfg.HeartbeatInterval,
	}
	r := newReplicator(b, addr)
	// A crashed node never answers the SYN: give up as a status check does,
	// and try the next address (see connectContext).
	ctx, cancel := context.WithTimeout(b.stopped, b.m.cfg.HeartbeatInterval)
	dctx, dcancel := connectContext(ctx, addr)
	dc, done, err := b.m.dial(dctx, addr, cfg, r)
	dcancel()
	cancel()
	if err != nil {
		return err
	}
	dc.Inject(dc.Engine.Open)
	b.mu.Lock()
	b.conn = dc
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.conn = nil
		b.mu.Unlock()
	}()
	select {
	case err := <-done:
		if r.streaming {
			b.m.primaryAddr.Store(nil)
			b.log.WithField("address", addr).WithError(err).Warn("lost the primary")
			b.m.step(func(c *core.Core) error { c.PrimaryLost(); return nil })
		}
		return err
	case <-b.stop:
		dc.Close(types.NewError(types.CondConnectionForced, "backup stopping"))
		select {
		case <-done:
		case <-time.After(b.grace):
			dc.Abort()
			<-done
		}
		return errStopped
	}
}

// linkFailed logs why replicating from addr failed: at debug level when
// the peer is down or not the primary (the usual case while a cluster
// forms or fails over), as a warning when this broker's own settings are
// wrong: the primary refused its credentials, or TLS failed. Such a
// warning is repeated at most once a minute and shown in the status.
func (b *backup) linkFailed(addr string, err error) {
	l := b.log.WithField("address", addr).WithError(err)
	why := ""
	var verr *tls.CertificateVerificationError
	var aerr *net.OpError
	switch {
	case errors.Is(err, sasl.ErrAuth):
		why = fmt.Sprintf("the broker at %s refused this backup's credentials (ha-username %q, ha-mechanism %q): "+
			"check ha-username and ha-password, and that the user is in every broker's auth-database", addr, b.m.cfg.Username, b.m.cfg.Mechanism)
	case errors.As(err, &verr):
		why = fmt.Sprintf("TLS to %s: %v: check ssl-ca-file and the certificate's subjectAltNames", addr, verr)
	case errors.As(err, &aerr) && aerr.Op == "remote error":
		why = fmt.Sprintf("TLS to %s: the broker refused this broker's certificate (%v): check its ssl-cert-file and the peer's ssl-ca-file", addr, err)
	}
	if why == "" {
		l.Debug("no replication from this address")
		return
	}
	prev := b.m.linkError.Swap(&why)
	now := time.Now()
	if prev == nil || *prev != why || now.Sub(b.warned) >= time.Minute {
		b.warned = now
		l.Warn("cannot replicate: " + why)
	}
}

// markSelf remembers that an address is this broker.
func (b *backup) markSelf(addr string) {
	b.mu.Lock()
	b.self[addr] = true
	b.mu.Unlock()
	b.log.WithField("address", addr).Info("found this broker's own address in ha-brokers-url: skipping it")
}

// shutdown stops replicating and waits, giving the primary grace to answer
// the backup's close.
func (b *backup) shutdown(grace time.Duration) {
	select {
	case <-b.stop:
	default:
		b.grace = grace
		close(b.stop)
		b.cancel()
	}
	<-b.done
}
