#![cfg(not(target_arch = "wasm32"))]
//! qcow2 reader and writer against the real `qemu-img` / `qemu-io`.

use rowsnap::image::prefetch::Prefetch;
use rowsnap::image::qcow2::{Qcow2Error, Qcow2Reader, Qcow2Writer, ReadAt, WRITER_CLUSTER_SIZE};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

// ---------------------------------------------------------------------------------------------
// Allocation tracking: the largest single allocation request made by the current thread.
// ---------------------------------------------------------------------------------------------

struct Tracking;

thread_local! {
    static MAX_ALLOC: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = MAX_ALLOC.try_with(|m| {
        if size > m.get() {
            m.set(size)
        }
    });
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rowsnap-qcow2-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

mod support;
use support::run;

fn qemu_img(args: &[&str]) -> Output {
    run("qemu-img", args)
}

fn qemu_io(image: &Path, cmds: &[&str]) {
    let mut args = vec!["-f", "qcow2"];
    for c in cmds {
        args.push("-c");
        args.push(c);
    }
    args.push(s(image));
    let out = run("qemu-io", &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("error") && !stdout.contains("failed"), "qemu-io: {stdout}");
}

/// A small deterministic RNG (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// Merged guest ranges that `qemu-img map` reports as data.
fn qemu_data_ranges(image: &Path) -> Vec<(u64, u64)> {
    let out = qemu_img(&["map", "--output=json", "-f", "qcow2", s(image)]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for e in v.as_array().unwrap() {
        if e["data"] != serde_json::Value::Bool(true) {
            continue;
        }
        let start = e["start"].as_u64().unwrap();
        let len = e["length"].as_u64().unwrap();
        match ranges.last_mut() {
            Some((s0, l0)) if *s0 + *l0 == start => *l0 += len,
            _ => ranges.push((start, len)),
        }
    }
    ranges
}

/// Compares everything the reader gives for `image` with qemu's own view of it: every byte
/// (against `qemu-img convert -O raw`), random unaligned reads, and the allocated ranges
/// (against `qemu-img map`). Returns the reader for further checks.
fn verify_against_qemu(image: &Path) -> Qcow2Reader<File> {
    let dir = TempDir::new("raw");
    let raw_path = dir.path("out.raw");
    qemu_img(&["convert", "-f", "qcow2", "-O", "raw", s(image), s(&raw_path)]);
    let raw = File::open(&raw_path).unwrap();
    let raw_len = raw.metadata().unwrap().len();

    let mut r = Qcow2Reader::open(File::open(image).unwrap()).unwrap();
    assert_eq!(r.virtual_size(), raw_len, "virtual size of {image:?}");

    // Every byte, in 1 MiB chunks.
    let mut ours = vec![0u8; MIB as usize];
    let mut theirs = vec![0u8; MIB as usize];
    let mut off = 0;
    while off < raw_len {
        let n = (raw_len - off).min(MIB) as usize;
        r.read(off, &mut ours[..n]).unwrap();
        raw.read_exact_at(&mut theirs[..n], off).unwrap();
        if ours[..n] != theirs[..n] {
            let i = (0..n).find(|&i| ours[i] != theirs[i]).unwrap();
            panic!("{image:?}: byte {} differs: ours {:#x}, qemu {:#x}", off + i as u64, ours[i], theirs[i]);
        }
        off += n as u64;
    }

    // Random unaligned reads, some across cluster boundaries.
    let mut rng = Rng(raw_len);
    for _ in 0..200 {
        if raw_len == 0 {
            break;
        }
        let at = rng.below(raw_len);
        let n = rng.below((raw_len - at).min(3 * r.cluster_size() + 7)) as usize + 1;
        let n = n.min((raw_len - at) as usize);
        r.read(at, &mut ours[..n.min(MIB as usize)]).unwrap();
        let n = n.min(MIB as usize);
        raw.read_exact_at(&mut theirs[..n], at).unwrap();
        assert_eq!(ours[..n], theirs[..n], "{image:?}: read of {n} bytes at {at}");
    }

    // Allocated ranges: the same as qemu's data ranges, and only zeros outside them.
    let ranges = r.allocated_ranges().unwrap();
    assert_eq!(ranges, qemu_data_ranges(image), "allocated ranges of {image:?}");
    let mut prev_end = 0;
    for &(start, len) in ranges.iter().chain(std::iter::once(&(raw_len, 0))) {
        assert!(start >= prev_end && len > 0 || start == raw_len, "ranges sorted and disjoint");
        let mut hole = prev_end;
        while hole < start {
            let n = (start - hole).min(MIB) as usize;
            raw.read_exact_at(&mut theirs[..n], hole).unwrap();
            assert!(theirs[..n].iter().all(|&b| b == 0), "{image:?}: data in a hole at {hole}");
            hole += n as u64;
        }
        prev_end = start + len;
    }

    // An in-memory source gives the same answers.
    let bytes = fs::read(image).unwrap();
    let mut m = Qcow2Reader::open(bytes.as_slice()).unwrap();
    assert_eq!(m.allocated_ranges().unwrap(), ranges);
    let n = raw_len.min(MIB) as usize;
    m.read(0, &mut ours[..n]).unwrap();
    raw.read_exact_at(&mut theirs[..n], 0).unwrap();
    assert_eq!(ours[..n], theirs[..n]);

    r
}

/// The standard pattern of writes for a disk of `size` bytes (at least 4 MiB).
fn pattern_cmds(size: u64) -> Vec<String> {
    vec![
        "write -P 0xab 0 1048576".to_string(),
        "write -z 2097152 65536".to_string(),
        "write -z 524288 65536".to_string(),
        "write -P 0x11 1000 3000".to_string(),
        "write -P 0x5a 2621440 4096".to_string(),
        format!("write -P 0x77 {} 4096", size - 4096),
        format!("write -P 0x3c {} 512", size / 2 + 512),
    ]
}

fn create_patterned(image: &Path, size: u64, opts: &str) {
    let size_s = size.to_string();
    let mut args = vec!["create", "-q", "-f", "qcow2"];
    if !opts.is_empty() {
        args.extend(["-o", opts]);
    }
    args.extend([s(image), size_s.as_str()]);
    qemu_img(&args);
    let cmds = pattern_cmds(size);
    let cmds: Vec<&str> = cmds.iter().map(|c| c.as_str()).collect();
    qemu_io(image, &cmds);
}

/// A raw file with compressible text, incompressible noise, zeros and an odd tail.
/// A qcow2 of 2 MiB of the compressible pattern, compressed, 4 KiB clusters (by qemu-img).
fn compressed_4k(dir: &TempDir) -> Vec<u8> {
    let raw = dir.path("r.raw");
    make_raw(&raw, 2 * MIB);
    let c = dir.path("c.qcow2");
    qemu_img(&["convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", s(&raw), s(&c)]);
    fs::read(&c).unwrap()
}

fn make_raw(path: &Path, len: u64) {
    let mut data = vec![0u8; len as usize];
    let text = b"rowsnap qcow2 compressed cluster test pattern 0123456789 ";
    for (i, b) in data.iter_mut().enumerate().take((MIB as usize).min(len as usize)) {
        *b = text[i % text.len()];
    }
    let mut rng = Rng(42);
    let noise_end = (3 * MIB / 2).min(len) as usize;
    for b in data[(MIB as usize).min(noise_end)..noise_end].iter_mut() {
        *b = rng.next() as u8;
    }
    // Sparse bytes further on, and the last bytes.
    let mut i = 2 * MIB as usize + 70_000;
    while i < data.len() {
        data[i] = (i % 251) as u8 + 1;
        i += 200_003;
    }
    let tail = data.len().saturating_sub(100);
    for (k, b) in data[tail..].iter_mut().enumerate() {
        *b = k as u8 | 0x80;
    }
    fs::write(path, &data).unwrap();
}

fn exercise_all<R: ReadAt>(r: &mut Qcow2Reader<R>) -> Result<(), Qcow2Error> {
    let vs = r.virtual_size();
    let mut buf = vec![0u8; 256 * KIB as usize];
    let mut off = 0;
    while off < vs {
        let n = (vs - off).min(buf.len() as u64) as usize;
        r.read(off, &mut buf[..n])?;
        off += n as u64;
    }
    r.allocated_ranges()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading images qemu made
// ---------------------------------------------------------------------------------------------

#[test]
fn reads_v3_all_cluster_sizes() {
    for (cs, size) in [(512, 6 * MIB), (4096, 8 * MIB), (65536, 8 * MIB), (2 * MIB, 16 * MIB)] {
        let dir = TempDir::new("v3");
        let image = dir.path("v3.qcow2");
        create_patterned(&image, size, &format!("cluster_size={cs}"));
        let r = verify_against_qemu(&image);
        assert_eq!(r.cluster_size(), cs);
        assert_eq!(r.version(), 3);
        assert!(r.snapshots().is_empty());
    }
}

#[test]
fn reads_v2_image() {
    for cs in [4096u64, 65536] {
        let dir = TempDir::new("v2");
        let image = dir.path("v2.qcow2");
        create_patterned(&image, 8 * MIB, &format!("compat=0.10,cluster_size={cs}"));
        let r = verify_against_qemu(&image);
        assert_eq!(r.version(), 2);
        assert_eq!(r.cluster_size(), cs);
    }
}

#[test]
fn reads_compressed_images() {
    let dir = TempDir::new("compressed");
    let raw = dir.path("in.raw");
    make_raw(&raw, 5 * MIB + 12_345);
    for opts in ["cluster_size=65536", "cluster_size=512", "cluster_size=4096", "cluster_size=2097152", "compat=0.10"] {
        let image = dir.path("c.qcow2");
        let _ = fs::remove_file(&image);
        qemu_img(&["convert", "-c", "-f", "raw", "-O", "qcow2", "-o", opts, s(&raw), s(&image)]);
        let map = qemu_img(&["map", "--output=json", s(&image)]);
        assert!(String::from_utf8_lossy(&map.stdout).contains("\"compressed\": true"), "{opts}: qemu made no compressed cluster");
        verify_against_qemu(&image);
        // Then overwrite parts: a mix of compressed, standard and zero clusters.
        qemu_io(&image, &["write -P 0x42 100000 200000", "write -z 0 65536"]);
        verify_against_qemu(&image);
    }
}

#[test]
fn reads_active_layer_of_image_with_internal_snapshots() {
    let dir = TempDir::new("snap");
    let image = dir.path("snap.qcow2");
    create_patterned(&image, 8 * MIB, "");
    qemu_img(&["snapshot", "-c", "s1", s(&image)]);
    qemu_io(&image, &["write -P 0xee 65536 131072", "write -P 0x99 6291456 65536", "write -z 0 4096"]);
    qemu_img(&["snapshot", "-c", "second snapshot", s(&image)]);
    qemu_io(&image, &["write -P 0x12 4194304 1000"]);
    let r = verify_against_qemu(&image);
    let snaps = r.snapshots();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].name, "s1");
    assert_eq!(snaps[0].id, "1");
    assert_eq!(snaps[1].name, "second snapshot");
    assert_eq!(snaps[1].id, "2");
    for sn in snaps {
        assert_eq!(sn.disk_size, Some(8 * MIB));
        assert_eq!(sn.vm_state_size, 0);
        assert!(sn.l1_size >= 1);
        assert_eq!(sn.l1_table_offset % r.cluster_size(), 0);
        assert!(sn.date_sec > 0);
    }
}

#[test]
fn reads_sizes_that_are_not_cluster_multiples() {
    let dir = TempDir::new("odd");
    let image = dir.path("odd.qcow2");
    let size = 3 * MIB + 4096;
    qemu_img(&["create", "-q", "-f", "qcow2", s(&image), &size.to_string()]);
    qemu_io(&image, &["write -P 0xab 0 1048576", "write -z 2097152 65536", &format!("write -P 0xcd {} 4096", 3 * MIB)]);
    let mut r = verify_against_qemu(&image);
    assert_eq!(r.virtual_size(), size);
    // The last range is clipped to the virtual size.
    let ranges = r.allocated_ranges().unwrap();
    assert_eq!(ranges.last(), Some(&(3 * MIB, 4096)));
    // Reads past the end fail cleanly.
    let mut b = [0u8; 2];
    assert!(matches!(r.read(size - 1, &mut b), Err(Qcow2Error::OutOfRange { .. })));
    assert!(matches!(r.read(u64::MAX, &mut b), Err(Qcow2Error::OutOfRange { .. })));
    r.read(size, &mut []).unwrap();

    // A raw file of odd length, converted plain and compressed (qemu rounds up to 512).
    let raw = dir.path("odd.raw");
    make_raw(&raw, 3 * MIB + 1001);
    for compress in [false, true] {
        let image = dir.path("odd2.qcow2");
        let _ = fs::remove_file(&image);
        let mut args = vec!["convert", "-f", "raw", "-O", "qcow2"];
        if compress {
            args.push("-c");
        }
        args.extend([s(&raw), s(&image)]);
        qemu_img(&args);
        let r = verify_against_qemu(&image);
        assert_eq!(r.virtual_size(), (3 * MIB + 1001).next_multiple_of(512));
    }
}

/// A source that counts its reads, to see that contiguous clusters are read at once.
struct Counting<'a> {
    data: &'a [u8],
    reads: usize,
}

