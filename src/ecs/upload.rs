//! Normal snapshots' uploads to the embedded OSS.
//!
//! A normal (standard) snapshot takes its engine snapshot at once (crash
//! consistent at that moment); a task then uploads it to the hidden bucket in
//! bounded steps, each one transaction, so it resumes after a reload or a
//! crash at any point and honours the upload rate.
//!
//! Layout of the hidden bucket (chunks of the `oss_chunks` table, which no
//! bucket name reaches), content-addressed (BLAKE3) so that a block already
//! in OSS, from any disk, is not uploaded again:
//!
//! ```text
//!   snap/packs/<pack id>     new blocks of one step, concatenated (at most 1 MiB)
//!   snap/pages/<hash>        a page: up to 256 (slot -> block hash) entries
//!   snap/manifests/<s-id>    {block size, size, page index -> page hash}
//!   snap/blocks/<hash>       one block's bytes (databases from before packs)
//! ```
//!
//! Blocks are packed because IndexedDB stores 1 MiB records much faster than
//! 32 KiB ones (measured when reads used getAll: a copy of 32 KiB records
//! into 1 MiB records ran at ~70 MB/s, into 32 KiB records at ~55-60). A block's count record says where
//! it lives (`{"n": count, "p": pack, "s": slot}`); a pack counts its live
//! blocks (`oss/pack/<id>`) and goes when the last one does. A partly dead
//! pack keeps its dead bytes until then (no compaction).
//!
//! Only the blocks that changed since the disk's previous uploaded snapshot
//! are read (the engine's changed blocks); unchanged pages are the parent's
//! pages by reference, so a second snapshot uploads its changed blocks, its
//! changed pages and a manifest.
//!
//! Reference counts (`oss/block/<hash>`, `oss/page/<hash>` records): a block
//! counts the pages (and the page being built by a task) that hold it; a
//! page counts the manifests (and tasks) that hold it. When a count reaches
//! zero the object goes. Cancelling a task drops exactly what it held.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use super::model::{keys, Snapshot, SnapshotCategory, SnapshotStatus};
use super::Cx;
use crate::engine::{MapRef, SnapshotId, Store, Table};

/// Blocks per manifest page.
pub const PAGE: u64 = 256;

pub(crate) fn block_key(hash: &str) -> String {
    format!("snap/blocks/{hash}")
}
pub(crate) fn page_key(hash: &str) -> String {
    format!("snap/pages/{hash}")
}
fn manifest_key(id: &str) -> String {
    format!("snap/manifests/{id}")
}
fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(500, "InternalError", e.to_string())
}

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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Manifest {
    pub block_shift: u8,
    pub size: u64,
    pub pages: BTreeMap<u64, String>,
}

fn task_key(id: &str) -> String {
    keys::upload(&id)
}

/// Most bytes of one pack.
const PACK_BYTES: usize = 1 << 20;

fn pack_key(id: &str) -> String {
    format!("snap/packs/{id}")
}

/// A block's count record: how many hold it, and where it lives (a pack and
/// its slot; no pack: its own `snap/blocks/<hash>` chunk, as before packs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub(crate) struct BlockRec {
    #[serde(rename = "n")]
    pub count: u64,
    #[serde(rename = "p", default, skip_serializing_if = "String::is_empty")]
    pub pack: String,
    #[serde(rename = "s", default)]
    pub slot: u32,
}

fn parse_block_rec(b: &[u8]) -> Result<BlockRec> {
    // Before packs the record was the bare count.
    match serde_json::from_slice::<u64>(b) {
        Ok(count) => Ok(BlockRec { count, ..Default::default() }),
        Err(_) => serde_json::from_slice(b).map_err(internal),
    }
}

