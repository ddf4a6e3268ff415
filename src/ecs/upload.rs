//! Normal snapshots' uploads to OSS.
//!
//! A normal (standard) snapshot takes its engine snapshot at once (crash
//! consistent at that moment); a task (`upload/<snapshot id>`) then uploads
//! it into the content-addressed snapshot store (`crate::snapstore`) in
//! bounded steps, each one transaction, so it resumes after a reload or a
//! crash at any point and honours the upload rate.
//!
//! Only the blocks that changed since the disk's previous uploaded snapshot
//! are read (the engine's changed blocks); unchanged pages are the parent's
//! pages by reference, so a second snapshot uploads its changed blocks, its
//! changed pages and a manifest. The task holds a reference on the blocks
//! of the page it builds, on the pages it finished and on its parent's
//! pages; cancelling it drops exactly what it held.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cx::Cx;
use super::model::{keys, Image, ImageStatus, Snapshot, SnapshotCategory, SnapshotStatus};
use crate::engine::{MapRef, SnapshotId, Store};
use crate::error::Result;
use crate::snapstore::{self, Manifest, PAGE};

/// An upload in progress (record `upload/<snapshot id>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct UploadTask {
    pub snapshot_id: String,
    pub seq: u64,
    pub engine: SnapshotId,
    pub block_shift: u8,
    pub size: u64,
    /// The snapshot whose manifest this one builds on.
    pub parent: Option<String>,
    pub parent_pages: BTreeMap<u64, String>,
    /// The task holds a reference on each parent page (so deleting the parent
    /// meanwhile cannot drop them); false in tasks from before this was so.
    pub holds_parent: bool,
    /// Blocks to upload, as (first, count) runs, ascending.
    pub runs: Vec<(u64, u64)>,
    pub run: usize,
    pub offset: u64,
    pub total_blocks: u64,
    pub done_blocks: u64,
    /// Bytes put into OSS (blocks, pages, manifest).
    pub uploaded_bytes: u64,
    /// The page being built, and its entries (slot -> hash).
    pub page: Option<u64>,
    pub entries: BTreeMap<u16, String>,
    /// Pages finished by this task (None: the page became empty).
    pub done_pages: BTreeMap<u64, Option<String>>,
    /// Wall-clock ms when it started, for the measured rate.
    pub started_wall: u64,
    /// Steps that wrote blocks (names their packs).
    pub packs: u64,
    /// An encrypted snapshot's data key: its blocks are uploaded sealed (0: plain).
    #[serde(skip_serializing_if = "super::model::is_zero")]
    pub data_key: u64,
    /// Where it uploads to (`Snapshot::store`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub store: String,
}

fn task_key(id: &str) -> String {
    keys::upload(id)
}

/// Starts the upload of a just-taken normal snapshot.
pub(crate) async fn start<S: Store>(cx: &mut Cx<'_, S>, snap: &Snapshot, wall: u64) -> Result<()> {
    // The parent: the disk's newest uploaded snapshot of the same block size.
    let mut candidates: Vec<Snapshot> = cx.scan::<Snapshot>(keys::SNAPSHOTS).await?;
    candidates.retain(|s| {
        s.source_disk_id == snap.source_disk_id
            && s.id != snap.id
            && s.category == SnapshotCategory::Standard
            && s.status == SnapshotStatus::Accomplished
            && !s.local_released
            && s.store == snap.store
    });
    super::params::newest_first(&mut candidates, |s| (s.seq, 0));
    let info = cx.t.snapshot_info(snap.engine).await?;
    let shift = info.block_size.trailing_zeros() as u8;
    let mut parent = None;
    for c in candidates {
        if let Some(m) = snapstore::manifest(&mut cx.store_at(&snap.store), &c.id).await? {
            if m.block_shift == shift {
                parent = Some((c, m));
                break;
            }
        }
    }
    let runs = match &parent {
        Some((p, _)) => cx.t.changed_blocks(MapRef::Snapshot(p.engine), MapRef::Snapshot(snap.engine)).await?,
        None => cx.t.written_runs(MapRef::Snapshot(snap.engine)).await?,
    };
    let total_blocks = runs.iter().map(|r| r.1).sum();
    let seq = snap.seq;
    let task = UploadTask {
        snapshot_id: snap.id.clone(),
        seq,
        engine: snap.engine,
        block_shift: shift,
        size: info.size,
        parent: parent.as_ref().map(|(p, _)| p.id.clone()),
        parent_pages: parent.map(|(_, m)| m.pages).unwrap_or_default(),
        holds_parent: true,
        runs,
        total_blocks,
        started_wall: wall,
        data_key: snap.data_key,
        store: snap.store.clone(),
        ..Default::default()
    };
    snapstore::hold_pages(&mut cx.store_at(&task.store), &task.parent_pages, 1).await?;
    cx.save(&task_key(&snap.id), &task);
    Ok(())
}

