package checker

import (
	"crypto/tls"
	"reflect"
	"strings"
	"testing"
)

func TestTrackerCounts(t *testing.T) {
	tr := NewTracker()
	for seq := 1; seq <= 5; seq++ {
		tr.Confirmed(ID{1, seq})
	}
	tr.Retry(ID{1, 6}) // sent, never confirmed...
	tr.Issued(1, 7)    // ...and 7 was never confirmed either
	tr.Received(ID{1, 1})
	tr.Received(ID{1, 2})
	tr.Received(ID{1, 2}) // redelivered
	tr.Received(ID{1, 2})
	tr.Received(ID{1, 4})
	tr.Received(ID{1, 6}) // its confirmation was lost with a connection
	tr.Received(ID{2, 1}) // no sender 2
	tr.Foreign()
	tr.Disconnected("sender")
	tr.Disconnected("receiver")
	tr.Disconnected("receiver")
	tr.Note("hello %d", 1)

	if confirmed, received := tr.Progress(); confirmed != 5 || received != 5 {
		t.Fatalf("progress %d %d", confirmed, received)
	}
	if n := tr.Missing(); n != 2 {
		t.Fatalf("missing %d, want 2 (1:3 and 1:5)", n)
	}
	got := tr.Counts(1)
	want := Counts{
		Issued: 7, Confirmed: 5, Unconfirmed: 2,
		Received: 5, Deliveries: 7,
		Lost: 2, LostIDs: []string{"1:3"},
		Duplicates: 1, DuplicateDeliveries: 2, DuplicateIDs: []string{"1:2"},
		ReceivedUnconfirmed: 1,
		Unexpected:          1, UnexpectedIDs: []string{"2:1"},
		Foreign: 1, Retries: 1,
		SenderDisconnects: 1, ReceiverDisconnects: 2,
		Notes: []string{"hello 1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("counts\n got %+v\nwant %+v", got, want)
	}
	if ids := tr.Counts(10).LostIDs; !reflect.DeepEqual(ids, []string{"1:3", "1:5"}) {
		t.Fatalf("lost ids %v", ids)
	}
}

func TestTrackerSortsIDsNumerically(t *testing.T) {
	tr := NewTracker()
	for _, id := range []ID{{2, 1}, {1, 10}, {1, 9}, {10, 1}} {
		tr.Confirmed(id)
	}
	if ids := tr.Counts(10).LostIDs; !reflect.DeepEqual(ids, []string{"1:9", "1:10", "2:1", "10:1"}) {
		t.Fatalf("lost ids %v", ids)
	}
}

func TestTrackerCapsNotes(t *testing.T) {
	tr := NewTracker()
	for i := 0; i < maxNotes+3; i++ {
		tr.Note("n%d", i)
	}
	notes := tr.Counts(1).Notes
	if len(notes) != maxNotes+1 || notes[maxNotes] != "(3 more notes dropped)" {
		t.Fatalf("%d notes, last %q", len(notes), notes[len(notes)-1])
	}
}

func TestReportJudge(t *testing.T) {
	r := &Report{Client: "go", Senders: 1, Receivers: 1, Counts: Counts{Confirmed: 3, Received: 3, Duplicates: 1}}
	r.Judge()
	if !r.OK || !strings.HasSuffix(r.Summary(), " OK") {
		t.Fatalf("duplicates must not fail a run: %+v %s", r, r.Summary())
	}
	r.Lost, r.LostIDs = 1, []string{"1:2"}
	r.Judge()
	if r.OK || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "1:2") {
		t.Fatalf("a lost message must fail a run: %+v", r)
	}
	r.Lost, r.LostIDs = 0, nil
	r.Overlap = &OverlapReport{Errors: []string{"x.log:3: bad"}}
	r.Judge()
	if r.OK || !strings.Contains(r.Summary(), "FAILED") {
		t.Fatalf("an overlap problem must fail a run: %+v", r)
	}
}

func TestParseClientLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want clientEvent
	}{
		{"confirmed 2 17", clientEvent{kind: "confirmed", id: ID{2, 17}, text: "2 17"}},
		{"received 1 3", clientEvent{kind: "received", id: ID{1, 3}, text: "1 3"}},
		{"retry 1 4 disconnected", clientEvent{kind: "retry", id: ID{1, 4}, text: "1 4 disconnected"}},
		{"done 3 120 118", clientEvent{kind: "done", id: ID{3, 120}, text: "3 120 118"}},
		{"done 40", clientEvent{kind: "done", text: "40"}},
		{"disconnected amqp:connection:forced", clientEvent{kind: "disconnected", text: "amqp:connection:forced"}},
		{"foreign None", clientEvent{kind: "foreign", text: "None"}},
	} {
		got, err := parseClientLine(c.line)
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.line, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "confirmed 1", "received a b", "Traceback (most recent call last):"} {
		if _, err := parseClientLine(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	m := newMessage("r1", 3, 42)
	if id, ok := messageID("r1", m); !ok || id != (ID{3, 42}) {
		t.Fatalf("%v %v", id, ok)
	}
	if _, ok := messageID("r2", m); ok {
		t.Fatal("another run's message must be foreign")
	}
	m.ApplicationProperties["seq"] = "42"
	if _, ok := messageID("r1", m); ok {
		t.Fatal("a seq that is not a number must be foreign")
	}
}

func TestConfig(t *testing.T) {
	var c Config
	c.Defaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "URLs") {
		t.Fatalf("no URLs: %v", err)
	}
	c.URLs = []string{"127.0.0.1:5672"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.RunID == "" || c.Window != 10 || c.Client != "go" {
		t.Fatalf("defaults %+v", c)
	}
	c.Client = "proton"
	if err := c.Validate(); err == nil {
		t.Fatal("proton clients need a directory")
	}
	c.ClientsDir, c.ProtonReconnect = "/x", "never"
	if err := c.Validate(); err == nil {
		t.Fatal("bad proton reconnect accepted")
	}
	if amqpURL("h:1") != "amqp://h:1" || amqpURL("amqps://h:1") != "amqps://h:1" {
		t.Fatal("amqpURL")
	}
}

func TestTLSAndCredentials(t *testing.T) {
	c := Config{URLs: []string{"h:1"}, Receivers: 1, Client: "go", ProtonReconnect: "proton"}
	if c.url("h:1") != "amqp://h:1" {
		t.Errorf("without TLS: %s", c.url("h:1"))
	}
	c.TLS = &tls.Config{}
	if c.url("h:1") != "amqps://h:1" || c.url("amqp://h:1") != "amqp://h:1" {
		t.Errorf("with TLS: %s %s", c.url("h:1"), c.url("amqp://h:1"))
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Client, c.ClientsDir = "proton", "/x"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "go client only") {
		t.Errorf("proton with TLS: %v", err)
	}
	if _, err := TLSTrusting("/nonexistent"); err == nil {
		t.Error("TLSTrusting of a missing file")
	}
}
