# rowsnap: every command installs what it needs first (scripts/install.sh skips what is there).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export TRUNK_OFFLINE := true
export CHROMEDRIVER ?= /usr/bin/chromedriver
# Seconds for one wasm test binary in headless Chromium.
export WASM_BINDGEN_TEST_TIMEOUT ?= 600
WASM := --target wasm32-unknown-unknown

.PHONY: serve build test lint test-native test-wasm test-e2e bench deps test-deps guest clean

## make serve: install what is missing, build, serve the console on http://127.0.0.1:8080
serve: deps guest
	trunk serve

deps:
	scripts/install.sh build

test-deps:
	scripts/install.sh test

## make guest: the guest (Linux in the page) in target/guest/www, from npm's v86 and Debian packages,
## when missing or changed; also its Debian sources unless GUEST_SOURCES=0 (make test sets that)
guest: deps
	scripts/guest/build.sh

## make build: the release bundle in dist/ (what the end-to-end tests and benchmarks load)
build: deps guest
	scripts/build.sh

## make test: every test: native, wasm in headless Chromium (page and worker), end-to-end
test: export GUEST_SOURCES = 0
test: test-deps guest
	$(MAKE) lint
	$(MAKE) test-native
	$(MAKE) test-wasm
	$(MAKE) build
	$(MAKE) test-e2e

## make lint: formatting (rustfmt.toml) and clippy warnings, native and wasm32, fail the tests
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p rowsnap-seal -- -D warnings
	cargo clippy $(WASM) --lib --bins --test browser --test browser_worker -- -D warnings
	cargo clippy $(WASM) --lib --bins --features split -- -D warnings

test-native:
	cargo test

test-wasm:
	cargo test $(WASM) --test browser --test browser_worker

test-e2e:
	cd tests/e2e && node --test --test-concurrency=1 .

## make bench: figures printed and written to target/bench/engine.json
bench: test-deps
	scripts/bench.sh

clean:
	cargo clean
	rm -rf dist target/e2e target/bench