pub(crate) async fn task<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Option<UploadTask>> {
    cx.load(&task_key(id)).await
}

/// Finishes the page being built: stores it (or finds it already stored) and
/// keeps its hash; the task holds one reference on it.
async fn finish_page<S: Store>(cx: &mut Cx<'_, S>, task: &mut UploadTask) -> Result<()> {
    let Some(page) = task.page.take() else { return Ok(()) };
    let entries = std::mem::take(&mut task.entries);
    if entries.is_empty() {
        task.done_pages.insert(page, None);
        return Ok(());
    }
    let (hash, stored) = snapstore::put_page(&mut cx.store_at(&task.store), &entries).await?;
    task.uploaded_bytes += stored;
    task.done_pages.insert(page, Some(hash));
    Ok(())
}

/// Starts building `page`: the parent's entries, each held once more.
async fn begin_page<S: Store>(cx: &mut Cx<'_, S>, task: &mut UploadTask, page: u64) -> Result<()> {
    task.page = Some(page);
    task.entries = match task.parent_pages.get(&page).cloned() {
        Some(h) => snapstore::load_page(&mut cx.store_at(&task.store), &h).await?,
        None => BTreeMap::new(),
    };
    snapstore::block_refs(&mut cx.store_at(&task.store), &task.entries, 1).await?;
    Ok(())
}

/// The oldest upload task whose store is connected, if any (an upload to a
/// bucket that is not connected waits, and the others go on).
pub(crate) async fn oldest<S: Store>(cx: &mut Cx<'_, S>) -> Result<Option<UploadTask>> {
    let tasks: Vec<UploadTask> = cx.scan(keys::UPLOADS).await?;
    Ok(tasks.into_iter().filter(|t| cx.store_connected(&t.store)).min_by_key(|t| t.seq))
}

/// The next stretch to upload: (first block, blocks), within one run, one
/// page and `budget` bytes (at least one block). None when all is done.
pub(crate) fn next_stretch(task: &UploadTask, budget: u64) -> Option<(u64, u64)> {
    let bs = 1u64 << task.block_shift;
    let &(first, count) = task.runs.get(task.run)?;
    let index = first + task.offset;
    let page_end = (index / PAGE + 1) * PAGE;
    let n = (count - task.offset).min(page_end - index).min(budget / bs).max(1);
    Some((index, n))
}

/// Byte range (offset, length) of a stretch in the snapshot.
pub(crate) fn stretch_bytes(task: &UploadTask, (index, n): (u64, u64)) -> (u64, u64) {
    let bs = 1u64 << task.block_shift;
    (index * bs, (n * bs).min(task.size - index * bs))
}

