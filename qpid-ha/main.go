// Command qpid-ha checks and changes the HA state of qpidd brokers: ping,
// status, query, replicate, and the cluster manager's promote. See
// internal/qpidha and `qpid-ha --help`.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/qpidha"
)

func main() {
	os.Exit(qpidha.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
