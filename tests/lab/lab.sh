#!/bin/bash
# tests/lab/lab.sh: a real 3-node Pacemaker/Corosync cluster in namespaces
# on one machine, running this project's qpidd brokers as the promotable
# clone ocf:qpid:qpidd with a VIP, and fencing ON (see tests/lab/README.md).
#
#   lab.sh deps               install Debian's pacemaker, corosync, pcs,
#                             resource-agents, libxml2-utils (no daemon is
#                             left running by the installation), and rhea
#                             3.0.5 from npm for the stock rhea client;
#                             python3-qpid-proton, libqpid-proton-cpp12-dev
#                             and g++ for the stock proton clients
#   lab.sh up                 network, nodes, quorum, fencing, the qpidd
#                             clone and the VIP (the project must be built
#                             and installed first: make install)
#   lab.sh down               stop every process of the lab by PID, delete
#                             its namespaces; safe to run at any time
#   lab.sh test [ARGS]        down, up, the failover scenarios (qpidlab-run
#                             ARGS, e.g. -trials sigkill=10,crash=10), down
#   lab.sh status             nodes, PIDs, crm_mon, qpid-ha status --all
#   lab.sh exec NODE CMD...   run CMD in node NODE's namespaces (1..3 or nodeN)
#   lab.sh client CMD...      run CMD in the client's network namespace
#   lab.sh fence ACTION NODE  ask the host-side helper (on|off|reboot|status)
#
# Internal (used by the host-side helper qpidlab-hostd and by the
# scenario driver): start-node N, kill-node N, node-status N, node-init N,
# stop-node N... (an orderly shutdown: pacemaker, then corosync, then the
# nodes' namespaces).
#
# Environment: QPIDLAB_STATE (default /var/tmp/qpidlab): the lab's state:
# per-node disks, PIDs, logs, the helper's socket; QPIDLAB_TOKEN (totem
# token in ms, default 600); QPIDLAB_BOOT_DELAY (seconds a fenced node takes
# to boot again, default 8); QPIDLAB_BIN: where qpidlab-hostd is (default
# <repo>/bin); QPIDLAB_TOML: the cluster's description for the configuration
# generator (default cluster-conf/examples/lab.toml); QPIDLAB_GEN: the
# generator (default <repo>/bin/qpid-cluster-conf); QPIDLAB_TLS=1: the TLS
# lab: an SSL-only, authenticating cluster from cluster-conf/examples/
# lab-tls.toml (the default QPIDLAB_TOML then), a CA and each node's
# certificate made here with openssl, clients and tools over amqps as the
# user qpidlab.
set -eu

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$LAB_DIR/../.." && pwd)
STATE=${QPIDLAB_STATE:-/var/tmp/qpidlab}
BIN=${QPIDLAB_BIN:-$REPO/bin}
TOKEN=${QPIDLAB_TOKEN:-600}
TLS=${QPIDLAB_TLS:-0}
if [ "$TLS" = 1 ]; then
	TOML=${QPIDLAB_TOML:-$REPO/cluster-conf/examples/lab-tls.toml}
else
	TOML=${QPIDLAB_TOML:-$REPO/cluster-conf/examples/lab.toml}
fi
# The TLS lab's client (and administrator) user; the brokers' own user and
# password are the generated qpidd.conf's ha-username and ha-password.
LAB_USER=qpidlab
LAB_PASSWORD=qpidlab-pw
PFX=qlab
SW=$PFX-sw
CL=$PFX-c
NET=10.99.0
VIP=$NET.200
CLIENT_IP=$NET.100
NODES="1 2 3"
SOCK=$STATE/fence.sock
FENCE_AGENT=/usr/sbin/fence_qpidlab
PACKAGES="pacemaker corosync pcs resource-agents libxml2-utils python3-qpid-proton libqpid-proton-cpp12-dev g++"
# The stock rhea client's library (deps_npm).
NPM_DIR=${QPIDLAB_NPM:-/var/tmp/qpidlab-npm}
RHEA_VERSION=3.0.5

