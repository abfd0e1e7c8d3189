package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// The Vagrant cluster, as far as it can be checked without VMs: Vagrant
// accepts the Vagrantfile, the provisioning script passes shellcheck, and
// the cluster's TOML generates a configuration for every node it names.
func TestVagrantCluster(t *testing.T) {
	dir := filepath.Join(qpiddtest.Root(), "vagrant")
	cmd := exec.Command("vagrant", "validate", "--ignore-provider")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VAGRANT_DOTFILE_PATH="+t.TempDir(), "VAGRANT_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "validated successfully") {
		t.Fatalf("vagrant validate: %v\n%s", err, out)
	}
	if out, err := exec.Command("shellcheck", filepath.Join(dir, "provision.sh")).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck provision.sh: %v\n%s", err, out)
	}
	out := t.TempDir()
	if msg, err := exec.Command(qpiddtest.Bin(t, "qpid-cluster-conf"), "-o", out, filepath.Join(dir, "cluster.toml")).CombinedOutput(); err != nil {
		t.Fatalf("qpid-cluster-conf: %v\n%s", err, msg)
	}
	for _, f := range []string{"pcs-setup.sh", "qpidd-node1.conf", "qpidd-node2.conf", "qpidd-node3.conf"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("the generator made no %s for the Vagrant cluster", f)
		}
	}
}
