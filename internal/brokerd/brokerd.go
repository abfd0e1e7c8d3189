// Package brokerd is the qpidd process: it turns options into a broker, an
// AMQP server and (later) HA and store modules, serves until SIGTERM, and
// shuts down closing every connection with amqp:connection:forced.
package brokerd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/server"
)

// Broker is a running qpidd: its broker model and servers.
type Broker struct {
	opts   *config.Options
	log    *logrus.Logger
	broker *broker.Broker
	server *server.Server
	addrs  []net.Addr
}

// New assembles a broker from options without listening yet.
func New(opts *config.Options, log *logrus.Logger) (*Broker, error) {
	b, err := broker.New(broker.Config{
		QueuePatterns:     opts.QueuePatterns,
		TopicPatterns:     opts.TopicPatterns,
		DefaultQueueLimit: int64(opts.DefaultQueueLimit),
	})
	if err != nil {
		return nil, err
	}
	for _, name := range opts.Queues {
		if _, _, err := b.DeclareQueue(name, broker.QueueSettings{}); err != nil {
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
	}
	scfg := server.Config{
		Broker:      b,
		Log:         log,
		ContainerID: containerID(),
	}
	if opts.Auth {
		db, err := auth.Open(opts.AuthDatabase, opts.Realm)
		if err != nil {
			return nil, fmt.Errorf("auth-database: %w", err)
		}
		scfg.SASL = auth.NewServer(db, false)
		scfg.RequireSASL = true
	} else {
		scfg.SASL = auth.NewServer(nil, true)
	}
	return &Broker{opts: opts, log: log, broker: b, server: server.New(scfg)}, nil
}

func containerID() string {
	host, _ := os.Hostname()
	return "qpidd-" + host + "-" + strconv.Itoa(os.Getpid())
}

// Start listens on every configured interface.
func (b *Broker) Start() error {
	ifaces := b.opts.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{""}
	}
	port := b.opts.Port
	for _, iface := range ifaces {
		addr, err := b.server.Listen(net.JoinHostPort(iface, strconv.Itoa(port)))
		if err != nil {
			b.server.Shutdown(time.Second)
			return fmt.Errorf("cannot listen on %s port %d: %w", displayHost(iface), port, err)
		}
		// With port 0 the first listener picks the port the others share.
		if port == 0 {
			port = addr.(*net.TCPAddr).Port
		}
		b.addrs = append(b.addrs, addr)
		b.log.WithField("address", addr.String()).Infof("listening on port %d", port)
	}
	return nil
}

func displayHost(h string) string {
	if h == "" {
		return "all interfaces"
	}
	return h
}

// Addrs are the addresses the broker listens on.
func (b *Broker) Addrs() []net.Addr { return b.addrs }

// Stop closes every connection with amqp:connection:forced and stops.
func (b *Broker) Stop() {
	b.server.Shutdown(10 * time.Second)
}
