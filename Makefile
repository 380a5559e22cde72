# Wallet service. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME ?= 10s

export DATABASE_URL ?= postgres://postgres@localhost:5432/wallet?sslmode=disable
export REDIS_URL ?= redis://localhost:6379/0

.PHONY: help build run migrate test test-short lint fmt clean

help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/api and bin/worker
	$(GO) build -o $(BIN)/api ./api
	$(GO) build -o $(BIN)/worker ./worker

run: build ## start the API and one worker on local Postgres and Redis; Ctrl-C stops both
	@echo "API on $${HTTP_ADDR:-:8080}, dashboard at /admin/queues; Ctrl-C stops"
	@trap 'kill -TERM $$w $$a 2>/dev/null; wait' INT TERM; \
	 ./$(BIN)/worker & w=$$!; ./$(BIN)/api & a=$$!; \
	 wait -n; kill -TERM $$w $$a 2>/dev/null; wait

migrate: ## apply pending migrations to DATABASE_URL and exit
	$(GO) run ./worker migrate

test: ## run every test against the local Postgres and Redis, then each fuzz target briefly
	$(GO) test -race -count=1 -timeout 15m ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParseJSONAmount$$' -fuzztime $(FUZZTIME) ./internal/wallet
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeOperation$$' -fuzztime $(FUZZTIME) ./internal/httpapi
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSignup$$' -fuzztime $(FUZZTIME) ./internal/httpapi

test-short: ## unit tests only (no Postgres or Redis needed)
	$(GO) test -short -count=1 ./internal/wallet/...

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

clean: ## remove built binaries
	rm -rf $(BIN)