impl ReadAt for Counting<'_> {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        self.reads += 1;
        let mut d = self.data;
        d.read_at(offset, buf)
    }
}

#[test]
fn contiguous_clusters_are_read_with_one_source_read() {
    let dir = TempDir::new("count");
    let image = dir.path("c.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", s(&image), "4M"]);
    qemu_io(&image, &["write -P 0x61 0 1048576"]);
    let bytes = fs::read(&image).unwrap();
    let opened = Qcow2Reader::open(Counting { data: &bytes, reads: 0 }).unwrap().into_inner().reads;
    let mut r = Qcow2Reader::open(Counting { data: &bytes, reads: 0 }).unwrap();
    let mut buf = vec![0u8; MIB as usize];
    r.read(0, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0x61));
    // Open's reads, then one L2 table and one data read for 256 contiguous 4 KiB clusters.
    assert_eq!(r.into_inner().reads, opened + 2);
    let mut r = Qcow2Reader::open(Counting { data: &bytes, reads: 0 }).unwrap();
    assert_eq!(r.allocated_ranges().unwrap(), vec![(0, MIB)]);
}

#[test]
fn dirty_image_is_read() {
    let dir = TempDir::new("dirty");
    let image = dir.path("d.qcow2");
    create_patterned(&image, 4 * MIB, "");
    let mut bytes = fs::read(&image).unwrap();
    bytes[79] |= 1; // incompatible_features bit 0: dirty
    let mut r = Qcow2Reader::open(bytes.as_slice()).unwrap();
    assert!(r.is_dirty());
    let mut a = vec![0u8; 4 * MIB as usize];
    r.read(0, &mut a).unwrap();
    let mut clean = Qcow2Reader::open(File::open(&image).unwrap()).unwrap();
    assert!(!clean.is_dirty());
    let mut b = vec![0u8; 4 * MIB as usize];
    clean.read(0, &mut b).unwrap();
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

fn open_file(path: &Path) -> Result<Qcow2Reader<File>, Qcow2Error> {
    Qcow2Reader::open(File::open(path).unwrap())
}

#[test]
fn refuses_backing_file() {
    let dir = TempDir::new("backing");
    let base = dir.path("base.qcow2");
    let top = dir.path("top.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", s(&base), "4M"]);
    qemu_img(&["create", "-q", "-f", "qcow2", "-b", s(&base), "-F", "qcow2", s(&top)]);
    match open_file(&top) {
        Err(Qcow2Error::BackingFile(name)) => assert!(name.contains("base.qcow2"), "{name}"),
        other => panic!("expected a backing file refusal, got {:?}", other.err()),
    }
    let msg = open_file(&top).err().unwrap().to_string();
    assert!(msg.contains("backing file"), "{msg}");
}

