"""Debian packages for the guest, fetched without touching the machine's apt configuration.

Reads the Debian mirrors this machine already uses (/etc/apt/sources.list.d/*.sources,
/etc/apt/sources.list), fetches each suite's InRelease into a private folder, checks its
signature with gpgv against the keyring the source names, then takes the i386 (or source)
indexes whose sha256 InRelease lists. Packages are verified against the index's sha256.

A suite or index that cannot be fetched is reported and skipped; only a package that is
needed and found nowhere fails the build.
"""

import glob
import hashlib
import io
import lzma
import os
import re
import subprocess
import sys
import tarfile
import urllib.request

DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def log(msg):
    print(f"guest: {msg}", file=sys.stderr, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(url, dest, sha256=None, size=None):
    """Downloads url to dest (atomically); skips when dest already has the sha256."""
    if sha256 and os.path.exists(dest) and sha256_file(dest) == sha256:
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".part"
    h = hashlib.sha256()
    n = 0
    with urllib.request.urlopen(url, timeout=60) as r, open(tmp, "wb") as out:
        for chunk in iter(lambda: r.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
            out.write(chunk)
    if size is not None and n != int(size):
        os.unlink(tmp)
        raise RuntimeError(f"{url}: {n} bytes, the index says {size}")
    if sha256 and h.hexdigest() != sha256:
        os.unlink(tmp)
        raise RuntimeError(f"{url}: sha256 {h.hexdigest()}, the index says {sha256}")
    os.replace(tmp, dest)
    return dest


def parse_stanzas(text):
    """deb822 paragraphs as dicts (continuation lines kept, joined with newlines)."""
    out = []
    for para in text.split("\n\n"):
        d = {}
        key = None
        for line in para.split("\n"):
            if not line or line.startswith("#"):
                continue
            if line[0] in " \t" and key:
                d[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, val = line.partition(":")
                d[key] = val.strip()
        if d:
            out.append(d)
    return out


def apt_sources():
    """(uri, suite, components, keyring) for every deb source of the machine, deb822 or one-line."""
    out = []
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for s in parse_stanzas(open(path).read()):
            if "deb" not in s.get("Types", "").split() or s.get("Enabled", "yes") == "no":
                continue
            arches = s.get("Architectures", "").split()
            if arches and "i386" not in arches:
                continue
            for uri in s.get("URIs", "").split():
                for suite in s.get("Suites", "").split():
                    out.append((uri.rstrip("/"), suite, s.get("Components", "main").split(), s.get("Signed-By", DEFAULT_KEYRING)))
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        for line in open(path):
            m = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)$", line)
            if not m:
                continue
            opts = m.group(1) or ""
            arch = re.search(r"arch=(\S+)", opts)
            if arch and "i386" not in arch.group(1).split(","):
                continue
            key = re.search(r"signed-by=(\S+)", opts)
            out.append((m.group(2).rstrip("/"), m.group(3), m.group(4).split(), key.group(1).rstrip("]") if key else DEFAULT_KEYRING))
    # Only Debian's own archive (the other sources are vendors' single-arch repositories).
    return [s for s in out if "debian" in s[0]]


def verify_release(inrelease, keyring):
    """The signed text of an InRelease, or an exception when the signature does not verify."""
    keyrings = [keyring] if os.path.exists(keyring) else []
    if not keyrings:
        keyrings = sorted(glob.glob("/usr/share/keyrings/debian-archive-*.gpg"))
    args = ["gpgv", "--quiet", "--output", "-"]
    for k in keyrings:
        args += ["--keyring", k]
    r = subprocess.run(args + [inrelease], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{inrelease}: signature does not verify: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout.decode()


class Index:
    """Every stanza of the wanted indexes over every suite of the machine's Debian sources."""

    def __init__(self, state_dir, kind):
        """kind: 'binary-i386' or 'source'."""
        self.entries = []  # (stanza, base uri)
        self.state_dir = state_dir
        fname = "Sources.xz" if kind == "source" else "Packages.xz"
        sources = apt_sources()
        if not sources:
            raise RuntimeError("no Debian source in /etc/apt/sources.list(.d): cannot find the guest's packages")
        for uri, suite, comps, keyring in sources:
            tag = re.sub(r"[^A-Za-z0-9.]+", "_", f"{uri}_{suite}")
            try:
                rel = fetch(f"{uri}/dists/{suite}/InRelease", os.path.join(state_dir, tag, "InRelease.new"))
                text = verify_release(rel, keyring)
                os.replace(rel, os.path.join(state_dir, tag, "InRelease"))
            except Exception as e:  # a suite we may not need: go on without it
                log(f"skipping {uri} {suite}: {e}")
                continue
            sums = {}
            in_sha = False
            for line in text.split("\n"):
                if line.startswith("SHA256:"):
                    in_sha = True
                    continue
                if in_sha:
                    if not line.startswith(" "):
                        in_sha = False
                        continue
                    digest, size, name = line.split()
                    sums[name] = (digest, size)
            by_hash = re.search(r"^Acquire-By-Hash:\s*yes", text, re.M) is not None
            for comp in comps:
                name = f"{comp}/{kind}/{fname}"
                if name not in sums:
                    log(f"skipping {uri} {suite} {comp}: no {kind} index")
                    continue
                digest, size = sums[name]
                dest = os.path.join(state_dir, tag, name.replace("/", "_"))
                # By hash first (what apt does): a mirror mid-sync serves the InRelease's own index there.
                urls = [f"{uri}/dists/{suite}/{os.path.dirname(name)}/by-hash/SHA256/{digest}"] if by_hash else []
                urls.append(f"{uri}/dists/{suite}/{name}")
                errors = []
                for url in urls:
                    try:
                        fetch(url, dest, digest, size)
                        break
                    except Exception as e:
                        errors.append(str(e))
                else:
                    log(f"skipping {uri} {suite} {name}: {'; '.join(errors)}")
                    continue
                with lzma.open(dest, "rt", encoding="utf-8", errors="replace") as f:
                    for s in parse_stanzas(f.read()):
                        self.entries.append((s, uri))

    def candidates(self, name_re, arch=None):
        """Every (stanza, base uri) whose package name matches name_re fully, newest first."""
        import functools

        rx = re.compile(name_re)
        cands = [(s, u) for s, u in self.entries if rx.fullmatch(s.get("Package", "")) and (arch is None or s.get("Architecture") in arch)]
        return sorted(cands, key=functools.cmp_to_key(lambda a, b: compare_versions(b[0]["Version"], a[0]["Version"])))

    def newest(self, name_re, arch=None):
        """The stanza with the highest version among packages whose name matches name_re fully."""
        cands = self.candidates(name_re, arch)
        if not cands:
            raise RuntimeError(f"no package matching {name_re!r} in the i386 indexes of {[s[0] + ' ' + s[1] for s in apt_sources()]}")
        return cands[0]

    def exact_binary(self, package, version, sha256):
        """The (stanza, base uri) of exactly that .deb (name, version and sha256), or None."""
        for s, u in self.entries:
            if s.get("Package") == package and s.get("Version") == version and s.get("SHA256") == sha256:
                return s, u
        return None

    def exact(self, package, version):
        """Every (stanza, base uri) of package at exactly version (one per suite that has it)."""
        found = [(s, u) for s, u in self.entries if s.get("Package") == package and s.get("Version") == version]
        if not found:
            raise RuntimeError(f"source package {package} {version} is not in the mirror's source indexes")
        return found


def _order(c):
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _cmp_part(a, b):
    """dpkg's comparison of an upstream version or revision."""
    while a or b:
        na = re.match(r"^[^0-9]*", a).group(0)
        nb = re.match(r"^[^0-9]*", b).group(0)
        for i in range(max(len(na), len(nb))):
            ca = _order(na[i]) if i < len(na) else 0
            cb = _order(nb[i]) if i < len(nb) else 0
            if ca != cb:
                return -1 if ca < cb else 1
        a, b = a[len(na):], b[len(nb):]
        da = re.match(r"^[0-9]*", a).group(0)
        db = re.match(r"^[0-9]*", b).group(0)
        if int(da or 0) != int(db or 0):
            return -1 if int(da or 0) < int(db or 0) else 1
        a, b = a[len(da):], b[len(db):]
    return 0


def compare_versions(a, b):
    def split(v):
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        up, _, rev = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), up, rev

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _cmp_part(ua, ub) or _cmp_part(ra, rb)


def download_deb(stanza, uri, cache_dir):
    """The .deb of a stanza, in cache_dir, sha256-checked against the index."""
    dest = os.path.join(cache_dir, os.path.basename(stanza["Filename"]))
    fresh = not (os.path.exists(dest) and sha256_file(dest) == stanza["SHA256"])
    fetch(f"{uri}/{stanza['Filename']}", dest, stanza["SHA256"], stanza["Size"])
    if fresh:
        log(f"downloaded {stanza['Package']} {stanza['Version']} ({int(stanza['Size']):,} bytes)")
    return dest


def deb_members(path, want):
    """{member name: bytes} for the data.tar members of a .deb that want(name) accepts (no dpkg needed)."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise RuntimeError(f"{path}: not a .deb")
        while True:
            hdr = f.read(60)
            if len(hdr) < 60:
                raise RuntimeError(f"{path}: no data.tar")
            name = hdr[:16].decode().strip().rstrip("/")
            size = int(hdr[48:58])
            if name.startswith("data.tar"):
                data = f.read(size)
                break
            f.seek(size + (size & 1), 1)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        for m in t:
            n = m.name[2:] if m.name.startswith("./") else m.name
            if m.isfile() and want(n):
                out[n] = t.extractfile(m).read()
    return out


def source_names(stanza):
    """[(source package, version)] whose source a binary needs: its Source and its Built-Using."""
    src = stanza.get("Source", stanza["Package"])
    m = re.match(r"^(\S+)(?:\s+\((\S+)\))?$", src)
    out = [(m.group(1), m.group(2) or stanza["Version"])]
    for part in stanza.get("Built-Using", "").split(","):
        m = re.match(r"^\s*(\S+)\s+\(=\s*(\S+)\)", part)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


# Debian's signing wrapper: its source is the signatures and a debian/ template; the kernel's own
# source is `linux` (its Built-Using), which is required. Missing wrapper sources only warn.
OPTIONAL_SOURCES = {"linux-signed-i386"}


def source_files(index, name, version):
    """{file name: (sha256, size, [urls])} of source package name at version in a source Index."""
    files = {}
    for s, uri in index.exact(name, version):
        for line in s.get("Checksums-Sha256", "").split("\n"):
            parts = line.split()
            if len(parts) == 3:
                files.setdefault(parts[2], (parts[0], parts[1], []))[2].append(f"{uri}/{s['Directory']}/{parts[2]}")
    return files


def reachable(url):
    """Whether the archive serves url now (a HEAD request)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30) as r:
            return r.status == 200
    except Exception:
        return False


def fetch_sources(manifest_path, out_dir, state_dir):
    """Downloads the Debian source packages (dsc, orig, debian) of every package in the manifest."""
    import json

    manifest = json.load(open(manifest_path))
    wanted = []
    for p in manifest["packages"]:
        for s in p["sources"]:
            if s not in wanted:
                wanted.append(s)
    index = Index(state_dir, "source")
    listing = []
    missing = []
    for name, version in wanted:
        try:
            index.exact(name, version)
        except RuntimeError as e:
            missing.append((name, str(e)))
            continue
        files = source_files(index, name, version)
        for fname, (digest, size, urls) in files.items():
            dest = os.path.join(out_dir, fname)
            if not (os.path.exists(dest) and sha256_file(dest) == digest):
                log(f"downloading source {fname} ({int(size):,} bytes)")
            errors = []
            for url in urls:
                try:
                    fetch(url, dest, digest, size)
                    listing.append({"package": name, "version": version, "file": fname, "bytes": int(size), "sha256": digest})
                    break
                except Exception as e:
                    errors.append(f"{url}: {e}")
            else:
                missing.append((name, "; ".join(errors)))
    with open(os.path.join(out_dir, "SOURCES.json"), "w") as f:
        json.dump({"files": listing, "missing": [{"package": n, "error": e} for n, e in missing]}, f, indent=1)
    log(f"sources: {len(listing)} files of {len(wanted)} source packages in {out_dir}")
    for name, err in missing:
        log(f"{'warning' if name in OPTIONAL_SOURCES else 'error'}: source of {name} not fetched: {err}")
    if any(name not in OPTIONAL_SOURCES for name, _ in missing):
        sys.exit("guest: sources failed: the source packages above are required (they are the shipped binaries' source)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "compare":
        print(compare_versions(sys.argv[2], sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "sources":
        fetch_sources(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: debian.py sources MANIFEST OUT_DIR STATE_DIR | compare A B")
