// Command qpidd-primary is the HA primary service of qpidd: an LSB init
// script (start|stop|status|restart...) that makes the local broker the
// cluster's primary, for rgmanager (cluster.conf's qpidd-primary script)
// and other cluster managers. See internal/primary and
// `qpidd-primary --help`.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/primary"
)

func main() {
	os.Exit(primary.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