/// A block's bytes from OSS, through `packs` (packs already read).
pub(crate) async fn load_block<S: Store>(
    cx: &mut Cx<'_, S>,
    hash: &str,
    bs: usize,
    packs: &mut std::collections::HashMap<String, Vec<u8>>,
) -> Result<Option<Vec<u8>>, Error> {
    let Some(rec) = cx.t.get_record(&format!("oss/block/{hash}")).await? else { return Ok(None) };
    let rec = parse_block_rec(&rec)?;
    if rec.pack.is_empty() {
        return Ok(cx.t.get_in(Table::OssChunks, &block_key(hash)).await?);
    }
    if !packs.contains_key(&rec.pack) {
        let Some(p) = cx.t.get_in(Table::OssChunks, &pack_key(&rec.pack)).await? else { return Ok(None) };
        if packs.len() >= 8 {
            packs.clear(); // bounded: a read touches few packs
        }
        packs.insert(rec.pack.clone(), p);
    }
    let p = &packs[&rec.pack];
    let at = rec.slot as usize * bs;
    Ok(p.get(at..at + bs).map(|b| b.to_vec()))
}

/// Adds `delta` to each block's count (all fetched in one batch). Blocks
/// whose count leaves zero are stored from `data`, packed; one that reaches
/// zero is dropped (its pack when it was the pack's last). `pack_id` names
/// the packs this call writes (`<pack_id>-<n>`). Returns the bytes stored.
async fn block_deltas<S: Store>(
    cx: &mut Cx<'_, S>,
    deltas: &BTreeMap<String, i64>,
    data: &BTreeMap<String, Vec<u8>>,
    pack_id: &str,
) -> Result<u64> {
    let keys: Vec<String> = deltas.keys().map(|h| format!("oss/block/{h}")).collect();
    let counts = cx.t.get_many_in(Table::Records, &keys).await?;
    let mut stored = 0;
    let mut packs: Vec<Vec<u8>> = Vec::new();
    let mut dead: BTreeMap<String, u64> = BTreeMap::new();
    for ((hash, delta), (key, rec)) in deltas.iter().zip(keys.iter().zip(counts)) {
        if *delta == 0 {
            continue;
        }
        let mut rec = match rec {
            Some(b) => parse_block_rec(&b)?,
            None => BlockRec::default(),
        };
        let old = rec.count;
        rec.count = (old as i64 + delta).max(0) as u64;
        if old == 0 && rec.count > 0 {
            let bytes = data.get(hash).ok_or_else(|| internal(format!("block {hash} has no data to store")))?;
            if packs.last().is_none_or(|p| p.len() + bytes.len() > PACK_BYTES) {
                packs.push(Vec::with_capacity(PACK_BYTES));
            }
            rec.pack = format!("{pack_id}-{}", packs.len() - 1);
            let p = packs.last_mut().unwrap();
            rec.slot = (p.len() / bytes.len()) as u32;
            p.extend_from_slice(bytes);
            stored += bytes.len() as u64;
        }
        if rec.count == 0 {
            cx.t.delete_record(key);
            if old > 0 {
                if rec.pack.is_empty() {
                    cx.t.delete_in(Table::OssChunks, &block_key(hash));
                } else {
                    *dead.entry(rec.pack.clone()).or_insert(0) += 1;
                }
            }
        } else {
            cx.save(key, &rec);
        }
    }
    for (i, p) in packs.into_iter().enumerate() {
        let id = format!("{pack_id}-{i}");
        cx.save(&format!("oss/pack/{id}"), &(p.len() as u64 / data.values().next().map_or(1, |b| b.len() as u64)));
        cx.t.put_in(Table::OssChunks, &pack_key(&id), p);
    }
    for (id, n) in dead {
        let key = format!("oss/pack/{id}");
        let live: u64 = cx.load(&key).await?.unwrap_or(0);
        if live <= n {
            cx.t.delete_record(&key);
            cx.t.delete_in(Table::OssChunks, &pack_key(&id));
        } else {
            cx.save(&key, &(live - n));
        }
    }
    Ok(stored)
}

async fn load_page<S: Store>(cx: &mut Cx<'_, S>, hash: &str) -> Result<BTreeMap<u16, String>> {
    let bytes = cx.t.get_in(Table::OssChunks, &page_key(hash)).await?.ok_or_else(|| internal(format!("page {hash} is missing")))?;
    serde_json::from_slice(&bytes).map_err(internal)
}

