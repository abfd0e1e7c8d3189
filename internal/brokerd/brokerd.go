// Package brokerd is the qpidd process: it turns options into a broker, an
// AMQP server and (later) HA and store modules, serves until SIGTERM, and
// shuts down closing every connection with amqp:connection:forced.
package brokerd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/server"
)

// Version is set at build time.
var Version = "dev"

// Main runs qpidd with command-line arguments and environment and returns
// the process exit code.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	if help, version := config.HelpRequested(args); help || version {
		if version {
			fmt.Fprintf(stdout, "qpidd (qpidha) %s\n", Version)
		} else {
			fmt.Fprint(stdout, config.Help())
		}
		return 0
	}
	opts, warnings, err := config.Load(args, environ)
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: %v\n", err)
		return 1
	}
	log, err := newLogger(opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: %v\n", err)
		return 1
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	b, err := New(opts, log)
	if err != nil {
		log.Error(err)
		return 1
	}
	if err := b.Start(); err != nil {
		log.Error(err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	log.WithField("signal", sig.String()).Info("shutting down")
	b.Stop()
	return 0
}

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
	b, err := broker.New(broker.Config{QueuePatterns: opts.QueuePatterns})
	if err != nil {
		return nil, err
	}
	for _, name := range opts.Queues {
		b.DeclareQueue(name, broker.QueueSettings{})
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

func newLogger(opts *config.Options, stderr io.Writer) (*logrus.Logger, error) {
	log := logrus.New()
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02 15:04:05.000000"})
	level, err := logLevel(opts.LogLevel)
	if err != nil {
		return nil, err
	}
	log.SetLevel(level)
	log.SetOutput(stderr)
	if opts.LogToFile != "" {
		f, err := os.OpenFile(opts.LogToFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return nil, fmt.Errorf("log-to-file: %w", err)
		}
		if opts.LogToStderr {
			log.SetOutput(io.MultiWriter(stderr, f))
		} else {
			log.SetOutput(f)
		}
	}
	return log, nil
}

// logLevel maps the original's level names to logrus levels.
func logLevel(name string) (logrus.Level, error) {
	switch name {
	case "trace":
		return logrus.TraceLevel, nil
	case "debug":
		return logrus.DebugLevel, nil
	case "info", "notice", "":
		return logrus.InfoLevel, nil
	case "warning":
		return logrus.WarnLevel, nil
	case "error":
		return logrus.ErrorLevel, nil
	case "critical":
		return logrus.FatalLevel, nil
	}
	return 0, errors.New("log-level: unknown level " + strconv.Quote(name))
}
