#!/usr/bin/env bash
# make build: the release bundle in dist/ (see scripts/toolchain.sh for why nightly).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh
if rustup run "$RELEASE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
  && [ -d "$(rustup run "$RELEASE_TOOLCHAIN" rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
  export RUSTUP_TOOLCHAIN="$RELEASE_TOOLCHAIN"
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  # Replaces .cargo/config.toml's rustflags for wasm32, so simd128 is repeated here.
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128 -Zunstable-options -Cpanic=immediate-abort"
else
  echo "build: $RELEASE_TOOLCHAIN (with rust-src) is not installed: building the release with stable (a larger bundle)" >&2
fi
exec trunk build --release
