#!/usr/bin/env bash
# make test-serve: `make serve` as a person runs it, on a port of its own (ROWSNAP_TEST_PORT,
# default 18080; a port that is taken fails the test rather than testing some other server):
# it must answer with the release build that is in dist/ (its id in <meta name="rowsnap-build">
# and build.json, no live-reload script) and send .wasm as application/wasm.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${ROWSNAP_TEST_PORT:-18080}"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "test-serve: 127.0.0.1:$port is taken (ROWSNAP_TEST_PORT=<port> picks another)" >&2
  exit 1
fi
mkdir -p target/e2e
log=target/e2e/serve-smoke.log
setsid make --no-print-directory serve ROWSNAP_PORT="$port" >"$log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
start=$(date +%s)
python3 - "$port" "$pid" <<'PY' || { echo "test-serve: failed; make serve said:" >&2; tail -30 "$log" >&2; exit 1; }
import json, os, re, sys, time, urllib.request
port, pid = sys.argv[1], int(sys.argv[2])
base = f"http://127.0.0.1:{port}"
deadline = time.time() + 600  # make serve rebuilds first when the sources changed
html = None
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("make serve exited before it answered")
    try:
        with urllib.request.urlopen(base + "/", timeout=5) as r:
            html = r.read().decode()
            break
    except OSError:
        time.sleep(0.5)
if html is None:
    sys.exit(f"nothing answered on {base} within 600 s")
want = json.load(open("dist/build.json"))
m = re.search(r'<meta name="rowsnap-build" content="([0-9a-f]+)"', html)
if not m:
    sys.exit(f"{base}/ has no rowsnap-build id: not a release build of scripts/build.sh")
if m.group(1) != want["build"]:
    sys.exit(f"{base}/ answered build {m.group(1)}, dist/ holds {want['build']}")
if want["profile"] != "release" or "__trunk_address__" in html or "live-reload" in html.lower():
    sys.exit(f"{base}/ is not the release build ({want['profile']}, live reload: {'__trunk_address__' in html})")
wasm = re.search(r'(rowsnap-[0-9a-f]+_bg\.wasm)', html)
if not wasm:
    sys.exit(f"{base}/ names no rowsnap-<hash>_bg.wasm")
req = urllib.request.Request(f"{base}/{wasm.group(1)}", method="HEAD")
with urllib.request.urlopen(req, timeout=5) as r:
    if r.headers.get("content-type") != "application/wasm":
        sys.exit(f"{wasm.group(1)} is sent as {r.headers.get('content-type')}")
print(f"test-serve: make serve answered on {base} with release build {want['build']} ({want['toolchain']}, split {want['split']})")
PY
echo "test-serve: ok in $(($(date +%s) - start)) s"
