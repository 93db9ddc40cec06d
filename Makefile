# tokenhook: `make test` is the one command that runs every check; .ci/run runs
# exactly that. It installs what the tests need when it is missing, so it also
# works on a fresh Debian machine (as root), and does no install work otherwise.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO ?= go
# Debian packages the tests need; each is installed with apt-get when dpkg does
# not list it (only as root; elsewhere a warning, and the tests that need it skip
# unless CI=true). chromium: browser tests; redis-server: shared-state tests
# (started by internal/testenv on a free port); python3, python3-venv: the
# virtual environment (make venv); python3-flask, python3-jwt: examples/flask.
# DEBS_LEAN are installed without recommended packages (r-cran-shiny: 59
# packages instead of 651; r-cran-curl: examples/credentials runs the R helper).
DEBS ?= chromium python3 python3-venv python3-flask python3-jwt redis-server
DEBS_LEAN ?= r-cran-shiny r-cran-curl
# Every folder with a committed npm lock file gets `npm ci` (node_modules is
# never committed): the Dash renderer fixture, the injector, examples.
NPM_DIRS := $(patsubst ./%/package-lock.json,%,$(shell find . -path '*/node_modules' -prune -o -name package-lock.json -print))
NPM_STAMPS := $(addsuffix /node_modules/.package-lock.json,$(NPM_DIRS))
# Short fuzz runs, as package:FuzzName pairs, each for FUZZTIME.
FUZZ ?= server/ratelimit:FuzzClient server/verify:FuzzParseAuthorization server/verify:FuzzVerify server/verify:FuzzClaimsFromMap server:FuzzExchangeRequest server:FuzzParseClaim
FUZZTIME ?= 15s
GO_TEST_TIMEOUT ?= 20m
# The Python package and the Python examples' frameworks live in a git-ignored
# virtual environment, made with PYTHON (3.10 or later) and remade whenever the
# pinned requirements or the package's metadata change (the stamp's name is
# their hash). The Go tests of the examples run that interpreter.
PYTHON ?= python3
VENV := .venv
PY_REQS := examples/python/requirements.txt examples/python/pyproject.toml
VENV_STAMP := $(VENV)/.installed-$(shell cat $(PY_REQS) | sha256sum | cut -c1-16)
export TOKENHOOK_PYTHON := $(CURDIR)/$(VENV)/bin/python

.PHONY: test build deps npm venv pytest vet fmt js gotest fuzz bench

## test: everything CI checks: installs, vet, gofmt, the injector's type check
## and tests, the Python package's tests, all Go tests (real Dex, real Chromium,
## real Dash renderer, the real Python frameworks), fuzzing.
test: deps npm venv vet fmt js pytest gotest fuzz

## build: the product binary as a release is built, into bin/tokenhook (no
## identity provider linked; cmd/tokenhook's TestBinaryIsLean checks that and its
## size budget). The demo is `go run ./cmd/tokenhook-demo`.
build:
	$(GO) build -trimpath -ldflags='-s -w' -o bin/tokenhook ./cmd/tokenhook

## deps: install the Debian packages in DEBS and DEBS_LEAN (and Node.js) when missing.
deps:
	@missing=""; lean=""; \
	for p in $(DEBS); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	for p in $(DEBS_LEAN); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || lean="$$lean $$p"; \
	done; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -z "$$missing$$lean" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing:$$missing$$lean"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q; \
		if [ -n "$$missing" ]; then apt-get install -y -q $$missing; fi; \
		if [ -n "$$lean" ]; then apt-get install -y -q --no-install-recommends $$lean; fi; \
	else \
		echo "warning: missing Debian packages:$$missing$$lean (tests that need them will skip)" >&2; \
	fi

## npm: `npm ci` in every folder with a package-lock.json, when the lock changed.
npm: $(NPM_STAMPS)

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	cd $* && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

## venv: the virtual environment with the pinned Python requirements and the
## package (editable), made once and again only when the requirements change.
venv: $(VENV_STAMP)

$(VENV_STAMP): $(PY_REQS)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r examples/python/requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e examples/python
	touch $@

## pytest: the Python package's test suite.
pytest: venv
	$(VENV)/bin/python -m pytest -q examples/python

vet:
	$(GO) vet ./...

## fmt: fail when a Go file is not gofmt-formatted.
fmt:
	@out=$$(find . -path '*/node_modules' -prune -o -name '*.go' -print | xargs gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## js: the injector's TypeScript type check, the check that the checked-in
## injector/tokenhook.d.ts is what tsc generates from src/tokenhook.ts (fix:
## `npm run dts` in injector/), and the unit tests (node's runner).
js:
	@if [ -f injector/package.json ]; then \
		cd injector && npm run --silent typecheck && npm run --silent dts:check && npm test; \
	fi

gotest:
	$(GO) test -timeout $(GO_TEST_TIMEOUT) ./...

fuzz:
	@for f in $(FUZZ); do \
		pkg=$${f%%:*}; name=$${f##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) "./$$pkg"; \
	done

## bench: all Go benchmarks with allocations.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