/// Adds `delta` to a page's count; stores it from `bytes` when the count
/// leaves zero, deletes it (dropping its blocks) when it reaches zero.
/// Returns the bytes stored.
pub(crate) async fn page_ref<S: Store>(cx: &mut Cx<'_, S>, hash: &str, delta: i64, bytes: Option<&[u8]>) -> Result<u64> {
    let key = format!("oss/page/{hash}");
    let old: u64 = cx.load(&key).await?.unwrap_or(0);
    let new = (old as i64 + delta).max(0) as u64;
    let mut stored = 0;
    if old == 0 && new > 0 {
        let b = bytes.ok_or_else(|| internal(format!("page {hash} has no data to store")))?;
        cx.t.put_in(Table::OssChunks, &page_key(hash), b.to_vec());
        stored += b.len() as u64;
    }
    if new == 0 {
        cx.t.delete_record(&key);
        if old > 0 {
            let entries = load_page(cx, hash).await?;
            cx.t.delete_in(Table::OssChunks, &page_key(hash));
            let mut deltas = BTreeMap::new();
            for h in entries.values() {
                *deltas.entry(h.clone()).or_insert(0) -= 1;
            }
            block_deltas(cx, &deltas, &BTreeMap::new(), "").await?;
        }
    } else {
        cx.save(&key, &new);
    }
    Ok(stored)
}

/// Adds `delta` to the count of each page of a page map (a hold by a task or
/// a restore that will read them).
pub(crate) async fn hold_pages<S: Store>(cx: &mut Cx<'_, S>, pages: &BTreeMap<u64, String>, delta: i64) -> Result<()> {
    for h in pages.values() {
        page_ref(cx, h, delta, None).await?;
    }
    Ok(())
}

/// The manifest of an uploaded snapshot, if it has one.
pub(crate) async fn manifest<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Option<Manifest>> {
    match cx.t.get_in(Table::OssChunks, &manifest_key(id)).await? {
        Some(b) => Ok(Some(serde_json::from_slice(&b).map_err(internal)?)),
        None => Ok(None),
    }
}

