// Command qpidd-primary is the HA primary service of qpidd: an LSB init
// script (start|stop|status|restart...) that makes the local broker the
// cluster's primary, for rgmanager (cluster.conf's qpidd-primary script)
// and other cluster managers. See internal/qpiddprimary and
// `qpidd-primary --help`.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/qpiddprimary"
)

func main() {
	os.Exit(qpiddprimary.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
