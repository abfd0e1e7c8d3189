package options

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// effects names, for every option in force, a test that shows what the
// option does: "<directory from the repository root>:<TestName>". The test
// must exist and mention the option in a string literal of its body
// ("--port", "port=5673", "QPID_PORT", or the bare name).
var effects = map[string]string{
	// Limits
	"max-connections":           "tests/limits:TestMaxConnections",
	"connection-limit-per-user": "tests/limits:TestConnectionLimitPerUser",
	"connection-limit-per-ip":   "tests/limits:TestConnectionLimitPerIP",
	"max-negotiate-time":        "tests/limits:TestMaxNegotiateTime",
	"max-queues-per-user":       "tests/limits:TestMaxQueuesPerUser",
	"queue-purge-interval":      "tests/limits:TestQueuePurgeInterval",
	"max-purge-batch":           "tests/limits:TestQueuePurgeInterval",
	"max-memory":                "tests/limits:TestMaxMemory",
	// TLS
	"listen-disable":                    "tests/security:TestTLSOnlyAndReload",
	"ssl-sasl-no-dict":                  "tests/security:TestTLSOnlyAndReload",
	"ssl-port":                          "tests/security:TestTLSStartErrors",
	"require-encryption":                "tests/security:TestTLSRefusals",
	"ssl-require-client-authentication": "tests/security:TestTLSRefusals",
	"ssl-cert-file":                     "tests/security:TestTLSRefusals",
	"ssl-key-file":                      "tests/security:TestTLSRefusals",
	"ssl-ca-file":                       "tests/security:TestTLSRefusals",
	// General
	"help":                          "tests/options:TestHelpAndVersion",
	"version":                       "tests/options:TestHelpAndVersion",
	"config":                        "tests/options:TestPrecedence",
	"data-dir":                      "tests/daemon:TestForegroundPidFileAndLock",
	"no-data-dir":                   "tests/store:TestNoStore",
	"port":                          "tests/options:TestPortAndInterface",
	"interface":                     "tests/options:TestPortAndInterface",
	"tcp-nodelay":                   "internal/amqpserver:TestTCPNoDelay",
	"session-max-unacked":           "internal/amqpserver:TestSessionMaxUnacked",
	"default-queue-limit":           "tests/options:TestDefaultQueueLimit",
	"default-flow-stop-threshold":   "tests/options:TestDefaultFlowThresholds",
	"default-flow-resume-threshold": "tests/options:TestDefaultFlowThresholds",
	"enable-timestamp":              "internal/amqpserver:TestEnableTimestamp",
	"queue":                         "tests/interop:TestQueueDeclaredByOption",
	"queue-patterns":                "tests/options:TestPrecedence",
	"topic-patterns":                "tests/interop:TestProtonHelloWorld",

	// Daemon
	"daemon":  "tests/daemon:TestDaemonLifecycle",
	"pid-dir": "tests/options:TestPidDir",
	"pidfile": "tests/daemon:TestDaemonKill",
	"wait":    "internal/qpidd:TestMainCheckQuitKill",
	"check":   "tests/daemon:TestDaemonLifecycle",
	"quit":    "tests/daemon:TestDaemonLifecycle",
	"kill":    "tests/daemon:TestDaemonKill",

	// Logging
	"log-level":      "tests/options:TestPrecedence",
	"log-to-stderr":  "internal/qpidd:TestLoggingForeground",
	"log-to-file":    "internal/qpidd:TestLoggingForeground",
	"log-to-journal": "internal/qpidd:TestLoggingJournalUnavailable",
	"trace":          "tests/options:TestTrace",

	// Security
	"auth":          "tests/security:TestAuthentication",
	"realm":         "tests/options:TestRealm",
	"auth-database": "tests/interop:TestPlainWithWrongPassword",
	"acl-file":      "tests/security:TestACLDenialClosesLinkAndIsLogged",

	// HA
	"ha-cluster":                "tests/options:TestLinkMaintenanceInterval",
	"ha-queue-replication":      "tests/ha:TestStandaloneQueueReplica",
	"ha-brokers-url":            "tests/options:TestLinkMaintenanceInterval",
	"ha-public-url":             "tests/options:TestHAPublicURL",
	"ha-replicate":              "tests/ha:TestReplicationAndFailover",
	"ha-username":               "tests/qpidha:TestAuthentication",
	"ha-password":               "tests/qpidha:TestAuthentication",
	"ha-mechanism":              "tests/qpidha:TestAuthentication",
	"ha-backup-timeout":         "tests/ha:TestRecoveringReleasesAfterBackupTimeout",
	"ha-flow-messages":          "tests/ha:TestCatchUpDefersDeletions",
	"ha-flow-bytes":             "internal/qpidd:TestHAFlowBytes",
	"ha-min-ready-backups":      "internal/ha/core:TestMinReadyBackups",
	"link-maintenance-interval": "tests/options:TestLinkMaintenanceInterval",
	"link-heartbeat-interval":   "tests/ha:TestHungBackupStallsAtMostTwoHeartbeats",
	"ha-backup-lag-timeout":     "internal/ha/core:TestLaggingBackupIsCut",

	// Store
	"store-dir":   "tests/store:TestStoreDirLocked",
	"truncate":    "tests/store:TestUnknownVersionRefused",
	"check-store": "tests/store:TestCheckStore",
}

