// Command qpid-cluster-conf generates the configuration of a qpidd HA
// cluster from one TOML description: cluster.conf for cman/rgmanager,
// pcs-setup.sh for Pacemaker and each node's qpidd.conf. See
// internal/genconf and cluster-conf/README.md.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/genconf"
)

func main() {
	os.Exit(genconf.Main(os.Args[1:], os.Stdout, os.Stderr))
}
