# instant — a photo-sharing social network as Go microservices.
#
#   make run    start the whole product on this machine (embedded stand-ins)
#   make test   run every module's tests
#
# Everything else is for contributors and operators; `make help` lists it.

SHELL := /bin/bash
GO    ?= go
BIN   ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

# Every Go module of the workspace, in go.work order.
MODULES  := $(shell $(GO) list -m -f '{{.Dir}}' 2>/dev/null)
SERVICES := $(notdir $(wildcard services/*))
LDFLAGS  := -s -w -X main.version=$(VERSION)
TESTFLAGS ?= -count=1 -timeout=8m

include mk/cluster.mk

.PHONY: help run build test test-race bench bench-go lint fmt vet tidy clean

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -F':.*?## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: build ## start every service and the embedded stand-ins; Ctrl-C stops all
	$(BIN)/devstack -bin $(BIN) -data .run $(ARGS)

build: ## build every service binary and the launcher into bin/
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./services/,$(SERVICES)) ./tools/devstack

test: ## run every module's tests (CI=true turns missing servers into failures)
	@set -e; for m in $(MODULES); do \
		echo "== $${m#$(CURDIR)/}"; \
		(cd $$m && $(GO) test $(TESTFLAGS) ./...); \
	done

test-race: ## the tests with the race detector
	@$(MAKE) --no-print-directory test TESTFLAGS="-count=1 -race"

# BASE_URL (and INBOX_URL) point it at a running stack instead; BENCH_ARGS adds loadgen
# flags, e.g. BENCH_ARGS="-workload read-home-timeline -concurrency 64".
bench: $(if $(BASE_URL),,build) ## load-test: the standard profile (mixed, 200 req/s, 30 s) on a fresh local stack, or on BASE_URL
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./tools/loadgen
	tools/loadgen/bench.sh $(BIN) $(BENCH_ARGS)

bench-go: ## Go benchmarks of every module, comparable with benchstat
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) test -run '^$$' -bench . -benchmem ./...); done

lint: fmt vet ## gofmt and go vet over every module

fmt:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

tidy: ## go mod tidy in every module
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) mod tidy); done

clean: ## remove build output and the local stack's data
	rm -rf $(BIN) .run