#[test]
fn refuses_encrypted_images() {
    let dir = TempDir::new("crypt");
    for (format, method) in [("aes", 1), ("luks", 2)] {
        let image = dir.path(&format!("{format}.qcow2"));
        let out = Command::new("qemu-img")
            .args([
                "create",
                "-q",
                "-f",
                "qcow2",
                "--object",
                "secret,id=sec0,data=x",
                "-o",
                &format!("encrypt.format={format},encrypt.key-secret=sec0"),
                s(&image),
                "1M",
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!("skipping {format}: qemu-img cannot create it: {}", String::from_utf8_lossy(&out.stderr));
            continue;
        }
        assert_eq!(open_file(&image).err(), Some(Qcow2Error::Encrypted(method)), "{format}");
    }
}

#[test]
fn refuses_unsupported_features() {
    let dir = TempDir::new("features");
    let cases: [(&str, &str); 3] =
        [("compression_type=zstd", "compression type"), ("extended_l2=on", "extended L2"), ("data_file=DIR/data.raw", "external data file")];
    for (opts, expect) in cases {
        let image = dir.path("f.qcow2");
        let _ = fs::remove_file(&image);
        let opts = opts.replace("DIR", s(&dir.0));
        qemu_img(&["create", "-q", "-f", "qcow2", "-o", &opts, s(&image), "1M"]);
        match open_file(&image) {
            Err(Qcow2Error::Unsupported(msg)) => assert!(msg.contains(expect), "{opts}: {msg}"),
            other => panic!("{opts}: expected Unsupported, got {:?}", other.err()),
        }
    }

    // Patched headers.
    let image = dir.path("p.qcow2");
    create_patterned(&image, 4 * MIB, "");
    let good = fs::read(&image).unwrap();
    let patched = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        Qcow2Reader::open(b).err()
    };
    assert_eq!(patched(&|b| b[79] |= 2), Some(Qcow2Error::MarkedCorrupt));
    assert!(matches!(patched(&|b| b[72] |= 0x80), Some(Qcow2Error::Unsupported(m)) if m.contains("unknown")));
    assert_eq!(patched(&|b| b[0] = b'X'), Some(Qcow2Error::BadMagic(0x584649fb)));
    assert_eq!(patched(&|b| b[7] = 4), Some(Qcow2Error::UnsupportedVersion(4)));
    assert!(matches!(patched(&|b| b[23] = 22), Some(Qcow2Error::Malformed(m)) if m.contains("cluster_bits")));
    assert!(matches!(patched(&|b| b[23] = 8), Some(Qcow2Error::Malformed(_))));
    // Virtual size over 64 TiB.
    assert!(matches!(patched(&|b| b[24..32].copy_from_slice(&((64u64 << 40) + 512).to_be_bytes())), Some(Qcow2Error::TooLarge(_))));
    // Virtual size bigger than the L1 table covers.
    assert!(matches!(
        patched(&|b| b[24..32].copy_from_slice(&(1u64 << 40).to_be_bytes())),
        Some(Qcow2Error::Malformed(m)) if m.contains("L1")
    ));
    // L1 table unaligned, past the end of the file.
    assert!(matches!(patched(&|b| b[47] = 8), Some(Qcow2Error::Malformed(_))));
    assert!(matches!(patched(&|b| b[40..48].copy_from_slice(&(1u64 << 40).to_be_bytes())), Some(Qcow2Error::Truncated { .. })));
    // header_length too short.
    assert!(matches!(patched(&|b| b[103] = 96), Some(Qcow2Error::Malformed(_))));
    // Crypt method.
    assert_eq!(patched(&|b| b[35] = 2), Some(Qcow2Error::Encrypted(2)));
}

