package genconf

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runMain(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMain_(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	warn := filepath.Join(dir, "warn.toml")
	if err := os.WriteFile(good, []byte(strings.Replace(base, "stonith_enabled = false\n", "stonith_enabled = false\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(base+"\n[broker.options]\nlog-levl = \"debug\"\nport = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(warn, []byte(strings.Replace(base, "auth = false", "auth = true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runMain("--help")
	if code != 0 || !strings.Contains(out, "Usage: qpid-cluster-conf") || errOut != "" {
		t.Errorf("--help: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{}, {good}, {"--bogus", good}, {"-o"}, {"-c", "-o", dir, good}, {"-c", good, good}} {
		if code, _, errOut := runMain(args...); code != 2 || !strings.Contains(errOut, "Try 'qpid-cluster-conf --help'") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a usage hint", args, code, errOut)
		}
	}

	// --check: no output, warnings on stderr.
	code, out, errOut = runMain("--check", good)
	if code != 0 || out != "" || !strings.Contains(errOut, "warning: "+good+": fence: no fencing") {
		t.Errorf("--check good: %d %q %q", code, out, errOut)
	}
	// Every error on its own line, exit 1.
	code, _, errOut = runMain("-c", bad)
	if code != 1 || !strings.Contains(errOut, "error: "+bad+": broker.options.log-levl: unknown qpidd option \"log-levl\" (did you mean \"log-level\"?)\n") ||
		!strings.Contains(errOut, "error: "+bad+": broker.options.port: qpidd option \"port\" cannot be set here: set broker.port") ||
		!strings.Contains(errOut, "qpid-cluster-conf: "+bad+": 2 errors\n") {
		t.Errorf("--check bad: %d\n%s", code, errOut)
	}
	// --strict makes warnings fatal.
	if code, _, errOut := runMain("--strict", "-c", warn); code != 1 || !strings.Contains(errOut, "(--strict)") {
		t.Errorf("--strict: %d %q", code, errOut)
	}
	if code, _, errOut := runMain("-c", filepath.Join(dir, "missing.toml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: %d %q", code, errOut)
	}
	// -o writes the files and lists them.
	outDir := filepath.Join(dir, "out")
	code, out, _ = runMain("-o", outDir, good)
	if code != 0 {
		t.Fatalf("-o: exit %d", code)
	}
	for _, name := range []string{ClusterConfName, PcsScriptName, "qpidd-n1.conf", "qpidd-n2.conf", "qpidd-n3.conf"} {
		p := filepath.Join(outDir, name)
		if !strings.Contains(out, p+"\n") {
			t.Errorf("stdout does not list %s: %q", p, out)
		}
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(outDir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
