#!/bin/sh
# Throughput and latency of qpidd against RabbitMQ 3.10 (Debian's
# rabbitmq-server) in one run, on this machine, with the same load generator
# (tests/bench): 1 KiB messages, at-least-once with the same fixed window of
# unconfirmed messages per sender, 1 sender/1 receiver and 4/4. qpidd speaks
# AMQP 1.0 (go-amqp); RabbitMQ is measured over AMQP 1.0 (its
# rabbitmq_amqp1_0 plugin, go-amqp) and over AMQP 0-9-1 with publisher
# confirms (amqp091-go). One case at a time, on loopback:
#   qpidd            a standalone broker;
#   qpidd-ha         3 brokers, ha-replicate=all, clients on the primary,
#                    measured once both backups are ready (a message is
#                    settled once both have it);
#   rabbitmq         a single node, classic queues;
#   rabbitmq-quorum  3 clustered nodes, quorum queues (declared through
#                    0-9-1, also for AMQP 1.0), clients on the first node.
# The replicated cases share the machine's cores among their three brokers.
# Then the durable cases (DURABLE=0 skips them): persistent 1 KiB messages
# (AMQP 1.0 header durable, 0-9-1 delivery mode 2) to durable queues, 1/1,
# 16/16 and 64/64, the same window:
#   qpidd-durable    a standalone broker, its queues declared --durable (a
#                    transfer is settled once its record is on disk); on
#                    the same broker first the machine's own fdatasync rate
#                    in the store's directory (bench -fsync: 1 KiB appended
#                    before each, for 2 s), then the transient case at 16/16
#                    and 64/64 (label qpidd) to compare with; the store's
#                    fdatasync count before and after each durable run
#                    (qpid-config list store) gives messages per fdatasync;
#   rabbitmq-durable a single node, durable classic queues;
#   rabbitmq-quorum-durable  quorum queues on QUORUM_DURABLE_NODES nodes
#                    (default 1: one disk, as qpidd-durable);
#   qpidd-ha-durable 3 brokers as qpidd-ha, each with its store, queues
#                    declared --durable: a transfer is settled once on the
#                    primary's disk and both backups';
#   rabbitmq-quorum3-durable  quorum queues on 3 clustered nodes, as
#                    qpidd-ha-durable (every node on this machine's disk).
#
# Usage: scripts/bench.sh [messages] [window]   (or N=... WINDOW=...)
# Environment: BIN (default bin: qpidd, qpid-ha and bench built there),
# CREDIT (credit or prefetch per receiver, default 200), SPLIT (default 0:
# senders and receivers of a run in one client process; 1: in two, started
# one after the other: receivers first), TIMEOUT (per run, default 5m: a run
# that takes longer fails, and the summary says how far it got), CREDITBATCH
# (AMQP 1.0 credit granted at a time, default CREDIT), RABBITMQ_BENCH_PORT
# (see scripts/bench/rabbitmq.sh), QPIDD_HA_BENCH_PORT and QPIDD_HA_PROFILE
# (see scripts/bench/qpidd-ha.sh); QPIDD=0, HA=0, RABBITMQ=0 or QUORUM=0
# skips that case (RABBITMQ=0 QUORUM=0: no RabbitMQ at all); DURABLE=0 skips
# the durable cases, QPIDD_DURABLE=0, RABBITMQ_DURABLE=0, QUORUM_DURABLE=0,
# HA_DURABLE=0 or QUORUM3_DURABLE=0 one of them; FLOWSTOP, COALESCE, DURABLE_SENDERS (default "1 16 64"; the
# goals are at 1 and 64), TRANSIENT_SENDERS and FSYNC_TIME (see
# scripts/bench/run.sh).
#
# Latency is end to end: both brokers settle a transfer (or confirm a
# publish) once the message is queued, so when the receivers fall behind the
# senders, the queue grows, and p50/p99 mostly measure that backlog. qpidd's
# bench queue therefore stops its producers above FLOWSTOP (1000) messages
# (producer flow control; RabbitMQ's credit flow does the like on its own).
# With SPLIT=1 the senders' process runs unhindered by the receivers' (both
# share the machine's 2 cores with the broker), hence the default. The load
# generator gathers each connection's writes made while one is in the kernel
# into one system call (go-amqp makes one per frame, which made the
# generator, not the broker, the bottleneck); COALESCE=0 turns that off. It
# also runs with GOGC 400 (bench -gogc), as qpidd does by default.
set -eu
cd "$(dirname "$0")/.."
export N="${1:-${N:-200000}}"
export WINDOW="${2:-${WINDOW:-100}}"
export CREDIT="${CREDIT:-200}"
export SPLIT="${SPLIT:-0}"
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
export BIN
DURABLE=${DURABLE:-1}
RESULTS=$(mktemp /tmp/bench-results.XXXXXX)
FAILURES=$(mktemp /tmp/bench-failures.XXXXXX)
FSYNC=$(mktemp /tmp/bench-fsync.XXXXXX)
export RESULTS FAILURES FSYNC
trap 'rm -f "$RESULTS" "$FAILURES" "$FSYNC"' EXIT
began=$(date +%s)

