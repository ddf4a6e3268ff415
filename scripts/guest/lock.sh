#!/usr/bin/env bash
# make guest-lock: pins the guest's Debian packages (scripts/guest/packages.lock) to the newest
# versions whose sources the archive serves, once those sources were fetched (scripts/guest/lock.py).
# The only thing that writes the lock.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/../.."
rm -f target/guest/inputs.sha256
python3 scripts/guest/lock.py
# The lock is an input of the guest: the next `make guest` builds again (the same bytes).
rm -f target/guest/inputs.sha256
