package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ChildEnv marks the re-executed daemon child; its value is the number of
// the file descriptor of the status pipe to the parent. It is internal to
// Spawn and the child, which unsets it.
const ChildEnv = "QPIDHA_DAEMON_PIPE"

// childFD is the status pipe's descriptor in the child: the first of
// exec.Cmd.ExtraFiles.
const childFD = 3

// SpawnConfig says how to start a daemon child.
type SpawnConfig struct {
	Path string   // the program: normally os.Executable()
	Args []string // its arguments, without the program name
	Env  []string // its environment; ChildEnv is added
	// Wait is the longest wait for the child to report (0: no limit); on
	// time-out the child is killed.
	Wait time.Duration
	// Stderr receives what the child writes to its standard error before it
	// is ready (normally nothing; a Go runtime crash would show there).
	Stderr io.Writer
}

// StartError is the failure of a daemon to start; the message is what the
// original printed: "Daemon startup failed: <reason>".
type StartError struct {
	Reason string
}

func (e *StartError) Error() string { return "Daemon startup failed: " + e.Reason }

// Spawn starts the daemon child in a new session, with standard input and
// output on /dev/null, and waits until it reports that it serves (it
// returns the child's port and pid) or that it failed (a *StartError with
// its reason), or exits, or Wait passes (the child is then killed).
func Spawn(cfg SpawnConfig) (port, pid int, err error) {
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return 0, 0, &StartError{Reason: "cannot create pipe: " + Reason(err)}
	}
	defer statusR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		statusW.Close()
		return 0, 0, &StartError{Reason: "cannot create pipe: " + Reason(err)}
	}
	defer errR.Close()

	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = append(withoutEnv(cfg.Env, ChildEnv), ChildEnv+"="+strconv.Itoa(childFD))
	cmd.ExtraFiles = []*os.File{statusW}
	cmd.Stderr = errW // stdin and stdout: /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	statusW.Close()
	errW.Close()
	if err != nil {
		return 0, 0, &StartError{Reason: "cannot start " + cfg.Path + ": " + Reason(err)}
	}
	pid = cmd.Process.Pid

	stderr := cfg.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(stderr, errR)
		close(copied)
	}()
	status := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(statusR) // the child writes one message and closes
		status <- string(b)
	}()
	var timeout <-chan time.Time
	if cfg.Wait > 0 {
		t := time.NewTimer(cfg.Wait)
		defer t.Stop()
		timeout = t.C
	}

	var msg string
	select {
	case msg = <-status:
	case <-timeout:
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		waitOrTimeout(copied, time.Second)
		return 0, pid, &StartError{Reason: fmt.Sprintf(
			"timed out after %v waiting for the daemon (pid %d) to serve; it was killed (if store recovery is in progress, use a longer --wait)",
			cfg.Wait, pid)}
	}

	kind, rest, _ := strings.Cut(strings.TrimRight(msg, "\n"), " ")
	switch kind {
	case "ready":
		port, err := strconv.Atoi(rest)
		if err == nil {
			// The child sent its standard error to /dev/null before this.
			waitOrTimeout(copied, 2*time.Second)
			_ = cmd.Process.Release()
			return port, pid, nil
		}
	case "error":
		exitWithin(cmd, 5*time.Second)
		waitOrTimeout(copied, time.Second)
		return 0, pid, &StartError{Reason: rest}
	}
	// The child closed the pipe without a message: it died.
	state := exitWithin(cmd, 5*time.Second)
	waitOrTimeout(copied, time.Second)
	if msg != "" {
		return 0, pid, &StartError{Reason: fmt.Sprintf("the daemon (pid %d) sent a bad message %q", pid, msg)}
	}
	return 0, pid, &StartError{Reason: fmt.Sprintf("the daemon (pid %d) exited before it was ready (%s)", pid, state)}
}

// exitWithin waits for the child to exit, killing it after d, and
// describes how it ended.
func exitWithin(cmd *exec.Cmd, d time.Duration) string {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(d):
		_ = cmd.Process.Kill()
		err = <-done
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		return ee.ProcessState.String()
	default:
		return err.Error()
	}
}

func waitOrTimeout(c <-chan struct{}, d time.Duration) {
	select {
	case <-c:
	case <-time.After(d):
	}
}

func withoutEnv(environ []string, name string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// Child is the daemon child's end of the status pipe.
type Child struct {
	f *os.File
}

// ChildFromEnv returns the daemon child's status pipe if environ marks this
// process as the child of Spawn, else nil. It unsets ChildEnv so that
// programs the broker runs do not inherit it.
func ChildFromEnv(environ []string) (*Child, error) {
	val, ok := "", false
	for _, kv := range environ {
		if v, found := strings.CutPrefix(kv, ChildEnv+"="); found {
			val, ok = v, true
		}
	}
	if !ok {
		return nil, nil
	}
	os.Unsetenv(ChildEnv)
	fd, err := strconv.Atoi(val)
	var st syscall.Stat_t
	if err == nil && fd > 2 {
		err = syscall.Fstat(fd, &st)
	}
	if err != nil || fd <= 2 || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil, fmt.Errorf("%s=%s is set, but that is no pipe (the variable is internal to qpidd --daemon: unset it)", ChildEnv, val)
	}
	syscall.CloseOnExec(fd)
	return &Child{f: os.NewFile(uintptr(fd), "daemon-status")}, nil
}

// Ready sends standard error to /dev/null (the parent stops listening to
// it) and tells the parent that the broker serves on port.
func (c *Child) Ready(port int) error {
	if err := detachStderr(); err != nil {
		c.Fail("cannot redirect standard error to /dev/null: " + Reason(err))
		return err
	}
	return c.send("ready " + strconv.Itoa(port) + "\n")
}

// Fail tells the parent why the broker could not start.
func (c *Child) Fail(reason string) error {
	return c.send("error " + reason + "\n")
}

func (c *Child) send(msg string) error {
	if c == nil || c.f == nil {
		return nil
	}
	_, err := c.f.WriteString(msg)
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	c.f = nil
	return err
}

func detachStderr() error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	return syscall.Dup3(int(null.Fd()), 2, 0)
}
