package config

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DefaultConfigFile is read when neither --config nor QPID_CONFIG names a file.
const DefaultConfigFile = "/etc/qpid/qpidd.conf"

// Replication levels of ha-replicate (and of the qpid.replicate argument).
const (
	ReplicateNone          = "none"
	ReplicateConfiguration = "configuration"
	ReplicateAll           = "all"
)

// Options are the broker's settings after Load. Every field is one option;
// the option's name is in the comment.
type Options struct {
	// General
	Help                       bool          // help, -h
	Version                    bool          // version, -v
	Config                     string        // config: the file read ("" = none)
	DataDir                    string        // data-dir
	NoDataDir                  bool          // no-data-dir
	Port                       int           // port, -p: 0 picks a free port
	Interfaces                 []string      // interface (repeatable): empty = all
	ListenDisable              []string      // listen-disable (repeatable): tcp, ssl
	TCPNoDelay                 bool          // tcp-nodelay
	MaxNegotiateTime           time.Duration // max-negotiate-time
	SessionMaxUnacked          int           // session-max-unacked
	DefaultQueueLimit          uint64        // default-queue-limit (bytes, 0 = none)
	DefaultFlowStopThreshold   int           // default-flow-stop-threshold (percent)
	DefaultFlowResumeThreshold int           // default-flow-resume-threshold (percent)
	EnableTimestamp            bool          // enable-timestamp
	QueuePurgeInterval         time.Duration // queue-purge-interval
	MaxPurgeBatch              int           // max-purge-batch
	Queues                     []string      // queue (repeatable): declared at start-up
	QueuePatterns              []string      // queue-patterns (repeatable)
	TopicPatterns              []string      // topic-patterns (repeatable)

	// Daemon
	Daemon  bool          // daemon, -d
	PidDir  string        // pid-dir ("" = data-dir)
	PidFile string        // pidfile ("" = <pid-dir>/<port>.pid)
	Wait    time.Duration // wait, -w
	Check   bool          // check, -c
	Quit    bool          // quit, -q
	Kill    bool          // kill, -k

	// Logging
	LogLevel     string // log-level: one of LogLevels
	LogToStderr  bool   // log-to-stderr
	LogToFile    string // log-to-file
	LogToJournal bool   // log-to-journal
	Trace        bool   // trace, -t: log-level trace

	// Security
	Auth                           bool   // auth
	Realm                          string // realm
	AuthDatabase                   string // auth-database
	ACLFile                        string // acl-file ("" = no ACL)
	RequireEncryption              bool   // require-encryption
	MaxConnections                 int    // max-connections (0 = no limit)
	ConnectionLimitPerUser         int    // connection-limit-per-user
	ConnectionLimitPerIP           int    // connection-limit-per-ip
	MaxQueuesPerUser               int    // max-queues-per-user
	MaxMemory                      uint64 // max-memory (bytes, 0 = automatic)
	SSLPort                        int    // ssl-port
	SSLCertFile                    string // ssl-cert-file
	SSLKeyFile                     string // ssl-key-file
	SSLCAFile                      string // ssl-ca-file
	SSLRequireClientAuthentication bool   // ssl-require-client-authentication
	SSLSASLNoDict                  bool   // ssl-sasl-no-dict

	// HA
	HACluster               bool          // ha-cluster
	HAQueueReplication      bool          // ha-queue-replication
	HABrokersURL            URL           // ha-brokers-url
	HAPublicURL             URL           // ha-public-url
	HAReplicate             string        // ha-replicate: none|configuration|all
	HAUsername              string        // ha-username
	HAPassword              string        // ha-password
	HAMechanism             string        // ha-mechanism
	HABackupTimeout         time.Duration // ha-backup-timeout
	HAFlowMessages          int           // ha-flow-messages (0 = no limit)
	HAFlowBytes             int           // ha-flow-bytes (0 = no limit)
	HAMinReadyBackups       int           // ha-min-ready-backups
	LinkMaintenanceInterval time.Duration // link-maintenance-interval
	LinkHeartbeatInterval   time.Duration // link-heartbeat-interval
	HABackupLagTimeout      time.Duration // ha-backup-lag-timeout (0: twice link-heartbeat-interval)

	// Store
	StoreDir   string // store-dir ("" = data-dir)
	Truncate   bool   // truncate
	CheckStore bool   // check-store

	// Metrics
	MetricsPort    int    // metrics-port (0 = off)
	MetricsAddress string // metrics-address ("" or 0.0.0.0 = every interface)

	sources map[string]string
}

