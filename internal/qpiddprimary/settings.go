package qpiddprimary

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/qpidha/qpidha/internal/daemon"
)

// Default locations of the sysconfig file, tried in turn when neither
// --config nor QPID_SYSCONFIG names one.
var DefaultSysconfigs = []string{"/etc/sysconfig/qpidd", "/etc/default/qpidd"}

// Settings are what the sysconfig file (packaging/sysconfig/qpidd) sets,
// with the defaults the init script applies for what it leaves out.
type Settings struct {
	File        string        // the file read; "" if none (defaults only)
	Bin         string        // QPID_BIN: the broker program
	HABin       string        // QPID_HA_BIN: qpid-ha (passed on to hooks)
	Config      string        // QPID_CONFIG: the broker's qpidd.conf; "" = none
	DataDir     string        // QPID_DATA_DIR
	PidFile     string        // QPID_PIDFILE
	User        string        // QPID_USER; "" = the user running us
	Options     []string      // QPIDD_OPTIONS, split on blanks
	Broker      string        // QPID_BROKER; "" = localhost and the broker's port
	Timeout     time.Duration // QPID_TIMEOUT: the broker's answers
	StopTimeout time.Duration // QPID_STOP_TIMEOUT: SIGINT to SIGKILL
	Lock        string        // QPID_LOCK
	LockWait    time.Duration // QPID_LOCK_WAIT
	Hooks       string        // QPID_PRIMARY_HOOKS; "" = none
	HookTimeout time.Duration // QPID_HOOK_TIMEOUT; 0 = no limit
}

// variable is one setting of the file: its default, whether an empty
// value stands (else it means the default), and where it goes.
type variable struct {
	name    string
	def     string
	emptyOK bool
	set     func(s *Settings, v string) error
}

func str(p func(*Settings) *string) func(*Settings, string) error {
	return func(s *Settings, v string) error { *p(s) = v; return nil }
}

var variables = []variable{
	{name: "QPID_BIN", def: "/usr/sbin/qpidd", set: str(func(s *Settings) *string { return &s.Bin })},
	{name: "QPID_HA_BIN", def: "/usr/bin/qpid-ha", set: str(func(s *Settings) *string { return &s.HABin })},
	{name: "QPID_CONFIG", def: "/etc/qpid/qpidd.conf", emptyOK: true, set: str(func(s *Settings) *string { return &s.Config })},
	{name: "QPID_DATA_DIR", def: "/var/lib/qpidd", set: str(func(s *Settings) *string { return &s.DataDir })},
	{name: "QPID_PIDFILE", def: "/var/run/qpidd/qpidd.pid", set: str(func(s *Settings) *string { return &s.PidFile })},
	{name: "QPID_USER", def: "qpidd", emptyOK: true, set: str(func(s *Settings) *string { return &s.User })},
	{name: "QPID_BROKER", def: "", emptyOK: true, set: str(func(s *Settings) *string { return &s.Broker })},
	{name: "QPID_LOCK", def: "/var/lock/qpidd.lock", set: str(func(s *Settings) *string { return &s.Lock })},
	{name: "QPID_PRIMARY_HOOKS", def: "/etc/qpid/primary.d", emptyOK: true, set: str(func(s *Settings) *string { return &s.Hooks })},
	{name: "QPID_TIMEOUT", def: "10", set: seconds(func(s *Settings) *time.Duration { return &s.Timeout }, false)},
	{name: "QPID_STOP_TIMEOUT", def: "30", set: seconds(func(s *Settings) *time.Duration { return &s.StopTimeout }, true)},
	{name: "QPID_LOCK_WAIT", def: "300", set: seconds(func(s *Settings) *time.Duration { return &s.LockWait }, false)},
	{name: "QPID_HOOK_TIMEOUT", def: "120", set: seconds(func(s *Settings) *time.Duration { return &s.HookTimeout }, false)},
}

