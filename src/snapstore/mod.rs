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
//! objects of one transaction. [`Backed`] without a tier is the default: counts
//! and objects in the same IndexedDB transaction, so an upload step, a
//! release or a cancel is atomic. A remote backing follows the protocol
//! documented on [`ObjectStore`].

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use crate::engine::{EngineTx, Store};
use crate::error::{Error, Result};
pub use crate::oss::ObjectStore;
pub use tier::{Exchange, Objects, Place, SWEEP};

pub mod tier;

/// Blocks per manifest page.
pub const PAGE: u64 = 256;
/// Most bytes of one pack.
const PACK_BYTES: usize = 1 << 20;
/// Blocks of a pack read from a bucket at once (a ranged GET).
const WINDOW: u32 = 8;

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
    /// In a bucket: the snapshot it describes (id, name, source disk and its
    /// size, creation time, ...), what a database that never saw it needs
    /// to register it (`recoverSnapshots`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<serde_json::Value>,
}

/// A page: slot -> block hash.
pub type Page = BTreeMap<u16, String>;

/// A page entry as stored: the block's hash, or (in a remote tier) the hash
/// and where the block lives (pack, slot).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
enum Entry {
    Hash(String),
    At(String, String, u32),
}

impl Entry {
    fn hash(self) -> String {
        match self {
            Entry::Hash(h) | Entry::At(h, _, _) => h,
        }
    }
}

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
    /// Pages name where each block lives (a remote tier: a bucket read by
    /// another database has none of this one's count records).
    fn located(&self) -> bool {
        false
    }
    /// Whether this database counts (and so may delete) the objects: not
    /// in a bucket prefix another database owns, which is only read.
    fn owned(&self) -> bool {
        true
    }
}

/// The backing of one transaction: counts in the `records` table and
/// objects in the embedded OSS's `oss_chunks` table (under `snap/`, which no
/// bucket name reaches), both in the caller's engine transaction; with a
/// remote tier, counts and pages and manifests (mirrored) under the place's
/// local prefix, and the objects in its bucket through the [`Exchange`].
pub struct Backed<'t, 'a, S: Store> {
    pub t: &'t mut EngineTx<'a, S>,
    /// The remote tier: where, whether this database owns it (deletes
    /// there), and the tab's exchange with it.
    pub tier: Option<(Place, bool, Rc<RefCell<Exchange>>)>,
}

fn is_pack(key: &str) -> bool {
    key.starts_with("snap/packs/") || key.starts_with("snap/blocks/")
}

impl<S: Store> Backed<'_, '_, S> {
    fn local_key(&self, key: &str) -> String {
        match &self.tier {
            Some((p, _, _)) => format!("{}{key}", p.local()),
            None => key.to_string(),
        }
    }
    fn remote_get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let (p, _, x) = self.tier.as_ref().expect("a remote tier");
        let remote = p.remote(key);
        Ok(x.borrow_mut().get(&remote)?.map(|v| (*v).clone()))
    }
}

impl<S: Store> ObjectStore for Backed<'_, '_, S> {
    async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        if self.tier.is_some() && is_pack(key) {
            return self.remote_get(key);
        }
        // Pages and manifests of this database's own prefix are all mirrored
        // here; another database's are read from the bucket.
        match self.t.get_in(crate::oss::CHUNKS, &self.local_key(key)).await? {
            None if self.tier.as_ref().is_some_and(|t| !t.1) => self.remote_get(key),
            v => Ok(v),
        }
    }
    async fn get_range(&mut self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        let Some((p, _, x)) = self.tier.as_ref().filter(|_| is_pack(key)) else {
            let v = self.get(key).await?;
            return Ok(v.map(|v| v[(offset as usize).min(v.len())..((offset + len) as usize).min(v.len())].to_vec()));
        };
        // A ranged GET of the pack: its size and ETag's fingerprint first (8 bytes each), then the bytes.
        let name = format!("{}\u{1}{offset}+{len}+", p.remote(key));
        Ok(x.borrow_mut().get(&name)?.map(|v| v.get(16..).unwrap_or_default().to_vec()))
    }
    fn put(&mut self, key: &str, data: Vec<u8>) {
        let local = self.local_key(key);
        let Some((p, own, x)) = &self.tier else { return self.t.put_in(crate::oss::CHUNKS, key, data) };
        let remote = p.remote(key);
        self.t.delete_in(crate::schema::RECORDS, &format!("{SWEEP}{remote}"));
        // Another database's prefix is never written (a copy's manifest stays here).
        if is_pack(key) {
            x.borrow_mut().put(&remote, data);
        } else {
            if *own {
                x.borrow_mut().put(&remote, data.clone());
            }
            self.t.put_in(crate::oss::CHUNKS, &local, data);
        }
    }
    fn delete(&mut self, key: &str) {
        let local = self.local_key(key);
        let Some((p, own, _)) = &self.tier else { return self.t.delete_in(crate::oss::CHUNKS, key) };
        if *own {
            let remote = p.remote(key);
            self.t.put_in(crate::schema::RECORDS, &format!("{SWEEP}{remote}"), Vec::new());
        }
        if !is_pack(key) {
            self.t.delete_in(crate::oss::CHUNKS, &local);
        }
    }
}

