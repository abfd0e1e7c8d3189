package qpidd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/daemon"
	"github.com/qpidha/qpidha/internal/store"
)

// Version is set at build time.
var Version = "dev"

// Main runs qpidd with command-line arguments and environment and returns
// the process exit code. Besides serving in the foreground it does what the
// original's init scripts use: --check, --quit and --kill act on the broker
// whose pid file is <pid-dir>/<port>.pid (or --pidfile), and --daemon starts
// the broker in the background and returns once it serves.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	if help, version := config.HelpRequested(args); help || version {
		if version {
			fmt.Fprintf(stdout, "qpidd (qpidha) %s\n", Version)
		} else {
			fmt.Fprint(stdout, config.Help())
		}
		return 0
	}
	child, childErr := daemon.ChildFromEnv(environ)
	opts, warnings, err := config.Load(args, environ)
	if err == nil {
		err = childErr
	}
	if err != nil {
		if child != nil {
			_ = child.Fail(err.Error())
		} else {
			fmt.Fprintf(stderr, "qpidd: %v\n", err)
		}
		return 1
	}
	switch {
	case opts.CheckStore:
		return checkStore(opts, stdout, stderr)
	case opts.Check || opts.Quit || opts.Kill:
		return control(opts, stdout, stderr)
	case opts.Daemon && child == nil:
		for _, w := range warnings { // the daemon logs them too
			fmt.Fprintf(stderr, "qpidd: warning: %s\n", w)
		}
		return background(args, environ, opts, stdout, stderr)
	}
	return serve(opts, warnings, environ, child, stdout, stderr)
}

// control is --check, --quit and --kill: the original's exit codes (0, or 1
// when no broker runs or it did not stop) and output (--check prints the
// pid).
func control(opts *config.Options, stdout, stderr io.Writer) int {
	path := opts.PidFilePath(opts.Port)
	pid, err := daemon.Running(path)
	if err != nil {
		hint := ""
		if opts.PidFile == "" && opts.Port == 0 {
			hint = " (give the broker's --port, or its --pidfile)"
		}
		fmt.Fprintf(stderr, "qpidd: %v%s\n", err, hint)
		return 1
	}
	if opts.Check {
		fmt.Fprintln(stdout, pid)
	}
	if opts.Quit || opts.Kill {
		// --quit is the original's SIGINT: the broker closes every connection
		// with amqp:connection:forced, removes its pid file and exits 0.
		sig := syscall.SIGINT
		if opts.Kill {
			sig = syscall.SIGKILL
		}
		if err := daemon.Terminate(pid, sig, opts.Wait); err != nil {
			fmt.Fprintf(stderr, "qpidd: %v\n", err)
			return 1
		}
		if opts.Kill {
			_ = daemon.RemovePidFile(path, pid) // it could not
		}
	}
	return 0
}

// background is the parent of --daemon: it runs this program again as the
// daemon and waits (up to --wait) until it serves. Like the original it
// prints the port when --port is 0.
func background(args, environ []string, opts *config.Options, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: %v\n", &daemon.StartError{Reason: "cannot find the qpidd program: " + err.Error()})
		return 1
	}
	port, _, err := daemon.Spawn(daemon.SpawnConfig{
		Path: exe, Args: args, Env: environ, Wait: opts.Wait, Stderr: stderr,
	})
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: %v\n", err)
		return 1
	}
	if opts.Port == 0 {
		fmt.Fprintln(stdout, port)
	}
	return 0
}

