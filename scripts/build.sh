#!/usr/bin/env bash
# make build: the release bundle in dist/ (see scripts/toolchain.sh for why nightly,
# and scripts/post-build.sh for the split into lazily loaded parts).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/toolchain.sh
features=()
RUSTUP_TOOLCHAIN_USED=stable
if rustup run "$RELEASE_TOOLCHAIN" rustc --version >/dev/null 2>&1 \
  && [ -d "$(rustup run "$RELEASE_TOOLCHAIN" rustc --print sysroot)/lib/rustlib/src/rust/library" ]; then
  export RUSTUP_TOOLCHAIN="$RELEASE_TOOLCHAIN"
  RUSTUP_TOOLCHAIN_USED="$RELEASE_TOOLCHAIN"
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
trunk build --release "${features[@]}"
# The build's id (a hash over every file of the bundle), in dist/build.json and in
# index.html's <meta name="rowsnap-build">: what `make serve` serves says which build it is.
python3 - "$RUSTUP_TOOLCHAIN_USED" "$ROWSNAP_SPLIT" <<'PY'
import hashlib, json, os, sys
h = hashlib.sha256()
files = 0
for dirpath, dirs, names in os.walk("dist"):
    dirs.sort()
    for n in sorted(names):
        p = os.path.join(dirpath, n)
        h.update(os.path.relpath(p, "dist").encode() + b"\0")
        with open(p, "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
        files += 1
build = h.hexdigest()[:16]
guest = json.load(open("dist/guest/manifest.json"))["build"] if os.path.exists("dist/guest/manifest.json") else None
info = {"build": build, "profile": "release", "toolchain": sys.argv[1], "split": sys.argv[2] == "1", "files": files, "guest": guest}
html = open("dist/index.html").read()
tag = f'<meta name="rowsnap-build" content="{build}" />'
if "<head>" not in html:
    sys.exit("build: dist/index.html has no <head>")
open("dist/index.html", "w").write(html.replace("<head>", "<head>\n    " + tag, 1))
open("dist/build.json", "w").write(json.dumps(info, indent=1) + "\n")
print(f"build: release bundle {build} in dist/ ({files} files, {info['toolchain']}, split {info['split']})", file=sys.stderr)
PY
