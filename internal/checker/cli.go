package checker

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

const usage = `usage:
  checker run --urls HOST:PORT[,HOST:PORT...] [options]
      numbered at-least-once senders and receivers that fail over between
      the brokers; prints a summary line, and exits 0 when no confirmed
      message was lost (and the role logs, if given, show no two primaries
      at once), 1 otherwise. Without --messages or --duration it runs until
      SIGINT or SIGTERM (a second one aborts).
  checker overlap [--json] LOGFILE...
      checks the brokers' HA role-change logs: no two brokers primary at the
      same time. Marker lines "KILLED broker=NAME mono=NS" (or STOPPED) in any
      file end a killed broker's time as primary; NAME is a log file's path
      or base name. Exits 0 if OK, 1 if not.
  checker mono
      prints CLOCK_MONOTONIC in nanoseconds, the clock of the brokers'
      role-change lines, for a harness's KILLED lines.
Run "checker run --help" for the options.
`

// Main is the checker command: args without the program name; clients
// holds sender.py, receiver.py and failover.py (used when --clients is not
// given). It returns the exit code: 0 OK, 1 failed, 2 usage.
func Main(args []string, stdout, stderr io.Writer, clients fs.FS) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return mainRun(args[1:], stdout, stderr, clients)
	case "overlap":
		return mainOverlap(args[1:], stdout, stderr)
	case "mono":
		fmt.Fprintln(stdout, Monotonic())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "checker: unknown command %q\n%s", args[0], usage)
	return 2
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func mainRun(args []string, stdout, stderr io.Writer, clients fs.FS) int {
	var cfg Config
	var urls, roleLogs listFlag
	var report string
	var verbose bool
	fl := flag.NewFlagSet("checker run", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Var(&urls, "urls", "brokers HOST:PORT, comma-separated or repeated (one address: a VIP)")
	fl.StringVar(&cfg.Queue, "queue", "checker", "the queue")
	fl.IntVar(&cfg.Senders, "senders", 1, "number of senders")
	fl.IntVar(&cfg.Receivers, "receivers", 1, "number of receivers")
	fl.IntVar(&cfg.Messages, "messages", 0, "messages per sender (0: until --duration or a signal)")
	fl.DurationVar(&cfg.Duration, "duration", 0, "stop sending after this long (0: no limit)")
	fl.Float64Var(&cfg.Rate, "rate", 0, "new messages per second per sender (0: no limit)")
	fl.IntVar(&cfg.Window, "window", 10, "most unconfirmed messages per sender")
	fl.IntVar(&cfg.Credit, "credit", 100, "link credit per receiver")
	fl.Float64Var(&cfg.ReceiveRate, "receive-rate", 0,
		"messages per second per receiver until the drain (0: no limit): a backlog builds up on the queue")
	fl.StringVar(&cfg.Client, "client", "go", "go (go-amqp) or proton (python3-qpid-proton scripts)")
	fl.StringVar(&cfg.ProtonReconnect, "proton-reconnect", "proton",
		"how proton clients fail over: proton (the library's reconnect over the URL list) or app (the script's own)")
	fl.StringVar(&cfg.Python, "python", "/usr/bin/python3", "python with the proton bindings")
	fl.StringVar(&cfg.ClientsDir, "clients", "", "directory of sender.py and receiver.py (default: the built-in copies)")
	fl.StringVar(&cfg.RunID, "run-id", "", "mark of this run's messages (default: random)")
	fl.DurationVar(&cfg.Heartbeat, "heartbeat", 0, "connection idle timeout (default 2s)")
	fl.DurationVar(&cfg.BackoffMin, "backoff-min", 0, "reconnect delay after every URL failed (default 100ms)")
	fl.DurationVar(&cfg.BackoffMax, "backoff-max", 0, "longest reconnect delay (default 1s)")
	fl.DurationVar(&cfg.StopTimeout, "stop-timeout", 0, "how long stopping senders retry unconfirmed messages (default 30s)")
	fl.DurationVar(&cfg.DrainIdle, "drain-idle", 0, "the drain ends after this long without a message (default 5s)")
	fl.DurationVar(&cfg.DrainMax, "drain-max", 0, "the longest drain (default 1m)")
	fl.IntVar(&cfg.ListLimit, "list-limit", 100, "most ids per list in the report")
	fl.StringVar(&report, "report", "", "write the JSON report to this file (- for stdout)")
	fl.Var(&roleLogs, "role-log", "a broker's log file for the overlap check, comma-separated or repeated")
	var caFile string
	fl.StringVar(&caFile, "ca-file", "", "connect over TLS (amqps), trusting this CA (PEM); URLs without a scheme become amqps:// (go client)")
	fl.StringVar(&cfg.User, "user", "", "log in with SASL PLAIN as this user (go client; default ANONYMOUS)")
	fl.StringVar(&cfg.Password, "password", "", "the user's password")
	fl.BoolVar(&verbose, "v", false, "print reconnects and errors as they happen")
	fl.Usage = func() {
		fmt.Fprint(stderr, usage, "\noptions of run:\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "checker run: unexpected arguments %q\n", fl.Args())
		return 2
	}
	cfg.URLs = urls
	if caFile != "" {
		tc, err := TLSTrusting(caFile)
		if err != nil {
			fmt.Fprintf(stderr, "checker: %v\n", err)
			return 2
		}
		cfg.TLS = tc
	}
	if verbose {
		cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "checker: "+format+"\n", args...) }
	}
	cfg.Defaults()
	if cfg.Client == "proton" && cfg.ClientsDir == "" {
		dir, err := unpack(clients)
		if err != nil {
			fmt.Fprintf(stderr, "checker: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		cfg.ClientsDir = dir
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "checker run: %v\n", err)
		return 2
	}
	r, err := Start(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "checker: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		fmt.Fprintln(stderr, "checker: stopping the senders, then draining (again to abort)")
		r.StopSending()
		<-sigs
		r.Abort()
	}()
	rep := r.Wait()
	if len(roleLogs) > 0 {
		rep.Overlap = CheckOverlapFiles(roleLogs...)
		rep.Judge()
	}
	fmt.Fprintln(stdout, rep.Summary())
	for _, p := range rep.Problems {
		fmt.Fprintln(stderr, "checker: "+p)
	}
	if report != "" {
		if err := writeJSON(report, stdout, rep); err != nil {
			fmt.Fprintf(stderr, "checker: %v\n", err)
			return 1
		}
	}
	if !rep.OK {
		return 1
	}
	return 0
}

func mainOverlap(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("checker overlap", flag.ContinueOnError)
	fl.SetOutput(stderr)
	asJSON := fl.Bool("json", false, "print the whole report as JSON")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() == 0 {
		fmt.Fprintf(stderr, "checker overlap: no log files\n%s", usage)
		return 2
	}
	r := CheckOverlapFiles(fl.Args()...)
	if *asJSON {
		if err := writeJSON("-", stdout, r); err != nil {
			fmt.Fprintf(stderr, "checker: %v\n", err)
			return 1
		}
	} else {
		for _, iv := range r.Intervals {
			fmt.Fprintln(stdout, iv)
		}
		for _, p := range r.Problems() {
			fmt.Fprintln(stdout, "PROBLEM: "+p)
		}
		verdict := "OK"
		if !r.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(stdout, "overlap check: %d primaries, %d overlaps, %d epoch conflicts, %d errors: %s\n",
			len(r.Intervals), len(r.Overlaps), len(r.EpochConflicts), len(r.Errors), verdict)
	}
	if !r.OK {
		return 1
	}
	return 0
}

func writeJSON(path string, stdout io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if path == "-" {
		_, err = stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// unpack writes the client scripts to a new temporary directory.
func unpack(clients fs.FS) (string, error) {
	if clients == nil {
		return "", errors.New("no built-in proton clients: give --clients DIR")
	}
	dir, err := os.MkdirTemp("", "checker-clients-")
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(clients, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".py") {
			return err
		}
		data, err := fs.ReadFile(clients, path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, filepath.Base(path)), data, 0o755)
	})
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("unpacking the proton clients: %w", err)
	}
	return dir, nil
}
