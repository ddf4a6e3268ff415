//! Test equipment shared by the native tests (`tests/engine.rs`) and the
//! browser tests (`tests/browser.rs`): the same cases run on the memory store
//! and on IndexedDB.
//!
//! - [`Model`]: the reference. Every volume and every snapshot is a full copy
//!   of its bytes; nothing is shared.
//! - [`random_ops`]: random write / read / snapshot / rollback / clone /
//!   resize / delete sequences, applied to the engine and the model and
//!   compared after every step, with [`Engine::check`] along the way.
//! - [`FailingStore`]: a store whose Nth commit fails, before or after it
//!   becomes durable.
//! - [`digest`]: everything an engine holds, for before/after comparisons.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::memory::{MemoryStore, MemoryTx};
use super::store::{Key, Store, StoreError, Table, Tx};
use super::{Engine, EngineError, MapRef, SnapshotId, VolumeId};

pub use crate::util::{fnv, Rng};

#[derive(Clone, Debug)]
struct ModelVolume {
    data: Vec<u8>,
    shift: u8,
    /// Blocks written (non-zero) since the base: the next snapshot's increment.
    written: BTreeSet<u64>,
    key: u64,
}

#[derive(Clone, Debug)]
struct ModelSnapshot {
    data: Vec<u8>,
    shift: u8,
    volume: u64,
    key: u64,
}

/// The reference: full copies, nothing shared.
#[derive(Clone, Debug, Default)]
pub struct Model {
    volumes: BTreeMap<u64, ModelVolume>,
    snapshots: BTreeMap<u64, ModelSnapshot>,
}

fn nonzero_blocks(data: &[u8], shift: u8) -> u64 {
    data.chunks(1 << shift).filter(|c| c.iter().any(|&b| b != 0)).count() as u64
}

/// What the random sequences may do.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_volumes: usize,
    pub max_snapshots: usize,
    /// Check every invariant every this many operations.
    pub check_every: usize,
    /// Compare every volume and snapshot in full every this many operations.
    pub compare_every: usize,
    /// Volumes are created sealed with data key 1 or 2 (given to the engine)
    /// or plain, at random: the model then also checks that no operation
    /// mixes keys and that every sealed block opens.
    pub sealed: bool,
}

/// The data keys the sealed random sequences and scenario use.
pub fn test_key(id: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    Rng::new(id ^ 0x5ea1).fill(&mut k);
    k
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_volumes: 5, max_snapshots: 12, check_every: 50, compare_every: 25, sealed: false }
    }
}

fn fail(seed: u64, step: usize, what: String) -> String {
    format!("seed {seed}, step {step}: {what}")
}

