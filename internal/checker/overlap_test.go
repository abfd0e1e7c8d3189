package checker

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// role is a role-change line as the brokers log it (logrus text format).
func role(from, to string, epoch int, mono int64) string {
	return fmt.Sprintf(`time="2026-11-25 16:05:53.645238" level=info msg="HA role change" epoch=%d from=%s ha=a518cc9e mono=%d to=%s`,
		epoch, from, mono, to)
}

func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

const noise = `time="2026-11-25 16:05:53.648895" level=info msg="listening on port 25671" address="127.0.0.1:25671"`

// A healthy run: each primary killed before the next is promoted; b0's
// second incarnation comes back as a backup and is promoted later.
func healthy() map[string]string {
	return map[string]string{
		"b0": lines(role("standalone", "joining", 0, 10), noise,
			role("joining", "recovering", 1, 100), role("recovering", "active", 1, 110)),
		"b1": lines(role("standalone", "joining", 0, 11), role("joining", "catchup", 0, 120),
			role("catchup", "ready", 1, 130), role("ready", "recovering", 2, 250),
			role("recovering", "active", 2, 260)),
		"b0#1": lines(role("standalone", "joining", 2, 300), role("joining", "catchup", 2, 310),
			role("catchup", "ready", 2, 320), role("ready", "recovering", 3, 450)),
		"harness": lines(KillMarker("b0", 200), KillMarker("b1", 400)),
	}
}

func TestOverlapHealthy(t *testing.T) {
	r := CheckOverlapLogs(healthy())
	if !r.OK || len(r.Problems()) != 0 {
		t.Fatalf("%+v", r.Problems())
	}
	want := []Interval{
		{Broker: "b0", Epoch: 1, Start: 100, End: 200, EndedBy: "killed", StartLine: 3},
		{Broker: "b1", Epoch: 2, Start: 250, End: 400, EndedBy: "killed", StartLine: 4},
		{Broker: "b0#1", Epoch: 3, Start: 450, Open: true, StartLine: 4},
	}
	if !reflect.DeepEqual(r.Intervals, want) {
		t.Fatalf("intervals\n got %+v\nwant %+v", r.Intervals, want)
	}
}

func TestOverlapPromotedBeforeKill(t *testing.T) {
	logs := healthy()
	logs["harness"] = lines(KillMarker("b0", 255), KillMarker("b1", 400))
	r := CheckOverlapLogs(logs)
	if r.OK || len(r.Overlaps) != 1 {
		t.Fatalf("%+v", r)
	}
	o := r.Overlaps[0]
	if o.A.Broker != "b0" || o.B.Broker != "b1" || o.From != 250 || o.To != 255 || o.Open {
		t.Fatalf("%+v", o)
	}
	want := "two primaries for 5ns from 0.000000250s to 0.000000255s: " +
		"b0 epoch 1 primary from 0.000000100s (line 3) to 0.000000255s (killed); " +
		"b1 epoch 2 primary from 0.000000250s (line 4) to 0.000000400s (killed)"
	if o.String() != want {
		t.Fatalf("\n got %s\nwant %s", o, want)
	}
}

func TestOverlapWithoutKillMarker(t *testing.T) {
	logs := healthy()
	logs["harness"] = lines(KillMarker("b1", 400)) // b0's death not recorded
	r := CheckOverlapLogs(logs)
	if r.OK || len(r.Overlaps) != 2 {
		t.Fatalf("%+v", r.Overlaps)
	}
	if o := r.Overlaps[0]; o.A.Broker != "b0" || !o.A.Open || o.From != 250 || o.To != 400 {
		t.Fatalf("%+v", o)
	}
	if o := r.Overlaps[1]; o.B.Broker != "b0#1" || !o.Open || o.From != 450 ||
		!strings.Contains(o.String(), "with no end") {
		t.Fatalf("%+v %s", o, o)
	}
}

// A log file that goes on across a restart: the restart's change to
// joining ends the first incarnation's time as primary.
func TestOverlapRestartInOneLog(t *testing.T) {
	r := CheckOverlapLogs(map[string]string{
		"b0": lines(role("joining", "recovering", 1, 100), role("standalone", "joining", 1, 300),
			role("joining", "catchup", 1, 310)),
		"b1": lines(role("ready", "recovering", 2, 200)),
	})
	if len(r.Overlaps) != 1 || r.Overlaps[0].To != 300 || !strings.Contains(r.Overlaps[0].A.EndedBy, "standalone->joining at line 2") {
		t.Fatalf("%+v", r)
	}
}

