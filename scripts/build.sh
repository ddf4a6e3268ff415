#!/usr/bin/env bash
# make build: the release bundle in dist/ (see scripts/toolchain.sh for why nightly,
# and scripts/post-build.sh for the split into lazily loaded parts).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh
features=()
if rustup run "$RELEASE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
  && [ -d "$(rustup run "$RELEASE_TOOLCHAIN" rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
  export RUSTUP_TOOLCHAIN="$RELEASE_TOOLCHAIN"
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  # Replaces .cargo/config.toml's rustflags for wasm32, so simd128 is repeated here.
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128 -Zunstable-options -Cpanic=immediate-abort"
else
  echo "build: $RELEASE_TOOLCHAIN (with rust-src) is not installed: building the release with stable (a larger bundle)" >&2
fi
if [ "${ROWSNAP_SPLIT:-1}" = 0 ]; then
  echo "build: ROWSNAP_SPLIT=0: the release is one wasm file" >&2
  export ROWSNAP_SPLIT=0
elif ! command -v wasm-split-cli >/dev/null; then
  echo "build: wasm-split-cli is not installed (scripts/install.sh): the release is one wasm file (a larger first load)" >&2
  export ROWSNAP_SPLIT=0
else
  # The pages as lazily loaded parts: the splitter reads the linker's relocations.
  export ROWSNAP_SPLIT=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS:--C target-feature=+simd128} -Clink-args=--emit-relocs"
  features=(--features split)
fi
rm -rf dist
exec trunk build --release "${features[@]}"
