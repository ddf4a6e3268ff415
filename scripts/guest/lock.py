"""make guest-lock: pins the guest's Debian packages (scripts/guest/packages.lock) to the newest
versions whose source packages the archive serves now, and only after those sources were fetched.

For each role (kernel, busybox, seabios), the candidates in the machine's mirrors, newest first:
the first whose required source packages (its Source and Built-Using, see debian.OPTIONAL_SOURCES)
all answer is taken (Debian's security archive can carry a kernel binary whose source answers 404
for a while). The guest is then built from that candidate lock (GUEST_LOCK), every source fetched
into target/guest/sources (as `make package` does), and only then is the lock written.
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import build  # noqa: E402
import debian  # noqa: E402

STATE = os.path.join(build.OUT, "apt")
SOURCES = os.path.join(build.OUT, "sources")
CANDIDATE = os.path.join(build.OUT, "packages.lock.candidate")


def log(msg):
    print(f"guest-lock: {msg}", file=sys.stderr, flush=True)


def main():
    binaries = debian.Index(STATE, "binary-i386")
    sources = debian.Index(STATE, "source")
    chosen = []
    for role, (name_re, arch) in build.ROLES.items():
        for stanza, _uri in binaries.candidates(name_re, arch=arch)[:30]:
            missing = []
            for name, version in debian.source_names(stanza):
                if name in debian.OPTIONAL_SOURCES:
                    continue
                try:
                    files = debian.source_files(sources, name, version)
                except RuntimeError as e:
                    missing.append(str(e))
                    continue
                missing += [f for f, (_, _, urls) in files.items() if not any(debian.reachable(u) for u in urls)]
            if not missing:
                log(f"{role}: {stanza['Package']} {stanza['Version']}")
                chosen.append({"role": role, "name": stanza["Package"], "version": stanza["Version"],
                               "architecture": stanza["Architecture"], "sha256": stanza["SHA256"]})  # fmt: skip
                break
            log(f"{role}: not {stanza['Package']} {stanza['Version']}: its source is not served ({', '.join(missing)})")
        else:
            sys.exit(f"guest-lock: no {role} package whose source the archive serves")
    lock = {
        "comment": "The guest's Debian packages, written by `make guest-lock` (scripts/guest/lock.py) once their "
                   "sources were fetched; a build uses these while the mirror has them (scripts/guest/build.py).",
        "packages": chosen,
    }  # fmt: skip
    with open(CANDIDATE, "w") as f:
        f.write(json.dumps(lock, indent=1) + "\n")
    env = dict(os.environ, GUEST_LOCK=CANDIDATE)
    subprocess.run([sys.executable, os.path.join(build.HERE, "build.py")], check=True, env=env)
    manifest = os.path.join(build.WWW, "manifest.json")
    if json.load(open(manifest)).get("lock") != "locked":
        sys.exit("guest-lock: the build did not take the candidate versions")
    os.makedirs(SOURCES, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(build.HERE, "debian.py"), "sources", manifest, SOURCES, STATE], check=True)
    os.replace(CANDIDATE, build.LOCK_DEFAULT)
    log(f"wrote {os.path.relpath(build.LOCK_DEFAULT, build.ROOT)} (commit it)")


if __name__ == "__main__":
    main()
