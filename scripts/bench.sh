#!/bin/sh
# Throughput and latency of qpidd with go-amqp clients on loopback:
# 1 KiB messages, at-least-once, a fixed window of unsettled transfers.
# Usage: scripts/bench.sh [messages] [window]
set -eu
cd "$(dirname "$0")/.."
N=${1:-200000}
WINDOW=${2:-100}
BIN=${BIN:-bin}
tmp=$(mktemp -d)
"$BIN/qpidd" --config "" --port 0 --auth no --data-dir "$tmp" --queue-patterns '.*' 2>"$tmp/qpidd.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
port=""
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/qpidd.log" | head -1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/qpidd.log"; exit 1; }
echo "qpidd (pid $pid) on port $port; go-amqp $(go list -m -f '{{.Version}}' github.com/Azure/go-amqp) clients; $(nproc) cores"
"$BIN/bench" -url "amqp://127.0.0.1:$port" -address bench-1 -n "$N" -window "$WINDOW" -senders 1 -receivers 1 -label "qpidd"
"$BIN/bench" -url "amqp://127.0.0.1:$port" -address bench-4 -n "$N" -window "$WINDOW" -senders 4 -receivers 4 -label "qpidd"
