package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/failover"
)

// Stock clients: what a fault costs an application that uses an AMQP
// client library as it comes, with only the library's own reconnect. Each
// is a sender through the VIP (or the nodes' addresses) sending one message
// every 20 ms while its link has credit (at most 10 unconfirmed) and
// recording when the broker accepted each; the client-visible outage of a
// fault is the longest time without an acceptance from the fault until the
// client sends again (the same measure as the probe's). The scripts are in
// tests/lab/clients; the go one runs in this process.

// stockSpec is one client with one set of settings.
type stockSpec struct {
	name     string // client/settings, the table's row
	settings string // what it is, for the table's notes
	argv     []string
	goOpts   *failover.Options // the go failover package (argv nil)
	goAddrs  []string
	// more: only with -stock-clients all (lab-clients): the variants
	// beyond each library's default and recommended settings (the
	// recommendations are the lab's measurements: tests/lab/README.md).
	more bool
}

const stockQueue = "qpidlab-probe" // the probe's receiver drains it

func (r *runner) stockSpecs() []stockSpec {
	clients := filepath.Join(r.o.repo, "tests", "lab", "clients")
	vipAddr := fmt.Sprintf("%s:%d", vip, port)
	var nodeAddrs []string
	for _, n := range allNodes() {
		nodeAddrs = append(nodeAddrs, fmt.Sprintf("%s:%d", nodeIP(n), port))
	}
	py := func(urls []string, args ...string) []string {
		a := []string{"/usr/bin/python3", filepath.Join(clients, "stock-send.py"), "--queue", stockQueue}
		for _, u := range urls {
			a = append(a, "--url", u)
		}
		return append(a, args...)
	}
	cpp := func(addrs []string, args ...string) []string {
		return append([]string{filepath.Join(r.o.repo, "bin", "stock-send-cpp"), strings.Join(addrs, ","), stockQueue}, args...)
	}
	js := func(addrs []string, opts string) []string {
		return []string{"node", filepath.Join(clients, "stock-send.js"), strings.Join(addrs, ","), stockQueue, opts}
	}
	specs := []stockSpec{
		{name: "proton/default", settings: `connect("VIP:5672", heartbeat=10), proton's default reconnect (Backoff: 0, 0.1, 0.2 ... 10 s)`,
			argv: py([]string{vipAddr}, "--heartbeat", "10")},
		{name: "proton/rec-vip", more: true, settings: `connect("VIP:5672", heartbeat=1, reconnect=Backoff(initial=0.05, factor=2, max_delay=0.25))`,
			argv: py([]string{vipAddr}, "--heartbeat", "1", "--backoff", "0.05,2,0.25")},
		{name: "proton/cap1-vip", settings: `connect("VIP:5672", heartbeat=2, reconnect=Backoff(initial=0.1, factor=2, max_delay=1))`,
			argv: py([]string{vipAddr}, "--heartbeat", "2", "--backoff", "0.1,2,1")},
		{name: "proton/rec-nodes", more: true, settings: `connect(urls=[node1, node2, node3], heartbeat=1, reconnect=Backoff(initial=0.05, factor=2, max_delay=0.25))`,
			argv: py(nodeAddrs, "--heartbeat", "1", "--backoff", "0.05,2,0.25")},
		{name: "cpp/default", settings: `proton C++: container.connect("VIP:5672", connection_options().idle_timeout(duration(10000)).reconnect(reconnect_options())): its default reconnect (10 ms doubling, no maximum)`,
			argv: cpp([]string{vipAddr}, "10000")},
		{name: "cpp/rec-vip", settings: `proton C++: connect("VIP:5672", connection_options().idle_timeout(duration(1000)).reconnect(reconnect_options().delay(duration(50)).delay_multiplier(2).max_delay(duration(250))))`,
			argv: cpp([]string{vipAddr}, "1000", "50", "250")},
		{name: "cpp/cap1-vip", more: true, settings: `proton C++: connect("VIP:5672", connection_options().idle_timeout(duration(2000)).reconnect(reconnect_options().delay(duration(100)).delay_multiplier(2).max_delay(duration(1000))))`,
			argv: cpp([]string{vipAddr}, "2000", "100", "1000")},
		{name: "cpp/rec-nodes", more: true, settings: `proton C++: the same to node1 with .failover_urls({node2, node3})`,
			argv: cpp(nodeAddrs, "1000", "50", "250")},
		{name: "rhea/default", settings: `connect({host: VIP, port: 5672, idle_time_out: 10000}), rhea's default reconnect (100 ms doubling to 60 s)`,
			argv: js([]string{vipAddr}, `{"idle_time_out": 10000}`)},
		{name: "rhea/rec-vip", more: true, settings: `connect({host: VIP, port: 5672, idle_time_out: 1000, initial_reconnect_delay: 50, max_reconnect_delay: 250})`,
			argv: js([]string{vipAddr}, `{"idle_time_out": 1000, "initial_reconnect_delay": 50, "max_reconnect_delay": 250}`)},
		{name: "rhea/rec-nodes", settings: `the same with connection_details cycling node1, node2, node3`,
			argv: js(nodeAddrs, `{"idle_time_out": 1000, "initial_reconnect_delay": 50, "max_reconnect_delay": 250}`)},
		{name: "rhea/cap1-vip", more: true, settings: `connect({host: VIP, port: 5672, idle_time_out: 2000, initial_reconnect_delay: 100, max_reconnect_delay: 1000})`,
			argv: js([]string{vipAddr}, `{"idle_time_out": 2000, "initial_reconnect_delay": 100, "max_reconnect_delay": 1000}`)},
		{name: "go/default", settings: `failover.Dial([VIP], nil options): its defaults (IdleTimeout 10 s, ConnectTimeout 5 s, Backoff 0, 100 ms ... 2 s)`,
			goAddrs: []string{acc.clientURL(vip)}, goOpts: &failover.Options{}},
		{name: "go/rec-nodes", settings: `failover.Dial([node1, node2, node3], IdleTimeout 1 s, ConnectTimeout 250 ms, Backoff{Initial: 50 ms, Max: 250 ms})`,
			goAddrs: []string{acc.clientURL(nodeIP(1)), acc.clientURL(nodeIP(2)), acc.clientURL(nodeIP(3))},
			goOpts: &failover.Options{ConnOptions: &amqp.ConnOptions{IdleTimeout: time.Second}, ConnectTimeout: 250 * time.Millisecond,
				Backoff: failover.Backoff{Initial: 50 * time.Millisecond, Max: 250 * time.Millisecond}}},
	}
	for _, s := range specs {
		stockSettings[s.name] = s.settings
	}
	var sel []stockSpec
	for _, s := range specs {
		if len(r.o.stockClients) == 0 && !s.more || slices.Contains(r.o.stockClients, "all") || slices.ContainsFunc(r.o.stockClients, func(p string) bool { return s.name == p || strings.HasPrefix(s.name, p+"/") }) {
			sel = append(sel, s)
		}
	}
	return sel
}

