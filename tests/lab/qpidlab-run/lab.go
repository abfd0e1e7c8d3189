package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The lab's fixed layout (tests/lab/lab.sh).
const (
	nsPrefix = "qlab"
	nodes    = 3
	vip      = "10.99.0.200"
)

// port is the brokers' AMQP port: 5672, or their TLS port in the TLS lab.
var port = 5672

// access is how the clients and tools reach the brokers: plain AMQP,
// anonymously (the default lab), or, in the TLS lab (-tls-ca), amqps and
// SASL PLAIN as a user.
type access struct {
	tls            *tls.Config // nil: plain AMQP
	caFile         string
	user, password string
}

// acc is the lab's access, from the flags.
var acc access

// toolBroker is a -b address of qpid-ha and qpid-config.
func (a access) toolBroker(host string) string {
	addr := fmt.Sprintf("%s:%d", host, port)
	if a.tls != nil {
		addr = "ssl:" + addr
	}
	if a.user != "" {
		addr = a.user + "/" + a.password + "@" + addr
	}
	return addr
}

// toolArgs are the tools' TLS options.
func (a access) toolArgs() []string {
	if a.tls == nil {
		return nil
	}
	return []string{"--ssl-ca-file", a.caFile}
}

// clientURL is an AMQP URL of host for the go clients.
func (a access) clientURL(host string) string {
	if a.tls != nil {
		return fmt.Sprintf("amqps://%s:%d", host, port)
	}
	return fmt.Sprintf("amqp://%s:%d", host, port)
}

func nodeIP(n int) string     { return fmt.Sprintf("10.99.0.%d", n) }
func nodeNS(n int) string     { return fmt.Sprintf("%s-n%d", nsPrefix, n) }
func nodeVeth(n int) string   { return fmt.Sprintf("%sv%d", nsPrefix, n) }
func nodeName(n int) string   { return fmt.Sprintf("node%d", n) }
func switchNS() string        { return nsPrefix + "-sw" }
func allNodes() []int         { return []int{1, 2, 3} }
func nodeNum(s string) int    { n, _ := strconv.Atoi(strings.TrimPrefix(s, "node")); return n }
func isPrimary(s string) bool { return s == "active" || s == "recovering" }

// lab reaches the lab's nodes from the host's mount and PID namespaces (the
// driver itself runs in the client's network namespace).
type lab struct {
	state  string // QPIDLAB_STATE
	labSh  string
	qpidHA string
	logf   func(format string, args ...any)
}

func (l *lab) nodeDir(n int) string { return filepath.Join(l.state, fmt.Sprintf("n%d", n)) }

