package ocf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/qpidha/qpidha/internal/ha"
)

// TestScoreMeansPromotable: every broker the agent gives 1000 accepts
// promotion ("Pacemaker never tries a broker that would refuse"), also
// after the primary is stopped or demoted. The stopping primary keeps its
// ready set (its backups disconnecting as it stops are no reason to drop
// them), and the agent scores only a ready backup that is in the ready set
// of the membership it knows (qpid-ha query: "In ready set").
func TestScoreMeansPromotable(t *testing.T) {
	for _, how := range []string{"stop", "demote"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, 3)
			n1 := c.nodes[0]
			bootstrap(t, c)
			n1.must(how, ocfSuccess)
			// The stalest ready backup first: the one whose own membership
			// is the oldest.
			backups := c.nodes[1:]
			if membershipVersion(t, backups[1]) < membershipVersion(t, backups[0]) {
				backups[0], backups[1] = backups[1], backups[0]
			}
			for _, n := range backups {
				n.must("monitor", ocfSuccess)
				t.Logf("%s: state %s, score %q, own membership v%d", n.name, n.state(), n.score(), membershipVersion(t, n))
			}
			for _, n := range backups {
				if n.score() != "1000" {
					continue
				}
				if r := n.run("promote"); r.rc != ocfSuccess {
					t.Fatalf("%s has score 1000 but refuses promotion: %s\n%s", n.name, r, c.dump())
				}
				return
			}
		})
	}
}

func membershipVersion(t *testing.T, n *node) uint64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(n.dataDir, ha.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var p ha.Persistent
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p.Membership.Version
}
