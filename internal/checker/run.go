package checker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Config is a checker run.
type Config struct {
	URLs  []string // host:port or amqp://host:port: the brokers, or one VIP
	Queue string
	// RunID marks this run's messages (application property "run"):
	// receivers count any other message as foreign. Random if unset.
	RunID     string
	Senders   int
	Receivers int
	// Messages is how many each sender sends; 0: until Duration has
	// passed or StopSending is called.
	Messages int
	Duration time.Duration
	Rate     float64 // new messages per second per sender; 0: no limit
	Window   int     // most unconfirmed messages per sender
	Credit   int     // link credit per receiver
	// ReceiveRate limits each receiver (messages per second; 0: no limit)
	// until the drain, so that a backlog builds up on the queue and
	// failovers happen with messages queued, not only in flight.
	ReceiveRate float64

	Client string // "go" (go-amqp, in this process) or "proton" (python scripts)
	// ProtonReconnect is how the proton scripts fail over: "proton" (the
	// library's own reconnect over the URL list) or "app" (the script's).
	ProtonReconnect string
	Python          string // the interpreter with the proton bindings
	ClientsDir      string // where sender.py and receiver.py are

	// TLS, if set, is the go client's TLS configuration: URLs without a
	// scheme become amqps://. (Each connection uses a clone; an empty
	// ServerName is the URL's host.)
	TLS *tls.Config
	// User and Password log the go client in with SASL PLAIN; without a
	// user it uses ANONYMOUS.
	User, Password string

	Heartbeat  time.Duration // connection idle timeout
	BackoffMin time.Duration // reconnect delay after every URL failed once
	BackoffMax time.Duration
	// StopTimeout is how long senders keep trying to get their last
	// messages confirmed once told to stop.
	StopTimeout time.Duration
	// The drain ends when every confirmed message was received, after
	// DrainIdle without a new message, or after DrainMax.
	DrainIdle time.Duration
	DrainMax  time.Duration
	// ListLimit caps the lists of ids in the report.
	ListLimit int

	// Logf, if set, receives progress remarks (reconnects, errors).
	Logf func(format string, args ...any)
}

// Defaults fills in unset fields.
func (c *Config) Defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Queue == "" {
		c.Queue = "checker"
	}
	if c.RunID == "" {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		c.RunID = hex.EncodeToString(b)
	}
	if c.Senders == 0 {
		c.Senders = 1
	}
	if c.Receivers == 0 {
		c.Receivers = 1
	}
	if c.Window == 0 {
		c.Window = 10
	}
	if c.Credit == 0 {
		c.Credit = 100
	}
	if c.Client == "" {
		c.Client = "go"
	}
	if c.ProtonReconnect == "" {
		c.ProtonReconnect = "proton"
	}
	if c.Python == "" {
		c.Python = "/usr/bin/python3"
	}
	set(&c.Heartbeat, 2*time.Second)
	set(&c.BackoffMin, 100*time.Millisecond)
	set(&c.BackoffMax, time.Second)
	set(&c.StopTimeout, 30*time.Second)
	set(&c.DrainIdle, 5*time.Second)
	set(&c.DrainMax, time.Minute)
	if c.ListLimit == 0 {
		c.ListLimit = 100
	}
}

