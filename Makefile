# Wallet service. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Fuzz budgets are execution counts, not durations: with a duration, Go
# 1.26's fuzzing coordinator can fail a target with a bare "context
# deadline exceeded" as the time runs out on a busy machine
# (golang/go#75804, fixed in Go 1.27). The amount parser is cheap, so it
# gets ten times as many.
FUZZTIME ?= 40000x
FUZZTIME_AMOUNT ?= 400000x

export DATABASE_URL ?= postgres://postgres@localhost:5432/wallet?sslmode=disable
export REDIS_URL ?= redis://localhost:6379/0

.PHONY: help build deps run migrate test test-short lint fmt clean

help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/api and bin/worker
	$(GO) build -o $(BIN)/api ./api
	$(GO) build -o $(BIN)/worker ./worker

deps: ## start a private Postgres and Redis under .run/ where nothing answers at DATABASE_URL / REDIS_URL
	@$(GO) run ./internal/devenv

run: build deps ## start the API and one worker on local Postgres and Redis (started under .run/ if missing); Ctrl-C stops both
	@echo "API on $${HTTP_ADDR:-:8080}, dashboard at /admin/queues; Ctrl-C stops"
	@trap 'kill -TERM $$w $$a 2>/dev/null; wait' INT TERM; \
	 ./$(BIN)/worker & w=$$!; ./$(BIN)/api & a=$$!; \
	 wait -n; kill -TERM $$w $$a 2>/dev/null; wait

migrate: ## apply pending migrations to DATABASE_URL and exit
	$(GO) run ./worker migrate

test: ## run every test against the local Postgres and Redis, then each fuzz target briefly
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParseJSONAmount$$' -fuzztime $(FUZZTIME_AMOUNT) ./internal/wallet
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeOperation$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSignup$$' -fuzztime $(FUZZTIME) ./internal/httpapi

test-short: ## unit tests only (no Postgres or Redis needed)
	$(GO) test -short -count=1 ./internal/wallet/...

# The fault suite (internal/e2e/chaos_test.go) for as long as you like;
# make test runs a short one with a fixed seed. Replay a failure with the
# SEED and DURATION it printed.
DURATION ?= 10m
SEED ?=
.PHONY: chaos
chaos: ## run the fault suite for DURATION (default 10m) with SEED (default: random, printed)
	@seed='$(SEED)'; [ -n "$$seed" ] || seed=$$(( $$(od -An -N4 -tu4 /dev/urandom) % 1000000000 + 1 )); \
	 echo "make chaos SEED=$$seed DURATION=$(DURATION)"; \
	 $(GO) test ./internal/e2e -run '^TestChaos$$' -count=1 -timeout 0 -v -args -chaos.duration=$(DURATION) -chaos.seed=$$seed

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

clean: ## remove built binaries
	rm -rf $(BIN)

# Load benchmarks (bench/, built to bin/bench). SCENARIO, DURATION, WORKERS,
# CLIENTS and RATE pass through as flags when given on the command line or
# in the environment (DURATION's default above is make chaos's), and
# BENCH_ARGS adds any other flags, e.g. BENCH_ARGS="-wallets 2000 -keep".
bench_flag = $(if $(filter-out undefined default file automatic,$(origin $(1))),$(2) $($(1)))
BENCH_FLAGS = $(call bench_flag,SCENARIO,-scenario) $(call bench_flag,DURATION,-duration) \
	$(call bench_flag,WORKERS,-workers) $(call bench_flag,CLIENTS,-clients) $(call bench_flag,RATE,-rate) $(BENCH_ARGS)
.PHONY: bench bench-baseline
bench: build ## load benchmark on a fresh service: uniform, then hot, 30 s each (SCENARIO, DURATION, WORKERS, CLIENTS, RATE)
	$(GO) build -o $(BIN)/bench ./bench
	./$(BIN)/bench -start -build=false -scenario uniform,hot $(BENCH_FLAGS)

bench-baseline: build ## pgbench on the same Postgres, then the uniform benchmark as a ratio of it
	$(GO) build -o $(BIN)/bench ./bench
	./$(BIN)/bench -start -build=false -baseline -scenario uniform -out bench-baseline.json -svg bench-baseline.svg $(BENCH_FLAGS)
