package daemon

import (
	"errors"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/sirupsen/logrus"
)

type sent struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

func TestJournalHook(t *testing.T) {
	var got []sent
	h := NewJournalHook("qpidd")
	h.send = func(msg string, pri journal.Priority, vars map[string]string) error {
		got = append(got, sent{msg, pri, vars})
		return nil
	}
	log := logrus.New()
	log.SetOutput(new(strings.Builder))
	log.SetLevel(logrus.DebugLevel)
	log.AddHook(h)
	log.WithField("address", "[::]:5672").WithField("priority", 3).Info("listening on port 5672")
	log.WithError(errors.New("boom")).Error("failed")
	log.Warn("careful")
	log.Debug("detail")
	log.Trace("filtered by the level")

	if len(got) != 4 {
		t.Fatalf("sent %d entries: %+v", len(got), got)
	}
	e := got[0]
	if e.msg != `listening on port 5672 address="[::]:5672" priority="3"` || e.pri != journal.PriInfo {
		t.Errorf("entry %q priority %d", e.msg, e.pri)
	}
	if e.vars["SYSLOG_IDENTIFIER"] != "qpidd" || e.vars["ADDRESS"] != "[::]:5672" || e.vars["QPID_PRIORITY"] != "3" {
		t.Errorf("vars %v", e.vars)
	}
	if _, bad := e.vars["PRIORITY"]; bad {
		t.Error("a field overrode the journal's PRIORITY")
	}
	if got[1].pri != journal.PriErr || got[1].vars["ERROR"] != "boom" {
		t.Errorf("error entry %+v", got[1])
	}
	if got[2].pri != journal.PriWarning || got[3].pri != journal.PriDebug {
		t.Errorf("priorities %d %d", got[2].pri, got[3].pri)
	}
}

func TestPriority(t *testing.T) {
	for l, want := range map[logrus.Level]journal.Priority{
		logrus.PanicLevel: journal.PriCrit, logrus.FatalLevel: journal.PriCrit,
		logrus.ErrorLevel: journal.PriErr, logrus.WarnLevel: journal.PriWarning,
		logrus.InfoLevel: journal.PriInfo, logrus.DebugLevel: journal.PriDebug, logrus.TraceLevel: journal.PriDebug,
	} {
		if got := Priority(l); got != want {
			t.Errorf("Priority(%v) = %d, want %d", l, got, want)
		}
	}
}

func TestJournalField(t *testing.T) {
	for in, want := range map[string]string{
		"address": "ADDRESS", "remote-addr": "REMOTE_ADDR", "_x": "X", "9lives": "QPID_9LIVES",
		"message": "QPID_MESSAGE", "": "", "__": "", "ha.role": "HA_ROLE",
	} {
		if got := journalField(in); got != want {
			t.Errorf("journalField(%q) = %q, want %q", in, got, want)
		}
	}
}