// Source says where the option's value came from: "default", "path:line"
// (configuration file), the environment variable ("QPID_PORT"), or the
// command-line argument (`argument "--port"`). It is "" for a name that is
// not a current option. For log-level it may name a log-enable or trace
// setting that determined the level.
func (o *Options) Source(name string) string {
	if o.sources == nil {
		return ""
	}
	return o.sources[name]
}

// PidFilePath is the pid file of a broker listening on port: pidfile if set,
// else <pid-dir>/<port>.pid with pid-dir defaulting to data-dir (the
// original's layout; its pid-dir and data-dir defaults were both ~/.qpidd).
func (o *Options) PidFilePath(port int) string {
	if o.PidFile != "" {
		return o.PidFile
	}
	dir := o.PidDir
	if dir == "" {
		dir = o.DataDir
	}
	return filepath.Join(dir, strconv.Itoa(port)+".pid")
}

// ACLFilePath is the ACL file to load, "" if none. As in the original, a
// relative acl-file is relative to data-dir.
func (o *Options) ACLFilePath() string {
	if o.ACLFile == "" || filepath.IsAbs(o.ACLFile) || o.DataDir == "" {
		return o.ACLFile
	}
	return filepath.Join(o.DataDir, o.ACLFile)
}

// ListensPlain reports whether the broker listens for plain AMQP:
// listen-disable does not name tcp. Tools that reach the local broker go
// over TLS (its ssl-port) when it does not.
func (o *Options) ListensPlain() bool {
	for _, t := range o.ListenDisable {
		if strings.EqualFold(t, "tcp") {
			return false
		}
	}
	return true
}

// StorePath is the directory of the durable store: store-dir if set, else
// data-dir; "" when there is none (no-data-dir without store-dir).
func (o *Options) StorePath() string {
	if o.StoreDir != "" {
		return o.StoreDir
	}
	if o.NoDataDir {
		return ""
	}
	return o.DataDir
}

// Option groups, in help order.
const (
	groupGeneral  = "General"
	groupDaemon   = "Daemon"
	groupLogging  = "Logging"
	groupSecurity = "Security"
	groupHA       = "HA"
	groupStore    = "Store"
	groupMetrics  = "Metrics"
	groupObsolete = "Obsolete"
)

var groupOrder = []string{groupGeneral, groupDaemon, groupLogging, groupSecurity, groupHA, groupStore, groupMetrics, groupObsolete}

type kind int

const (
	kindSwitch   kind = iota // bool that takes no value on the command line (--daemon)
	kindBool                 // bool with an optional value (--ha-cluster [yes|no])
	kindInt                  // whole number in [min, max]
	kindString               // any text
	kindList                 // repeatable text
	kindSeconds              // SECONDS
	kindMillis               // MILLISECONDS (bare number in ms; units allowed)
	kindURL                  // URL, may be empty
	kindEnum                 // one of enum
	kindLogLevel             // log-level
)

// option is one row of the option table.
type option struct {
	name     string
	short    byte // 0 if none
	kind     kind
	arg      string // metavariable in help: PORT, SECONDS
	def      string // default, as text
	defHelp  string // default shown in help when def is not telling ("data-dir")
	help     string
	group    string
	min, max uint64             // kindInt bounds
	enum     []string           // kindEnum values
	field    func(*Options) any // pointer to the Options field
	obsolete string             // if set: the option is accepted, ignored, and warned about; the reason
}

func (op *option) takesValue() bool { return op.kind != kindSwitch && op.kind != kindBool }

func (op *option) isList() bool { return op.kind == kindList }

const maxInt32 = math.MaxInt32

