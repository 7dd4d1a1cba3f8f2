# snippetd — see README.md. Every target works on a fresh clone with Go 1.26.
GO        ?= go
BIN       := bin/snippetd
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/snippetd/snippetd/internal/version.version=$(VERSION)
TEST_FLAGS ?= -count=1 -timeout 9m

.PHONY: run build install test test-short generate bench lint fuzz mutate clean

## run: build and start `snippetd serve` with its embedded defaults
run: build
	./$(BIN) serve

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/snippetd

## install: put snippetd in $(go env GOBIN) or $(go env GOPATH)/bin, so `snippetd render ...` runs from any directory
install:
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/snippetd
	@echo "installed $$(p=$$($(GO) env GOBIN); [ -n "$$p" ] || p=$$($(GO) env GOPATH)/bin; echo $$p)/snippetd; put that directory on PATH if 'snippetd --version' is not found"

## test: every test, including the end-to-end browser tests
test:
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...

## generate: regenerate templ components and other generated files
generate:
	$(GO) tool templ generate
	$(GO) generate ./...

## bench: every benchmark, with allocations
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

## fuzz: every fuzz target, FUZZTIME each (a duration, or Nx executions)
FUZZTIME ?= 60s
fuzz:
	$(GO) test ./snippets -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/render -run '^$$' -fuzz '^FuzzRenderRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/render -run '^$$' -fuzz '^FuzzRenderBatch$$' -fuzztime $(FUZZTIME)
	$(GO) test ./proxy -run '^$$' -fuzz '^FuzzDecodeBatch$$' -fuzztime $(FUZZTIME)
	$(GO) test ./proxy -run '^$$' -fuzz '^FuzzDecodeIdentify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./proxy -run '^$$' -fuzz '^FuzzScanAgrees$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/klaviyo -run '^$$' -fuzz '^FuzzEncodeIsTheReference$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/klaviyo -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/catalog -run '^$$' -fuzz '^FuzzEncodersRoundTrip$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/jsonw -run '^$$' -fuzz '^FuzzAppendString$$' -fuzztime $(FUZZTIME)

## mutate: the mutation check (docs/testing.md): each line of scripts/mutate/mutations.txt broken in turn, its package's tests run; MATCH narrows it
MATCH ?=
mutate:
	$(GO) run ./scripts/mutate -match '$(MATCH)'

## lint: formatting, vet, no merge-conflict markers, and generated files that are fresh
lint:
	@! git grep -nE '^(<<<<<<<|>>>>>>>) ' -- . ':!*.golden' || { echo 'merge-conflict markers above'; exit 1; }
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	$(GO) tool templ generate
	git diff --exit-code -- '*_templ.go' || { echo 'templ: generated files were stale; run make generate and commit'; exit 1; }

clean:
	rm -rf bin data