// stockClient is one running stock client. A client process that ends by
// itself (proton python 0.37 can die of an AttributeError in its own IO
// handler during a reconnect) is started again at once, as a supervisor
// would, and counted: its outage runs until the new one sends.
type stockClient struct {
	spec   stockSpec
	logf   func(string, ...any)
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	accepted []time.Time
	cmd      *exec.Cmd // the process running (nil: none)
	stopping bool
	crashes  int // processes that ended by themselves
	// crashesSeen: crashes already counted in a trial
	crashesSeen int
}

func startStock(spec stockSpec, logf func(string, ...any)) (*stockClient, error) {
	c := &stockClient{spec: spec, logf: logf, done: make(chan struct{})}
	if spec.argv == nil {
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		go c.runGo(ctx)
		return c, nil
	}
	if _, err := exec.LookPath(spec.argv[0]); err != nil {
		return nil, fmt.Errorf("%s: %v", spec.name, err)
	}
	go func() {
		defer close(c.done)
		for {
			err := c.runProcess()
			c.mu.Lock()
			stopping := c.stopping
			if !stopping {
				c.crashes++
			}
			c.mu.Unlock()
			if stopping {
				return
			}
			logf("stock %s ended by itself (%v): starting it again", spec.name, err)
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return c, nil
}

// runProcess runs the client's process until it ends.
func (c *stockClient) runProcess() error {
	spec, logf := c.spec, c.logf
	cmd := exec.Command(spec.argv[0], spec.argv[1:]...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(envOr("QPIDLAB_NPM", "/var/tmp/qpidlab-npm"), "node_modules"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		return nil
	}
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.cmd = cmd
	c.mu.Unlock()
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logf("stock %s: %s", spec.name, sc.Text())
		}
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] != "accepted" {
			continue
		}
		ns, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		c.add(time.Unix(0, ns))
	}
	<-errDone
	err = cmd.Wait()
	c.mu.Lock()
	c.cmd = nil
	c.mu.Unlock()
	logf("stock %s (pid %d) ended: %v", spec.name, cmd.Process.Pid, err)
	return err
}