#[test]
fn bad_table_pointers_are_errors() {
    let dir = TempDir::new("pointers");
    let image = dir.path("p.qcow2");
    create_patterned(&image, 4 * MIB, "");
    let good = fs::read(&image).unwrap();
    let l1 = u64::from_be_bytes(good[40..48].try_into().unwrap()) as usize;
    let l2 = u64::from_be_bytes(good[l1..l1 + 8].try_into().unwrap()) & 0x00ff_ffff_ffff_fe00;
    let l2 = l2 as usize;
    let check = |b: Vec<u8>, what: &str| {
        let mut r = Qcow2Reader::open(b).unwrap();
        let e = exercise_all(&mut r).err();
        assert!(e.is_some(), "{what}: expected an error");
        eprintln!("{what}: {}", e.unwrap());
    };
    // L2 table past the end, and unaligned.
    let mut b = good.clone();
    b[l1..l1 + 8].copy_from_slice(&((1u64 << 40) | 1 << 63).to_be_bytes());
    check(b, "L2 past EOF");
    let mut b = good.clone();
    b[l1 + 6] |= 0x02;
    check(b, "L2 unaligned");
    // First data cluster past the end, and unaligned.
    let mut b = good.clone();
    b[l2..l2 + 8].copy_from_slice(&((1u64 << 40) | 1 << 63).to_be_bytes());
    check(b, "data past EOF");
    let mut b = good.clone();
    b[l2 + 6] |= 0x02;
    check(b, "data unaligned");
    // A compressed descriptor pointing past the end, and at garbage.
    let mut b = good.clone();
    b[l2..l2 + 8].copy_from_slice(&((1u64 << 62) | (1u64 << 40)).to_be_bytes());
    check(b, "compressed past EOF");
    let mut b = good.clone();
    b[l2..l2 + 8].copy_from_slice(&((1u64 << 62) | 512).to_be_bytes());
    check(b, "compressed garbage");
    // The zero flag in a v2 image.
    let image2 = dir.path("v2.qcow2");
    create_patterned(&image2, 4 * MIB, "compat=0.10");
    let good = fs::read(&image2).unwrap();
    let l1 = u64::from_be_bytes(good[40..48].try_into().unwrap()) as usize;
    let l2 = u64::from_be_bytes(good[l1..l1 + 8].try_into().unwrap()) & 0x00ff_ffff_ffff_fe00;
    let mut b = good.clone();
    b[l2 as usize + 7] |= 1;
    check(b, "v2 zero flag");
}