func TestOverlapStaleAndStoppedMarkers(t *testing.T) {
	r := CheckOverlapLogs(map[string]string{
		"b0": lines(role("joining", "recovering", 1, 100),
			`time="x" level=error msg="a newer primary exists: this stale primary stops serving" ha=1 mono=205 newer-epoch=2`),
		"b1": lines(role("ready", "recovering", 2, 200), "STOPPED mono=300", role("standalone", "joining", 2, 400)),
	})
	if len(r.Intervals) != 2 || r.Intervals[0].EndedBy != "stale primary stopped" || r.Intervals[1].EndedBy != "stopped" ||
		r.Intervals[1].End != 300 {
		t.Fatalf("%+v", r.Intervals)
	}
	if len(r.Overlaps) != 1 || r.Overlaps[0].From != 200 || r.Overlaps[0].To != 205 {
		t.Fatalf("the stale primary served until it noticed: %+v", r.Overlaps)
	}
}

func TestOverlapJSONLog(t *testing.T) {
	r := CheckOverlapLogs(map[string]string{
		"b0": `{"epoch":1,"from":"joining","level":"info","mono":100,"msg":"HA role change","to":"recovering"}` + "\n" +
			"KILLED mono=150\n",
		"b1": lines(role("ready", "recovering", 2, 200)),
	})
	if !r.OK || len(r.Intervals) != 2 || r.Intervals[0].End != 150 {
		t.Fatalf("%+v", r)
	}
}

func TestOverlapEpochs(t *testing.T) {
	r := CheckOverlapLogs(map[string]string{
		"b0":      lines(role("joining", "recovering", 2, 100)),
		"b1":      lines(role("ready", "recovering", 2, 200)),
		"harness": lines(KillMarker("b0", 150)),
	})
	if r.OK || len(r.Overlaps) != 0 || len(r.EpochConflicts) != 1 ||
		!strings.HasPrefix(r.EpochConflicts[0], "epoch 2 of b1 epoch 2 primary from") {
		t.Fatalf("%+v", r)
	}
}

func TestOverlapBadLines(t *testing.T) {
	r := CheckOverlapLogs(map[string]string{
		"b0": lines(`level=info msg="HA role change" from=ready to=recovering epoch=1`, "KILLED broker=b0 mono=soon"),
	})
	if r.OK || len(r.Errors) != 2 || !strings.HasPrefix(r.Errors[0], "b0:1: role-change line without a valid mono") ||
		!strings.HasPrefix(r.Errors[1], "b0:2: KILLED marker without a valid mono") {
		t.Fatalf("%q", r.Errors)
	}
}

func TestParseFields(t *testing.T) {
	got := parseFields(`time="2026 x" level=info msg="say \"hi\"\tnow" empty= n=3 bare words k=v`)
	want := map[string]string{"time": "2026 x", "level": "info", "msg": "say \"hi\"\tnow", "empty": "", "n": "3", "k": "v"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q", got)
	}
	if f := parseFields(`msg="unterminated`); len(f) != 0 {
		t.Fatalf("%q", f)
	}
}

func TestOverlapFilesAndCommand(t *testing.T) {
	dir := t.TempDir()
	logs := healthy()
	var paths []string
	for _, name := range []string{"b0", "b1", "b0#1", "harness"} {
		p := filepath.Join(dir, name+".log")
		text := strings.ReplaceAll(logs[name], "broker=b0 ", "broker=b0.log ") // base names
		text = strings.ReplaceAll(text, "broker=b1 ", "broker="+filepath.Join(dir, "b1.log")+" ")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if r := CheckOverlapFiles(paths...); !r.OK || len(r.Intervals) != 3 || r.Intervals[0].Open || r.Intervals[1].Open {
		t.Fatalf("%+v", r)
	}
	var out, errs bytes.Buffer
	if code := Main(append([]string{"overlap"}, paths...), &out, &errs, nil); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "overlap check: 3 primaries, 0 overlaps, 0 epoch conflicts, 0 errors: OK") {
		t.Fatal(out.String())
	}
	// Without the harness's markers, the killed primaries never end.
	out.Reset()
	if code := Main(append([]string{"overlap"}, paths[:3]...), &out, &errs, nil); code != 1 ||
		!strings.Contains(out.String(), "PROBLEM: two primaries") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"overlap", "--json", filepath.Join(dir, "missing")}, &out, &errs, nil); code != 1 ||
		!strings.Contains(out.String(), `"ok": false`) {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
}

func TestMainUsage(t *testing.T) {
	var out, errs bytes.Buffer
	for _, args := range [][]string{nil, {"frobnicate"}, {"overlap"}, {"run"}, {"run", "--urls", "h:1", "extra"},
		{"run", "--urls", "h:1", "--client", "rust"}, {"run", "--bogus"}} {
		if code := Main(args, &out, &errs, nil); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code := Main([]string{"help"}, &out, &errs, nil); code != 0 {
		t.Errorf("help: exit %d", code)
	}
	out.Reset()
	before := Monotonic()
	if code := Main([]string{"mono"}, &out, &errs, nil); code != 0 {
		t.Errorf("mono: exit %d", code)
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64); err != nil || n < before || n > Monotonic() {
		t.Errorf("mono printed %q", out.String())
	}
}
