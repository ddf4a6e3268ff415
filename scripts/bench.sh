#!/usr/bin/env bash
# make bench: native benchmarks (memory store, qemu-img) and browser benchmarks
# (headless Chromium and Firefox, IndexedDB), merged into target/bench/engine.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
echo "== native (cargo bench) =="
cargo bench --bench engine
echo "== browser (headless Chromium, release build) =="
cargo test --release --target wasm32-unknown-unknown --test bench_idb -- --nocapture 2>&1 | tee target/bench/idb.log
echo "== browser in Firefox (headless Firefox ESR, IndexedDB; figures with _firefox) =="
env -u CHROMEDRIVER GECKODRIVER="$(command -v geckodriver)" WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver-firefox.json" \
  cargo test --release --target wasm32-unknown-unknown --test bench_idb -- --nocapture 2>&1 | tee target/bench/idb-firefox.log
echo "== console (release build, headless Chromium) =="
make build
(cd tests/e2e && node bench-render.mjs) 2>&1 | tee target/bench/render.log
echo "== guest (Linux in the page on a rowsnap disk vs in memory, headless Chromium) =="
(cd tests/e2e && node bench-guest.mjs) 2>&1 | tee target/bench/guest.log
echo "== guest in Firefox (figures with _firefox) =="
(cd tests/e2e && ROWSNAP_BROWSER=firefox node bench-guest.mjs) 2>&1 | tee target/bench/guest-firefox.log
echo "== object storage (normal snapshots to SeaweedFS vs plain PUTs, headless Chromium) =="
(cd tests/e2e && node bench-s3.mjs) 2>&1 | tee target/bench/s3.log
python3 scripts/bench_report.py
