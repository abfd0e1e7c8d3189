// Command man writes the broker's manual pages, qpidd.8 and qpidd.conf.5,
// from its option table (internal/config), into a directory:
//
//	go run ./packaging/man -o DIR [-version V]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/qpidha/qpidha/internal/config"
)

func main() {
	dir := flag.String("o", ".", "the directory to write qpidd.8 and qpidd.conf.5 into")
	version := flag.String("version", "dev", "the version the pages name")
	flag.Parse()
	pages := map[string]string{
		"qpidd.8":      config.ManQpidd(*version),
		"qpidd.conf.5": config.ManConf(*version),
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "man:", err)
		os.Exit(1)
	}
	for name, text := range pages {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(text), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "man:", err)
			os.Exit(1)
		}
	}
}
