//! The content-addressed snapshot store: where normal snapshots' data lives
//! once uploaded, over the object-store seam ([`ObjectStore`]).
//!
//! Objects (content-addressed with BLAKE3, so a block already stored, from
//! any disk, is stored once):
//!
//! ```text
//!   snap/packs/<pack id>     new blocks of one upload step, concatenated (at most 1 MiB)
//!   snap/pages/<hash>        a page: up to 256 (slot -> block hash) entries
//!   snap/manifests/<s-id>    {block size, size, page index -> page hash}
//!   snap/blocks/<hash>       one block's bytes (databases from before packs)
//! ```
//!
//! Blocks are packed because IndexedDB stores 1 MiB records much faster than
//! 32 KiB ones (measured when reads used getAll: a copy of 32 KiB records
//! into 1 MiB records ran at ~70 MB/s, into 32 KiB records at ~55-60).
//!
//! Counts (records in the database, always in the caller's transaction):
//! `oss/block/<hash>` says how many pages (and pages being built) hold a
//! block and where it lives (`{"n": count, "p": pack, "s": slot}`; a bare
//! number before packs); `oss/pack/<id>` counts a pack's live blocks (the
//! pack goes with the last; a partly dead pack keeps its dead bytes until
//! then); `oss/page/<hash>` counts the manifests (and tasks, restores,
//! exports) that hold a page. When a count reaches zero the object goes.
//!
//! Everything here runs over a [`Backing`]: the count records plus the
//! objects of one transaction. [`Embedded`] is the default backing: counts
//! and objects in the same IndexedDB transaction, so an upload step, a
//! release or a cancel is atomic. A remote backing follows the protocol
//! documented on [`ObjectStore`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::engine::{EngineTx, Store};
use crate::error::{Error, Result};
pub use crate::oss::ObjectStore;

/// Blocks per manifest page.
pub const PAGE: u64 = 256;
/// Most bytes of one pack.
const PACK_BYTES: usize = 1 << 20;

pub fn block_key(hash: &str) -> String {
    format!("snap/blocks/{hash}")
}
pub fn page_key(hash: &str) -> String {
    format!("snap/pages/{hash}")
}
pub fn manifest_key(snapshot_id: &str) -> String {
    format!("snap/manifests/{snapshot_id}")
}
fn pack_key(id: &str) -> String {
    format!("snap/packs/{id}")
}
fn block_count_key(hash: &str) -> String {
    format!("oss/block/{hash}")
}
fn page_count_key(hash: &str) -> String {
    format!("oss/page/{hash}")
}
fn pack_count_key(id: &str) -> String {
    format!("oss/pack/{id}")
}

/// An uploaded snapshot's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Manifest {
    pub block_shift: u8,
    pub size: u64,
    pub pages: BTreeMap<u64, String>,
}

/// A page: slot -> block hash.
pub type Page = BTreeMap<u16, String>;

/// The count records and objects of one transaction.
#[allow(async_fn_in_trait)]
pub trait Backing {
    type Objects: ObjectStore;
    /// A count record (in the database, in this transaction).
    async fn count(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Many count records at once.
    async fn counts(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>>;
    fn put_count(&mut self, key: &str, value: Vec<u8>);
    fn delete_count(&mut self, key: &str);
    /// The objects.
    fn objects(&mut self) -> &mut Self::Objects;
}

/// The embedded backing: counts in the `records` table and objects in the
/// embedded OSS's `oss_chunks` table (under `snap/`, which no bucket name
/// reaches), both in the caller's engine transaction.
pub struct Embedded<'t, 'a, S: Store>(pub &'t mut EngineTx<'a, S>);

impl<S: Store> ObjectStore for Embedded<'_, '_, S> {
    async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get_in(crate::oss::CHUNKS, key).await?)
    }
    fn put(&mut self, key: &str, data: Vec<u8>) {
        self.0.put_in(crate::oss::CHUNKS, key, data);
    }
    fn delete(&mut self, key: &str) {
        self.0.delete_in(crate::oss::CHUNKS, key);
    }
}

