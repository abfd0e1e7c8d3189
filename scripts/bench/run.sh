#!/bin/sh
# Runs the load generator's scenarios against the broker that qpidd.sh,
# qpidd-ha.sh or rabbitmq.sh started (BROKER_PORT, BROKER_URL): 1 sender/1
# receiver and 4/4 (the durable cases: 1/1, 16/16 and 64/64), over AMQP 1.0
# and, for RabbitMQ, AMQP 0-9-1 with publisher confirms.
#
#   scripts/bench/run.sh qpidd|qpidd-ha|rabbitmq|rabbitmq-quorum
#   scripts/bench/run.sh qpidd-durable|rabbitmq-durable|rabbitmq-quorum-durable
#
# qpidd-ha is the primary of an HA cluster (the same runs as qpidd);
# rabbitmq-quorum is a RabbitMQ cluster, its queues quorum queues declared
# through AMQP 0-9-1 (durable, x-queue-type quorum), also for the AMQP 1.0
# runs.
#
# The -durable cases send persistent messages (bench -persistent: AMQP 1.0
# header durable, 0-9-1 delivery mode 2) to durable queues: qpidd's declared
# --durable (with the same flow stop as the transient case), RabbitMQ's
# declared through 0-9-1, durable classic queues (rabbitmq-durable) or
# quorum queues (rabbitmq-quorum-durable), also for the AMQP 1.0 runs (as
# /amq/queue/NAME). qpidd-durable first measures the machine's own
# fdatasync rate in the store's directory (bench -fsync, appended to
# FSYNC), then runs the transient qpidd case at TRANSIENT_SENDERS (label
# qpidd), so that the durable runs have transient ones of the same sender
# counts on the same broker to compare with, then the durable runs; for
# each durable run it reads the store's fdatasync count and mean latency
# (qpid-config list store) before and after, and appends to the run's line
# in RESULTS two more columns: the run's fdatasyncs and their mean
# microseconds.
#
# Environment: BIN (the load generator's directory), N (messages per run),
# WINDOW (unconfirmed messages per sender), CREDIT (credit or prefetch per
# receiver), CREDITBATCH (AMQP 1.0 credit granted at a time, default CREDIT:
# see tests/bench/amqp1.go), FLOWSTOP (qpidd: the bench queue's
# qpid.flow_stop_count, default 1000; 0: a queue made on demand, with the
# broker's defaults), SPLIT (1: senders and receivers in separate
# processes; default 0: in one), COALESCE (0: each client write its own
# system call, as go-amqp does; default 1: see tests/bench/coalesce.go), TIMEOUT (for one run, default 5m), RESULTS
# (a file the results are appended to, one tab-separated line each: broker
# protocol senders receivers msgs/s p50-ms p99-ms messages size window),
# FAILURES (a file failed runs are appended to: broker protocol senders
# receivers, and the load generator's last error line, tab-separated),
# SENDERS (the sender counts, default "1 4"), DURABLE_SENDERS (the
# durable cases' sender counts, default "1 16 64"), TRANSIENT_SENDERS
# (qpidd-durable: the transient runs' sender counts, default "16 64"; ""
# none), FSYNC (qpidd-durable: a file the fdatasync figures are appended
# to, as bench -fsync -format tsv prints them: directory syncs seconds
# syncs/s us-per-sync size; default none), FSYNC_TIME (how long to measure
# them, default 2s).
# A run that fails is reported and left out of RESULTS; the others go on.
set -eu
broker=$1
BIN=${BIN:-bin}
N=${N:-200000}
WINDOW=${WINDOW:-100}
CREDIT=${CREDIT:-200}
SPLIT=${SPLIT:-0}
RESULTS=${RESULTS:-/dev/null}
FAILURES=${FAILURES:-/dev/null}
TIMEOUT=${TIMEOUT:-5m}
FLOWSTOP=${FLOWSTOP:-1000}
COALESCE=${COALESCE:-1}
FSYNC=${FSYNC:-/dev/null}
FSYNC_TIME=${FSYNC_TIME:-2s}
case $broker in
*-durable) SENDERS=${DURABLE_SENDERS:-1 16 64} ;;
*) SENDERS=${SENDERS:-1 4} ;;
esac
TRANSIENT_SENDERS=${TRANSIENT_SENDERS-16 64}
label=$broker # the broker column of RESULTS
store=""      # set: record qpidd's store figures around each run

