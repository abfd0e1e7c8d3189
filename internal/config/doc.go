// Package config reads the broker's options the way the original qpidd does,
// so that existing /etc/qpid/qpidd.conf files, sysconfig files and init
// scripts keep working.
//
// # Sources and precedence
//
// Every option can be set in three places; the first of these that sets it
// wins, then the default:
//
//  1. the command line: --name value, --name=value, and the original's short
//     options -h -v -p -d -w -c -q -k -t (-p 5673, -p5673, -dt). A yes|no
//     option may go without a value (--ha-cluster means yes) or take one
//     (--ha-cluster=no, --ha-cluster no: a following yes|no word is taken as
//     its value). The switches help, version, daemon, check, quit and kill
//     never take the next argument. A value that begins with '-' must be
//     written --name=value. qpidd takes no other arguments.
//  2. environment variables QPID_<OPTION>: the name upper-cased with '-'
//     replaced by '_' (QPID_PORT, QPID_HA_BROKERS_URL; see EnvName). As in
//     the original, QPID_ variables that name no option (QPID_BIN, QPID_HA of
//     the init scripts) are ignored rather than refused.
//  3. the configuration file: --config FILE, else QPID_CONFIG, else
//     /etc/qpid/qpidd.conf. A missing default file is fine (defaults
//     apply); a missing or unreadable file named by --config or QPID_CONFIG
//     is an error; --config "" reads no file. Setting config inside the file
//     has no effect (warning).
//
// A list option (interface, listen-disable, queue-patterns, topic-patterns)
// may be repeated; it takes all the values of the highest source that sets
// it. A scalar set twice on the command line takes the last value; set twice
// in the file, the last value with a warning (the original refused both).
//
// # The configuration file
//
// Lines are name=value, as boost program_options reads them for the
// original: '#' starts a comment anywhere on a line (so a value cannot
// contain '#'), whitespace around the name and the value is trimmed, blank
// lines are skipped. Any other line, [section] headers included, is a syntax
// error, and an unknown name is an error.
//
// # Values
//
// yes|no values accept yes/no, true/false, on/off and 1/0 in any case; an
// empty value means yes, as in boost. Numbers are plain non-negative decimal
// integers checked against the option's range (port 0..65535; 0 picks a free
// port). SECONDS values (ha-backup-timeout, link-maintenance-interval,
// link-heartbeat-interval, queue-purge-interval, wait) take fractions and
// units: 0.1, 10, 10s, 10ms, 10us, 10ns (see ParseSeconds); they are
// time.Duration fields. max-negotiate-time is in milliseconds as in the
// original, units allowed. URL values (ha-brokers-url, ha-public-url) follow
// the manual's grammar (see ParseURL) and may be empty. ha-replicate is none,
// configuration or all (case matters, as in the original).
//
// # Errors and warnings
//
// A wrong setting is an *Error with the option, the source and the value:
//
//	/etc/qpid/qpidd.conf:12: unknown option "ha-clster"
//	QPID_PORT: invalid value "abc" for option port: expected a non-negative whole number
//	argument "--ha-replicate": invalid value "some" for option ha-replicate: expected one of none, configuration, all
//
// Nothing is printed and nothing exits here. Options of the original that no
// longer apply (modules, QMF, the 0-10 protocol, the old cluster module, the
// linear store's journal tuning, Cyrus SASL and syslog settings...) are
// accepted and ignored, with one warning per option and source:
//
//	/etc/qpid/qpidd.conf:3: option "load-module" is obsolete and ignored (modules are built in)
//
// mgmt-enable=no is accepted too, with a warning that management is always
// on (HA needs it). Help lists the obsolete options.
//
// # Logging options
//
// The broker logs through logrus. Kept: log-level LEVEL (trace, debug, info,
// notice, warning, error, critical; default info), log-to-stderr yes|no
// (default yes, as in the original), log-to-file FILE, the new
// log-to-journal yes|no (systemd journal), and trace/-t (log-level trace,
// winning over a level set in the same or a lower source). What the program
// does with them in daemon mode is up to it (the original switched from
// stderr to syslog).
//
// The original's log-enable RULE (LEVEL[+|-][:CATEGORY], repeatable) is
// mapped to log-level with a warning: the level is the lowest one enabled by
// the rules without a category, or, if all rules name one, the lowest enabled
// by any rule; "LEVEL+" and "LEVEL" enable LEVEL as their lowest, "LEVEL-"
// enables trace. Categories are ignored (the warning names them). So
// log-enable=info+ gives info, notice+ with debug+:ha gives notice,
// debug+:ha alone gives debug. A log-level set in the same source wins over
// log-enable; across sources the usual precedence applies. In the original,
// log-level yes|no switched the level's display in log lines: such a value
// is accepted with a warning and ignored. log-disable, log-time,
// log-source, log-thread, log-function, log-hires-timestamp, log-category,
// log-prefix, log-to-stdout, log-to-syslog, syslog-name and syslog-facility
// are obsolete.
//
// # Decisions where the original differs or is unspecified
//
//   - data-dir defaults to /var/lib/qpidd (the packaged original's
//     sysconfig setting; the binary's own default was ~/.qpidd or
//     /tmp/.qpidd). pid-dir defaults to data-dir (the original's pid-dir and
//     data-dir defaults were the same ~/.qpidd); see PidFilePath.
//   - auth-database FILE (default /etc/qpid/qpidd.users) replaces Cyrus
//     SASL's sasldb and sasl-config: the user database of package auth.
//   - store-dir keeps its meaning: the store's directory instead of
//     data-dir (StorePath); truncate is kept; the journal tuning options of
//     the linear and legacy stores are obsolete.
//   - The NSS options ssl-cert-db, ssl-cert-name and ssl-cert-password-file
//     are obsolete: certificates come as PEM files.
//   - default-message-group and federation-tag are obsolete: there are no
//     message groups and no federation.
//   - ha-min-ready-backups is ours (not in the original), default 0.
//   - worker-threads, connection-backlog and protocols are obsolete: the Go
//     runtime, the system's somaxconn and AMQP 1.0 only.
//   - Long options must be spelled in full (boost also took unique
//     prefixes).
//   - In a URL, an ssl address without a port means port 5671, where amqps
//     listens, not 5672 as in the original.
package config