impl<S: Store> Backing for Embedded<'_, '_, S> {
    type Objects = Self;
    async fn count(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.0.get_in(crate::schema::RECORDS, key).await?)
    }
    async fn counts(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(self.0.get_many_in(crate::schema::RECORDS, keys).await?)
    }
    fn put_count(&mut self, key: &str, value: Vec<u8>) {
        self.0.put_in(crate::schema::RECORDS, key, value);
    }
    fn delete_count(&mut self, key: &str) {
        self.0.delete_in(crate::schema::RECORDS, key);
    }
    fn objects(&mut self) -> &mut Self {
        self
    }
}

async fn load_u64<B: Backing>(b: &mut B, key: &str) -> Result<u64> {
    match b.count(key).await? {
        Some(v) => Ok(serde_json::from_slice(&v)?),
        None => Ok(0),
    }
}

fn save_u64<B: Backing>(b: &mut B, key: &str, n: u64) {
    b.put_count(key, n.to_string().into_bytes());
}

/// A block's count record: how many hold it, and where it lives (a pack and
/// its slot; no pack: its own `snap/blocks/<hash>` object, as before packs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct BlockRec {
    #[serde(rename = "n")]
    pub count: u64,
    #[serde(rename = "p", default, skip_serializing_if = "String::is_empty")]
    pub pack: String,
    #[serde(rename = "s", default)]
    pub slot: u32,
}

pub fn parse_block_rec(b: &[u8]) -> Result<BlockRec> {
    // Before packs the record was the bare count.
    match serde_json::from_slice::<u64>(b) {
        Ok(count) => Ok(BlockRec { count, ..Default::default() }),
        Err(_) => Ok(serde_json::from_slice(b)?),
    }
}

