package daemon

import (
	"fmt"
	"sort"
	"strings"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

// JournalAvailable reports whether the systemd journal accepts messages
// (journald's socket is there).
func JournalAvailable() bool { return journal.Enabled() }

// JournalHook is a logrus hook that sends every entry to the systemd
// journal with the priority of its level. The message carries the entry's
// fields as key=value (so journalctl shows them); each field is also a
// journal field of its own, its name upper-cased (address: ADDRESS).
type JournalHook struct {
	// Identifier is SYSLOG_IDENTIFIER (journalctl -t), e.g. "qpidd".
	Identifier string
	// send is journal.Send; tests replace it.
	send func(message string, priority journal.Priority, vars map[string]string) error
}

// NewJournalHook returns a hook that logs as identifier.
func NewJournalHook(identifier string) *JournalHook {
	return &JournalHook{Identifier: identifier, send: journal.Send}
}

// Levels are all levels: the logger's level filters.
func (h *JournalHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire sends one entry.
func (h *JournalHook) Fire(e *logrus.Entry) error {
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var msg strings.Builder
	msg.WriteString(e.Message)
	vars := make(map[string]string, len(keys)+1)
	if h.Identifier != "" {
		vars["SYSLOG_IDENTIFIER"] = h.Identifier
	}
	for _, k := range keys {
		v := fmt.Sprint(e.Data[k])
		if err, ok := e.Data[k].(error); ok {
			v = err.Error()
		}
		fmt.Fprintf(&msg, " %s=%q", k, v)
		if name := journalField(k); name != "" {
			if _, taken := vars[name]; !taken {
				vars[name] = v
			}
		}
	}
	return h.send(msg.String(), Priority(e.Level), vars)
}

// Priority maps a logrus level to a journal (syslog) priority; the
// original's critical is logrus's fatal.
func Priority(l logrus.Level) journal.Priority {
	switch l {
	case logrus.PanicLevel, logrus.FatalLevel:
		return journal.PriCrit
	case logrus.ErrorLevel:
		return journal.PriErr
	case logrus.WarnLevel:
		return journal.PriWarning
	case logrus.InfoLevel:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}

// journalField turns a logrus field name into a valid journal field name
// (A-Z, 0-9, _, not starting with _), "" if none remains. Names the journal
// gives a meaning (MESSAGE, PRIORITY, ...) get a QPID_ prefix.
func journalField(k string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(k) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := strings.TrimLeft(b.String(), "_")
	switch name {
	case "":
		return ""
	case "MESSAGE", "MESSAGE_ID", "PRIORITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
		"ERRNO", "SYSLOG_FACILITY", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "SYSLOG_TIMESTAMP":
		return "QPID_" + name
	}
	if name[0] >= '0' && name[0] <= '9' {
		return "QPID_" + name
	}
	return name
}