// options is the table of every option, current and obsolete.
var options = []*option{
	// General
	{name: "help", short: 'h', kind: kindSwitch, group: groupGeneral, help: "Print this help and exit",
		field: func(o *Options) any { return &o.Help }},
	{name: "version", short: 'v', kind: kindSwitch, group: groupGeneral, help: "Print the version and exit",
		field: func(o *Options) any { return &o.Version }},
	{name: "config", kind: kindString, arg: "FILE", def: DefaultConfigFile, group: groupGeneral,
		help:  "Read options from FILE (name=value lines); a missing default file is fine, a missing named one is an error; empty: read none",
		field: func(o *Options) any { return &o.Config }},
	{name: "data-dir", kind: kindString, arg: "DIR", def: "/var/lib/qpidd", group: groupGeneral,
		help:  "Directory for the broker's persistent data: lock file, HA state, and the durable store (unless store-dir)",
		field: func(o *Options) any { return &o.DataDir }},
	{name: "no-data-dir", kind: kindBool, arg: "yes|no", def: "no", group: groupGeneral,
		help:  "Use no data directory: nothing persistent is loaded or stored",
		field: func(o *Options) any { return &o.NoDataDir }},
	{name: "port", short: 'p', kind: kindInt, arg: "PORT", def: "5672", max: 65535, group: groupGeneral,
		help:  "Listen for AMQP connections on PORT (0: pick a free port)",
		field: func(o *Options) any { return &o.Port }},
	{name: "interface", kind: kindList, arg: "NAME|ADDRESS", group: groupGeneral, defHelp: "all interfaces",
		help:  "Listen only on this network interface or address (repeatable)",
		field: func(o *Options) any { return &o.Interfaces }},
	{name: "listen-disable", kind: kindList, arg: "TRANSPORT", group: groupGeneral,
		help:  "Do not listen on this transport, tcp or ssl (repeatable)",
		field: func(o *Options) any { return &o.ListenDisable }},
	{name: "tcp-nodelay", kind: kindBool, arg: "yes|no", def: "yes", group: groupGeneral,
		help:  "Set TCP_NODELAY on TCP connections",
		field: func(o *Options) any { return &o.TCPNoDelay }},
	{name: "max-negotiate-time", kind: kindMillis, arg: "MILLISECONDS", def: "10000", group: groupGeneral,
		help:  "Longest time a new connection may take to send its protocol header, complete SASL and send its open; it is then dropped (0: no limit; units s, ms, us, ns allowed)",
		field: func(o *Options) any { return &o.MaxNegotiateTime }},
	{name: "session-max-unacked", kind: kindInt, arg: "DELIVERIES", def: "5000", max: maxInt32, group: groupGeneral,
		help:  "Most unsettled outgoing deliveries per session: consumers wait for settlements beyond it (0: no limit)",
		field: func(o *Options) any { return &o.SessionMaxUnacked }},
	{name: "default-queue-limit", kind: kindInt, arg: "BYTES", def: "104857600", max: math.MaxInt64, group: groupGeneral,
		help:  "Default maximum size of a queue in bytes (0: no limit)",
		field: func(o *Options) any { return &o.DefaultQueueLimit }},
	{name: "default-flow-stop-threshold", kind: kindInt, arg: "PERCENT", def: "80", max: 100, group: groupGeneral,
		help:  "Percent of a queue's limits above which producer flow control starts, for queues that set no flow levels (0: none)",
		field: func(o *Options) any { return &o.DefaultFlowStopThreshold }},
	{name: "default-flow-resume-threshold", kind: kindInt, arg: "PERCENT", def: "70", max: 100, group: groupGeneral,
		help:  "Percent of a queue's limits below which producer flow control ends",
		field: func(o *Options) any { return &o.DefaultFlowResumeThreshold }},
	{name: "enable-timestamp", kind: kindBool, arg: "yes|no", def: "no", group: groupGeneral,
		help:  "Add the time of arrival to each received message (message annotation x-opt-ingress-timestamp)",
		field: func(o *Options) any { return &o.EnableTimestamp }},
	{name: "queue-purge-interval", kind: kindSeconds, arg: "SECONDS", def: "600", group: groupGeneral,
		help:  "Interval between passes of the queue cleaner, which removes expired messages from every queue without waiting for a consumer (0: never; they then go when a consumer comes across them)",
		field: func(o *Options) any { return &o.QueuePurgeInterval }},
	{name: "max-purge-batch", kind: kindInt, arg: "MESSAGES", def: "1000", max: maxInt32, group: groupGeneral,
		help:  "Most expired messages the queue cleaner removes from one queue in one pass (0: no limit)",
		field: func(o *Options) any { return &o.MaxPurgeBatch }},
	{name: "queue", kind: kindList, arg: "NAME", group: groupGeneral,
		help:  "Declare the queue NAME at start-up (repeatable)",
		field: func(o *Options) any { return &o.Queues }},
	{name: "queue-patterns", kind: kindList, arg: "PATTERN", group: groupGeneral,
		help:  "Create a queue on demand when a link names an unknown node matching PATTERN (repeatable)",
		field: func(o *Options) any { return &o.QueuePatterns }},
	{name: "topic-patterns", kind: kindList, arg: "PATTERN", group: groupGeneral,
		help:  "Create a topic on demand when a link names an unknown node matching PATTERN (repeatable)",
		field: func(o *Options) any { return &o.TopicPatterns }},

	// Daemon
	{name: "daemon", short: 'd', kind: kindSwitch, group: groupDaemon,
		help:  "Run in the background as a daemon",
		field: func(o *Options) any { return &o.Daemon }},
	{name: "pid-dir", kind: kindString, arg: "DIR", group: groupDaemon, defHelp: "data-dir",
		help:  "Directory of the port-specific pid file <port>.pid",
		field: func(o *Options) any { return &o.PidDir }},
	{name: "pidfile", kind: kindString, arg: "FILE", group: groupDaemon,
		help:  "Pid file of the daemon, used as is (instead of <pid-dir>/<port>.pid)",
		field: func(o *Options) any { return &o.PidFile }},
	{name: "wait", short: 'w', kind: kindSeconds, arg: "SECONDS", def: "600", group: groupDaemon,
		help:  "Longest wait for the daemon to start or stop; on failure print an error and exit 1",
		field: func(o *Options) any { return &o.Wait }},
	{name: "check", short: 'c', kind: kindSwitch, group: groupDaemon,
		help:  "Print the daemon's process ID and exit 0 if it is running, else exit 1",
		field: func(o *Options) any { return &o.Check }},
	{name: "quit", short: 'q', kind: kindSwitch, group: groupDaemon,
		help:  "Tell the daemon to shut down (SIGINT)",
		field: func(o *Options) any { return &o.Quit }},
	{name: "kill", short: 'k', kind: kindSwitch, group: groupDaemon,
		help:  "Kill the daemon (SIGKILL)",
		field: func(o *Options) any { return &o.Kill }},

	// Logging
	{name: "log-level", kind: kindLogLevel, arg: "LEVEL", def: "info", group: groupLogging,
		help: "Log messages of LEVEL and above: " + strings.Join(LogLevels, "|") +
			" (the original's log-level yes|no is accepted and ignored)",
		field: func(o *Options) any { return &o.LogLevel }},
	{name: "log-to-stderr", kind: kindBool, arg: "yes|no", def: "yes", group: groupLogging,
		help:  "Log to standard error",
		field: func(o *Options) any { return &o.LogToStderr }},
	{name: "log-to-file", kind: kindString, arg: "FILE", group: groupLogging,
		help:  "Log to FILE",
		field: func(o *Options) any { return &o.LogToFile }},
	{name: "log-to-journal", kind: kindBool, arg: "yes|no", def: "no", group: groupLogging,
		help:  "Log to the systemd journal",
		field: func(o *Options) any { return &o.LogToJournal }},
	{name: "trace", short: 't', kind: kindBool, arg: "yes|no", def: "no", group: groupLogging,
		help:  "Log everything (log-level trace)",
		field: func(o *Options) any { return &o.Trace }},
	{name: "log-enable", kind: kindList, arg: "RULE", group: groupLogging,
		help:     "The original's LEVEL[+|-][:CATEGORY] rules, accepted with a warning: mapped to log-level, categories ignored",
		obsolete: "mapped to log-level"},

	// Security
	{name: "auth", kind: kindBool, arg: "yes|no", def: "yes", group: groupSecurity,
		help:  "Authenticate connections; if no, every connection is trusted (ANONYMOUS)",
		field: func(o *Options) any { return &o.Auth }},
	{name: "realm", kind: kindString, arg: "REALM", def: "QPID", group: groupSecurity,
		help:  "Realm of user names without one (user@REALM)",
		field: func(o *Options) any { return &o.Realm }},
	{name: "auth-database", kind: kindString, arg: "FILE", def: "/etc/qpid/qpidd.users", group: groupSecurity,
		help:  "User database (SCRAM-SHA-256 credentials), replacing the original's Cyrus sasldb",
		field: func(o *Options) any { return &o.AuthDatabase }},
	{name: "acl-file", kind: kindString, arg: "FILE", group: groupSecurity,
		help:  "ACL policy file; a relative name is relative to data-dir",
		field: func(o *Options) any { return &o.ACLFile }},
	{name: "require-encryption", kind: kindBool, arg: "yes|no", def: "no", group: groupSecurity,
		help:  "Accept only encrypted connections",
		field: func(o *Options) any { return &o.RequireEncryption }},
	{name: "max-connections", kind: kindInt, arg: "N", def: "500", max: maxInt32, group: groupSecurity,
		help:  "Most client connections in total; one more is closed at open with amqp:resource-limit-exceeded. Administrators' connections (property qpid.ha-admin, from an identity the ACL lets administer the broker), HA brokers' included, are exempt and not counted (0: no limit)",
		field: func(o *Options) any { return &o.MaxConnections }},
	{name: "connection-limit-per-user", kind: kindInt, arg: "N", def: "0", max: maxInt32, group: groupSecurity,
		help:  "Most client connections per authenticated user (anonymous counts as one user), as max-connections (0: no limit)",
		field: func(o *Options) any { return &o.ConnectionLimitPerUser }},
	{name: "connection-limit-per-ip", kind: kindInt, arg: "N", def: "0", max: maxInt32, group: groupSecurity,
		help:  "Most client connections per client IP address, as max-connections (0: no limit)",
		field: func(o *Options) any { return &o.ConnectionLimitPerIP }},
	{name: "max-queues-per-user", kind: kindInt, arg: "N", def: "0", max: maxInt32, group: groupSecurity,
		help:  "Most queues one user may have created and not deleted, by an attach (queue-patterns) or a management create (temporary queues of links do not count); one more is refused with amqp:resource-limit-exceeded. The ACL's quota queues applies too (the smaller wins); HA replication is exempt (0: no limit)",
		field: func(o *Options) any { return &o.MaxQueuesPerUser }},
	{name: "max-memory", kind: kindInt, arg: "BYTES", def: "0", max: math.MaxInt64, group: groupSecurity,
		defHelp: "0: automatic",
		help: "Bound on the bytes of all queues' messages together (the sum of their byte depths). Above it a client's new message is queued but its acceptance waits until the total falls below 90% of the bound (producers are flow controlled); above the bound plus 10% it is refused with amqp:resource-limit-exceeded. HA replication and messages already accepted are exempt. " +
			"0 is automatic: half of the smaller of the physical memory and the cgroup's memory.max",
		field: func(o *Options) any { return &o.MaxMemory }},
	{name: "ssl-port", kind: kindInt, arg: "PORT", def: "5671", max: 65535, group: groupSecurity,
		help:  "Listen for TLS (amqps) connections on PORT",
		field: func(o *Options) any { return &o.SSLPort }},
	{name: "ssl-cert-file", kind: kindString, arg: "FILE", group: groupSecurity,
		help:  "PEM certificate (chain) of the broker, for its TLS listener (ssl-port) and its own links to HA peers",
		field: func(o *Options) any { return &o.SSLCertFile }},
	{name: "ssl-key-file", kind: kindString, arg: "FILE", group: groupSecurity,
		help:  "Unencrypted PEM private key of ssl-cert-file; keep it 0640 root:qpidd",
		field: func(o *Options) any { return &o.SSLKeyFile }},
	{name: "ssl-ca-file", kind: kindString, arg: "FILE", group: groupSecurity,
		help:  "PEM certificates of the CAs that sign client and peer certificates; trusted by TLS clients of this file too (qpid-ha, qpid-config, qpidd-primary)",
		field: func(o *Options) any { return &o.SSLCAFile }},
	{name: "ssl-require-client-authentication", kind: kindBool, arg: "yes|no", def: "no", group: groupSecurity,
		help:  "Require TLS clients to present a certificate",
		field: func(o *Options) any { return &o.SSLRequireClientAuthentication }},
	{name: "ssl-sasl-no-dict", kind: kindBool, arg: "yes|no", def: "no", group: groupSecurity,
		help:  "Disable SASL mechanisms open to passive dictionary attacks",
		field: func(o *Options) any { return &o.SSLSASLNoDict }},

	// HA
	{name: "ha-cluster", kind: kindBool, arg: "yes|no", def: "no", group: groupHA,
		help:  "Join an HA active/passive cluster",
		field: func(o *Options) any { return &o.HACluster }},
	{name: "ha-queue-replication", kind: kindBool, arg: "yes|no", def: "no", group: groupHA,
		help:  "Allow replication of single queues without joining a cluster",
		field: func(o *Options) any { return &o.HAQueueReplication }},
	{name: "ha-brokers-url", kind: kindURL, arg: "URL", group: groupHA,
		help:  "URL with the address of each broker of the cluster, e.g. 20.0.20.1,20.0.20.2,20.0.20.3",
		field: func(o *Options) any { return &o.HABrokersURL }},
	{name: "ha-public-url", kind: kindURL, arg: "URL", group: groupHA,
		help:  "URL advertised to clients to connect to the cluster",
		field: func(o *Options) any { return &o.HAPublicURL }},
	{name: "ha-replicate", kind: kindEnum, arg: "LEVEL", def: ReplicateNone, group: groupHA,
		enum:  []string{ReplicateNone, ReplicateConfiguration, ReplicateAll},
		help:  "Replication of queues and exchanges without a qpid.replicate argument: none, configuration or all",
		field: func(o *Options) any { return &o.HAReplicate }},
	{name: "ha-username", kind: kindString, arg: "USER", group: groupHA,
		help:  "User name of connections between HA brokers (without @REALM)",
		field: func(o *Options) any { return &o.HAUsername }},
	{name: "ha-password", kind: kindString, arg: "PASS", group: groupHA,
		help:  "Password of connections between HA brokers",
		field: func(o *Options) any { return &o.HAPassword }},
	{name: "ha-mechanism", kind: kindString, arg: "MECH", group: groupHA,
		help:  "SASL mechanism of connections between HA brokers",
		field: func(o *Options) any { return &o.HAMechanism }},
	{name: "ha-backup-timeout", kind: kindSeconds, arg: "SECONDS", def: "10", group: groupHA,
		help:  "Longest time a new primary waits for an expected backup to connect and become ready, and for a backup to learn its epoch",
		field: func(o *Options) any { return &o.HABackupTimeout }},
	{name: "ha-flow-messages", kind: kindInt, arg: "N", def: "1000", max: math.MaxUint32, group: groupHA,
		help:  "Flow control message limit of replication (0: no limit)",
		field: func(o *Options) any { return &o.HAFlowMessages }},
	{name: "ha-flow-bytes", kind: kindInt, arg: "N", def: "0", max: math.MaxUint32, group: groupHA,
		help:  "Flow control byte limit of replication: the primary sends a backup no more events while those it has not acknowledged reach N bytes (0: no limit)",
		field: func(o *Options) any { return &o.HAFlowBytes }},
	{name: "ha-min-ready-backups", kind: kindInt, arg: "N", def: "0", max: maxInt32, group: groupHA,
		help:  "Minimum number of ready backups the primary requires (0: none)",
		field: func(o *Options) any { return &o.HAMinReadyBackups }},
	{name: "link-maintenance-interval", kind: kindSeconds, arg: "SECONDS", def: "2", group: groupHA,
		help:  "Interval at which backups check their link to the primary and reconnect (e.g. 0.1 for faster failover)",
		field: func(o *Options) any { return &o.LinkMaintenanceInterval }},
	{name: "link-heartbeat-interval", kind: kindSeconds, arg: "SECONDS", def: "120", group: groupHA,
		help:  "Heartbeat of links between brokers; a backup silent for twice this is dropped; also the status-check timeout (e.g. 10)",
		field: func(o *Options) any { return &o.LinkHeartbeatInterval }},

	{name: "ha-backup-lag-timeout", kind: kindSeconds, arg: "SECONDS", def: "0", defHelp: "2 x link-heartbeat-interval", group: groupHA,
		help:  "Longest time a backup may leave a replicated change unacknowledged (its disk stalled or full, a slow fsync) before the primary drops it from the ready set, so that one sick disk cannot stall every sender (0: twice link-heartbeat-interval)",
		field: func(o *Options) any { return &o.HABackupLagTimeout }},

	// Store
	{name: "store-dir", kind: kindString, arg: "DIR", group: groupStore, defHelp: "data-dir",
		help:  "Directory of the durable store, instead of data-dir",
		field: func(o *Options) any { return &o.StoreDir }},
	{name: "truncate", kind: kindBool, arg: "yes|no", def: "no", group: groupStore,
		help:  "Discard the store's contents at start instead of recovering them",
		field: func(o *Options) any { return &o.Truncate }},
	{name: "check-store", kind: kindSwitch, group: groupStore,
		help:  "Check the store of a stopped broker and exit: verify every record's checksum, print its durable queues, messages, bytes and position; exit 0 if a start would recover everything on disk, 1 if not",
		field: func(o *Options) any { return &o.CheckStore }},

	// Metrics
	{name: "metrics-port", kind: kindInt, arg: "PORT", def: "0", max: 65535, group: groupMetrics,
		help:  "Serve Prometheus metrics over HTTP on PORT, path /metrics (0: no metrics)",
		field: func(o *Options) any { return &o.MetricsPort }},
	{name: "metrics-address", kind: kindString, arg: "ADDRESS", def: "127.0.0.1", group: groupMetrics,
		help:  "Address the metrics listener binds to (\"\" or 0.0.0.0: every interface)",
		field: func(o *Options) any { return &o.MetricsAddress }},
}