func (c *stockClient) add(t time.Time) {
	c.mu.Lock()
	c.accepted = append(c.accepted, t)
	c.mu.Unlock()
}

// runGo is the go failover package's sender.
func (c *stockClient) runGo(ctx context.Context) {
	defer close(c.done)
	opts := *c.spec.goOpts
	opts.OnEvent = func(e failover.Event) { c.logf("stock %s: %v", c.spec.name, e) }
	if acc.tls != nil || acc.user != "" {
		co := amqp.ConnOptions{}
		if opts.ConnOptions != nil {
			co = *opts.ConnOptions
		}
		co.TLSConfig = acc.tls
		if acc.user != "" {
			co.SASLType = amqp.SASLTypePlain(acc.user, acc.password)
		}
		opts.ConnOptions = &co
	}
	conn, err := failover.Dial(ctx, c.spec.goAddrs, &opts)
	if err != nil {
		c.logf("stock %s: %v", c.spec.name, err)
		return
	}
	defer conn.Close()
	snd, err := conn.NewSender(ctx, stockQueue, nil)
	if err != nil {
		c.logf("stock %s: %v", c.spec.name, err)
		return
	}
	for seq := 1; ctx.Err() == nil; seq++ {
		t := time.Now()
		msg := amqp.NewMessage([]byte("stock " + strconv.Itoa(seq)))
		msg.Properties = &amqp.MessageProperties{MessageID: fmt.Sprintf("stock-go-%p-%d", c, seq)}
		if err := snd.Send(ctx, msg); err == nil {
			c.add(time.Now())
		}
		if d := 20*time.Millisecond - time.Since(t); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
	}
}

func (c *stockClient) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Lock()
	c.stopping = true
	cmd := c.cmd
	c.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
	<-c.done
}

// firstAfter is the first acceptance after t (zero if none yet).
func (c *stockClient) firstAfter(t time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, _ := slices.BinarySearchFunc(c.accepted, t, func(a, t time.Time) int { return a.Compare(t) })
	for ; i < len(c.accepted); i++ {
		if c.accepted[i].After(t) {
			return c.accepted[i]
		}
	}
	return time.Time{}
}

// outage is the longest time without an acceptance in [from, to].
func (c *stockClient) outage(from, to time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return longestGap(c.accepted, from, to)
}

// longestGap is the longest time within [from, to] between consecutive
// times of sorted ts (from and to count as the ends).
func longestGap(ts []time.Time, from, to time.Time) time.Duration {
	last := from
	var gap time.Duration
	for _, a := range ts {
		if a.Before(from) {
			continue
		}
		if a.After(to) {
			break
		}
		gap = max(gap, a.Sub(last))
		last = a
	}
	return max(gap, to.Sub(last))
}

// stockSet is the stock clients of a scenario.
type stockSet struct{ clients []*stockClient }

func (r *runner) startStockClients(specs []stockSpec) *stockSet {
	s := &stockSet{}
	for _, spec := range specs {
		c, err := startStock(spec, r.vlog.Printf)
		if err != nil {
			r.log.Printf("stock client %s: %v", spec.name, err)
			continue
		}
		s.clients = append(s.clients, c)
	}
	return s
}

func (s *stockSet) stop() {
	for _, c := range s.clients {
		c.stop()
	}
}

