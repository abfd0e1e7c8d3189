package genconf

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/qpidha/qpidha/internal/config"
)

// confEntry is one name=value line of qpidd.conf and the TOML key it comes from.
type confEntry struct {
	option, value, key string
	section            string // which group of lines it belongs to
}

// Sections of qpidd.conf, in file order.
const (
	secCluster  = "cluster"
	secBrokers  = "brokers"
	secPublic   = "public"
	secRepl     = "replicate"
	secCreds    = "credentials"
	secTiming   = "timing"
	secLocal    = "local"
	secTLS      = "tls"
	secSecurity = "security"
	secExtra    = "extra"
	secNode     = "node"
)

// reservedOptions are the qpidd options the generator sets from dedicated
// keys (or itself): [broker.options] and node options may not set them.
var reservedOptions = map[string]string{
	"ha-cluster":                        "the generator sets ha-cluster=yes",
	"ha-brokers-url":                    "the generator builds it from every [[node]] address and broker.port",
	"ha-public-url":                     "the generator builds it from vip.address and broker.port",
	"ha-replicate":                      "set broker.ha_replicate",
	"ha-username":                       "set broker.ha_username",
	"ha-password":                       "set broker.ha_password",
	"ha-mechanism":                      "set broker.ha_mechanism",
	"link-maintenance-interval":         "set broker.link_maintenance_interval",
	"link-heartbeat-interval":           "set broker.link_heartbeat_interval",
	"ha-backup-timeout":                 "set broker.ha_backup_timeout",
	"port":                              "set broker.port (the resource agent gets the same value)",
	"data-dir":                          "set broker.data_dir (the resource agent gets the same value)",
	"auth":                              "set broker.auth",
	"acl-file":                          "set broker.acl_file",
	"ssl-cert-file":                     "set broker.ssl_cert_file",
	"ssl-key-file":                      "set broker.ssl_key_file",
	"ssl-ca-file":                       "set broker.ssl_ca_file",
	"ssl-port":                          "set broker.ssl_port (the resource agent gets the same value)",
	"ssl-require-client-authentication": "set broker.ssl_require_client_authentication",
	"listen-disable":                    "set broker.ssl_only = true (listen-disable=tcp); the generator keeps the TLS listener",
	"require-encryption":                "set broker.ssl_only = true (require-encryption=yes)",
	"config":                            "it has no effect inside qpidd.conf; see broker.config_path",
	"no-data-dir":                       "an HA broker keeps its HA state and lock in data-dir",
	"help":                              "it makes qpidd print its help and exit",
	"version":                           "it makes qpidd print its version and exit",
	"check":                             "it makes qpidd check for a running daemon and exit",
	"quit":                              "it makes qpidd stop a running daemon and exit",
	"kill":                              "it makes qpidd kill a running daemon and exit",
	"daemon":                            "the resource manager (OCF agent, init script) decides how qpidd runs",
}

// knownMechanisms are the SASL mechanisms the broker offers.
var knownMechanisms = []string{"SCRAM-SHA-256", "PLAIN", "ANONYMOUS", "EXTERNAL"}

