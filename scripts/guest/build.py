"""Builds the guest (Linux in the page) into target/guest/www from npm's v86 and Debian packages.

Run by scripts/guest/build.sh, which decides whether anything changed. Output:
  v86/libv86.js, v86/v86.wasm        npm v86 (tools/package-lock.json pins it)
  bios/bios.bin, bios/vgabios-stdvga.bin   Debian seabios
  linux/vmlinuz, linux/initramfs.img       Debian linux-image-*-686 (as locked, see packages.lock), busybox-static
  images/rowsnap_linux_i386_busybox.img.gz a 64 MiB ext4 system disk, gzip
  manifest.json                            build id, packages, files, kernel command line, disk size
"""

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import debian  # noqa: E402
from newc import Newc  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.join(ROOT, "scripts", "guest")
OUT = os.path.join(ROOT, "target", "guest")
WWW = os.path.join(OUT, "www")

# Debian builds the disk path as modules; this is their dependency order (from each .ko's depends=).
MODULES = [
    "scsi_common", "scsi_mod", "libata", "ata_piix", "crct10dif_common", "crct10dif_generic", "crc-t10dif",
    "crc64", "crc64-rocksoft", "t10-pi", "sd_mod", "jbd2", "mbcache", "crc16", "ext4", "crc32c_generic",
]  # fmt: skip
CMDLINE = (
    "console=ttyS0 quiet cryptomgr.notests=1 noisapnp tsc=reliable mitigations=off "
    "initcall_blacklist=crypto_kdf108_init,init_kprobe_trace,load_system_certificate_list,trace_eval_init,isapnp_init"
)
IMAGE_NAME = "rowsnap_linux_i386_busybox"
DISK_BYTES = 64 << 20
# Fixed times and ids, so the same inputs give the same bytes (and the same build id).
EPOCH = 1700000000
DISK_UUID = "72657773-6e61-4f70-8000-000000000001"
SIG_MAGIC = b"~Module signature appended~\n"


# The guest's Debian packages: (name pattern, architectures) of the newest; a lock pins exact ones.
ROLES = {
    "kernel": (r"linux-image-[0-9.]+-[0-9]+-686", ("i386",)),
    "busybox": (r"busybox-static", ("i386",)),
    "seabios": (r"seabios", ("all", "i386")),
}
# GUEST_LOCK names another lock (make guest-lock builds from its candidate before it commits to it).
LOCK_DEFAULT = os.path.join(HERE, "packages.lock")
LOCK = os.environ.get("GUEST_LOCK") or LOCK_DEFAULT


def read_lock():
    """{role: {name, version, architecture, sha256}} from scripts/guest/packages.lock ({} when absent)."""
    if not os.path.exists(LOCK):
        return {}
    lock = json.load(open(LOCK))
    return {p["role"]: p for p in lock["packages"]}


def log(msg):
    print(f"guest: {msg}", file=sys.stderr, flush=True)


def strip_signature(ko):
    """The module without its appended PKCS#7 signature (loading then skips the check; the kernel taints)."""
    if not ko.endswith(SIG_MAGIC):
        return ko
    info = ko[-len(SIG_MAGIC) - 12 : -len(SIG_MAGIC)]
    signer_len, key_id_len, sig_len = info[3], info[4], int.from_bytes(info[8:12], "big")
    return ko[: len(ko) - len(SIG_MAGIC) - 12 - sig_len - signer_len - key_id_len]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def busybox_applets(busybox_path):
    """Applet paths (bin/ls, usr/bin/awk, ...) from the binary itself (the host runs i386 static binaries)."""
    try:
        r = subprocess.run([busybox_path, "--list-full"], capture_output=True, check=True, timeout=30)
        return [p for p in r.stdout.decode().split() if p and not p.endswith("/busybox")]
    except (OSError, subprocess.SubprocessError) as e:
        log(f"cannot run the i386 busybox here ({e}): the guest installs its applet links at first boot")
        return ["bin/sh"]


