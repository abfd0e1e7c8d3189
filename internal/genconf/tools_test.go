package genconf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// The external checks: xmllint --relaxng against cluster.rng, shellcheck,
// and pcs on an offline CIB. Missing tools are installed from Debian once
// per test process (as root with apt-get) if scripts/setup.sh has not;
// a tool that cannot be had fails the test, saying why.

var (
	aptMu      sync.Mutex
	aptUpdated bool
	aptFailed  = map[string]error{}
)

// toolPackages names the Debian package of each command.
var toolPackages = map[string]string{
	"xmllint":      "libxml2-utils",
	"shellcheck":   "shellcheck",
	"pcs":          "pcs",
	"cibadmin":     "pacemaker-cli-utils",
	"crm_verify":   "pacemaker-cli-utils",
	"crm_simulate": "pacemaker-cli-utils",
}

// needTools makes sure the commands are there, installing their packages if
// it can (once), or fails the test.
func needTools(t *testing.T, cmds ...string) {
	t.Helper()
	var pkgs []string
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			pkgs = append(pkgs, toolPackages[c])
		}
	}
	if len(pkgs) == 0 {
		return
	}
	sort.Strings(pkgs)
	key := strings.Join(pkgs, " ")
	aptMu.Lock()
	defer aptMu.Unlock()
	if err, failed := aptFailed[key]; failed {
		t.Fatalf("%v (scripts/setup.sh test installs it)", err)
	}
	if err := aptInstall(t, pkgs); err != nil {
		aptFailed[key] = err
		t.Fatalf("%v (scripts/setup.sh test installs it)", err)
	}
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s is still missing after installing %s", c, key)
		}
	}
}

