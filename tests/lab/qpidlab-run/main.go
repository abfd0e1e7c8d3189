// Command qpidlab-run runs the namespace lab's failover scenarios against
// a lab that tests/lab/lab.sh brought up, from the lab's client network
// namespace (lab.sh client qpidlab-run ...): the failover checker's
// numbered at-least-once senders and receivers and a failover-time probe
// connect through the VIP while faults are injected, and after every trial
// there must be exactly one primary with the VIP on it and the clients
// must resume; after every scenario the checker must report 0 lost
// messages and the brokers' role-change logs no two primaries at once.
//
// It prints a table (fault, trials, failover time p50/p99/max, lost,
// duplicates, overlaps) and writes it with the details to -out, and exits
// non-zero if any check failed. See tests/lab/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qpidha/qpidha/internal/checker"
)

type options struct {
	repo       string
	state      string
	labSh      string
	qpidHA     string
	qpidConfig string
	out        string
	trials     map[string]int
	only       []string
	senders    int
	receivers  int
	rate       float64
	token      time.Duration
	goals      bool
	soak       time.Duration
	seed       int64
	// stock clients (stock.go): in which scenarios, which ones
	stockScenarios []string
	stockClients   []string
}

const defaultTrials = "initial=1,fence=1,sigkill=10,sigstop=3,crash=10,partition=10,move=3,backup-restart=2,restart-all=1"

