//go:build profile

// Built with -tags profile, qpidd writes a CPU profile of its whole run to
// the file QPIDD_CPUPROFILE names: how the benchmark's figures are explained.
package main

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("QPIDD_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	// SIGUSR2 ends the profile (the broker goes on).
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	go func() {
		<-c
		pprof.StopCPUProfile()
		f.Close()
	}()
}
