# qpidha: build, run, test. `make help` lists the targets.
GO      ?= go
BIN     := $(CURDIR)/bin
export PATH := $(PATH):/usr/local/go/bin
# The oldest toolchain we support: EL6 (kernel 2.6.32) needs binaries from Go <= 1.23.
GO123   := go1.23.12
# Fuzz targets: package and function.
FUZZ_TARGETS := ./internal/amqp/types:FuzzDecodeValue ./internal/amqp/frame:FuzzParseFrame ./internal/amqp:FuzzServerEngine ./internal/amqp/message:FuzzParse ./internal/mgmt:FuzzHandle ./internal/store:FuzzRecover ./internal/amqp/sasl:FuzzPlainServer ./internal/amqp/sasl:FuzzExternalServer ./internal/auth:FuzzSCRAMServer ./internal/acl:FuzzParse
FUZZTIME ?= 10m

.PHONY: help setup build run broker test vet unit interop e2e-race fuzz-smoke fuzz go123 bench install clean ha-sim packages deb rpm package-test

help:
	@echo "make run        build and run a local 3-broker HA cluster on 127.0.0.1:5672-5674"
	@echo "make broker     build and run one broker on localhost:5672 (auth off, queues on demand)"
	@echo "make test       install test dependencies, then vet, unit, interop, the HA tests with -race binaries, fuzz smoke, Go $(GO123) build"
	@echo "make build      build the commands into bin/"
	@echo "make fuzz       run every fuzz target for FUZZTIME (default 10m) each"
	@echo "make ha-sim     the HA core's seeded fault simulation on SEEDS seeds (default 10000; make unit runs 200)"
	@echo "make bench      qpidd, standalone and 3-broker HA, against RabbitMQ 3.10, 1 node and 3-node quorum queues: msgs/s, p50/p99 (N=messages);"
	@echo "                then durable: qpidd's store against RabbitMQ's durable classic and quorum queues, 1/16/64 senders,"
	@echo "                messages per fdatasync and the machine's own fdatasync rate (DURABLE=0 skips; HA=0 RABBITMQ=0 QUORUM=0 ...)"
	@echo "make go123      prove the build with Go $(GO123) (RHEL 6 kernels)"
	@echo "make install    install binaries, OCF agent, init scripts, defaults (PREFIX, DESTDIR)"
	@echo "make packages   the .deb and the EL6 and EL7-9 RPMs in dist/ (offline from the module cache)"
	@echo "make lab-test   a real 3-node Pacemaker/Corosync lab in namespaces: failover scenarios and times (root)"
	@echo "make lab-test-tls  the lab SSL-only with authentication (lab-tls.toml): sigkill and partition over amqps (root)"
	@echo "make lab-soak   the lab under random faults for DURATION (default 10m), then the total-queue check (root)"
	@echo "make lab-clients  the lab's client-visible outages: stock proton, rhea and go failover clients, more trials (root)"

setup:
	@scripts/setup.sh build

# Static binaries (no cgo: the pure-Go resolver and user lookup), so that
# they run on the glibc of any distribution, EL6's 2.12 included
# (tests/static checks them).
build: setup
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./qpidd ./qpidd-primary ./qpid-config ./qpid-ha ./qpidd-users ./qpid-cluster-conf ./tests/bench ./tests/checker
	$(GO) run ./packaging/man -o $(BIN)/man -bin $(BIN)   # the manual pages, from the programs' own options

# run: a local 3-broker HA cluster on 127.0.0.1:5672-5674 (Ctrl-C stops it).
run: build
	BIN=$(BIN) scripts/local-cluster.sh

# broker: one standalone broker on localhost:5672, authentication off.
broker: build
	mkdir -p .run/qpidd
	$(BIN)/qpidd --config "" --data-dir .run/qpidd --auth no --queue-patterns '.*'

test: build
	@scripts/setup.sh test
	$(MAKE) vet unit interop e2e-race fuzz-smoke go123

vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./internal/... ./failover/...

interop: build
	QPIDHA_BIN=$(BIN) $(GO) test -count=1 -timeout 20m ./tests/...

# e2e-race: the HA scenarios and failover tests again, with every binary
# built with the race detector; a broker that logs a data race (or an
# illegal HA state transition) fails the test that ran it.
BIN_RACE := $(CURDIR)/bin-race
e2e-race:
	$(GO) build -race -o $(BIN_RACE)/ ./qpidd ./qpidd-primary ./qpid-config ./qpid-ha ./qpidd-users ./qpid-cluster-conf ./tests/checker
	QPIDHA_BIN=$(BIN_RACE) $(GO) test -count=1 -timeout 30m ./tests/ha/ ./tests/failover/