func main() {
	var o options
	var trials, only string
	repo, _ := filepath.Abs(filepath.Join(filepath.Dir(os.Args[0]), ".."))
	o.repo = repo
	flag.StringVar(&o.state, "state", envOr("QPIDLAB_STATE", "/var/tmp/qpidlab"), "the lab's state directory")
	flag.StringVar(&o.labSh, "lab", filepath.Join(repo, "tests/lab/lab.sh"), "lab.sh")
	flag.StringVar(&o.qpidHA, "qpid-ha", "/usr/bin/qpid-ha", "qpid-ha")
	flag.StringVar(&o.qpidConfig, "qpid-config", "/usr/bin/qpid-config", "qpid-config")
	flag.StringVar(&o.out, "out", filepath.Join(repo, ".run/lab"), "where the results go")
	flag.StringVar(&trials, "trials", defaultTrials, "trials per scenario, name=N,...")
	flag.StringVar(&only, "only", "", "run only these scenarios (comma-separated; default: every one with trials)")
	flag.IntVar(&o.senders, "senders", 2, "checker senders")
	flag.IntVar(&o.receivers, "receivers", 2, "checker receivers")
	flag.Float64Var(&o.rate, "rate", 25, "messages per second per checker sender")
	flag.DurationVar(&o.token, "token", time.Second, "the lab's corosync token timeout (for the goals)")
	flag.BoolVar(&o.goals, "enforce-goals", false, "fail when a failover-time goal is missed")
	flag.DurationVar(&o.soak, "soak", 0, "run the soak for this long instead of the scenarios: random faults, one at a time (see soak.go)")
	flag.Int64Var(&o.seed, "seed", 0, "the soak's seed (0: from the clock; the run log says which)")
	var stockScenarios, stockClients string
	flag.StringVar(&stockScenarios, "stock", "sigkill,crash,partition", "run the stock clients (proton, rhea, go failover; stock.go) in these scenarios (comma-separated; empty: none)")
	flag.StringVar(&stockClients, "stock-clients", "", "only these stock clients (names as in the table, or a library: proton, cpp, rhea, go; all: every variant; default: each library's default and recommended settings)")
	var caFile, user, password string
	flag.IntVar(&port, "port", port, "the brokers' AMQP port (their ssl-port with -tls-ca)")
	flag.StringVar(&caFile, "tls-ca", "", "the TLS lab: clients and tools use amqps (ssl: addresses), trusting this CA")
	flag.StringVar(&user, "user", "", "clients and tools log in as this user (SASL PLAIN for the go clients)")
	flag.StringVar(&password, "password", "", "the user's password")
	flag.Parse()
	acc = access{caFile: caFile, user: user, password: password}
	if caFile != "" {
		tc, err := checker.TLSTrusting(caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "qpidlab-run:", err)
			os.Exit(2)
		}
		acc.tls = tc
	}
	o.trials = map[string]int{}
	for _, kv := range strings.Split(trials, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "qpidlab-run: bad -trials entry %q\n", kv)
			os.Exit(2)
		}
		o.trials[k] = n
	}
	if only != "" {
		o.only = strings.Split(only, ",")
	}
	if stockScenarios != "" {
		o.stockScenarios = strings.Split(stockScenarios, ",")
	}
	if stockClients != "" {
		o.stockClients = strings.Split(stockClients, ",")
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		log.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(o.out, "run.log"))
	if err != nil {
		log.Fatal(err)
	}
	defer logFile.Close()
	logger := log.New(io.MultiWriter(os.Stderr, logFile), "", log.Ltime|log.Lmicroseconds)
	quiet := log.New(logFile, "", log.Ltime|log.Lmicroseconds)

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		logger.Printf("interrupted")
		cancel()
	}()

	r := &runner{
		ctx:  ctx,
		o:    o,
		lab:  &lab{state: o.state, labSh: o.labSh, qpidHA: o.qpidHA, logf: quiet.Printf},
		log:  logger,
		vlog: quiet,
	}
	ok := r.run(ctx)
	if !ok {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// trialResult is one fault and what followed.
type trialResult struct {
	Trial      int     `json:"trial"`
	Primary    string  `json:"primary_before"`
	NewPrimary string  `json:"primary_after"`
	Failover   float64 `json:"failover_seconds"` // fault -> first message accepted through the VIP
	MaxGap     float64 `json:"outage_seconds"`   // longest time without an accepted probe message
	Recovered  float64 `json:"recovered_seconds"`
	Error      string  `json:"error,omitempty"`
	// The soak's: the kind of fault, its target, how long it was held.
	Fault  string  `json:"fault,omitempty"`
	Target string  `json:"target,omitempty"`
	Hold   float64 `json:"hold_seconds,omitempty"`
	// Stock: each stock client's outage (stock.go).
	Stock map[string]stockOutage `json:"stock,omitempty"`
}

type scenarioResult struct {
	Name     string            `json:"name"`
	Trials   []trialResult     `json:"trials"`
	Checkers []*checker.Report `json:"checkers"`
	Overlaps int               `json:"overlaps"`
	// MaxPrimaries: the most brokers primary at once in the role-change
	// logs so far.
	MaxPrimaries int    `json:"max_primaries"`
	Summary      string `json:"summary,omitempty"` // the soak's tables
	// summarize, if set, writes Summary once the figures are in.
	summarize func(*scenarioResult) string
	Problems  []string `json:"problems,omitempty"`
	Goal      float64  `json:"goal_p50_seconds,omitempty"`
	P50       float64  `json:"failover_p50_seconds"`
	P99       float64  `json:"failover_p99_seconds"`
	Max       float64  `json:"failover_max_seconds"`
	OutageP50 float64  `json:"outage_p50_seconds"`
	Seconds   float64  `json:"seconds"`
	Load      string   `json:"loadavg"` // /proc/loadavg at the scenario's end
	GoalMet   bool     `json:"goal_met"`
	Failed    bool     `json:"failed"`
	Note      string   `json:"note,omitempty"`
	// Stock: the stock clients' outages (stock.go), per client.
	Stock []stockStats `json:"stock,omitempty"`
}

type runner struct {
	ctx     context.Context // the whole run's: cancelled on SIGINT/SIGTERM
	o       options
	lab     *lab
	log     *log.Logger
	vlog    *log.Logger
	probe   *probe
	stock   *stockSet      // the stock clients running (nil: none)
	runs    []*checker.Run // the checkers running
	results []*scenarioResult
	// overlaps counted so far (the role logs are cumulative)
	overlapsSeen int
}

type scenario struct {
	name string
	goal time.Duration
	// fire injects the fault on primary p (prepare runs before the fault
	// time is taken); nil prepare is fine.
	prepare func(ctx context.Context, p int) (fire func() error, err error)
	// after cleans up after a trial (e.g. SIGCONT), whatever happened.
	after func(ctx context.Context)
	// verify checks the trial's outcome once the lab is healthy again.
	verify func(ctx context.Context) error
	note   string
}

func (r *runner) scenarios() []scenario {
	goalNode := r.o.token + 3*time.Second
	var stoppedPID, fenced, fencedInit int
	return []scenario{
		{name: "fence", note: "pcs stonith fence of a backup's node from another node: it is killed and boots again, the cluster keeps quorum",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				fenced = p%nodes + 1
				fencedInit, _ = r.lab.initPID(fenced)
				return func() error {
					_, err := r.lab.inNode(ctx, p, "pcs", "stonith", "fence", nodeName(fenced))
					return err
				}, nil
			},
			verify: func(ctx context.Context) error {
				if pid, ok := r.lab.initPID(fenced); !ok || pid == fencedInit {
					return fmt.Errorf("%s was not fenced (init %d before, %d now)", nodeName(fenced), fencedInit, pid)
				}
				return nil
			}},
		{name: "sigkill", goal: 3 * time.Second, note: "SIGKILL of the primary broker",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				pid, err := r.lab.brokerPID(p)
				if err != nil {
					return nil, err
				}
				return func() error {
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
						return err
					}
					if !waitGone(pid, 10*time.Second) {
						return fmt.Errorf("broker %d did not die", pid)
					}
					r.lab.marker("KILLED", p, "sigkill")
					return nil
				}, nil
			}},
		{name: "sigstop", note: "SIGSTOP of the primary broker (hung)",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				pid, err := r.lab.brokerPID(p)
				if err != nil {
					return nil, err
				}
				stoppedPID = pid
				return func() error { return syscall.Kill(pid, syscall.SIGSTOP) }, nil
			},
			after: func(ctx context.Context) {
				if stoppedPID != 0 && procState(stoppedPID) == "T" {
					r.log.Printf("the stopped broker (pid %d) is still stopped: SIGCONT", stoppedPID)
					_ = syscall.Kill(stoppedPID, syscall.SIGCONT)
				}
				stoppedPID = 0
			}},
		{name: "crash", goal: goalNode, note: "crash of the primary's node (all its processes killed, link down)",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				return func() error { return r.lab.helper("off", p) }, nil
			}},
		{name: "partition", goal: goalNode, note: "the primary's node cut off the network",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				return func() error {
					return run(ctx, "ip", "-n", switchNS(), "link", "set", nodeVeth(p), "down")
				}, nil
			}},
		{name: "move", note: "pcs resource move qpidd-clone --promoted (fault time: before pcs starts)",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				return func() error {
					_, err := r.lab.onAnyNode(ctx, p, "pcs", "resource", "move", "qpidd-clone", "--promoted")
					return err
				}, nil
			},
			after: func(ctx context.Context) {
				// pcs 0.11 removes the constraint itself once the move is done;
				// clear whatever is left so the next trial starts clean.
				if out, err := r.lab.onAnyNode(ctx, 0, "pcs", "resource", "clear", "qpidd-clone"); err != nil {
					r.log.Printf("pcs resource clear: %v %s", err, out)
				}
			}},
		{name: "backup-restart", note: "a backup stopped and started (pcs resource ban/clear) while traffic runs; failover = first accept after the ban",
			prepare: func(ctx context.Context, p int) (func() error, error) {
				b := p%nodes + 1
				return func() error { return r.restartBackup(ctx, b) }, nil
			}},
	}
}