echo "$N messages of 1 KiB per run, window $WINDOW per sender, credit/prefetch $CREDIT per receiver," \
	"$([ "$SPLIT" = 1 ] && echo "senders and receivers in separate processes" || echo "one client process")," \
	"$([ "${COALESCE:-1}" = 0 ] && echo "a system call per client write" || echo "client writes coalesced");" \
	"qpidd's queue flow stop $([ "${FLOWSTOP:-1000}" = 0 ] && echo "off (broker defaults)" || echo "${FLOWSTOP:-1000} messages");" \
	"go-amqp $(go list -m -f '{{.Version}}' github.com/Azure/go-amqp)," \
	"amqp091-go $(go list -m -f '{{.Version}}' github.com/rabbitmq/amqp091-go); $(nproc) cores;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$DURABLE" = 0 ] || echo "durable cases: persistent messages to durable queues," \
	"${DURABLE_SENDERS:-1 16 64} senders (as many receivers), the same window and credit;" \
	"RabbitMQ's quorum queues on ${QUORUM_DURABLE_NODES:-1} node(s)"
[ "${QPIDD:-1}" = 0 ] || scripts/bench/qpidd.sh scripts/bench/run.sh qpidd
[ "${HA:-1}" = 0 ] || scripts/bench/qpidd-ha.sh scripts/bench/run.sh qpidd-ha
[ "${RABBITMQ:-1}" = 0 ] || RABBITMQ_NODES=1 scripts/bench/rabbitmq.sh scripts/bench/run.sh rabbitmq
[ "${QUORUM:-1}" = 0 ] || RABBITMQ_NODES=3 scripts/bench/rabbitmq.sh scripts/bench/run.sh rabbitmq-quorum
if [ "$DURABLE" != 0 ]; then
	[ "${QPIDD_DURABLE:-1}" = 0 ] || scripts/bench/qpidd.sh scripts/bench/run.sh qpidd-durable
	[ "${RABBITMQ_DURABLE:-1}" = 0 ] ||
		RABBITMQ_NODES=1 scripts/bench/rabbitmq.sh scripts/bench/run.sh rabbitmq-durable
	[ "${QUORUM_DURABLE:-1}" = 0 ] ||
		RABBITMQ_NODES=${QUORUM_DURABLE_NODES:-1} scripts/bench/rabbitmq.sh scripts/bench/run.sh rabbitmq-quorum-durable
	[ "${HA_DURABLE:-1}" = 0 ] || scripts/bench/qpidd-ha.sh scripts/bench/run.sh qpidd-ha-durable
	[ "${QUORUM3_DURABLE:-1}" = 0 ] ||
		RABBITMQ_NODES=3 scripts/bench/rabbitmq.sh scripts/bench/run.sh rabbitmq-quorum3-durable
fi
echo "load average $(cut -d' ' -f1-3 /proc/loadavg); $(($(date +%s) - began)) s in all"