/// Runs `n` random operations on `engine` and on the model, comparing as it
/// goes. Returns a message naming the seed and step at the first difference.
pub async fn random_ops<S: Store>(engine: &mut Engine<S>, seed: u64, n: usize, limits: Limits) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let mut model = Model::default();
    if limits.sealed {
        for k in [1, 2] {
            engine.set_key(k, Some(&test_key(k)));
        }
    }
    for (id, v) in existing(engine).await.map_err(|e| e.to_string())? {
        model.volumes.insert(id, v);
    }
    for step in 0..n {
        let e = |w: String| fail(seed, step, w);
        let vols: Vec<u64> = model.volumes.keys().copied().collect();
        let snaps: Vec<u64> = model.snapshots.keys().copied().collect();
        let pick = |rng: &mut Rng, v: &[u64]| v[rng.below(v.len() as u64) as usize];
        let roll = rng.below(100);
        if vols.is_empty() || (roll < 4 && vols.len() < limits.max_volumes) {
            // Create: small, one leaf and a bit, or several leaves with an odd size.
            let shift = if rng.chance(80) { 12 } else { 13 };
            let size = match rng.below(3) {
                0 => 1 + rng.below(64 << 10),
                1 => (1 << 20) + rng.below(4096),
                _ => (5 << 20) + 1 + rng.below(3 << 20),
            };
            let key = if limits.sealed { rng.below(3) } else { 0 };
            let id = engine.create_sealed_volume(size, shift, key).await.map_err(|x| e(format!("create: {x}")))?;
            model.volumes.insert(id.0, ModelVolume { data: vec![0; size as usize], shift, written: BTreeSet::new(), key });
        } else if roll < 45 {
            let v = pick(&mut rng, &vols);
            let mv = model.volumes.get_mut(&v).unwrap();
            let size = mv.data.len() as u64;
            let bs = 1u64 << mv.shift;
            let len = match rng.below(4) {
                0 => 1 + rng.below(100),
                1 => bs,
                2 => 1 + rng.below(3 * bs),
                _ => 1 + rng.below(12 * bs),
            }
            .min(size);
            let mut offset = rng.below(size - len + 1);
            if rng.chance(40) {
                offset = (offset / bs * bs).min(size - len);
            }
            let mut data = vec![0u8; len as usize];
            match rng.below(5) {
                0 => {} // zeros: unmaps whole blocks
                1 => data.fill(rng.below(256) as u8),
                _ => rng.fill(&mut data),
            }
            engine.write(VolumeId(v), offset, &data).await.map_err(|x| e(format!("write {v} {offset}+{len}: {x}")))?;
            mv.data[offset as usize..(offset + len) as usize].copy_from_slice(&data);
            for b in offset / bs..=(offset + len - 1) / bs {
                let blk = &mv.data[(b * bs) as usize..((b + 1) * bs).min(size) as usize];
                if blk.iter().any(|&x| x != 0) {
                    mv.written.insert(b);
                } else {
                    mv.written.remove(&b);
                }
            }
        } else if roll < 60 {
            let v = pick(&mut rng, &vols);
            let size = model.volumes[&v].data.len() as u64;
            let len = rng.below(size.min(40_000) + 1);
            let offset = rng.below(size - len + 1);
            let got = engine.read(VolumeId(v), offset, len).await.map_err(|x| e(format!("read: {x}")))?;
            let want = &model.volumes[&v].data[offset as usize..(offset + len) as usize];
            if got != want {
                return Err(e(format!("volume {v} {offset}+{len} differs from the model")));
            }
        } else if roll < 72 {
            if snaps.len() >= limits.max_snapshots {
                continue;
            }
            let v = pick(&mut rng, &vols);
            let s = engine.snapshot(VolumeId(v)).await.map_err(|x| e(format!("snapshot: {x}")))?;
            let mv = model.volumes.get_mut(&v).unwrap();
            let info = engine.snapshot_info(s).await.map_err(|x| e(x.to_string()))?;
            let bs = 1u64 << mv.shift;
            if info.incremental_bytes != mv.written.len() as u64 * bs {
                return Err(e(format!("snapshot {} incremental {} and the model {}", s.0, info.incremental_bytes, mv.written.len() as u64 * bs)));
            }
            if info.referenced_bytes != nonzero_blocks(&mv.data, mv.shift) * bs {
                return Err(e(format!("snapshot {} referenced bytes differ from the model", s.0)));
            }
            mv.written.clear();
            if info.key != mv.key {
                return Err(e(format!("snapshot {} has key {} and its volume {}", s.0, info.key, mv.key)));
            }
            model.snapshots.insert(s.0, ModelSnapshot { data: mv.data.clone(), shift: mv.shift, volume: v, key: mv.key });
        } else if roll < 78 {
            // Rollback to a snapshot of this volume's geometry (any of them, older or newer).
            let v = pick(&mut rng, &vols);
            let mv = model.volumes.get_mut(&v).unwrap();
            let fits: Vec<u64> = model.snapshots.iter().filter(|(_, s)| s.shift == mv.shift && s.data.len() <= mv.data.len()).map(|(&id, _)| id).collect();
            if fits.is_empty() {
                continue;
            }
            let s = pick(&mut rng, &fits);
            if model.snapshots[&s].key != mv.key {
                // Keys never mix: refused, and nothing changes.
                match engine.rollback(VolumeId(v), SnapshotId(s)).await {
                    Err(EngineError::KeyMismatch) => continue,
                    other => return Err(e(format!("rollback across keys gave {other:?}"))),
                }
            }
            engine.rollback(VolumeId(v), SnapshotId(s)).await.map_err(|x| e(format!("rollback: {x}")))?;
            let sd = &model.snapshots[&s].data;
            mv.data[..sd.len()].copy_from_slice(sd);
            mv.data[sd.len()..].fill(0);
            mv.written.clear();
        } else if roll < 83 {
            if snaps.is_empty() || vols.len() >= limits.max_volumes {
                continue;
            }
            let s = pick(&mut rng, &snaps);
            let ms = &model.snapshots[&s];
            let size = ms.data.len() as u64 + if rng.chance(30) { rng.below(10_000) } else { 0 };
            let v = engine.clone_snapshot(SnapshotId(s), Some(size)).await.map_err(|x| e(format!("clone: {x}")))?;
            let mut data = ms.data.clone();
            data.resize(size as usize, 0);
            model.volumes.insert(v.0, ModelVolume { data, shift: ms.shift, written: BTreeSet::new(), key: ms.key });
        } else if roll < 85 {
            let v = pick(&mut rng, &vols);
            let mv = model.volumes.get_mut(&v).unwrap();
            let size = mv.data.len() as u64 + rng.below(20_000);
            engine.resize(VolumeId(v), size).await.map_err(|x| e(format!("resize: {x}")))?;
            mv.data.resize(size as usize, 0);
        } else if roll < 93 {
            if snaps.is_empty() {
                continue;
            }
            let s = pick(&mut rng, &snaps);
            freeing(engine, MapRef::Snapshot(SnapshotId(s))).await.map_err(|x| e(format!("delete snapshot {s}: {x}")))?;
            model.snapshots.remove(&s);
        } else if roll < 96 {
            if vols.len() < 2 {
                continue;
            }
            let v = pick(&mut rng, &vols);
            freeing(engine, MapRef::Volume(VolumeId(v))).await.map_err(|x| e(format!("delete volume {v}: {x}")))?;
            model.volumes.remove(&v);
        } else {
            if snaps.is_empty() {
                continue;
            }
            let s = pick(&mut rng, &snaps);
            let size = model.snapshots[&s].data.len() as u64;
            let len = rng.below(size.min(40_000) + 1);
            let offset = rng.below(size - len + 1);
            let got = engine.read_snapshot(SnapshotId(s), offset, len).await.map_err(|x| e(format!("read snapshot: {x}")))?;
            if got != model.snapshots[&s].data[offset as usize..(offset + len) as usize] {
                return Err(e(format!("snapshot {s} {offset}+{len} differs from the model")));
            }
        }
        if (step + 1) % limits.compare_every == 0 || step + 1 == n {
            compare(engine, &model).await.map_err(e)?;
        }
        if (step + 1) % limits.check_every == 0 || step + 1 == n {
            engine.check().await.map_err(|x| e(format!("check: {x}")))?;
        }
    }
    Ok(())
}