#[test]
fn truncated_files_are_errors() {
    let dir = TempDir::new("trunc");
    let image = dir.path("t.qcow2");
    create_patterned(&image, 4 * MIB, "");
    let full = fs::read(&image).unwrap();
    assert!(full.len() as u64 > 256 * KIB);
    for cut in (0..=256 * KIB as usize).step_by(4096) {
        let data = &full[..cut];
        let outcome = std::panic::catch_unwind(|| match Qcow2Reader::open(data) {
            Err(e) => Err(e),
            Ok(mut r) => exercise_all(&mut r),
        });
        match outcome {
            Err(_) => panic!("panic on the file cut at {cut}"),
            Ok(Ok(())) => panic!("no error for the file cut at {cut}"),
            Ok(Err(e)) => assert!(!e.to_string().is_empty()),
        }
    }
    // Cuts of a compressed image and a 4 KiB-cluster image: errors or not, never a panic.
    let full = compressed_4k(&dir);
    for cut in (0..full.len()).step_by(1531) {
        let data = &full[..cut];
        let outcome = std::panic::catch_unwind(|| {
            if let Ok(mut r) = Qcow2Reader::open(data) {
                let _ = exercise_all(&mut r);
            }
        });
        assert!(outcome.is_ok(), "panic on the compressed file cut at {cut}");
    }
}

#[test]
fn bad_magic_and_garbage_are_errors() {
    assert!(matches!(Qcow2Reader::open(&b""[..]), Err(Qcow2Error::Truncated { .. })));
    assert!(matches!(Qcow2Reader::open(vec![0u8; 4096]), Err(Qcow2Error::BadMagic(0))));
    let mut v = vec![0u8; 100];
    v[..4].copy_from_slice(b"QFI\xfb");
    v[7] = 3;
    assert!(matches!(Qcow2Reader::open(v.clone()), Err(Qcow2Error::Malformed(_))));
    v[23] = 16;
    assert!(matches!(Qcow2Reader::open(v), Err(Qcow2Error::Truncated { .. })));
    let e = Qcow2Reader::open(&b"not a disk image at all, just some text in a file......................."[..]);
    assert!(e.err().unwrap().to_string().contains("not a qcow2 image"));
}

// ---------------------------------------------------------------------------------------------
// Property test: mutated images never panic and never allocate more than 64 MiB at once
// ---------------------------------------------------------------------------------------------

fn exercise_bounded(data: &[u8]) -> Result<(), Qcow2Error> {
    exercise(data, None)
}

/// Fills what a [`Qcow2Error::Pending`] names from `data`.
fn fill(src: &Prefetch, data: &[u8], offset: u64, len: u64) {
    let cs = src.chunk_size();
    for i in src.missing_chunks(offset, len, 1) {
        let start = (i * cs) as usize;
        src.insert(i, data[start..(start + cs as usize).min(data.len())].to_vec());
    }
}

/// Runs `op` again after each Pending, as the importer does (fetching in between).
fn retrying<T>(pf: Option<&Prefetch>, data: &[u8], mut op: impl FnMut() -> Result<T, Qcow2Error>) -> Result<T, Qcow2Error> {
    for _ in 0..100_000 {
        match op() {
            Err(Qcow2Error::Pending { offset, len }) => fill(pf.expect("only a Prefetch is pending"), data, offset, len),
            r => {
                if let Some(pf) = pf {
                    pf.trim();
                }
                return r;
            }
        }
    }
    panic!("the reads never settle");
}

/// Opens and reads an image the ways an importer does: over the bytes, or (with `chunk`)
/// over a [`Prefetch`] of that chunk size that starts empty and is filled on demand.
fn exercise(data: &[u8], chunk: Option<u64>) -> Result<(), Qcow2Error> {
    match chunk {
        None => exercise_reader(data, None, Qcow2Reader::open(data)?),
        Some(c) => {
            let pf = Prefetch::new(data.len() as u64, c, 64);
            let r = retrying(Some(&pf), data, || Qcow2Reader::open(pf.clone()))?;
            exercise_reader(data, Some(&pf), r)
        }
    }
}

fn exercise_reader<R: ReadAt>(data: &[u8], pf: Option<&Prefetch>, mut r: Qcow2Reader<R>) -> Result<(), Qcow2Error> {
    let vs = r.virtual_size();
    let _ = r.snapshots().len();
    let mut buf = vec![0u8; 64 * KIB as usize];
    // The start (aligned and not), the end, and the allocated ranges.
    for (off, len) in [(0, 64 * KIB), (4096 + 7, 20_000), (65536, 64 * KIB)] {
        if off < vs {
            let n = len.min(vs - off) as usize;
            retrying(pf, data, || r.read(off, &mut buf[..n]))?;
        }
    }
    if vs > 0 {
        let n = vs.min(5000) as usize;
        retrying(pf, data, || r.read(vs - n as u64, &mut buf[..n]))?;
    }
    if pf.is_none() {
        // The whole walk at once (the importer walks in bounded steps, below).
        let ranges = r.allocated_ranges()?;
        for &(start, len) in ranges.iter().take(8) {
            let n = len.min(32 * KIB) as usize;
            r.read(start, &mut buf[..n])?;
        }
    }
    // The importer's walk: bounded steps from the start.
    let mut from = 0;
    for _ in 0..16 {
        let (runs, next) = retrying(pf, data, || r.allocated_from(from, MIB, 64 * MIB))?;
        assert!(next > from || next >= vs, "allocated_from moves on");
        if let Some(&(start, len)) = runs.first() {
            let n = len.min(32 * KIB) as usize;
            retrying(pf, data, || r.read(start, &mut buf[..n]))?;
        }
        if next >= vs {
            break;
        }
        from = next;
    }
    Ok(())
}

