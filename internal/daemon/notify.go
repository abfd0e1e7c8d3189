package daemon

import (
	"os"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// Notify sends sd_notify(3) assignments ("READY=1", "STATUS=...") to the
// service manager, one message. It does nothing (and returns nil) when
// NOTIFY_SOCKET is unset, that is, when not started by systemd with
// Type=notify; notification is best-effort and callers may ignore errors.
func Notify(assignments ...string) error {
	if len(assignments) == 0 {
		return nil
	}
	_, err := sd.SdNotify(false, strings.Join(assignments, "\n")+"\n")
	return err
}

// Ready tells the service manager that the broker serves, with a one-line
// status. If mainPID is true it also says that this process is the
// service's main process (a daemon child, whose parent systemd started).
func Ready(status string, mainPID bool) error {
	a := []string{sd.SdNotifyReady, statusLine(status)}
	if mainPID {
		a = append(a, "MAINPID="+strconv.Itoa(os.Getpid()))
	}
	return Notify(a...)
}

// Status updates the one-line status systemctl status shows, e.g. when the
// HA role changes ("serving on port 5672, primary (active)").
func Status(line string) error {
	return Notify(statusLine(line))
}

// Stopping tells the service manager that the broker is shutting down.
func Stopping(status string) error {
	return Notify(sd.SdNotifyStopping, statusLine(status))
}

// statusLine makes a STATUS= assignment of one line.
func statusLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return "STATUS=" + s
}

// Watchdog keeps the service manager's watchdog (WatchdogSec=, which sets
// WATCHDOG_USEC for this process) fed: every half interval it calls alive
// and, if alive returns within that half, sends WATCHDOG=1. A broker that
// is wedged (a deadlock on a lock alive takes) misses it, and systemd
// kills and restarts it. Without a watchdog asked for it does nothing. The
// function returned stops it and waits for its goroutine.
func Watchdog(alive func()) (interval time.Duration, stop func()) {
	interval, err := sd.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return 0, func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
			}
			answered := make(chan struct{})
			go func() { alive(); close(answered) }() // left behind if wedged: systemd ends the process
			select {
			case <-answered:
				_ = Notify("WATCHDOG=1")
			case <-time.After(interval / 2):
			case <-quit:
				return
			}
		}
	}()
	return interval, func() { close(quit); <-done }
}