func aptInstall(t *testing.T, pkgs []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s not installed, and not root to install it", strings.Join(pkgs, ", "))
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s not installed, and no apt-get to install it", strings.Join(pkgs, ", "))
	}
	for _, p := range pkgs {
		if p == "pcs" || p == "pacemaker-cli-utils" {
			// Their postinst scripts start pcsd, pacemaker and corosync unless
			// a policy-rc.d forbids it: never install them where it would.
			if out, err := exec.Command("/usr/sbin/policy-rc.d").CombinedOutput(); err == nil || !strings.Contains(err.Error(), "exit status 101") {
				return fmt.Errorf("%s not installed: installing it here could start cluster daemons (no /usr/sbin/policy-rc.d denying service starts: %v %s)", p, err, out)
			}
		}
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if !aptUpdated {
		t.Logf("apt-get update")
		cmd := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq")
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get update: %v\n%s", err, out)
		}
		aptUpdated = true
	}
	t.Logf("apt-get install %s", strings.Join(pkgs, " "))
	args := append([]string{"-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", "--no-install-recommends"}, pkgs...)
	cmd := exec.Command("apt-get", args...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get install %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// sample is a generated set of files to check with the tools.
type sample struct {
	name  string
	spec  *Spec
	files map[string][]byte
}

// samples: every example, the template, and descriptions that exercise
// fencing levels, per-node devices, two nodes and IPv6.
func samples(t *testing.T) []sample {
	t.Helper()
	paths := examples(t)
	paths["template"] = filepath.Join(confDir, "template.toml")
	var out []sample
	add := func(name string, s *Spec, files []Output) {
		m := map[string][]byte{}
		for _, f := range files {
			m[f.Name] = f.Data
		}
		out = append(out, sample{name, s, m})
	}
	for _, name := range sortedKeys(paths) {
		s, files := generate(t, paths[name])
		add(name, s, files)
	}
	extra := map[string]string{
		"levels": edit(t,
			"stonith_enabled = false\n", "",
			"address = \"10.0.0.1\"\n", "address = \"10.0.0.1\"\nfence = [{ device = \"ipmi\", options = { ip = \"10.1.0.1\" } }, { method = \"pdu\", device = \"pdu\", options = { plug = \"1\" } }]\n",
			"address = \"10.0.0.2\"\n", "address = \"10.0.0.2\"\nfence = [{ device = \"ipmi\", options = { ip = \"10.1.0.2\" } }, { method = \"pdu\", device = \"pdu\", options = { plug = \"2\" } }]\n",
			"address = \"10.0.0.3\"\n", "address = \"10.0.0.3\"\nfence = [{ device = \"ipmi\", options = { ip = \"10.1.0.3\" } }, { method = \"pdu\", device = \"pdu\", options = { plug = \"3\" } }]\n",
		) + "\n[[fence]]\nname = \"ipmi\"\nagent = \"fence_ipmilan\"\noptions = { username = \"admin\", password = \"x y\", lanplus = true }\n" +
			"\n[[fence]]\nname = \"pdu\"\nagent = \"fence_apc\"\noptions = { ip = \"10.1.0.100\" }\n",
		"two-nodes": strings.Replace(base, "[[node]]\nname = \"n3\"\naddress = \"10.0.0.3\"\n", "", 1),
		"ipv6": strings.NewReplacer(`"10.0.0.1"`, `"fd00::1"`, `"10.0.0.2"`, `"fd00::2"`, `"10.0.0.3"`, `"fd00::3"`,
			`"10.0.0.100"`, `"fd00::100"`, "cidr_netmask = 24", "cidr_netmask = 64").Replace(base),
	}
	for _, name := range sortedKeys(extra) {
		s, err := Parse(name+".toml", []byte(extra[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		files, err := s.Generate()
		if err != nil {
			t.Fatal(err)
		}
		add(name, s, files)
	}
	return out
}

// schemaPath is the copy of the cluster.conf schema kept in the repository.
var schemaPath = filepath.Join(confDir, "schema", "cluster.rng")

// TestSchemaCopy: cluster-conf/schema/cluster.rng is the reference schema,
// unchanged (checked when shared/ is beside the repository).
func TestSchemaCopy(t *testing.T) {
	copyData, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := os.ReadFile("../../../shared/reference/cluster.rng")
	if os.IsNotExist(err) {
		t.Skip("no ../shared/reference/cluster.rng beside the repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copyData, ref) {
		t.Errorf("%s differs from shared/reference/cluster.rng: copy it again", schemaPath)
	}
}

const (
	stubStart = "<!-- STUB fence-agents definitions -->"
	stubEnd   = "<!-- end STUB fence-agents definitions -->"
)

// fenceSchema is the schema with the fence agents' parameters it lacks.
// The reference schema was assembled without fence agents: its stub
// FENCEDEVICEOPTIONS allows no attribute on <fencedevice> and <device> but
// requires a <service> child, so that no real fence configuration
// validates. ccs_update_schema, run where the fence agents are installed,
// replaces the stub with each agent parameter as an optional attribute;
// this does the same for the parameters the file uses.
func fenceSchema(t *testing.T, schema []byte, params []string) []byte {
	t.Helper()
	s := string(schema)
	i, j := strings.Index(s, stubStart), strings.Index(s, stubEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no fence stub", schemaPath)
	}
	var b strings.Builder
	b.WriteString("<!-- fence agent parameters (as ccs_update_schema generates them) -->\n<define name=\"FENCEDEVICEOPTIONS\">\n")
	if len(params) == 0 {
		b.WriteString(" <empty/>\n")
	}
	for _, p := range params {
		fmt.Fprintf(&b, " <optional><attribute name=%q/></optional>\n", p)
	}
	b.WriteString("</define>\n")
	return []byte(s[:i] + b.String() + s[j+len(stubEnd):])
}

// fenceParams lists the attributes of <fencedevice> and <device> elements
// (other than name and agent), and the file without any fencing.
func fenceParams(t *testing.T, conf []byte) (params []string, unfenced []byte) {
	t.Helper()
	seen := map[string]bool{}
	dec := xml.NewDecoder(bytes.NewReader(conf))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && (se.Name.Local == "fencedevice" || se.Name.Local == "device") {
			for _, a := range se.Attr {
				if a.Name.Local != "name" && a.Name.Local != "agent" {
					seen[a.Name.Local] = true
				}
			}
		}
	}
	for p := range seen {
		params = append(params, p)
	}
	sort.Strings(params)
	re := regexp.MustCompile(`(?s)\n *<fence>.*?</fence>|\n *<!-- The fence devices\..*?</fencedevices>`)
	unfenced = re.ReplaceAll(conf, nil)
	unfenced = regexp.MustCompile(`(<clusternode [^>]*)>\s*</clusternode>`).ReplaceAll(unfenced, []byte("$1/>"))
	return params, unfenced
}

func xmllint(t *testing.T, schema, doc []byte) error {
	t.Helper()
	dir := t.TempDir()
	rng, conf := filepath.Join(dir, "cluster.rng"), filepath.Join(dir, "cluster.conf")
	if err := os.WriteFile(rng, schema, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--relaxng", rng, conf).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// TestClusterConfSchema validates every generated cluster.conf with xmllint
// against cluster.rng: as it is when the file has no fencing; else, the
// file without its fencing against cluster.rng as it is, and the whole file
// against cluster.rng with its fence agents' parameters (fenceSchema).
func TestClusterConfSchema(t *testing.T) {
	needTools(t, "xmllint")
	schema, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, sm := range samples(t) {
		t.Run(sm.name, func(t *testing.T) {
			conf := sm.files[ClusterConfName]
			params, unfenced := fenceParams(t, conf)
			if len(sm.spec.fences) == 0 {
				if err := xmllint(t, schema, conf); err != nil {
					t.Errorf("cluster.conf does not validate against %s: %v\n%s", schemaPath, err, conf)
				}
				return
			}
			if bytes.Equal(unfenced, conf) || bytes.Contains(unfenced, []byte("fence")) {
				t.Fatalf("could not strip the fencing:\n%s", unfenced)
			}
			if err := xmllint(t, schema, unfenced); err != nil {
				t.Errorf("cluster.conf without fencing does not validate against %s: %v\n%s", schemaPath, err, unfenced)
			}
			if err := xmllint(t, fenceSchema(t, schema, params), conf); err != nil {
				t.Errorf("cluster.conf does not validate against %s with the fence parameters %v: %v\n%s", schemaPath, params, err, conf)
			}
			// The stub really does refuse real fence devices: if a future
			// schema accepts them, validate against it directly.
			if err := xmllint(t, schema, conf); err == nil {
				t.Logf("%s accepts the fence devices: the fenceSchema step is no longer needed", schemaPath)
			}
		})
	}
}

// TestSchemaCatchesMistakes: the validation step does fail on a broken file.
func TestSchemaCatchesMistakes(t *testing.T) {
	needTools(t, "xmllint")
	schema, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	_, files := generate(t, examples(t)["manual"])
	conf := files[0].Data
	for _, bad := range []struct{ old, new string }{
		{`nodeid="2"`, `nodeid="two"`},
		{`<rm status_poll_interval="1">`, `<rm status_poll_interval="1" bogus="1">`},
		{`<ip ref=`, `<ipaddr ref=`},
	} {
		broken := bytes.Replace(conf, []byte(bad.old), []byte(bad.new), 1)
		if bytes.Equal(broken, conf) {
			t.Fatalf("no %q in cluster.conf", bad.old)
		}
		if err := xmllint(t, schema, broken); err == nil {
			t.Errorf("xmllint accepts cluster.conf with %s", bad.new)
		}
	}
}

// TestShellcheck: every pcs-setup.sh is shellcheck-clean.
func TestShellcheck(t *testing.T) {
	needTools(t, "shellcheck")
	for _, sm := range samples(t) {
		t.Run(sm.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), PcsScriptName)
			if err := os.WriteFile(path, sm.files[PcsScriptName], 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("shellcheck", "--shell=sh", "--severity=style", path).CombinedOutput(); err != nil {
				t.Errorf("shellcheck: %v\n%s", err, out)
			}
			if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v\n%s", err, out)
			}
		})
	}
}

// TestPcsDryRun runs each pcs-setup.sh on an offline CIB of a healthy,
// quorate cluster of its nodes (as PACEMAKER.md says pcs -f works on
// cibadmin --empty), twice, and checks the result: crm_verify accepts it,
// the second run changes nothing, and crm_simulate, given a promotion
// score on the second node, promotes that node and then starts the VIP
// there.
func TestPcsDryRun(t *testing.T) {
	if testing.Short() {
		t.Skip("pcs is slow: skipped with -short")
	}
	needTools(t, "pcs", "cibadmin", "crm_verify", "crm_simulate")
	for _, sm := range samples(t) {
		// pcs takes seconds a call: the examples and the template (fencing
		// levels, per-node devices, a host map) cover every kind of command.
		if sm.name != "lab" && sm.name != "manual" && sm.name != "template" {
			continue
		}
		t.Run(sm.name, func(t *testing.T) {
			t.Parallel()
			pcsDryRun(t, sm)
		})
	}
}

func pcsDryRun(t *testing.T, sm sample) {
	dir := t.TempDir()
	script := filepath.Join(dir, PcsScriptName)
	if err := os.WriteFile(script, sm.files[PcsScriptName], 0o755); err != nil {
		t.Fatal(err)
	}
	cib := filepath.Join(dir, "cib.xml")
	empty, err := exec.Command("cibadmin", "--empty").Output()
	if err != nil {
		t.Fatalf("cibadmin --empty: %v", err)
	}
	if err := os.WriteFile(cib, empty, 0o644); err != nil {
		t.Fatal(err)
	}
	promoted := sm.spec.nodes[1]
	cibadmin := func(args ...string) {
		t.Helper()
		cmd := exec.Command("cibadmin", args...)
		cmd.Env = append(os.Environ(), "CIB_file="+cib)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cibadmin %q: %v\n%s", args, err, out)
		}
	}
	for i, nd := range sm.spec.nodes {
		id := fmt.Sprint(i + 1)
		cibadmin("--create", "-o", "nodes", "-X", fmt.Sprintf(`<node id="%s" uname="%s"/>`, id, nd.name))
		attrs := ""
		if nd == promoted {
			attrs = fmt.Sprintf(`<transient_attributes id="%[1]s"><instance_attributes id="status-%[1]s"><nvpair id="status-%[1]s-promo" name="master-%[2]s" value="1000"/></instance_attributes></transient_attributes>`, id, sm.spec.pcm.resource)
		}
		cibadmin("--create", "-o", "status", "-X", fmt.Sprintf(`<node_state id="%s" uname="%s" in_ccm="true" crmd="online" join="member" expected="member">%s</node_state>`, id, nd.name, attrs))
	}
	cibadmin("--modify", "-X", `<cib have-quorum="1"/>`)

	// Agents pcs cannot find here (the project's OCF agent, the fence
	// agents) need PCS_FORCE=1; then pcs only warns that they are missing.
	var missingAgents []string
	if _, err := os.Stat("/usr/lib/ocf/resource.d/" + strings.ReplaceAll(strings.TrimPrefix(sm.spec.pcm.agent, "ocf:"), ":", "/")); err != nil {
		missingAgents = append(missingAgents, sm.spec.pcm.agent)
	}
	for _, fs := range sm.spec.fences {
		if _, err := os.Stat("/usr/sbin/" + fs.Agent); err != nil {
			missingAgents = append(missingAgents, fs.Agent)
		}
	}
	// An installed ocf:qpid:qpidd older than the repository's (another
	// build's package) may lack parameters the generator sets: pcs then
	// warns about them, which is fine when the repository's agent has them.
	staleAgentParams := map[string]bool{}
	if sm.spec.pcm.agent == DefaultAgent {
		installed, _ := os.ReadFile("/usr/lib/ocf/resource.d/qpid/qpidd")
		ours, err := os.ReadFile("../../agents/ocf/qpidd")
		if err != nil {
			t.Fatal(err)
		}
		if installed != nil && !bytes.Equal(installed, ours) {
			for _, m := range regexp.MustCompile(`<parameter name="([a-z_]+)"`).FindAllStringSubmatch(string(ours), -1) {
				staleAgentParams[m[1]] = true
			}
		}
	}
	// The manual's first run goes through the live mode, with a pcs whose
	// "cluster cib" and "cluster cib-push" work on the CIB file as if it
	// were the running cluster's.
	live := sm.name == "manual"
	pushLog := filepath.Join(dir, "push.log")
	fakeBin := filepath.Join(dir, "bin")
	if live {
		realPcs, err := exec.LookPath("pcs")
		if err != nil {
			t.Fatal(err)
		}
		fake := `#!/bin/sh
if [ "$1 $2" = "cluster cib" ]; then
	cp "$FAKE_CLUSTER_CIB" "$3"
	exit
fi
if [ "$1 $2" = "cluster cib-push" ]; then
	echo "$@" >"$FAKE_PUSH_LOG"
	orig=${4#diff-against=}
	[ -f "$3" ] && [ -f "$orig" ] && cmp -s "$orig" "$FAKE_CLUSTER_CIB" || exit 1
	cp "$3" "$FAKE_CLUSTER_CIB"
	exit
fi
exec ` + realPcs + ` "$@"
`
		if err := os.MkdirAll(fakeBin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fakeBin, "pcs"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func() string {
		t.Helper()
		cmd := exec.Command("sh", script, cib)
		cmd.Env = os.Environ()
		if live {
			live = false
			cmd = exec.Command("sh", script)
			cmd.Env = append(os.Environ(), "PATH="+fakeBin+":"+os.Getenv("PATH"),
				"FAKE_CLUSTER_CIB="+cib, "FAKE_PUSH_LOG="+pushLog, "TMPDIR="+dir)
		}
		if len(missingAgents) > 0 {
			cmd.Env = append(cmd.Env, "PCS_FORCE=1")
		}
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s%s", script, cib, err, stdout.String(), stderr.String())
		}
		for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
			if l == "" || strings.HasPrefix(l, "Adding ") || len(missingAgents) > 0 && (strings.Contains(l, "is not installed or does not provide valid metadata") ||
				strings.Contains(l, "is not a valid operation name value")) {
				continue
			}
			if staleParamsWarning(l, staleAgentParams) {
				t.Logf("the installed %s is not the repository's: %s", DefaultAgent, l)
				continue
			}
			t.Errorf("unexpected output from pcs-setup.sh: %s", l)
		}
		return stdout.String()
	}
	if len(missingAgents) > 0 {
		t.Logf("not installed here: %v; running with PCS_FORCE=1", missingAgents)
	}
	run()
	if sm.name == "manual" {
		log, err := os.ReadFile(pushLog)
		if err != nil {
			t.Fatalf("the live mode pushed nothing: %v", err)
		}
		if !regexp.MustCompile(`^cluster cib-push (\S+)/cib\.xml diff-against=(\S+)/original\.xml\n$`).Match(log) {
			t.Errorf("push: %q", log)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "tmp.*")); len(left) > 0 {
			t.Errorf("the live mode left %v behind", left)
		}
	}
	first := configuration(t, cib)
	run()
	if second := configuration(t, cib); second != first {
		t.Errorf("the second run changed the configuration:\n%s\n----\n%s", first, second)
	}
	checkCIB(t, sm, first)

	if out, err := exec.Command("crm_verify", "--xml-file", cib).CombinedOutput(); err != nil {
		t.Errorf("crm_verify: %v\n%s", err, out)
	}
	out, err := exec.Command("crm_simulate", "--xml-file", cib, "--simulate").CombinedOutput()
	if err != nil {
		t.Fatalf("crm_simulate: %v\n%s", err, out)
	}
	sim := string(out)
	promote := regexp.MustCompile(`Resource action: ` + regexp.QuoteMeta(sm.spec.pcm.resource) + `:\d+ +promote on ` + regexp.QuoteMeta(promoted.name) + `\n`).FindStringIndex(sim)
	vipStart := regexp.MustCompile(`Resource action: ` + regexp.QuoteMeta(sm.spec.pcm.vip) + ` +start on ` + regexp.QuoteMeta(promoted.name) + `\n`).FindStringIndex(sim)
	switch {
	case promote == nil:
		t.Errorf("crm_simulate promotes no instance on %s:\n%s", promoted.name, sim)
	case vipStart == nil:
		t.Errorf("crm_simulate does not start the VIP on %s:\n%s", promoted.name, sim)
	case vipStart[0] < promote[0]:
		t.Errorf("crm_simulate starts the VIP before the promotion:\n%s", sim)
	}
}

// configuration is the <configuration> element of a CIB file.
func configuration(t *testing.T, cib string) string {
	t.Helper()
	data, err := os.ReadFile(cib)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, "<configuration>"), strings.Index(s, "</configuration>")
	if i < 0 || j < i {
		t.Fatalf("no configuration in %s", cib)
	}
	return s[i:j]
}