/// Uploads one stretch whose bytes are `data`: hashes its blocks, stores the
/// new ones (one batch of count look-ups) and advances the task.
pub(crate) async fn apply_stretch<S: Store>(cx: &mut Cx<'_, S>, task: &mut UploadTask, (index, n): (u64, u64), data: &[u8]) -> Result<()> {
    let bs = 1u64 << task.block_shift;
    let page = index / PAGE;
    if task.page != Some(page) {
        finish_page(cx, task).await?;
        begin_page(cx, task, page).await?;
    }
    let mut deltas: BTreeMap<String, i64> = BTreeMap::new();
    let mut fresh: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // Encrypted: only sealed blocks leave, with nonces derived from their content
    // and index (a step that runs again, after its objects were moved to a
    // bucket, seals the same bytes; equal blocks at other indexes differ).
    let key = super::kms::block_key(cx, task.data_key)?;
    for (i, block) in data.chunks(bs as usize).enumerate() {
        let slot = ((index + i as u64) % PAGE) as u16;
        if let Some(old) = task.entries.remove(&slot) {
            *deltas.entry(old).or_insert(0) -= 1;
        }
        if block.iter().all(|&b| b == 0) {
            continue; // unwritten: no entry
        }
        let mut full = block.to_vec();
        full.resize(bs as usize, 0);
        if let Some(k) = &key {
            full = k.seal_derived(index + i as u64, &full);
        }
        let hash = blake3::hash(&full).to_hex().to_string();
        *deltas.entry(hash.clone()).or_insert(0) += 1;
        task.entries.insert(slot, hash.clone());
        fresh.entry(hash).or_insert(full);
    }
    let pack_id = format!("{}-{}", task.snapshot_id, task.packs);
    task.packs += 1;
    task.uploaded_bytes += snapstore::block_deltas(&mut cx.store_at(&task.store), &deltas, &fresh, &pack_id).await?;
    task.done_blocks += n;
    task.offset += n;
    if task.offset == task.runs[task.run].1 {
        task.run += 1;
        task.offset = 0;
    }
    Ok(())
}

/// Saves a task that has more to do, or completes it: returns whether it completed.
pub(crate) async fn save_or_finish<S: Store>(cx: &mut Cx<'_, S>, mut task: UploadTask) -> Result<bool> {
    let id = task.snapshot_id.clone();
    if task.run < task.runs.len() {
        cx.save(&task_key(&id), &task);
        return Ok(false);
    }
    // Done: the manifest takes over the task's pages plus the parent's unchanged ones.
    finish_page(cx, &mut task).await?;
    let mut pages = task.parent_pages.clone();
    for (p, h) in &pages {
        if !task.done_pages.contains_key(p) {
            snapstore::page_ref(&mut cx.store_at(&task.store), h, 1, None).await?;
        }
    }
    for (p, h) in &task.done_pages {
        match h {
            Some(h) => pages.insert(*p, h.clone()),
            None => pages.remove(p),
        };
    }
    // The task's hold on the parent's pages ends (after the manifest took its own).
    if task.holds_parent {
        snapstore::hold_pages(&mut cx.store_at(&task.store), &task.parent_pages, -1).await?;
    }
    let snap = cx.load::<Snapshot>(&keys::snapshot(&id)).await?;
    // In a bucket, the manifest says what another database needs to register
    // the snapshot (and, encrypted under a passphrase key, to open it).
    let mut about = snap.as_ref().filter(|_| !task.store.is_empty()).map(|s| {
        serde_json::json!({"SnapshotId": s.id, "SnapshotName": s.name, "Description": s.description, "RegionId": s.region,
            "SourceDiskId": s.source_disk_id, "SourceDiskSize": s.source_disk_size, "SourceDiskType": s.source_disk_type,
            "CreationTime": s.created, "Encrypted": s.encrypted, "KMSKeyId": s.kms_key_id})
    });
    if let (Some(a), Some(s)) = (&mut about, &snap) {
        if s.encrypted {
            if let Some(k) = super::kms::portable(cx, &s.kms_key_id, s.data_key).await? {
                a["Key"] = k;
            }
        }
    }
    let m = Manifest { block_shift: task.block_shift, size: task.size, pages, snapshot: about };
    task.uploaded_bytes += snapstore::put_manifest(&mut cx.store_at(&task.store), &id, &m)?;
    cx.delete(&task_key(&id));
    if let Some(mut s) = snap {
        s.status = SnapshotStatus::Accomplished;
        s.progress = 100;
        s.uploaded_bytes = task.uploaded_bytes;
        s.last_modified = cx.now;
        cx.put(&s);
        // An image copy (CopyImage) is Available once all its snapshots are.
        for image in &s.images {
            let Some(mut img) = cx.load::<Image>(&keys::image(&s.region, image)).await? else { continue };
            if img.status != ImageStatus::Creating || !img.plan.is_empty() || !img.task_id.is_empty() {
                continue;
            }
            let mut done = true;
            for m in &img.mappings {
                let other = cx.load::<Snapshot>(&keys::snapshot(&m.snapshot_id)).await?;
                done &= m.snapshot_id.is_empty() || other.is_none_or(|o| o.status == SnapshotStatus::Accomplished);
            }
            if done {
                img.status = ImageStatus::Available;
                img.progress = 100;
                cx.put(&img);
            }
        }
    }
    Ok(true)
}

