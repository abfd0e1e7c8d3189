#!/bin/sh
# Runs a command against a private RabbitMQ node (Debian's rabbitmq-server,
# 3.10 on Debian 12) with the AMQP 1.0 plugin, then stops the node.
#
#   scripts/bench/rabbitmq.sh [COMMAND [ARG...]]
#
# Installs rabbitmq-server if missing (without leaving the package's own
# service running), starts a node of its own as a child process (node name
# bench@localhost, its own data, log and enabled-plugins files in a temporary
# directory, its own epmd), waits until it takes connections, runs COMMAND
# with BROKER_PORT (AMQP 0-9-1 and 1.0 share this port) and BROKER_URL
# (amqp://guest:guest@127.0.0.1:PORT) in its environment, and stops the node
# and its epmd by PID on exit, errors included. Without COMMAND it waits for
# Ctrl-C.
#
# Ports: RABBITMQ_BENCH_PORT (default 25680) for AMQP, the next one for
# Erlang distribution and the one after for epmd; if one of them is taken,
# the next three, and so on.
set -eu

log() { echo "rabbitmq.sh: $*" >&2; }

install_rabbitmq() {
	# ss (iproute2) and pgrep (procps) serve this script.
	tools=""
	command -v ss >/dev/null 2>&1 || tools="$tools iproute2"
	command -v pgrep >/dev/null 2>&1 || tools="$tools procps"
	if [ -n "$tools" ]; then
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $tools
	fi
	[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && return 0
	log "installing rabbitmq-server"
	apt-get update -qq
	# Keep the package from starting its system-wide service: a policy-rc.d
	# that refuses every start (Debian's own mechanism, honoured by
	# invoke-rc.d and deb-systemd-invoke), if the machine has none already.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
	fi
	status=0
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server || status=$?
	[ -z "$policy" ] || rm -f "$policy"
	[ "$status" -eq 0 ] || exit "$status"
	# Should the install have left anything running all the same (the
	# service, or the epmd that Debian's init script starts as the rabbitmq
	# user), stop it with the init system, then by PID: the package was not
	# there before, so whatever runs as that user came from this install.
	if [ -d /run/systemd/system ]; then
		systemctl stop rabbitmq-server.service epmd.service epmd.socket 2>/dev/null || true
		systemctl disable rabbitmq-server.service epmd.socket 2>/dev/null || true
	elif pgrep -u rabbitmq >/dev/null 2>&1 && [ -x /etc/init.d/rabbitmq-server ]; then
		/etc/init.d/rabbitmq-server stop >/dev/null 2>&1 || true
	fi
	for p in $(pgrep -u rabbitmq 2>/dev/null); do
		log "stopping pid $p ($(ps -o comm= -p "$p")) left by the install"
		kill "$p" 2>/dev/null || true
	done
}

# free PORT: fails if something listens on PORT.
free() { [ -z "$(ss -Hltn "sport = :$1")" ]; }

install_rabbitmq

# Three free ports in a row, from RABBITMQ_BENCH_PORT up.
PORT=${RABBITMQ_BENCH_PORT:-25680}
for _ in $(seq 50); do
	free "$PORT" && free $((PORT + 1)) && free $((PORT + 2)) && break
	PORT=$((PORT + 3))
done
DIST_PORT=$((PORT + 1))
EPMD_PORT=$((PORT + 2))
free "$PORT" && free "$DIST_PORT" && free "$EPMD_PORT" ||
	{ log "no three free ports in a row from ${RABBITMQ_BENCH_PORT:-25680}"; exit 1; }

tmp=$(mktemp -d /tmp/rabbitmq-bench.XXXXXX)
pid=""
cmd=""
epmd_pid=""
node=bench@localhost
cleanup() {
	status=$?
	trap - EXIT INT TERM
	[ -z "$cmd" ] || kill "$cmd" 2>/dev/null || true
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		rabbitmqctl stop >/dev/null 2>&1 || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$pid" 2>/dev/null; then
			# The script started as $pid runs the Erlang VM as a child
			# whose PID the node wrote to its PID file.
			beam=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
			[ -z "$beam" ] || kill "$beam" 2>/dev/null || true
			kill "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "$epmd_pid" ]; then
		kill "$epmd_pid" 2>/dev/null || true
		wait "$epmd_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The node's environment: nothing from /etc/rabbitmq, nothing in
# /var/lib/rabbitmq or root's home (HOME holds the Erlang cookie).
: >"$tmp/rabbitmq-env.conf"
: >"$tmp/rabbitmq.conf"
export HOME="$tmp"
export RABBITMQ_CONF_ENV_FILE="$tmp/rabbitmq-env.conf"
export RABBITMQ_CONFIG_FILE="$tmp/rabbitmq.conf"
export RABBITMQ_NODENAME=$node
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$PORT
export RABBITMQ_DIST_PORT=$DIST_PORT
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export ERL_EPMD_PORT=$EPMD_PORT
export RABBITMQ_MNESIA_BASE="$tmp/mnesia"
export RABBITMQ_LOG_BASE="$tmp/log"
export RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/enabled_plugins"
export RABBITMQ_PID_FILE="$tmp/rabbitmq.pid"
mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
# Debian's commands in /usr/sbin switch to the rabbitmq user when run as
# root; the ones in /usr/lib/rabbitmq/bin run as whoever calls them.
PATH=/usr/lib/rabbitmq/bin:$PATH

# epmd of our own, in the foreground so that its PID is ours to stop.
epmd -port "$EPMD_PORT" -address 127.0.0.1 &
epmd_pid=$!

rabbitmq-plugins --offline enable rabbitmq_amqp1_0 >"$tmp/plugins.log" 2>&1 ||
	{ cat "$tmp/plugins.log" >&2; exit 1; }

rabbitmq-server >"$tmp/server.log" 2>&1 &
pid=$!
if ! rabbitmqctl --timeout 120 wait "$RABBITMQ_PID_FILE" >"$tmp/await.log" 2>&1; then
	log "the node did not start"
	cat "$tmp/await.log" "$tmp/server.log" >&2
	exit 1
fi
ok=""
for _ in $(seq 100); do
	if ! free "$PORT"; then ok=1; break; fi
	sleep 0.1
done
[ -n "$ok" ] || { log "nothing listens on port $PORT"; cat "$tmp/server.log" >&2; exit 1; }
log "node $node (pid $pid, RabbitMQ $(rabbitmqctl version 2>/dev/null)) on port $PORT"

export BROKER_PORT=$PORT
export BROKER_URL="amqp://guest:guest@127.0.0.1:$PORT"
if [ $# -eq 0 ]; then
	log "Ctrl-C stops it"
	wait "$pid"
	exit
fi
# In the background, so that a signal to this script is handled at once.
"$@" &
cmd=$!
status=0
wait "$cmd" || status=$?
cmd=""
exit "$status"
