#!/usr/bin/env bash
# Trunk post-build hook for the release bundle (debug builds are left alone):
# 1. when scripts/build.sh built with the "split" feature (ROWSNAP_SPLIT=1):
#    splits the linked wasm at its #[wasm_split] points (wasm-split-cli,
#    wasm_split_cli_support) into the main module and the pages' parts, then
#    runs wasm-bindgen on the main module in place of trunk's output (same
#    file names, so trunk's index.html loads it); the parts and their loader
#    (__wasm_split.js) sit beside it and are fetched on first use;
# 2. shrinks every wasm file with binaryen's wasm-opt (tools/node_modules,
#    installed by scripts/install.sh).
set -euo pipefail
[ "${TRUNK_PROFILE:-}" = "release" ] || exit 0
root="$(cd "$(dirname "$0")/.." && pwd)"
stage="$TRUNK_STAGING_DIR"
if [ "${ROWSNAP_SPLIT:-0}" = 1 ]; then
  # Set by scripts/build.sh, which built the wasm with the split feature and the linker's relocations.
  glue=$(cd "$stage" && ls rowsnap-*.js | grep -E '^rowsnap-[0-9a-f]+\.js$')
  [ "$(echo "$glue" | wc -l)" = 1 ] || { echo "post-build.sh: expected one rowsnap-<hash>.js from trunk, found: $glue" >&2; exit 1; }
  stem="${glue%.js}"
  raw="${CARGO_TARGET_DIR:-$root/target}/wasm32-unknown-unknown/release/rowsnap.wasm"
  parts="$(mktemp -d)"
  trap 'rm -rf "$parts"' EXIT
  wasm-split-cli "$raw" "$parts" --out-name "$stem"
  rm -f "$stage/$stem.js" "$stage/${stem}_bg.wasm"
  wasm-bindgen "$parts/$stem.wasm" --out-dir "$stage" --out-name "$stem" --target web --no-typescript --keep-lld-exports
  rm "$parts/$stem.wasm"
  # The parts carry the build's name, as trunk's files do, so that a browser
  # never mixes a cached part of one build with the main module of another.
  sed -i "s#from \"./__wasm_split.js\"#from \"./$stem-parts.js\"#" "$stage/$stem.js"
  sed -i -E "s#new URL\(\"\./((chunk|split)_[A-Za-z0-9_]+\.wasm)\"#new URL(\"./$stem-\\1\"#g" "$parts/__wasm_split.js"
  if ! grep -q "from \"./$stem-parts.js\"" "$stage/$stem.js" || grep -q 'from "./__wasm_split.js"' "$stage/$stem.js" \
    || grep -q 'new URL("./\(chunk\|split\)_' "$parts/__wasm_split.js"; then
    echo "post-build.sh: the split's file names were not rewritten (wasm-split-cli's output changed?)" >&2
    exit 1
  fi
  # A server that sends .wasm without the application/wasm type makes
  # instantiateStreaming fail: the parts then fall back to a plain
  # instantiate, as wasm-bindgen's glue does for the main module.
  sed -i 's#WebAssembly\.instantiateStreaming(src, imports)#instantiatePart(src, imports)#g' "$parts/__wasm_split.js"
  cat >> "$parts/__wasm_split.js" <<'JS'
async function instantiatePart(src, imports) {
    const response = await src;
    if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status}`);
    if ((response.headers.get("content-type") || "").split(";")[0].trim() === "application/wasm") {
        return WebAssembly.instantiateStreaming(response, imports);
    }
    return WebAssembly.instantiate(await response.arrayBuffer(), imports);
}
JS
  if grep -q 'instantiateStreaming(src' "$parts/__wasm_split.js" || ! grep -q 'instantiatePart(src, imports)' "$parts/__wasm_split.js"; then
    echo "post-build.sh: the parts' loader was not rewritten (wasm-split-cli's output changed?)" >&2
    exit 1
  fi
  mv "$parts/__wasm_split.js" "$stage/$stem-parts.js"
  for f in "$parts"/*.wasm; do mv "$f" "$stage/$stem-$(basename "$f")"; done
fi
opt="$root/tools/node_modules/.bin/wasm-opt"
if [ ! -x "$opt" ]; then
  echo "wasm-opt: not installed (run scripts/install.sh); the bundle stays unoptimised" >&2
  exit 0
fi
for f in "$stage"/*.wasm; do
  # The features Rust enables for wasm32 (and +simd128, see .cargo/config.toml); not -all,
  # which would let wasm-opt emit encodings browsers do not read yet.
  "$opt" -Oz --enable-bulk-memory --enable-mutable-globals --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-multivalue --enable-reference-types --enable-simd "$f" -o "$f.opt"
  mv "$f.opt" "$f"
done
