// Command qpidd is the AMQP 1.0 message broker with the HA module: see
// internal/qpidd for what it runs, and `qpidd --help` for its options.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/qpidd"
)

func main() {
	os.Exit(qpidd.Main(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}