// pending are options being made real on other branches (issue 15): each
// fails the walk until a test of its effect is named in effects.
var pending = []string{}

// Every option of qpidd is real or refused: in force and shown by a test,
// or obsolete (accepted with a warning, TestObsoleteOptionsWarn).
func TestEveryOptionIsRealOrObsolete(t *testing.T) {
	root := qpiddtest.Root()
	isPending := map[string]bool{}
	for _, o := range pending {
		isPending[o] = true
	}
	inTable := map[string]bool{}
	var tests testIndex
	for _, o := range config.Table() {
		inTable[o.Name] = true
		if o.Obsolete != "" {
			if effects[o.Name] != "" || isPending[o.Name] {
				t.Errorf("%s is obsolete: take it out of effects and pending", o.Name)
			}
			continue
		}
		where, ok := effects[o.Name]
		switch {
		case ok && isPending[o.Name]:
			t.Errorf("%s is both in effects and pending: take it out of pending", o.Name)
		case isPending[o.Name]:
			t.Errorf("no test shows what %s does yet", o.Name)
			continue
		case !ok:
			t.Errorf("option %s is neither obsolete nor shown by a test: name one in effects (tests mentioning it: %s)",
				o.Name, strings.Join(tests.mentioning(t, root, o.Name), ", "))
			continue
		}
		dir, name, ok := strings.Cut(where, ":")
		if !ok {
			t.Errorf("effects[%q] = %q: want <dir>:<TestName>", o.Name, where)
			continue
		}
		body := tests.find(t, root, dir, name)
		switch {
		case body == nil:
			t.Errorf("%s: no test %s in %s (tests mentioning it: %s)", o.Name, name, dir,
				strings.Join(tests.mentioning(t, root, o.Name), ", "))
		case !mentions(body, o.Name):
			t.Errorf("%s: %s (%s) does not mention the option in a string literal (tests that do: %s)", o.Name, name, dir,
				strings.Join(tests.mentioning(t, root, o.Name), ", "))
		}
	}
	for name := range effects {
		if !inTable[name] {
			t.Errorf("effects names %s, which is not an option", name)
		}
	}
}

// mentions reports whether a string literal in n names the option: as a
// word of the literal ("--name", "name=value", "name") or its QPID_
// environment variable.
func mentions(n ast.Node, option string) bool {
	found := false
	ast.Inspect(n, func(n ast.Node) bool {
		if found {
			return false
		}
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		if strings.Contains(s, config.EnvName(option)) {
			found = true
			return false
		}
		words := strings.FieldsFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
		})
		for _, w := range words {
			if strings.TrimLeft(w, "-") == option {
				found = true
				return false
			}
		}
		return true
	})
	return found
}

// testIndex is the Test functions of the repository's _test.go files, by
// directory, parsed once.
type testIndex struct {
	once  sync.Once
	byDir map[string]map[string]*ast.FuncDecl
}

func (x *testIndex) load(t *testing.T, root string) {
	x.once.Do(func() {
		x.byDir = map[string]map[string]*ast.FuncDecl{}
		fset := token.NewFileSet()
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			rel = filepath.ToSlash(rel)
			if x.byDir[rel] == nil {
				x.byDir[rel] = map[string]*ast.FuncDecl{}
			}
			for _, decl := range f.Decls {
				if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
					x.byDir[rel][fn.Name.Name] = fn
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// find returns the body of test name in dir, nil if there is none.
func (x *testIndex) find(t *testing.T, root, dir, name string) *ast.BlockStmt {
	x.load(t, root)
	if fn := x.byDir[dir][name]; fn != nil {
		return fn.Body
	}
	return nil
}

// mentioning lists the tests whose body mentions option: candidates for
// effects.
func (x *testIndex) mentioning(t *testing.T, root, option string) []string {
	x.load(t, root)
	var out []string
	for dir, fns := range x.byDir {
		for name, fn := range fns {
			if mentions(fn.Body, option) {
				out = append(out, dir+":"+name)
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

// Every obsolete option, in a qpidd.conf, is accepted with one warning line
// that names it; the broker starts.
func TestObsoleteOptionsWarn(t *testing.T) {
	var conf strings.Builder
	var names []string
	for _, o := range config.Table() {
		if o.Obsolete == "" {
			continue
		}
		v := "x"
		switch {
		case o.Name == "log-enable":
			v = "info+"
		case o.YesNo:
			v = "yes"
		}
		fmt.Fprintf(&conf, "%s=%s\n", o.Name, v)
		names = append(names, o.Name)
	}
	path := filepath.Join(t.TempDir(), "qpidd.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b := qpiddtest.Start(t, "--config", path)
	var warnings []string
	for _, line := range strings.Split(b.Log(), "\n") {
		if strings.Contains(line, "level=warning") && strings.Contains(line, path+":") {
			warnings = append(warnings, line)
		}
	}
	for i, name := range names {
		want := fmt.Sprintf(`%s:%d: option \"%s\" is obsolete`, path, i+1, name)
		n := 0
		for _, w := range warnings {
			if strings.Contains(w, want) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d warnings with %s, want 1", n, want)
		}
	}
	if len(warnings) != len(names) {
		t.Errorf("%d warnings for %d obsolete options:\n%s", len(warnings), len(names), strings.Join(warnings, "\n"))
	}
}