func (c *checker) checkBroker(s *Spec) {
	b := s.File.Broker
	port := int64(DefaultPort)
	if b.Port != nil {
		port = *b.Port
		if port < 1 || port > 65535 {
			c.errorf("broker.port", "%d: a TCP port is 1..65535", port)
		}
	}
	if b.ConfigPath != "" && !isAbsPath(b.ConfigPath) {
		c.errorf("broker.config_path", "%q: an absolute path (where each node's qpidd.conf is installed)", b.ConfigPath)
	}
	dataDir := b.DataDir
	if dataDir == "" {
		dataDir = DefaultDataDir
	} else if !isAbsPath(dataDir) {
		c.errorf("broker.data_dir", "%q: an absolute path", dataDir)
	}
	repl := b.HAReplicate
	if repl == "" {
		repl = DefaultHAReplicate
	}

	c.checkTLS(s, port)
	// With TLS the brokers reach each other, and clients the VIP, over it.
	peer := func(host string) string { return hostPort(host, port) }
	if s.tls.on {
		peer = func(host string) string { return "ssl:" + hostPort(host, s.tls.port) }
	}
	var urls []string
	for _, nd := range s.nodes {
		if nd.address != "" {
			urls = append(urls, peer(nd.address))
		}
	}
	add := func(sec, opt, val, key string) {
		s.conf = append(s.conf, confEntry{option: opt, value: val, key: key, section: sec})
	}
	add(secCluster, "ha-cluster", "yes", "")
	add(secBrokers, "ha-brokers-url", strings.Join(urls, ","), "node.address")
	if s.File.VIP.Address != "" {
		add(secPublic, "ha-public-url", peer(s.File.VIP.Address), "vip.address")
	}
	add(secRepl, "ha-replicate", repl, "broker.ha_replicate")
	if b.HAUsername != "" {
		add(secCreds, "ha-username", b.HAUsername, "broker.ha_username")
	}
	if b.HAPassword != "" {
		add(secCreds, "ha-password", b.HAPassword, "broker.ha_password")
	}
	if b.HAMechanism != "" {
		add(secCreds, "ha-mechanism", b.HAMechanism, "broker.ha_mechanism")
	}
	for _, t := range []struct {
		opt, key string
		v        any
	}{
		{"link-maintenance-interval", "broker.link_maintenance_interval", b.LinkMaintenanceInterval},
		{"link-heartbeat-interval", "broker.link_heartbeat_interval", b.LinkHeartbeatInterval},
		{"ha-backup-timeout", "broker.ha_backup_timeout", b.HABackupTimeout},
	} {
		if t.v == nil {
			continue
		}
		v, err := scalar(t.v, "yes", "no")
		if err != nil {
			c.errorf(t.key, "%v", err)
			continue
		}
		add(secTiming, t.opt, v, t.key)
	}
	add(secLocal, "port", itoa(port), "broker.port")
	add(secLocal, "data-dir", dataDir, "broker.data_dir")
	if s.tls.on {
		add(secTLS, "ssl-port", itoa(s.tls.port), "broker.ssl_port")
		add(secTLS, "ssl-cert-file", b.SSLCertFile, "broker.ssl_cert_file")
		add(secTLS, "ssl-key-file", b.SSLKeyFile, "broker.ssl_key_file")
		if b.SSLCAFile != "" {
			add(secTLS, "ssl-ca-file", b.SSLCAFile, "broker.ssl_ca_file")
		}
		if s.tls.clients {
			add(secTLS, "ssl-require-client-authentication", "yes", "broker.ssl_require_client_authentication")
		}
		if s.tls.only {
			add(secTLS, "listen-disable", "tcp", "broker.ssl_only")
			add(secTLS, "require-encryption", "yes", "broker.ssl_only")
		}
	}
	auth := true
	if b.Auth != nil {
		auth = *b.Auth
	}
	add(secSecurity, "auth", map[bool]string{true: "yes", false: "no"}[auth], "broker.auth")
	if b.ACLFile != "" {
		add(secSecurity, "acl-file", b.ACLFile, "broker.acl_file")
	}
	s.conf = append(s.conf, c.optionEntries(b.Options, "broker.options", secExtra)...)
	c.validateEntries(s.conf)

	// Advice of the manual.
	if auth && b.HAUsername == "" {
		c.warnf("broker.ha_username", "not set while auth is on: backups cannot log in to the primary (manual 1.12.9); set ha_username, ha_password and ha_mechanism, or auth = false")
	}
	if b.HAMechanism != "" {
		known := false
		for _, m := range knownMechanisms {
			known = known || m == b.HAMechanism
		}
		if !known {
			c.warnf("broker.ha_mechanism", "%q is not a mechanism this broker offers (%s)", b.HAMechanism, strings.Join(knownMechanisms, ", "))
		} else if b.HAMechanism == "EXTERNAL" && !s.tls.on {
			c.errorf("broker.ha_mechanism", "EXTERNAL: the brokers identify themselves by their TLS certificates, but there is no TLS (set ssl_cert_file, ssl_key_file and ssl_ca_file)")
		} else if b.HAMechanism == "EXTERNAL" && b.SSLCAFile == "" {
			c.errorf("broker.ha_mechanism", "EXTERNAL: the brokers verify each other's certificates with ssl_ca_file, which is not set")
		} else if auth && b.HAMechanism == "ANONYMOUS" {
			c.warnf("broker.ha_mechanism", "ANONYMOUS with auth on: any client can use it too (manual 1.12.9)")
		}
	}
	if b.LinkHeartbeatInterval == nil {
		c.warnf("broker.link_heartbeat_interval", "not set: qpidd's default of 120 seconds is very high, a hung primary or backup goes unnoticed that long (manual 1.12.12.3 suggests e.g. 10)")
	}

	for i, nd := range s.nodes {
		nd.conf = c.optionEntries(s.File.Nodes[i].Options, nd.key+".options", secNode)
		c.validateEntries(nd.conf)
	}
}

