//! Native benchmarks of the engine on the memory store, and the peer
//! (`qemu-img snapshot -c`). Prints the figures and writes them as a flat
//! JSON object to `target/bench/native.json`; `scripts/bench.sh` merges it
//! into `target/bench/engine.json`. Ratios are measured side by side in one
//! run; absolute times on these shared machines are not comparable.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use rowsnap::engine::memory::MemoryStore;
use rowsnap::engine::testkit::{block_on, Rng};
use rowsnap::engine::{Engine, MapRef, VolumeId, DEFAULT_BLOCK_SHIFT};

const MIB: u64 = 1 << 20;
const RUNS: usize = 9;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn secs<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let r = f();
    (t.elapsed().as_secs_f64(), r)
}

/// A volume of 2 GiB with `written` bytes of random data at its start.
fn volume_with(written: u64) -> (Engine<MemoryStore>, VolumeId) {
    let mut e = block_on(Engine::open(MemoryStore::new())).unwrap();
    let v = block_on(e.create_volume(2 << 30, DEFAULT_BLOCK_SHIFT)).unwrap();
    let mut rng = Rng::new(written);
    let mut buf = vec![0u8; (4 * MIB) as usize];
    let mut off = 0;
    while off < written {
        rng.fill(&mut buf);
        block_on(e.write(v, off, &buf)).unwrap();
        off += buf.len() as u64;
    }
    (e, v)
}

/// Medians of snapshot, rollback and clone on a volume with `written` bytes.
/// Before each timed run one block is written (untimed), so every run has
/// something to redirect or drop, as in real use.
fn ops_medians(written: u64) -> (f64, f64, f64) {
    let (mut e, v) = volume_with(written);
    let bs = 1u64 << DEFAULT_BLOCK_SHIFT;
    let block = vec![0x5a; bs as usize];
    let base = block_on(e.snapshot(v)).unwrap();
    let (mut snap, mut roll, mut clone) = (vec![], vec![], vec![]);
    for i in 0..RUNS as u64 {
        block_on(e.write(v, i * bs, &block)).unwrap();
        snap.push(secs(|| block_on(e.snapshot(v)).unwrap()).0);
        block_on(e.write(v, i * bs, &block)).unwrap();
        roll.push(secs(|| block_on(e.rollback(v, base)).unwrap()).0);
        let (t, c) = secs(|| block_on(e.clone_snapshot(base, None)).unwrap());
        clone.push(t);
        block_on(e.delete_volume(c)).unwrap();
    }
    (median(snap), median(roll), median(clone))
}

/// Median seconds of 20,000 random 4 KiB reads, over 7 batches.
fn random_reads(e: &mut Engine<MemoryStore>, v: VolumeId, size: u64) -> f64 {
    let mut rng = Rng::new(99);
    let mut t = vec![];
    for _ in 0..7 {
        let offs: Vec<u64> = (0..20_000).map(|_| rng.below(size / 4096) * 4096).collect();
        t.push(
            secs(|| {
                for &o in &offs {
                    std::hint::black_box(block_on(e.read(v, o, 4096)).unwrap());
                }
            })
            .0,
        );
    }
    median(t)
}

fn read_ratio() -> f64 {
    let size = 256 * MIB;
    let bs = 1u64 << DEFAULT_BLOCK_SHIFT;
    let blocks = size / bs;
    let setup = |snapshots: usize| {
        let (mut e, v) = volume_with(size);
        block_on(e.snapshot(v)).unwrap();
        let mut rng = Rng::new(5);
        let mut order: Vec<u64> = (0..blocks).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let per = (blocks / 100).max(1) as usize; // 1% of the blocks
        let mut buf = vec![0u8; bs as usize];
        for s in 0..snapshots.saturating_sub(1) {
            for &b in &order[s * per..(s + 1) * per] {
                rng.fill(&mut buf);
                block_on(e.write(v, b * bs, &buf)).unwrap();
            }
            block_on(e.snapshot(v)).unwrap();
        }
        (e, v)
    };
    let (mut e1, v1) = setup(1);
    let (mut e64, v64) = setup(64);
    let one = random_reads(&mut e1, v1, size);
    let many = random_reads(&mut e64, v64, size);
    println!("  random 4 KiB reads: {:.1} µs with 1 snapshot, {:.1} µs with 64", one / 20_000.0 * 1e6, many / 20_000.0 * 1e6);
    many / one
}