func (r *runner) enabled(name string) bool {
	if r.o.trials[name] <= 0 {
		return false
	}
	return len(r.o.only) == 0 || slices.Contains(r.o.only, name)
}

func (r *runner) run(ctx context.Context) bool {
	start := time.Now()
	r.log.Printf("lab state %s; results in %s", r.o.state, r.o.out)
	r.probe = startProbe(acc.clientURL(vip), "qpidlab-probe", r.vlog.Printf)
	defer r.probe.stop()

	if r.enabled("initial") {
		r.initial(ctx)
	}
	if r.o.soak > 0 {
		seed := r.o.seed
		if seed == 0 {
			seed = time.Now().UnixNano() % 1e9
		}
		r.soak(ctx, r.o.soak, seed)
		return r.report(time.Since(start))
	}
	for _, sc := range r.scenarios() {
		if ctx.Err() != nil {
			break
		}
		if r.enabled(sc.name) {
			r.faultScenario(ctx, sc)
		}
	}
	if ctx.Err() == nil && r.enabled("restart-all") {
		r.restartAll(ctx)
	}
	return r.report(time.Since(start))
}

// startChecker starts a checker's clients through the VIP: client is "go"
// (go-amqp) or "proton" (python3-qpid-proton, the scripts in
// tests/checker/clients).
func (r *runner) startChecker(queue, client string, tune ...func(*checker.Config)) error {
	cfg := checker.Config{
		URLs:        []string{fmt.Sprintf("%s:%d", vip, port)},
		Queue:       queue,
		Senders:     r.o.senders,
		Receivers:   r.o.receivers,
		Rate:        r.o.rate,
		Window:      10,
		Credit:      50,
		Client:      client,
		ClientsDir:  filepath.Join(r.o.repo, "tests", "checker", "clients"),
		Heartbeat:   2 * time.Second,
		BackoffMin:  50 * time.Millisecond,
		BackoffMax:  500 * time.Millisecond,
		StopTimeout: 90 * time.Second,
		DrainIdle:   15 * time.Second,
		DrainMax:    3 * time.Minute,
		ListLimit:   50,
		Logf:        func(f string, a ...any) { r.vlog.Printf("checker: "+f, a...) },
		TLS:         acc.tls,
		User:        acc.user,
		Password:    acc.password,
	}
	for _, f := range tune {
		f(&cfg)
	}
	run, err := checker.Start(cfg)
	if err != nil {
		return err
	}
	r.runs = append(r.runs, run)
	go func() {
		<-r.ctx.Done()
		run.Abort()
	}()
	return nil
}