// stockOutage is one stock client's outage in one trial; Error says it
// did not send again within the wait.
type stockOutage struct {
	Outage float64 `json:"outage_seconds"`
	Error  string  `json:"error,omitempty"`
	// Crashes: the client's processes that ended by themselves (and were
	// started again) during the trial.
	Crashes int `json:"crashes,omitempty"`
}

// measure waits (up to wait) until every client had an acceptance after
// end, and gives each one's outage from t0 to that acceptance.
func (s *stockSet) measure(ctx context.Context, t0, end time.Time, wait time.Duration) map[string]stockOutage {
	res := map[string]stockOutage{}
	deadline := time.Now().Add(wait)
	for _, c := range s.clients {
		c.mu.Lock()
		crashes := c.crashes - c.crashesSeen
		c.crashesSeen = c.crashes
		c.mu.Unlock()
		var resume time.Time
		for {
			if resume = c.firstAfter(end); !resume.IsZero() || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if resume.IsZero() {
			res[c.spec.name] = stockOutage{Outage: time.Since(t0).Seconds(), Crashes: crashes,
				Error: fmt.Sprintf("no message accepted within %v of the fault", time.Since(t0).Round(time.Second))}
			continue
		}
		res[c.spec.name] = stockOutage{Outage: c.outage(t0, resume).Seconds(), Crashes: crashes}
	}
	return res
}

// stockStats is one stock client's outages over a scenario's trials.
type stockStats struct {
	Client   string  `json:"client"`
	Settings string  `json:"settings"`
	Trials   int     `json:"trials"`
	Stalled  int     `json:"stalled"` // trials without a resume within the wait
	Crashes  int     `json:"crashes"` // client processes that died (restarted)
	P50      float64 `json:"outage_p50_seconds"`
	Max      float64 `json:"outage_max_seconds"`
	// Outages, in trial order (a stalled trial counts its wait).
	Outages []float64 `json:"outages_seconds"`
}

var stockSettings = map[string]string{}

func stockStatsOf(trials []trialResult) []stockStats {
	byName := map[string]*stockStats{}
	var names []string
	for _, t := range trials {
		if t.Error != "" {
			continue
		}
		for name, o := range t.Stock {
			st := byName[name]
			if st == nil {
				st = &stockStats{Client: name, Settings: stockSettings[name]}
				byName[name] = st
				names = append(names, name)
			}
			st.Trials++
			if o.Error != "" {
				st.Stalled++
			}
			st.Crashes += o.Crashes
			st.Outages = append(st.Outages, o.Outage)
		}
	}
	slices.Sort(names)
	var out []stockStats
	for _, name := range names {
		st := byName[name]
		sorted := slices.Clone(st.Outages)
		slices.Sort(sorted)
		st.P50, st.Max = percentile(sorted, 50), sorted[len(sorted)-1]
		out = append(out, *st)
	}
	return out
}

// stockTable is the client-visible outage table: per fault, the probe's
// outage and each stock client's.
func stockTable(results []*scenarioResult) string {
	var b strings.Builder
	var notes []string
	seen := map[string]bool{}
	for _, res := range results {
		if len(res.Stock) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nclient-visible outage (the longest time without an accepted message, from the fault until the client sends again; stock clients send every 20 ms with only their library's reconnect)\n\n")
			b.WriteString("| fault | client | trials | outage p50 s | max s | stalled | crashed |\n|---|---|---|---|---|---|---|\n")
		}
		var gaps []float64
		for _, t := range res.Trials {
			if t.Error == "" {
				gaps = append(gaps, t.MaxGap)
			}
		}
		slices.Sort(gaps)
		if len(gaps) > 0 {
			fmt.Fprintf(&b, "| %s | probe (go-amqp, 250 ms connect timeout) | %d | %.2f | %.2f | - | - |\n", res.Name, len(gaps), percentile(gaps, 50), gaps[len(gaps)-1])
		}
		for _, st := range res.Stock {
			fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %d | %d |\n", res.Name, st.Client, st.Trials, st.P50, st.Max, st.Stalled, st.Crashes)
			if !seen[st.Client] {
				seen[st.Client] = true
				notes = append(notes, fmt.Sprintf("- %s: %s", st.Client, st.Settings))
			}
		}
	}
	if b.Len() > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}
