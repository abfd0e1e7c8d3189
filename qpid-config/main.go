// Command qpid-config adds, deletes and lists a broker's queues, exchanges
// and bindings over AMQP 1.0 management: see internal/mgmt/qpidconfig, and
// `qpid-config --help`.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/mgmt/qpidconfig"
)

func main() {
	os.Exit(qpidconfig.Main(os.Args[1:], os.Stdout, os.Stderr))
}
