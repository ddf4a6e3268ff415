#!/usr/bin/env bash
# make bench: native benchmarks (memory store, qemu-img) and browser benchmarks
# (headless Chromium, IndexedDB), merged into target/bench/engine.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/bench
echo "== native (cargo bench) =="
cargo bench --bench engine
echo "== browser (headless Chromium, release build) =="
cargo test --release --target wasm32-unknown-unknown --test bench_idb -- --nocapture 2>&1 | tee target/bench/idb.log
echo "== console (release build, headless Chromium) =="
make build
(cd tests/e2e && node bench-render.mjs) 2>&1 | tee target/bench/render.log
echo "== guest (Linux in the page on a rowsnap disk vs in memory, headless Chromium) =="
(cd tests/e2e && node bench-guest.mjs) 2>&1 | tee target/bench/guest.log
echo "== object storage (normal snapshots to SeaweedFS vs plain PUTs, headless Chromium) =="
(cd tests/e2e && node bench-s3.mjs) 2>&1 | tee target/bench/s3.log
python3 scripts/bench_report.py
