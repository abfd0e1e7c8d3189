#!/bin/sh
# Runs a command against a qpidd built from this tree, then stops it.
#
#   BIN=bin scripts/bench/qpidd.sh COMMAND [ARG...]
#
# Starts $BIN/qpidd on a free port (no authentication, queues created on
# demand, data in a temporary directory), runs COMMAND with BROKER_PORT and
# BROKER_URL (amqp://127.0.0.1:PORT) in its environment, and stops qpidd by
# PID on exit, errors included.
set -eu
BIN=${BIN:-bin}
tmp=$(mktemp -d /tmp/qpidd-bench.XXXXXX)
pid=""
cmd=""
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	status=$?
	trap - EXIT INT TERM
	[ -z "$cmd" ] || kill "$cmd" 2>/dev/null || true
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$BIN/qpidd" --config "" --port 0 --auth no --data-dir "$tmp" --queue-patterns '.*' >"$tmp/qpidd.out" 2>"$tmp/qpidd.log" &
pid=$!
port=""
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/qpidd.log" | head -1)
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/qpidd.log" >&2; exit 1; }
echo "qpidd.sh: qpidd (pid $pid) on port $port" >&2
export BROKER_PORT="$port"
export BROKER_URL="amqp://127.0.0.1:$port"
# In the background, so that a signal to this script is handled at once.
"$@" &
cmd=$!
status=0
wait "$cmd" || status=$?
cmd=""
exit "$status"