// seconds sets a duration from a number of seconds as the init script
// accepts it: digits with at most one dot (whole: digits only).
func seconds(p func(*Settings) *time.Duration, whole bool) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		d, err := parseSeconds(v, whole)
		if err != nil {
			return err
		}
		*p(s) = d
		return nil
	}
}

func parseSeconds(v string, whole bool) (time.Duration, error) {
	ok := v != "" && v != "." && strings.Count(v, ".") <= 1 && strings.Trim(v, "0123456789.") == ""
	if whole && strings.Contains(v, ".") {
		ok = false
	}
	if !ok {
		if whole {
			return 0, errors.New("expected a whole number of seconds")
		}
		return 0, errors.New("expected a number of seconds")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f > 1e9 {
		return 0, errors.New("expected a number of seconds")
	}
	return time.Duration(f * float64(time.Second)), nil
}

// SysconfigPath is the sysconfig file to read: the --config option if
// given (explicit), else $QPID_SYSCONFIG (explicit), else the first of
// DefaultSysconfigs that exists, else "" (defaults only).
func SysconfigPath(option string, environ []string) (path string, explicit bool) {
	if option != "" {
		return option, true
	}
	if v := getenv(environ, "QPID_SYSCONFIG"); v != "" {
		return v, true
	}
	for _, p := range DefaultSysconfigs {
		if _, err := os.Stat(p); err == nil {
			return p, false
		}
	}
	return "", false
}

func getenv(environ []string, name string) string {
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// optionsMark separates the variables from the words of QPIDD_OPTIONS in
// the output of the reading shell.
const optionsMark = "--QPIDD_OPTIONS--"

// readScript sources the file ($1, if any) with /bin/sh, as the init
// script does, and prints every variable it knows that is set, then the
// words of QPIDD_OPTIONS split as the init script splits them (on blanks,
// without globbing); every item ends with a NUL.
func readScript() string {
	var b strings.Builder
	b.WriteString("if [ -n \"$1\" ]; then . \"$1\" >&2 || exit 1; fi\n")
	b.WriteString("IFS=' \t\n'\n")
	for _, v := range append(variables, variable{name: "QPIDD_OPTIONS"}) {
		fmt.Fprintf(&b, "if [ -n \"${%[1]s+x}\" ]; then printf '%%s=%%s\\0' %[1]s \"$%[1]s\"; fi\n", v.name)
	}
	b.WriteString("set -f\n")
	fmt.Fprintf(&b, "printf '%%s\\0' %s\n", optionsMark)
	b.WriteString("for w in ${QPIDD_OPTIONS-}; do printf '%s\\0' \"$w\"; done\n")
	return b.String()
}

// ReadSettings reads a sysconfig file ("" reads none) with /bin/sh, which
// starts from environ as the init script does (a variable of the
// environment is a default the file may override), and applies the
// defaults.
func ReadSettings(path string, environ []string) (*Settings, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("cannot read the settings %s: %v", path, daemon.Reason(err))
		}
	}
	cmd := exec.Command("/bin/sh", "-c", readScript(), "qpidd-settings", path)
	cmd.Env = environ
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("cannot read the settings %s: %s", path, oneLine(msg))
	}
	values := map[string]string{}
	s := &Settings{File: path}
	items := strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00")
	words := false
	for _, item := range items {
		if words {
			s.Options = append(s.Options, item)
			continue
		}
		if item == optionsMark {
			words = true
			continue
		}
		if k, v, ok := strings.Cut(item, "="); ok {
			values[k] = v
		}
	}
	for _, v := range variables {
		val, ok := values[v.name]
		if !ok || (val == "" && !v.emptyOK) {
			val = v.def
		}
		if err := v.set(s, val); err != nil {
			return nil, fmt.Errorf("%s=%s: %v (%s)", v.name, val, err, where(path))
		}
	}
	return s, nil
}

func where(path string) string {
	if path == "" {
		return "from the environment"
	}
	return "in " + path
}

// oneLine joins the lines of a message.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
