//! Snapshots whose local copy was released, and disks restored from them.
//!
//! When a normal snapshot's instant-access retention ends (and its upload is
//! accomplished), its engine snapshot is deleted: its exclusive local bytes
//! are freed and its content lives only in OSS (its manifest). Such a
//! snapshot still rolls back, clones and reads:
//!
//! - `readSnapshot` reads the manifest's blocks from OSS;
//! - a disk rolled back to it, or created from it, is usable at once: it gets
//!   an empty volume and a *hydration* (the manifest's pages still to copy).
//!   A read of a block not yet copied fetches it from OSS (EBS's lazy
//!   loading); a write to one merges with it first and marks it *dirty* (the
//!   user's bytes win over the copy); the background copies page after page
//!   and `DescribeDisks` shows `HydrationProgress`.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use super::cx::Cx;
use super::kms;
use super::model::{keys, Disk, Hydration, Snapshot};
use crate::engine::seal::{BlockKey, SEAL_OVERHEAD};
use crate::engine::{MapRef, Store};
use crate::error::{Error, Result};
use crate::snapstore::{self, load_block_at, load_page, located_page, BlockRec, PAGE};

/// Reads pages and blocks of a manifest from OSS, each page once.
struct Remote<'p> {
    /// Where the snapshot store is ("": embedded; a bucket: `snapstore::Place`).
    place: &'p str,
    pages: &'p BTreeMap<u64, String>,
    block_shift: u8,
    /// Encrypted content: the data key its blocks were sealed with.
    key: Option<Rc<BlockKey>>,
    loaded: HashMap<u64, BTreeMap<u16, (String, BlockRec)>>,
    /// Packs read so far (a few).
    packs: HashMap<String, Vec<u8>>,
}

impl<'p> Remote<'p> {
    fn new(place: &'p str, pages: &'p BTreeMap<u64, String>, block_shift: u8, key: Option<Rc<BlockKey>>) -> Self {
        Remote { place, pages, block_shift, key, loaded: HashMap::new(), packs: HashMap::new() }
    }

    /// The block's bytes from OSS; None when the manifest has no such block (zeros).
    async fn block<S: Store>(&mut self, cx: &mut Cx<'_, S>, index: u64) -> Result<Option<Vec<u8>>, Error> {
        let page = index / PAGE;
        let Some(hash) = self.pages.get(&page) else { return Ok(None) };
        if let std::collections::hash_map::Entry::Vacant(e) = self.loaded.entry(page) {
            e.insert(located_page(&mut cx.store_at(self.place), hash).await?);
        }
        let Some((hash, rec)) = self.loaded[&page].get(&((index % PAGE) as u16)) else { return Ok(None) };
        let bs = (1usize << self.block_shift) + if self.key.is_some() { SEAL_OVERHEAD } else { 0 };
        let stored = load_block_at(&mut cx.store_at(self.place), hash, rec, bs, &mut self.packs).await?;
        Ok(Some(match &self.key {
            Some(k) => k.open(index, &stored)?,
            None => stored,
        }))
    }
}

/// Copies the part of block `index` (of size `bs`) that overlaps `offset..offset+out.len()`.
fn overlay(out: &mut [u8], offset: u64, index: u64, bs: u64, block: &[u8]) {
    let start = index * bs;
    let from = offset.max(start);
    let to = (offset + out.len() as u64).min(start + block.len() as u64);
    if from < to {
        out[(from - offset) as usize..(to - offset) as usize].copy_from_slice(&block[(from - start) as usize..(to - start) as usize]);
    }
}

/// Reads a released snapshot's bytes from OSS.
pub(crate) async fn read_released<S: Store>(cx: &mut Cx<'_, S>, snap: &Snapshot, offset: u64, len: u64) -> Result<Vec<u8>> {
    let m = manifest_of(cx, snap).await?;
    read_pages(cx, &snap.store, &m.pages, m.block_shift, snap.data_key, offset, len).await
}

