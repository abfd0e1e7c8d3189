// Package daemon holds the process mechanics of qpidd as the original's init
// scripts and systemd use them: the data directory lock, pid files, running
// in the background (--daemon), finding and stopping a running broker
// (--check, --quit, --kill), sd_notify, and log outputs (journald, a log
// file that can be reopened).
//
// Go cannot fork, so --daemon re-executes the same binary with the same
// arguments and environment plus ChildEnv; the child reports "ready <port>"
// or "error <reason>" on a pipe and the parent waits for that (Spawn).
//
// Everything here is small and independent; internal/qpidd/main.go puts
// it together.
package daemon
