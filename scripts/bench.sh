#!/bin/sh
# Throughput and latency of qpidd against RabbitMQ 3.10 (Debian's
# rabbitmq-server) in one run, on this machine, with the same load generator
# (tests/bench): 1 KiB messages, at-least-once with the same fixed window of
# unconfirmed messages per sender, 1 sender/1 receiver and 4/4. qpidd speaks
# AMQP 1.0 (go-amqp); RabbitMQ is measured over AMQP 1.0 (its
# rabbitmq_amqp1_0 plugin, go-amqp) and over AMQP 0-9-1 with publisher
# confirms (amqp091-go). One broker at a time: qpidd, then RabbitMQ.
#
# Usage: scripts/bench.sh [messages] [window]   (or N=... WINDOW=...)
# Environment: BIN (default bin: qpidd and bench built there), CREDIT (credit
# or prefetch per receiver, default 200), SPLIT (default 0: senders and
# receivers of a run in one client process; 1: in two, started one after the
# other: receivers first), TIMEOUT (per run, default 5m), CREDITBATCH (AMQP
# 1.0 credit granted at a time, default CREDIT), RABBITMQ_BENCH_PORT
# (see scripts/bench/rabbitmq.sh), RABBITMQ=0 to skip RabbitMQ.
#
# Latency is end to end: both brokers settle a transfer (or confirm a
# publish) once the message is queued, so when the receivers fall behind the
# senders, the queue grows, and p50/p99 mostly measure that backlog. With
# SPLIT=1 the senders' process runs unhindered by the receivers' (both share
# the machine's 2 cores with the broker): the same throughput, but a much
# larger backlog, hence the default.
set -eu
cd "$(dirname "$0")/.."
export N=${1:-${N:-200000}}
export WINDOW=${2:-${WINDOW:-100}}
export CREDIT=${CREDIT:-200}
export SPLIT=${SPLIT:-0}
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
export BIN
RESULTS=$(mktemp /tmp/bench-results.XXXXXX)
export RESULTS
trap 'rm -f "$RESULTS"' EXIT

echo "$N messages of 1 KiB per run, window $WINDOW per sender, credit/prefetch $CREDIT per receiver," \
	"$([ "$SPLIT" = 1 ] && echo "senders and receivers in separate processes" || echo "one client process");" \
	"go-amqp $(go list -m -f '{{.Version}}' github.com/Azure/go-amqp)," \
	"amqp091-go $(go list -m -f '{{.Version}}' github.com/rabbitmq/amqp091-go); $(nproc) cores;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/bench/qpidd.sh scripts/bench/run.sh qpidd
[ "${RABBITMQ:-1}" = 0 ] || scripts/bench/rabbitmq.sh scripts/bench/run.sh rabbitmq
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The table, then qpidd's ratios (us/them) to each RabbitMQ protocol:
# throughput (goal: at least 5x AMQP 1.0, 1.5x 0-9-1) and p99 (goal: at most
# 1x AMQP 1.0).
awk -F'\t' '
	{ key = $1 "/" $2 "/" $3; rate[key] = $5; p99[key] = $7; row[++n] = $0 }
	END {
		printf "\n%-9s %-8s %5s %10s %10s %10s\n", "broker", "protocol", "s/r", "msgs/s", "p50 ms", "p99 ms"
		for (i = 1; i <= n; i++) {
			split(row[i], f, "\t")
			printf "%-9s %-8s %5s %10.0f %10.2f %10.2f\n", f[1], f[2], f[3] "/" f[4], f[5], f[6], f[7]
		}
		printf "\n%-5s %-28s %14s %10s\n", "s/r", "qpidd vs", "msgs/s us/them", "p99 us/them"
		for (s = 1; s <= 4; s += 3) {
			us = "qpidd/amqp1/" s
			if (!(us in rate)) continue
			split("amqp1 amqp091", protos, " ")
			for (j = 1; j <= 2; j++) {
				them = "rabbitmq/" protos[j] "/" s
				if (!(them in rate) || rate[them] == 0 || p99[them] == 0) continue
				name = protos[j] == "amqp1" ? "RabbitMQ AMQP 1.0" : "RabbitMQ 0-9-1 + confirms"
				printf "%-5s %-28s %13.2fx %9.2fx\n", s "/" s, name, rate[us] / rate[them], p99[us] / p99[them]
			}
		}
	}' "$RESULTS"