log() { printf '%s lab: %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# node_num accepts 2, n2, node2.
node_num() {
	local n=${1#node}
	n=${n#n}
	case "$n" in 1 | 2 | 3) echo "$n" ;; *) die "no such node: $1" ;; esac
}

nodedir() { echo "$STATE/n$1"; }

# init_pid prints the host PID of node N's namespace init if it is alive.
init_pid() {
	local f pid
	f=$(nodedir "$1")/init.pid
	[ -r "$f" ] || return 1
	pid=$(cat "$f")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	# Make sure the PID is still our init, not a recycled number.
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "lab.sh node-init $1" || return 1
	[ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
	echo "$pid"
}

# in_node N CMD...: run CMD in node N's namespaces.
in_node() {
	local n=$1 pid
	shift
	pid=$(init_pid "$n") || die "node$n is not running"
	nsenter -t "$pid" -n -m -u -i -p --wd=/ -- "$@"
}

# ---------------------------------------------------------------- deps

cmd_deps() {
	deps_apt
	deps_npm
}

# deps_npm: the stock rhea client's library, rhea 3.0.5 from npm, in
# $NPM_DIR (outside $STATE, which lab.sh up clears). Node.js itself is
# Debian's nodejs and npm unless a node is installed already.
deps_npm() {
	if [ -f "$NPM_DIR/node_modules/rhea/package.json" ] &&
		grep -q "\"version\": \"$RHEA_VERSION\"" "$NPM_DIR/node_modules/rhea/package.json"; then
		log "deps: rhea $RHEA_VERSION already in $NPM_DIR"
		return 0
	fi
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		log "deps: installing nodejs npm"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends nodejs npm; } || die "apt-get failed"
	fi
	mkdir -p "$NPM_DIR"
	npm install --no-save --no-audit --no-fund --prefix "$NPM_DIR" "rhea@$RHEA_VERSION" >/dev/null ||
		die "npm install rhea@$RHEA_VERSION failed"
	log "deps: rhea $RHEA_VERSION installed in $NPM_DIR"
}

deps_apt() {
	local missing="" pkg
	for pkg in $PACKAGES; do
		dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
	done
	if [ -z "$missing" ]; then
		log "deps: already installed: $PACKAGES"
		return 0
	fi
	log "deps: installing$missing"
	# Debian's postinst scripts start corosync, pacemaker and pcsd unless
	# a policy-rc.d forbids it: forbid it for the time of the installation.
	local policy=/usr/sbin/policy-rc.d ours=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\n# qpidlab: no daemons started while installing\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		ours=1
	fi
	local before
	before=$(pgrep -x 'corosync|pacemakerd|pcsd|pacemaker-.*' || true)
	local rc=0
	# shellcheck disable=SC2086 # a list of package names
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing; } || rc=$?
	[ -z "$ours" ] || rm -f "$policy"
	# Anything that started anyway (and was not running before) is stopped.
	local pid
	for pid in $(pgrep -x 'corosync|pacemakerd|pcsd|pacemaker-.*' || true); do
		case " $(echo "$before" | tr '\n' ' ') " in *" $pid "*) continue ;; esac
		log "deps: stopping $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid), started by the installation"
		kill -TERM "$pid" 2>/dev/null || true
	done
	[ "$rc" -eq 0 ] || die "apt-get failed ($rc)"
}

# ---------------------------------------------------------------- network

net_up() {
	ip netns add "$SW"
	ip -n "$SW" link set lo up
	ip -n "$SW" link add br0 type bridge
	ip -n "$SW" link set br0 up
	local i
	for i in $NODES; do
		ip netns add "$PFX-n$i"
		ip link add "${PFX}v$i" type veth peer name eth0 netns "$PFX-n$i"
		ip link set "${PFX}v$i" netns "$SW"
		ip -n "$SW" link set "${PFX}v$i" master br0
		ip -n "$SW" link set "${PFX}v$i" up
		ip -n "$PFX-n$i" link set lo up
		ip -n "$PFX-n$i" addr add "$NET.$i/24" dev eth0
		ip -n "$PFX-n$i" link set eth0 up
	done
	ip netns add "$CL"
	ip link add "${PFX}vc" type veth peer name eth0 netns "$CL"
	ip link set "${PFX}vc" netns "$SW"
	ip -n "$SW" link set "${PFX}vc" master br0
	ip -n "$SW" link set "${PFX}vc" up
	ip -n "$CL" link set lo up
	ip -n "$CL" addr add "$CLIENT_IP/24" dev eth0
	ip -n "$CL" link set eth0 up
}