/// Starts the upload of a just-taken normal snapshot.
pub(crate) async fn start<S: Store>(cx: &mut Cx<'_, S>, snap: &Snapshot, wall: u64) -> Result<()> {
    // The parent: the disk's newest uploaded snapshot of the same block size.
    let mut candidates: Vec<Snapshot> = cx.scan::<Snapshot>(keys::SNAPSHOTS).await?;
    candidates.retain(|s| {
        s.source_disk_id == snap.source_disk_id && s.id != snap.id && s.category == SnapshotCategory::Standard && s.status == SnapshotStatus::Accomplished && !s.local_released
    });
    candidates.sort_by_key(|s| std::cmp::Reverse(s.seq));
    let info = cx.t.snapshot_info(snap.engine).await?;
    let shift = info.block_size.trailing_zeros() as u8;
    let mut parent = None;
    for c in candidates {
        if let Some(m) = manifest(cx, &c.id).await? {
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
        ..Default::default()
    };
    hold_pages(cx, &task.parent_pages, 1).await?;
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
    let bytes = serde_json::to_vec(&entries).unwrap();
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let exists: u64 = cx.load(&format!("oss/page/{hash}")).await?.unwrap_or(0);
    if exists > 0 {
        // The same page is stored: drop the references the staged page held.
        let mut deltas = BTreeMap::new();
        for h in entries.values() {
            *deltas.entry(h.clone()).or_insert(0) -= 1;
        }
        block_deltas(cx, &deltas, &BTreeMap::new(), "").await?;
    }
    task.uploaded_bytes += page_ref(cx, &hash, 1, Some(&bytes)).await?;
    task.done_pages.insert(page, Some(hash));
    Ok(())
}

/// Starts building `page`: the parent's entries, each held once more.
async fn begin_page<S: Store>(cx: &mut Cx<'_, S>, task: &mut UploadTask, page: u64) -> Result<()> {
    task.page = Some(page);
    task.entries = match task.parent_pages.get(&page).cloned() {
        Some(h) => load_page(cx, &h).await?,
        None => BTreeMap::new(),
    };
    let mut deltas = BTreeMap::new();
    for h in task.entries.values() {
        *deltas.entry(h.clone()).or_insert(0) += 1;
    }
    block_deltas(cx, &deltas, &BTreeMap::new(), "").await?;
    Ok(())
}

/// The oldest upload task, if any.
pub(crate) async fn oldest<S: Store>(cx: &mut Cx<'_, S>) -> Result<Option<UploadTask>> {
    let mut tasks: Vec<UploadTask> = cx.scan(keys::UPLOADS).await?;
    tasks.sort_by_key(|t| t.seq);
    Ok(tasks.into_iter().next())
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
        let hash = blake3::hash(&full).to_hex().to_string();
        *deltas.entry(hash.clone()).or_insert(0) += 1;
        task.entries.insert(slot, hash.clone());
        fresh.entry(hash).or_insert(full);
    }
    let pack_id = format!("{}-{}", task.snapshot_id, task.packs);
    task.packs += 1;
    task.uploaded_bytes += block_deltas(cx, &deltas, &fresh, &pack_id).await?;
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
            page_ref(cx, h, 1, None).await?;
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
        hold_pages(cx, &task.parent_pages, -1).await?;
    }
    let m = Manifest { block_shift: task.block_shift, size: task.size, pages };
    let bytes = serde_json::to_vec(&m).unwrap();
    task.uploaded_bytes += bytes.len() as u64;
    cx.t.put_in(Table::OssChunks, &manifest_key(&id), bytes);
    cx.t.delete_record(&task_key(&id));
    if let Some(mut s) = cx.load::<Snapshot>(&keys::snapshot(&id)).await? {
        s.status = SnapshotStatus::Accomplished;
        s.progress = 100;
        s.uploaded_bytes = task.uploaded_bytes;
        s.last_modified = cx.now;
        cx.put(&s);
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
        let data = cx.t.read(MapRef::Snapshot(task.engine), offset, len).await?;
        apply_stretch(cx, &mut task, stretch, &data).await?;
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
    let mut deltas = BTreeMap::new();
    for h in task.entries.values() {
        *deltas.entry(h.clone()).or_insert(0) -= 1;
    }
    block_deltas(cx, &deltas, &BTreeMap::new(), "").await?;
    for h in task.done_pages.values().flatten() {
        page_ref(cx, h, -1, None).await?;
    }
    if task.holds_parent {
        hold_pages(cx, &task.parent_pages, -1).await?;
    }
    cx.t.delete_record(&task_key(id));
    Ok(())
}

/// Releases an uploaded snapshot's data in OSS.
pub(crate) async fn release<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<()> {
    cancel(cx, id).await?;
    if let Some(m) = manifest(cx, id).await? {
        for h in m.pages.values() {
            page_ref(cx, h, -1, None).await?;
        }
        cx.t.delete_in(Table::OssChunks, &manifest_key(id));
    }
    Ok(())
}

/// Progress of an upload: (percent done, seconds left at the measured or capped rate).
pub fn progress(task: &UploadTask, wall: u64, rate_cap: Option<u64>) -> (u32, u64) {
    let bs = 1u64 << task.block_shift;
    let left = (task.total_blocks - task.done_blocks) * bs;
    let pct = if task.total_blocks == 0 { 99 } else { ((task.done_blocks * 100) / task.total_blocks).min(99) as u32 };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_records_before_and_after_packs() {
        assert_eq!(parse_block_rec(b"3").unwrap(), BlockRec { count: 3, pack: String::new(), slot: 0 });
        let r = BlockRec { count: 2, pack: "s-x-4-0".into(), slot: 17 };
        let bytes = serde_json::to_vec(&r).unwrap();
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), r#"{"n":2,"p":"s-x-4-0","s":17}"#);
        assert_eq!(parse_block_rec(&bytes).unwrap(), r);
        assert!(parse_block_rec(b"{oops").is_err());
    }
}
