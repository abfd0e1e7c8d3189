package checker

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// protonProc is a sender.py or receiver.py process; its stdout lines are
// the events it reports.
type protonProc struct {
	cfg   *Config
	tr    *Tracker
	name  string
	role  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // closed to stop the client
	ended *doneChan

	mu     sync.Mutex
	stderr strings.Builder
}

func startProton(cfg *Config, tr *Tracker, role string, id int) (*protonProc, error) {
	args := []string{filepath.Join(cfg.ClientsDir, role+".py"),
		"-a", cfg.Queue,
		"--run", cfg.RunID,
		"--heartbeat", seconds(cfg.Heartbeat),
		"--backoff-min", seconds(cfg.BackoffMin),
		"--backoff-max", seconds(cfg.BackoffMax),
		"--reconnect", cfg.ProtonReconnect,
	}
	for _, u := range cfg.URLs {
		args = append(args, "-u", u)
	}
	if role == "sender" {
		args = append(args, "--id", strconv.Itoa(id),
			"--messages", strconv.Itoa(cfg.Messages),
			"--rate", strconv.FormatFloat(cfg.Rate, 'g', -1, 64),
			"--window", strconv.Itoa(cfg.Window),
			"--stop-timeout", seconds(cfg.StopTimeout))
	} else {
		args = append(args, "--credit", strconv.Itoa(cfg.Credit),
			"--rate", strconv.FormatFloat(cfg.ReceiveRate, 'g', -1, 64))
	}
	cmd := exec.Command(cfg.Python, args...)
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:"+os.Getenv("PATH"), "PYTHONUNBUFFERED=1")
	p := &protonProc{cfg: cfg, tr: tr, name: fmt.Sprintf("%s %d", role, id), role: role, cmd: cmd, ended: newDone()}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", p.name, err)
	}
	go p.run(stdout)
	return p, nil
}

func seconds(d interface{ Seconds() float64 }) string {
	return strconv.FormatFloat(d.Seconds(), 'g', -1, 64)
}

func (p *protonProc) run(stdout io.Reader) {
	defer p.ended.close()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		p.handle(sc.Text())
	}
	err := p.cmd.Wait()
	p.mu.Lock()
	stderr := strings.TrimSpace(p.stderr.String())
	p.mu.Unlock()
	if err != nil {
		p.tr.Note("%s: %v: %s", p.name, err, lastLines(stderr, 5))
	} else if stderr != "" {
		p.cfg.logf("%s stderr: %s", p.name, lastLines(stderr, 5))
	}
}

// handle records one line of a client.
func (p *protonProc) handle(line string) {
	ev, err := parseClientLine(line)
	if err != nil {
		p.tr.Note("%s: %v", p.name, err)
		return
	}
	switch ev.kind {
	case "confirmed":
		p.tr.Confirmed(ev.id)
	case "received":
		p.tr.Received(ev.id)
	case "retry":
		p.tr.Retry(ev.id)
	case "foreign":
		p.tr.Foreign()
	case "disconnected":
		p.tr.Disconnected(p.role)
		p.cfg.logf("%s: disconnected: %s", p.name, ev.text)
	case "done":
		if p.role == "sender" {
			p.tr.Issued(ev.id.Sender, ev.id.Seq)
		}
	}
}

// clientEvent is a line of sender.py or receiver.py.
type clientEvent struct {
	kind string
	id   ID     // confirmed, received, retry; done of a sender: {sender, issued}
	text string // the rest of the line
}

// parseClientLine reads "confirmed S N", "received S N", "retry S N WHY",
// "foreign ID", "disconnected CONDITION", "done S ISSUED CONFIRMED" (a
// sender) or "done RECEIVED" (a receiver).
func parseClientLine(line string) (clientEvent, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return clientEvent{}, fmt.Errorf("empty line")
	}
	ev := clientEvent{kind: f[0], text: strings.Join(f[1:], " ")}
	numbers := func(n int) error {
		if len(f) < 1+n {
			return fmt.Errorf("%q: want %d numbers", line, n)
		}
		v := make([]int, n)
		for i := range v {
			x, err := strconv.Atoi(f[1+i])
			if err != nil {
				return fmt.Errorf("%q: %v", line, err)
			}
			v[i] = x
		}
		ev.id = ID{v[0], v[1]}
		return nil
	}
	switch ev.kind {
	case "confirmed", "received", "retry":
		return ev, numbers(2)
	case "done":
		if len(f) == 4 {
			return ev, numbers(2)
		}
		return ev, nil
	case "foreign", "disconnected":
		return ev, nil
	}
	return ev, fmt.Errorf("unexpected output %q", line)
}

func (p *protonProc) stop()       { _ = p.stdin.Close() }
func (p *protonProc) unthrottle() { _, _ = io.WriteString(p.stdin, "unthrottle\n") }
func (p *protonProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.ended.wait()
}
func (p *protonProc) done() <-chan struct{} { return p.ended.wait() }

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
