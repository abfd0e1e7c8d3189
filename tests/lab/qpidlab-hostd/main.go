// Command qpidlab-hostd is the namespace lab's host-side helper (as
// fence_virtd is fence_virt's): it owns the lab's nodes and powers them on
// and off for the fence agent fence_qpidlab, which runs inside a node and
// cannot see the other nodes' processes.
//
// It listens on a unix socket (in a directory every node sees) for one
// request per connection, a line "ACTION NODE", and answers one line:
//
//	on NODE      boots the node (tests/lab/lab.sh start-node): "ok"
//	off NODE     takes the node's link down and kills every process of it
//	             (SIGKILL to its PID namespace's init): "ok"
//	reboot NODE  off, then (after -boot-delay, in the background, as a
//	             machine takes a while to boot) on: "ok" once it is off
//	status NODE  "on" or "off"
//
// or "error: ..." on failure. Requests are served one at a time. When it
// kills a running node it appends a marker line
//
//	KILLED broker=NODE mono=NS by=ACTION
//
// to the markers file (-markers), NS being CLOCK_MONOTONIC read once the
// node is dead: the failover checker's overlap check ends the node's
// broker's time as primary there.
//
// It is the subreaper of the nodes' processes (they are started through it
// and outlive lab.sh), and reaps them when they die.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var nodeName = regexp.MustCompile(`^node[1-9]$`)

type helper struct {
	lab       string // path of lab.sh
	state     string // the lab's state directory
	markers   string
	bootDelay time.Duration
	mu        sync.Mutex // one request at a time; no reaping while a command runs
}

func main() {
	state := flag.String("state", "/var/tmp/qpidlab", "the lab's state directory")
	lab := flag.String("lab", "tests/lab/lab.sh", "the lab script")
	bootDelay := flag.Duration("boot-delay", 8*time.Second, "how long a rebooted node takes to come back")
	flag.Parse()
	sock := new(string)
	*sock = filepath.Join(*state, "fence.sock")
	log.SetFlags(log.Ldate | log.Ltime | log.Lmicroseconds)

	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		log.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	_ = os.Remove(*sock)
	ln, err := net.Listen("unix", *sock)
	if err != nil {
		log.Fatal(err)
	}
	h := &helper{lab: *lab, state: *state, markers: filepath.Join(*state, "markers.log"), bootDelay: *bootDelay}
	go h.reap()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sigs
		log.Printf("%v: exiting", s)
		ln.Close()
		os.Remove(*sock)
		os.Exit(0)
	}()
	log.Printf("listening on %s (pid %d)", *sock, os.Getpid())
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go h.serve(c)
	}
}

// reap collects the nodes' dead processes (orphans of lab.sh that this
// process adopted as their subreaper).
func (h *helper) reap() {
	for range time.Tick(500 * time.Millisecond) {
		h.mu.Lock()
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
		}
		h.mu.Unlock()
	}
}

func (h *helper) serve(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	f := strings.Fields(line)
	answer := "error: want ACTION NODE"
	if len(f) == 2 {
		answer = h.do(f[0], f[1])
	}
	fmt.Fprintln(c, answer)
}

func (h *helper) do(action, node string) string {
	if !nodeName.MatchString(node) {
		return "error: no such node " + node
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t0 := time.Now()
	var answer string
	switch action {
	case "status":
		answer = "off"
		if _, ok := h.initPID(node); ok {
			answer = "on"
		}
	case "on":
		answer = h.ok(h.run("start-node", node))
	case "off":
		answer = h.off(node, action)
	case "reboot":
		// Fenced once it is off; it boots a while later (an instant
		// reboot would have Pacemaker probe the returning node in the
		// middle of the recovery, which no real machine does).
		if answer = h.off(node, action); answer == "ok" {
			time.AfterFunc(h.bootDelay, func() {
				h.mu.Lock()
				defer h.mu.Unlock()
				if _, on := h.initPID(node); on {
					return
				}
				log.Printf("boot %s (rebooted %v ago): %s", node, h.bootDelay, h.ok(h.run("start-node", node)))
			})
		}
	default:
		answer = "error: unknown action " + action
	}
	log.Printf("%s %s: %s (%v)", action, node, answer, time.Since(t0).Round(time.Millisecond))
	return answer
}

// off takes the node's link down and kills its namespace init (and so
// every process of the node); a node that was running gets a KILLED
// marker. It is lab.sh kill-node, done here to be fast.
func (h *helper) off(node, action string) string {
	n := strings.TrimPrefix(node, "node")
	veth := "qlabv" + n
	if out, err := exec.Command("ip", "-n", "qlab-sw", "link", "set", veth, "down").CombinedOutput(); err != nil {
		log.Printf("ip link set %s down: %v: %s", veth, err, out)
	}
	pid, ok := h.initPID(node)
	if !ok {
		return "ok"
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return "error: kill: " + err.Error()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, alive := h.initPID(node); !alive {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("error: %s (init %d) did not die", node, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mono := monotonic()
	if err := appendLine(h.markers, fmt.Sprintf("KILLED broker=%s mono=%d by=%s", node, mono, action)); err != nil {
		log.Printf("marker: %v", err)
	}
	return "ok"
}

// initPID is the host PID of the node's namespace init, if it runs.
func (h *helper) initPID(node string) (int, bool) {
	n := strings.TrimPrefix(node, "node")
	data, err := os.ReadFile(filepath.Join(h.state, "n"+n, "init.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), "lab.sh node-init "+n) {
		return 0, false
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil || strings.Contains(string(status), "\nState:\tZ") {
		return 0, false
	}
	return pid, true
}

func (h *helper) ok(_ string, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

// run runs lab.sh SUBCOMMAND NODE and returns its standard output.
func (h *helper) run(sub, node string) (string, error) {
	cmd := exec.Command(h.lab, sub, node)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		log.Printf("lab.sh %s %s: %s", sub, node, s)
	}
	if err != nil {
		return "", fmt.Errorf("lab.sh %s %s: %v", sub, node, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