// stopCheckers stops the senders, drains (every checker at once), and
// returns the reports.
func (r *runner) stopCheckers() []*checker.Report {
	for _, run := range r.runs {
		run.StopSending()
	}
	var reps []*checker.Report
	for _, run := range r.runs {
		reps = append(reps, run.Wait())
	}
	r.runs = nil
	return reps
}

// resumed waits until every checker's senders got new confirmations and
// its receivers new messages after now.
func (r *runner) resumed(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, run := range r.runs {
		c0, r0 := run.Tracker().Progress()
		for {
			c, rc := run.Tracker().Progress()
			if c > c0 && rc > r0 {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s clients did not resume within %v (confirmed %d->%d, received %d->%d)", run.Client(), timeout, c0, c, r0, rc)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func (r *runner) initial(ctx context.Context) {
	res := &scenarioResult{Name: "initial"}
	r.results = append(r.results, res)
	t0 := time.Now()
	upStart := readUnix(filepath.Join(r.o.state, "up.start"))
	p, v, err := r.lab.waitHealthy(ctx, 3, 5*time.Minute)
	tr := trialResult{Trial: 1}
	if err != nil {
		tr.Error = err.Error()
	} else {
		tr.NewPrimary = nodeName(p)
		// The time from lab.sh up's start to a healthy cluster (includes
		// corosync/pacemaker start-up and configuration).
		if !upStart.IsZero() {
			tr.Recovered = time.Since(upStart).Seconds()
		}
		if d, err := r.probe.firstAfter(ctx, t0, time.Minute); err == nil {
			tr.Failover = d.Seconds()
		}
		r.log.Printf("initial promotion: %s primary, VIP on it: %v", nodeName(p), v)
	}
	res.Trials = append(res.Trials, tr)
	res.Note = "the first start: exactly one primary, the VIP on it (recovered = lab.sh up start -> healthy)"
	res.Seconds = time.Since(t0).Seconds()
	r.finishScenario(res)
}

func readUnix(path string) time.Time {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	s, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

func (r *runner) faultScenario(ctx context.Context, sc scenario) {
	res := &scenarioResult{Name: sc.name, Goal: sc.goal.Seconds(), Note: sc.note}
	r.results = append(r.results, res)
	t0 := time.Now()
	r.log.Printf("=== %s: %s, %d trials", sc.name, sc.note, r.o.trials[sc.name])
	if _, _, err := r.lab.waitHealthy(ctx, 3, 2*time.Minute); err != nil {
		res.Problems = append(res.Problems, "not healthy before the scenario: "+err.Error())
		if !r.recover(ctx) {
			res.Problems = append(res.Problems, "the lab could not be brought back: the scenario did not run")
			res.Seconds = time.Since(t0).Seconds()
			r.finishScenario(res)
			return
		}
	}
	if err := r.startChecker("qpidlab-"+sc.name, "go"); err != nil {
		res.Problems = append(res.Problems, "checker: "+err.Error())
		r.finishScenario(res)
		return
	}
	if slices.Contains(r.o.stockScenarios, sc.name) {
		r.stock = r.startStockClients(r.stockSpecs())
		defer func() {
			r.stock.stop()
			r.stock = nil
		}()
	}
	for i := 1; i <= r.o.trials[sc.name] && ctx.Err() == nil; i++ {
		tr := r.trial(ctx, sc, i)
		res.Trials = append(res.Trials, tr)
		if sc.after != nil {
			sc.after(ctx)
		}
		if tr.Error != "" {
			r.log.Printf("%s trial %d: FAILED: %s", sc.name, i, tr.Error)
			if !r.recover(ctx) {
				res.Problems = append(res.Problems, "the lab could not be brought back: the scenario's remaining trials did not run")
				break
			}
		} else {
			r.log.Printf("%s trial %d: %s -> %s failover %.2fs (outage %.2fs), healthy again after %.1fs",
				sc.name, i, tr.Primary, tr.NewPrimary, tr.Failover, tr.MaxGap, tr.Recovered)
		}
	}
	reps := r.stopCheckers()
	res.Seconds = time.Since(t0).Seconds()
	r.finishScenario(res, reps...)
}

// trial injects one fault on the primary and checks what follows.
func (r *runner) trial(ctx context.Context, sc scenario, i int) trialResult {
	tr := trialResult{Trial: i}
	p, _, err := r.lab.waitHealthy(ctx, 3, 3*time.Minute)
	if err != nil {
		tr.Error = "not healthy before the fault: " + err.Error()
		return tr
	}
	tr.Primary = nodeName(p)
	// Let the clients run on the settled cluster for a moment.
	time.Sleep(time.Second)
	fire, err := sc.prepare(ctx, p)
	if err != nil {
		tr.Error = "prepare: " + err.Error()
		return tr
	}
	t0 := time.Now()
	// A fault whose command fails (pcs, say) still gets measured and
	// waited for, so that the next trial starts on a settled cluster.
	var faultErr error
	if err := fire(); err != nil {
		faultErr = fmt.Errorf("fault: %v", err)
	}
	fo, gap, err := r.probe.failover(ctx, t0, time.Now(), 3*time.Minute)
	if err != nil {
		tr.Error = errors.Join(faultErr, err).Error()
		return tr
	}
	tr.Failover, tr.MaxGap = fo.Seconds(), gap.Seconds()
	if faultErr != nil {
		tr.Error = faultErr.Error()
		_, _, _ = r.lab.waitHealthy(ctx, 3, 5*time.Minute)
		return tr
	}
	if err := r.resumed(ctx, 60*time.Second); err != nil {
		tr.Error = err.Error()
		return tr
	}
	p2, _, err := r.lab.waitHealthy(ctx, 3, 3*time.Minute)
	tr.Recovered = time.Since(t0).Seconds()
	if err != nil {
		tr.Error = "after the fault: " + err.Error()
		return tr
	}
	tr.NewPrimary = nodeName(p2)
	if r.stock != nil {
		tr.Stock = r.stock.measure(ctx, t0, time.Now(), 30*time.Second)
	}
	if sc.verify != nil {
		if err := sc.verify(ctx); err != nil {
			tr.Error = err.Error()
		}
	}
	// The longest outage until the lab was healthy again (a second outage
	// after the first recovery counts too).
	tr.MaxGap = max(tr.MaxGap, r.probe.maxGap(t0, time.Now()).Seconds())
	return tr
}

// restartBackup stops backup b with a ban and starts it again.
func (r *runner) restartBackup(ctx context.Context, b int) error {
	if out, err := r.lab.onAnyNode(ctx, 0, "pcs", "resource", "ban", "qpidd-clone", nodeName(b)); err != nil {
		return fmt.Errorf("pcs resource ban: %v %s", err, out)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := r.lab.brokerStatus(ctx)
		if st[b] == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s's broker still runs 2 minutes after the ban", nodeName(b))
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.log.Printf("%s's broker stopped; clearing the ban", nodeName(b))
	time.Sleep(2 * time.Second)
	if out, err := r.lab.onAnyNode(ctx, 0, "pcs", "resource", "clear", "qpidd-clone", nodeName(b)); err != nil {
		return fmt.Errorf("pcs resource clear: %v %s", err, out)
	}
	return nil
}

// recover brings the lab back after a failed trial so that the remaining
// trials and scenarios can run (the failure is already recorded): every
// node powered on and its link up; if the lab is still not healthy, a
// resource cleanup; if still not, a restart of the qpidd clone (every
// broker starts afresh: the first start). It reports whether the lab is
// healthy again.
func (r *runner) recover(ctx context.Context) bool {
	for _, n := range allNodes() {
		_ = run(ctx, "ip", "-n", switchNS(), "link", "set", nodeVeth(n), "up")
		if _, ok := r.lab.initPID(n); !ok {
			r.log.Printf("recover: %s is off: powering it on", nodeName(n))
			if err := r.lab.helper("on", n); err != nil {
				r.log.Printf("recover: %v", err)
			}
		}
	}
	if _, _, err := r.lab.waitHealthy(ctx, 3, 90*time.Second); err == nil {
		return true
	}
	for _, step := range [][]string{
		{"pcs", "resource", "cleanup"},
		{"pcs", "resource", "restart", "qpidd-clone"},
	} {
		if ctx.Err() != nil {
			return false
		}
		r.log.Printf("RECOVERY: the lab is not healthy: %s", strings.Join(step, " "))
		if out, err := r.lab.onAnyNode(ctx, 0, step...); err != nil {
			r.log.Printf("recover: %v %s", err, out)
		}
		if _, _, err := r.lab.waitHealthy(ctx, 3, 3*time.Minute); err == nil {
			return true
		} else {
			r.log.Printf("recover: %v", err)
		}
	}
	return false
}

// restartAll stops the primary's node (a backup takes over and gets ahead),
// then the two others, then starts the three: the freshest broker (the
// highest persisted position) must become the primary.
func (r *runner) restartAll(ctx context.Context) {
	res := &scenarioResult{Name: "restart-all", Note: "the primary's node stopped, then the two others, then all three started: the freshest node must become primary (failover = start -> first accept)"}
	r.results = append(r.results, res)
	t0 := time.Now()
	r.log.Printf("=== restart-all: %d trials", r.o.trials["restart-all"])
	// A durable queue, and receivers at half the senders' pace: a backlog
	// of persistent messages is in the queue when every node stops, and
	// must be there after the restart (each broker's store).
	const queue = "qpidlab-restart-all"
	if err := r.declareDurable(ctx, queue); err != nil {
		res.Problems = append(res.Problems, "declaring "+queue+": "+err.Error())
		r.finishScenario(res)
		return
	}
	slow := func(c *checker.Config) {
		c.ReceiveRate = c.Rate * float64(c.Senders) / float64(2*c.Receivers)
	}
	if err := r.startChecker(queue, "go", slow); err != nil {
		res.Problems = append(res.Problems, "checker: "+err.Error())
		r.finishScenario(res)
		return
	}
	for i := 1; i <= r.o.trials["restart-all"] && ctx.Err() == nil; i++ {
		tr := r.restartAllTrial(ctx, i)
		res.Trials = append(res.Trials, tr)
		if tr.Error != "" {
			r.log.Printf("restart-all trial %d: FAILED: %s", i, tr.Error)
			r.recover(ctx)
		} else {
			r.log.Printf("restart-all trial %d: %s stopped first; %s primary after the restart, first accept %.2fs after the start",
				i, tr.Primary, tr.NewPrimary, tr.Failover)
		}
	}
	reps := r.stopCheckers()
	res.Seconds = time.Since(t0).Seconds()
	r.finishScenario(res, reps...)
}

// declareDurable declares a durable queue through the VIP (as the lab's
// user in the TLS lab; the plain lab's brokers run with auth=no), trying
// until the primary answers.
func (r *runner) declareDurable(ctx context.Context, queue string) error {
	var err error
	for try := 0; try < 30 && ctx.Err() == nil; try++ {
		args := append([]string{"-b", acc.toolBroker(vip), "--timeout", "5"}, acc.toolArgs()...)
		args = append(args, "add", "queue", queue, "--durable")
		out, e := exec.CommandContext(ctx, r.o.qpidConfig, args...).CombinedOutput()
		if e == nil || strings.Contains(string(out), "exists") {
			return nil
		}
		err = fmt.Errorf("%v: %s", e, strings.TrimSpace(string(out)))
		time.Sleep(time.Second)
	}
	return err
}

func (r *runner) restartAllTrial(ctx context.Context, i int) trialResult {
	tr := trialResult{Trial: i}
	a, _, err := r.lab.waitHealthy(ctx, 3, 5*time.Minute)
	if err != nil {
		tr.Error = "not healthy before: " + err.Error()
		return tr
	}
	tr.Primary = nodeName(a)
	time.Sleep(2 * time.Second)
	r.log.Printf("restart-all: stopping %s (the primary)", nodeName(a))
	if err := run(ctx, r.o.labSh, "stop-node", strconv.Itoa(a)); err != nil {
		tr.Error = err.Error()
		return tr
	}
	b, _, err := r.lab.waitHealthy(ctx, 2, 3*time.Minute)
	if err != nil {
		tr.Error = "after stopping the primary's node: " + err.Error()
		return tr
	}
	r.log.Printf("restart-all: %s took over; traffic for 5s, then stopping the others", nodeName(b))
	time.Sleep(5 * time.Second)
	tStop := time.Now()
	others := []string{"stop-node"}
	for _, n := range allNodes() {
		if n != a {
			others = append(others, strconv.Itoa(n))
		}
	}
	if err := run(ctx, r.o.labSh, others...); err != nil {
		tr.Error = err.Error()
		return tr
	}
	pos := r.lab.positions()
	want := 0
	for _, n := range allNodes() {
		if p, ok := pos[n]; ok && (want == 0 || pos[want].less(p)) {
			want = n
		}
	}
	r.log.Printf("restart-all: all stopped; positions %v: the freshest is %s", pos, nodeName(want))
	tStart := time.Now()
	for _, n := range allNodes() {
		if err := r.lab.helper("on", n); err != nil {
			tr.Error = err.Error()
			return tr
		}
	}
	fo, err := r.probe.firstAfter(ctx, tStart, 5*time.Minute)
	if err != nil {
		tr.Error = err.Error()
		return tr
	}
	tr.Failover = fo.Seconds()
	tr.MaxGap = r.probe.maxGap(tStop, time.Now()).Seconds()
	p, _, err := r.lab.waitHealthy(ctx, 3, 5*time.Minute)
	tr.Recovered = time.Since(tStart).Seconds()
	if err != nil {
		tr.Error = "after the restart: " + err.Error()
		return tr
	}
	tr.NewPrimary = nodeName(p)
	if p != want {
		tr.Error = fmt.Sprintf("%s became primary, but %s is the freshest (positions %v)", nodeName(p), nodeName(want), pos)
		return tr
	}
	if err := r.resumed(ctx, 60*time.Second); err != nil {
		tr.Error = err.Error()
	}
	return tr
}

// finishScenario computes the statistics and runs the overlap check over
// the brokers' logs so far.
func (r *runner) finishScenario(res *scenarioResult, reps ...*checker.Report) {
	res.Checkers = reps
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) >= 3 {
			res.Load = strings.Join(f[:3], " ")
		}
	}
	var fo, gaps []float64
	for _, t := range res.Trials {
		if t.Error != "" {
			res.Problems = append(res.Problems, fmt.Sprintf("trial %d: %s", t.Trial, t.Error))
		} else if res.Name != "initial" {
			fo = append(fo, t.Failover)
			gaps = append(gaps, t.MaxGap)
		}
	}
	slices.Sort(fo)
	slices.Sort(gaps)
	res.Stock = stockStatsOf(res.Trials)
	res.OutageP50 = percentile(gaps, 50)
	res.P50, res.P99 = percentile(fo, 50), percentile(fo, 99)
	if len(fo) > 0 {
		res.Max = fo[len(fo)-1]
	}
	for _, rep := range reps {
		r.log.Printf("%s: %s", res.Name, rep.Summary())
		for _, p := range rep.Problems {
			res.Problems = append(res.Problems, rep.Client+" checker: "+p)
		}
		if !rep.DrainComplete {
			res.Problems = append(res.Problems, rep.Client+" checker: the drain did not complete")
		}
	}
	ov, err := r.overlap()
	if err != nil {
		res.Problems = append(res.Problems, "overlap check: "+err.Error())
	} else {
		res.Overlaps = len(ov.Overlaps) - r.overlapsSeen
		r.overlapsSeen = len(ov.Overlaps)
		res.MaxPrimaries = maxPrimaries(ov.Intervals)
		if res.Overlaps > 0 || len(ov.EpochConflicts) > 0 || len(ov.Errors) > 0 {
			for _, p := range ov.Problems() {
				res.Problems = append(res.Problems, "overlap: "+p)
			}
		}
		data, _ := json.MarshalIndent(ov, "", "  ")
		_ = os.WriteFile(filepath.Join(r.o.out, "overlap-"+res.Name+".json"), data, 0o644)
	}
	res.GoalMet = res.Goal == 0 || (len(fo) > 0 && res.P50 < res.Goal)
	res.Failed = len(res.Problems) > 0 || (r.o.goals && !res.GoalMet)
	if len(res.Trials) == 0 {
		res.Failed = true
		res.Problems = append(res.Problems, "no trial ran")
	}
	for _, p := range res.Problems {
		r.log.Printf("%s: PROBLEM: %s", res.Name, p)
	}
	if res.summarize != nil {
		res.Summary = res.summarize(res)
		r.log.Printf("%s:\n%s", res.Name, res.Summary)
	}
	data, _ := json.MarshalIndent(res, "", "  ")
	_ = os.WriteFile(filepath.Join(r.o.out, "scenario-"+res.Name+".json"), data, 0o644)
}

// overlap copies the brokers' logs and the kill markers and runs the
// checker's overlap check on them.
func (r *runner) overlap() (*checker.OverlapReport, error) {
	dir := filepath.Join(r.o.out, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, n := range allNodes() {
		dst := filepath.Join(dir, nodeName(n))
		if err := copyFile(r.lab.brokerLog(n), dst); err != nil {
			return nil, err
		}
		files = append(files, dst)
	}
	dst := filepath.Join(dir, "markers")
	if err := copyFile(filepath.Join(r.o.state, "markers.log"), dst); err == nil {
		files = append(files, dst)
	}
	return checker.CheckOverlapFiles(files...), nil
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

func (r *runner) report(total time.Duration) bool {
	var b strings.Builder
	fmt.Fprintf(&b, "qpidlab failover table (corosync token %v, 1 s promoted monitor; failover = fault -> first message accepted through the VIP)\n\n", r.o.token)
	fmt.Fprintf(&b, "| fault | trials ok | p50 s | p99 s | max s | outage p50 s | goal p50 | lost | duplicates | overlaps | time s | load | result |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	passed, failed := 0, 0
	for _, res := range r.results {
		ok := 0
		for _, t := range res.Trials {
			if t.Error == "" {
				ok++
			}
		}
		lost, dup := "-", "-"
		if len(res.Checkers) > 0 {
			l, d := 0, 0
			for _, rep := range res.Checkers {
				l, d = l+rep.Lost, d+rep.Duplicates
			}
			lost, dup = strconv.Itoa(l), strconv.Itoa(d)
		}
		goal := "-"
		if res.Goal > 0 {
			goal = fmt.Sprintf("< %.1f %s", res.Goal, map[bool]string{true: "met", false: "MISSED"}[res.GoalMet])
		}
		verdict := "ok"
		if res.Failed {
			verdict = "FAILED"
			failed++
		} else {
			passed++
		}
		p50, p99, mx, og := fmt.Sprintf("%.2f", res.P50), fmt.Sprintf("%.2f", res.P99), fmt.Sprintf("%.2f", res.Max), fmt.Sprintf("%.2f", res.OutageP50)
		if res.Name == "initial" && len(res.Trials) > 0 {
			p50, p99, mx, og = "-", "-", "-", "-"
			if res.Trials[0].Recovered > 0 {
				p50 = fmt.Sprintf("(up->healthy %.0f)", res.Trials[0].Recovered)
			}
		}
		fmt.Fprintf(&b, "| %s | %d/%d | %s | %s | %s | %s | %s | %s | %s | %d | %.0f | %s | %s |\n",
			res.Name, ok, len(res.Trials), p50, p99, mx, og, goal, lost, dup, res.Overlaps, res.Seconds, res.Load, verdict)
	}
	fmt.Fprintf(&b, "\nscenarios: %s\n", strings.Join(func() []string {
		var s []string
		for _, res := range r.results {
			s = append(s, res.Name+": "+res.Note)
		}
		return s
	}(), "; "))
	fmt.Fprintf(&b, "total %.0fs\n", total.Seconds())
	b.WriteString(stockTable(r.results))
	for _, res := range r.results {
		if res.Summary != "" {
			fmt.Fprintf(&b, "\n%s:\n\n%s", res.Name, res.Summary)
		}
	}
	for _, res := range r.results {
		for _, p := range res.Problems {
			fmt.Fprintf(&b, "PROBLEM %s: %s\n", res.Name, p)
		}
	}
	table := b.String()
	fmt.Print("\n" + table)
	_ = os.WriteFile(filepath.Join(r.o.out, "table.md"), []byte(table), 0o644)
	data, _ := json.MarshalIndent(r.results, "", "  ")
	_ = os.WriteFile(filepath.Join(r.o.out, "results.json"), data, 0o644)
	fmt.Printf("lab: %d passed, %d failed\n", passed, failed)
	return failed == 0
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := execOut(ctx, name, args...)
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