// serve runs the broker until SIGTERM or SIGINT, in the foreground or as
// the daemon child. Every start-up failure happens before the broker is
// ready: it is logged, reported to the daemon parent and to systemd, and
// makes the exit code 1.
func serve(opts *config.Options, warnings, environ []string, child *daemon.Child, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	lg, err := newLogging(opts, stderr, child != nil)
	if err != nil {
		if child != nil {
			_ = child.Fail(err.Error())
		} else {
			fmt.Fprintf(stderr, "qpidd: %v\n", err)
		}
		_ = daemon.Status("failed to start: " + err.Error())
		return 1
	}
	defer lg.close()
	log := lg.log
	if limit := tuneGC(environ); limit > 0 {
		log.WithFields(logrus.Fields{"GOGC": gcPercent, "soft-limit-MiB": limit >> 20}).
			Debug("garbage collector paced for throughput below half the memory available (set GOGC or GOMEMLIMIT to choose)")
	}
	fail := func(err error) int {
		log.Error(err)
		if child != nil {
			_ = child.Fail(err.Error())
		} else if !lg.toStderr {
			fmt.Fprintf(stderr, "qpidd: %v\n", err)
		}
		_ = daemon.Status("failed to start: " + err.Error())
		return 1
	}
	for _, w := range append(warnings, lg.warnings...) {
		log.Warn(w)
	}

	hasDataDir := !opts.NoDataDir && opts.DataDir != "" // the original: empty means none
	if hasDataDir {
		lock, err := daemon.LockDataDir(opts.DataDir)
		if err != nil {
			return fail(err)
		}
		defer lock.Release()
	}
	// A store directory outside the data directory is locked like it.
	if dir := opts.StorePath(); dir != "" && !opts.HACluster && !(hasDataDir && within(dir, opts.DataDir)) {
		lock, err := daemon.LockDataDir(dir)
		if err != nil {
			return fail(fmt.Errorf("store-dir: %w", err))
		}
		defer lock.Release()
	}
	b, err := New(opts, log)
	if err != nil {
		return fail(err)
	}
	if err := b.Start(); err != nil {
		return fail(err)
	}
	port := opts.Port
	if addrs := b.Addrs(); len(addrs) > 0 {
		if a, ok := addrs[0].(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	// The pid file is written once the broker listens (it names the real
	// port), so that --check and --quit find daemons and foreground brokers
	// alike; a broker without a data directory writes one only if asked.
	if child != nil || opts.PidFile != "" || opts.PidDir != "" || hasDataDir {
		path, pid := opts.PidFilePath(port), os.Getpid()
		if err := daemon.WritePidFile(path, pid); err != nil {
			b.Stop()
			return fail(err)
		}
		defer daemon.RemovePidFile(path, pid)
	}
	if child != nil {
		if err := child.Ready(port); err != nil {
			log.WithError(err).Warn("cannot tell the starting process that the daemon is ready")
		}
	} else if opts.Port == 0 {
		fmt.Fprintln(stdout, port) // as the original did
	}
	status := "serving on port " + strconv.Itoa(port)
	if err := daemon.Ready(status, child != nil); err != nil {
		log.WithError(err).Warn("sd_notify failed")
	}
	log.WithField("pid", os.Getpid()).Infof("qpidd (qpidha) %s %s", Version, status)
	if interval, stop := daemon.Watchdog(b.Alive); interval > 0 {
		log.WithField("interval", interval.String()).Info("feeding the systemd watchdog")
		defer stop()
	}

	for {
		sig := <-sigs
		if sig == syscall.SIGHUP {
			lg.reopen()
			b.Reload()
			continue
		}
		log.WithField("signal", sig.String()).Info("shutting down")
		_ = daemon.Stopping("shutting down on " + sig.String())
		break
	}
	b.Stop()
	if reason := b.Fatal(); reason != "" {
		return 1 // it stopped itself: a failure, for systemd and the init scripts
	}
	return 0
}

// within reports whether dir is root or below it.
func within(dir, root string) bool {
	a, err1 := filepath.Abs(dir)
	r, err2 := filepath.Abs(root)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(r, a)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// checkStore is --check-store: the store of a stopped broker, checked
// without changing it.
func checkStore(opts *config.Options, stdout, stderr io.Writer) int {
	dir := opts.StorePath()
	if dir == "" {
		fmt.Fprintln(stderr, "qpidd: --check-store: no store directory (no-data-dir and no store-dir): give --store-dir or --data-dir")
		return 1
	}
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(stderr, "qpidd: --check-store: no store at %s: %s\n", dir, daemon.Reason(err))
		return 1
	}
	lock, err := daemon.LockDataDir(dir)
	if err != nil {
		var le *daemon.LockError
		if errors.As(err, &le) && errors.Is(le.Err, syscall.EWOULDBLOCK) {
			who := "a broker"
			if le.Holder > 0 {
				who = fmt.Sprintf("a broker (pid %d)", le.Holder)
			}
			fmt.Fprintf(stderr, "qpidd: --check-store: %s is using the store in %s: stop it first (its journal is being written)\n", who, dir)
			return 1
		}
		fmt.Fprintf(stderr, "qpidd: --check-store: %v\n", err)
		return 1
	}
	defer lock.Release()
	rep, err := store.Check(dir, nil)
	if err != nil {
		fmt.Fprintf(stderr, "qpidd: --check-store: %v\n", err)
		return 1
	}
	rep.Write(stdout)
	if !rep.Healthy() {
		return 1
	}
	return 0
}

// logging is the broker's logger and where it writes.
type logging struct {
	log      *logrus.Logger
	file     *daemon.LogFile // nil if none
	toStderr bool
	warnings []string // to log once the logger is there
}

// newLogging sets up the log outputs:
//   - in the foreground: standard error (log-to-stderr, on by default), the
//     log-to-file file, the journal (log-to-journal), each as set;
//   - as a daemon (detached), which has no standard error: the log-to-file
//     file and the journal as set, and when neither is set, the journal if
//     journald runs (the original logged to syslog in daemon mode), else
//     <data-dir>/qpidd.log.
//
// If log-to-journal is set but journald does not run, the logs go to
// standard error instead (a daemon: the log file, by default
// <data-dir>/qpidd.log), with a warning.
func newLogging(opts *config.Options, stderr io.Writer, detached bool) (*logging, error) {
	log := logrus.New()
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02 15:04:05.000000"})
	level, err := logLevel(opts.LogLevel)
	if err != nil {
		return nil, err
	}
	log.SetLevel(level)

	lg := &logging{log: log}
	toStderr := opts.LogToStderr && !detached
	file := opts.LogToFile
	toJournal := opts.LogToJournal
	warn := func(format string, a ...any) { lg.warnings = append(lg.warnings, fmt.Sprintf(format, a...)) }
	if toJournal && !daemon.JournalAvailable() {
		toJournal = false
		switch {
		case !detached:
			toStderr = true
			warn("log-to-journal: the systemd journal is not available (journald is not running); logging to standard error instead")
		case file == "":
			file = daemonLogFile(opts)
			warn("log-to-journal: the systemd journal is not available (journald is not running); logging to %s instead", file)
		default:
			warn("log-to-journal: the systemd journal is not available (journald is not running); logging to %s only", file)
		}
	}
	if detached && file == "" && !opts.LogToJournal {
		if daemon.JournalAvailable() {
			toJournal = true
		} else {
			file = daemonLogFile(opts)
		}
	}
	if detached && opts.LogToStderr && opts.Source("log-to-stderr") != "default" {
		warn("log-to-stderr: ignored with --daemon, which has no standard error (use log-to-file or log-to-journal)")
	}

	var outs []io.Writer
	if toStderr {
		outs = append(outs, stderr)
		lg.toStderr = true
	}
	if file != "" {
		if file == daemonLogFile(opts) {
			// Created with the data directory it is in, if need be.
			_ = os.MkdirAll(filepath.Dir(file), 0o755)
		}
		f, err := daemon.OpenLogFile(file)
		if err != nil {
			return nil, fmt.Errorf("log-to-file: %w", err)
		}
		lg.file = f
		outs = append(outs, f)
	}
	switch len(outs) {
	case 0:
		log.SetOutput(io.Discard)
	case 1:
		log.SetOutput(outs[0])
	default:
		log.SetOutput(io.MultiWriter(outs...))
	}
	if toJournal {
		log.AddHook(daemon.NewJournalHook("qpidd"))
	}
	return lg, nil
}

// daemonLogFile is where a daemon logs when told nothing else.
func daemonLogFile(opts *config.Options) string {
	return filepath.Join(opts.DataDir, "qpidd.log")
}

// reopen reopens the log file (SIGHUP, after logrotate moved it).
func (lg *logging) reopen() {
	if lg.file == nil {
		lg.log.Info("SIGHUP: no log file to reopen")
		return
	}
	if err := lg.file.Reopen(); err != nil {
		lg.log.WithError(err).Error("SIGHUP: cannot reopen the log file; still logging to the old one")
		return
	}
	lg.log.WithField("file", lg.file.Path()).Info("SIGHUP: reopened the log file")
}

func (lg *logging) close() {
	if lg.file != nil {
		_ = lg.file.Close()
	}
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