def main():
    t0 = time.time()
    for d in ("debs", "apt", "work"):
        os.makedirs(os.path.join(OUT, d), exist_ok=True)

    # 1. Packages: the locked versions (scripts/guest/packages.lock) while the machine's Debian
    #    mirrors carry them, otherwise the newest, with a warning (i386 indexes in a private folder).
    index = debian.Index(os.path.join(OUT, "apt"), "binary-i386")
    locked = {} if os.environ.get("GUEST_UNLOCKED") == "1" else read_lock()
    wanted, lock_notes = {}, []
    for role, (name_re, arch) in ROLES.items():
        pin = locked.get(role)
        found = index.exact_binary(pin["name"], pin["version"], pin["sha256"]) if pin else None
        if found:
            wanted[role] = found
            continue
        wanted[role] = index.newest(name_re, arch=arch)
        if pin:
            s = wanted[role][0]
            note = (f"{role}: the locked {pin['name']} {pin['version']} is not in the mirror any more; "
                    f"built with the newest, {s['Package']} {s['Version']} (make guest-lock takes it once its sources are fetched)")
            log(f"warning: {note}")
            lock_notes.append(note)
    t_index = time.time()
    debs = {k: debian.download_deb(s, u, os.path.join(OUT, "debs")) for k, (s, u) in wanted.items()}
    t_debs = time.time()
    log(f"indexes {t_index - t0:.1f} s, packages {t_debs - t_index:.1f} s")
    packages = []
    for k, (s, u) in wanted.items():
        packages.append({
            "role": k, "name": s["Package"], "version": s["Version"], "architecture": s["Architecture"],
            "sha256": s["SHA256"], "bytes": int(s["Size"]), "url": f"{u}/{s['Filename']}",
            "sources": debian.source_names(s),
        })  # fmt: skip

    # 2. Files out of the packages.
    kernel_files = debian.deb_members(debs["kernel"], lambda n: n.startswith("boot/vmlinuz-") or n.endswith(".ko"))
    vmlinuz = [v for n, v in kernel_files.items() if n.startswith("boot/vmlinuz-")]
    if len(vmlinuz) != 1:
        raise RuntimeError(f"{debs['kernel']}: expected one boot/vmlinuz-*")
    by_name = {}
    for n, v in kernel_files.items():
        if n.endswith(".ko"):
            by_name[os.path.basename(n)[:-3].replace("-", "_")] = v
    modules = []
    for m in MODULES:
        ko = by_name.get(m.replace("-", "_"))
        if ko is None:
            raise RuntimeError(f"module {m} is not in {os.path.basename(debs['kernel'])} (built in, renamed?)")
        modules.append((m, strip_signature(ko)))
    del kernel_files, by_name
    busybox = debian.deb_members(debs["busybox"], lambda n: n == "bin/busybox")["bin/busybox"]
    bios = debian.deb_members(debs["seabios"], lambda n: n in ("usr/share/seabios/bios.bin", "usr/share/seabios/vgabios-stdvga.bin"))
    bb_path = os.path.join(OUT, "work", "busybox")
    write(bb_path, busybox)
    os.chmod(bb_path, 0o755)
    applets = busybox_applets(bb_path)

    # 3. The initramfs: busybox, the modules, /init.
    c = Newc(mtime=EPOCH)
    for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "newroot", "etc", "lib", "lib/modules"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.file("bin/busybox", busybox, 0o755)
    for a in applets:
        if a not in ("linuxrc", "sbin/init"):
            c.symlink(a, "/bin/busybox")
    c.file("init", open(os.path.join(HERE, "initramfs", "init"), "rb").read(), 0o755)
    c.file("etc/modules.order", ("\n".join(m for m, _ in modules) + "\n").encode())
    for m, ko in modules:
        c.file(f"lib/modules/{m}.ko", ko)
    initramfs = gzip.compress(c.finish(), 9, mtime=0)

    # 4. The system disk: busybox with its applet links, /sbin/init, the agent, /etc; ext4 made by the host.
    root = os.path.join(OUT, "work", "root")
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "run", "mnt", "root", "var/log", "home", "lib"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.makedirs(os.path.join(root, "tmp"))
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "root"), 0o700)
    shutil.copyfile(bb_path, os.path.join(root, "bin", "busybox"))
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    for a in applets:
        if a in ("linuxrc", "sbin/init"):
            continue
        os.symlink("/bin/busybox", os.path.join(root, a))
    src = os.path.join(HERE, "rootfs")
    for dirpath, _, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            dest = os.path.join(root, rel)
            if os.path.lexists(dest):
                os.unlink(dest)
            shutil.copyfile(os.path.join(dirpath, f), dest)
            os.chmod(dest, 0o755 if os.access(os.path.join(dirpath, f), os.X_OK) else 0o644)
    write(os.path.join(root, "etc", "bootcount"), b"0\n")
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            os.utime(os.path.join(dirpath, n), (EPOCH, EPOCH), follow_symlinks=False)
    os.utime(root, (EPOCH, EPOCH))
    img = os.path.join(OUT, "work", "disk.img")
    if os.path.exists(img):
        os.unlink(img)
    with open(img, "wb") as f:
        f.truncate(DISK_BYTES)
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(EPOCH))
    mkfs = shutil.which("mkfs.ext4") or "/usr/sbin/mkfs.ext4"
    subprocess.run(
        [mkfs, "-q", "-F", "-b", "4096", "-L", "rowsnap-root", "-U", DISK_UUID, "-I", "256",
         "-E", f"lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0,hash_seed={DISK_UUID}",
         "-d", root, img],
        check=True, env=env,
    )  # fmt: skip
    # mkfs -d copies each file's ctime and atime (utime cannot set a ctime): fix them, so the image's
    # bytes depend on its content only.
    head = subprocess.run([shutil.which("dumpe2fs") or "/usr/sbin/dumpe2fs", "-h", img], capture_output=True, text=True, check=True).stdout
    count = int(re.search(r"^Inode count:\s+(\d+)", head, re.M).group(1))
    free = int(re.search(r"^Free inodes:\s+(\d+)", head, re.M).group(1))
    cmds = "".join(f"sif <{i}> ctime @{EPOCH}\nsif <{i}> atime @{EPOCH}\n" for i in range(1, count - free + 1))
    debugfs = shutil.which("debugfs") or "/usr/sbin/debugfs"
    subprocess.run([debugfs, "-w", "-f", "-", img], input=cmds, text=True, check=True, env=env, capture_output=True)
    with open(img, "rb") as f:
        disk_gz = gzip.compress(f.read(), 9, mtime=0)

    # 5. www/: every file the page loads, and the manifest.
    v86_dir = os.path.join(ROOT, "tools", "node_modules", "v86")
    v86_pkg = json.load(open(os.path.join(v86_dir, "package.json")))
    files = {
        "v86/libv86.js": open(os.path.join(v86_dir, "build", "libv86.js"), "rb").read(),
        "v86/v86.wasm": open(os.path.join(v86_dir, "build", "v86.wasm"), "rb").read(),
        "v86/LICENSE": open(os.path.join(v86_dir, "LICENSE"), "rb").read(),
        # The console's terminal (Connect): npm @xterm/xterm, MIT, pinned in tools/package.json.
        "xterm/xterm.js": open(os.path.join(ROOT, "tools", "node_modules", "@xterm", "xterm", "lib", "xterm.js"), "rb").read(),
        "xterm/xterm.css": open(os.path.join(ROOT, "tools", "node_modules", "@xterm", "xterm", "css", "xterm.css"), "rb").read(),
        "xterm/LICENSE": open(os.path.join(ROOT, "tools", "node_modules", "@xterm", "xterm", "LICENSE"), "rb").read(),
        "bios/bios.bin": bios["usr/share/seabios/bios.bin"],
        "bios/vgabios-stdvga.bin": bios["usr/share/seabios/vgabios-stdvga.bin"],
        "linux/vmlinuz": vmlinuz[0],
        "linux/initramfs.img": initramfs,
        f"images/{IMAGE_NAME}.img.gz": disk_gz,
    }
    for sub in ("v86", "xterm", "bios", "linux", "images"):
        shutil.rmtree(os.path.join(WWW, sub), ignore_errors=True)
    listing = []
    build = hashlib.sha256()
    for path in sorted(files):
        data = files[path]
        write(os.path.join(WWW, path), data)
        digest = hashlib.sha256(data).hexdigest()
        build.update(f"{path}\0{digest}\0".encode())
        listing.append({"path": path, "bytes": len(data), "sha256": digest})
    build.update(CMDLINE.encode())
    manifest = {
        "build": build.hexdigest()[:16],
        "cmdline": CMDLINE,
        "image": {"name": IMAGE_NAME, "path": f"images/{IMAGE_NAME}.img.gz", "bytes": DISK_BYTES, "filesystem": "ext4", "block_size": 4096},
        "memory_bytes": 128 << 20,
        "v86": {"version": v86_pkg["version"], "license": v86_pkg.get("license")},
        "modules": [m for m, _ in modules],
        "packages": packages,
        # How the versions were chosen: "locked" (scripts/guest/packages.lock), "newest" (GUEST_UNLOCKED=1,
        # or no lock), or "newest-fallback" (a locked version the mirror no longer has; see lock_notes).
        "lock": "newest" if not locked else ("newest-fallback" if lock_notes else "locked"),
        "lock_notes": lock_notes,
        "files": listing,
    }
    write(os.path.join(WWW, "manifest.json"), (json.dumps(manifest, indent=1) + "\n").encode())
    shutil.rmtree(root, ignore_errors=True)
    os.unlink(img)
    total = sum(f["bytes"] for f in listing)
    log(f"built {manifest['build']} in {time.time() - t0:.1f} s: kernel {packages[0]['version']}, "
        f"busybox {packages[1]['version']}, seabios {packages[2]['version']}, v86 {v86_pkg['version']}; "
        f"{total:,} bytes in {WWW}")  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # a clear one-line reason, not a traceback, for what the build needs
        if os.environ.get("GUEST_DEBUG"):
            raise
        sys.exit(f"guest: build failed: {e}")
