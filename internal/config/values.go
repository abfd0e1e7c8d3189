package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseBool parses a yes|no value the way the original (boost
// program_options) does: yes, true, on, 1 and the empty string are true; no,
// false, off, 0 are false; case is ignored.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "", "yes", "true", "on", "1":
		return true, nil
	case "no", "false", "off", "0":
		return false, nil
	}
	return false, errors.New("expected yes|no (also true|false, on|off, 1|0)")
}

// isBoolWord reports whether s is an explicit (non-empty) yes|no spelling; on
// the command line such a word after a yes|no option is taken as its value.
func isBoolWord(s string) bool {
	if s == "" {
		return false
	}
	_, err := ParseBool(s)
	return err == nil
}

// ParseSeconds parses a SECONDS value: a non-negative decimal number with an
// optional fraction and an optional unit, s (the default), ms, us or ns:
// "10", "0.1", "1.5s", "10ms", "10us", "10ns". Digits beyond the nanosecond
// are truncated, as in the original. Signs, exponents, spaces and other units
// are rejected.
func ParseSeconds(s string) (time.Duration, error) {
	return parseDuration(s, time.Second)
}

// parseDuration parses a number with an optional s|ms|us|ns unit; a bare
// number is in units of unit.
func parseDuration(s string, unit time.Duration) (time.Duration, error) {
	num := s
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"us", time.Microsecond}, {"ns", time.Nanosecond}, {"s", time.Second}} {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSuffix(s, u.suffix), u.d
			break
		}
	}
	intPart, fracPart, _ := strings.Cut(num, ".")
	if (intPart == "" && fracPart == "") || !allDigits(intPart) || !allDigits(fracPart) {
		return 0, fmt.Errorf("expected a number of seconds with an optional unit s, ms, us or ns (e.g. 10, 0.1, 10s, 500ms)")
	}
	const tooLong = "too long"
	var whole uint64
	if intPart != "" {
		n, err := strconv.ParseUint(intPart, 10, 64)
		if err != nil {
			return 0, errors.New(tooLong)
		}
		whole = n
	}
	if whole > uint64(math.MaxInt64/int64(unit)) {
		return 0, errors.New(tooLong)
	}
	d := time.Duration(whole) * unit
	// Exact decimal fraction of the unit, truncated to whole nanoseconds.
	scale := int64(unit)
	var frac int64
	for _, c := range fracPart {
		if scale < 10 {
			break
		}
		scale /= 10
		frac += int64(c-'0') * scale
	}
	if d > math.MaxInt64-time.Duration(frac) {
		return 0, errors.New(tooLong)
	}
	return d + time.Duration(frac), nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// FormatSeconds renders a duration in the SECONDS syntax ParseSeconds reads
// back: "10s", "0.1s", "500ms", "250us", "7ns", "0".
func FormatSeconds(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d < time.Second && d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d < time.Millisecond && d%time.Microsecond == 0:
		return strconv.FormatInt(int64(d/time.Microsecond), 10) + "us"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	}
	s := strconv.FormatInt(int64(d/time.Second), 10)
	if f := int64(d % time.Second); f != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%09d", f), "0")
	}
	return s + "s"
}

// parseUint parses a plain decimal integer in [min, max].
func parseUint(s string, min, max uint64) (uint64, error) {
	if s == "" || !allDigits(s) {
		return 0, errors.New("expected a non-negative whole number")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, fmt.Errorf("out of range %d..%d", min, max)
	}
	return n, nil
}

// LogLevels are the values of log-level, lowest first (the original's levels).
var LogLevels = []string{"trace", "debug", "info", "notice", "warning", "error", "critical"}

func logLevelIndex(s string) int {
	for i, l := range LogLevels {
		if l == s {
			return i
		}
	}
	return -1
}

// mapLogEnable turns the original's log-enable rules into one log level:
// the lowest level enabled by the rules that name no category (they applied
// to every message), or, if every rule names a category, the lowest level
// enabled by any rule. A rule is LEVEL[+|-][:PATTERN]: "LEVEL+" enables LEVEL
// and above, "LEVEL" only LEVEL, "LEVEL-" LEVEL and below (so its lowest is
// trace). It returns the categories (patterns) that were dropped.
func mapLogEnable(rules []string) (level string, dropped []string, err error) {
	lowAll, lowPlain := len(LogLevels), len(LogLevels)
	for _, r := range rules {
		spec, pattern, hasPattern := strings.Cut(strings.TrimSpace(r), ":")
		name := strings.TrimRight(spec, "+-")
		i := logLevelIndex(strings.ToLower(name))
		if i < 0 || len(spec)-len(name) > 1 {
			return "", nil, fmt.Errorf("rule %q: expected LEVEL[+|-][:CATEGORY] with LEVEL one of %s", r, strings.Join(LogLevels, "|"))
		}
		if strings.HasSuffix(spec, "-") {
			i = 0
		}
		lowAll = min(lowAll, i)
		if hasPattern && pattern != "" {
			dropped = append(dropped, pattern)
		} else {
			lowPlain = min(lowPlain, i)
		}
	}
	if lowPlain < len(LogLevels) {
		return LogLevels[lowPlain], dropped, nil
	}
	if lowAll < len(LogLevels) {
		return LogLevels[lowAll], dropped, nil
	}
	return "", nil, errors.New("no rule")
}
