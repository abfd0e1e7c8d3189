// Package options checks qpidd's option handling end to end: the binary
// with real configuration files and environment variables.
package options

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// A qpidd.conf as users of the original have them, obsolete options and all.
const originalConf = `# /etc/qpid/qpidd.conf of a qpid-cpp 1.36 installation
load-module=/usr/lib64/qpid/daemon/ha.so
mgmt-enable=yes
log-enable=info+
log-to-syslog=yes
worker-threads=8
auth=no
queue-patterns=.*
max-connections=1000
`

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOriginalQpiddConfIsAcceptedWithWarnings(t *testing.T) {
	conf := write(t, "qpidd.conf", originalConf)
	b := qpiddtest.Start(t, "--config", conf)
	// One warning per obsolete option; the options in force (auth,
	// queue-patterns, max-connections) do what they do, shown elsewhere.
	log := b.Log()
	for _, opt := range []string{"load-module", "mgmt-enable", "log-enable", "log-to-syslog", "worker-threads"} {
		n := 0
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "level=warning") && strings.Contains(line, `option \"`+opt+`\"`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings for obsolete option %s, want 1:\n%s", n, opt, log)
		}
	}
}

// run starts qpidd expecting it to fail before listening.
func run(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(qpiddtest.Bin(t, "qpidd"), append(args, "--port", "0", "--data-dir", t.TempDir())...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestBadOptionsFailBeforeListening(t *testing.T) {
	bad := write(t, "bad.conf", "auth=no\n# comment\nha-clster=yes\n")
	badValue := write(t, "value.conf", "auth=no\nha-backup-timeout=ten seconds\n")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown option in file", nil, []string{"--config", bad}, bad + `:3: unknown option "ha-clster"`},
		{"bad value in file", nil, []string{"--config", badValue}, badValue + ":2: invalid value"},
		{"bad value in environment", []string{"QPID_LINK_HEARTBEAT_INTERVAL=soon"}, []string{"--config", ""}, "QPID_LINK_HEARTBEAT_INTERVAL: invalid value"},
		{"unknown option on the command line", nil, []string{"--config", "", "--no-such-option"}, "no-such-option"},
		{"bad replication level", nil, []string{"--config", "", "--ha-replicate", "everything"}, "ha-replicate"},
		{"missing named config file", nil, []string{"--config", "/nonexistent/qpidd.conf"}, "/nonexistent/qpidd.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, tc.env, tc.args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s", code, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "listening on port") {
				t.Fatalf("listened despite the error:\n%s", out)
			}
		})
	}
}

// Command line beats QPID_<OPTION>, which beats the file.
func TestPrecedence(t *testing.T) {
	conf := write(t, "qpidd.conf", "auth=no\nqueue-patterns=from-file\nlog-level=debug\n")
	t.Setenv("QPID_QUEUE_PATTERNS", "from-env")
	b := qpiddtest.Start(t, "--config", conf, "--log-level", "info")
	// log-level: command line info beats file debug (no debug lines);
	// queue-patterns: the environment's value beats the file's.
	if strings.Contains(b.Log(), "level=debug") {
		t.Fatalf("the file's log-level won over the command line:\n%s", b.Log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, b.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.NewSender(ctx, "from-env", nil); err != nil {
		t.Fatalf("the environment's queue-patterns is not in force: %v", err)
	}
	if _, err := sess.NewSender(ctx, "from-file", nil); err == nil {
		t.Fatal("the file's queue-patterns won over the environment")
	}
}
