//! A remote tier of the snapshot store: an S3-compatible bucket holding
//! packs (only there), pages and manifests (there and mirrored locally).
//!
//! No network I/O can happen inside an IndexedDB transaction, so a
//! transaction never waits for the bucket. It works against an
//! [`Exchange`], the tab's view of the bucket: objects already fetched, and
//! objects already stored (with their hash). An object a transaction lacks,
//! or writes that the bucket does not hold yet, makes it fail with
//! [`Error::pending`]; the caller drops the transaction, moves the objects
//! (`Exchange::take_wants`, outside any transaction) and runs the same work
//! again, which now finds everything (the work is deterministic: pack ids
//! come from the task's record, blocks of encrypted uploads are sealed with
//! nonces derived from their content). So objects are in the bucket before
//! the records naming them commit; deletes are records (`sweep/<key>`)
//! written in the transaction that drops the last reference, carried out
//! after it commits ([`SWEEP`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::error::{Error, Result};

/// Records naming remote objects to delete (`sweep/<store id>|<key>`).
pub const SWEEP: &str = "sweep/";
/// Requests of one exchange in flight at once.
const IN_FLIGHT: usize = 4;
/// Most bytes of fetched objects kept (the oldest go first).
const CACHE_BYTES: usize = 64 << 20;

/// A future of the remote seam (no `Send`: the browser is one thread).
pub type Io<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + 'a>>;

/// The remote seam: an object store reached over the network (S3 in the
/// browser, a map in the native tests). Keys are full object keys.
pub trait Objects {
    /// The object, or None when the bucket has no such key.
    fn get<'a>(&'a self, key: &'a str) -> Io<'a, Option<Vec<u8>>>;
    /// Stores an object (checked by the server against its Content-MD5).
    fn put<'a>(&'a self, key: &'a str, data: &'a [u8]) -> Io<'a, ()>;
    /// Deletes an object (a missing one is not an error).
    fn delete<'a>(&'a self, key: &'a str) -> Io<'a, ()>;
    /// Keys under `prefix`; with a delimiter, the common prefixes instead.
    fn list<'a>(&'a self, prefix: &'a str, delimiter: bool) -> Io<'a, Vec<String>>;
    /// Objects under `prefix`: (key, size, last modified as ISO 8601).
    fn list_meta<'a>(&'a self, prefix: &'a str) -> Io<'a, Vec<(String, u64, String)>>;
    /// `len` bytes at `offset` (fewer at the end; none past it), the
    /// object's size and its ETag ("" if the server gives none); None when
    /// there is no such key.
    fn get_range<'a>(&'a self, key: &'a str, offset: u64, len: u64) -> Io<'a, Option<(Vec<u8>, u64, String)>>;
    /// A multipart upload: begun (its id), parts put (each its ETag), completed or aborted.
    fn multipart_begin<'a>(&'a self, key: &'a str) -> Io<'a, String>;
    fn multipart_part<'a>(&'a self, key: &'a str, upload: &'a str, part: u32, data: &'a [u8]) -> Io<'a, String>;
    fn multipart_complete<'a>(&'a self, key: &'a str, upload: &'a str, etags: &'a [String]) -> Io<'a, ()>;
    fn multipart_abort<'a>(&'a self, key: &'a str, upload: &'a str) -> Io<'a, ()>;
}

/// The exchange's name of a request on user object `key` of store `store`
/// that is neither a get nor a put (a multipart upload's begin, part,
/// complete, abort): its parts after the key, its result fetched under it.
pub fn op_key(store: &str, key: &str, parts: &[&str]) -> String {
    format!("{store}|{key}\u{2}{}", parts.join("\u{2}"))
}

/// The exchange's name of `len` bytes at `offset` of a user object `key` in
/// the bucket of store `store` (ImportImage reads; packs of snapshots): its
/// value is the object's size and a fingerprint of its ETag (8 bytes each,
/// little-endian), then the bytes. A
/// `generation` (an import's own) keeps one reader from another's bytes
/// of an object replaced since.
pub fn range_key(store: &str, key: &str, offset: u64, len: u64, generation: &str) -> String {
    format!("{store}|{key}\u{1}{offset}+{len}+{generation}")
}

/// The tab's view of the remote tier (see the module docs).
#[derive(Default)]
pub struct Exchange {
    /// The connected store: its id (from endpoint and bucket) and its client.
    pub store: String,
    pub objects: Option<Rc<dyn Objects>>,
    fetched: HashMap<String, Option<Rc<Vec<u8>>>>,
    order: VecDeque<String>,
    cached: usize,
    stored: HashMap<String, [u8; 32]>,
    want_get: BTreeSet<String>,
    want_put: BTreeMap<String, Vec<u8>>,
    /// Objects fetched during the current `Ecs::remote` call: not evicted
    /// before it ends, so that a piece of work that needs many finds them all.
    pinned: std::collections::HashSet<String>,
    /// How deep `Ecs::remote` calls are nested (the outermost ends a call).
    pub depth: u32,
    /// Why the last exchange failed (uploads wait for the store meanwhile).
    pub last_error: Option<String>,
    /// The connected bucket's name (window.oss and the OSS page show it).
    pub bucket: String,
    /// Multipart uploads to it in progress (window.oss, the OSS page): upload
    /// id -> (key, the parts' ETags so far).
    pub uploads: HashMap<String, (String, Vec<String>)>,
    /// What an upload step read from its snapshot (immutable), kept for the
    /// same step's next round: (engine snapshot, offset, length) -> bytes.
    pub reads: HashMap<(u64, u64, u64), Vec<u8>>,
}

