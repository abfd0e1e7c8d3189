#!/bin/sh
# Runs a command against a private RabbitMQ node, or a cluster of them on this
# machine (Debian's rabbitmq-server, 3.10 on Debian 12), with the AMQP 1.0
# plugin, then stops the nodes.
#
#   [RABBITMQ_NODES=3] scripts/bench/rabbitmq.sh [COMMAND [ARG...]]
#
# Installs rabbitmq-server if missing (without leaving the package's own
# service running), starts RABBITMQ_NODES nodes (default 1) of its own as
# child processes (node name bench@localhost, or bench1@localhost,
# bench2@localhost... for a cluster; each with its own data and log
# directories in a temporary directory; one epmd of their own, one Erlang
# cookie, one enabled-plugins file), joins the others to the first
# (stop_app, join_cluster, start_app), waits until every node takes
# connections, runs COMMAND with BROKER_PORT (the first node's port: AMQP
# 0-9-1 and 1.0 share it) and BROKER_URL (amqp://guest:guest@127.0.0.1:PORT)
# in its environment, and stops the nodes and the epmd by PID on exit, errors
# included. Without COMMAND it waits for Ctrl-C.
#
# Ports: from RABBITMQ_BENCH_PORT (default 25680), one for each node's AMQP,
# then one for each node's Erlang distribution, then one for epmd (a single
# node: 25680, 25681, 25682); if one of them is taken, the next block, and so
# on. RABBITMQ_BENCH_ERL_ARGS: more arguments to every node's Erlang VM (say
# "+sbwt none +sbwtdcpu none +sbwtdio none": idle schedulers then sleep
# rather than spin, RabbitMQ's advice when nodes share CPUs); none by default.
set -eu

log() { echo "rabbitmq.sh: $*" >&2; }

install_rabbitmq() {
	# ss (iproute2) and pgrep (procps) serve this script.
	tools=""
	command -v ss >/dev/null 2>&1 || tools="$tools iproute2"
	command -v pgrep >/dev/null 2>&1 || tools="$tools procps"
	if [ -n "$tools" ]; then
		apt-get update -qq
		# shellcheck disable=SC2086 # a list of package names
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

# free_block PORT COUNT: fails if something listens on PORT..PORT+COUNT-1.
free_block() {
	for i in $(seq 0 $(($2 - 1))); do free $(($1 + i)) || return 1; done
}

install_rabbitmq

NODES=${RABBITMQ_NODES:-1}
case $NODES in '' | *[!0-9]* | 0) log "RABBITMQ_NODES must be a positive number"; exit 2 ;; esac
# node I: its name, AMQP port and distribution port (I from 1).
node() { if [ "$NODES" -eq 1 ]; then echo bench@localhost; else echo "bench$1@localhost"; fi; }
amqp_port() { echo $((PORT + $1 - 1)); }
dist_port() { echo $((PORT + NODES + $1 - 1)); }

# 2 x NODES + 1 free ports in a row, from RABBITMQ_BENCH_PORT up.
PORT=${RABBITMQ_BENCH_PORT:-25680}
count=$((2 * NODES + 1))
for _ in $(seq 50); do
	free_block "$PORT" "$count" && break
	PORT=$((PORT + count))
done
free_block "$PORT" "$count" ||
	{ log "no $count free ports in a row from ${RABBITMQ_BENCH_PORT:-25680}"; exit 1; }
EPMD_PORT=$((PORT + 2 * NODES))

tmp=$(mktemp -d /tmp/rabbitmq-bench.XXXXXX)
pids="" # I:PID for node I
cmd=""
epmd_pid=""
pid_of() { echo "$pids" | tr ' ' '\n' | sed -n "s/^$1://p"; }
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	status=$?
	trap - EXIT INT TERM
	[ -z "$cmd" ] || kill "$cmd" 2>/dev/null || true
	# The last node first, so that the first, which the others joined,
	# sees them leave.
	for i in $(seq "$NODES" -1 1); do
		p=$(pid_of "$i")
		if [ -z "$p" ] || ! kill -0 "$p" 2>/dev/null; then continue; fi
		rabbitmqctl -n "$(node "$i")" stop >/dev/null 2>&1 || true
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		if kill -0 "$p" 2>/dev/null; then
			# The script started as $p runs the Erlang VM as a child
			# whose PID the node wrote to its PID file.
			beam=$(cat "$tmp/node$i/rabbitmq.pid" 2>/dev/null || true)
			[ -z "$beam" ] || kill "$beam" 2>/dev/null || true
			kill "$p" 2>/dev/null || true
		fi
		wait "$p" 2>/dev/null || true
	done
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