/// Uploads up to `budget` bytes of the oldest upload task in this one
/// transaction. Returns the snapshot it worked on and whether that upload is
/// now complete.
pub(crate) async fn step<S: Store>(cx: &mut Cx<'_, S>, budget: u64) -> Result<Option<(String, bool)>> {
    let Some(mut task) = oldest(cx).await? else { return Ok(None) };
    let bs = 1u64 << task.block_shift;
    let mut budget = budget.max(bs);
    while budget >= bs {
        let Some(stretch) = next_stretch(&task, budget) else { break };
        let (offset, len) = stretch_bytes(&task, stretch);
        // To a bucket, a step may run twice (`snapstore::tier`): the snapshot's
        // bytes are read once.
        let key = (task.engine.0, offset, len);
        let kept = cx.x.borrow_mut().reads.remove(&key);
        let data = match kept {
            Some(d) => d,
            None => cx.t.read(MapRef::Snapshot(task.engine), offset, len).await?,
        };
        apply_stretch(cx, &mut task, stretch, &data).await?;
        if !task.store.is_empty() {
            cx.x.borrow_mut().reads.insert(key, data);
        }
        budget = budget.saturating_sub(stretch.1 * bs);
    }
    let id = task.snapshot_id.clone();
    let done = save_or_finish(cx, task).await?;
    Ok(Some((id, done)))
}

/// Cancels an upload: drops every reference it held (chunks other
/// snapshots share stay).
pub(crate) async fn cancel<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<()> {
    let Some(task) = task(cx, id).await? else { return Ok(()) };
    let mut store = cx.store_at(&task.store);
    snapstore::block_refs(&mut store, &task.entries, -1).await?;
    for h in task.done_pages.values().flatten() {
        snapstore::page_ref(&mut store, h, -1, None).await?;
    }
    if task.holds_parent {
        snapstore::hold_pages(&mut store, &task.parent_pages, -1).await?;
    }
    cx.delete(&task_key(id));
    Ok(())
}

/// Releases an uploaded snapshot's data in OSS.
pub(crate) async fn release<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<()> {
    cancel(cx, id).await?;
    let place = cx.load::<Snapshot>(&keys::snapshot(id)).await?.map(|s| s.store).unwrap_or_default();
    snapstore::release(&mut cx.store_at(&place), id).await
}

/// Progress of an upload: (percent done, seconds left at the measured or capped rate).
pub fn progress(task: &UploadTask, wall: u64, rate_cap: Option<u64>) -> (u32, u64) {
    let bs = 1u64 << task.block_shift;
    let left = (task.total_blocks - task.done_blocks) * bs;
    let pct = (task.done_blocks * 100).checked_div(task.total_blocks).map_or(99, |p| p.min(99) as u32);
    let elapsed = (wall.saturating_sub(task.started_wall)).max(1) as f64 / 1000.0;
    let measured = (task.done_blocks * bs) as f64 / elapsed;
    let rate = match (rate_cap, measured > 0.0) {
        (Some(c), true) => measured.min(c as f64),
        (Some(c), false) => c as f64,
        (None, true) => measured,
        (None, false) => 50e6,
    };
    (pct, (left as f64 / rate).ceil() as u64)
}
