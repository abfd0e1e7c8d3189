#!/bin/sh
# A local 3-broker HA cluster on 127.0.0.1: starts the brokers (ports
# BASE, BASE+1, BASE+2; BASE defaults to 5672), promotes the first, shows
# `qpid-ha status --all`, and keeps running until interrupted, then stops
# every broker it started. Clients use amqp://127.0.0.1:BASE (or the whole
# list, to fail over). Data and logs go to .run/cluster/.
#
# Usage: scripts/local-cluster.sh [BASE]   (BIN=bin by default)
set -eu
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
BASE=${1:-5672}
DIR=.run/cluster
URL="127.0.0.1:$BASE,127.0.0.1:$((BASE + 1)),127.0.0.1:$((BASE + 2))"
mkdir -p "$DIR"
pids=""
stop() {
	trap - EXIT INT TERM
	for pid in $pids; do kill "$pid" 2>/dev/null || true; done
	for pid in $pids; do wait "$pid" 2>/dev/null || true; done
	echo "stopped"
}
trap stop EXIT INT TERM
for i in 0 1 2; do
	port=$((BASE + i))
	mkdir -p "$DIR/broker$i"
	"$BIN/qpidd" --config "" --port "$port" --interface 127.0.0.1 --data-dir "$DIR/broker$i" \
		--auth no --queue-patterns '.*' --ha-cluster yes --ha-brokers-url "$URL" \
		--ha-replicate all --link-maintenance-interval 0.1 --link-heartbeat-interval 2 \
		--log-to-stderr no --log-to-file "$DIR/broker$i.log" >/dev/null &
	pids="$pids $!"
done
# Wait until every broker answers, then promote the first as a cluster
# manager would.
for i in 0 1 2; do
	n=0
	until "$BIN/qpid-ha" ping -b "127.0.0.1:$((BASE + i))" --timeout 1 >/dev/null 2>&1; do
		n=$((n + 1))
		[ "$n" -lt 100 ] || { echo "broker on port $((BASE + i)) did not start; see $DIR/broker$i.log" >&2; exit 1; }
		sleep 0.1
	done
done
"$BIN/qpid-ha" --cluster-manager promote -b "127.0.0.1:$BASE"
n=0
until [ "$("$BIN/qpid-ha" status -b "127.0.0.1:$((BASE + 2))" 2>/dev/null)" = ready ] || [ "$n" -ge 100 ]; do
	n=$((n + 1))
	sleep 0.1
done
"$BIN/qpid-ha" status --all -b "127.0.0.1:$BASE"
echo "primary on amqp://127.0.0.1:$BASE; logs in $DIR/; Ctrl-C stops the cluster"
wait