/// The qemu-img images the mutation tests start from (made once).
fn fuzz_bases() -> &'static Vec<Vec<u8>> {
    static BASES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    BASES.get_or_init(|| {
        let dir = TempDir::new("proptest-bases");
        let a = dir.path("a.qcow2");
        create_patterned(&a, 4 * MIB, "cluster_size=4096");
        qemu_img(&["snapshot", "-c", "s1", s(&a)]);
        let c = compressed_4k(&dir);
        let v2 = dir.path("v2.qcow2");
        create_patterned(&v2, 4 * MIB, "compat=0.10,cluster_size=512");
        vec![fs::read(&a).unwrap(), c, fs::read(&v2).unwrap()]
    })
}

#[test]
fn prefetched_reads_give_the_same_bytes() {
    for data in fuzz_bases() {
        let mut direct = Qcow2Reader::open(data.as_slice()).unwrap();
        let pf = Prefetch::new(data.len() as u64, 4096, 64);
        let mut fetched = retrying(Some(&pf), data, || Qcow2Reader::open(pf.clone())).unwrap();
        let vs = direct.virtual_size();
        let mut a = vec![0u8; 192 * KIB as usize];
        let mut b = a.clone();
        let mut off = 0;
        while off < vs {
            let n = (vs - off).min(a.len() as u64) as usize;
            direct.read(off, &mut a[..n]).unwrap();
            retrying(Some(&pf), data, || fetched.read(off, &mut b[..n])).unwrap();
            assert!(a[..n] == b[..n], "offset {off}");
            off += n as u64;
        }
        let mut runs = Vec::new();
        let mut from = 0;
        while from < vs {
            let (r, next) = retrying(Some(&pf), data, || fetched.allocated_from(from, 300 * KIB, 2 * MIB)).unwrap();
            runs.extend(r);
            from = next;
        }
        // Merge runs split by step boundaries, then compare with the whole walk.
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s0, l) in runs {
            match merged.last_mut() {
                Some((ms, ml)) if *ms + *ml == s0 => *ml += l,
                _ => merged.push((s0, l)),
            }
        }
        assert_eq!(merged, direct.allocated_ranges().unwrap());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, failure_persistence: None, ..Default::default() })]

    /// Mutated headers and tables (8-byte fields set to any value, bytes flipped, the file
    /// cut short): never a panic, never an allocation over 64 MiB, and the prefetched path
    /// (the importer's) decides as the direct one does.
    #[test]
    fn proptest_mutated_images(
        base in 0usize..3,
        fields in proptest::collection::vec((0u64..16_384, proptest::prelude::any::<u64>()), 0..4),
        bytes in proptest::collection::vec((0u64..131_072, proptest::prelude::any::<u8>()), 0..6),
        cut in proptest::option::of(0.0f64..1.0),
    ) {
        let mut data = fuzz_bases()[base].clone();
        let span = data.len().min(128 * KIB as usize) as u64;
        for (at, v) in fields {
            let at = (at * 8 % (span - 8)) as usize;
            data[at..at + 8].copy_from_slice(&v.to_be_bytes());
        }
        for (at, b) in bytes {
            data[(at % span) as usize] = b;
        }
        if let Some(f) = cut {
            data.truncate((data.len() as f64 * f) as usize);
        }
        MAX_ALLOC.with(|m| m.set(0));
        let direct = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(&data, None)));
        let fetched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise(&data, Some(4096))));
        let biggest = MAX_ALLOC.with(|m| m.get());
        proptest::prop_assert!(direct.is_ok() && fetched.is_ok(), "a panic");
        proptest::prop_assert!(biggest <= 64 * MIB as usize, "an allocation of {} bytes", biggest);
        let (direct, fetched) = (direct.unwrap(), fetched.unwrap());
        proptest::prop_assert_eq!(direct.is_ok(), fetched.is_ok(), "direct {:?} vs prefetched {:?}", direct, fetched);
    }
}

#[test]
fn mutated_images_never_panic() {
    let dir = TempDir::new("fuzz");
    let mut bases = Vec::new();
    // 4 KiB clusters: header, refcount table, L1, L2 and snapshot table in the first 128 KiB.
    let a = dir.path("a.qcow2");
    create_patterned(&a, 4 * MIB, "cluster_size=4096");
    qemu_img(&["snapshot", "-c", "s1", s(&a)]);
    qemu_io(&a, &["write -P 0x21 65536 8192"]);
    bases.push(fs::read(&a).unwrap());
    // Compressed, 4 KiB clusters.
    bases.push(compressed_4k(&dir));
    // Version 2, 512-byte clusters.
    let v2 = dir.path("v2.qcow2");
    create_patterned(&v2, 4 * MIB, "compat=0.10,cluster_size=512");
    bases.push(fs::read(&v2).unwrap());
    for b in &bases {
        exercise_bounded(b).unwrap();
    }

    let interesting: [u64; 10] = [0, 1, 0x200, 0x1000, 0x10000, 0x7fff_ffff, 0xffff_ffff, 1 << 62, 1 << 63, u64::MAX];
    let mut errors = 0;
    for iter in 0..2000u64 {
        let seed = iter.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5eed;
        let mut rng = Rng(seed);
        let base = &bases[rng.below(bases.len() as u64) as usize];
        let mut data = base.clone();
        let span = data.len().min(128 * KIB as usize) as u64;
        match rng.below(4) {
            0 => {
                // A header field set to an interesting value.
                let at = (rng.below(13) * 8) as usize;
                let v = if rng.below(2) == 0 { interesting[rng.below(interesting.len() as u64) as usize] } else { rng.below(data.len() as u64 * 2) };
                if rng.below(2) == 0 {
                    data[at..at + 8].copy_from_slice(&v.to_be_bytes());
                } else {
                    data[at + 4..at + 8].copy_from_slice(&(v as u32).to_be_bytes());
                }
            }
            1 => {
                // An 8-byte table entry somewhere in the metadata set to an interesting value.
                let at = (rng.below(span / 8) * 8) as usize;
                let v = interesting[rng.below(interesting.len() as u64) as usize] | (rng.below(data.len() as u64) & !0x1ff);
                data[at..at + 8].copy_from_slice(&v.to_be_bytes());
            }
            _ => {
                // Random bytes.
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(span) as usize;
                    data[at] = rng.next() as u8;
                }
            }
        }
        if rng.below(10) == 0 {
            let keep = rng.below(data.len() as u64) as usize;
            data.truncate(keep);
        }

        MAX_ALLOC.with(|m| m.set(0));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exercise_bounded(&data)));
        let biggest = MAX_ALLOC.with(|m| m.get());
        match outcome {
            Err(_) => panic!("panic with seed {seed:#x} (iteration {iter})"),
            Ok(r) => errors += r.is_err() as u32,
        }
        assert!(biggest <= 64 * MIB as usize, "seed {seed:#x} (iteration {iter}): an allocation of {biggest} bytes");
    }
    eprintln!("mutated images: {errors} of 2000 were refused");
    assert!(errors > 0);
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

