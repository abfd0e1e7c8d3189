package ocf

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	ocfTester  = "/usr/sbin/ocf-tester"
	shellcheck = "/usr/bin/shellcheck"
	xmllint    = "/usr/bin/xmllint"
)

// raAPIDTD finds ra-api-1.dtd: ocf-tester validates against the one in
// /usr/share/resource-agents.
func raAPIDTD(t *testing.T) string {
	t.Helper()
	for _, p := range []string{
		"/usr/share/resource-agents/ra-api-1.dtd",
		"/usr/lib/ocf/ra-api-1.dtd",
		"/usr/share/pacemaker/ra-api-1.dtd",
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("ra-api-1.dtd not found (apt-get install -y --no-install-recommends resource-agents)")
	return ""
}

// nobodyAgent is the agent where the user nobody can read and run it, as
// ocf-tester's meta-data check does: the repository's file if nobody can,
// else a copy with mode 0755 in a directory nobody can enter.
func nobodyAgent(t *testing.T) string {
	t.Helper()
	agent := agentPath()
	if os.Getuid() != 0 {
		return agent // ocf-tester checks permissions only as root
	}
	check := exec.Command("su", "nobody", "-s", "/bin/sh", "-c", `test -r "$0" && test -x "$0"`, agent)
	if check.Run() == nil {
		return agent
	}
	dir, err := os.MkdirTemp("", "qpidd-ocf-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(agent)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "qpidd")
	if err := os.WriteFile(copied, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(copied, 0o755); err != nil { // despite the umask
		t.Fatal(err)
	}
	t.Logf("the user nobody cannot run %s: testing a copy, %s", agent, copied)
	return copied
}

// TestOCFTester runs ocf-tester on the agent with a one-node cluster: every
// check passes. No cluster runs, so crm_attribute and crm_node (Pacemaker's
// own) fail: the agent tolerates that.
func TestOCFTester(t *testing.T) {
	t.Parallel()
	timed(t)
	requireTools(t, ocfTester, xmllint, shellFuncs)
	c := newCluster(t, 1) // its cleanup stops the broker if ocf-tester leaves it
	n := c.nodes[0]
	n.writeConfig("127.0.0.1:" + strconv.Itoa(n.port))
	agent := nobodyAgent(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ocfTester, "-n", resource,
		"-o", "config="+n.config,
		"-o", "binary="+c.qpidd,
		"-o", "qpid_ha="+c.qpidHA,
		"-o", "data_dir="+n.dataDir,
		"-o", "port="+strconv.Itoa(n.port),
		"-o", "user="+currentUser(),
		agent)
	// Pacemaker's tools, not the fakes; no OCF or HA settings of ours.
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "OCF_") || strings.HasPrefix(name, "HA_") || strings.HasPrefix(name, "FAKE_") ||
			strings.HasPrefix(name, "QPID_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Dir = c.dir
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("ocf-tester took %v:\n%s", time.Since(began).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("ocf-tester failed: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "* rc=") || strings.Contains(l, "Aborting") {
			t.Errorf("ocf-tester reported a failed check: %s", l)
		}
	}
	if !strings.Contains(string(out), "passed all tests") {
		t.Errorf("ocf-tester did not report that the agent passed all tests")
	}
	if r := n.run("monitor"); r.rc != ocfNotRunning {
		t.Errorf("ocf-tester left the broker running: %s", r)
	}
}

// metaData is what the tests check of the meta-data.
type metaData struct {
	Name       string `xml:"name,attr"`
	Parameters []struct {
		Name    string `xml:"name,attr"`
		Content struct {
			Type    string `xml:"type,attr"`
			Default string `xml:"default,attr"`
		} `xml:"content"`
	} `xml:"parameters>parameter"`
	Actions []struct {
		Name     string `xml:"name,attr"`
		Interval string `xml:"interval,attr"`
		Role     string `xml:"role,attr"`
	} `xml:"actions>action"`
}

// TestMetaData: the meta-data is valid against ra-api-1.dtd, the user
// nobody gets it too, and it declares the parameters and the actions of a
// promotable clone with one monitor interval per role.
func TestMetaData(t *testing.T) {
	t.Parallel()
	requireTools(t, xmllint, shellFuncs)
	dtd := raAPIDTD(t)
	agent := nobodyAgent(t)
	cmd := exec.Command(agent, "meta-data")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT=/usr/lib/ocf"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	md, err := cmd.Output()
	if err != nil {
		t.Fatalf("meta-data: %v\n%s", err, stderr.String())
	}
	lint := exec.Command(xmllint, "--noout", "--dtdvalid", dtd, "-")
	lint.Dir = filepath.Dir(dtd) // where the DOCTYPE's relative ra-api-1.dtd is
	lint.Stdin = bytes.NewReader(md)
	if out, err := lint.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("the meta-data does not validate against %s: %v\n%s\n%s", dtd, err, out, md)
	}
	// As ocf-tester checks it: the DOCTYPE's DTD, from its directory.
	lint = exec.Command(xmllint, "--noout", "--valid", "-")
	lint.Dir = filepath.Dir(dtd)
	lint.Stdin = bytes.NewReader(md)
	if out, err := lint.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("xmllint --valid (ocf-tester's check): %v\n%s", err, out)
	}

	if os.Getuid() == 0 {
		out, err := exec.Command("su", "nobody", "-s", "/bin/sh", "-c", `"$0" meta-data`, agent).Output()
		if err != nil || !bytes.Equal(out, md) {
			t.Fatalf("meta-data as nobody: %v\n%s", err, out)
		}
	}

	var m metaData
	if err := xml.Unmarshal(md, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "qpidd" {
		t.Errorf("resource-agent name %q", m.Name)
	}
	params := map[string]string{}
	for _, p := range m.Parameters {
		params[p.Name] = p.Content.Type
	}
	for name, typ := range map[string]string{
		"config": "string", "binary": "string", "qpid_ha": "string", "data_dir": "string",
		"port": "integer", "user": "string", "timeout": "integer", "options": "string",
	} {
		if params[name] != typ {
			t.Errorf("parameter %s: type %q, want %q", name, params[name], typ)
		}
	}
	actions := map[string]bool{}
	monitors := map[string]string{} // role -> interval
	for _, a := range m.Actions {
		actions[a.Name] = true
		if a.Name == "monitor" {
			if _, dup := monitors[a.Role]; dup {
				t.Errorf("two monitors for role %q", a.Role)
			}
			monitors[a.Role] = a.Interval
		}
	}
	for _, a := range []string{"start", "stop", "promote", "demote", "notify", "monitor", "validate-all", "meta-data"} {
		if !actions[a] {
			t.Errorf("meta-data lacks the action %s", a)
		}
	}
	if monitors["Promoted"] == "" || monitors["Unpromoted"] == "" || monitors["Promoted"] == monitors["Unpromoted"] {
		t.Errorf("monitors %v: want one per role (Promoted, Unpromoted) with different intervals", monitors)
	}
}

// TestShellcheck: shellcheck -s sh has nothing to say about the agent, nor
// about the fake CIB.
func TestShellcheck(t *testing.T) {
	t.Parallel()
	requireTools(t, shellcheck)
	files := []string{agentPath()}
	for _, f := range []string{"crm_attribute", "crm_node", "crm_master"} {
		files = append(files, filepath.Join("testdata", "fakecib", f))
	}
	for _, f := range files {
		out, err := exec.Command(shellcheck, "-s", "sh", f).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("shellcheck -s sh %s: %v\n%s", f, err, out)
		}
	}
}
