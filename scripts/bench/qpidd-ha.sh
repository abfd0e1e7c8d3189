#!/bin/sh
# Runs a command against a 3-broker HA cluster of qpidd built from this tree
# (ha-replicate=all), then stops the brokers.
#
#   BIN=bin scripts/bench/qpidd-ha.sh COMMAND [ARG...]
#
# Starts three $BIN/qpidd on 127.0.0.1 (no authentication, queues created on
# demand, data in temporary directories), promotes the first as a cluster
# manager would, waits until it is active and both others are ready, runs
# COMMAND with BROKER_PORT and BROKER_URL (amqp://127.0.0.1:PORT) of the
# primary in its environment, and stops every broker by PID on exit, errors
# included.
#
# Ports: QPIDD_HA_BENCH_PORT (default 25660) and the next two; if one of them
# is taken, the next three, and so on: the brokers' URL names every broker,
# so the ports must be known before any broker starts (no --port 0).
# QPIDD_HA_PROFILE=DIR: each broker writes a CPU profile of the run to
# DIR/broker0.prof (the primary), broker1.prof, broker2.prof; qpidd must be
# built with -tags profile (see qpidd/profile.go).
set -eu
BIN=${BIN:-bin}

log() { echo "qpidd-ha.sh: $*" >&2; }

# free PORT: fails if something listens on PORT.
free() { [ -z "$(ss -Hltn "sport = :$1")" ]; }

PORT=${QPIDD_HA_BENCH_PORT:-25660}
for _ in $(seq 50); do
	free "$PORT" && free $((PORT + 1)) && free $((PORT + 2)) && break
	PORT=$((PORT + 3))
done
if ! { free "$PORT" && free $((PORT + 1)) && free $((PORT + 2)); }; then
	log "no three free ports in a row from ${QPIDD_HA_BENCH_PORT:-25660}"
	exit 1
fi
URL="127.0.0.1:$PORT,127.0.0.1:$((PORT + 1)),127.0.0.1:$((PORT + 2))"

tmp=$(mktemp -d /tmp/qpidd-ha-bench.XXXXXX)
pids=""
cmd=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	status=$?
	trap - EXIT INT TERM
	[ -z "$cmd" ] || kill "$cmd" 2>/dev/null || true
	if [ -n "${QPIDD_HA_PROFILE:-}" ]; then
		# End the profiles first: a broker stopped by SIGTERM would leave
		# its profile unfinished.
		for p in $pids; do kill -USR2 "$p" 2>/dev/null || true; done
		sleep 1
	fi
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	[ "$status" -eq 0 ] || [ -z "$pids" ] || tail -n 20 "$tmp"/broker?.log >&2 2>/dev/null || true
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for i in 0 1 2; do
	mkdir -p "$tmp/broker$i"
	if [ -n "${QPIDD_HA_PROFILE:-}" ]; then
		mkdir -p "$QPIDD_HA_PROFILE"
		export QPIDD_CPUPROFILE="$QPIDD_HA_PROFILE/broker$i.prof"
	fi
	"$BIN/qpidd" --config "" --port $((PORT + i)) --interface 127.0.0.1 --data-dir "$tmp/broker$i" \
		--auth no --queue-patterns '.*' --ha-cluster yes --ha-brokers-url "$URL" --ha-replicate all \
		--link-maintenance-interval 0.1 --link-heartbeat-interval 2 \
		>"$tmp/broker$i.out" 2>"$tmp/broker$i.log" &
	pids="$pids $!"
done
unset QPIDD_CPUPROFILE

# Every broker answers, then the first is promoted.
for i in 0 1 2; do
	n=0
	until "$BIN/qpid-ha" ping -b "127.0.0.1:$((PORT + i))" --timeout 1 >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 100 ] || { log "broker $i (port $((PORT + i))) did not start"; exit 1; }
		sleep 0.1
	done
done
"$BIN/qpid-ha" --cluster-manager promote -b "127.0.0.1:$PORT" >"$tmp/promote.log" 2>&1 ||
	{ cat "$tmp/promote.log" >&2; exit 1; }

# The primary holds a message's acknowledgement only for the backups in its
# ready set: until both backups are ready (and each knows itself in that
# set), the cluster would be measured replicating to fewer of them.
want=$(printf '127.0.0.1:%s active\n127.0.0.1:%s ready\n127.0.0.1:%s ready' "$PORT" $((PORT + 1)) $((PORT + 2)))
n=0
until st=$("$BIN/qpid-ha" status --all -b "127.0.0.1:$PORT" --timeout 2 2>&1) && [ "$st" = "$want" ] &&
	[ "$("$BIN/qpid-ha" query --all -b "127.0.0.1:$PORT" --timeout 2 2>/dev/null | grep -c '^In ready set: *yes$')" = 2 ]; do
	n=$((n + 1))
	[ "$n" -lt 600 ] || { log "the cluster did not become ready in time:"; echo "$st" >&2; exit 1; }
	sleep 0.1
done
log "primary (pid $(echo "$pids" | cut -d' ' -f2)) on port $PORT; backups ready on $((PORT + 1)) and $((PORT + 2))" \
	"(pids $(echo "$pids" | cut -d' ' -f3-)), both in the ready set"

export BROKER_PORT="$PORT"
export BROKER_URL="amqp://127.0.0.1:$PORT"
# In the background, so that a signal to this script is handled at once.
"$@" &
cmd=$!
status=0
wait "$cmd" || status=$?
cmd=""
exit "$status"