fn cluster_pattern(cluster: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = ((cluster as usize * 7 + i / 13) % 253) as u8 + 1;
    }
}

/// Writes the planned image with patterned clusters (`valid` bytes of each, the rest zero)
/// to `image`, and the same content as a raw file to `raw`.
fn write_planned(w: &Qcow2Writer, clusters: &[u64], image: &Path, raw: &Path) {
    let cs = WRITER_CLUSTER_SIZE;
    let vs = w.virtual_size();
    let mut f = File::create(image).unwrap();
    let meta = w.metadata();
    assert_eq!(meta.len() as u64, w.data_offset(0));
    f.write_all(&meta).unwrap();
    let r = File::create(raw).unwrap();
    r.set_len(vs).unwrap();
    let mut buf = vec![0u8; cs as usize];
    let mut pos = meta.len() as u64;
    for (i, &c) in clusters.iter().enumerate() {
        assert_eq!(w.data_offset(i), pos, "data clusters follow each other");
        let valid = (vs - c * cs).min(cs) as usize;
        buf.fill(0);
        cluster_pattern(c, &mut buf[..valid]);
        f.write_all(&buf).unwrap();
        r.write_all_at(&buf[..valid], c * cs).unwrap();
        pos += cs;
    }
    assert_eq!(pos, w.total_size());
    assert_eq!(f.metadata().unwrap().len(), w.total_size());
}