impl<S: Store> Backing for Backed<'_, '_, S> {
    type Objects = Self;
    async fn count(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.local_key(key);
        Ok(self.t.get_in(crate::schema::RECORDS, &key).await?)
    }
    async fn counts(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        let keys: Vec<String> = keys.iter().map(|k| self.local_key(k)).collect();
        Ok(self.t.get_many_in(crate::schema::RECORDS, &keys).await?)
    }
    fn put_count(&mut self, key: &str, value: Vec<u8>) {
        let key = self.local_key(key);
        self.t.put_in(crate::schema::RECORDS, &key, value);
    }
    fn delete_count(&mut self, key: &str) {
        let key = self.local_key(key);
        self.t.delete_in(crate::schema::RECORDS, &key);
    }
    fn objects(&mut self) -> &mut Self {
        self
    }
    fn located(&self) -> bool {
        self.tier.is_some()
    }
    fn owned(&self) -> bool {
        self.tier.as_ref().is_none_or(|t| t.1)
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

/// Where each block of page `hash` lives: slot -> (hash, its record).
pub async fn located_page<B: Backing>(b: &mut B, hash: &str) -> Result<BTreeMap<u16, (String, BlockRec)>> {
    let bytes = b.objects().get(&page_key(hash)).await?.ok_or_else(|| Error::internal(format!("page {hash} is missing")))?;
    let stored: BTreeMap<u16, Entry> = serde_json::from_slice(&bytes)?;
    let bare: Vec<String> = stored.values().filter_map(|e| if let Entry::Hash(h) = e { Some(block_count_key(h)) } else { None }).collect();
    let mut recs = b.counts(&bare).await?.into_iter();
    let mut out = BTreeMap::new();
    for (slot, e) in stored {
        let v = match e {
            Entry::At(h, pack, s) => (h, BlockRec { count: 1, pack, slot: s }),
            Entry::Hash(h) => {
                let rec = recs.next().flatten().ok_or_else(|| Error::internal(format!("block {h} is missing")))?;
                (h, parse_block_rec(&rec)?)
            }
        };
        out.insert(slot, v);
    }
    Ok(out)
}

/// A block's bytes from where its record says (packs already read kept in
/// `packs`), checked against its hash when they came from a remote tier.
pub async fn load_block_at<B: Backing>(b: &mut B, hash: &str, rec: &BlockRec, bs: usize, packs: &mut HashMap<String, Vec<u8>>) -> Result<Vec<u8>> {
    let missing = || Error::internal(format!("block {hash} is missing from OSS"));
    let bytes = if rec.pack.is_empty() {
        b.objects().get(&block_key(hash)).await?.ok_or_else(missing)?
    } else {
        // From a bucket, a window of the pack (a ranged GET): a first read
        // waits for 256 KiB, not 1 MiB, and blocks scattered over many packs
        // fetch little of each.
        let (name, at) = if b.located() {
            (format!("{}#{}", rec.pack, rec.slot / WINDOW), (rec.slot % WINDOW) as usize * bs)
        } else {
            (rec.pack.clone(), rec.slot as usize * bs)
        };
        if !packs.contains_key(&name) {
            let p = if b.located() {
                let w = (rec.slot / WINDOW) as u64 * WINDOW as u64 * bs as u64;
                b.objects().get_range(&pack_key(&rec.pack), w, WINDOW as u64 * bs as u64).await?
            } else {
                b.objects().get(&pack_key(&rec.pack)).await?
            };
            if packs.len() >= 8 {
                packs.clear(); // bounded: a read touches few packs
            }
            packs.insert(name.clone(), p.ok_or_else(missing)?);
        }
        packs[&name].get(at..at + bs).ok_or_else(missing)?.to_vec()
    };
    if b.located() && blake3::hash(&bytes).to_hex().as_str() != hash {
        return Err(Error::new(
            500,
            "InvalidDiskData.ChecksumMismatch",
            format!("The object storage gave a block whose BLAKE3 checksum is not {hash}: the object was altered or damaged; nothing was written from it."),
        ));
    }
    Ok(bytes)
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
    let stored: BTreeMap<u16, Entry> = serde_json::from_slice(&bytes)?;
    Ok(stored.into_iter().map(|(k, e)| (k, e.hash())).collect())
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
    if !b.owned() {
        return Ok(());
    }
    for h in pages.values() {
        page_ref(b, h, delta, None).await?;
    }
    Ok(())
}

/// Stores a finished page (or finds it stored) and takes one reference on
/// it; the references its entries held while it was built pass to it.
/// Returns its hash and the bytes stored.
pub async fn put_page<B: Backing>(b: &mut B, entries: &Page) -> Result<(String, u64)> {
    let mut bytes = serde_json::to_vec(entries)?;
    let hash = blake3::hash(&bytes).to_hex().to_string();
    if page_count(b, &hash).await? > 0 {
        // The same page is stored: drop the references the staged page held.
        block_refs(b, entries, -1).await?;
    } else if b.located() {
        // Stored with where its blocks live (their records are in this transaction).
        let keys: Vec<String> = entries.values().map(|h| block_count_key(h)).collect();
        let mut at = BTreeMap::new();
        for ((slot, h), rec) in entries.iter().zip(b.counts(&keys).await?) {
            let rec = parse_block_rec(&rec.ok_or_else(|| Error::internal(format!("block {h} has no record")))?)?;
            at.insert(*slot, Entry::At(h.clone(), rec.pack, rec.slot));
        }
        bytes = serde_json::to_vec(&at)?;
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
        // Another database's pages stay (hold_pages); this one's copy of the manifest goes.
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