/// Reads bytes of the content a page map describes, from OSS.
pub(crate) async fn read_pages<S: Store>(
    cx: &mut Cx<'_, S>,
    place: &str,
    pages: &BTreeMap<u64, String>,
    block_shift: u8,
    dk: u64,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>> {
    let mut out = vec![0u8; len as usize];
    if len == 0 {
        return Ok(out);
    }
    let bs = 1u64 << block_shift;
    let mut remote = Remote::new(place, pages, block_shift, kms::block_key(cx, dk)?);
    let mut wait = None;
    for index in offset / bs..=(offset + len - 1) / bs {
        if let Some(block) = or_wait(remote.block(cx, index).await, &mut wait)? {
            overlay(&mut out, offset, index, bs, &block);
        }
    }
    wait.map_or(Ok(out), Err)
}

/// A block, or None while it is fetched from a bucket (the pending error
/// kept in `wait`): every object a range lacks is asked for in one round.
fn or_wait(block: Result<Option<Vec<u8>>>, wait: &mut Option<Error>) -> Result<Option<Vec<u8>>> {
    match block {
        Err(e) if e.is_pending() => {
            *wait = Some(e);
            Ok(None)
        }
        r => r,
    }
}

/// A hydration for a new volume restored from a released snapshot.
pub(crate) async fn hydration_for<S: Store>(cx: &mut Cx<'_, S>, snap: &Snapshot) -> Result<Hydration> {
    let m = manifest_of(cx, snap).await?;
    snapstore::hold_pages(&mut cx.store_at(&snap.store), &m.pages, 1).await?;
    Ok(Hydration {
        store: snap.store.clone(),
        snapshot_id: snap.id.clone(),
        block_shift: m.block_shift,
        total_pages: m.pages.len() as u64,
        pages: m.pages,
        dirty: Default::default(),
        holds_pages: true,
    })
}

/// A released snapshot's manifest (from its store).
pub(crate) async fn manifest_of<S: Store>(cx: &mut Cx<'_, S>, snap: &Snapshot) -> Result<snapstore::Manifest> {
    snapstore::manifest(&mut cx.store_at(&snap.store), &snap.id)
        .await?
        .ok_or_else(|| Error::internal(format!("the snapshot {} has neither a local copy nor a manifest", snap.id)))
}

/// Ends a hydration that will not finish (its disk is deleted or rolled
/// back): drops its hold on the pages it had left to copy.
pub(crate) async fn end_hydration<S: Store>(cx: &mut Cx<'_, S>, h: &Hydration) -> Result<()> {
    if h.holds_pages {
        snapstore::hold_pages(&mut cx.store_at(&h.store), &h.pages, -1).await?;
    }
    Ok(())
}

fn pending(h: &Hydration, index: u64) -> bool {
    h.pages.contains_key(&(index / PAGE)) && !h.dirty.contains(&index)
}

/// Reads a disk's bytes: from its volume, and from OSS for blocks not yet hydrated.
pub(crate) async fn read_disk<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, offset: u64, len: u64) -> Result<Vec<u8>> {
    let mut out = cx.t.read(MapRef::Volume(disk.volume), offset, len).await?;
    let Some(h) = &disk.hydration else { return Ok(out) };
    if len == 0 {
        return Ok(out);
    }
    let bs = 1u64 << h.block_shift;
    let mut remote = Remote::new(&h.store, &h.pages, h.block_shift, kms::block_key(cx, disk.data_key)?);
    let mut wait = None;
    for index in offset / bs..=(offset + len - 1) / bs {
        if pending(h, index) {
            if let Some(block) = or_wait(remote.block(cx, index).await, &mut wait)? {
                overlay(&mut out, offset, index, bs, &block);
            }
        }
    }
    wait.map_or(Ok(out), Err)
}