// Obsolete options of the original: accepted so that existing qpidd.conf
// files keep working, ignored, and reported in a warning.
func init() {
	obs := func(reason string, k kind, names ...string) {
		for _, n := range names {
			op := &option{name: n, kind: k, group: groupObsolete, obsolete: reason, arg: "VALUE"}
			if k == kindBool {
				op.arg = "yes|no"
			}
			if n == "mgmt-enable" {
				op.short = 'm'
			}
			options = append(options, op)
		}
	}
	obs("modules are built in", kindList, "load-module", "module-dir")
	obs("modules are built in", kindBool, "no-module-dir")
	obs("the cluster interconnect client configuration is gone", kindString, "client-config")
	obs("management is always on", kindBool, "mgmt-enable")
	obs("QMF is replaced by the AMQP 1.0 management node", kindBool, "mgmt-publish", "mgmt-qmf1", "mgmt-qmf2")
	obs("QMF is replaced by the AMQP 1.0 management node", kindString, "mgmt-pub-interval")
	obs("queue threshold events were QMF events", kindString, "default-event-threshold-ratio")
	obs("the Go runtime sizes its own thread pool", kindString, "worker-threads")
	obs("the system's listen backlog (net.core.somaxconn) is used", kindString, "connection-backlog")
	obs("only AMQP 1.0 is spoken", kindList, "protocols")
	obs("paged queues are not supported", kindString, "paging-dir")
	obs("distributed transactions (AMQP 0-10 DTX) are not supported", kindString, "dtx-default-timeout", "dtx-max-timeout")
	obs("AMQP 0-10 known-hosts are not sent; use ha-public-url or a virtual IP", kindString, "known-hosts-url")
	obs("AMQP 1.0 interconnect domains are not supported", kindString, "domain")
	obs("listening sockets are opened by the broker", kindList, "socket-fd")
	obs("the daemon closes no inherited descriptors on request", kindList, "close-fd")
	obs("the daemon reports the AMQP port", kindString, "transport")
	obs("the store is built in", kindString, "storage-provider")
	obs("Cyrus SASL is not used; see auth-database", kindString, "sasl-config", "sasl-service-name")
	obs("NSS export policy does not apply", kindBool, "ssl-use-export-policy")
	obs("NSS databases are not used: give PEM files with ssl-cert-file, ssl-key-file and ssl-ca-file (README: from NSS to PEM)",
		kindString, "ssl-cert-db", "ssl-cert-name", "ssl-cert-password-file")
	obs("message groups are not supported", kindString, "default-message-group")
	obs("federation is not supported", kindString, "federation-tag")
	obs("categories are not supported", kindList, "log-disable")
	obs("logrus formats log lines", kindBool, "log-time", "log-source", "log-thread", "log-function", "log-hires-timestamp", "log-category")
	obs("logrus formats log lines", kindString, "log-prefix")
	obs("use log-to-stderr", kindBool, "log-to-stdout")
	obs("use log-to-journal or log-to-file", kindBool, "log-to-syslog")
	obs("use log-to-journal or log-to-file", kindString, "syslog-name", "syslog-facility")
	obs("the original journal's tuning does not apply to this store", kindString,
		"num-jfiles", "jfile-size-pgs", "tpl-num-jfiles", "tpl-jfile-size-pgs",
		"wcache-page-size", "wcache-num-pages", "tpl-wcache-page-size", "tpl-wcache-num-pages",
		"efp-partition", "efp-file-size", "journal-flush-timeout", "max-auto-expand-jfiles")
	obs("the original journal's tuning does not apply to this store", kindBool, "overwrite-before-return", "auto-expand")
	obs("the old cluster module is replaced by the ha-* options", kindString,
		"cluster-name", "cluster-url", "cluster-username", "cluster-password", "cluster-mechanism",
		"cluster-size", "cluster-read-max", "cluster-clock-interval", "watchdog-interval", "watchdog-exec")
	obs("the old cluster module is replaced by the ha-* options", kindBool, "cluster-cman")
	obs("removed from qpidd long ago", kindString, "max-session-rate")
	obs("removed from qpidd long ago", kindBool, "async-queue-events")

	byName = make(map[string]*option, len(options))
	byShort = make(map[byte]*option)
	envNames = make(map[string]*option, len(options))
	for _, op := range options {
		if byName[op.name] != nil {
			panic("config: duplicate option " + op.name)
		}
		byName[op.name] = op
		envNames[EnvName(op.name)] = op
		if op.short != 0 {
			byShort[op.short] = op
		}
	}
}