// checkTLS checks [broker]'s TLS keys and sets s.tls.
func (c *checker) checkTLS(s *Spec, port int64) {
	b := s.File.Broker
	s.tls = tlsSpec{on: b.SSLCertFile != "", port: DefaultSSLPort}
	for _, f := range []struct{ key, path string }{
		{"broker.ssl_cert_file", b.SSLCertFile},
		{"broker.ssl_key_file", b.SSLKeyFile},
		{"broker.ssl_ca_file", b.SSLCAFile},
	} {
		if f.path != "" && !isAbsPath(f.path) {
			c.errorf(f.key, "%q: an absolute path (the same on every node; each node has its own file there)", f.path)
		}
	}
	if b.SSLPort != nil {
		s.tls.port = *b.SSLPort
		if s.tls.port < 1 || s.tls.port > 65535 {
			c.errorf("broker.ssl_port", "%d: a TCP port is 1..65535", s.tls.port)
		}
	}
	s.tls.only = b.SSLOnly != nil && *b.SSLOnly
	s.tls.clients = b.SSLRequireClientAuth != nil && *b.SSLRequireClientAuth
	switch {
	case b.SSLCertFile != "" && b.SSLKeyFile == "":
		c.errorf("broker.ssl_key_file", "missing: ssl_cert_file is set, and the broker needs the certificate's private key (unencrypted PEM)")
	case b.SSLCertFile == "" && b.SSLKeyFile != "":
		c.errorf("broker.ssl_cert_file", "missing: ssl_key_file is set, but not the certificate (PEM) it is the key of")
	}
	if !s.tls.on {
		// Without a certificate there is no TLS listener: every other TLS
		// key would be silently useless.
		for _, t := range []struct {
			key string
			set bool
		}{
			{"broker.ssl_only", s.tls.only},
			{"broker.ssl_port", b.SSLPort != nil},
			{"broker.ssl_ca_file", b.SSLCAFile != ""},
			{"broker.ssl_require_client_authentication", s.tls.clients},
		} {
			if t.set {
				c.errorf(t.key, "set, but not ssl_cert_file: the broker listens for TLS only with a certificate (ssl_cert_file and ssl_key_file)")
			}
		}
		return
	}
	if !s.tls.only && s.tls.port == port {
		c.errorf("broker.ssl_port", "%d: the same port as broker.port; TLS and plain TCP need a port each (or set ssl_only = true)", port)
	}
	if s.tls.clients && b.SSLCAFile == "" {
		c.errorf("broker.ssl_require_client_authentication", "true, but ssl_ca_file is not set: the broker verifies client certificates against it")
	}
	if b.SSLCAFile == "" {
		c.warnf("broker.ssl_ca_file", "not set: the brokers verify each other's certificates (ha-brokers-url ssl: addresses) against the system's CAs, and the resource agent the local broker's")
	}
	var names []string
	for _, nd := range s.nodes {
		if nd.address != "" {
			names = append(names, nd.address)
		}
	}
	if s.File.VIP.Address != "" {
		names = append(names, s.File.VIP.Address)
	}
	names = append(names, "localhost")
	c.warnf("broker.ssl_cert_file", "each node's certificate must name, as subjectAltNames (the CN is not checked), its own address, the VIP and localhost: %s; "+
		"and allow both the serverAuth and clientAuth extended key usages: the brokers present it on their links to each other, and the resource agent and init scripts reach the broker at ssl:localhost",
		strings.Join(names, ", "))
	if auth := b.Auth == nil || *b.Auth; !s.tls.only && auth {
		c.warnf("broker.ssl_only", "not set: clients may still log in over plain TCP on broker.port (set ssl_only = true to refuse it)")
	}
}

