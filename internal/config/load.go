package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// setting is one name=value as read from one place.
type setting struct {
	op       *option
	value    string
	hasValue bool   // false: a yes|no option given without a value (means yes)
	source   string // "path:line", "QPID_PORT", `argument "--port"`
}

// Source kinds, lowest precedence first.
const (
	layerFile = iota
	layerEnv
	layerArgs
)

// Defaults returns the options with every default value.
func Defaults() *Options {
	o := &Options{sources: make(map[string]string, len(options))}
	for _, op := range options {
		if op.field == nil {
			continue
		}
		if op.def != "" {
			v, err := op.parseValue(op.def)
			if err != nil {
				panic(fmt.Sprintf("config: bad default %q of %s: %v", op.def, op.name, err))
			}
			op.store(o, v)
		}
		o.sources[op.name] = "default"
	}
	return o
}

// HelpRequested reports whether args (without the program name) ask for
// help (--help, -h) or the version (--version, -v). Like the original, a
// program should check this before Load, so that help is printed even when
// other options are wrong.
func HelpRequested(args []string) (help, version bool) {
	for _, a := range args {
		switch {
		case a == "--":
			return
		case a == "--help" || a == "-h" || strings.HasPrefix(a, "--help="):
			help = true
		case a == "--version" || a == "-v" || strings.HasPrefix(a, "--version="):
			version = true
		}
	}
	return
}

// Load reads the broker's options from args (the command line without the
// program name), environ ("NAME=value" strings, as from os.Environ) and the
// configuration file, with the precedence command line > QPID_<OPTION>
// environment variables > configuration file > defaults. The file is the one
// named by --config, else by QPID_CONFIG, else DefaultConfigFile; a missing
// DefaultConfigFile is not an error, a missing named file is. An empty name
// reads no file.
//
// It returns the options and one warning per obsolete option (or other
// harmless oddity) in the order read: file, environment, command line. The
// error, if any, is an *Error naming the option and where it was set.
func Load(args []string, environ []string) (*Options, []string, error) {
	cli, err := parseArgs(args)
	if err != nil {
		return nil, nil, err
	}
	env := parseEnv(environ)

	path, src, explicit := DefaultConfigFile, "default", false
	for _, layer := range [][]setting{env, cli} {
		for _, s := range layer {
			if s.op.name == "config" {
				path, src, explicit = s.value, s.source, true
			}
		}
	}
	var file []setting
	if path != "" {
		file, err = readConfigFile(path, explicit, src)
		if err != nil {
			return nil, nil, err
		}
	}
	o, warnings, err := apply([][]setting{file, env, cli})
	if err != nil {
		return nil, nil, err
	}
	o.Config, o.sources["config"] = path, src
	return o, warnings, nil
}

// ReadFile reads the options of a configuration file and the environment
// only (environment > file > defaults), for tools that take their settings
// from the broker's qpidd.conf, as qpid-ha --config FILE does. An empty path
// means the file named by QPID_CONFIG, else DefaultConfigFile, which may be
// missing; a non-empty path must exist and QPID_CONFIG is then ignored.
func ReadFile(path string, environ []string) (*Options, []string, error) {
	env := parseEnv(environ)
	src, explicit := path, true
	if path == "" {
		path, src, explicit = DefaultConfigFile, "default", false
		for _, s := range env {
			if s.op.name == "config" {
				path, src, explicit = s.value, s.source, true
			}
		}
	}
	var file []setting
	if path != "" {
		var err error
		if file, err = readConfigFile(path, explicit, src); err != nil {
			return nil, nil, err
		}
	}
	o, warnings, err := apply([][]setting{file, env})
	if err != nil {
		return nil, nil, err
	}
	o.Config, o.sources["config"] = path, src
	return o, warnings, nil
}

