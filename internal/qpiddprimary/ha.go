package qpiddprimary

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// The HA module's management type and promote operation (the names of
// internal/ha, which tools do not link).
const (
	haBrokerType = "org.apache.qpid.ha:habroker"
	opPromote    = "PROMOTE"
)

// Statuses that mean something here.
const (
	statusStandalone = "standalone"
)

// isPrimary reports whether an HA status is a primary's (ha.State.IsPrimary).
func isPrimary(status string) bool { return status == "active" || status == "recovering" }

// target is how to reach the local broker's management.
type target struct {
	addr    string // host:port of the first address, for messages and hooks
	url     string // what client.Dial takes, with credentials
	opts    client.Options
	timeout time.Duration
}

// tlsFiles are the TLS options: a client certificate and key, a CA file.
type tlsFiles struct{ cert, key, ca string }

// Target works out the local broker's address: -b (broker), else
// QPID_BROKER, else localhost (the broker's first --interface if it is an
// IP address) with the broker's port (ssl: and its ssl-port when it has
// listen-disable tcp); the port and the HA credentials
// (ha-username, ha-password, ha-mechanism, unless auth=no) come from the
// broker's own command line (QPID_CONFIG, QPIDD_OPTIONS), so they are the
// ones it runs with. For ssl: addresses, the TLS files not given in tf are
// the broker's: ssl-ca-file, and ssl-cert-file and ssl-key-file as the
// client certificate.
func (s *Settings) Target(broker string, tf tlsFiles, environ []string) (*target, error) {
	opts, _, err := config.Load(s.BrokerArgs(), environ)
	if err != nil {
		return nil, fmt.Errorf("the broker's options: %v", err)
	}
	if broker == "" {
		broker = s.Broker
	}
	if broker == "" {
		// An SSL-only broker (listen-disable tcp) is reached over TLS.
		port, scheme := opts.Port, ""
		if !opts.ListensPlain() {
			port, scheme = opts.SSLPort, "ssl:"
		}
		if port == 0 {
			return nil, errors.New("the broker's port is 0 (any free port): set QPID_BROKER, or give -b")
		}
		host := "localhost"
		if len(opts.Interfaces) > 0 {
			if ip := net.ParseIP(opts.Interfaces[0]); ip != nil && !ip.IsUnspecified() {
				host = ip.String()
			}
		}
		broker = scheme + net.JoinHostPort(host, strconv.Itoa(port))
	} else if !strings.Contains(broker, "://") && !hasPort(broker) {
		port := opts.Port
		if strings.Contains(broker, "ssl:") {
			port = opts.SSLPort
		}
		broker += ":" + strconv.Itoa(port)
	}
	tg, err := client.ParseURL(broker)
	if err != nil {
		return nil, err
	}
	t := &target{opts: client.Options{Admin: true, Timeout: s.Timeout}, timeout: s.Timeout, addr: tg.Addrs[0].HostPort()}
	if t.opts.TLSConfig, err = client.ToolTLS(tf.cert, tf.key, tf.ca, opts); err != nil {
		return nil, err
	}
	user, password := tg.User, tg.Password
	if opts.Auth {
		if user == "" {
			user, password = opts.HAUsername, opts.HAPassword
		}
		t.opts.Mechanism = opts.HAMechanism
	}
	if t.url, err = client.FormatURL(tg.Addrs, user, password); err != nil {
		return nil, err
	}
	return t, nil
}

// hasPort reports whether every address of a qpidd-style URL names its
// port.
func hasPort(url string) bool {
	rest := strings.TrimPrefix(url, "amqp:")
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	for _, a := range strings.Split(rest, ",") {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "tcp:"), "ssl:")
		if _, _, err := net.SplitHostPort(a); err != nil {
			return false
		}
	}
	return true
}

// with connects and runs f, everything within the timeout: a broker that
// hangs fails within it.
func (t *target) with(ctx context.Context, f func(context.Context, *client.Client) error) error {
	c, err := client.Dial(ctx, t.url, t.opts)
	if err != nil {
		return err
	}
	defer c.CloseWithin(ctx)
	return f(ctx, c)
}

// readStatus asks the broker its HA status: a broker without the HA module
// is standalone.
func readStatus(ctx context.Context, c *client.Client) (string, error) {
	r, err := c.Request(ctx, wire.OpRead, haBrokerType, "", nil)
	if err != nil {
		return "", err
	}
	if r.Status == wire.StatusNotFound {
		return statusStandalone, nil
	}
	if err := r.Err(); err != nil {
		return "", err
	}
	m, _ := r.Body.(map[string]any)
	st, _ := m["status"].(string)
	if st == "" {
		return "", errors.New("the broker's HA status has no status")
	}
	return st, nil
}

// Status asks the broker its HA status, within the timeout. A broker that
// refuses connections is retried until then (it may be starting).
func (t *target) Status() (string, error) {
	ctx, cancel := t.context()
	defer cancel()
	var st string
	for {
		err := t.with(ctx, func(ctx context.Context, c *client.Client) error {
			var err error
			st, err = readStatus(ctx, c)
			return err
		})
		if err == nil {
			return st, nil
		}
		if ctx.Err() != nil || !strings.Contains(err.Error(), "connection refused") {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (t *target) context() (context.Context, context.CancelFunc) {
	if t.timeout <= 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), t.timeout)
}

// Promote asks the broker to become the primary and returns its status
// after: the broker decides, and refuses (409, with the reason) while
// catching up or while another broker is primary.
func (t *target) Promote() (string, error) {
	ctx, cancel := t.context()
	defer cancel()
	var st string
	err := t.with(ctx, func(ctx context.Context, c *client.Client) error {
		r, err := c.Request(ctx, opPromote, haBrokerType, "", nil)
		if err != nil {
			return err
		}
		switch r.Status {
		case wire.StatusNotFound:
			return fail(ExitNotConfigured, "the broker at %s cannot be promoted: it is not in a cluster (ha-cluster=no)", t.addr)
		case wire.StatusForbidden:
			return fail(ExitPrivilege, "the broker at %s refused to be promoted: %s", t.addr, r.Description)
		}
		if err := r.Err(); err != nil {
			if r.Status == wire.StatusConflict && strings.Contains(r.Description, "ha-cluster=no") {
				return fail(ExitNotConfigured, "the broker at %s refused to be promoted: %s", t.addr, r.Description)
			}
			return fail(ExitFailure, "the broker at %s refused to be promoted: %s", t.addr, r.Description)
		}
		m, _ := r.Body.(map[string]any)
		st, _ = m["status"].(string)
		return nil
	})
	if err != nil {
		return "", err
	}
	if st == "" || !isPrimary(st) {
		// The answer should carry the new status; ask if it did not.
		if st2, err := t.Status(); err == nil {
			st = st2
		}
	}
	return st, nil
}