# ---------------------------------------------------------------- per-node files

write_corosync_conf() {
	local i
	{
		cat <<EOF
# The lab's corosync.conf (tests/lab/lab.sh). token is low so that a lost
# node is noticed fast: token ${TOKEN} ms, and token_coefficient 0 so that
# it is not raised by 650 ms per node beyond two; consensus defaults to
# 1.2 x token.
totem {
	version: 2
	cluster_name: qpidlab
	transport: knet
	crypto_cipher: none
	crypto_hash: none
	token: ${TOKEN}
	token_coefficient: 0
}
nodelist {
EOF
		for i in $NODES; do
			printf '\tnode {\n\t\tring0_addr: %s\n\t\tname: node%s\n\t\tnodeid: %s\n\t}\n' "$NET.$i" "$i" "$i"
		done
		cat <<EOF
}
quorum {
	provider: corosync_votequorum
}
logging {
	to_stderr: yes
	to_syslog: no
	to_logfile: yes
	logfile: /var/log/corosync/corosync.log
	timestamp: hires
}
EOF
	} >"$1"
}

write_hosts() {
	local i
	{
		echo "127.0.0.1 localhost"
		for i in $NODES; do echo "$NET.$i node$i"; done
		echo "$CLIENT_IP client"
		echo "$VIP vip"
	} >"$1"
}

# prepare_node N: the node's private "disks" under the state directory.
prepare_node() {
	local d
	d=$(nodedir "$1")
	mkdir -p "$d"/{run,lib-pacemaker,lib-corosync,log,etc-corosync,etc-qpid,lib-qpidd,lib-pcsd}
	mkdir -p "$d"/lib-pacemaker/{cib,pengine,blackbox,cores} "$d"/log/{pacemaker,corosync,qpidd,pcsd}
	chown -R hacluster:haclient "$d/lib-pacemaker" "$d/log/pacemaker"
	write_corosync_conf "$d/etc-corosync/corosync.conf"
	write_hosts "$d/hosts"
	cp "$STATE/conf/qpidd-node$1.conf" "$d/etc-qpid/qpidd.conf"
	if id qpidd >/dev/null 2>&1; then
		chown qpidd "$d/lib-qpidd" "$d/log/qpidd"
		chmod 0750 "$d/lib-qpidd"
	fi
	[ "$TLS" = 1 ] && prepare_node_tls "$1"
	return 0
}

# conf_value OPTION: its value in the generated qpidd.conf of node1.
conf_value() {
	sed -n "s/^$1=//p" "$STATE/conf/qpidd-node1.conf" | tail -n 1
}

# make_pki: the TLS lab's CA and each node's certificate (EC P-256), in
# $STATE/pki. A node's certificate names its address, the VIP, localhost
# (the resource agent reaches the broker at ssl:localhost) and its name,
# and allows serverAuth and clientAuth (the brokers present it to each
# other).
make_pki() {
	local p=$STATE/pki i
	mkdir -p "$p"
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 90 \
		-subj "/CN=qpidlab CA" -keyout "$p/ca.key" -out "$p/ca.pem" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$p/openssl.log" ||
		die "openssl could not make the CA: see $p/openssl.log"
	for i in $NODES; do
		printf '%s\n' "subjectAltName=IP:$NET.$i,IP:$VIP,DNS:localhost,IP:127.0.0.1,DNS:node$i" \
			"extendedKeyUsage=serverAuth,clientAuth" "keyUsage=critical,digitalSignature,keyEncipherment" \
			"basicConstraints=CA:FALSE" >"$p/node$i.ext"
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=node$i" -keyout "$p/node$i.key" -out "$p/node$i.csr" 2>>"$p/openssl.log" ||
			die "openssl could not make node$i's key: see $p/openssl.log"
		openssl x509 -req -in "$p/node$i.csr" -CA "$p/ca.pem" -CAkey "$p/ca.key" -CAcreateserial \
			-days 90 -extfile "$p/node$i.ext" -out "$p/node$i.pem" 2>>"$p/openssl.log" ||
			die "openssl could not sign node$i's certificate: see $p/openssl.log"
	done
	log "TLS: a CA and the nodes' certificates in $p"
}

