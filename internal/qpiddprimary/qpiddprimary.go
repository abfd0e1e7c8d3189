// Package qpiddprimary is qpidd-primary, the HA primary service: the command
// cluster managers run to make the local broker the primary, and the
// rgmanager "qpidd-primary" script itself (cluster.conf's
// <script file="/etc/init.d/qpidd-primary"/> can name this program). It is
// an LSB init script in Go:
//
//   - start: ensure the local broker runs (start it as the qpidd init
//     script does), wait until it answers, run the pre-promote hooks
//     (QPID_PRIMARY_HOOKS, the manual's "Add your commands here"), then
//     promote it;
//   - stop: stop the broker only if it is the primary (a backup belongs to
//     the qpidd service: QPID-5942);
//   - status: 0 only when the broker is primary and answers.
//
// Every action holds the lock the qpidd init script takes (flock on
// QPID_LOCK), so the two never act at once. The settings are the init
// script's: the sysconfig file (packaging/sysconfig/qpidd).
package qpiddprimary

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/qpidha/qpidha/internal/daemon"
)

const prog = "qpidd-primary"

// LSB exit codes of init script actions (LSB 4.1, 20.2).
const (
	ExitOK            = 0
	ExitFailure       = 1 // generic or unspecified error
	ExitUsage         = 2 // invalid or excess arguments
	ExitUnimplemented = 3 // unimplemented feature (reload)
	ExitPrivilege     = 4 // user had insufficient privilege
	ExitNotInstalled  = 5 // program is not installed
	ExitNotConfigured = 6 // program is not configured
)

// LSB exit codes of the status action.
const (
	StatusPrimary    = 0 // the broker answers as primary (active or recovering)
	StatusNotPrimary = 1 // it answers as a backup (or standalone), or died leaving its pid file
	StatusNotRunning = 3 // no broker runs
	StatusUnknown    = 4 // it runs but does not answer (hung), or no answer could be had
)

const actionsDescription = "start|stop|status|restart|condrestart|try-restart|reload|force-reload"

func usageLine() string {
	return "Usage: " + prog + " [--config FILE] [--timeout SECONDS] [-b BROKER] [--ssl-ca-file FILE] [--ssl-certificate FILE [--ssl-key FILE]] {" + actionsDescription + "}"
}

const helpText = `
The HA primary service of qpidd: makes the local broker the cluster's primary.
rgmanager's qpidd-primary script (an LSB init script), and the promote command
of cluster managers.

Actions:
  start     ensure the local broker runs (start it as /etc/init.d/qpidd does),
            wait until it answers, run the hooks of QPID_PRIMARY_HOOKS in
            lexical order (BEFORE the promotion: re-create outgoing links and
            replica queues there), then promote it. 0 when it is primary
            (active or recovering), also when it already was.
  stop      stop the local broker if it is the primary; a backup is left to
            the qpidd service, and 0 is returned; 0 when none runs.
  status    0 "qpidd is primary" when the broker answers as primary
            (active or recovering); 1 when it is not primary (a backup) or a
            pid file is left by a dead broker; 3 when none runs; 4 when it
            runs but does not answer within the timeout (hung).
  restart   stop, then start.
  condrestart, try-restart, force-reload
            restart if the broker is primary; else nothing (0).
  reload    not implemented (3).

Options:
  --config FILE      the settings (sysconfig) file; default $QPID_SYSCONFIG,
                     else /etc/sysconfig/qpidd, else /etc/default/qpidd
  --timeout SECONDS  how long to wait for the broker's answers (QPID_TIMEOUT)
  -b, --broker ADDR  the local broker: [user/password@]host[:port] (QPID_BROKER;
                     default localhost and the broker's port; ssl:host:port
                     for TLS, where the port defaults to the broker's ssl-port)
  --ssl-ca-file FILE PEM certificates of the CAs that sign the broker's
                     certificate (default: the broker's ssl-ca-file, else
                     the system's)
  --ssl-certificate FILE, --ssl-key FILE
                     a PEM client certificate and its key (default: the
                     broker's ssl-cert-file and ssl-key-file), for a broker
                     that requires one
  -h, --help         this help

Hooks get in their environment QPID_BROKER (host:port), QPID_HA_STATUS (the
broker's HA status before the promotion), QPID_CONFIG, QPID_SYSCONFIG,
QPID_HA_BIN and QPID_TIMEOUT. A failing hook (non-zero exit) fails start (1)
and the broker is not promoted. Hooks run with the lock held: they must not
call qpidd-primary or the qpidd init script.

Exit codes (LSB): 0 success; 1 failure (a refused promotion: the broker's
reason on standard error); 2 usage; 3 status: not running, reload: not
implemented; 4 insufficient privilege (status: unknown); 5 qpidd not
installed; 6 not configured.
`

