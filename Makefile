# Two commands do all the set-up on a fresh machine: `make start` and `make test`.
# Everything is installed into gitignored project-local folders (.tools/, node_modules/).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(CURDIR)
TOOLS := $(ROOT)/.tools
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/{getline; gsub(/"/,"",$$3); print $$3}' Cargo.lock)
WASM_BINDGEN := $(TOOLS)/cargo/bin/wasm-bindgen
# Reinstalled only when Cargo.lock moves wasm-bindgen to another version.
WASM_BINDGEN_STAMP := $(TOOLS)/.wasm-bindgen-$(WASM_BINDGEN_VERSION)
POSTRUST := $(TOOLS)/cargo/bin/postrust
DENO := $(ROOT)/node_modules/.bin/deno
export DENO_DIR := $(TOOLS)/deno
export DENO_NO_UPDATE_CHECK := 1

.PHONY: help tools build start dev dev-check stop reset status logs test check selftest lint unit deno-test package e2e bench soak fuzz clean chromium smoke deploy jwt new-function

help:
	@echo "make start   install tools, build the wasm, run the local stack (prints URLs and keys)"
	@echo "make test    fmt, clippy (native + wasm32), unit tests, Deno tests, end-to-end tests"
	@echo "make check   the fast loop: fmt, clippy (native), cargo test (shared/ crates), deno fmt/lint"
	@echo "make lint | make unit | make deno-test | make package | make e2e | make selftest   one part of make test"
	@echo "make dev     make start, then rebuild and restart only the function(s) an edit affects (= make start WATCH=1)"
	@echo "make stop | make reset | make status | make bench | make soak | make fuzz | make build"
	@echo "make logs [PART=postgres|rest|gateway|functions|scheduler|<function>]   follow the logs"
	@echo "make new-function NAME=<name>   scaffold functions/<name> (crate, wrapper, config.toml table)"
	@echo "make jwt SUB=<user uuid> [ROLE=authenticated] [EXP=3600]   a user access token (ES256) for the local stack"
	@echo "make smoke URL=https://<ref>.supabase.co KEY=<secret key>   check a deployed project"
	@echo "make deploy [PROJECT_REF=<ref>]   build, bundle check, supabase functions deploy"

# --- tools (installed once, cached) ---------------------------------------------------------
tools: $(WASM_BINDGEN_STAMP) $(POSTRUST) node_modules/.installed .tools/.wasm32-target

.tools/.wasm32-target: rust-toolchain.toml
	@command -v cargo >/dev/null || { echo "error: cargo not found: install Rust (rustup) first"; exit 1; }
	rustup target add wasm32-unknown-unknown >/dev/null
	@mkdir -p .tools && touch $@

$(WASM_BINDGEN_STAMP):
	@echo "installing wasm-bindgen-cli $(WASM_BINDGEN_VERSION) (a few minutes, once)"
	cargo install --quiet wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --root $(TOOLS)/cargo --force
	@mkdir -p $(TOOLS) && touch $@

$(POSTRUST):
	@echo "installing postrust-server (PostgREST-compatible; ~6 minutes, once)"
	cargo install --quiet postrust-server --version 3.1.0 --root $(TOOLS)/cargo

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js first"; exit 1; }
	@# npm ci: exactly the lock, never rewritten (npm install may rewrite it). The lock holds
	@# deno's binary for every platform (scripts/check-locks.sh, in make lint, keeps it so: npm 11
	@# writes only the running platform's). A symlinked node_modules is a shared install: left alone.
	@if [ -L node_modules ]; then echo "node_modules is a symlink (a shared install): not reinstalled"; \
	else npm ci --no-audit --no-fund --loglevel=error; fi
	@touch $@

# Headless Chromium for the browser test (tests/browser): Debian's package, installed when
# missing (CI runs as root on Debian 12). CHROMIUM=/path/to/chrome uses another browser.
chromium:
	@scripts/install-chromium.sh

# --- build ------------------------------------------------------------------------------------
build: tools
	scripts/build-wasm.sh

# --- local stack --------------------------------------------------------------------------------
start: build
	scripts/stack.sh start
	@if [ "$(WATCH)" = 1 ]; then scripts/dev.sh; fi

# make start, then watch: an edit rebuilds (wasm-opt skipped) and restarts only the functions it
# affects, the others keep running (scripts/dev.ts). Ctrl-C stops watching, not the stack.
dev: build
	scripts/dev.sh

# Proves make dev: a real edit of one function's Rust is served within 20 s and only that
# function's process changed (scripts/dev-check.sh; needs a running stack, ~1 minute).
dev-check: build
	scripts/dev-check.sh

stop:
	scripts/stack.sh stop

status:
	scripts/stack.sh status

# A user access token for the local stack (ES256, supabase/signing_keys.json): see scripts/jwt.ts.
jwt:
	@[ -x "$(DENO)" ] || $(MAKE) --no-print-directory node_modules/.installed
	@$(DENO) run --quiet --allow-read --allow-env scripts/jwt.ts --sub="$(SUB)" --role="$(ROLE)" --exp="$(EXP)"

# A new function that builds and passes `make test` as it is: see scripts/new-function.ts.
new-function:
	@[ -x "$(DENO)" ] || $(MAKE) --no-print-directory node_modules/.installed
	@$(DENO) run --quiet --allow-read --allow-write=functions,supabase scripts/new-function.ts "$(NAME)"

# Follow the logs: all, or one part (PART=postgres|rest|gateway|functions|scheduler|<function>).
logs:
	scripts/stack.sh logs $(PART)

reset: tools
	scripts/stack.sh reset

# --- tests --------------------------------------------------------------------------------------
# Every target runs scripts/test.sh, which judges each runner by its exit code and its parsed
# summary, under a timeout, against a minimum test count (see scripts/test-lib.sh).
test: build chromium
	scripts/test.sh

# The fast loop (no stack, no wasm build): the counter's self-test, cargo fmt --check, clippy
# (native), cargo test (shared/ crates), deno fmt --check, deno lint.
check:
	scripts/test.sh check

selftest:
	scripts/test.sh selftest

lint: tools
	scripts/test.sh lint

unit:
	scripts/test.sh unit

deno-test: build
	scripts/test.sh deno-test

package: build
	scripts/test.sh package

e2e: build chromium
	scripts/test.sh e2e

bench: build
	scripts/bench.sh

# Load plus faults (REST server, a function, the dispatcher, PostgreSQL killed in turn); at most
# 5 minutes. SOAK_SECONDS=120 SOAK_CLIENTS=20 by default.
soak: build
	scripts/soak.sh

# cargo-fuzz (pinned in scripts/fuzz.sh) is installed into .tools/cargo the first time.
# RUNS=<n> executions (1,000,000 by default).
fuzz:
	scripts/fuzz.sh

# --- deployed projects ---------------------------------------------------------------------------
# A short check of a deployed project (or the local stack): see scripts/smoke.ts for the options.
smoke:
	@[ -x "$(DENO)" ] || $(MAKE) --no-print-directory node_modules/.installed
	@$(DENO) run --allow-net --allow-env scripts/smoke.ts "$(URL)" "$(KEY)"

# Build, check every function's bundle, then `supabase functions deploy` each function of
# supabase/config.toml (with --project-ref $(PROJECT_REF) when set). Fails without the CLI.
deploy: build
	scripts/deploy.sh

clean:
	-scripts/stack.sh stop
	rm -rf .stack wasm-pkg/*/ target