/// The volumes already in an engine, as model volumes (their history unknown).
async fn existing<S: Store>(engine: &mut Engine<S>) -> Result<Vec<(u64, ModelVolume)>, EngineError> {
    let mut out = Vec::new();
    for v in engine.list_volumes().await? {
        let data = engine.read(v.id, 0, v.size).await?;
        let written = if v.written_since_base_bytes == 0 {
            BTreeSet::new()
        } else {
            return Ok(Vec::new()); // not a state the model can describe; start afresh
        };
        out.push((v.id.0, ModelVolume { data, shift: v.block_size.trailing_zeros() as u8, written, key: v.key }));
    }
    Ok(out)
}

/// Deletes a volume or snapshot and checks that exactly its exclusive bytes were freed.
async fn freeing<S: Store>(engine: &mut Engine<S>, map: MapRef) -> Result<(), String> {
    // What earlier rollbacks dropped is released first, so that the figures compare.
    engine.collect_garbage().await.map_err(|x| x.to_string())?;
    let exclusive = engine.exclusive_bytes(map).await.map_err(|x| x.to_string())?;
    let block_size = match map {
        MapRef::Volume(v) => engine.volume_info(v).await.map_err(|x| x.to_string())?.block_size,
        MapRef::Snapshot(s) => engine.snapshot_info(s).await.map_err(|x| x.to_string())?.block_size,
    };
    let before = engine.stats().await.map_err(|x| x.to_string())?.stored_blocks;
    match map {
        MapRef::Volume(v) => engine.delete_volume(v).await,
        MapRef::Snapshot(s) => engine.delete_snapshot(s).await,
    }
    .map_err(|x| x.to_string())?;
    let after = engine.stats().await.map_err(|x| x.to_string())?.stored_blocks;
    if (before - after) * block_size != exclusive {
        return Err(format!("deleting freed {} bytes and its exclusive bytes were {exclusive}", (before - after) * block_size));
    }
    Ok(())
}

