package qpiddprimary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/qpidha/qpidha/internal/daemon"
)

// skippedSuffixes are names of files hooks directories collect that are
// not hooks: package manager leftovers and editor backups.
var skippedSuffixes = []string{"~", ".rpmsave", ".rpmnew", ".rpmorig", ".dpkg-old", ".dpkg-new", ".dpkg-dist",
	".dpkg-tmp", ".dpkg-bak", ".ucf-old", ".ucf-new", ".ucf-dist", ".swp", ".bak", ".orig", ".disabled"}

// Hooks lists the hooks of a directory, in the lexical order of their
// names: every executable regular file (or link to one) except hidden
// files and the names of skippedSuffixes. A missing directory has none.
func Hooks(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(dir) // sorted by name
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the hooks directory %s (QPID_PRIMARY_HOOKS): %s", dir, daemon.Reason(err))
	}
	var hooks []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || hasAnySuffix(name, skippedSuffixes) {
			continue
		}
		path := filepath.Join(dir, name)
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() || syscall.Access(path, 1 /* X_OK */) != nil {
			continue
		}
		hooks = append(hooks, path)
	}
	return hooks, nil
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// RunHooks runs the hooks one after the other, with the environment env,
// standard input on /dev/null and their output on ours; each is killed
// (with every process of its group) after timeout (0: no limit). The first
// that fails stops the rest: the error names it.
func RunHooks(hooks []string, env []string, timeout time.Duration, stdout, stderr io.Writer) error {
	for _, h := range hooks {
		if err := runHook(h, env, timeout, stdout, stderr); err != nil {
			return err
		}
	}
	return nil
}

func runHook(path string, environ []string, timeout time.Duration, stdout, stderr io.Writer) error {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = environ
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second // a background child holding our output must not hold us
	err := cmd.Run()
	switch {
	case err == nil:
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("hook %s did not finish within %v: killed", path, timeout)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("hook %s failed (%s)", path, ee.ProcessState)
	}
	return fmt.Errorf("hook %s failed: %v", path, err)
}

// withEnv sets variables in an environment list, replacing earlier values.
func withEnv(environ []string, kv ...string) []string {
	out := make([]string, 0, len(environ)+len(kv))
	for _, e := range environ {
		name, _, _ := strings.Cut(e, "=")
		replaced := false
		for _, n := range kv {
			if strings.HasPrefix(n, name+"=") {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, e)
		}
	}
	return append(out, kv...)
}