// checkCIB checks the resources and constraints pcs made.
func checkCIB(t *testing.T, sm sample, conf string) {
	t.Helper()
	pc := sm.spec.pcm
	want := []string{
		fmt.Sprintf(`<clone id="%s">`, pc.clone),
		fmt.Sprintf(`<primitive id="%s" class="ocf" type="%s" provider="%s">`, pc.resource, pc.agent[strings.LastIndex(pc.agent, ":")+1:], strings.Split(pc.agent, ":")[1]),
		`name="promotable" value="true"`,
		`name="promoted-max" value="1"`,
		`name="promoted-node-max" value="1"`,
		fmt.Sprintf(`name="clone-max" value="%d"`, len(sm.spec.nodes)),
		`name="clone-node-max" value="1"`,
		`name="notify" value="false"`,
		fmt.Sprintf(`role="Promoted" timeout="%s"`, pc.ops["monitor_timeout"]),
		fmt.Sprintf(`role="Unpromoted" timeout="%s"`, pc.ops["monitor_timeout"]),
		fmt.Sprintf(`<primitive id="%s" class="ocf" type="IPaddr2" provider="heartbeat">`, pc.vip),
		fmt.Sprintf(`<rsc_colocation rsc="%s" with-rsc="%s" score="INFINITY" rsc-role="Started" with-rsc-role="Promoted"`, pc.vip, pc.clone),
		fmt.Sprintf(`<rsc_order first="%s" then="%s" kind="Mandatory" id="order-promote-%[1]s-then-start-%[2]s" first-action="promote" then-action="start" symmetrical="false"/>`, pc.clone, pc.vip),
		fmt.Sprintf(`<rsc_order first="%s" then="%s" kind="Mandatory" id="order-stop-%[1]s-then-demote-%[2]s" first-action="stop" then-action="demote" symmetrical="false"/>`, pc.vip, pc.clone),
		fmt.Sprintf(`name="stonith-enabled" value="%v"`, pc.stonithEnabled),
	}
	for _, fs := range sm.spec.fences {
		for _, id := range fs.pcsIDs() {
			want = append(want, fmt.Sprintf(`<primitive id="%s" class="stonith" type="%s">`, id, fs.Agent))
		}
	}
	for _, w := range want {
		if !strings.Contains(conf, w) {
			t.Errorf("the CIB lacks %s:\n%s", w, conf)
		}
	}
}

// staleParamsWarning: l is pcs's warning about resource options the
// installed agent lacks, and every one of them is a parameter of the
// repository's agent (known).
func staleParamsWarning(l string, known map[string]bool) bool {
	const prefix = "Warning: invalid resource options: "
	if len(known) == 0 || !strings.HasPrefix(l, prefix) {
		return false
	}
	opts, _, ok := strings.Cut(strings.TrimPrefix(l, prefix), ", allowed options are")
	if !ok {
		return false
	}
	for _, o := range strings.Split(opts, ", ") {
		if !known[strings.Trim(o, "'")] {
			return false
		}
	}
	return true
}