/// Compares every volume and snapshot of the engine with the model.
async fn compare<S: Store>(engine: &mut Engine<S>, model: &Model) -> Result<(), String> {
    let vols = engine.list_volumes().await.map_err(|x| x.to_string())?;
    let ids: Vec<u64> = vols.iter().map(|v| v.id.0).collect();
    let want: Vec<u64> = model.volumes.keys().copied().collect();
    if ids != want {
        return Err(format!("volumes {ids:?}, model {want:?}"));
    }
    for v in vols {
        let mv = &model.volumes[&v.id.0];
        if v.size != mv.data.len() as u64 {
            return Err(format!("volume {} size {} model {}", v.id.0, v.size, mv.data.len()));
        }
        let data = engine.read(v.id, 0, v.size).await.map_err(|x| x.to_string())?;
        if data != mv.data {
            return Err(format!("volume {} differs from the model", v.id.0));
        }
        let bs = v.block_size;
        if v.referenced_bytes != nonzero_blocks(&mv.data, mv.shift) * bs {
            return Err(format!("volume {} referenced bytes differ from the model", v.id.0));
        }
        if v.written_since_base_bytes != mv.written.len() as u64 * bs {
            return Err(format!("volume {} written-since-base differs from the model", v.id.0));
        }
    }
    let snaps = engine.list_snapshots().await.map_err(|x| x.to_string())?;
    let ids: Vec<u64> = snaps.iter().map(|s| s.id.0).collect();
    let want: Vec<u64> = model.snapshots.keys().copied().collect();
    if ids != want {
        return Err(format!("snapshots {ids:?}, model {want:?}"));
    }
    for s in snaps {
        let ms = &model.snapshots[&s.id.0];
        if s.volume.0 != ms.volume {
            return Err(format!("snapshot {} names volume {}", s.id.0, s.volume.0));
        }
        let data = engine.read_snapshot(s.id, 0, s.size).await.map_err(|x| x.to_string())?;
        if data != ms.data {
            return Err(format!("snapshot {} differs from the model", s.id.0));
        }
    }
    Ok(())
}

/// Everything an engine holds, as comparable lines: ids, sizes, space
/// figures and a hash of every volume's and snapshot's content.
pub async fn digest<S: Store>(engine: &mut Engine<S>) -> Result<Vec<String>, EngineError> {
    let mut out = Vec::new();
    for v in engine.list_volumes().await? {
        let data = engine.read(v.id, 0, v.size).await?;
        out.push(format!("{v:?} content {:016x}", fnv(&data)));
    }
    for s in engine.list_snapshots().await? {
        let data = engine.read_snapshot(s.id, 0, s.size).await?;
        let excl = engine.exclusive_bytes(MapRef::Snapshot(s.id)).await?;
        out.push(format!("{s:?} exclusive {excl} content {:016x}", fnv(&data)));
    }
    out.push(format!("{:?}", engine.stats().await?));
    engine.check().await?;
    Ok(out)
}

/// A scripted scenario touching every operation; `digest` after each step
/// lets the failing-store test compare states.
pub async fn scenario_step<S: Store>(engine: &mut Engine<S>, step: usize) -> Result<bool, EngineError> {
    scenario_step_sealed(engine, step, 0).await
}

