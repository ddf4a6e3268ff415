#!/usr/bin/env bash
# Trunk post-build hook: shrink the release wasm with binaryen's wasm-opt
# (tools/node_modules, installed by scripts/install.sh). Debug builds are left alone.
set -euo pipefail
[ "${TRUNK_PROFILE:-}" = "release" ] || exit 0
opt="$(dirname "$0")/../tools/node_modules/.bin/wasm-opt"
if [ ! -x "$opt" ]; then
  echo "wasm-opt: not installed (run scripts/install.sh); the bundle stays unoptimised" >&2
  exit 0
fi
for f in "$TRUNK_STAGING_DIR"/*.wasm; do
  # The features Rust enables for wasm32 (and +simd128, see .cargo/config.toml); not -all,
  # which would let wasm-opt emit encodings browsers do not read yet.
  "$opt" -Oz --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-multivalue --enable-reference-types --enable-simd "$f" -o "$f.opt"
  mv "$f.opt" "$f"
done
