// Command checker is the failover checker: numbered at-least-once senders
// and receivers (go-amqp, or the python3-qpid-proton scripts in clients/,
// built in) that fail over between a cluster's brokers while they are
// killed and promoted, then report lost and duplicated messages; and a
// check of the brokers' role-change logs that no two were primary at once.
// See internal/checker, and `checker help`.
//
// A harness that kills and promotes brokers by other means (a cluster
// manager, a VIP) runs it in the background until told to stop:
//
//	checker run --urls 10.99.0.200:5672 --senders 2 --receivers 2 --rate 100 \
//	    --client proton --report report.json &
//	... kill the primary; once it is dead: echo "KILLED broker=node1.log mono=$(checker mono)" >>markers.log ...
//	kill -TERM $!; wait $!          # stop sending, drain, report; exit 0 = nothing lost
//	checker overlap node1.log node2.log node3.log markers.log
package main

import (
	"embed"
	"io/fs"
	"os"

	"github.com/qpidha/qpidha/internal/checker"
)

//go:embed clients/*.py
var clients embed.FS

func main() {
	sub, err := fs.Sub(clients, "clients")
	if err != nil {
		panic(err)
	}
	os.Exit(checker.Main(os.Args[1:], os.Stdout, os.Stderr, sub))
}