impl Exchange {
    /// An object for a transaction: fetched already, or wanted (pending).
    pub fn get(&mut self, key: &str) -> Result<Option<Rc<Vec<u8>>>> {
        match self.fetched.get(key) {
            Some(v) => Ok(v.clone()),
            None => {
                self.want_get.insert(key.to_string());
                Err(Error::pending())
            }
        }
    }

    /// The result of a request ([`op_key`]) made for a transaction: done
    /// already, or wanted (pending; `data` is its body).
    pub fn op(&mut self, key: &str, data: Vec<u8>) -> Result<Vec<u8>> {
        match self.fetched.get(key) {
            Some(v) => Ok(v.as_ref().map(|v| (**v).clone()).unwrap_or_default()),
            None => {
                self.want_put.insert(key.to_string(), data);
                Err(Error::pending())
            }
        }
    }

    /// A transaction writes an object: fine if the bucket holds these bytes.
    pub fn put(&mut self, key: &str, data: Vec<u8>) {
        if self.stored.get(key) != Some(blake3::hash(&data).as_bytes()) {
            self.want_put.insert(key.to_string(), data);
        }
    }

    /// Whether the transaction must be dropped and the objects moved first.
    pub fn wants(&self) -> bool {
        !self.want_get.is_empty() || !self.want_put.is_empty()
    }

    /// What to move: (keys to fetch, objects to store).
    pub fn take_wants(&mut self) -> (Vec<String>, Vec<(String, Vec<u8>)>) {
        (std::mem::take(&mut self.want_get).into_iter().collect(), std::mem::take(&mut self.want_put).into_iter().collect())
    }

    /// Drops wants of an attempt that failed for another reason.
    pub fn forget_wants(&mut self) {
        self.want_get.clear();
        self.want_put.clear();
    }

    pub fn fetched(&mut self, key: String, data: Option<Vec<u8>>) {
        self.cached += data.as_ref().map_or(0, |d| d.len());
        // The oldest go first, but none the current call fetched.
        while self.cached > CACHE_BYTES {
            let Some(i) = self.order.iter().position(|k| !self.pinned.contains(k)) else { break };
            let old = self.order.remove(i).expect("a position in the queue");
            if let Some(Some(d)) = self.fetched.remove(&old) {
                self.cached -= d.len();
            }
        }
        self.pinned.insert(key.clone());
        if let Some(Some(d)) = self.fetched.insert(key.clone(), data.map(Rc::new)) {
            self.cached -= d.len();
        } else {
            self.order.push_back(key);
        }
    }

    /// An object deleted (or replaced): no longer known here.
    pub fn forget(&mut self, key: &str) {
        self.stored.remove(key);
        if let Some(Some(d)) = self.fetched.remove(key) {
            self.cached -= d.len();
        }
        self.order.retain(|k| k != key);
    }

    pub fn stored(&mut self, key: String, data: &[u8]) {
        self.stored.insert(key, *blake3::hash(data).as_bytes());
    }

    /// A transaction committed: what it wrote is named by records now.
    pub fn committed(&mut self) {
        self.stored.clear();
        self.reads.clear();
        self.pinned.clear();
    }

    /// Objects of a store no longer connected are not kept.
    pub fn reset(&mut self) {
        *self = Exchange::default();
    }
}

/// Moves what a dropped transaction wanted: fetches, then stores (each
/// PUT carries its Content-MD5).
pub async fn exchange(x: &Rc<RefCell<Exchange>>) -> Result<()> {
    let r = exchange_inner(x).await;
    x.borrow_mut().last_error = r.as_ref().err().map(|e| format!("{}: {}", e.code, e.message));
    r
}

