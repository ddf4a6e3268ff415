#!/usr/bin/env bash
# make guest: the guest (Linux in the page) in target/guest/www, built from npm's v86 and Debian
# packages by scripts/guest/build.py, only when it is missing or its inputs changed (the files in
# scripts/guest/, packages.lock among them, and the v86 pinned in tools/package-lock.json). The
# Debian versions are the locked ones (scripts/guest/packages.lock) while the mirror has them, the
# newest otherwise (with a warning, recorded in manifest.json); GUEST_REFRESH=1 builds again.
# No source package is fetched here (that is `make package`, scripts/package.sh), so serving and
# testing never wait for, or fail on, 160 MB of sources.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/../.."
out=target/guest
www=$out/www

# v86 comes from tools/ (npm ci; scripts/install.sh does it too).
if ! grep -q '"version": "0.5.462' tools/node_modules/v86/package.json 2>/dev/null \
  || [ ! -f tools/node_modules/@xterm/xterm/lib/xterm.js ] \
  || [ tools/package-lock.json -nt tools/node_modules/.package-lock.json ]; then
  echo "guest: npm ci in tools/ (v86)"
  (cd tools && npm ci --no-audit --no-fund)
fi

inputs=$( { find scripts/guest -type f ! -name '*.pyc' | LC_ALL=C sort | xargs sha256sum
  python3 -c 'import json,sys; p=json.load(open("tools/package-lock.json"))["packages"]; [print(p[k]["version"], p[k]["integrity"]) for k in ("node_modules/v86", "node_modules/@xterm/xterm")]'
} | sha256sum | cut -c1-64)

if [ "${GUEST_REFRESH:-0}" != 1 ] && [ -f $www/manifest.json ] && [ "$(cat $out/inputs.sha256 2>/dev/null)" = "$inputs" ] \
  && python3 - "$www" <<'PY'
import hashlib, json, os, sys
www = sys.argv[1]
m = json.load(open(os.path.join(www, "manifest.json")))
ok = all(os.path.exists(os.path.join(www, f["path"])) and os.path.getsize(os.path.join(www, f["path"])) == f["bytes"] for f in m["files"])
sys.exit(0 if ok else 1)
PY
then
  echo "guest: up to date ($(python3 -c 'import json; print(json.load(open("target/guest/www/manifest.json"))["build"])'))"
else
  rm -f $out/inputs.sha256
  start=$(date +%s%N)
  python3 scripts/guest/build.py
  echo "$inputs" > $out/inputs.sha256
  ms=$((($(date +%s%N) - start) / 1000000))
  echo "guest: build took $((ms / 1000)).$((ms % 1000 / 100)) s"
fi

# Sources fetched by an older build into www/ would be copied into dist/ by trunk: they belong
# to the package (target/package/guest/sources), not to every build.
rm -rf $www/sources
python3 -c 'import json; [print("guest: warning:", n) for n in json.load(open("target/guest/www/manifest.json")).get("lock_notes", [])]' >&2
