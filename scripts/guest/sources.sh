#!/usr/bin/env bash
# The Debian source packages of exactly the versions the guest was built from (target/guest/www/
# manifest.json: each package's Source and Built-Using), into target/guest/www/sources/ beside the
# binaries, so a deployment of the console ships the corresponding source (GPL-2, LGPL-3).
# About 160 MB; files already there with the right sha256 are kept.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/../.."
[ -f target/guest/www/manifest.json ] || { echo "guest: no target/guest/www/manifest.json: run scripts/guest/build.sh first" >&2; exit 1; }
mkdir -p target/guest/www/sources
exec python3 scripts/guest/debian.py sources target/guest/www/manifest.json target/guest/www/sources target/guest/apt
