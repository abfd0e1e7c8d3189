package daemon

import (
	"os"
	"strconv"
	"strings"

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
