package qpidha

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/mgmt/client"
)

// settings are the connection settings of an invocation, from the
// command line, --config and the environment.
type settings struct {
	// broker is the address as given (or defaulted), for messages.
	broker string
	// addrs are the addresses of -b, tried in turn.
	addrs []client.Address
	// user and password are used for every address without credentials of
	// its own: -b's, else --config's ha-username and ha-password.
	user, password string
	// opts are the client's options: always an HA administrator.
	opts client.Options
	// timeout bounds each broker's connection and answers (0: forever).
	timeout time.Duration
}

// connectionSettings reads the connection options: command-line options
// win over QPID_<OPTION> environment variables, which win over the
// entries of --config's file, which win over the defaults.
func connectionSettings(c *cli.Context, environ []string) (*settings, error) {
	var conf *config.Options
	if path := c.String(optConfig); path != "" {
		var err error
		if conf, _, err = config.ReadFile(path, environ); err != nil {
			return nil, fmt.Errorf("--config %s: %v", path, err)
		}
	}
	fromConf := func(name string) bool {
		if conf == nil {
			return false
		}
		src := conf.Source(name)
		return src != "" && src != "default"
	}
	s := &settings{opts: client.Options{Mechanism: c.String(optSASLMechanism), Admin: true}}

	s.broker = c.String(optBroker)
	if s.broker == "" {
		s.broker = defaultHost
		if conf != nil && !conf.ListensPlain() {
			// --config's broker listens for TLS only.
			s.broker = "ssl:" + defaultHost
		}
	}
	target, err := client.ParseURL(s.broker)
	if err != nil {
		return nil, usagef("", "option --broker: %v", err)
	}
	s.addrs = target.Addrs
	given := client.PortsGiven(s.broker)
	for i := range s.addrs {
		if i < len(given) && given[i] {
			continue
		}
		a := &s.addrs[i]
		switch {
		case !a.TLS && fromConf("port") && conf.Port > 0:
			a.Port = conf.Port
		case a.TLS && fromConf("ssl-port") && conf.SSLPort > 0:
			a.Port = conf.SSLPort
		}
	}
	// The HA credentials of the file, unless the broker reading the same
	// file runs with auth=no: it then offers ANONYMOUS only.
	haAuth := conf != nil && conf.Auth
	s.user, s.password = target.User, target.Password
	if s.user == "" && haAuth {
		s.user, s.password = conf.HAUsername, conf.HAPassword
	}
	if s.opts.Mechanism == "" && haAuth {
		s.opts.Mechanism = conf.HAMechanism
	}

	switch {
	case c.IsSet(optTimeout):
		s.timeout, err = config.ParseSeconds(c.String(optTimeout))
		if err != nil {
			return nil, usagef("", "option --timeout: invalid value: '%s' (%v)", c.String(optTimeout), err)
		}
	case fromConf("link-heartbeat-interval"):
		s.timeout = conf.LinkHeartbeatInterval
	default:
		s.timeout, _ = config.ParseSeconds(defaultTimeout)
	}
	s.opts.Timeout = s.timeout

	if c.String(optSSLCertificate) == "" && c.String(optSSLKey) != "" {
		return nil, usagef("", "missing '--ssl-certificate' (required by '--ssl-key')")
	}
	if s.opts.TLSConfig, err = client.ToolTLS(c.String(optSSLCertificate), c.String(optSSLKey), c.String(optSSLCAFile), conf); err != nil {
		return nil, err
	}
	return s, nil
}

// addressURL is the URL client.Dial takes for one address with
// credentials. The original tools' form (user/password@host) cannot carry
// a password with '@'; the amqp:// form one with '/' or '?'.
func addressURL(a client.Address, user, password string) (string, error) {
	hp := a.HostPort()
	native := hp
	if a.TLS {
		native = "ssl:" + hp
	}
	switch {
	case user == "":
		return native, nil
	case !strings.ContainsAny(user, "/:@") && !strings.Contains(password, "@"):
		return user + "/" + password + "@" + native, nil
	case !strings.ContainsAny(user, ":@/?") && !strings.ContainsAny(password, "/?"):
		scheme := "amqp://"
		if a.TLS {
			scheme = "amqps://"
		}
		return scheme + user + ":" + password + "@" + hp, nil
	}
	return "", fmt.Errorf("cannot connect to %s: the user name or password holds characters a broker address cannot carry", hp)
}

// dial connects to the first of addrs that answers, as an administrator.
func (s *settings) dial(ctx context.Context, addrs []client.Address, user, password string) (*client.Client, error) {
	var errs []string
	for _, a := range addrs {
		url, err := addressURL(a, user, password)
		if err == nil {
			var c *client.Client
			if c, err = client.Dial(ctx, url, s.opts); err == nil {
				return c, nil
			}
		}
		errs = append(errs, err.Error())
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// with connects to one of addrs and runs f; the connection and f's
// requests share one deadline, the timeout, so a broker that hangs at any
// point fails the command within it.
func (s *settings) with(addrs []client.Address, user, password string, f func(context.Context, *client.Client) error) error {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if s.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	defer cancel()
	c, err := s.dial(ctx, addrs, user, password)
	if err != nil {
		return err
	}
	defer c.CloseWithin(ctx)
	return f(ctx, c)
}

// brokerLabel is how an address of the cluster is shown: host:port, with
// the ssl: prefix for TLS addresses.
func brokerLabel(a client.Address) string {
	if a.TLS {
		return "ssl:" + a.HostPort()
	}
	return a.HostPort()
}

// clusterAddrs reads a broker's ha-brokers-url into addresses, keeping
// credentials that name a user; an unreadable URL is an error.
func clusterAddrs(brokersURL string) (config.URL, error) {
	u, err := config.ParseURL(strings.TrimSpace(brokersURL))
	if err != nil {
		return config.URL{}, fmt.Errorf("the broker's ha-brokers-url %q: %v", brokersURL, err)
	}
	return u, nil
}

// clientAddr converts an address of a qpidd URL.
func clientAddr(a config.Address) client.Address {
	return client.Address{TLS: a.Scheme == "ssl", Host: a.Host, Port: a.Port}
}

// trimConnect drops "cannot connect to ADDR: " from an error about the
// address shown before it.
func trimConnect(msg, hostPort string) string {
	if rest, ok := strings.CutPrefix(msg, "cannot connect to "+hostPort+": "); ok {
		return "cannot connect: " + rest
	}
	return msg
}
