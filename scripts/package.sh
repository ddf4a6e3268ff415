#!/usr/bin/env bash
# make package: what a person deploys to a web server, in target/package/: the release bundle
# (dist/, built by `make build`) with the Debian source packages of exactly the guest binaries it
# carries (the kernel and busybox are GPL-2, SeaBIOS LGPL-3, busybox links glibc statically) in
# guest/sources/ beside them, listed in guest/sources/SOURCES.json. dist/ alone is not deployable:
# it ships those binaries without their source. A source that cannot be fetched fails this target
# and names the package; nothing is written to target/package/ then.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."
[ -f dist/build.json ] && [ -f dist/guest/manifest.json ] || { echo "package: no release build in dist/ (make build)" >&2; exit 1; }
# Downloaded once into a cache; files already there with the right sha256 are kept (about 160 MB).
mkdir -p target/guest/sources
python3 scripts/guest/debian.py sources dist/guest/manifest.json target/guest/sources target/guest/apt
rm -rf target/package.new
cp -a dist target/package.new
mkdir -p target/package.new/guest/sources
python3 - <<'PY'
import json, os, shutil
listing = json.load(open("target/guest/sources/SOURCES.json"))
for f in listing["files"]:
    shutil.copyfile(os.path.join("target/guest/sources", f["file"]), os.path.join("target/package.new/guest/sources", f["file"]))
json.dump(listing, open("target/package.new/guest/sources/SOURCES.json", "w"), indent=1)
m = json.load(open("dist/guest/manifest.json"))
b = json.load(open("dist/build.json"))
names = sorted({f["package"] + " " + f["version"] for f in listing["files"]})
open("target/package.new/guest/sources/README.txt", "w").write(
    "The source of the guest binaries under guest/ (rowsnap build " + b["build"] + ", guest " + m["build"] + "):\n"
    + "".join(f"  {p['name']} {p['version']} ({p['architecture']}): source {', '.join(s[0] + ' ' + s[1] for s in p['sources'])}\n" for p in m["packages"])
    + "Debian source packages here (.dsc, orig and debian tarballs; SOURCES.json has their sha256):\n"
    + "".join(f"  {n}\n" for n in names)
    + "Licences: the Linux kernel and busybox GPL-2, SeaBIOS LGPL-3, glibc LGPL-2.1 (busybox is linked with it\n"
    + "statically), v86 BSD-2-Clause (guest/v86/LICENSE), xterm.js MIT (guest/xterm/LICENSE).\n")
print(f"package: {len(listing['files'])} source files of {len(names)} source packages beside the guest")
PY
rm -rf target/package
mv target/package.new target/package
echo "package: target/package/ ($(du -sh target/package | cut -f1)): deploy this folder as it is (any static server: the console routes in the URL hash)"
