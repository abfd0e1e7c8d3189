# qpidha: build, run, test. `make help` lists the targets.
GO      ?= go
BIN     := $(CURDIR)/bin
export PATH := $(PATH):/usr/local/go/bin
# The oldest toolchain we support: EL6 (kernel 2.6.32) needs binaries from Go <= 1.23.
GO123   := go1.23.12
# Fuzz targets: package and function.
FUZZ_TARGETS := ./internal/amqp/types:FuzzDecodeValue ./internal/amqp/frame:FuzzParseFrame ./internal/amqp:FuzzServerEngine ./internal/amqp/message:FuzzParse ./internal/mgmt:FuzzHandle
FUZZTIME ?= 10m

.PHONY: help setup build run test vet unit interop fuzz-smoke fuzz go123 bench clean

help:
	@echo "make run        build and run a broker on localhost:5672 (auth off, queues created on demand)"
	@echo "make test       install test dependencies, then vet, unit, interop, fuzz smoke, Go $(GO123) build"
	@echo "make build      build the commands into bin/"
	@echo "make fuzz       run every fuzz target for FUZZTIME (default 10m) each"
	@echo "make bench      qpidd against RabbitMQ 3.10 (AMQP 1.0, 0-9-1 + confirms): msgs/s, p50/p99 (N=messages)"
	@echo "make go123      prove the build with Go $(GO123) (RHEL 6 kernels)"

setup:
	@scripts/setup.sh build

build: setup
	$(GO) build -o $(BIN)/ ./qpidd ./qpid-config ./qpid-ha ./tests/bench

run: build
	mkdir -p .run/qpidd
	$(BIN)/qpidd --config "" --data-dir .run/qpidd --auth no --queue-patterns '.*'

test: build
	@scripts/setup.sh test
	$(MAKE) vet unit interop fuzz-smoke go123

vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./internal/...

interop: build
	QPIDHA_BIN=$(BIN) $(GO) test -count=1 -timeout 20m ./tests/...

# A short run of every fuzz target (the seed corpora already run as unit tests).
fuzz-smoke:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) 20s"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=20s $$pkg || exit 1; \
	done

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

go123:
	GOTOOLCHAIN=$(GO123) $(GO) build ./...
	GOTOOLCHAIN=$(GO123) $(GO) vet ./...
	@echo "builds and vets with $(GO123)"

bench: build
	BIN=$(BIN) scripts/bench.sh

clean:
	rm -rf $(BIN) .run