/// The scenario with its volumes sealed with data key `key` (0: plain; the
/// caller gives the engine the key, [`test_key`]).
pub async fn scenario_step_sealed<S: Store>(engine: &mut Engine<S>, step: usize, key: u64) -> Result<bool, EngineError> {
    let (v1, v2) = (VolumeId(1), VolumeId(2));
    let pattern = |seed: u64, len: usize| {
        let mut b = vec![0u8; len];
        Rng::new(seed).fill(&mut b);
        b
    };
    match step {
        0 => drop(engine.create_sealed_volume((4 << 20) + 123, 12, key).await?),
        1 => engine.write(v1, 0, &pattern(1, 20_000)).await?,
        2 => engine.write(v1, (4 << 20) - 5000, &pattern(2, 5000)).await?,
        3 => drop(engine.snapshot(v1).await?),
        4 => engine.write(v1, 4096, &pattern(3, 8192)).await?,
        5 => engine.write(v1, 100, &[0u8; 3000]).await?,
        6 => drop(engine.snapshot(v1).await?),
        7 => drop(engine.clone_snapshot(SnapshotId(1), Some(5 << 20)).await?),
        8 => engine.write(v2, 4 << 20, &pattern(4, 70_000)).await?,
        9 => engine.rollback(v1, SnapshotId(1)).await?,
        10 => engine.write(v1, 0, &vec![0u8; 12_288]).await?,
        11 => drop(engine.snapshot(v2).await?),
        12 => engine.delete_snapshot(SnapshotId(2)).await?,
        13 => engine.resize(v1, 6 << 20).await?,
        14 => engine.delete_volume(v1).await?,
        15 => engine.rollback(v2, SnapshotId(3)).await?,
        16 => engine.delete_snapshot(SnapshotId(1)).await?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// When a [`FailingStore`]'s chosen commit fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// Nothing is written and the commit reports an error (a failed commit).
    Before,
    /// Everything is written and the commit still reports an error (a crash
    /// after the data became durable, before the caller heard of it).
    After,
    /// Every commit (not only the chosen one) that puts more than this many
    /// bytes fails as the browser's full storage does: nothing is written.
    QuotaAbove(u64),
}

/// A [`MemoryStore`] whose `fail_at`-th commit (counting from 1) fails.
#[derive(Clone)]
pub struct FailingStore {
    pub inner: MemoryStore,
    commits: Rc<Cell<u64>>,
    strict: Rc<Cell<u64>>,
    fail_at: u64,
    mode: FailMode,
}

impl FailingStore {
    pub fn new(inner: MemoryStore, fail_at: u64, mode: FailMode) -> Self {
        FailingStore { inner, commits: Rc::new(Cell::new(0)), strict: Rc::new(Cell::new(0)), fail_at, mode }
    }
    /// Commits attempted so far.
    pub fn commits(&self) -> u64 {
        self.commits.get()
    }
    /// Commits attempted so far of transactions opened with [`Store::begin_strict`].
    pub fn strict_commits(&self) -> u64 {
        self.strict.get()
    }
}

pub struct FailingTx {
    inner: MemoryTx,
    commits: Rc<Cell<u64>>,
    fail_at: u64,
    mode: FailMode,
    put_bytes: u64,
    /// Counts strict commits (opened with `begin_strict`).
    strict: Option<Rc<Cell<u64>>>,
}

impl Store for FailingStore {
    type Tx = FailingTx;
    async fn begin(&self, write: bool) -> Result<FailingTx, StoreError> {
        Ok(FailingTx {
            inner: self.inner.begin(write).await?,
            commits: self.commits.clone(),
            fail_at: self.fail_at,
            mode: self.mode,
            put_bytes: 0,
            strict: None,
        })
    }
    async fn begin_strict(&self) -> Result<FailingTx, StoreError> {
        let mut tx = self.begin(true).await?;
        tx.strict = Some(self.strict.clone());
        Ok(tx)
    }
}

impl Tx for FailingTx {
    async fn get(&mut self, t: Table, k: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(t, k).await
    }
    async fn get_many(&mut self, t: Table, k: &[Key]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(t, k).await
    }
    async fn get_range(&mut self, t: Table, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.get_range(t, lo, hi).await
    }
    async fn get_values(&mut self, t: Table, r: &[(u64, u64)]) -> Result<Vec<Vec<Vec<u8>>>, StoreError> {
        self.inner.get_values(t, r).await
    }
    async fn count(&mut self, t: Table) -> Result<u64, StoreError> {
        self.inner.count(t).await
    }
    async fn scan_prefix(&mut self, t: Table, p: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.inner.scan_prefix(t, p).await
    }
    fn put(&mut self, t: Table, k: Key, v: Vec<u8>) {
        self.put_bytes += v.len() as u64;
        self.inner.put(t, k, v)
    }
    fn delete(&mut self, t: Table, k: Key) {
        self.inner.delete(t, k)
    }
    async fn commit(self) -> Result<(), StoreError> {
        let n = self.commits.get() + 1;
        self.commits.set(n);
        if let Some(s) = &self.strict {
            s.set(s.get() + 1);
        }
        if let FailMode::QuotaAbove(limit) = self.mode {
            if self.put_bytes > limit {
                return Err(StoreError::QuotaExceeded);
            }
            return self.inner.commit().await;
        }
        if n != self.fail_at {
            return self.inner.commit().await;
        }
        if self.mode == FailMode::After {
            self.inner.commit().await?;
        }
        Err(StoreError::Aborted(format!("injected failure at commit {n}")))
    }
}

/// Runs a future that never waits on anything outside (the memory store's)
/// to completion on the current thread.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