# store_figures PROPERTY...: the values of qpidd's store object,
# tab-separated (qpid-config's table: the line after the rule of '=').
store_figures() {
	for p; do set -- "$@" --show-property "$p"; shift; done
	"$BIN/qpid-config" -b "127.0.0.1:$BROKER_PORT" list store "$@" |
		awk 'rule { $1 = $1; gsub(/ /, "\t"); print; exit } /^ *=+ *$/ { rule = 1 }'
}

# bench PROTOCOL URL ADDRESS SENDERS [FLAG...]: one run, as many receivers as
# senders. The load generator's errors go to standard error and, the last
# line of a failed run's (a timed-out run says how far it got), to FAILURES.
bench() {
	proto=$1 url=$2 address=$3 n=$4
	shift 4
	set -- -protocol "$proto" -url "$url" -address "$address" -n "$N" -window "$WINDOW" \
		-credit "$CREDIT" -senders "$n" -receivers "$n" -label "$label" -format tsv \
		-timeout "$TIMEOUT" -coalesce="$([ "$COALESCE" = 0 ] && echo false || echo true)" "$@"
	tmp=$(mktemp -d /tmp/bench-run.XXXXXX)
	ok=1
	: >"$tmp/err.send"
	before=""
	[ -z "$store" ] || before=$(store_figures syncs syncLatencyUs) || before=""
	if [ "$SPLIT" = 1 ]; then
		# Receivers first; senders once every receiver is attached.
		"$BIN/bench" "$@" -role recv -ready "$tmp/ready" >"$tmp/out" 2>"$tmp/err" &
		rpid=$!
		while [ ! -e "$tmp/ready" ] && kill -0 "$rpid" 2>/dev/null; do sleep 0.05; done
		if [ -e "$tmp/ready" ] && "$BIN/bench" "$@" -role send >"$tmp/senders" 2>"$tmp/err.send"; then
			wait "$rpid" || ok=""
		else
			kill "$rpid" 2>/dev/null || true
			wait "$rpid" 2>/dev/null || true
			ok=""
		fi
	else
		"$BIN/bench" "$@" >"$tmp/out" 2>"$tmp/err" || ok=""
	fi
	cat "$tmp/err" "$tmp/err.send" >&2
	if [ -n "$ok" ] && [ -n "$before" ]; then
		# The run's fdatasyncs, and their mean microseconds from the
		# store's mean since it started (syncLatencyUs) before and after.
		after=$(store_figures syncs syncLatencyUs) || after=""
		if [ -n "$after" ]; then
			awk -F'\t' -v before="$before" -v after="$after" 'BEGIN { OFS = FS }
				{
					split(before, b, "\t"); split(after, a, "\t")
					syncs = a[1] - b[1]
					us = syncs > 0 ? (a[1] * a[2] - b[1] * b[2]) / syncs : 0
					print $0, syncs, sprintf("%.1f", us)
				}' "$tmp/out" >"$tmp/out.store"
			mv "$tmp/out.store" "$tmp/out"
		fi
	fi
	if [ -n "$ok" ]; then
		cat "$tmp/out" >>"$RESULTS"
		awk -F'\t' '{
			w = length($1) > 15 ? length($1) : 15
			printf "  %-" w "s %-8s %2d/%-2d %8.0f msgs/s  p50 %8.2f ms  p99 %8.2f ms", $1, $2, $3, $4, $5, $6, $7
			if ($11 > 0) printf "  %6.1f msgs/fdatasync, %5.0f fdatasyncs/s, %5.0f us each", $8 / $11, $11 * $5 / $8, $12
			printf "\n"
		}' "$tmp/out"
	else
		printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$proto" "$n" "$n" \
			"$(cat "$tmp/err" "$tmp/err.send" | sed '/^$/d' | tail -n 1)" >>"$FAILURES"
	fi
	rm -rf "$tmp"
	[ -n "$ok" ]
}