fn qemu_check_clean(image: &Path) {
    let out = qemu_img(&["check", "-f", "qcow2", s(image)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No errors were found on the image."), "qemu-img check: {text}");
    assert!(!text.contains("leaked"), "qemu-img check: {text}");
}

fn qemu_compare(raw: &Path, image: &Path) {
    let out = qemu_img(&["compare", "-f", "raw", "-F", "qcow2", s(raw), s(image)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Images are identical"), "qemu-img compare: {text}");
}

fn merged_ranges(clusters: &[u64], vs: u64) -> Vec<(u64, u64)> {
    let cs = WRITER_CLUSTER_SIZE;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &c in clusters {
        let (start, end) = (c * cs, ((c + 1) * cs).min(vs));
        match out.last_mut() {
            Some((s0, l0)) if *s0 + *l0 == start => *l0 = end - *s0,
            _ => out.push((start, end - start)),
        }
    }
    out
}

fn compare_reader_with_raw(image: &Path, raw: &Path) {
    let mut r = Qcow2Reader::open(File::open(image).unwrap()).unwrap();
    let raw = File::open(raw).unwrap();
    let vs = raw.metadata().unwrap().len();
    assert_eq!(r.virtual_size(), vs);
    let mut a = vec![0u8; MIB as usize];
    let mut b = vec![0u8; MIB as usize];
    let mut off = 0;
    while off < vs {
        let n = (vs - off).min(MIB) as usize;
        r.read(off, &mut a[..n]).unwrap();
        raw.read_exact_at(&mut b[..n], off).unwrap();
        assert!(a[..n] == b[..n], "reader and raw differ in the MiB at {off}");
        off += n as u64;
    }
}

#[test]
fn writer_scattered_clusters() {
    let dir = TempDir::new("writer");
    let vs = 100 * MIB + 512;
    let clusters = [0u64, 1, 5, 777, 1599, 1600];
    let w = Qcow2Writer::plan(vs, &clusters);
    assert_eq!(w.virtual_size(), vs);
    let image = dir.path("w.qcow2");
    let raw = dir.path("w.raw");
    write_planned(&w, &clusters, &image, &raw);
    qemu_check_clean(&image);
    qemu_compare(&raw, &image);
    compare_reader_with_raw(&image, &raw);
    let mut r = Qcow2Reader::open(File::open(&image).unwrap()).unwrap();
    assert_eq!(r.allocated_ranges().unwrap(), merged_ranges(&clusters, vs));
    assert_eq!(r.allocated_ranges().unwrap(), qemu_data_ranges(&image));
    assert_eq!(r.cluster_size(), WRITER_CLUSTER_SIZE);
    // qemu sees the format we meant.
    let info = qemu_img(&["info", "--output=json", "-f", "qcow2", s(&image)]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["virtual-size"], vs);
    assert_eq!(v["cluster-size"], WRITER_CLUSTER_SIZE);
    assert_eq!(v["format-specific"]["data"]["compat"], "1.1");
    assert_eq!(v["format-specific"]["data"]["refcount-bits"], 16);
}

#[test]
fn writer_empty_images() {
    let dir = TempDir::new("writer-empty");
    for vs in [10 * MIB, 0, 1000] {
        let w = Qcow2Writer::plan(vs, &[]);
        let image = dir.path("e.qcow2");
        let raw = dir.path("e.raw");
        write_planned(&w, &[], &image, &raw);
        qemu_check_clean(&image);
        qemu_compare(&raw, &image);
        compare_reader_with_raw(&image, &raw);
        let mut r = Qcow2Reader::open(File::open(&image).unwrap()).unwrap();
        assert_eq!(r.virtual_size(), vs.next_multiple_of(512));
        assert!(r.allocated_ranges().unwrap().is_empty());
    }
}

#[test]
fn writer_many_l2_tables_and_refcount_blocks() {
    // 40,000 contiguous clusters (5 L2 tables, over one refcount block's 32,768 clusters) and
    // one more in an 8th L2 table. The data stays sparse on disk (zeros) except a few clusters.
    let dir = TempDir::new("writer-big");
    let cs = WRITER_CLUSTER_SIZE;
    let vs = 4096 * MIB;
    let mut clusters: Vec<u64> = (0..40_000).collect();
    clusters.push(60_000);
    let w = Qcow2Writer::plan(vs, &clusters);
    // header, refcount table, 2 refcount blocks, L1, 6 L2 tables.
    assert_eq!(w.data_offset(0), 11 * cs);
    assert_eq!(w.total_size(), (11 + clusters.len() as u64) * cs);
    let image = dir.path("big.qcow2");
    let raw = dir.path("big.raw");
    let f = File::create(&image).unwrap();
    f.write_all_at(&w.metadata(), 0).unwrap();
    f.set_len(w.total_size()).unwrap();
    let r = File::create(&raw).unwrap();
    r.set_len(vs).unwrap();
    let mut buf = vec![0u8; cs as usize];
    for i in [0usize, 8191, 8192, 32_767, 32_768, 39_999, 40_000] {
        let c = clusters[i];
        cluster_pattern(c, &mut buf);
        f.write_all_at(&buf, w.data_offset(i)).unwrap();
        r.write_all_at(&buf, c * cs).unwrap();
    }
    drop((f, r));
    qemu_check_clean(&image);
    qemu_compare(&raw, &image);
    let mut q = Qcow2Reader::open(File::open(&image).unwrap()).unwrap();
    assert_eq!(q.allocated_ranges().unwrap(), vec![(0, 40_000 * cs), (60_000 * cs, cs)]);
    let mut got = vec![0u8; cs as usize];
    for c in [0u64, 8191, 8192, 32_767, 32_768, 39_999, 60_000] {
        cluster_pattern(c, &mut buf);
        q.read(c * cs, &mut got).unwrap();
        assert!(got == buf, "cluster {c}");
    }
    q.read(50_000 * cs, &mut got).unwrap();
    assert!(got.iter().all(|&b| b == 0));
}

#[test]
fn writer_write_to_and_largest_size() {
    let dir = TempDir::new("writer-to");
    let vs = MIB + 4096;
    let clusters = [0u64, 3, 15, 16];
    let w = Qcow2Writer::plan(vs, &clusters);
    let mut out = Vec::new();
    w.write_to(&mut out, |i, c, buf| {
        assert_eq!(clusters[i], c);
        let valid = (vs - c * WRITER_CLUSTER_SIZE).min(WRITER_CLUSTER_SIZE) as usize;
        cluster_pattern(c, &mut buf[..valid]);
        Ok(())
    })
    .unwrap();
    assert_eq!(out.len() as u64, w.total_size());
    let image = dir.path("t.qcow2");
    fs::write(&image, &out).unwrap();
    qemu_check_clean(&image);
    let mut r = Qcow2Reader::open(out).unwrap();
    assert_eq!(r.allocated_ranges().unwrap(), merged_ranges(&clusters, vs));
    verify_against_qemu(&image);

    // The largest size: 64 TiB (a 1 MiB L1 table).
    let w = Qcow2Writer::plan(64 << 40, &[0, (64 << 40) / WRITER_CLUSTER_SIZE - 1]);
    let image = dir.path("huge.qcow2");
    let f = File::create(&image).unwrap();
    f.write_all_at(&w.metadata(), 0).unwrap();
    f.set_len(w.total_size()).unwrap();
    drop(f);
    qemu_check_clean(&image);
    let mut r = Qcow2Reader::open(File::open(&image).unwrap()).unwrap();
    assert_eq!(r.virtual_size(), 64 << 40);
    assert_eq!(r.allocated_ranges().unwrap(), vec![(0, WRITER_CLUSTER_SIZE), ((64 << 40) - WRITER_CLUSTER_SIZE, WRITER_CLUSTER_SIZE)]);
}

#[test]
fn writer_rejects_bad_plans() {
    let cs = WRITER_CLUSTER_SIZE;
    assert!(matches!(Qcow2Writer::try_plan(MIB, &[3, 2]), Err(Qcow2Error::InvalidPlan(_))));
    assert!(matches!(Qcow2Writer::try_plan(MIB, &[2, 2]), Err(Qcow2Error::InvalidPlan(_))));
    assert!(matches!(Qcow2Writer::try_plan(MIB, &[MIB / cs]), Err(Qcow2Error::InvalidPlan(_))));
    assert!(matches!(Qcow2Writer::try_plan((64 << 40) + 1, &[]), Err(Qcow2Error::InvalidPlan(_))));
    assert!(Qcow2Writer::try_plan(MIB + 1, &[MIB / cs]).is_ok());
    assert!(std::panic::catch_unwind(|| Qcow2Writer::plan(MIB, &[1, 0])).is_err());
}
