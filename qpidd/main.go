// Command qpidd is the AMQP 1.0 message broker with the HA module: see
// internal/brokerd for what it runs, and `qpidd --help` for its options.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/brokerd"
)

func main() {
	os.Exit(brokerd.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