# try: bench, reporting a failure without stopping.
try() {
	bench "$@" || echo "  $label $1 $4/$4 FAILED" >&2
}

# qpidd_runs COUNTS QUEUE-PREFIX [ADD-QUEUE-FLAG...]: the qpidd runs.
qpidd_runs() {
	counts=$1 queue=$2
	shift 2
	for n in $counts; do
		# The queue stops its producers above FLOWSTOP messages (producer
		# flow control, the original's qpid.flow_stop_count): its depth,
		# and so the latency, stays bounded when the receivers fall behind.
		# A durable queue is declared in any case (a queue made on demand
		# is not durable).
		if [ "$FLOWSTOP" != 0 ] || [ $# -gt 0 ]; then
			# shellcheck disable=SC2046 # no flag or two words
			"$BIN/qpid-config" -b "127.0.0.1:$BROKER_PORT" add queue "$queue-$n" "$@" \
				$([ "$FLOWSTOP" = 0 ] || echo --flow-stop-count "$FLOWSTOP") ||
				{ echo "  $label: could not declare queue $queue-$n" >&2; continue; }
		fi
		try amqp1 "amqp://127.0.0.1:$BROKER_PORT" "$queue-$n" "$n" ${persistent:+-persistent} \
			${CREDITBATCH:+-creditbatch "$CREDITBATCH"}
	done
}

persistent=""
case $broker in
qpidd | qpidd-ha)
	qpidd_runs "$SENDERS" bench
	;;
qpidd-durable)
	# The machine's own fdatasync rate, where the store writes.
	dir=$(store_figures directory) && [ -n "$dir" ] || dir=""
	if [ -z "$dir" ]; then
		echo "  $broker: no store directory from qpid-config list store" >&2
	elif fsync=$("$BIN/bench" -fsync "$dir" -fsync-time "$FSYNC_TIME" -format tsv); then
		echo "$fsync" >>"$FSYNC"
		echo "$fsync" | awk -F'\t' '{ printf "  fdatasync in %s: %.0f syncs/s, %.0f us each (%d B appended before each)\n", $1, $4, $5, $6 }'
	fi
	label=qpidd
	qpidd_runs "$TRANSIENT_SENDERS" bench
	label=$broker persistent=1 store=1
	qpidd_runs "$SENDERS" bench-durable --durable
	;;
qpidd-ha-durable)
	# Every broker stores what it holds; a transfer is settled once it is
	# on the primary's disk and on both backups' (the store figures are
	# the primary's).
	persistent=1 store=1
	qpidd_runs "$SENDERS" bench-durable --durable
	;;
rabbitmq | rabbitmq-quorum | rabbitmq-durable | rabbitmq-quorum-durable | rabbitmq-quorum3-durable)
	# AMQP 1.0 as guest (the plugin's default user for ANONYMOUS) to a
	# queue declared through 0-9-1 first, as the 0-9-1 run does. The
	# plugin itself declares the queue of a /queue/NAME address, as a
	# classic queue, not durable unless the terminus says so, and refuses
	# the attach if a queue of another type or durability has that name:
	# /amq/queue/NAME takes the queue as it is.
	qtype=classic prefix=/queue/ queue=bench
	case $broker in
	rabbitmq-quorum) qtype=quorum prefix=/amq/queue/ ;;
	rabbitmq-durable) prefix=/amq/queue/ persistent=1 queue=bench-durable ;;
	rabbitmq-quorum-durable | rabbitmq-quorum3-durable) qtype=quorum prefix=/amq/queue/ persistent=1 queue=bench-durable ;;
	esac
	for n in $SENDERS; do
		try amqp1 "amqp://127.0.0.1:$BROKER_PORT" "${prefix}$queue-amqp1-$n" "$n" -declare -queue-type "$qtype" \
			${persistent:+-persistent} ${CREDITBATCH:+-creditbatch "$CREDITBATCH"}
		try amqp091 "$BROKER_URL" "$queue-amqp091-$n" "$n" -queue-type "$qtype" ${persistent:+-persistent}
	done
	;;
*)
	echo "run.sh: unknown broker $broker" >&2
	exit 2
	;;
esac