/// A block's bytes, through `packs` (packs already read); None when the
/// store does not hold it.
pub async fn load_block<B: Backing>(b: &mut B, hash: &str, bs: usize, packs: &mut HashMap<String, Vec<u8>>) -> Result<Option<Vec<u8>>> {
    let Some(rec) = b.count(&block_count_key(hash)).await? else { return Ok(None) };
    let rec = parse_block_rec(&rec)?;
    if rec.pack.is_empty() {
        return b.objects().get(&block_key(hash)).await;
    }
    if !packs.contains_key(&rec.pack) {
        let Some(p) = b.objects().get(&pack_key(&rec.pack)).await? else { return Ok(None) };
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
pub async fn block_deltas<B: Backing>(b: &mut B, deltas: &BTreeMap<String, i64>, data: &BTreeMap<String, Vec<u8>>, pack_id: &str) -> Result<u64> {
    let keys: Vec<String> = deltas.keys().map(|h| block_count_key(h)).collect();
    let counts = b.counts(&keys).await?;
    let mut stored = 0;
    let mut packs: Vec<Vec<u8>> = Vec::new();
    let mut dead: BTreeMap<String, u64> = BTreeMap::new();
    for ((hash, delta), (key, rec)) in deltas.iter().zip(keys.iter().zip(counts)) {
        if *delta == 0 {
            continue;
        }
        let mut rec = match rec {
            Some(bytes) => parse_block_rec(&bytes)?,
            None => BlockRec::default(),
        };
        let old = rec.count;
        rec.count = (old as i64 + delta).max(0) as u64;
        if old == 0 && rec.count > 0 {
            let bytes = data.get(hash).ok_or_else(|| Error::internal(format!("block {hash} has no data to store")))?;
            if packs.last().is_none_or(|p| p.len() + bytes.len() > PACK_BYTES) {
                packs.push(Vec::with_capacity(PACK_BYTES));
            }
            rec.pack = format!("{pack_id}-{}", packs.len() - 1);
            let p = packs.last_mut().expect("a pack was just pushed");
            rec.slot = (p.len() / bytes.len()) as u32;
            p.extend_from_slice(bytes);
            stored += bytes.len() as u64;
        }
        if rec.count == 0 {
            b.delete_count(key);
            if old > 0 {
                if rec.pack.is_empty() {
                    b.objects().delete(&block_key(hash));
                } else {
                    *dead.entry(rec.pack.clone()).or_insert(0) += 1;
                }
            }
        } else {
            b.put_count(key, serde_json::to_vec(&rec)?);
        }
    }
    let block = data.values().next().map_or(1, |b| b.len() as u64);
    for (i, p) in packs.into_iter().enumerate() {
        let id = format!("{pack_id}-{i}");
        save_u64(b, &pack_count_key(&id), p.len() as u64 / block);
        b.objects().put(&pack_key(&id), p);
    }
    for (id, n) in dead {
        let key = pack_count_key(&id);
        let live = load_u64(b, &key).await?;
        if live <= n {
            b.delete_count(&key);
            b.objects().delete(&pack_key(&id));
        } else {
            save_u64(b, &key, live - n);
        }
    }
    Ok(stored)
}

/// A stored page.
pub async fn load_page<B: Backing>(b: &mut B, hash: &str) -> Result<Page> {
    let bytes = b.objects().get(&page_key(hash)).await?.ok_or_else(|| Error::internal(format!("page {hash} is missing")))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// How many hold page `hash` (0: not stored).
pub async fn page_count<B: Backing>(b: &mut B, hash: &str) -> Result<u64> {
    load_u64(b, &page_count_key(hash)).await
}

/// Adds `delta` to a page's count; stores it from `bytes` when the count
/// leaves zero, deletes it (dropping its blocks) when it reaches zero.
/// Returns the bytes stored.
pub async fn page_ref<B: Backing>(b: &mut B, hash: &str, delta: i64, bytes: Option<&[u8]>) -> Result<u64> {
    let key = page_count_key(hash);
    let old = load_u64(b, &key).await?;
    let new = (old as i64 + delta).max(0) as u64;
    let mut stored = 0;
    if old == 0 && new > 0 {
        let bytes = bytes.ok_or_else(|| Error::internal(format!("page {hash} has no data to store")))?;
        b.objects().put(&page_key(hash), bytes.to_vec());
        stored += bytes.len() as u64;
    }
    if new == 0 {
        b.delete_count(&key);
        if old > 0 {
            let entries = load_page(b, hash).await?;
            b.objects().delete(&page_key(hash));
            block_refs(b, &entries, -1).await?;
        }
    } else {
        save_u64(b, &key, new);
    }
    Ok(stored)
}

/// Adds `delta` (+1 or -1) to the count of each block of `entries` (a page,
/// or a page being built).
pub async fn block_refs<B: Backing>(b: &mut B, entries: &Page, delta: i64) -> Result<()> {
    let mut deltas = BTreeMap::new();
    for h in entries.values() {
        *deltas.entry(h.clone()).or_insert(0) += delta;
    }
    block_deltas(b, &deltas, &BTreeMap::new(), "").await?;
    Ok(())
}

/// Adds `delta` to the count of each page of a page map (a hold by a task or
/// a restore that will read them).
pub async fn hold_pages<B: Backing>(b: &mut B, pages: &BTreeMap<u64, String>, delta: i64) -> Result<()> {
    for h in pages.values() {
        page_ref(b, h, delta, None).await?;
    }
    Ok(())
}

/// Stores a finished page (or finds it stored) and takes one reference on
/// it; the references its entries held while it was built pass to it.
/// Returns its hash and the bytes stored.
pub async fn put_page<B: Backing>(b: &mut B, entries: &Page) -> Result<(String, u64)> {
    let bytes = serde_json::to_vec(entries)?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    if page_count(b, &hash).await? > 0 {
        // The same page is stored: drop the references the staged page held.
        block_refs(b, entries, -1).await?;
    }
    let stored = page_ref(b, &hash, 1, Some(&bytes)).await?;
    Ok((hash, stored))
}

/// The manifest of an uploaded snapshot, if it has one.
pub async fn manifest<B: Backing>(b: &mut B, snapshot_id: &str) -> Result<Option<Manifest>> {
    match b.objects().get(&manifest_key(snapshot_id)).await? {
        Some(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        None => Ok(None),
    }
}

/// Stores a snapshot's manifest (the caller took its page references); returns its bytes.
pub fn put_manifest<B: Backing>(b: &mut B, snapshot_id: &str, m: &Manifest) -> Result<u64> {
    let bytes = serde_json::to_vec(m)?;
    let n = bytes.len() as u64;
    b.objects().put(&manifest_key(snapshot_id), bytes);
    Ok(n)
}

/// Releases a snapshot's manifest and the pages (and blocks) only it held.
pub async fn release<B: Backing>(b: &mut B, snapshot_id: &str) -> Result<()> {
    if let Some(m) = manifest(b, snapshot_id).await? {
        hold_pages(b, &m.pages, -1).await?;
        b.objects().delete(&manifest_key(snapshot_id));
    }
    Ok(())
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
