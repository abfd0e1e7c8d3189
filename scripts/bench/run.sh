#!/bin/sh
# Runs the load generator's scenarios against the broker that qpidd.sh or
# rabbitmq.sh started (BROKER_PORT, BROKER_URL): 1 sender/1 receiver and 4/4,
# over AMQP 1.0 and, for RabbitMQ, AMQP 0-9-1 with publisher confirms.
#
#   scripts/bench/run.sh qpidd|rabbitmq
#
# Environment: BIN (the load generator's directory), N (messages per run),
# WINDOW (unconfirmed messages per sender), CREDIT (credit or prefetch per
# receiver), CREDITBATCH (AMQP 1.0 credit granted at a time, default CREDIT:
# see tests/bench/amqp1.go), SPLIT (1: senders and receivers in separate
# processes; default 0: in one), TIMEOUT (for one run, default 5m), RESULTS
# (a file the results are appended to, one tab-separated line each: broker
# protocol senders receivers msgs/s p50-ms p99-ms messages size window).
# A run that fails is reported and left out of RESULTS; the others go on.
set -eu
broker=$1
BIN=${BIN:-bin}
N=${N:-200000}
WINDOW=${WINDOW:-100}
CREDIT=${CREDIT:-200}
SPLIT=${SPLIT:-0}
RESULTS=${RESULTS:-/dev/null}
TIMEOUT=${TIMEOUT:-5m}

# bench PROTOCOL URL ADDRESS SENDERS [FLAG...]: one run, as many receivers as
# senders.
bench() {
	proto=$1 url=$2 address=$3 n=$4
	shift 4
	set -- -protocol "$proto" -url "$url" -address "$address" -n "$N" -window "$WINDOW" \
		-credit "$CREDIT" -senders "$n" -receivers "$n" -label "$broker" -format tsv \
		-timeout "$TIMEOUT" "$@"
	tmp=$(mktemp -d /tmp/bench-run.XXXXXX)
	if [ "$SPLIT" = 1 ]; then
		# Receivers first; senders once every receiver is attached.
		"$BIN/bench" "$@" -role recv -ready "$tmp/ready" >"$tmp/out" &
		rpid=$!
		while [ ! -e "$tmp/ready" ] && kill -0 "$rpid" 2>/dev/null; do sleep 0.05; done
		if [ -e "$tmp/ready" ] && "$BIN/bench" "$@" -role send >"$tmp/senders"; then
			wait "$rpid" || { rm -rf "$tmp"; return 1; }
		else
			kill "$rpid" 2>/dev/null || true
			wait "$rpid" 2>/dev/null || true
			rm -rf "$tmp"
			return 1
		fi
	else
		"$BIN/bench" "$@" >"$tmp/out" || { rm -rf "$tmp"; return 1; }
	fi
	cat "$tmp/out" >>"$RESULTS"
	awk -F'\t' '{ printf "  %-8s %-8s %2d/%-2d %8.0f msgs/s  p50 %8.2f ms  p99 %8.2f ms\n", $1, $2, $3, $4, $5, $6, $7 }' "$tmp/out"
	rm -rf "$tmp"
}

# try: bench, reporting a failure without stopping.
try() {
	bench "$@" || echo "  $broker $1 $4/$4 FAILED" >&2
}

for n in 1 4; do
	case $broker in
	qpidd)
		try amqp1 "amqp://127.0.0.1:$BROKER_PORT" "bench-$n" "$n" ${CREDITBATCH:+-creditbatch "$CREDITBATCH"}
		;;
	rabbitmq)
		# AMQP 1.0 as guest (the plugin's default user for ANONYMOUS) to a
		# queue declared through 0-9-1 first, as the 0-9-1 run does.
		try amqp1 "amqp://127.0.0.1:$BROKER_PORT" "/queue/bench-amqp1-$n" "$n" -declare \
			${CREDITBATCH:+-creditbatch "$CREDITBATCH"}
		try amqp091 "$BROKER_URL" "bench-amqp091-$n" "$n"
		;;
	*)
		echo "run.sh: unknown broker $broker" >&2
		exit 2
		;;
	esac
done