# The table, then the ratios (us/them) of throughput and p99: qpidd's to
# each RabbitMQ protocol on a single node (goals: throughput at least 5x
# AMQP 1.0, 1.5x 0-9-1; p99 at most 1x AMQP 1.0), then qpidd-ha's to the
# standalone qpidd of this same run (goal: throughput at least 0.5x) and to
# the RabbitMQ quorum-queue cluster (goal: throughput at least 2x each
# protocol). Then, with durable results, qpidd-durable's ratios to the
# transient qpidd (goal at 64/64: at least 0.5x), to RabbitMQ's durable
# classic queue (goal at 64/64, where group commit counts: at least 3x over
# 0-9-1 + confirms) and to its quorum queue (goal at 64/64: ahead, at least
# 1x, both protocols; the other sender counts are shown without a goal: the
# issue's goal for one sender is the 10,000 msgs/s below), and its store's
# figures: messages/s (goal at 1/1: at
# least 10,000), messages per fdatasync (goal at 64/64: at least 50),
# fdatasyncs/s and how close they come to the machine's own rate (x raw),
# mean microseconds per fdatasync; then the machine's own fdatasync rate,
# measured in the store's directory.
awk -F'\t' -v fsyncfile="$FSYNC" '
	FILENAME == fsyncfile { raw = $4; rawus = $5; rawdir = $1; rawsize = $6; rawsecs = $3; next }
	{ key = $1 "/" $2 "/" $3; rate[key] = $5; p99[key] = $7; row[++n] = $0 }
	$11 != "" { msgs[key] = $8; syncs[key] = $11; syncus[key] = $12 }
	$1 ~ /-durable$/ { durable = 1 }
	length($1) > width { width = length($1) }
	# ratio(S, US, THEM, NAME, GOAL, P99): one line, if both runs of S/S
	# are there; GOAL, a minimum throughput ratio, is marked met or missed,
	# with P99 set only if our p99 is also at most theirs.
	function ratio(s, us, them, name, goal, p99goal,    r, mark, ok) {
		us = us "/" s; them = them "/" s
		if (!(us in rate) || !(them in rate) || rate[them] == 0 || p99[them] == 0) return
		r = rate[us] / rate[them]
		ok = r >= goal && (p99goal == "" || p99[us] <= p99[them])
		mark = goal == "" ? "" : sprintf("  >= %sx%s: %s", goal, p99goal == "" ? "" : ", p99 <=", ok ? "met" : "MISSED")
		printf "%-5s %-34s %13.2fx %10.2fx%s\n", s "/" s, name, r, p99[us] / p99[them], mark
	}
	END {
		# The broker column: 15 wide, or as wide as its longest name.
		w = width > 15 ? width : 15
		printf "\n%-" w "s %-8s %5s %10s %10s %10s\n", "broker", "protocol", "s/r", "msgs/s", "p50 ms", "p99 ms"
		for (i = 1; i <= n; i++) {
			split(row[i], f, "\t")
			printf "%-" w "s %-8s %5s %10.0f %10.2f %10.2f\n", f[1], f[2], f[3] "/" f[4], f[5], f[6], f[7]
		}
		printf "\n%-5s %-34s %14s %11s\n", "s/r", "qpidd vs", "msgs/s us/them", "p99 us/them"
		for (s = 1; s <= 4; s += 3) {
			ratio(s, "qpidd/amqp1", "rabbitmq/amqp1", "RabbitMQ AMQP 1.0", 5, 1)
			ratio(s, "qpidd/amqp1", "rabbitmq/amqp091", "RabbitMQ 0-9-1 + confirms", 1.5)
		}
		printf "\n%-5s %-34s %14s %11s\n", "s/r", "qpidd-ha vs", "msgs/s us/them", "p99 us/them"
		for (s = 1; s <= 4; s += 3) {
			ratio(s, "qpidd-ha/amqp1", "qpidd/amqp1", "qpidd standalone", 0.5)
			ratio(s, "qpidd-ha/amqp1", "rabbitmq-quorum/amqp1", "RabbitMQ quorum AMQP 1.0", 2)
			ratio(s, "qpidd-ha/amqp1", "rabbitmq-quorum/amqp091", "RabbitMQ quorum 0-9-1 + confirms", 2)
		}
		if (!durable) exit
		counts = ENVIRON["DURABLE_SENDERS"] == "" ? "1 16 64" : ENVIRON["DURABLE_SENDERS"]
		nc = split(counts, sc, " ")
		printf "\n%-5s %-34s %14s %11s\n", "s/r", "qpidd-durable vs", "msgs/s us/them", "p99 us/them"
		for (i = 1; i <= nc; i++) {
			s = sc[i]
			ratio(s, "qpidd-durable/amqp1", "qpidd/amqp1", "qpidd transient", (s == 64 ? 0.5 : ""))
			ratio(s, "qpidd-durable/amqp1", "rabbitmq-durable/amqp091", "RabbitMQ durable 0-9-1 + confirms", (s == 64 ? 3 : ""))
			ratio(s, "qpidd-durable/amqp1", "rabbitmq-durable/amqp1", "RabbitMQ durable AMQP 1.0")
			ratio(s, "qpidd-durable/amqp1", "rabbitmq-quorum-durable/amqp091", "RabbitMQ quorum 0-9-1 + confirms", (s == 64 ? 1 : ""))
			ratio(s, "qpidd-durable/amqp1", "rabbitmq-quorum-durable/amqp1", "RabbitMQ quorum AMQP 1.0", (s == 64 ? 1 : ""))
		}
		printf "\n%-5s %-34s %14s %11s\n", "s/r", "qpidd-ha-durable vs", "msgs/s us/them", "p99 us/them"
		for (i = 1; i <= nc; i++) {
			s = sc[i]
			ratio(s, "qpidd-ha-durable/amqp1", "qpidd-durable/amqp1", "qpidd-durable standalone", 0.4)
			ratio(s, "qpidd-ha-durable/amqp1", "rabbitmq-quorum3-durable/amqp091", "RabbitMQ 3-node quorum 0-9-1", 2)
			ratio(s, "qpidd-ha-durable/amqp1", "rabbitmq-quorum3-durable/amqp1", "RabbitMQ 3-node quorum AMQP 1.0", 2)
		}
		printf "\n%-5s %-22s %8s %14s %12s %7s %8s\n", "s/r", "qpidd-durable'"'"'s store", "msgs/s",
			"msgs/fdatasync", "fdatasyncs/s", "x raw", "us each"
		for (i = 1; i <= nc; i++) {
			s = sc[i]
			key = "qpidd-durable/amqp1/" s
			if (!(key in rate)) continue
			mark = ""
			if (s == 1) mark = sprintf("  msgs/s >= 10000: %s", rate[key] >= 10000 ? "met" : "MISSED")
			if (!(key in syncs) || syncs[key] <= 0 || rate[key] <= 0) {
				printf "%-5s %-22s %8.0f %14s %12s %7s %8s%s\n", s "/" s, "", rate[key], "-", "-", "-", "-", mark
				continue
			}
			per = msgs[key] / syncs[key]
			if (s == 64) mark = mark sprintf("  msgs/fdatasync >= 50: %s", per >= 50 ? "met" : "MISSED")
			persec = syncs[key] * rate[key] / msgs[key]
			printf "%-5s %-22s %8.0f %14.1f %12.0f %7s %8.0f%s\n", s "/" s, "", rate[key], per, persec,
				(raw > 0 ? sprintf("%.2fx", persec / raw) : "-"), syncus[key], mark
		}
		if (raw > 0)
			printf "%-5s %-22s %8s %14s %12.0f %7s %8.0f  (%d B appended before each, %.1f s, in %s)\n",
				"raw", "fdatasync alone", "", "", raw, "1.00x", rawus, rawsize, rawsecs, rawdir
	}' "$RESULTS" "$FSYNC"
if [ -s "$FAILURES" ]; then
	echo
	echo "failed runs (left out above):"
	awk -F'\t' '{ printf "%-15s %-8s %5s  %s\n", $1, $2, $3 "/" $4, $5 }' "$FAILURES"
fi