# A short run of every fuzz target (the seed corpora already run as unit
# tests): a count, not a duration, so it cannot hit golang/go#75804.
FUZZCOUNT ?= 300000x
fuzz-smoke:
	GO=$(GO) scripts/fuzz.sh $(FUZZCOUNT) $(FUZZ_TARGETS)

fuzz:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

# ha-sim: the seeded simulation of three HA cores under faults
# (internal/ha/core/sim_test.go) on more seeds than make unit's 200; a
# failing seed replays with HA_SIM_SEED=n.
SEEDS ?= 10000
ha-sim:
	HA_SIM_SEEDS=$(SEEDS) $(GO) test -count=1 -timeout 0 -run TestSimulation -v ./internal/ha/core/

go123:
	GOTOOLCHAIN=$(GO123) $(GO) build ./...
	GOTOOLCHAIN=$(GO123) $(GO) vet ./...
	@echo "builds and vets with $(GO123)"

bench: build
	BIN=$(BIN) scripts/bench.sh

# install lays out what the packages install: binaries, the OCF agent, the
# rgmanager init scripts, defaults and a configuration file that is never
# overwritten, mode 0640 (it may hold ha-password); as root with no DESTDIR
# it also creates the qpidd user and /var/lib/qpidd, and gives qpidd.conf
# to group qpidd (root:qpidd 0640, as the packages do) unless its owner or
# group was changed from root.
PREFIX  ?= /usr
DESTDIR ?=
OCFDIR  ?= /usr/lib/ocf/resource.d/qpid
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(OCFDIR) \
		$(DESTDIR)/etc/init.d $(DESTDIR)/etc/default $(DESTDIR)/etc/qpid/primary.d \
		$(DESTDIR)/lib/systemd/system
	install -m 0755 $(BIN)/qpidd $(DESTDIR)$(PREFIX)/sbin/qpidd
	for b in qpid-ha qpid-config; do install -m 0755 $(BIN)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	for b in qpidd-primary qpidd-users qpid-cluster-conf; do \
		[ ! -x $(BIN)/$$b ] || install -m 0755 $(BIN)/$$b $(DESTDIR)$(PREFIX)/bin/$$b; done
	install -m 0755 agents/ocf/qpidd $(DESTDIR)$(OCFDIR)/qpidd
	[ ! -f agents/init.d/qpidd ] || install -m 0755 agents/init.d/qpidd $(DESTDIR)/etc/init.d/qpidd
	rm -f $(DESTDIR)/etc/init.d/qpidd-primary   # once a symlink: install would write through it
	install -m 0755 packaging/init.d/qpidd-primary $(DESTDIR)/etc/init.d/qpidd-primary
	[ ! -f packaging/sysconfig/qpidd ] || [ -f $(DESTDIR)/etc/default/qpidd ] || \
		install -m 0644 packaging/sysconfig/qpidd $(DESTDIR)/etc/default/qpidd
	[ -f $(DESTDIR)/etc/qpid/qpidd.conf ] || install -m 0640 packaging/qpidd.conf $(DESTDIR)/etc/qpid/qpidd.conf
	install -m 0644 packaging/systemd/qpidd.service $(DESTDIR)/lib/systemd/system/qpidd.service
	install -m 0644 packaging/systemd/qpidd-primary.service $(DESTDIR)/lib/systemd/system/qpidd-primary.service
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 packaging/bash-completion/qpidha $(DESTDIR)$(PREFIX)/share/bash-completion/completions/qpidha
	for p in qpidd qpid-ha qpid-config qpidd-primary qpidd-users qpid-cluster-conf; do \
		ln -sf qpidha $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$p; done
	for p in $(BIN)/man/*.[158]; do s=$${p##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 0644 $$p $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ]; then \
		id qpidd >/dev/null 2>&1 || useradd --system --home-dir /var/lib/qpidd --shell /usr/sbin/nologin qpidd; \
		install -d -o qpidd -g qpidd -m 0750 /var/lib/qpidd; \
		if [ "$$(stat -c %U:%G /etc/qpid/qpidd.conf)" = root:root ]; then \
			chgrp qpidd /etc/qpid/qpidd.conf && chmod 0640 /etc/qpid/qpidd.conf; fi; \
	fi

# packages: the .deb (debian/, dpkg-buildpackage) in dist/. Built offline
# from the module cache (go mod download fills it first); GO, GOMODCACHE and
# GOCACHE are passed explicitly: debhelper resets HOME, and Debian's own
# golang-go (1.19) is too old.
packages: deb rpm

# rpm: rpm/qpidha.spec built twice, for EL6 (SysV scripts, rgmanager) and
# for EL7-9 (systemd units), into dist/ (--nodeps: Debian's rpm database is
# empty).
rpm:
	@scripts/setup.sh test
	$(GO) mod download
	for el in 6 7; do \
		rpmbuild -bb --nodeps --define "_topdir $(CURDIR)/build/rpm" --define "_sourcedir $(CURDIR)" \
			--define "rhel $$el" --define "dist .el$$el" --define "go_cmd $(PKG_GO)" \
			--define "gomodcache $$($(GO) env GOMODCACHE)" --define "gocache $$($(GO) env GOCACHE)" \
			rpm/qpidha.spec || exit 1; \
	done
	mkdir -p dist
	mv build/rpm/RPMS/x86_64/qpidha-*.rpm dist/

# The packages' programs are built with Go $(GO123), the last that runs on
# EL6's kernel (2.6.32; Go 1.24 needs 3.2): PKG_GO is its go command, which
# GOTOOLCHAIN fetches into the module cache once.
PKG_GO = $$(GOTOOLCHAIN=$(GO123) $(GO) env GOROOT)/bin/go

deb:
	@scripts/setup.sh test
	$(GO) mod download
	GO=$(PKG_GO) GOMODCACHE=$$($(GO) env GOMODCACHE) GOCACHE=$$($(GO) env GOCACHE) \
		dpkg-buildpackage -us -uc -b
	mkdir -p dist
	mv ../qpidha_*.deb ../qpidha_*_amd64.buildinfo ../qpidha_*_amd64.changes dist/

# package-test: the .deb installed on this host (root), checked, upgraded
# over itself and purged (tests/packaging/deb_test.go).
package-test: packages
	QPIDHA_DEB=$$(ls $(CURDIR)/dist/qpidha_*_amd64.deb | tail -n 1) QPIDHA_RPM_DIR=$(CURDIR)/dist \
		$(GO) test -count=1 -tags packagetest -run 'TestDeb|TestRPMs' -v ./tests/packaging/

clean:
	rm -rf $(BIN) $(BIN_RACE) .run dist build

# The namespace lab (tests/lab/README.md): a real 3-node Pacemaker/Corosync
# cluster in namespaces on this machine (root), fencing on, the qpidd clone
# and its VIP configured by the generated pcs script. lab-test brings it up
# once, runs the failover scenarios (LAB_TRIALS trials each), prints the
# failover-time table and tears it down, also on failure; lab-soak runs
# random faults for DURATION with go-amqp and proton clients, then the
# total-queue check (SEED replays its faults); lab-up and lab-down leave it
# running or take it away.
LAB             := tests/lab/lab.sh
LAB_TRIALS      ?= initial=1,fence=1,sigkill=10,sigstop=3,crash=10,partition=10,move=3,backup-restart=2,restart-all=1
DURATION        ?= 10m
SEED            ?= 0
.PHONY: lab-tools lab-up lab-down lab-test lab-test-tls lab-soak lab-clients
# The lab runs the built .deb, installed on this host (which every lab node
# shares); local settings a make install left are kept (--force-confold).
lab-tools: deb
	dpkg --force-confdef --force-confold -i $$(ls $(CURDIR)/dist/qpidha_*_amd64.deb | tail -n 1)
	$(LAB) deps
	$(GO) build -o $(BIN)/ ./tests/lab/qpidlab-hostd ./tests/lab/qpidlab-run
	g++ -O2 -Wall -o $(BIN)/stock-send-cpp tests/lab/clients/stock-send.cpp -lqpid-proton-cpp

lab-up: lab-tools
	$(LAB) down
	$(LAB) up
	$(LAB) status

lab-down:
	$(LAB) down

lab-test: lab-tools
	$(LAB) test -trials '$(LAB_TRIALS)'

# The TLS lab: lab-tls.toml's SSL-only, authenticating cluster (certificates
# made by lab.sh), clients and tools over amqps; a subset of the scenarios.
LAB_TLS_TRIALS  ?= initial=1,sigkill=5,partition=5
lab-test-tls: lab-tools
	QPIDLAB_TLS=1 $(LAB) test -trials '$(LAB_TLS_TRIALS)'

# The stock clients (proton, rhea, the go failover package; default and
# recommended settings) also run in lab-test's sigkill, crash and partition
# scenarios; lab-clients gives them more trials of those faults alone.
LAB_CLIENTS_TRIALS ?= initial=1,sigkill=20,crash=5,partition=10
lab-clients: lab-tools
	$(LAB) test -trials '$(LAB_CLIENTS_TRIALS)' -stock-clients all

lab-soak: lab-tools
	$(LAB) test -trials initial=1 -soak $(DURATION) -seed $(SEED)
