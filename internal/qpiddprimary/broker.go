package qpiddprimary

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qpidha/qpidha/internal/daemon"
)

// Running returns the pid of the broker named by the pid file, if that
// process runs and is the broker program (a pid reused by another program
// does not count; a process whose program cannot be read, another user's,
// does). stale is true when the pid file exists but names no running
// broker.
func (s *Settings) Running() (pid int, stale bool) {
	pid, err := daemon.ReadPidFile(s.PidFile)
	if err != nil {
		_, statErr := os.Stat(s.PidFile)
		return 0, statErr == nil
	}
	if !daemon.Alive(pid) || !s.isBroker(pid) {
		return 0, true
	}
	return pid, false
}

// isBroker reports whether process pid runs QPID_BIN.
func (s *Settings) isBroker(pid int) bool {
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return true // not ours to read: trust the pid file
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe == s.Bin {
		return true
	}
	bin, err := filepath.EvalSymlinks(s.Bin)
	return err == nil && exe == bin
}

// BrokerArgs is the broker's command line (without --daemon), as the init
// script builds it: the pid file comes last, the scripts rely on it.
func (s *Settings) BrokerArgs() []string {
	args := []string{"--config", s.Config, "--data-dir", s.DataDir}
	args = append(args, s.Options...)
	return append(args, "--pidfile", s.PidFile)
}

// exitError is a failure with its LSB exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

// exitCode is the LSB exit code of an error: its own, else 1.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return ExitFailure
}

// runAs is the user the broker runs as: nil for the current one.
func (s *Settings) runAs() (*syscall.Credential, error) {
	if s.User == "" {
		return nil, nil
	}
	me, err := user.Current()
	if err == nil && me.Username == s.User {
		return nil, nil
	}
	u, err := user.Lookup(s.User)
	if err != nil {
		name := "the current user"
		if me != nil {
			name = me.Username
		}
		return nil, fail(ExitNotConfigured, "user %s does not exist (QPID_USER): create it, or set QPID_USER= to run the broker as %s", s.User, name)
	}
	if os.Geteuid() != 0 {
		return nil, fail(ExitPrivilege, "only root may start the broker as %s", s.User)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fail(ExitNotConfigured, "user %s has no numeric uid and gid", s.User)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// StartBroker runs `QPID_BIN --daemon ...` as QPID_USER, the way the init
// script does, and returns the broker's pid once it serves.
func (s *Settings) StartBroker(environ []string, stdout, stderr io.Writer) (int, error) {
	if st, err := os.Stat(s.Bin); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return 0, fail(ExitNotInstalled, "%s is not installed (QPID_BIN)", s.Bin)
	}
	if s.Config != "" {
		if f, err := os.Open(s.Config); err != nil {
			return 0, fail(ExitNotConfigured, "cannot read the broker's configuration %s (QPID_CONFIG): %s", s.Config, daemon.Reason(err))
		} else {
			f.Close()
		}
	}
	cred, err := s.runAs()
	if err != nil {
		return 0, err
	}
	for _, dir := range []string{filepath.Dir(s.PidFile), s.DataDir} {
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return 0, fail(ExitFailure, "cannot create %s: %s", dir, daemon.Reason(err))
		}
		if cred != nil {
			if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return 0, fail(ExitFailure, "cannot give %s to %s: %s", dir, s.User, daemon.Reason(err))
			}
		}
	}
	cmd := exec.Command(s.Bin, append([]string{"--daemon"}, s.BrokerArgs()...)...)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = 5 * time.Second // the broker detaches from our pipes once it serves
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Run(); err != nil {
		return 0, fail(ExitFailure, "the broker did not start (%v)", err)
	}
	pid, _ := s.Running()
	if pid == 0 {
		return 0, fail(ExitFailure, "the broker started but its pid file %s names no running broker", s.PidFile)
	}
	return pid, nil
}

// StopBroker stops the broker: SIGINT, its clean shutdown (qpidd --quit),
// with SIGCONT in case it was stopped; after QPID_STOP_TIMEOUT, SIGKILL.
// It removes the pid file if the broker could not.
func (s *Settings) StopBroker(pid int, stderr io.Writer) error {
	_ = syscall.Kill(pid, syscall.SIGINT)
	_ = syscall.Kill(pid, syscall.SIGCONT)
	if !waitGone(pid, s.StopTimeout) {
		fmt.Fprintf(stderr, "%s: qpidd (pid %d) did not exit within %v: killing it\n", prog, pid, s.StopTimeout)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(pid, 5*time.Second) {
			return fail(ExitFailure, "cannot stop process %d", pid)
		}
	}
	_ = daemon.RemovePidFile(s.PidFile, pid)
	return nil
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for daemon.Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