// initPID is the host PID of node n's namespace init, if it runs.
func (l *lab) initPID(n int) (int, bool) {
	data, err := os.ReadFile(filepath.Join(l.nodeDir(n), "init.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), fmt.Sprintf("lab.sh node-init %d", n)) {
		return 0, false
	}
	if procState(pid) == "Z" {
		return 0, false
	}
	return pid, true
}

func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "State:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// inNode runs a command in node n's namespaces.
func (l *lab) inNode(ctx context.Context, n int, args ...string) ([]byte, error) {
	pid, ok := l.initPID(n)
	if !ok {
		return nil, fmt.Errorf("%s is down", nodeName(n))
	}
	a := append([]string{"-t", strconv.Itoa(pid), "-n", "-m", "-u", "-i", "-p", "--wd=/", "--"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", a...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %s: %v: %s", nodeName(n), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// liveNodes are the nodes whose init runs.
func (l *lab) liveNodes() []int {
	var live []int
	for _, n := range allNodes() {
		if _, ok := l.initPID(n); ok {
			live = append(live, n)
		}
	}
	return live
}

// pcs runs a pcs (or other cluster) command on a live node, preferring
// one that is not avoid.
func (l *lab) onAnyNode(ctx context.Context, avoid int, args ...string) ([]byte, error) {
	live := l.liveNodes()
	slices.SortFunc(live, func(a, b int) int {
		if (a == avoid) != (b == avoid) {
			if a == avoid {
				return 1
			}
			return -1
		}
		return a - b
	})
	if len(live) == 0 {
		return nil, errors.New("no node is up")
	}
	return l.inNode(ctx, live[0], args...)
}

// helper sends one request to qpidlab-hostd, as the fence agent does.
func (l *lab) helper(action string, n int) error {
	c, err := net.DialTimeout("unix", filepath.Join(l.state, "fence.sock"), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := fmt.Fprintf(c, "%s %s\n", action, nodeName(n)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "ok" && line != "on" && line != "off" {
		return fmt.Errorf("helper: %s %s: %s", action, nodeName(n), line)
	}
	return nil
}

// brokerStatus asks every broker its HA status (qpid-ha status, from the
// client's network); a broker that does not answer is "".
func (l *lab) brokerStatus(ctx context.Context) map[int]string {
	res := map[int]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range allNodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			args := append([]string{"status", "-b", acc.toolBroker(nodeIP(n)), "--timeout", "2"}, acc.toolArgs()...)
			cmd := exec.CommandContext(ctx, l.qpidHA, args...)
			cmd.WaitDelay = time.Second
			out, err := cmd.Output()
			st := ""
			if err == nil {
				st = strings.TrimSpace(string(out))
			}
			mu.Lock()
			res[n] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return res
}

// vipHolders are the nodes whose network namespace has the VIP.
func (l *lab) vipHolders(ctx context.Context) []int {
	var holders []int
	for _, n := range allNodes() {
		out, err := exec.CommandContext(ctx, "ip", "-n", nodeNS(n), "-4", "-o", "addr", "show", "dev", "eth0").Output()
		if err == nil && strings.Contains(string(out), " "+vip+"/") {
			holders = append(holders, n)
		}
	}
	return holders
}

// crmView is what crm_mon says.
type crmView struct {
	Quorum   bool
	Online   []int
	Promoted []int
	Started  map[int]bool // a qpidd instance runs there (either role)
	VIPOn    []int
	From     int // the node asked
}

type crmMon struct {
	Summary struct {
		DC struct {
			Present string `xml:"present,attr"`
			Quorum  string `xml:"with_quorum,attr"`
		} `xml:"current_dc"`
	} `xml:"summary"`
	Nodes []struct {
		Name   string `xml:"name,attr"`
		Online string `xml:"online,attr"`
	} `xml:"nodes>node"`
	Clones []struct {
		ID        string        `xml:"id,attr"`
		Resources []crmResource `xml:"resource"`
	} `xml:"resources>clone"`
	Resources []crmResource `xml:"resources>resource"`
}

type crmResource struct {
	ID    string `xml:"id,attr"`
	Role  string `xml:"role,attr"`
	Nodes []struct {
		Name string `xml:"name,attr"`
	} `xml:"node"`
}

// crm reads crm_mon on a live node (preferring one that is not avoid).
func (l *lab) crm(ctx context.Context, avoid int) (*crmView, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := l.onAnyNode(ctx, avoid, "crm_mon", "-1", "--output-as=xml")
	if err != nil {
		return nil, err
	}
	var m crmMon
	if err := xml.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("crm_mon: %v", err)
	}
	v := &crmView{Quorum: m.Summary.DC.Present == "true" && m.Summary.DC.Quorum == "true", Started: map[int]bool{}}
	for _, n := range m.Nodes {
		if n.Online == "true" {
			v.Online = append(v.Online, nodeNum(n.Name))
		}
	}
	for _, c := range m.Clones {
		if c.ID != "qpidd-clone" {
			continue
		}
		for _, r := range c.Resources {
			for _, n := range r.Nodes {
				switch r.Role {
				case "Promoted", "Master":
					v.Promoted = append(v.Promoted, nodeNum(n.Name))
					v.Started[nodeNum(n.Name)] = true
				case "Unpromoted", "Slave", "Started":
					v.Started[nodeNum(n.Name)] = true
				}
			}
		}
	}
	for _, r := range m.Resources {
		if (r.ID == "vip" || r.ID == "qpidd-vip") && r.Role == "Started" {
			for _, n := range r.Nodes {
				v.VIPOn = append(v.VIPOn, nodeNum(n.Name))
			}
		}
	}
	return v, nil
}

// view is the whole lab at one moment.
type view struct {
	Live   []int
	Status map[int]string
	VIP    []int
	CRM    *crmView
	CRMErr error
}

func (l *lab) look(ctx context.Context) *view {
	v := &view{Live: l.liveNodes()}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); v.Status = l.brokerStatus(ctx) }()
	go func() { defer wg.Done(); v.CRM, v.CRMErr = l.crm(ctx, 0) }()
	wg.Wait()
	v.VIP = l.vipHolders(ctx)
	return v
}

// primaries are the brokers that say they are primary.
func (v *view) primaries() []int {
	var p []int
	for _, n := range allNodes() {
		if isPrimary(v.Status[n]) {
			p = append(p, n)
		}
	}
	return p
}

func (v *view) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "live %v; brokers", v.Live)
	for _, n := range allNodes() {
		st := v.Status[n]
		if st == "" {
			st = "-"
		}
		fmt.Fprintf(&b, " %s=%s", nodeName(n), st)
	}
	fmt.Fprintf(&b, "; VIP on %v", v.VIP)
	if v.CRM != nil {
		fmt.Fprintf(&b, "; crm: quorum=%v online=%v promoted=%v vip=%v", v.CRM.Quorum, v.CRM.Online, v.CRM.Promoted, v.CRM.VIPOn)
	} else {
		fmt.Fprintf(&b, "; crm: %v", v.CRMErr)
	}
	return b.String()
}

// healthy: every node up and online with quorum, exactly one primary
// (active) and every other broker ready, the VIP on the primary only, and
// Pacemaker agreeing. want is how many nodes must be up (3, or fewer while
// some are deliberately down).
func (v *view) healthy(want int) (int, error) {
	p := v.primaries()
	switch {
	case len(v.Live) != want:
		return 0, fmt.Errorf("%d nodes up, want %d", len(v.Live), want)
	case v.CRM == nil:
		return 0, fmt.Errorf("crm_mon: %v", v.CRMErr)
	case !v.CRM.Quorum || len(v.CRM.Online) != want:
		return 0, fmt.Errorf("crm: quorum %v, online %v", v.CRM.Quorum, v.CRM.Online)
	case len(p) != 1:
		return 0, fmt.Errorf("%d primaries", len(p))
	case v.Status[p[0]] != "active":
		return 0, fmt.Errorf("the primary is %s", v.Status[p[0]])
	}
	for _, n := range v.Live {
		if n != p[0] && v.Status[n] != "ready" {
			return 0, fmt.Errorf("%s is %q", nodeName(n), v.Status[n])
		}
	}
	switch {
	case !slices.Equal(v.VIP, p):
		return 0, fmt.Errorf("VIP on %v, primary %s", v.VIP, nodeName(p[0]))
	case !slices.Equal(v.CRM.Promoted, p):
		return 0, fmt.Errorf("crm promoted %v, primary %s", v.CRM.Promoted, nodeName(p[0]))
	case !slices.Equal(v.CRM.VIPOn, p):
		return 0, fmt.Errorf("crm: VIP started on %v, primary %s", v.CRM.VIPOn, nodeName(p[0]))
	}
	return p[0], nil
}

// waitHealthy waits until the lab is healthy with want nodes up; it also
// fails at once if two brokers are primary at the same time.
func (l *lab) waitHealthy(ctx context.Context, want int, timeout time.Duration) (int, *view, error) {
	deadline := time.Now().Add(timeout)
	var last *view
	var lastErr error
	for {
		v := l.look(ctx)
		if p, err := v.healthy(want); err == nil {
			return p, v, nil
		} else {
			lastErr = err
		}
		last = v
		if len(v.primaries()) > 1 {
			return 0, v, fmt.Errorf("two primaries: %v", v)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, last, fmt.Errorf("not healthy within %v: %v (%v)", timeout, lastErr, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// brokerPID is the host PID of node n's broker (its pid file holds the PID
// in the node's PID namespace).
func (l *lab) brokerPID(n int) (int, error) {
	data, err := os.ReadFile(filepath.Join(l.nodeDir(n), "lib-qpidd", "qpidd.ocf.pid"))
	if err != nil {
		return 0, err
	}
	nspid := strings.TrimSpace(string(data))
	ipid, ok := l.initPID(n)
	if !ok {
		return 0, fmt.Errorf("%s is down", nodeName(n))
	}
	pidns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", ipid))
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != pidns {
			continue
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "NSpid:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 && f[len(f)-1] == nspid {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%s: no process %s in the node", nodeName(n), nspid)
}

// waitGone waits until a process has exited.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if st := procState(pid); st == "" || st == "Z" {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// marker appends a KILLED/STOPPED line for the overlap check.
func (l *lab) marker(kind string, n int, why string) {
	line := fmt.Sprintf("%s broker=%s mono=%d by=%s\n", kind, nodeName(n), monotonic(), why)
	f, err := os.OpenFile(filepath.Join(l.state, "markers.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		l.logf("marker: %v", err)
		return
	}
	_, _ = f.WriteString(line)
	f.Close()
}

func monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// position is a broker's persisted replication position.
type position struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

func (p position) less(q position) bool {
	return p.Epoch < q.Epoch || (p.Epoch == q.Epoch && p.Seq < q.Seq)
}

// positions reads every node's ha-state.json (as the agent does).
func (l *lab) positions() map[int]position {
	res := map[int]position{}
	for _, n := range allNodes() {
		data, err := os.ReadFile(filepath.Join(l.nodeDir(n), "lib-qpidd", "ha-state.json"))
		if err != nil {
			continue
		}
		var st struct {
			Position position `json:"position"`
		}
		if json.Unmarshal(data, &st) == nil {
			res[n] = st.Position
		}
	}
	return res
}

// brokerLog is node n's broker log on the host.
func (l *lab) brokerLog(n int) string {
	return filepath.Join(l.nodeDir(n), "log", "qpidd", "qpidd.log")
}

func execOut(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}