// Validate reports a configuration that cannot run.
func (c *Config) Validate() error {
	switch {
	case len(c.URLs) == 0:
		return errors.New("no broker URLs")
	case c.Senders < 0 || c.Receivers < 1:
		return errors.New("need at least one receiver and no negative number of senders")
	case c.Messages < 0 || c.Rate < 0 || c.ReceiveRate < 0 || c.Window < 1 || c.Credit < 1:
		return errors.New("messages, rate, window and credit must be positive")
	case c.Client != "go" && c.Client != "proton":
		return fmt.Errorf("client %q: want go or proton", c.Client)
	case c.ProtonReconnect != "proton" && c.ProtonReconnect != "app":
		return fmt.Errorf("proton reconnect %q: want proton or app", c.ProtonReconnect)
	case c.Client == "proton" && (c.TLS != nil || c.User != ""):
		return errors.New("TLS and credentials are for the go client only (the proton scripts connect anonymously over plain TCP)")
	case c.Client == "proton" && c.ClientsDir == "":
		return errors.New("proton clients need the directory of sender.py and receiver.py")
	}
	for _, u := range c.URLs {
		if strings.TrimSpace(u) == "" {
			return errors.New("an empty broker URL")
		}
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// A worker is one sender or receiver, in this process or a child process.
type worker interface {
	// stop asks it to end: a sender stops issuing new messages and ends
	// once the ones it issued are confirmed (or Config.StopTimeout
	// passed); a receiver closes its connection.
	stop()
	// unthrottle lifts a receiver's rate limit.
	unthrottle()
	// kill ends it at once.
	kill()
	// done is closed when it has ended and its events are recorded.
	done() <-chan struct{}
}

// Run is a checker run under way.
type Run struct {
	cfg       Config
	tr        *Tracker
	senders   []worker
	receivers []worker
	start     time.Time
	stopOnce  sync.Once
	stopped   chan struct{}
	cancel    context.CancelFunc
}

// Start starts the receivers, then the senders.
func Start(cfg Config) (*Run, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Run{cfg: cfg, tr: NewTracker(), start: time.Now(), stopped: make(chan struct{}), cancel: cancel}
	for i := 1; i <= cfg.Receivers; i++ {
		w, err := r.startWorker(ctx, "receiver", i)
		if err != nil {
			r.Abort()
			return nil, err
		}
		r.receivers = append(r.receivers, w)
	}
	for i := 1; i <= cfg.Senders; i++ {
		w, err := r.startWorker(ctx, "sender", i)
		if err != nil {
			r.Abort()
			return nil, err
		}
		r.senders = append(r.senders, w)
	}
	if cfg.Duration > 0 {
		time.AfterFunc(cfg.Duration, r.StopSending)
	}
	return r, nil
}

func (r *Run) startWorker(ctx context.Context, role string, id int) (worker, error) {
	if r.cfg.Client == "proton" {
		return startProton(&r.cfg, r.tr, role, id)
	}
	if role == "sender" {
		return startGoSender(ctx, &r.cfg, r.tr, id), nil
	}
	return startGoReceiver(ctx, &r.cfg, r.tr, id), nil
}

// Tracker is the run's record of every message.
func (r *Run) Tracker() *Tracker { return r.tr }

// Client is the run's client library: "go" or "proton".
func (r *Run) Client() string { return r.cfg.Client }

// StopSending tells the senders to stop issuing new messages.
func (r *Run) StopSending() {
	r.stopOnce.Do(func() {
		close(r.stopped)
		for _, w := range r.senders {
			w.stop()
		}
	})
}

// Abort ends every client at once.
func (r *Run) Abort() {
	r.cancel()
	for _, w := range append(r.senders, r.receivers...) {
		w.kill()
	}
}

// Wait waits until the senders have ended (they end by themselves when
// Config.Messages are confirmed; see also Config.Duration and StopSending),
// lets the receivers drain the queue, stops them and reports.
func (r *Run) Wait() *Report {
	for _, w := range r.senders {
		<-w.done()
	}
	sendEnd := time.Now()
	for _, w := range r.receivers {
		w.unthrottle()
	}
	complete := r.drain(sendEnd)
	drainEnd := time.Now()
	for _, w := range r.receivers {
		w.stop()
	}
	for _, w := range r.receivers {
		select {
		case <-w.done():
		case <-time.After(10 * time.Second):
			r.tr.Note("a receiver did not stop within 10s: killed")
			w.kill()
			<-w.done()
		}
	}
	r.cancel()
	rep := &Report{
		Client:        r.cfg.Client,
		URLs:          r.cfg.URLs,
		Queue:         r.cfg.Queue,
		Senders:       r.cfg.Senders,
		Receivers:     r.cfg.Receivers,
		Counts:        r.tr.Counts(r.cfg.ListLimit),
		SendSeconds:   sendEnd.Sub(r.start).Seconds(),
		DrainSeconds:  drainEnd.Sub(sendEnd).Seconds(),
		DrainComplete: complete,
	}
	if r.cfg.Client == "proton" {
		rep.ProtonReconnect = r.cfg.ProtonReconnect
	}
	rep.Judge()
	return rep
}

// drain waits until every confirmed message was received, or no message
// came for DrainIdle, or DrainMax passed. It reports whether every
// confirmed message was received.
func (r *Run) drain(from time.Time) bool {
	deadline := from.Add(r.cfg.DrainMax)
	for {
		if r.tr.Missing() == 0 {
			return true
		}
		now := time.Now()
		last := r.tr.LastReceive()
		if last.Before(from) {
			last = from
		}
		if now.Sub(last) > r.cfg.DrainIdle || now.After(deadline) {
			r.cfg.logf("drain ends with %d confirmed messages not received", r.tr.Missing())
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