# The nodes' environment: nothing from /etc/rabbitmq, nothing in
# /var/lib/rabbitmq or root's home (HOME holds the Erlang cookie, the same
# for every node and for rabbitmqctl).
: >"$tmp/rabbitmq-env.conf"
: >"$tmp/rabbitmq.conf"
export HOME="$tmp"
export RABBITMQ_CONF_ENV_FILE="$tmp/rabbitmq-env.conf"
export RABBITMQ_CONFIG_FILE="$tmp/rabbitmq.conf"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}${RABBITMQ_BENCH_ERL_ARGS:+ $RABBITMQ_BENCH_ERL_ARGS}"
export ERL_EPMD_PORT=$EPMD_PORT
export RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/enabled_plugins"
# rabbitmqctl picks its own distribution port from RABBITMQ_DIST_PORT + 10000
# (the first node's), away from the machine's usual 35672.
RABBITMQ_DIST_PORT=$(dist_port 1)
export RABBITMQ_DIST_PORT
# Debian's commands in /usr/sbin switch to the rabbitmq user when run as
# root; the ones in /usr/lib/rabbitmq/bin run as whoever calls them.
PATH=/usr/lib/rabbitmq/bin:$PATH

# epmd of our own, in the foreground so that its PID is ours to stop.
epmd -port "$EPMD_PORT" -address 127.0.0.1 &
epmd_pid=$!

rabbitmq-plugins --offline enable rabbitmq_amqp1_0 >"$tmp/plugins.log" 2>&1 ||
	{ cat "$tmp/plugins.log" >&2; exit 1; }

# Every node at once: each takes seconds to boot.
for i in $(seq "$NODES"); do
	d="$tmp/node$i"
	mkdir -p "$d/mnesia" "$d/log"
	RABBITMQ_NODENAME=$(node "$i") RABBITMQ_NODE_PORT=$(amqp_port "$i") RABBITMQ_DIST_PORT=$(dist_port "$i") \
		RABBITMQ_MNESIA_BASE="$d/mnesia" RABBITMQ_LOG_BASE="$d/log" RABBITMQ_PID_FILE="$d/rabbitmq.pid" \
		rabbitmq-server >"$d/server.log" 2>&1 &
	pids="$pids $i:$!"
done
for i in $(seq "$NODES"); do
	d="$tmp/node$i"
	if ! rabbitmqctl -n "$(node "$i")" --timeout 120 wait "$d/rabbitmq.pid" >"$d/await.log" 2>&1; then
		log "node $(node "$i") did not start"
		cat "$d/await.log" "$d/server.log" >&2
		exit 1
	fi
done
# The others join the first.
for i in $(seq 2 "$NODES"); do
	n=$(node "$i")
	if ! { rabbitmqctl -n "$n" stop_app && rabbitmqctl -n "$n" join_cluster "$(node 1)" &&
		rabbitmqctl -n "$n" start_app; } >"$tmp/node$i/join.log" 2>&1; then
		log "node $n did not join $(node 1)"
		cat "$tmp/node$i/join.log" >&2
		exit 1
	fi
done
if [ "$NODES" -gt 1 ] &&
	! rabbitmqctl -n "$(node 1)" --timeout 120 await_online_nodes "$NODES" >"$tmp/online.log" 2>&1; then
	log "the cluster did not form"
	cat "$tmp/online.log" >&2
	rabbitmqctl -n "$(node 1)" cluster_status >&2 || true
	exit 1
fi
for i in $(seq "$NODES"); do
	ok=""
	for _ in $(seq 100); do
		if ! free "$(amqp_port "$i")"; then ok=1; break; fi
		sleep 0.1
	done
	[ -n "$ok" ] || { log "nothing listens on port $(amqp_port "$i")"; cat "$tmp/node$i/server.log" >&2; exit 1; }
done
version=$(rabbitmqctl -n "$(node 1)" version 2>/dev/null)
if [ "$NODES" -eq 1 ]; then
	log "node $(node 1) (pid $(pid_of 1), RabbitMQ $version) on port $PORT"
else
	log "cluster of $NODES nodes (RabbitMQ $version):$(for i in $(seq "$NODES"); do
		printf ' %s on port %s' "$(node "$i")" "$(amqp_port "$i")"; done); clients on $(node 1)"
fi

export BROKER_PORT="$PORT"
export BROKER_URL="amqp://guest:guest@127.0.0.1:$PORT"
if [ $# -eq 0 ]; then
	log "Ctrl-C stops it"
	wait "$(pid_of 1)"
	exit
fi
# In the background, so that a signal to this script is handled at once.
"$@" &
cmd=$!
status=0
wait "$cmd" || status=$?
cmd=""
exit "$status"
