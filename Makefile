# rowsnap: every command installs what it needs first (scripts/install.sh skips what is there).
SHELL := /bin/bash
export PATH := $(HOME)/.cargo/bin:$(PATH)
export TRUNK_OFFLINE := true
export CHROMEDRIVER ?= /usr/bin/chromedriver
# Seconds for one wasm test binary in headless Chromium.
export WASM_BINDGEN_TEST_TIMEOUT ?= 600
WASM := --target wasm32-unknown-unknown
# The port of `make serve` and `make dev` (loopback only).
ROWSNAP_PORT ?= 8080

.PHONY: serve dev build package guest guest-lock test test-full lint test-native test-wasm test-wasm-chromium test-wasm-firefox test-serve test-e2e test-e2e-firefox test-firefox bench deps test-deps clean

## make serve: install what is missing, build the release bundle when its sources changed,
## serve it on http://127.0.0.1:$(ROWSNAP_PORT) (the product as deployed: scripts/serve.mjs)
serve: deps guest
	@$(MAKE) --no-print-directory dist/build.json
	node scripts/serve.mjs --dir dist --port $(ROWSNAP_PORT)

## make dev: for developers: a debug build with live reload (trunk serve), in target/dev-dist
dev: deps guest
	trunk serve --dist target/dev-dist --port $(ROWSNAP_PORT)

deps:
	scripts/install.sh build

test-deps:
	scripts/install.sh test

## make guest: the guest (Linux in the page) in target/guest/www, from npm's v86 and the Debian
## packages of scripts/guest/packages.lock, when missing or changed (no source packages: make package)
guest: deps
	scripts/guest/build.sh

## make guest-lock: pin the guest to the newest Debian packages, once their sources were fetched
guest-lock: deps
	scripts/guest/lock.sh

# What the release bundle is built from: make serve builds again when one of them is newer.
BUNDLE_INPUTS := $(shell find src static crates/seal/src -type f 2>/dev/null) index.html Cargo.toml Cargo.lock \
	Trunk.toml .cargo/config.toml crates/seal/Cargo.toml scripts/build.sh scripts/post-build.sh scripts/toolchain.sh \
	$(wildcard target/guest/www/manifest.json)
dist/build.json: $(BUNDLE_INPUTS)
	scripts/build.sh

## make build: the release bundle in dist/ (what make serve, the end-to-end tests and benchmarks load)
build: deps guest
	scripts/build.sh

## make package: what a person deploys, in target/package/: the release bundle and the guest's sources
package: build
	scripts/package.sh

## make test: every test: native, wasm in headless Chromium and Firefox (page and worker), make serve,
## end-to-end in Chromium and Firefox
test: test-deps guest
	$(MAKE) lint
	$(MAKE) test-native
	$(MAKE) test-wasm
	$(MAKE) build
	$(MAKE) test-serve
	$(MAKE) test-e2e
	$(MAKE) test-e2e-firefox

## make lint: formatting (rustfmt.toml) and clippy warnings, native and wasm32, fail the tests
lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy -p rowsnap-seal -- -D warnings
	cargo clippy $(WASM) --lib --bins --test browser --test browser_worker -- -D warnings
	cargo clippy $(WASM) --lib --bins --features split -- -D warnings

test-native:
	cargo test

# One driver variable per run (wasm-bindgen-test-runner takes GECKODRIVER first when both are set).
test-wasm: test-wasm-chromium test-wasm-firefox

test-wasm-chromium:
	@echo "== wasm tests in $$(/usr/bin/chromium --version 2>/dev/null) (page and worker)"
	env -u GECKODRIVER cargo test $(WASM) --test browser --test browser_worker

test-wasm-firefox:
	@echo "== wasm tests in $$(/usr/bin/firefox-esr --version 2>/dev/null) (page and worker)"
	env -u CHROMEDRIVER GECKODRIVER="$$(command -v geckodriver)" WASM_BINDGEN_TEST_WEBDRIVER_JSON=$(CURDIR)/tests/webdriver-firefox.json \
		cargo test $(WASM) --test browser --test browser_worker

## make test-serve: make serve on a port of its own answers with this release build, then stops
test-serve:
	scripts/serve-smoke.sh

test-e2e:
	@echo "== end-to-end tests in $$(/usr/bin/chromium --version 2>/dev/null)"
	cd tests/e2e && node --test --test-concurrency=1 .

## make test-full: storage full in a guest (Chromium on a 300 MB tmpfs profile, as root): not in
## make test yet, see tests/e2e/vm-full.test.mjs
test-full:
	cd tests/e2e && ROWSNAP_FULL=$${ROWSNAP_FULL:-1} node --test --test-concurrency=1 vm-full.test.mjs

# The same scenarios in Firefox (tests/e2e/lib.mjs, ROWSNAP_BROWSER=firefox): the seed 001 and
# 004 walks, uploads with progress, reloads, encryption, the guest, the bucket and its recovery.
FIREFOX_E2E := shell console ecs encryption kms vm vm-reload vm-pause s3-snapshots
test-e2e-firefox:
	@echo "== end-to-end tests in $$(/usr/bin/firefox-esr --version 2>/dev/null)"
	cd tests/e2e && ROWSNAP_BROWSER=firefox node --test --test-concurrency=1 $(addsuffix .test.mjs,$(FIREFOX_E2E))

## make test-firefox: every end-to-end test in Firefox (make test runs the suite above)
test-firefox: test-deps guest
	$(MAKE) build
	cd tests/e2e && ROWSNAP_BROWSER=firefox node --test --test-concurrency=1 .

## make bench: figures printed and written to target/bench/engine.json
bench: test-deps guest
	scripts/bench.sh

clean:
	cargo clean
	rm -rf dist target/e2e target/bench target/package
