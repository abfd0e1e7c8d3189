#!/bin/sh
# Runs the load generator's scenarios against the broker that qpidd.sh,
# qpidd-ha.sh or rabbitmq.sh started (BROKER_PORT, BROKER_URL): 1 sender/1
# receiver and 4/4, over AMQP 1.0 and, for RabbitMQ, AMQP 0-9-1 with
# publisher confirms.
#
#   scripts/bench/run.sh qpidd|qpidd-ha|rabbitmq|rabbitmq-quorum
#
# qpidd-ha is the primary of an HA cluster (the same runs as qpidd);
# rabbitmq-quorum is a RabbitMQ cluster, its queues quorum queues declared
# through AMQP 0-9-1 (durable, x-queue-type quorum), also for the AMQP 1.0
# runs.
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
# receivers, and the load generator's last error line, tab-separated).
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

# bench PROTOCOL URL ADDRESS SENDERS [FLAG...]: one run, as many receivers as
# senders. The load generator's errors go to standard error and, the last
# line of a failed run's (a timed-out run says how far it got), to FAILURES.
bench() {
	proto=$1 url=$2 address=$3 n=$4
	shift 4
	set -- -protocol "$proto" -url "$url" -address "$address" -n "$N" -window "$WINDOW" \
		-credit "$CREDIT" -senders "$n" -receivers "$n" -label "$broker" -format tsv \
		-timeout "$TIMEOUT" -coalesce="$([ "$COALESCE" = 0 ] && echo false || echo true)" "$@"
	tmp=$(mktemp -d /tmp/bench-run.XXXXXX)
	ok=1
	: >"$tmp/err.send"
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
	if [ -n "$ok" ]; then
		cat "$tmp/out" >>"$RESULTS"
		awk -F'\t' '{ printf "  %-15s %-8s %2d/%-2d %8.0f msgs/s  p50 %8.2f ms  p99 %8.2f ms\n", $1, $2, $3, $4, $5, $6, $7 }' "$tmp/out"
	else
		printf '%s\t%s\t%s\t%s\t%s\n' "$broker" "$proto" "$n" "$n" \
			"$(cat "$tmp/err" "$tmp/err.send" | sed '/^$/d' | tail -n 1)" >>"$FAILURES"
	fi
	rm -rf "$tmp"
	[ -n "$ok" ]
}

# try: bench, reporting a failure without stopping.
try() {
	bench "$@" || echo "  $broker $1 $4/$4 FAILED" >&2
}

for n in 1 4; do
	case $broker in
	qpidd | qpidd-ha)
		# The queue stops its producers above FLOWSTOP messages (producer
		# flow control, the original's qpid.flow_stop_count): its depth,
		# and so the latency, stays bounded when the receivers fall behind.
		if [ "$FLOWSTOP" != 0 ]; then
			"$BIN/qpid-config" -b "127.0.0.1:$BROKER_PORT" add queue "bench-$n" --flow-stop-count "$FLOWSTOP" ||
				{ echo "  $broker: could not declare queue bench-$n" >&2; continue; }
		fi
		try amqp1 "amqp://127.0.0.1:$BROKER_PORT" "bench-$n" "$n" ${CREDITBATCH:+-creditbatch "$CREDITBATCH"}
		;;
	rabbitmq | rabbitmq-quorum)
		# AMQP 1.0 as guest (the plugin's default user for ANONYMOUS) to a
		# queue declared through 0-9-1 first, as the 0-9-1 run does. The
		# plugin itself declares the queue of a /queue/NAME address, as a
		# classic queue, and refuses the attach if a quorum queue has that
		# name: /amq/queue/NAME takes the queue as it is.
		qtype=classic prefix=/queue/
		[ "$broker" = rabbitmq ] || qtype=quorum prefix=/amq/queue/
		try amqp1 "amqp://127.0.0.1:$BROKER_PORT" "${prefix}bench-amqp1-$n" "$n" -declare -queue-type "$qtype" \
			${CREDITBATCH:+-creditbatch "$CREDITBATCH"}
		try amqp091 "$BROKER_URL" "bench-amqp091-$n" "$n" -queue-type "$qtype"
		;;
	*)
		echo "run.sh: unknown broker $broker" >&2
		exit 2
		;;
	esac
done