// optionEntries turns a table of free-form qpidd options into entries,
// sorted by name; an array value gives one line per element (repeatable
// options).
func (c *checker) optionEntries(opts map[string]any, key, sec string) []confEntry {
	var out []confEntry
	for _, name := range sortedKeys(opts) {
		k := key + "." + name
		if why, ok := reservedOptions[name]; ok {
			c.errorf(k, "qpidd option %q cannot be set here: %s", name, why)
			continue
		}
		vals := []any{opts[name]}
		if a, ok := opts[name].([]any); ok {
			if len(a) == 0 {
				c.errorf(k, "an empty array: give at least one value, or leave the option out")
				continue
			}
			vals = a
		}
		for _, v := range vals {
			s, err := scalar(v, "yes", "no")
			if err != nil {
				c.errorf(k, "%v", err)
				continue
			}
			out = append(out, confEntry{option: name, value: s, key: k, section: sec})
		}
	}
	return out
}

// validateEntries checks every entry the way qpidd reads its configuration
// file (package config): the option must exist and its value must parse.
// Obsolete options become warnings.
func (c *checker) validateEntries(entries []confEntry) {
	for _, e := range entries {
		if e.key == "node.address" || e.key == "vip.address" {
			// Addresses were checked already; a bad one would be reported
			// twice here.
			if _, err := config.ParseURL(e.value); err != nil {
				c.errorf(e.key, "gives %s=%s, which qpidd refuses: %v", e.option, e.value, err)
			}
			continue
		}
		key := e.key
		if key == "" {
			key = e.option
		}
		if strings.ContainsAny(e.value, "#\n\r") {
			c.errorf(key, "%q: qpidd.conf cannot hold '#' or a line break in a value ('#' starts a comment)", e.value)
			continue
		}
		if strings.TrimSpace(e.value) != e.value {
			c.errorf(key, "%q: qpidd.conf trims spaces around values; remove them", e.value)
			continue
		}
		warnings, err := checkOption(e.option, e.value)
		if err != nil {
			var ce *config.Error
			switch {
			case errors.As(err, &ce) && errors.Is(err, config.ErrUnknownOption):
				msg := fmt.Sprintf("unknown qpidd option %q", e.option)
				if s := suggest(e.option, qpiddOptionNames()); s != "" {
					if why, reserved := reservedOptions[s]; reserved {
						msg += fmt.Sprintf(" (did you mean %q? it cannot be set here: %s)", s, why)
					} else {
						msg += fmt.Sprintf(" (did you mean %q?)", s)
					}
				} else {
					msg += " (qpidd --help lists them)"
				}
				c.errorf(key, "%s", msg)
			case errors.As(err, &ce):
				c.errorf(key, "invalid value %q for qpidd option %s: %v", ce.Value, e.option, ce.Err)
			default:
				c.errorf(key, "%v", err)
			}
			continue
		}
		for _, w := range warnings {
			c.warnf(key, "%s", w)
		}
	}
}

// checkOption reads "option=value" as qpidd reads a line of its
// configuration file and returns its warnings, with the file position
// removed.
func checkOption(option, value string) ([]string, error) {
	return loadConfText(option + "=" + value + "\n")
}

// loadConfText loads text as a qpidd.conf through package config. Warnings
// lose their "path:line: " prefix.
func loadConfText(text string) ([]string, error) {
	f, err := os.CreateTemp("", "genconf-*.conf")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	defer os.Remove(path)
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	_, warnings, err := config.ReadFile(path, nil)
	prefix := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:[0-9]+: `)
	for i, w := range warnings {
		warnings[i] = prefix.ReplaceAllString(w, "")
	}
	return warnings, err
}

var (
	optionNamesOnce sync.Once
	optionNames     []string
)

// qpiddOptionNames lists qpidd's options (current and obsolete), read from
// its help text.
func qpiddOptionNames() []string {
	optionNamesOnce.Do(func() {
		re := regexp.MustCompile(`(?m)^\s+(?:-[A-Za-z] \[ )?--([a-z0-9][a-z0-9-]*)`)
		seen := map[string]bool{}
		for _, m := range re.FindAllStringSubmatch(config.Help(), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				optionNames = append(optionNames, m[1])
			}
		}
		sort.Strings(optionNames)
	})
	return optionNames
}