/// Writes to a disk; blocks not yet hydrated are merged with their OSS
/// content first and become the user's (dirty).
pub(crate) async fn write_disk<S: Store>(cx: &mut Cx<'_, S>, disk: &mut Disk, offset: u64, data: &[u8]) -> Result<()> {
    let Some(h) = &disk.hydration else {
        cx.t.write(disk.volume, offset, data).await?;
        return Ok(());
    };
    if data.is_empty() {
        return Ok(());
    }
    let bs = 1u64 << h.block_shift;
    let (first, last) = (offset / bs, (offset + data.len() as u64 - 1) / bs);
    if !(first..=last).any(|i| pending(h, i)) {
        cx.t.write(disk.volume, offset, data).await?;
        return Ok(());
    }
    let size = disk.size_gib << 30;
    let start = first * bs;
    let end = ((last + 1) * bs).min(size);
    let mut buf = read_disk(cx, disk, start, end - start).await?;
    buf[(offset - start) as usize..(offset - start) as usize + data.len()].copy_from_slice(data);
    cx.t.write(disk.volume, start, &buf).await?;
    let h = disk.hydration.as_mut().unwrap();
    for i in first..=last {
        if h.pages.contains_key(&(i / PAGE)) {
            h.dirty.insert(i);
        }
    }
    cx.put(&*disk);
    Ok(())
}

/// Copies up to `budget` bytes (at least one page) of the first hydrating
/// disk from OSS into its volume. Returns the disk and whether it is done.
pub(crate) async fn hydrate_step<S: Store>(cx: &mut Cx<'_, S>, budget: u64) -> Result<Option<(String, bool)>> {
    let disks: Vec<Disk> = cx.scan(keys::DISKS).await?;
    let connected = |d: &Disk| d.hydration.as_ref().is_some_and(|h| cx.store_connected(&h.store));
    let Some(mut disk) = disks.into_iter().filter(connected).min_by_key(|d| d.seq) else { return Ok(None) };
    let h = disk.hydration.clone().unwrap();
    let bs = 1u64 << h.block_shift;
    let size = disk.size_gib << 30;
    let mut spent = 0u64;
    let mut remote = Remote::new(&h.store, &h.pages, h.block_shift, kms::block_key(cx, disk.data_key)?);
    let mut done_pages = Vec::new();
    let mut wait = None;
    for &page in h.pages.keys() {
        if spent > 0 && spent >= budget {
            break;
        }
        for slot in 0..PAGE {
            let index = page * PAGE + slot;
            if h.dirty.contains(&index) || index * bs >= size {
                continue;
            }
            match remote.block(cx, index).await {
                Ok(Some(block)) => {
                    let n = (block.len() as u64).min(size - index * bs) as usize;
                    cx.t.write(disk.volume, index * bs, &block[..n]).await?;
                    spent += bs;
                }
                Ok(None) => {}
                Err(e) if e.is_pending() => {
                    spent += bs;
                    wait = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        done_pages.push(page);
    }
    if let Some(e) = wait {
        return Err(e);
    }
    let h = disk.hydration.as_mut().unwrap();
    let mut copied = std::collections::BTreeMap::new();
    for page in done_pages {
        if let Some(hash) = h.pages.remove(&page) {
            copied.insert(page, hash);
        }
        h.dirty.retain(|i| i / PAGE != page);
    }
    if h.holds_pages {
        snapstore::hold_pages(&mut cx.store_at(&h.store), &copied, -1).await?;
    }
    let done = h.pages.is_empty();
    if done {
        disk.hydration = None;
    }
    cx.put(&disk);
    Ok(Some((disk.id, done)))
}

/// Percent of a hydration done.
pub(crate) fn hydration_progress(h: &Hydration) -> u64 {
    if h.total_pages == 0 {
        return 100;
    }
    ((h.total_pages - h.pages.len() as u64) * 100 / h.total_pages).min(99)
}

/// The byte ranges of a released snapshot that hold data (its manifest's
/// blocks), ascending and merged.
pub(crate) async fn released_runs<S: Store>(cx: &mut Cx<'_, S>, snap: &Snapshot) -> Result<Vec<(u64, u64)>> {
    let m = manifest_of(cx, snap).await?;
    let bs = 1u64 << m.block_shift;
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (page, hash) in &m.pages {
        let entries = load_page(&mut cx.store_at(&snap.store), hash).await?;
        for slot in entries.keys() {
            let start = (page * PAGE + *slot as u64) * bs;
            match runs.last_mut() {
                Some((s, l)) if *s + *l == start => *l += bs,
                _ => runs.push((start, bs)),
            }
        }
    }
    Ok(runs)
}