// invocation is a parsed command line.
type invocation struct {
	action  string
	config  string // --config
	timeout string // --timeout, "" if not given
	broker  string // -b
	tls     tlsFiles
	help    bool
}

type usageError string

func (e usageError) Error() string { return string(e) }

func parseArgs(args []string) (*invocation, error) {
	inv := &invocation{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, value, hasValue = a, "", false
		}
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", usageError("option " + name + " needs a value")
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "-h", "--help":
			inv.help = true
		case "--config":
			inv.config, err = takeValue()
			if err == nil && inv.config == "" {
				err = usageError("option --config needs a file name")
			}
		case "--timeout":
			inv.timeout, err = takeValue()
		case "-b", "--broker":
			inv.broker, err = takeValue()
		case "--ssl-ca-file":
			inv.tls.ca, err = takeValue()
		case "--ssl-certificate":
			inv.tls.cert, err = takeValue()
		case "--ssl-key":
			inv.tls.key, err = takeValue()
		default:
			switch {
			case strings.HasPrefix(a, "-"):
				err = usageError("unknown option " + a)
			case inv.action != "":
				err = usageError("unexpected argument " + a)
			default:
				inv.action = a
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// Main runs qpidd-primary with its arguments (without the program name)
// and environment, and returns the LSB exit code.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	inv, err := parseArgs(args)
	if err == nil && !inv.help {
		switch inv.action {
		case "start", "stop", "status", "restart", "condrestart", "try-restart", "reload", "force-reload":
		case "":
			err = usageError("no action given")
		default:
			err = usageError("unknown action " + inv.action)
		}
		if _, terr := parseSeconds(inv.timeout, false); err == nil && inv.timeout != "" && terr != nil {
			err = usageError("option --timeout: " + terr.Error())
		}
		if err == nil && inv.tls.key != "" && inv.tls.cert == "" {
			err = usageError("option --ssl-key needs --ssl-certificate")
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n%s\n", prog, err, usageLine())
		return ExitUsage
	}
	if inv.help {
		fmt.Fprint(stdout, usageLine()+"\n"+helpText)
		return ExitOK
	}
	r := &runner{inv: inv, environ: environ, stdout: stdout, stderr: stderr}
	return r.run()
}

// runner carries out one action.
type runner struct {
	inv            *invocation
	environ        []string
	stdout, stderr io.Writer
	s              *Settings
}

// say prints a one-line result on standard output.
func (r *runner) say(format string, a ...any) {
	fmt.Fprintf(r.stdout, prog+": "+format+"\n", a...)
}

// complain prints a one-line error on standard error.
func (r *runner) complain(format string, a ...any) {
	fmt.Fprintf(r.stderr, prog+": "+format+"\n", a...)
}

// failed reports an error and returns its exit code; status answers 4
// (unknown) for whatever stopped it from finding the answer.
func (r *runner) failed(err error) int {
	r.complain("%v", err)
	if r.inv.action == "status" {
		return StatusUnknown
	}
	return exitCode(err)
}

func (r *runner) run() int {
	if r.inv.action == "reload" {
		r.complain("reload is not implemented (use restart)")
		return ExitUnimplemented
	}
	path, explicit := SysconfigPath(r.inv.config, r.environ)
	if explicit {
		if f, err := os.Open(path); err != nil {
			return r.failed(fail(ExitNotConfigured, "cannot read the settings %s: %v", path, daemon.Reason(err)))
		} else {
			f.Close()
		}
	}
	s, err := ReadSettings(path, r.environ)
	if err != nil {
		return r.failed(fail(ExitNotConfigured, "%v", err))
	}
	if r.inv.timeout != "" {
		s.Timeout, _ = parseSeconds(r.inv.timeout, false) // checked by Main
	}
	r.s = s
	lock, err := TakeLock(s.Lock, s.LockWait, prog+" "+r.inv.action)
	if err != nil {
		if _, ok := err.(*LockOpenError); ok {
			return r.failed(fail(ExitPrivilege, "%v", err))
		}
		return r.failed(err)
	}
	defer lock.Release()
	switch r.inv.action {
	case "start":
		return r.start()
	case "stop":
		return r.stop()
	case "status":
		return r.status()
	case "restart":
		return r.restart()
	default: // condrestart, try-restart, force-reload
		pid, _ := s.Running()
		if pid == 0 {
			r.say("qpidd is not running: nothing to restart")
			return ExitOK
		}
		st, err := r.haStatus()
		if err != nil || !isPrimary(st) {
			r.say("qpidd (pid %d) is not primary: nothing to restart", pid)
			return ExitOK
		}
		return r.restart()
	}
}

// haStatus asks the local broker its HA status within the timeout.
func (r *runner) haStatus() (string, error) {
	t, err := r.s.Target(r.inv.broker, r.inv.tls, r.environ)
	if err != nil {
		return "", fail(ExitNotConfigured, "%v", err)
	}
	return t.Status()
}

func (r *runner) restart() int {
	if code := r.stop(); code != ExitOK {
		return code
	}
	return r.start()
}

// start: ensure the broker runs, wait for its answer, run the hooks, and
// promote it.
func (r *runner) start() int {
	s := r.s
	pid, _ := s.Running()
	if pid == 0 {
		var err error
		if pid, err = s.StartBroker(r.environ, r.stdout, r.stderr); err != nil {
			return r.failed(err)
		}
		r.say("qpidd (pid %d) started", pid)
	}
	t, err := s.Target(r.inv.broker, r.inv.tls, r.environ)
	if err != nil {
		return r.failed(fail(ExitNotConfigured, "%v", err))
	}
	st, err := t.Status()
	if err != nil {
		return r.failed(fmt.Errorf("qpidd (pid %d) does not answer at %s: %v", pid, t.addr, err))
	}
	switch {
	case isPrimary(st):
		r.say("qpidd (pid %d) is primary (%s) already", pid, st)
		return ExitOK
	case st == statusStandalone:
		return r.failed(fail(ExitNotConfigured, "qpidd (pid %d) is not in a cluster (ha-cluster=no): it cannot be promoted", pid))
	}
	hooks, err := Hooks(s.Hooks)
	if err != nil {
		return r.failed(fmt.Errorf("%v: not promoted", err))
	}
	env := withEnv(r.environ,
		"QPID_BROKER="+t.addr,
		"QPID_HA_STATUS="+st,
		"QPID_CONFIG="+s.Config,
		"QPID_SYSCONFIG="+s.File,
		"QPID_HA_BIN="+s.HABin,
		"QPID_TIMEOUT="+formatSeconds(s.Timeout),
	)
	if err := RunHooks(hooks, env, s.HookTimeout, r.stdout, r.stderr); err != nil {
		return r.failed(fmt.Errorf("%v: not promoted", err))
	}
	st, err = t.Promote()
	if err != nil {
		return r.failed(err)
	}
	if !isPrimary(st) {
		return r.failed(fmt.Errorf("qpidd (pid %d) accepted the promotion but reports %q", pid, st))
	}
	r.say("qpidd (pid %d) is primary (%s)", pid, st)
	return ExitOK
}

// stop: stop the broker if it is the primary, or does not answer (it
// serves as neither role, and a hung primary left running could come back
// next to the new one); leave a backup to the qpidd service.
func (r *runner) stop() int {
	s := r.s
	pid, stale := s.Running()
	if pid == 0 {
		if stale {
			_ = os.Remove(s.PidFile)
		}
		r.say("qpidd is not running")
		return ExitOK
	}
	st, err := r.haStatus()
	answered := err == nil
	switch {
	case exitCode(err) == ExitNotConfigured:
		return r.failed(err)
	case err != nil:
		r.complain("qpidd (pid %d) does not answer (%v): stopping it anyway", pid, err)
	case st == statusStandalone:
		r.say("qpidd (pid %d) is not in a cluster (standalone), not stopped: stop it with the qpidd service", pid)
		return ExitOK
	case !isPrimary(st):
		r.say("qpidd (pid %d) is a backup (%s), not stopped: stop it with the qpidd service", pid, st)
		return ExitOK
	}
	if err := s.StopBroker(pid, r.stderr); err != nil {
		return r.failed(err)
	}
	if answered {
		r.say("qpidd (pid %d), the primary (%s), stopped", pid, st)
	} else {
		r.say("qpidd (pid %d) stopped", pid)
	}
	return ExitOK
}

// status: 0 only when the broker answers as primary.
func (r *runner) status() int {
	s := r.s
	pid, stale := s.Running()
	if pid == 0 {
		if stale {
			r.say("qpidd is dead but the pid file %s exists", s.PidFile)
			return StatusNotPrimary
		}
		r.say("qpidd is not running")
		return StatusNotRunning
	}
	st, err := r.haStatus()
	switch {
	case exitCode(err) == ExitNotConfigured:
		return r.failed(err)
	case err != nil:
		r.say("qpidd (pid %d) is running but does not answer: %v", pid, err)
		return StatusUnknown
	case isPrimary(st):
		r.say("qpidd is primary (%s)", st)
		return StatusPrimary
	case st == statusStandalone:
		r.say("qpidd (pid %d) is not primary: it is not in a cluster (standalone)", pid)
	default:
		r.say("qpidd (pid %d) is not primary: it is a backup (%s)", pid, st)
	}
	return StatusNotPrimary
}

func formatSeconds(d time.Duration) string {
	return strings.TrimSuffix(fmt.Sprintf("%g", d.Seconds()), ".0")
}