// parseArgs parses the command line: --name value, --name=value, -p value,
// -pvalue, -p=value; yes|no options take an optional value (--ha-cluster,
// --ha-cluster=no, --ha-cluster no); switches (--daemon) none.
func parseArgs(args []string) ([]setting, error) {
	var out []setting
	for i := 0; i < len(args); i++ {
		arg := args[i]
		// next returns the following argument as a value if it can be one.
		next := func() (string, bool) {
			if i+1 >= len(args) {
				return "", false
			}
			n := args[i+1]
			if strings.HasPrefix(n, "--") || (len(n) > 1 && n[0] == '-' && byShort[n[1]] != nil) {
				return "", false
			}
			return n, true
		}
		switch {
		case arg == "--" || arg == "-" || !strings.HasPrefix(arg, "-"):
			return nil, &Error{Source: fmt.Sprintf("argument %q", arg), Value: arg,
				Err: fmt.Errorf("%w: unexpected argument (qpidd takes only options)", ErrSyntax)}

		case strings.HasPrefix(arg, "--"):
			name, val, hasEq := strings.Cut(arg[2:], "=")
			src := fmt.Sprintf("argument %q", "--"+name)
			op := byName[name]
			if op == nil {
				return nil, &Error{Option: name, Source: src, Err: ErrUnknownOption}
			}
			s := setting{op: op, value: val, hasValue: hasEq, source: src}
			if !hasEq {
				switch op.kind {
				case kindSwitch:
				case kindBool:
					if n, ok := next(); ok && isBoolWord(n) {
						s.value, s.hasValue = n, true
						i++
					}
				default:
					n, ok := next()
					if !ok {
						return nil, &Error{Option: name, Source: src, Err: ErrMissingValue}
					}
					s.value, s.hasValue = n, true
					i++
				}
			}
			out = append(out, s)

		default: // -x...
			for j := 1; j < len(arg); j++ {
				c := arg[j]
				src := fmt.Sprintf("argument %q", "-"+string(c))
				op := byShort[c]
				if op == nil {
					return nil, &Error{Option: string(c), Source: src, Err: ErrUnknownOption}
				}
				s := setting{op: op, source: src}
				rest := arg[j+1:]
				if strings.HasPrefix(rest, "=") {
					s.value, s.hasValue = rest[1:], true
					out = append(out, s)
					break
				}
				if !op.takesValue() {
					// A yes|no option: the rest, if any, are more short options
					// (-dt); at the end, a yes|no word may follow (-t yes).
					if rest == "" && op.kind == kindBool {
						if n, ok := next(); ok && isBoolWord(n) {
							s.value, s.hasValue = n, true
							i++
						}
					}
					out = append(out, s)
					continue
				}
				if rest != "" {
					s.value, s.hasValue = rest, true
				} else if n, ok := next(); ok {
					s.value, s.hasValue = n, true
					i++
				} else {
					return nil, &Error{Option: op.name, Source: src, Err: ErrMissingValue}
				}
				out = append(out, s)
				break
			}
		}
	}
	return out, nil
}

// EnvName is the environment variable of an option, as in the original:
// QPID_ and the name upper-cased with '-' (and '.') replaced by '_':
// ha-brokers-url is QPID_HA_BROKERS_URL.
func EnvName(option string) string {
	return "QPID_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(option))
}

// parseEnv picks the QPID_<OPTION> variables out of environ. As in the
// original, QPID_ variables that name no option (QPID_BIN, QPID_HA_OPTIONS of
// the init scripts' sysconfig file) are ignored. A variable listed twice
// counts once, the first, as for os.Getenv.
func parseEnv(environ []string) []setting {
	var out []setting
	seen := map[string]bool{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "QPID_") || seen[k] {
			continue
		}
		seen[k] = true
		if op := envNames[k]; op != nil {
			out = append(out, setting{op: op, value: v, hasValue: true, source: k})
		}
	}
	return out
}

// readConfigFile reads name=value lines in the style of boost
// program_options, as the original does: '#' starts a comment anywhere on a
// line, whitespace around names and values is trimmed, blank lines are
// skipped; every other line must be name=value with a known name.
func readConfigFile(path string, explicit bool, src string) ([]setting, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, &Error{Option: "config", Source: src, Value: path, Err: fmt.Errorf("%w: %w", ErrConfigFile, err)}
	}
	return parseConfigText(path, string(data))
}