fn run(cmd: &mut Command) -> f64 {
    let (t, out) = secs(|| cmd.output().expect("run qemu tools"));
    assert!(out.status.success(), "{:?}: {}", cmd, String::from_utf8_lossy(&out.stderr));
    t
}

/// `qemu-img snapshot -c` on a qcow2 with 1 GiB written, less the same on an
/// empty qcow2 (process start-up): median seconds.
fn qemu_img_snapshot_1g() -> Option<f64> {
    if Command::new("qemu-img").arg("--version").output().is_err() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("rowsnap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let full = dir.join("full.qcow2");
    let empty = dir.join("empty.qcow2");
    for f in [&full, &empty] {
        run(Command::new("qemu-img").args(["create", "-q", "-f", "qcow2"]).arg(f).arg("2G"));
    }
    run(Command::new("qemu-io").args(["-f", "qcow2", "-c", "write -P 0xab 0 1G"]).arg(&full));
    let mut full_t = vec![];
    let mut empty_t = vec![];
    for i in 0..RUNS {
        let name = format!("s{i}");
        full_t.push(run(Command::new("qemu-img").args(["snapshot", "-c", &name]).arg(&full)));
        empty_t.push(run(Command::new("qemu-img").args(["snapshot", "-c", &name]).arg(&empty)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (f, e) = (median(full_t), median(empty_t));
    println!("  qemu-img snapshot -c: {:.2} ms with 1 GiB written, {:.2} ms empty", f * 1e3, e * 1e3);
    Some((f - e).max(0.0))
}

/// The qcow2 export against its peer: rowsnap's native qcow2 writer (find the
/// written clusters of a 256 MiB raw file, plan, write front to back) and
/// `qemu-img convert -O qcow2` on the same file, medians of 5 (both learn
/// where the data is from the file system). Returns
/// (rowsnap MB/s, qemu-img MB/s).
fn export_qcow2_vs_qemu_img() -> Option<(f64, f64)> {
    use rowsnap::image::qcow2::{Qcow2Writer, WRITER_CLUSTER_SIZE};
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    if Command::new("qemu-img").arg("--version").output().is_err() {
        println!("  qemu-img not found: the qcow2 export comparison is skipped");
        return None;
    }
    let dir = std::path::Path::new("target/bench/tmp");
    std::fs::create_dir_all(dir).unwrap();
    let (raw, out_r, out_q) = (dir.join("export.raw"), dir.join("rowsnap.qcow2"), dir.join("qemu.qcow2"));
    let size = 256 * MIB;
    {
        // Random data with every fourth MiB left as a hole.
        let f = std::fs::File::create(&raw).unwrap();
        f.set_len(size).unwrap();
        let mut rng = Rng::new(77);
        let mut buf = vec![0u8; MIB as usize];
        for i in 0..size / MIB {
            if i % 4 != 3 {
                rng.fill(&mut buf);
                f.write_all_at(&buf, i * MIB).unwrap();
            }
        }
        f.sync_all().unwrap();
    }
    let cs = WRITER_CLUSTER_SIZE;
    let rowsnap = || {
        // The written clusters from the file's allocation map (SEEK_DATA /
        // SEEK_HOLE), as the export in the browser takes them from the
        // engine's block map without reading data; qemu-img convert asks the
        // file system the same (block status).
        let f = std::fs::File::open(&raw).unwrap();
        let mut clusters = Vec::new();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        let mut at = 0i64;
        loop {
            // SAFETY: lseek on a file descriptor this closure owns.
            let data = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
            if data < 0 || data as u64 >= size {
                break;
            }
            let hole = unsafe { libc::lseek(fd, data, libc::SEEK_HOLE) }.min(size as i64);
            clusters.extend(data as u64 / cs..(hole as u64).div_ceil(cs));
            at = hole;
        }
        let w = Qcow2Writer::plan(size, &clusters);
        // The writer's layout: its metadata, then the clusters in order, each
        // guest-contiguous run (at most 4 MiB) copied with one read and one
        // write; a reader thread and a writer thread overlap the two, as
        // qemu-img convert overlaps its requests (8 coroutines on a thread pool).
        let mut out = std::fs::File::create(&out_r).unwrap();
        out.write_all(&w.metadata()).unwrap();
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(2);
        let (free_tx, free_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(3);
        for _ in 0..3 {
            free_tx.send(vec![0u8; (4 * MIB) as usize]).unwrap();
        }
        std::thread::scope(|sc| {
            let clusters = &clusters;
            let f = &f;
            sc.spawn(move || {
                let mut i = 0;
                while i < clusters.len() {
                    let mut n = 1;
                    while i + n < clusters.len() && clusters[i + n] == clusters[i] + n as u64 && n < 64 {
                        n += 1;
                    }
                    let len = (n as u64 * cs) as usize;
                    let mut buf = free_rx.recv().unwrap();
                    f.read_exact_at(&mut buf[..len], clusters[i] * cs).unwrap();
                    full_tx.send((buf, len)).unwrap();
                    i += n;
                }
            });
            for (buf, len) in full_rx {
                out.write_all(&buf[..len]).unwrap();
                let _ = free_tx.send(buf);
            }
        });
        assert_eq!(out.metadata().unwrap().len(), w.total_size());
    };
    let (mut tr, mut tq) = (vec![], vec![]);
    for _ in 0..5 {
        tr.push(secs(rowsnap).0);
        tq.push(run(Command::new("qemu-img").args(["convert", "-f", "raw", "-O", "qcow2"]).arg(&raw).arg(&out_q)));
    }
    // Both outputs hold the same content.
    run(Command::new("qemu-img").args(["compare", "-q"]).arg(&out_r).arg(&out_q));
    run(Command::new("qemu-img").args(["check", "-q"]).arg(&out_r));
    let (r, q) = (median(tr), median(tq));
    let mb = size as f64 / 1e6;
    println!("  qcow2 export of a 256 MiB raw file: rowsnap {:.0} MB/s, qemu-img convert {:.0} MB/s", mb / r, mb / q);
    let _ = std::fs::remove_dir_all(dir);
    Some((mb / r, mb / q))
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let mut out: BTreeMap<&str, f64> = BTreeMap::new();
    println!("native engine benchmarks (memory store, block size {} KiB)", (1u64 << DEFAULT_BLOCK_SHIFT) >> 10);
    let (s16, r16, c16) = ops_medians(16 * MIB);
    let (s1g, r1g, c1g) = ops_medians(1024 * MIB);
    println!("  snapshot: {:.1} µs at 16 MiB, {:.1} µs at 1 GiB", s16 * 1e6, s1g * 1e6);
    println!("  rollback: {:.1} µs at 16 MiB, {:.1} µs at 1 GiB", r16 * 1e6, r1g * 1e6);
    println!("  clone:    {:.1} µs at 16 MiB, {:.1} µs at 1 GiB", c16 * 1e6, c1g * 1e6);
    out.insert("snapshot_create_ratio_1g_vs_16m", s1g / s16);
    out.insert("rollback_ratio_1g_vs_16m", r1g / r16);
    out.insert("clone_ratio_1g_vs_16m", c1g / c16);
    out.insert("native_snapshot_1g_us", s1g * 1e6);
    out.insert("read_ratio_64_vs_1_snapshots", read_ratio());
    if let Some(q) = qemu_img_snapshot_1g() {
        out.insert("qemu_img_snapshot_1g_ms", q * 1e3);
        out.insert("qemu_img_snapshot_speedup_1g", q / s1g);
    }
    if let Some((r, q)) = export_qcow2_vs_qemu_img() {
        out.insert("native_export_qcow2_mb_s", r);
        out.insert("qemu_img_convert_qcow2_mb_s", q);
        out.insert("export_qcow2_speed_vs_qemu_img", r / q);
    }
    let _ = MapRef::Volume(VolumeId(0));
    std::fs::create_dir_all("target/bench").unwrap();
    let json = format!("{{\n{}\n}}\n", out.iter().map(|(k, v)| format!("  \"{k}\": {v:.6}")).collect::<Vec<_>>().join(",\n"));
    std::fs::write("target/bench/native.json", &json).unwrap();
    println!("{json}");
}
