package config

import (
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for _, s := range []string{"yes", "YES", "Yes", "true", "TRUE", "on", "On", "1", ""} {
		if v, err := ParseBool(s); err != nil || !v {
			t.Errorf("ParseBool(%q) = %v, %v; want true", s, v, err)
		}
	}
	for _, s := range []string{"no", "NO", "false", "False", "off", "OFF", "0"} {
		if v, err := ParseBool(s); err != nil || v {
			t.Errorf("ParseBool(%q) = %v, %v; want false", s, v, err)
		}
	}
	for _, s := range []string{"y", "n", "2", "yess", " yes", "enabled"} {
		if _, err := ParseBool(s); err == nil {
			t.Errorf("ParseBool(%q) succeeded; want error", s)
		}
	}
}

func TestParseSeconds(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0.1", 100 * time.Millisecond},
		{"10", 10 * time.Second},
		{"10s", 10 * time.Second},
		{"10ms", 10 * time.Millisecond},
		{"10us", 10 * time.Microsecond},
		{"10ns", 10 * time.Nanosecond},
		{"1.5s", 1500 * time.Millisecond},
		{"1.5", 1500 * time.Millisecond},
		{".5", 500 * time.Millisecond},
		{"5.", 5 * time.Second},
		{"0.25ms", 250 * time.Microsecond},
		{"2.5us", 2500 * time.Nanosecond},
		{"1.9ns", 1 * time.Nanosecond}, // truncated, as the original
		{"0.000000001", 1 * time.Nanosecond},
		{"0.0000000019", 1 * time.Nanosecond},
		{"120", 120 * time.Second},
		{"9223372036", 9223372036 * time.Second},
	}
	for _, c := range good {
		got, err := ParseSeconds(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseSeconds(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	bad := []string{"", "s", "ms", ".", "-1", "-0.5s", "+1", "abc", "10m", "10h", "10 s", " 10", "10s ", "1e3",
		"0x10", "inf", "NaN", "1.2.3", "10sec", "10S", "9223372037", "99999999999999999999", "1,5"}
	for _, in := range bad {
		if got, err := ParseSeconds(in); err == nil {
			t.Errorf("ParseSeconds(%q) = %v; want error", in, got)
		}
	}
}

func TestFormatSecondsRoundTrip(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{10 * time.Second, "10s"},
		{100 * time.Millisecond, "100ms"},
		{1500 * time.Millisecond, "1.5s"},
		{250 * time.Microsecond, "250us"},
		{7, "7ns"},
		{1500 * time.Microsecond, "0.0015s"},
		{120 * time.Second, "120s"},
	} {
		if got := FormatSeconds(c.d); got != c.want {
			t.Errorf("FormatSeconds(%v) = %q; want %q", c.d, got, c.want)
		}
		back, err := ParseSeconds(c.want)
		if err != nil || back != c.d {
			t.Errorf("ParseSeconds(%q) = %v, %v; want %v", c.want, back, err, c.d)
		}
	}
}

func TestMapLogEnable(t *testing.T) {
	for _, c := range []struct {
		rules   []string
		want    string
		dropped int
	}{
		{[]string{"info+"}, "info", 0},
		{[]string{"notice+"}, "notice", 0},
		{[]string{"debug+:ha"}, "debug", 1},
		{[]string{"notice+", "debug+:ha"}, "notice", 1},
		{[]string{"warning"}, "warning", 0},
		{[]string{"warning-"}, "trace", 0},
		{[]string{"trace+:Broker", "debug+:ha"}, "trace", 2},
		{[]string{"error+", "info+"}, "info", 0},
		{[]string{"CRITICAL+"}, "critical", 0},
	} {
		got, dropped, err := mapLogEnable(c.rules)
		if err != nil || got != c.want || len(dropped) != c.dropped {
			t.Errorf("mapLogEnable(%q) = %q, %q, %v; want %q with %d categories dropped", c.rules, got, dropped, err, c.want, c.dropped)
		}
	}
	for _, r := range []string{"", "loud+", "info++", "+", ":ha", "info+-"} {
		if _, _, err := mapLogEnable([]string{r}); err == nil {
			t.Errorf("mapLogEnable(%q) succeeded; want error", r)
		}
	}
}

func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"0.1", "10", "10s", "10ms", "10us", "10ns", "1.5s", ".5", "-1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSeconds(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseSeconds(%q) = %v < 0", s, d)
		}
		back, err := ParseSeconds(FormatSeconds(d))
		if err != nil || back != d {
			t.Fatalf("ParseSeconds(FormatSeconds(%v) = %q) = %v, %v", d, FormatSeconds(d), back, err)
		}
	})
}