async fn exchange_inner(x: &Rc<RefCell<Exchange>>) -> Result<()> {
    let (gets, puts) = x.borrow_mut().take_wants();
    let objects = connected(x)?;
    let store = x.borrow().store.clone();
    let in_store = |k: &str| k.split_once('|').filter(|(s, _)| *s == store).map(|(_, k)| k.to_string()).ok_or_else(not_connected);
    // A few requests in flight at once: on a link with latency, one at a
    // time would leave it idle between requests.
    for batch in gets.chunks(IN_FLIGHT) {
        let keys = batch.iter().map(|k| in_store(k)).collect::<Result<Vec<_>>>()?;
        let got = futures::future::join_all(keys.iter().map(|k| get_any(&*objects, k))).await;
        for ((key, name), v) in batch.iter().zip(&keys).zip(got) {
            let v = v?;
            if v.is_none() && name.starts_with("rowsnap/") {
                // Snapshot data a record names: gone from the bucket.
                return Err(Error::new(
                    500,
                    "InvalidObjectStorage.ObjectMissing",
                    format!("The bucket has no object \"{name}\", which a snapshot's data needs (deleted outside rowsnap?)."),
                ));
            }
            x.borrow_mut().fetched(key.clone(), v);
        }
    }
    // Requests other than puts ([`op_key`]): one at a time, their results kept.
    let (ops, puts): (Vec<_>, Vec<_>) = puts.into_iter().partition(|(k, _)| k.contains('\u{2}'));
    for (key, data) in ops {
        let out = op(&*objects, &in_store(&key)?, &data).await?;
        x.borrow_mut().fetched(key, Some(out));
    }
    for batch in puts.chunks(IN_FLIGHT) {
        let keys = batch.iter().map(|(k, _)| in_store(k)).collect::<Result<Vec<_>>>()?;
        let done = futures::future::join_all(keys.iter().zip(batch).map(|(k, (_, d))| objects.put(k, d))).await;
        for ((key, data), r) in batch.iter().zip(done) {
            r?;
            x.borrow_mut().stored(key.clone(), data);
        }
    }
    Ok(())
}

/// Runs a request named by [`op_key`] (without the store).
pub async fn op(objects: &dyn Objects, name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let mut it = name.split('\u{2}');
    let key = it.next().unwrap_or_default();
    let parts: Vec<&str> = it.collect();
    match parts.as_slice() {
        ["begin", _] => Ok(objects.multipart_begin(key).await?.into_bytes()),
        ["part", upload, n] => Ok(objects.multipart_part(key, upload, n.parse().unwrap_or(1), data).await?.into_bytes()),
        ["complete", upload] => {
            let etags: Vec<String> = String::from_utf8_lossy(data).split('\n').map(str::to_string).collect();
            objects.multipart_complete(key, upload, &etags).await.map(|()| Vec::new())
        }
        ["abort", upload] => objects.multipart_abort(key, upload).await.map(|()| Vec::new()),
        _ => Err(Error::internal(format!("no such request: {parts:?}"))),
    }
}

/// A whole object, or a range of one ([`range_key`]).
async fn get_any(objects: &dyn Objects, key: &str) -> Result<Option<Vec<u8>>> {
    let Some((key, range)) = key.split_once('\u{1}') else { return objects.get(key).await };
    let mut nums = range.split('+');
    let (offset, len) =
        nums.next().zip(nums.next()).and_then(|(o, l)| Some((o.parse().ok()?, l.parse().ok()?))).ok_or_else(|| Error::internal(range.to_string()))?;
    Ok(objects.get_range(key, offset, len).await?.map(|(bytes, size, etag)| {
        let mut v = size.to_le_bytes().to_vec();
        v.extend_from_slice(&crate::util::fnv(etag.as_bytes()).to_le_bytes());
        v.extend_from_slice(&bytes);
        v
    }))
}

/// The connected store's client.
pub fn connected(x: &Rc<RefCell<Exchange>>) -> Result<Rc<dyn Objects>> {
    x.borrow().objects.clone().ok_or_else(not_connected)
}

/// A snapshot whose store is not the connected one.
pub fn not_connected() -> Error {
    Error::forbidden(
        "InvalidObjectStorage.NotConnected",
        "The snapshot's data is in an object storage that is not connected: connect it in Settings > Object Storage (or with window.ecs.setObjectStore).",
    )
}

/// Where a snapshot's uploaded data lives: "" (the embedded store) or
/// `s3:<store id>:<owner>` (a bucket, under the owner database's prefix).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Place {
    pub store: String,
    pub owner: String,
}

impl Place {
    pub fn parse(s: &str) -> Option<Place> {
        let rest = s.strip_prefix("s3:")?;
        let (store, owner) = rest.split_once(':')?;
        Some(Place { store: store.into(), owner: owner.into() })
    }
    pub fn name(&self) -> String {
        format!("s3:{}:{}", self.store, self.owner)
    }
    /// The objects' prefix in the bucket.
    pub fn prefix(&self) -> String {
        format!("rowsnap/{}/", self.owner)
    }
    /// The exchange's name of snapshot-store object `key` (`snap/...`):
    /// `<store id>|<key in the bucket>`.
    pub fn remote(&self, key: &str) -> String {
        format!("{}|{}{}", self.store, self.prefix(), key.trim_start_matches("snap/"))
    }
    /// The prefix of its count records and local mirrors.
    pub fn local(&self) -> String {
        format!("s3/{}/{}/", self.store, self.owner)
    }
}
