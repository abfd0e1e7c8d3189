package daemon

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a helper process (a daemon child,
// or a process to stop) instead of running tests.
const helperEnv = "QPIDHA_DAEMON_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	switch mode {
	case "sleep": // a process to stop
		time.Sleep(time.Minute)
		return 0
	case "ignore-int": // a process SIGINT does not stop
		signal.Ignore(syscall.SIGINT)
		fmt.Println("ignoring")
		time.Sleep(time.Minute)
		return 0
	}
	c, err := ChildFromEnv(os.Environ())
	if err != nil || c == nil {
		fmt.Fprintf(os.Stderr, "helper %s: ChildFromEnv: %v, %v\n", mode, c, err)
		return 2
	}
	if os.Getenv(ChildEnv) != "" {
		fmt.Fprintf(os.Stderr, "helper: %s still set\n", ChildEnv)
		return 2
	}
	switch mode {
	case "ready":
		fmt.Fprintln(os.Stderr, "starting up")
		if err := c.Ready(4242); err != nil {
			return 2
		}
		fmt.Fprintln(os.Stderr, "after ready: must not reach the parent")
		time.Sleep(time.Minute)
	case "fail":
		c.Fail("Cannot lock /x/lock: Resource temporarily unavailable")
		return 1
	case "crash":
		fmt.Fprintln(os.Stderr, "boom")
		return 3
	case "hang":
		time.Sleep(time.Minute)
	case "garbage":
		c.send("hello\n")
		return 0
	}
	return 0
}

// startHelper runs the test binary in a helper mode and kills it when the
// test ends.
func startHelper(t *testing.T, mode string) *os.Process {
	t.Helper()
	p, err := os.StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^$"}, &os.ProcAttr{
		Env:   append(os.Environ(), helperEnv+"="+mode),
		Files: []*os.File{nil, nil, os.Stderr},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
		_, _ = p.Wait()
	})
	return p
}
