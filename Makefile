# xaso — build, test, generate, lint, bench.
# `make test` is the one command that runs every test; .ci/run calls it.

# The Go that xaso builds, tests and ships with; the go command fetches it
# as a module the first time. Every recipe gets it.
export GOTOOLCHAIN := go1.27.3

GO        ?= go
TOOLS     := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(PATH)

BUF_VERSION          := v1.47.2
PROTOC_GEN_GO        := v1.36.12
PROTOC_GEN_GO_GRPC   := v1.6.2
GRPC_GATEWAY         := v2.33.0
STATICCHECK          := v0.8.2
GOVULNCHECK          := v1.9.0
# The Go vulnerability database, read offline: the module's OSV files at
# this version, indexed by its own cmd/indexdb into .tools/vulndb.
VULNDB_VERSION       := v0.0.0-20261105234957-e22db6528018
VULNDB               := $(CURDIR)/.tools/vulndb/$(VULNDB_VERSION)

FUZZTIME ?= 5s

.PHONY: all build test unit vulncheck generate generate-check lint fuzz bench tools clean faults faults-deps ansible-test ansible-deps web-test web-deps

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/xaso ./cmd/xaso

## test: everything CI checks — no known vulnerability reachable from the
## code, generated code fresh, lint, unit and integration tests with
## -race, a short fuzz of every decoder and validator, the province in
## containers under a short fault schedule, and the Ansible deployment
## against systemd hosts in containers.
test: vulncheck generate-check lint unit fuzz web-test faults ansible-test

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

$(TOOLS)/buf:
	GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)
$(TOOLS)/protoc-gen-grpc-gateway:
	GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY)
$(TOOLS)/protoc-gen-openapiv2:
	GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY)
$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK)
$(TOOLS)/govulncheck:
	GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK)

## vulncheck: fail when a known vulnerability in the Go standard library
## or a dependency is reachable from xaso's code (govulncheck exits 3 on
## a finding), against the pinned database, without the network at check
## time. The database is built once per VULNDB_VERSION.
vulncheck: $(TOOLS)/govulncheck $(VULNDB)/index/db.json
	govulncheck -db file://$(VULNDB) ./...

$(VULNDB)/index/db.json:
	@set -e; \
	  dir=$$(GOWORK=off $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  test -d "$$dir/data/osv" || { echo "vulncheck: golang.org/x/vulndb@$(VULNDB_VERSION) has no data/osv"; exit 1; }; \
	  mkdir -p $(CURDIR)/.tools/vulndb; \
	  echo "vulncheck: indexing $$dir/data/osv into $(VULNDB)"; \
	  (cd "$$dir" && GOWORK=off $(GO) build -o $(CURDIR)/.tools/vulndb/indexdb ./cmd/indexdb); \
	  rm -rf $(VULNDB).tmp; \
	  $(CURDIR)/.tools/vulndb/indexdb -vulns "$$dir/data/osv" -out $(VULNDB).tmp; \
	  rm -rf $(VULNDB) && mv $(VULNDB).tmp $(VULNDB)

GEN_TOOLS := $(TOOLS)/buf $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/protoc-gen-grpc-gateway $(TOOLS)/protoc-gen-openapiv2
tools: $(GEN_TOOLS) $(TOOLS)/staticcheck $(TOOLS)/govulncheck

## generate: rebuild the committed Go, gateway and OpenAPI code from api/proto.
generate: $(GEN_TOOLS)
	cd api/proto && buf lint && buf generate

## generate-check: fail when the committed generated code is stale.
generate-check: $(GEN_TOOLS)
	@rm -rf .gen-check && mkdir -p .gen-check && cp -r api/proto .gen-check/
	@cd .gen-check/proto && find . -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' | xargs rm -f && buf lint && buf generate
	@diff -r api/proto .gen-check/proto || { echo "generated code is stale: run 'make generate' and commit"; rm -rf .gen-check; exit 1; }
	@rm -rf .gen-check
	@echo "generated code is fresh"

lint: $(TOOLS)/staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	staticcheck ./...

## fuzz: run every fuzz target briefly (FUZZTIME each).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > .fuzz.log 2>&1 || { cat .fuzz.log; rm -f .fuzz.log; exit 1; }; \
	  done; \
	done; rm -f .fuzz.log

## faults: the province in Docker containers under a seeded schedule of
## faults (XASO_FAULT_SEED=S replays one); SOAK=1 drives faults for 30
## minutes instead of 2. Its last line sums the run up. It needs Docker,
## and tc and nsenter on the host (installed when missing).
FAULT_SECONDS := $(if $(SOAK),1800,120)
faults: faults-deps
	@XASO_FAULTS=1 XASO_FAULTS_SECONDS=$(FAULT_SECONDS) $(GO) test -count=1 -v -run '^TestFaults$$' -timeout 60m ./faults/ > .faults.log 2>&1; rc=$$?; \
	  grep -v '^faults: ' .faults.log | tail -n 40; grep '^faults: ' .faults.log | tail -n 1; rm -f .faults.log; exit $$rc

faults-deps:
	@command -v docker >/dev/null || { echo "faults: Docker is needed"; exit 1; }
	@command -v tc >/dev/null && command -v nsenter >/dev/null && command -v ip >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 util-linux >/dev/null; }

## ansible-test: lint and syntax of ansible/, then site.yml against Debian
## hosts running systemd in containers (converge, idempotence, check mode,
## verify, backup, rolling upgrade). Installs ansible, ansible-lint and
## mmdebstrap with apt-get when missing.
ansible-test: ansible-deps
	@XASO_ANSIBLE=1 $(GO) test -count=1 -v -run '^TestDeploy$$' -timeout 30m ./ansible/deploytest/ > .ansible.log 2>&1; rc=$$?; \
	  tail -n 40 .ansible.log; rm -f .ansible.log; exit $$rc

ansible-deps:
	@command -v docker >/dev/null || { echo "ansible-test: Docker is needed"; exit 1; }
	@command -v ansible-playbook >/dev/null && command -v ansible-lint >/dev/null && command -v mmdebstrap >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible ansible-lint mmdebstrap >/dev/null; }

## web-test: the web pages in headless Chromium (Debian's chromium,
## installed with apt-get when missing): a dossier received, printed,
## moved to returned, looked up by the citizen and seen on the province
## dashboard; the seven forms of Circular 03/2025/TT-VPCP printed, one A4
## page each; every desk form measured to fit 1366x768 and no page wider
## than a 390 px phone (and the measure shown to fire). Screenshots of every page and the forms' PDFs go to
## web-test-out/.
web-test: web-deps
	XASO_WEB=1 $(GO) test -race -count=1 -v -run '^(TestWebPages|TestFormsPrintOnePage|TestLayoutCheckFires)$$' -timeout 10m ./webtest/

web-deps:
	@command -v chromium >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; }

## bench: the benchmarks whose figures BENCHMARKS.md keeps.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./...

clean:
	rm -rf bin .gen-check .tools