// Lookup tables of the option table, built by init.
var (
	byName   map[string]*option // by long name
	byShort  map[byte]*option   // by short name
	envNames map[string]*option // by QPID_<OPTION> variable
)

// Info describes one row of the option table.
type Info struct {
	Name string
	// Obsolete is why the option is accepted and ignored with a warning;
	// "" for an option in force.
	Obsolete string
	// YesNo: the option is a switch or takes yes|no.
	YesNo bool
}

// Table lists every option, current and obsolete, in table order: the
// test that holds every option to a test of its effect walks it.
func Table() []Info {
	out := make([]Info, len(options))
	for i, op := range options {
		out[i] = Info{Name: op.name, Obsolete: op.obsolete, YesNo: !op.takesValue()}
	}
	return out
}

// parseValue converts text to the option's type; it does not store it.
func (op *option) parseValue(s string) (any, error) {
	switch op.kind {
	case kindSwitch, kindBool:
		return ParseBool(s)
	case kindInt:
		return parseUint(s, op.min, op.max)
	case kindString:
		return s, nil
	case kindList:
		return s, nil
	case kindSeconds:
		return ParseSeconds(s)
	case kindMillis:
		return parseDuration(s, time.Millisecond)
	case kindURL:
		if s == "" {
			return URL{}, nil
		}
		return ParseURL(s)
	case kindEnum:
		for _, e := range op.enum {
			if s == e {
				return s, nil
			}
		}
		return nil, fmt.Errorf("expected one of %s", strings.Join(op.enum, ", "))
	case kindLogLevel:
		l := strings.ToLower(s)
		if logLevelIndex(l) < 0 {
			return nil, fmt.Errorf("expected one of %s", strings.Join(LogLevels, ", "))
		}
		return l, nil
	}
	panic("config: bad option kind")
}

// store puts a parsed value into o; for a list it appends.
func (op *option) store(o *Options, v any) {
	switch p := op.field(o).(type) {
	case *bool:
		*p = v.(bool)
	case *int:
		*p = int(v.(uint64))
	case *uint64:
		*p = v.(uint64)
	case *string:
		*p = v.(string)
	case *[]string:
		*p = append(*p, v.(string))
	case *time.Duration:
		*p = v.(time.Duration)
	case *URL:
		*p = v.(URL)
	default:
		panic("config: bad field type for " + op.name)
	}
}

// format renders the option's current value in o as option text.
func (op *option) format(o *Options) string {
	switch p := op.field(o).(type) {
	case *bool:
		if *p {
			return "yes"
		}
		return "no"
	case *int:
		return strconv.Itoa(*p)
	case *uint64:
		return strconv.FormatUint(*p, 10)
	case *string:
		return *p
	case *[]string:
		return strings.Join(*p, " ")
	case *time.Duration:
		return FormatSeconds(*p)
	case *URL:
		return p.String()
	}
	return ""
}