// parseConfigText parses the text of configuration file path.
func parseConfigText(path, text string) ([]setting, error) {
	text = strings.TrimPrefix(text, "\uFEFF")
	var out []setting
	for n, line := range strings.Split(text, "\n") {
		where := fmt.Sprintf("%s:%d", path, n+1)
		raw := strings.TrimRight(line, "\r")
		if i := strings.IndexByte(raw, '#'); i >= 0 {
			line = raw[:i]
		} else {
			line = raw
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, &Error{Source: where, Value: strings.TrimSpace(raw),
				Err: fmt.Errorf("%w: expected name=value", ErrSyntax)}
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		op := byName[name]
		if op == nil {
			return nil, &Error{Option: name, Source: where, Err: ErrUnknownOption}
		}
		out = append(out, setting{op: op, value: value, hasValue: true, source: where})
	}
	return out, nil
}

// apply lays the sources over the defaults, lowest precedence first.
// A scalar takes the value of the highest source that sets it (within one
// source, the last); a list takes all the values of the highest source that
// sets it.
func apply(layers [][]setting) (*Options, []string, error) {
	o := Defaults()
	levelLayer, traceLayer := -1, -1 // where log-level and trace were last set
	var warnings []string
	warn := func(format string, a ...any) { warnings = append(warnings, fmt.Sprintf(format, a...)) }
	for kind, layer := range layers {
		listSeen := map[string]bool{}
		firstAt := map[string]string{}
		obsoleteSeen := map[string]bool{}
		var logEnable []setting
		logEnableAt := 0 // where its warning goes among the warnings
		levelSet := false
		for _, s := range layer {
			op := s.op
			switch {
			case op.name == "log-enable":
				for _, rule := range strings.Fields(s.value) {
					if _, _, err := mapLogEnable([]string{rule}); err != nil {
						return nil, nil, &Error{Option: op.name, Source: s.source, Value: s.value, Err: err}
					}
				}
				if strings.TrimSpace(s.value) == "" {
					return nil, nil, &Error{Option: op.name, Source: s.source, Value: s.value,
						Err: errors.New("expected a rule LEVEL[+|-][:CATEGORY]")}
				}
				if len(logEnable) == 0 {
					logEnableAt = len(warnings)
				}
				logEnable = append(logEnable, s)
				continue
			case op.obsolete != "":
				if obsoleteSeen[op.name] {
					continue
				}
				obsoleteSeen[op.name] = true
				if op.name == "mgmt-enable" {
					if on, err := ParseBool(s.value); err == nil && !on {
						warn("%s: option \"mgmt-enable\" is set to %q, which is ignored: management is always on (HA needs it)", s.source, s.value)
						continue
					}
				}
				warn("%s: option %q is obsolete and ignored (%s)", s.source, op.name, op.obsolete)
				continue
			case op.name == "log-level" && isBoolWord(s.value):
				warn("%s: option \"log-level\" with value %q is the original's switch to show levels in log lines, which is obsolete and ignored; log-level now takes a level (%s)",
					s.source, s.value, strings.Join(LogLevels, "|"))
				continue
			case op.name == "config" && kind == layerFile:
				warn("%s: option \"config\" has no effect in a configuration file", s.source)
				continue
			}
			var v any = true
			if s.hasValue {
				var err error
				if v, err = op.parseValue(s.value); err != nil {
					return nil, nil, &Error{Option: op.name, Source: s.source, Value: s.value, Err: err}
				}
			}
			if op.isList() {
				if !listSeen[op.name] {
					*op.field(o).(*[]string) = nil
					listSeen[op.name] = true
				}
			} else if kind == layerFile {
				if first, ok := firstAt[op.name]; ok {
					warn("%s: option %q is set again (first at %s); the last value is used", s.source, op.name, first)
				} else {
					firstAt[op.name] = s.source
				}
			}
			op.store(o, v)
			o.sources[op.name] = s.source
			switch op.name {
			case "log-level":
				levelSet, levelLayer = true, kind
			case "trace":
				traceLayer = kind
			}
		}
		if len(logEnable) > 0 {
			var rules, quoted []string
			for _, s := range logEnable {
				for _, r := range strings.Fields(s.value) {
					rules = append(rules, r)
					quoted = append(quoted, fmt.Sprintf("%q", r))
				}
			}
			level, dropped, _ := mapLogEnable(rules)
			src := logEnable[0].source
			msg := fmt.Sprintf("%s: option \"log-enable\" is obsolete: %s mapped to log-level=%s", src, strings.Join(quoted, ", "), level)
			if len(dropped) > 0 {
				msg += fmt.Sprintf("; categories ignored (%s)", strings.Join(dropped, ", "))
			}
			if levelSet {
				msg += fmt.Sprintf("; not used, log-level is set at %s", o.sources["log-level"])
			} else {
				o.LogLevel, levelLayer = level, kind
				o.sources["log-level"] = src
			}
			warnings = append(warnings[:logEnableAt], append([]string{msg}, warnings[logEnableAt:]...)...)
		}
	}
	// trace (-t) is log-level trace set where trace is set: it wins over a
	// log level set in the same or a lower source.
	if o.Trace && traceLayer >= levelLayer {
		o.LogLevel = "trace"
		o.sources["log-level"] = o.sources["trace"]
	}
	return o, warnings, nil
}