# node_file N OPTION: where the file named by OPTION of qpidd.conf (a path
# under /etc/qpid) is in node N's private /etc/qpid.
node_file() {
	local v
	v=$(conf_value "$2")
	case $v in
	/etc/qpid/*) ;;
	*) die "the TLS lab installs $2 under /etc/qpid (each node's own); $TOML gives '$v'" ;;
	esac
	echo "$(nodedir "$1")/etc-qpid/${v#/etc/qpid/}"
}

# prepare_node_tls N: node N's certificate, key and CA at the paths of its
# qpidd.conf (ssl-cert-file, ssl-key-file, ssl-ca-file), and the user
# database (auth-database) with the brokers' own user and the lab's user;
# the key and qpidd.conf (it holds ha-password) 0640 root:qpidd, the
# database 0600 qpidd's (the broker wants it so).
prepare_node_tls() {
	local n=$1 p=$STATE/pki cert key ca db
	cert=$(node_file "$n" ssl-cert-file)
	key=$(node_file "$n" ssl-key-file)
	ca=$(node_file "$n" ssl-ca-file)
	db=$(node_file "$n" auth-database)
	mkdir -p "$(dirname "$cert")" "$(dirname "$key")" "$(dirname "$ca")" "$(dirname "$db")"
	install -m 0644 "$p/node$n.pem" "$cert"
	install -m 0640 -g qpidd "$p/node$n.key" "$key"
	install -m 0644 "$p/ca.pem" "$ca"
	rm -f "$db"
	printf '%s\n' "$(conf_value ha-password)" | qpidd-users --database "$db" add "$(conf_value ha-username)" >/dev/null ||
		die "qpidd-users could not add $(conf_value ha-username) to $db"
	printf '%s\n' "$LAB_PASSWORD" | qpidd-users --database "$db" add "$LAB_USER" >/dev/null ||
		die "qpidd-users could not add $LAB_USER to $db"
	chown qpidd:qpidd "$db"
	chmod 0600 "$db"
	chgrp qpidd "$(nodedir "$n")/etc-qpid/qpidd.conf"
	chmod 0640 "$(nodedir "$n")/etc-qpid/qpidd.conf"
}

# ---------------------------------------------------------------- nodes

# cmd_node_init N: PID 1 of node N's PID namespace (inside its new mount,
# UTS, IPC and PID namespaces, in its network namespace).
cmd_node_init() {
	local n=$1 d hostpid _
	d=$(nodedir "$n")
	# Before /proc is remounted it is the host's: this is our host PID.
	read -r hostpid _ </proc/self/stat
	echo "$hostpid" >"$d/init.pid.tmp"
	mount --make-rprivate /
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mount --bind "$d/run" /run
	mount --bind "$d/lib-pacemaker" /var/lib/pacemaker
	mount --bind "$d/lib-corosync" /var/lib/corosync
	mount --bind "$d/log" /var/log
	mount --bind "$d/etc-corosync" /etc/corosync
	mkdir -p /etc/qpid /var/lib/qpidd /var/lib/pcsd
	mount --bind "$d/etc-qpid" /etc/qpid
	mount --bind "$d/lib-qpidd" /var/lib/qpidd
	mount --bind "$d/lib-pcsd" /var/lib/pcsd
	mount --bind "$d/hosts" /etc/hosts
	mount -t proc proc /proc
	hostname "node$n"
	mkdir -p /run/crm /run/resource-agents /run/lock /run/pcsd
	chown hacluster:haclient /run/crm
	mv "$d/init.pid.tmp" "$d/init.pid"
	# The node's daemons, as on a booted node; PID 1 (this shell) reaps.
	corosync -f >>/var/log/corosync/stdout.log 2>&1 &
	local i
	for i in $(seq 1 100); do
		corosync-cfgtool -s >/dev/null 2>&1 && break
		sleep 0.1
	done
	pacemakerd >>/var/log/pacemaker/stdout.log 2>&1 &
	while true; do
		wait || true
		sleep 1
	done
}

# cmd_start_node N: boot node N (its network set up afresh, as after a
# reboot: the VIP a crashed node held does not come back with it).
cmd_start_node() {
	local n d pid i ns
	n=$(node_num "$1")
	d=$(nodedir "$n")
	ns=$PFX-n$n
	if pid=$(init_pid "$n"); then
		log "node$n already runs (init $pid)"
		ip -n "$SW" link set "${PFX}v$n" up
		return 0
	fi
	[ -e "/run/netns/$ns" ] || die "no namespace $ns: run lab.sh up"
	ip -n "$ns" addr flush dev eth0
	ip -n "$ns" addr add "$NET.$n/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$SW" link set "${PFX}v$n" up
	rm -rf "${d:?}/run" "$d/init.pid" "$d/init.pid.tmp"
	mkdir -p "$d/run"
	setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --ipc --pid --fork --propagation private \
		"$LAB_DIR/lab.sh" node-init "$n" </dev/null >>"$d/console.log" 2>&1 &
	for i in $(seq 1 100); do
		if pid=$(init_pid "$n"); then
			log "node$n started (init $pid)"
			return 0
		fi
		sleep 0.1
	done
	die "node$n did not start: see $d/console.log"
}

# cmd_kill_node N: a crash: node N's link goes down and every process of
# it dies at once (SIGKILL to its PID namespace's init).
cmd_kill_node() {
	local n pid i
	n=$(node_num "$1")
	ip -n "$SW" link set "${PFX}v$n" down 2>/dev/null || true
	pid=$(init_pid "$n") || {
		log "node$n is not running"
		return 0
	}
	kill -KILL "$pid"
	for i in $(seq 1 200); do
		init_pid "$n" >/dev/null || {
			log "node$n killed (init $pid)"
			return 0
		}
		sleep 0.05
	done
	die "node$n (init $pid) did not die"
}

cmd_node_status() {
	local n
	n=$(node_num "$1")
	if init_pid "$n" >/dev/null; then echo on; else echo off; fi
}

# cmd_stop_node N...: an orderly shutdown of nodes, as pcs cluster stop
# does: Pacemaker stops on every one of them first (it stops their
# resources and leaves the cluster), then corosync, then each node's
# namespaces end. Stopping corosync on one node while Pacemaker still stops
# on another would leave the latter without quorum and blocked.
cmd_stop_node() {
	local n nums="" pid i
	for n in "$@"; do
		n=$(node_num "$n")
		init_pid "$n" >/dev/null && nums="$nums $n"
	done
	[ -n "$nums" ] || return 0
	for n in $nums; do
		# shellcheck disable=SC2016 # expanded by the node's shell
		in_node "$n" sh -c 'p=$(pgrep -x pacemakerd) && kill -TERM $p' || true
	done
	for n in $nums; do
		# shellcheck disable=SC2016 # expanded by the node's shell
		in_node "$n" sh -c 'i=0; while pgrep -x pacemakerd >/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done' || true
		log "node$n: pacemaker stopped"
	done
	for n in $nums; do
		# shellcheck disable=SC2016 # expanded by the node's shell
		in_node "$n" sh -c 'p=$(pgrep -x corosync) && kill -TERM $p
			i=0; while pgrep -x corosync >/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done' || true
	done
	for n in $nums; do
		pid=$(init_pid "$n") || continue
		kill -KILL "$pid"
		for i in $(seq 1 100); do
			init_pid "$n" >/dev/null || break
			sleep 0.05
		done
		log "node$n stopped"
	done
}

# ---------------------------------------------------------------- helper

hostd_pid() {
	local pid
	[ -r "$STATE/hostd.pid" ] || return 1
	pid=$(cat "$STATE/hostd.pid")
	[ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q qpidlab-hostd || return 1
	echo "$pid"
}

# fence_req ACTION NODE: one request to the helper, through the fence agent
# (options on standard input, as pacemaker-fenced gives them).
fence_req() {
	printf 'action=%s\nport=%s\nsocket=%s\n' "$1" "$2" "$SOCK" | /usr/bin/python3 "$LAB_DIR/fence_qpidlab"
}

start_hostd() {
	[ -x "$BIN/qpidlab-hostd" ] || die "$BIN/qpidlab-hostd is missing: go build -o bin/ ./tests/lab/qpidlab-hostd"
	setsid "$BIN/qpidlab-hostd" -state "$STATE" -lab "$LAB_DIR/lab.sh" -boot-delay "${QPIDLAB_BOOT_DELAY:-8}s" \
		</dev/null >>"$STATE/hostd.log" 2>&1 &
	echo $! >"$STATE/hostd.pid"
	local i
	for i in $(seq 1 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.1
	done
	die "qpidlab-hostd did not start: see $STATE/hostd.log"
}

# ---------------------------------------------------------------- cluster

# wait_quorum [SECONDS]: three nodes online in a quorate partition with a DC.
wait_quorum() {
	local t0=$SECONDS out
	while [ $((SECONDS - t0)) -lt "${1:-180}" ]; do
		out=$(in_node 1 crm_mon -1 --output-as=xml 2>/dev/null || true)
		if echo "$out" | grep -q 'with_quorum="true"' &&
			[ "$(echo "$out" | grep -c '<node name="node[0-9]" .*online="true"')" -eq 3 ] &&
			echo "$out" | grep -q '<current_dc present="true"'; then
			log "quorum: 3 nodes online after $((SECONDS - t0))s"
			return 0
		fi
		sleep 1
	done
	in_node 1 crm_mon -1 >&2 || true
	die "no quorate 3-node cluster within ${1:-180}s"
}

# generate: the cluster's configuration from the lab's TOML description by
# the project's generator (qpid-cluster-conf): the pcs script and each
# node's qpidd.conf, into $STATE/conf. The lab tests that configuration, so
# it has no other.
generate() {
	local gen
	gen=${QPIDLAB_GEN:-$BIN/qpid-cluster-conf}
	[ -x "$gen" ] || gen=$(command -v qpid-cluster-conf || true)
	[ -n "$gen" ] || die "no qpid-cluster-conf in $BIN or on PATH: run make build (or make install) first"
	[ -f "$TOML" ] || die "no $TOML (QPIDLAB_TOML): the lab's cluster description"
	mkdir -p "$STATE/conf"
	# The fence agent's socket is in the state directory.
	sed "s|/var/tmp/qpidlab/fence.sock|$SOCK|g" "$TOML" >"$STATE/conf/lab.toml"
	"$gen" -o "$STATE/conf" "$STATE/conf/lab.toml" >"$STATE/conf/generate.out" 2>&1 || {
		cat "$STATE/conf/generate.out" >&2
		die "$gen failed on $TOML"
	}
	log "configuration generated by $gen from $TOML into $STATE/conf"
}

configure() {
	cp "$STATE/conf/pcs-setup.sh" "$STATE/cluster.pcs"
	log "configuring Pacemaker with $STATE/cluster.pcs"
	in_node 1 sh "$STATE/cluster.pcs" >"$STATE/pcs.out" 2>&1 || {
		cat "$STATE/pcs.out" >&2
		die "the pcs script failed"
	}
}

cmd_up() {
	local t0=$SECONDS i
	if [ -e "/run/netns/$SW" ] || hostd_pid >/dev/null; then
		die "the lab is (partly) up: run lab.sh down first"
	fi
	if ! command -v corosync >/dev/null || ! command -v pcs >/dev/null; then
		die "run lab.sh deps first"
	fi
	if [ ! -x /usr/lib/ocf/resource.d/qpid/qpidd ] || [ ! -x /usr/sbin/qpidd ]; then
		die "install the package first (make lab-tools installs the built .deb; make install also does)"
	fi
	rm -rf "${STATE:?}"
	mkdir -p "$STATE"
	date +%s >"$STATE/up.start"
	log "state in $STATE"
	generate
	if [ "$TLS" = 1 ]; then
		command -v openssl >/dev/null || die "the TLS lab needs openssl"
		[ "$(conf_value listen-disable)" = tcp ] || die "the TLS lab wants an SSL-only configuration (ssl_only in $TOML)"
		make_pki
	fi
	install -m 0755 "$LAB_DIR/fence_qpidlab" "$FENCE_AGENT"
	net_up
	for i in $NODES; do prepare_node "$i"; done
	start_hostd
	for i in $NODES; do
		fence_req on "node$i" >/dev/null || die "the helper did not start node$i: see $STATE/hostd.log"
	done
	wait_quorum 240
	configure
	log "up in $((SECONDS - t0))s"
}

cmd_down() {
	local i pid
	for i in $NODES; do
		if pid=$(init_pid "$i"); then
			kill -KILL "$pid" 2>/dev/null || true
			log "killed node$i (init $pid)"
		fi
	done
	if pid=$(hostd_pid); then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		log "stopped qpidlab-hostd (pid $pid)"
	fi
	for i in $NODES; do
		for _ in $(seq 1 50); do
			init_pid "$i" >/dev/null || break
			sleep 0.1
		done
	done
	for ns in "$CL" "$PFX-n1" "$PFX-n2" "$PFX-n3" "$SW"; do
		[ -e "/run/netns/$ns" ] || continue
		ip netns del "$ns" 2>/dev/null || { umount "/run/netns/$ns" 2>/dev/null || true; rm -f "/run/netns/$ns"; }
	done
	# The fence agent stays installed (others may read its meta-data).
	rm -f "$SOCK"
	log "down"
}

# cmd_test ARGS...: the lab's whole test: up, the scenarios (qpidlab-run
# ARGS... in the client's network namespace), down, also on failure or
# interruption. The nodes' logs are copied next to the results.
cmd_test() {
	local rc=0 t0=$SECONDS t1 out
	out=${QPIDLAB_OUT:-$REPO/.run/lab}
	[ -x "$BIN/qpidlab-run" ] || die "$BIN/qpidlab-run is missing: go build -o bin/ ./tests/lab/qpidlab-run"
	"$LAB_DIR/lab.sh" down >/dev/null 2>&1 || true
	trap '"$LAB_DIR/lab.sh" down' EXIT
	trap 'exit 130' INT TERM
	rm -rf "${out:?}"
	mkdir -p "$out"
	"$LAB_DIR/lab.sh" up || die "lab.sh up failed"
	t1=$SECONDS
	log "lab up in $((t1 - t0))s; running the scenarios"
	local access=()
	if [ "$TLS" = 1 ]; then
		# The stock proton and rhea clients (qpidlab-run -stock) speak
		# neither TLS nor SASL here: the TLS lab runs without them.
		access=(-port "$(conf_value ssl-port)" -tls-ca "$STATE/pki/ca.pem" -user "$LAB_USER" -password "$LAB_PASSWORD" -stock "")
	fi
	nsenter --net="/run/netns/$CL" -- "$BIN/qpidlab-run" -state "$STATE" -lab "$LAB_DIR/lab.sh" -out "$out" \
		-token "${TOKEN}ms" "${access[@]}" "$@" || rc=$?
	log "scenarios done in $((SECONDS - t1))s (exit $rc); results in $out"
	local i
	for i in $NODES; do
		mkdir -p "$out/node$i"
		cp -r "$STATE/n$i/log/." "$out/node$i/" 2>/dev/null || true
	done
	cp "$STATE"/*.log "$STATE/cluster.pcs" "$out/" 2>/dev/null || true
	return "$rc"
}

cmd_status() {
	local i pid
	for i in $NODES; do
		if pid=$(init_pid "$i"); then echo "node$i: init $pid"; else echo "node$i: off"; fi
	done
	if pid=$(hostd_pid); then echo "qpidlab-hostd: pid $pid"; else echo "qpidlab-hostd: not running"; fi
	for i in $NODES; do
		init_pid "$i" >/dev/null || continue
		in_node "$i" crm_mon -1 -A || true
		if [ "$TLS" = 1 ]; then
			in_node "$i" qpid-ha status --all -b "ssl:localhost:$(conf_value ssl-port)" --config /etc/qpid/qpidd.conf --timeout 2 || true
		else
			in_node "$i" qpid-ha status --all -b localhost:5672 --timeout 2 || true
		fi
		break
	done
}

case "${1:-}" in
deps) cmd_deps ;;
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
test)
	shift
	cmd_test "$@"
	;;
exec)
	[ $# -ge 3 ] || die "usage: lab.sh exec NODE CMD..."
	n=$(node_num "$2")
	shift 2
	in_node "$n" "$@"
	;;
client)
	shift
	exec nsenter --net="/run/netns/$CL" -- "$@"
	;;
fence)
	[ $# -eq 3 ] || die "usage: lab.sh fence on|off|reboot|status NODE"
	fence_req "$2" "$3"
	;;
configure) configure ;;
wait-quorum) wait_quorum "${2:-180}" ;;
node-init) cmd_node_init "$(node_num "$2")" ;;
start-node) cmd_start_node "$2" ;;
kill-node) cmd_kill_node "$2" ;;
stop-node)
	shift
	cmd_stop_node "$@"
	;;
node-status) cmd_node_status "$2" ;;
*)
	sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac
