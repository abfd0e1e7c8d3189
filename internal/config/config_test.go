package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConf writes a configuration file into a temporary directory.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qpidd.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// load runs Load with a config file (or none) and fails the test on error.
func load(t *testing.T, conf string, args []string, env ...string) (*Options, []string) {
	t.Helper()
	path := ""
	if conf != "" {
		path = writeConf(t, conf)
	}
	o, w, err := Load(append([]string{"--config=" + path}, args...), env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return o, w
}

// loadErr runs Load and returns its *Error.
func loadErr(t *testing.T, args []string, env ...string) *Error {
	t.Helper()
	o, _, err := Load(args, env)
	if err == nil {
		t.Fatalf("Load(%q, %q) succeeded: %+v; want error", args, env, o)
	}
	if o != nil {
		t.Errorf("Load returned options with an error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

func TestDefaults(t *testing.T) {
	o, w := load(t, "", nil)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"port", o.Port, 5672},
		{"data-dir", o.DataDir, "/var/lib/qpidd"},
		{"auth", o.Auth, true},
		{"realm", o.Realm, "QPID"},
		{"tcp-nodelay", o.TCPNoDelay, true},
		{"ha-cluster", o.HACluster, false},
		{"ha-queue-replication", o.HAQueueReplication, false},
		{"ha-brokers-url", o.HABrokersURL.Empty(), true},
		{"ha-public-url", o.HAPublicURL.Empty(), true},
		{"ha-replicate", o.HAReplicate, "none"},
		{"ha-username", o.HAUsername, ""},
		{"ha-backup-timeout", o.HABackupTimeout, 10 * time.Second},
		{"ha-flow-messages", o.HAFlowMessages, 1000},
		{"ha-flow-bytes", o.HAFlowBytes, 0},
		{"ha-min-ready-backups", o.HAMinReadyBackups, 0},
		{"link-maintenance-interval", o.LinkMaintenanceInterval, 2 * time.Second},
		{"link-heartbeat-interval", o.LinkHeartbeatInterval, 120 * time.Second},
		{"log-level", o.LogLevel, "info"},
		{"log-to-stderr", o.LogToStderr, true},
		{"max-negotiate-time", o.MaxNegotiateTime, 10 * time.Second},
		{"default-queue-limit", o.DefaultQueueLimit, uint64(104857600)},
		{"max-connections", o.MaxConnections, 500},
		{"ssl-port", o.SSLPort, 5671},
		{"wait", o.Wait, 600 * time.Second},
		{"queue-purge-interval", o.QueuePurgeInterval, 600 * time.Second},
		{"session-max-unacked", o.SessionMaxUnacked, 5000},
		{"auth-database", o.AuthDatabase, "/etc/qpid/qpidd.users"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
		if src := o.Source(c.name); src != "default" {
			t.Errorf("Source(%s) = %q; want default", c.name, src)
		}
	}
	if !reflect.DeepEqual(Defaults().HAReplicate, "none") {
		t.Errorf("Defaults() HAReplicate = %q", Defaults().HAReplicate)
	}
	if o.Source("no-such-option") != "" {
		t.Errorf("Source of an unknown name = %q", o.Source("no-such-option"))
	}
}

func TestPrecedence(t *testing.T) {
	conf := `port=1001
ha-backup-timeout=1s
ha-cluster=yes
ha-brokers-url=file1,file2
ha-replicate=configuration
realm=FILE
ha-flow-messages=11
queue-patterns=fileq1
queue-patterns=fileq2
topic-patterns=filet
`
	path := writeConf(t, conf)
	env := []string{
		"QPID_PORT=2002",
		"QPID_HA_BACKUP_TIMEOUT=2s",
		"QPID_HA_CLUSTER=no",
		"QPID_HA_BROKERS_URL=env1",
		"QPID_REALM=ENV",
		"QPID_QUEUE_PATTERNS=envq",
		"HOME=/root",
	}
	args := []string{"--config", path, "--port=3003", "--ha-backup-timeout", "3ms", "--ha-cluster", "--realm=CLI"}
	o, w, err := Load(args, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	for _, c := range []struct {
		name, src string
		got, want any
	}{
		{"port", `argument "--port"`, o.Port, 3003},
		{"ha-backup-timeout", `argument "--ha-backup-timeout"`, o.HABackupTimeout, 3 * time.Millisecond},
		{"ha-cluster", `argument "--ha-cluster"`, o.HACluster, true},
		{"realm", `argument "--realm"`, o.Realm, "CLI"},
		{"ha-brokers-url", "QPID_HA_BROKERS_URL", o.HABrokersURL.String(), "amqp:tcp:env1:5672"},
		{"queue-patterns", "QPID_QUEUE_PATTERNS", o.QueuePatterns, []string{"envq"}},
		{"ha-replicate", path + ":5", o.HAReplicate, "configuration"},
		{"ha-flow-messages", path + ":7", o.HAFlowMessages, 11},
		{"topic-patterns", path + ":10", o.TopicPatterns, []string{"filet"}},
		{"ha-username", "default", o.HAUsername, ""},
		{"config", `argument "--config"`, o.Config, path},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
		if src := o.Source(c.name); src != c.src {
			t.Errorf("Source(%s) = %q; want %q", c.name, src, c.src)
		}
	}

	// Without the command line, the environment wins over the file.
	o, _, err = Load([]string{"--config", path}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 2002 || o.HABackupTimeout != 2*time.Second || o.HACluster || o.Realm != "ENV" {
		t.Errorf("env over file: port %d timeout %v cluster %v realm %q", o.Port, o.HABackupTimeout, o.HACluster, o.Realm)
	}
	// Without the environment, the file wins over the defaults; lists accumulate within the file.
	o, _, err = Load([]string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 1001 || o.HABackupTimeout != time.Second || !o.HACluster || o.Realm != "FILE" ||
		!reflect.DeepEqual(o.QueuePatterns, []string{"fileq1", "fileq2"}) {
		t.Errorf("file over defaults: %+v", o)
	}
	if o.Source("queue-patterns") != path+":9" {
		t.Errorf("Source(queue-patterns) = %q", o.Source("queue-patterns"))
	}
	// Lists accumulate on the command line, replacing lower sources.
	o, _, err = Load([]string{"--config", path, "--queue-patterns", "c1", "--queue-patterns=c2"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.QueuePatterns, []string{"c1", "c2"}) {
		t.Errorf("queue-patterns = %q", o.QueuePatterns)
	}
	// The last of a repeated scalar on the command line wins, silently.
	o, w, err = Load([]string{"--config", path, "-p", "1", "--port", "2"}, nil)
	if err != nil || o.Port != 2 || len(w) != 0 {
		t.Errorf("repeated --port: %d %q %v", o.Port, w, err)
	}
}

func TestConfigFileChoice(t *testing.T) {
	a := writeConf(t, "port=1111\n")
	b := writeConf(t, "port=2222\n")
	o, _, err := Load(nil, []string{"QPID_CONFIG=" + a})
	if err != nil || o.Port != 1111 || o.Config != a || o.Source("config") != "QPID_CONFIG" {
		t.Errorf("QPID_CONFIG: %v %+v", err, o)
	}
	o, _, err = Load([]string{"--config", b}, []string{"QPID_CONFIG=" + a})
	if err != nil || o.Port != 2222 || o.Config != b {
		t.Errorf("--config over QPID_CONFIG: %v %+v", err, o)
	}
	// An empty --config reads no file.
	o, _, err = Load([]string{"--config="}, []string{"QPID_CONFIG=" + a})
	if err != nil || o.Port != 5672 || o.Config != "" {
		t.Errorf("--config='': %v %+v", err, o)
	}
	// A config option inside the file has no effect, with a warning.
	c := writeConf(t, "config="+a+"\nport=3333\n")
	o, w, err := Load([]string{"--config", c}, nil)
	if err != nil || o.Port != 3333 || o.Config != c || len(w) != 1 || !strings.Contains(w[0], c+":1:") {
		t.Errorf("config in file: %v %+v %q", err, o, w)
	}
}

func TestMissingConfigFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.conf")
	e := loadErr(t, []string{"--config", missing})
	if !errors.Is(e, ErrConfigFile) || !errors.Is(e, os.ErrNotExist) || e.Option != "config" || e.Source != `argument "--config"` ||
		!strings.Contains(e.Error(), missing) {
		t.Errorf("explicit missing file: %v (%+v)", e, e)
	}
	e = loadErr(t, nil, "QPID_CONFIG="+missing)
	if !errors.Is(e, ErrConfigFile) || e.Source != "QPID_CONFIG" {
		t.Errorf("missing QPID_CONFIG file: %v", e)
	}
	if _, _, err := ReadFile(missing, nil); !errors.Is(err, ErrConfigFile) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
	// A directory is not a readable file.
	e = loadErr(t, []string{"--config", t.TempDir()})
	if !errors.Is(e, ErrConfigFile) {
		t.Errorf("directory: %v", e)
	}
}

func TestMissingDefaultConfigFile(t *testing.T) {
	if _, err := os.Stat(DefaultConfigFile); err == nil {
		t.Skipf("%s exists on this machine", DefaultConfigFile)
	}
	o, w, err := Load(nil, nil)
	if err != nil || len(w) != 0 || o.Config != DefaultConfigFile || o.Source("config") != "default" || o.Port != 5672 {
		t.Errorf("missing default file: %v %q %+v", err, w, o)
	}
	o, _, err = ReadFile("", []string{"QPID_PORT=7"})
	if err != nil || o.Port != 7 {
		t.Errorf("ReadFile with a missing default file: %v %+v", err, o)
	}
}

func TestFileSyntax(t *testing.T) {
	conf := "\uFEFF# Configuration file for qpidd. Entries are of the form:\n" +
		"#   name=value\n" +
		"\n" +
		"   \t\n" +
		"  # indented comment\n" +
		"port = 5673\r\n" +
		"\tha-cluster\t=\tYes   \n" +
		"ha-brokers-url=node1,node2 # trailing comment\n" +
		"realm=EXAMPLE.COM#no space before the comment\n" +
		"ha-username=\n" +
		"ha-mechanism = PLAIN\n" +
		"log-to-stderr=OFF\n" +
		"tcp-nodelay=0\n" +
		"auth=False\n" +
		"require-encryption=on\n" +
		"enable-timestamp=TRUE\n" +
		"no-data-dir=1\n" +
		"truncate=\n" + // empty means yes, as in boost
		"log-to-journal=true\n" +
		"ssl-sasl-no-dict=yes\n" +
		"ha-queue-replication=no"
	o, w := load(t, conf, nil)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if o.Port != 5673 || !o.HACluster || o.HABrokersURL.String() != "amqp:tcp:node1:5672,tcp:node2:5672" ||
		o.Realm != "EXAMPLE.COM" || o.HAUsername != "" || o.HAMechanism != "PLAIN" {
		t.Errorf("parsed %+v", o)
	}
	if o.LogToStderr || o.TCPNoDelay || o.Auth || !o.RequireEncryption || !o.EnableTimestamp || !o.NoDataDir ||
		!o.Truncate || !o.LogToJournal || !o.SSLSASLNoDict || o.HAQueueReplication {
		t.Errorf("bools %+v", o)
	}
	if src := o.Source("port"); !strings.HasSuffix(src, "qpidd.conf:6") {
		t.Errorf("Source(port) = %q", src)
	}
}

func TestFileDuplicateWarning(t *testing.T) {
	o, w := load(t, "port=1\nport=2\nload-module=a.so\nload-module=b.so\n", nil)
	if o.Port != 2 {
		t.Errorf("port = %d", o.Port)
	}
	if len(w) != 2 || !strings.Contains(w[0], `qpidd.conf:2: option "port" is set again (first at `) ||
		!strings.Contains(w[1], `qpidd.conf:3: option "load-module" is obsolete`) {
		t.Errorf("warnings %q", w)
	}
}

func TestFileErrors(t *testing.T) {
	for _, c := range []struct {
		conf, option, value string
		line                int
		is                  error
		msg                 string
	}{
		{"port=5672\n\n# c\nha-clster=yes\n", "ha-clster", "", 4, ErrUnknownOption, `unknown option "ha-clster"`},
		{"ha-cluster\n", "", "ha-cluster", 1, ErrSyntax, `syntax error: expected name=value: "ha-cluster"`},
		{"[broker]\nport=1\n", "", "[broker]", 1, ErrSyntax, "syntax error"},
		{"=5\n", "", "", 1, ErrUnknownOption, `unknown option ""`},
		{"PORT=5\n", "PORT", "", 1, ErrUnknownOption, `unknown option "PORT"`},
		{"--port=5\n", "--port", "", 1, ErrUnknownOption, `unknown option "--port"`},
		{"x\nport=abc\n", "", "x", 1, ErrSyntax, "syntax error"},
		{"auth=no\nport=abc\n", "port", "abc", 2, nil, `invalid value "abc" for option port: expected a non-negative whole number`},
		{"port=70000\n", "port", "70000", 1, nil, "out of range 0..65535"},
		{"port=-1\n", "port", "-1", 1, nil, "invalid value"},
		{"ha-cluster=maybe\n", "ha-cluster", "maybe", 1, nil, "expected yes|no"},
		{"ha-backup-timeout=10m\n", "ha-backup-timeout", "10m", 1, nil, "invalid value"},
		{"link-heartbeat-interval=-5\n", "link-heartbeat-interval", "-5", 1, nil, "invalid value"},
		{"ha-brokers-url=node1,,node2\n", "ha-brokers-url", "node1,,node2", 1, nil, "empty address"},
		{"ha-public-url=rdma:x\n", "ha-public-url", "rdma:x", 1, nil, "rdma"},
		{"ha-replicate=All\n", "ha-replicate", "All", 1, nil, "expected one of none, configuration, all"},
		{"log-level=loud\n", "log-level", "loud", 1, nil, "invalid value"},
		{"log-enable=loud+\n", "log-enable", "loud+", 1, nil, "invalid value"},
		{"default-flow-stop-threshold=101\n", "default-flow-stop-threshold", "101", 1, nil, "out of range 0..100"},
		{"ha-flow-bytes=4294967296\n", "ha-flow-bytes", "4294967296", 1, nil, "out of range"},
	} {
		path := writeConf(t, c.conf)
		e := loadErr(t, []string{"--config", path})
		where := path + ":" + string(rune('0'+c.line))
		if e.Source != where || e.Option != c.option || e.Value != c.value {
			t.Errorf("%q: error %+v; want source %s option %q value %q", c.conf, e, where, c.option, c.value)
		}
		if c.is != nil && !errors.Is(e, c.is) {
			t.Errorf("%q: error %v is not %v", c.conf, e, c.is)
		}
		if !strings.HasPrefix(e.Error(), where+": ") || !strings.Contains(e.Error(), c.msg) {
			t.Errorf("%q: message %q; want it to start with %q and contain %q", c.conf, e.Error(), where, c.msg)
		}
	}
	// The example message of the package documentation.
	e := &Error{Option: "ha-clster", Source: "/etc/qpid/qpidd.conf:12", Err: ErrUnknownOption}
	if e.Error() != `/etc/qpid/qpidd.conf:12: unknown option "ha-clster"` {
		t.Errorf("message %q", e.Error())
	}
}

func TestEnvironment(t *testing.T) {
	env := []string{
		"QPID_HA_BROKERS_URL=amqp:u/p@n1:5673,n2",
		"QPID_HA_CLUSTER=YES",
		"QPID_HA_BACKUP_TIMEOUT=0.5",
		"QPID_LINK_HEARTBEAT_INTERVAL=10",
		"QPID_LINK_MAINTENANCE_INTERVAL=100ms",
		"QPID_DATA_DIR=/srv/qpidd", // the init scripts' sysconfig variable maps to data-dir
		"QPID_BIN=/usr/sbin/qpidd", // init script variables that are not options are ignored
		"QPID_HA=yes",
		"QPID_HA_OPTIONS=--config /etc/qpid/qpidd.conf",
		"QPIDD_OPTIONS=--foo",
		"qpid_port=1", // lower case is not an option variable
		"QPID_port=1", // nor mixed case
		"QPID_PORT",   // malformed, ignored
		"QPID_ACL_FILE=/etc/qpid/qpidd.acl",
		"QPID_ACL_FILE=/ignored", // the first of a repeated variable counts, as os.Getenv
		"QPID_HA_MIN_READY_BACKUPS=1",
	}
	o, w := load(t, "", nil, env...)
	if len(w) != 0 {
		t.Errorf("warnings: %q", w)
	}
	if !o.HACluster || o.HABrokersURL.User != "u" || o.HABrokersURL.Password != "p" || len(o.HABrokersURL.Addrs) != 2 ||
		o.HABackupTimeout != 500*time.Millisecond || o.LinkHeartbeatInterval != 10*time.Second ||
		o.LinkMaintenanceInterval != 100*time.Millisecond || o.DataDir != "/srv/qpidd" || o.Port != 5672 ||
		o.ACLFile != "/etc/qpid/qpidd.acl" || o.HAMinReadyBackups != 1 {
		t.Errorf("env: %+v", o)
	}
	if o.Source("ha-brokers-url") != "QPID_HA_BROKERS_URL" || o.Source("data-dir") != "QPID_DATA_DIR" {
		t.Errorf("sources %q %q", o.Source("ha-brokers-url"), o.Source("data-dir"))
	}
	if EnvName("ha-brokers-url") != "QPID_HA_BROKERS_URL" || EnvName("port") != "QPID_PORT" {
		t.Errorf("EnvName")
	}

	for _, c := range []struct {
		env, option, msg string
	}{
		{"QPID_PORT=abc", "port", `QPID_PORT: invalid value "abc" for option port: expected a non-negative whole number`},
		{"QPID_PORT=", "port", `QPID_PORT: invalid value "" for option port`},
		{"QPID_HA_REPLICATE=everything", "ha-replicate", `QPID_HA_REPLICATE: invalid value "everything" for option ha-replicate`},
		{"QPID_HA_BACKUP_TIMEOUT=soon", "ha-backup-timeout", `QPID_HA_BACKUP_TIMEOUT: invalid value "soon"`},
		{"QPID_HA_CLUSTER=perhaps", "ha-cluster", `QPID_HA_CLUSTER: invalid value "perhaps"`},
		{"QPID_HA_BROKERS_URL=a,", "ha-brokers-url", `QPID_HA_BROKERS_URL: invalid value "a,"`},
	} {
		e := loadErr(t, []string{"--config="}, c.env)
		if e.Option != c.option || e.Source != strings.SplitN(c.env, "=", 2)[0] || !strings.HasPrefix(e.Error(), c.msg) {
			t.Errorf("%s: %q (%+v)", c.env, e.Error(), e)
		}
	}
}

func TestCommandLineForms(t *testing.T) {
	for _, c := range []struct {
		args  []string
		check func(*Options) bool
	}{
		{[]string{"--ha-cluster"}, func(o *Options) bool { return o.HACluster }},
		{[]string{"--ha-cluster=yes"}, func(o *Options) bool { return o.HACluster }},
		{[]string{"--ha-cluster", "yes"}, func(o *Options) bool { return o.HACluster }},
		{[]string{"--ha-cluster", "On"}, func(o *Options) bool { return o.HACluster }},
		{[]string{"--ha-cluster=no"}, func(o *Options) bool { return !o.HACluster }},
		{[]string{"--ha-cluster", "no"}, func(o *Options) bool { return !o.HACluster }},
		{[]string{"--ha-cluster", "0", "--port", "7"}, func(o *Options) bool { return !o.HACluster && o.Port == 7 }},
		{[]string{"--ha-cluster", "--port", "7"}, func(o *Options) bool { return o.HACluster && o.Port == 7 }},
		{[]string{"--auth", "no", "-p", "9"}, func(o *Options) bool { return !o.Auth && o.Port == 9 }},
		{[]string{"--port", "5673"}, func(o *Options) bool { return o.Port == 5673 }},
		{[]string{"--port=5673"}, func(o *Options) bool { return o.Port == 5673 }},
		{[]string{"-p", "5673"}, func(o *Options) bool { return o.Port == 5673 }},
		{[]string{"-p5673"}, func(o *Options) bool { return o.Port == 5673 }},
		{[]string{"-p=5673"}, func(o *Options) bool { return o.Port == 5673 }},
		{[]string{"-p", "0"}, func(o *Options) bool { return o.Port == 0 }},
		{[]string{"-d"}, func(o *Options) bool { return o.Daemon }},
		{[]string{"--daemon"}, func(o *Options) bool { return o.Daemon }},
		{[]string{"-q"}, func(o *Options) bool { return o.Quit }},
		{[]string{"-c"}, func(o *Options) bool { return o.Check }},
		{[]string{"-k"}, func(o *Options) bool { return o.Kill }},
		{[]string{"-h"}, func(o *Options) bool { return o.Help }},
		{[]string{"--help"}, func(o *Options) bool { return o.Help }},
		{[]string{"-v"}, func(o *Options) bool { return o.Version }},
		{[]string{"--version"}, func(o *Options) bool { return o.Version }},
		{[]string{"-t"}, func(o *Options) bool { return o.Trace && o.LogLevel == "trace" }},
		{[]string{"-dt"}, func(o *Options) bool { return o.Daemon && o.Trace }},
		{[]string{"-dp", "6000"}, func(o *Options) bool { return o.Daemon && o.Port == 6000 }},
		{[]string{"-w", "0.5"}, func(o *Options) bool { return o.Wait == 500*time.Millisecond }},
		{[]string{"--wait=30"}, func(o *Options) bool { return o.Wait == 30*time.Second }},
		{[]string{"--daemon=no"}, func(o *Options) bool { return !o.Daemon }},
		{[]string{"--ha-password=-secret-"}, func(o *Options) bool { return o.HAPassword == "-secret-" }},
		{[]string{"--ha-password", "-secret"}, func(o *Options) bool { return o.HAPassword == "-secret" }},
		{[]string{"--ha-brokers-url", ""}, func(o *Options) bool { return o.HABrokersURL.Empty() }},
		{[]string{"--log-to-file", "/var/log/qpidd.log", "--log-to-stderr", "no"},
			func(o *Options) bool { return o.LogToFile == "/var/log/qpidd.log" && !o.LogToStderr }},
		{[]string{"--interface", "eth0", "--interface=10.0.0.1"},
			func(o *Options) bool { return reflect.DeepEqual(o.Interfaces, []string{"eth0", "10.0.0.1"}) }},
		{[]string{"--max-negotiate-time", "500"}, func(o *Options) bool { return o.MaxNegotiateTime == 500*time.Millisecond }},
		{[]string{"--max-negotiate-time", "2s"}, func(o *Options) bool { return o.MaxNegotiateTime == 2*time.Second }},
	} {
		o, _ := load(t, "", c.args)
		if !c.check(o) {
			t.Errorf("%q: %+v", c.args, o)
		}
	}
	// --daemon never takes the next argument: here it is an unexpected argument.
	if e := loadErr(t, []string{"--config=", "--daemon", "yes"}); !errors.Is(e, ErrSyntax) || e.Value != "yes" {
		t.Errorf("--daemon yes: %v", e)
	}
}

func TestCommandLineErrors(t *testing.T) {
	for _, c := range []struct {
		args        []string
		option, src string
		is          error
		msg         string
	}{
		{[]string{"--prot=1"}, "prot", `argument "--prot"`, ErrUnknownOption, `argument "--prot": unknown option "prot"`},
		{[]string{"--ha-clster"}, "ha-clster", `argument "--ha-clster"`, ErrUnknownOption, `unknown option "ha-clster"`},
		{[]string{"-x"}, "x", `argument "-x"`, ErrUnknownOption, `argument "-x": unknown option "x"`},
		{[]string{"-dx"}, "x", `argument "-x"`, ErrUnknownOption, `unknown option "x"`},
		{[]string{"--ha-br", "x"}, "ha-br", `argument "--ha-br"`, ErrUnknownOption, "unknown option"},
		{[]string{"--port"}, "port", `argument "--port"`, ErrMissingValue, `argument "--port": option port requires a value`},
		{[]string{"--port", "--daemon"}, "port", `argument "--port"`, ErrMissingValue, "requires a value"},
		{[]string{"-p"}, "port", `argument "-p"`, ErrMissingValue, "requires a value"},
		{[]string{"-p", "-d"}, "port", `argument "-p"`, ErrMissingValue, "requires a value"},
		{[]string{"--port", "abc"}, "port", `argument "--port"`, nil, `argument "--port": invalid value "abc" for option port`},
		{[]string{"--port", "-1"}, "port", `argument "--port"`, nil, `invalid value "-1" for option port`},
		{[]string{"-pabc"}, "port", `argument "-p"`, nil, `invalid value "abc"`},
		{[]string{"--ha-replicate=some"}, "ha-replicate", `argument "--ha-replicate"`, nil, "expected one of none, configuration, all"},
		{[]string{"--ha-backup-timeout", "-1"}, "ha-backup-timeout", `argument "--ha-backup-timeout"`, nil, "invalid value"},
		{[]string{"--ha-cluster=maybe"}, "ha-cluster", `argument "--ha-cluster"`, nil, "invalid value"},
		{[]string{"start"}, "", `argument "start"`, ErrSyntax, "unexpected argument"},
		{[]string{"--", "--port=1"}, "", `argument "--"`, ErrSyntax, "unexpected argument"},
		{[]string{"--ha-cluster", "maybe"}, "", `argument "maybe"`, ErrSyntax, "unexpected argument"},
	} {
		e := loadErr(t, append([]string{"--config="}, c.args...))
		if e.Option != c.option || e.Source != c.src || (c.is != nil && !errors.Is(e, c.is)) || !strings.Contains(e.Error(), c.msg) {
			t.Errorf("%q: %q (%+v)", c.args, e.Error(), e)
		}
	}
}

func TestHAReplicate(t *testing.T) {
	for _, v := range []string{"none", "configuration", "all"} {
		o, _ := load(t, "ha-replicate="+v+"\n", nil)
		if o.HAReplicate != v {
			t.Errorf("ha-replicate=%s gives %q", v, o.HAReplicate)
		}
	}
	for _, v := range []string{"", "All", "config", "yes", "true", " all"} {
		e := loadErr(t, []string{"--config=", "--ha-replicate=" + v})
		if e.Option != "ha-replicate" || e.Value != v {
			t.Errorf("ha-replicate=%q: %v", v, e)
		}
	}
}

// A qpidd.conf written for the original broker, with obsolete options.
const originalConf = `# Configuration file for qpidd. Entries are of the form:
#   name=value
#
# (Note: no spaces on either side of '=').
load-module=/usr/lib/qpid/daemon/ha.so
mgmt-enable=yes
log-enable=info+
log-to-syslog=yes
data-dir=/var/lib/qpidd-test
auth=no
ha-cluster=yes
ha-brokers-url=20.0.20.1,20.0.20.2,20.0.20.3
ha-public-url=20.0.20.200
ha-replicate=all
ha-username=qpid_ha
ha-password=s3cret
ha-mechanism=PLAIN
ha-backup-timeout=5
link-maintenance-interval=0.1
link-heartbeat-interval=10
acl-file=/etc/qpid/qpidd.acl
worker-threads=8
max-connections=1000
`

func TestOriginalStyleConfig(t *testing.T) {
	path := writeConf(t, originalConf)
	o, w, err := Load([]string{"--config", path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		path + `:5: option "load-module" is obsolete and ignored (modules are built in)`,
		path + `:6: option "mgmt-enable" is obsolete and ignored (management is always on)`,
		path + `:7: option "log-enable" is obsolete: "info+" mapped to log-level=info`,
		path + `:8: option "log-to-syslog" is obsolete and ignored (use log-to-journal or log-to-file)`,
		path + `:22: option "worker-threads" is obsolete and ignored (the Go runtime sizes its own thread pool)`,
	}
	if !reflect.DeepEqual(w, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(w, "\n"), strings.Join(want, "\n"))
	}
	if !o.HACluster || o.Auth || o.DataDir != "/var/lib/qpidd-test" || o.HAReplicate != "all" ||
		len(o.HABrokersURL.Addrs) != 3 || o.HABrokersURL.Addrs[2].Host != "20.0.20.3" ||
		o.HAPublicURL.String() != "amqp:tcp:20.0.20.200:5672" ||
		o.HAUsername != "qpid_ha" || o.HAPassword != "s3cret" || o.HAMechanism != "PLAIN" ||
		o.HABackupTimeout != 5*time.Second || o.LinkMaintenanceInterval != 100*time.Millisecond ||
		o.LinkHeartbeatInterval != 10*time.Second || o.LogLevel != "info" || o.MaxConnections != 1000 ||
		o.ACLFile != "/etc/qpid/qpidd.acl" {
		t.Errorf("options %+v", o)
	}
	if o.Source("log-level") != path+":7" {
		t.Errorf("Source(log-level) = %q", o.Source("log-level"))
	}
}

func TestObsoleteOptions(t *testing.T) {
	// Every obsolete option is accepted from every source, with one warning.
	for _, op := range options {
		if op.obsolete == "" || op.name == "log-enable" {
			continue
		}
		val := "x"
		if op.kind == kindBool {
			val = "yes"
		}
		_, w := load(t, op.name+"="+val+"\n", nil)
		if len(w) != 1 || !strings.Contains(w[0], ":1: option \""+op.name+"\" is obsolete and ignored (") {
			t.Errorf("file %s: %q", op.name, w)
		}
		_, w = load(t, "", nil, EnvName(op.name)+"="+val)
		if len(w) != 1 || !strings.HasPrefix(w[0], EnvName(op.name)+": option \""+op.name+"\"") {
			t.Errorf("env %s: %q", op.name, w)
		}
		_, w = load(t, "", []string{"--" + op.name + "=" + val})
		if len(w) != 1 || !strings.HasPrefix(w[0], `argument "--`+op.name+`": option "`+op.name+`"`) {
			t.Errorf("command line %s: %q", op.name, w)
		}
	}
	// mgmt-enable=no is accepted with its own warning; -m is its short form.
	for _, args := range [][]string{{"--mgmt-enable=no"}, {"--mgmt-enable", "no"}, {"-m", "no"}, {"-m=no"}} {
		_, w := load(t, "", args)
		if len(w) != 1 || !strings.Contains(w[0], `option "mgmt-enable" is set to "no", which is ignored: management is always on`) {
			t.Errorf("%q: %q", args, w)
		}
	}
	_, w := load(t, "mgmt-enable=no\n", nil)
	if len(w) != 1 || !strings.Contains(w[0], "qpidd.conf:1: option \"mgmt-enable\" is set to \"no\"") {
		t.Errorf("file mgmt-enable=no: %q", w)
	}
	// A value-taking obsolete option consumes its value on the command line.
	o, w := load(t, "", []string{"--load-module", "/usr/lib/qpid/daemon/acl.so", "--worker-threads", "4", "--no-module-dir", "-p", "1"})
	if len(w) != 3 || o.Port != 1 {
		t.Errorf("obsolete on the command line: %q %d", w, o.Port)
	}
}

func TestLogOptions(t *testing.T) {
	for _, c := range []struct {
		conf  string
		args  []string
		env   []string
		level string
		warns []string // substrings, one per warning
	}{
		{"log-level=debug\n", nil, nil, "debug", nil},
		{"log-level=WARNING\n", nil, nil, "warning", nil},
		{"log-enable=notice+\n", nil, nil, "notice", []string{`"notice+" mapped to log-level=notice`}},
		{"log-enable=debug+:ha\n", nil, nil, "debug", []string{`mapped to log-level=debug; categories ignored (ha)`}},
		{"log-enable=notice+\nlog-enable=debug+:ha\n", nil, nil, "notice",
			[]string{`"notice+", "debug+:ha" mapped to log-level=notice; categories ignored (ha)`}},
		{"log-enable=debug+\nlog-level=error\n", nil, nil, "error", []string{"not used, log-level is set at"}},
		{"log-enable=debug+\n", []string{"--log-level=error"}, nil, "error", []string{"mapped to log-level=debug"}},
		{"log-level=error\n", []string{"--log-enable", "trace+"}, nil, "trace", []string{`argument "--log-enable"`}},
		{"log-level=error\n", nil, []string{"QPID_LOG_ENABLE=info+"}, "info", []string{`QPID_LOG_ENABLE: option "log-enable"`}},
		// The original's log-level yes|no (show levels in log lines).
		{"log-level=yes\n", nil, nil, "info", []string{`option "log-level" with value "yes" is the original's switch`}},
		{"log-level=no\nlog-enable=warning+\n", nil, nil, "warning", []string{`value "no"`, "mapped to log-level=warning"}},
		// trace wins over the same or lower sources, not over higher ones.
		{"log-level=error\ntrace=yes\n", nil, nil, "trace", nil},
		{"log-level=error\n", []string{"-t"}, nil, "trace", nil},
		{"trace=yes\n", []string{"--log-level", "error"}, nil, "error", nil},
		{"trace=yes\n", []string{"--trace=no"}, nil, "info", nil},
		{"", []string{"--trace", "--log-level=debug"}, nil, "trace", nil},
	} {
		o, w := load(t, c.conf, c.args, c.env...)
		if o.LogLevel != c.level {
			t.Errorf("%q %q %q: log-level %q; want %q", c.conf, c.args, c.env, o.LogLevel, c.level)
		}
		if len(w) != len(c.warns) {
			t.Errorf("%q %q %q: warnings %q; want %q", c.conf, c.args, c.env, w, c.warns)
			continue
		}
		for i := range w {
			if !strings.Contains(w[i], c.warns[i]) {
				t.Errorf("%q %q %q: warning %q; want %q", c.conf, c.args, c.env, w[i], c.warns[i])
			}
		}
	}
}

func TestHelp(t *testing.T) {
	h := Help()
	for _, op := range options {
		if !strings.Contains(h, "--"+op.name+" ") && !strings.Contains(h, "--"+op.name+"\n") {
			t.Errorf("help lacks --%s", op.name)
		}
		if op.short != 0 && !strings.Contains(h, "-"+string(op.short)+" [ --"+op.name+" ]") {
			t.Errorf("help lacks -%c for --%s", op.short, op.name)
		}
	}
	for _, g := range []string{"General options:", "Daemon options:", "Logging options:", "Security options:", "HA options:", "Store options:", "Obsolete options"} {
		if !strings.Contains(h, g) {
			t.Errorf("help lacks group %q", g)
		}
	}
	for _, s := range []string{"Usage: qpidd [OPTIONS]", "--ha-backup-timeout SECONDS (10)", "-p [ --port ] PORT (5672)", "--ha-replicate LEVEL (none)"} {
		if !strings.Contains(h, s) {
			t.Errorf("help lacks %q", s)
		}
	}
	for i, line := range strings.Split(h, "\n") {
		if len(line) > helpWidth && !strings.Contains(line, "trace|debug") {
			t.Errorf("help line %d is %d long: %q", i+1, len(line), line)
		}
	}
}

func TestHelpRequested(t *testing.T) {
	for _, c := range []struct {
		args          []string
		help, version bool
	}{
		{nil, false, false},
		{[]string{"--help"}, true, false},
		{[]string{"--bogus", "-h"}, true, false},
		{[]string{"-v"}, false, true},
		{[]string{"--version", "--help"}, true, true},
		{[]string{"--", "--help"}, false, false},
		{[]string{"--port", "5672"}, false, false},
	} {
		h, v := HelpRequested(c.args)
		if h != c.help || v != c.version {
			t.Errorf("HelpRequested(%q) = %v, %v", c.args, h, v)
		}
	}
}

func TestReadFile(t *testing.T) {
	path := writeConf(t, "port=5673\nha-username=ha\nha-password=pw\nha-mechanism=SCRAM-SHA-256\nlink-heartbeat-interval=5\nload-module=ha.so\n")
	o, w, err := ReadFile(path, []string{"QPID_HA_PASSWORD=envpw", "QPID_CONFIG=/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Port != 5673 || o.HAUsername != "ha" || o.HAPassword != "envpw" || o.HAMechanism != "SCRAM-SHA-256" ||
		o.LinkHeartbeatInterval != 5*time.Second || o.Config != path {
		t.Errorf("ReadFile: %+v", o)
	}
	if len(w) != 1 || !strings.Contains(w[0], "load-module") {
		t.Errorf("warnings %q", w)
	}
	if o.Source("ha-password") != "QPID_HA_PASSWORD" || o.Source("port") != path+":1" {
		t.Errorf("sources %q %q", o.Source("ha-password"), o.Source("port"))
	}
	// With no path, QPID_CONFIG names the file, which must then exist.
	o, _, err = ReadFile("", []string{"QPID_CONFIG=" + path})
	if err != nil || o.Port != 5673 {
		t.Errorf("ReadFile via QPID_CONFIG: %v %+v", err, o)
	}
	if _, _, err := ReadFile("", []string{"QPID_CONFIG=/nonexistent/qpidd.conf"}); !errors.Is(err, ErrConfigFile) {
		t.Errorf("ReadFile with a missing QPID_CONFIG file: %v", err)
	}
	bad := writeConf(t, "port=5673\nha-usrname=x\n")
	var e *Error
	if _, _, err := ReadFile(bad, nil); !errors.As(err, &e) || e.Source != bad+":2" || e.Option != "ha-usrname" {
		t.Errorf("ReadFile of a bad file: %v", err)
	}
}

func TestDump(t *testing.T) {
	o, _ := load(t, "ha-password=topsecret\nha-brokers-url=amqp:u/pw2@n1\ninterface=eth0\n", []string{"-p", "6000"})
	d := o.Dump()
	for _, s := range []string{"port=6000  # argument \"-p\"", "ha-password=****  # ", "ha-brokers-url=amqp:u@tcp:n1:5672  # ",
		"interface=eth0  # ", "data-dir=/var/lib/qpidd  # default", "ha-backup-timeout=10s  # default"} {
		if !strings.Contains(d, s) {
			t.Errorf("dump lacks %q:\n%s", s, d)
		}
	}
	if strings.Contains(d, "topsecret") || strings.Contains(d, "pw2") {
		t.Errorf("dump shows a password:\n%s", d)
	}
}

func TestPaths(t *testing.T) {
	o := Defaults()
	if got := o.PidFilePath(5672); got != "/var/lib/qpidd/5672.pid" {
		t.Errorf("PidFilePath = %q", got)
	}
	o.PidDir = "/run/qpidd"
	if got := o.PidFilePath(5673); got != "/run/qpidd/5673.pid" {
		t.Errorf("PidFilePath = %q", got)
	}
	o.PidFile = "/var/run/qpidd.pid"
	if got := o.PidFilePath(5673); got != "/var/run/qpidd.pid" {
		t.Errorf("PidFilePath = %q", got)
	}
	if o.ACLFilePath() != "" {
		t.Errorf("ACLFilePath = %q", o.ACLFilePath())
	}
	o.ACLFile = "qpidd.acl"
	if got := o.ACLFilePath(); got != "/var/lib/qpidd/qpidd.acl" {
		t.Errorf("ACLFilePath = %q", got)
	}
	o.ACLFile = "/etc/qpid/qpidd.acl"
	if got := o.ACLFilePath(); got != "/etc/qpid/qpidd.acl" {
		t.Errorf("ACLFilePath = %q", got)
	}
	if got := o.StorePath(); got != "/var/lib/qpidd" {
		t.Errorf("StorePath = %q", got)
	}
	o.NoDataDir = true
	if got := o.StorePath(); got != "" {
		t.Errorf("StorePath = %q", got)
	}
	o.StoreDir = "/srv/store"
	if got := o.StorePath(); got != "/srv/store" {
		t.Errorf("StorePath = %q", got)
	}
}

// Every current option can be set from each source and is recorded there.
func TestEveryOptionEverySource(t *testing.T) {
	sample := map[kind]string{
		kindSwitch: "yes", kindBool: "yes", kindInt: "1", kindString: "s", kindList: "l",
		kindSeconds: "1.5", kindMillis: "15", kindURL: "node1", kindLogLevel: "debug",
	}
	for _, op := range options {
		if op.obsolete != "" || op.name == "config" {
			continue
		}
		v := sample[op.kind]
		if (op.kind == kindBool || op.kind == kindSwitch) && op.format(Defaults()) == "yes" {
			v = "no"
		}
		if op.kind == kindEnum {
			v = op.enum[len(op.enum)-1]
		}
		path := writeConf(t, op.name+"="+v+"\n")
		for _, c := range []struct {
			args []string
			env  []string
			src  string
		}{
			{[]string{"--config", path}, nil, path + ":1"},
			{[]string{"--config="}, []string{EnvName(op.name) + "=" + v}, EnvName(op.name)},
			{[]string{"--config=", "--" + op.name + "=" + v}, nil, `argument "--` + op.name + `"`},
		} {
			o, w, err := Load(c.args, c.env)
			if err != nil || len(w) != 0 {
				t.Errorf("%s from %s: %v %q", op.name, c.src, err, w)
				continue
			}
			if got := o.Source(op.name); got != c.src {
				t.Errorf("Source(%s) = %q; want %q", op.name, got, c.src)
			}
			if got := op.format(o); got == op.format(Defaults()) {
				t.Errorf("%s=%s from %s left the default %q", op.name, v, c.src, got)
			}
		}
	}
}

func FuzzConfigText(f *testing.F) {
	f.Add(originalConf)
	f.Add("port = 5673 # c\n\tha-cluster=\n[x]\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parseConfigText("f", text)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(e.Source, "f:") {
				t.Fatalf("error %v without a line", err)
			}
			return
		}
		o, _, err := apply([][]setting{s})
		if err == nil && o == nil {
			t.Fatal("no options and no error")
		}
	})
}
