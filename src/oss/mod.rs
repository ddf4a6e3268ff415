//! The embedded OSS: buckets and objects in the same IndexedDB database as
//! the engine, so that an action touching both is one transaction.
//!
//! - Bucket records `b/<bucket>` and object records `o/<bucket>/<key>` live in
//!   the `oss_objects` table; object data lives in `oss_chunks` under
//!   `<upload id>/<chunk index>`, in chunks of [`CHUNK`] bytes. All-zero
//!   chunks are not stored: a missing chunk reads as zeros, and `Size` is
//!   still the full size.
//! - An object's record names the upload its chunks belong to. A large put
//!   (a Blob read in slices) writes its chunks in several transactions under
//!   a fresh upload id, and one last transaction points the record at them:
//!   readers see the old object or the new one, never a mix.
//! - [`HIDDEN_BUCKET`] holds snapshot data; it is not a valid user bucket
//!   name, so `listObjects` and `createBucket` cannot reach it.
//!
//! [`ObjectStore`] is the seam the snapshot store ([`crate::snapstore`])
//! works over, so that a remote S3-compatible store can be added without
//! touching it; its doc pins the protocol a remote store follows.

use serde::{Deserialize, Serialize};

use crate::engine::{EngineTx, Store, Table};
use crate::error::{Error, Result};

/// The embedded OSS's buckets and object records, by string key (schema 2).
pub const OBJECTS: Table = Table("oss_objects");
/// The embedded OSS's object data in chunks, by string key (schema 2).
pub const CHUNKS: Table = Table("oss_chunks");

/// Bytes per stored chunk (256 KiB: IndexedDB's fastest record size here).
pub const CHUNK: u64 = 256 << 10;
/// The bucket that holds snapshot data.
pub const HIDDEN_BUCKET: &str = ".rowsnap-snapshots";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BucketMeta {
    pub name: String,
    pub created: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub upload_id: String,
    pub last_modified: u64,
    /// Bytes of the chunks actually stored (zeros are not).
    pub stored: u64,
}

/// One object in a listing.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
}

fn bucket_key(b: &str) -> String {
    format!("b/{b}")
}
fn object_key(b: &str, k: &str) -> String {
    format!("o/{b}/{k}")
}
/// The key of chunk `index` of an upload in `oss_chunks`.
pub fn chunk_key(upload: &str, index: u64) -> String {
    format!("{upload}/{index:010}")
}

/// OSS bucket names: 3-63 lowercase letters, digits and hyphens, starting and
/// ending with a letter or digit.
pub fn check_bucket_name(b: &str) -> Result<()> {
    let ok =
        (3..=63).contains(&b.len()) && b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') && !b.starts_with('-') && !b.ends_with('-');
    if !ok {
        return Err(Error::bad(
            "InvalidBucketName",
            format!("\"{b}\" is not a bucket name: 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen."),
        ));
    }
    Ok(())
}

fn check_key(k: &str) -> Result<()> {
    if k.is_empty() || k.len() > 1023 || k.starts_with('/') || k.starts_with('\\') {
        return Err(Error::bad("InvalidObjectName", "An object key has 1 to 1023 bytes and does not start with / or \\."));
    }
    Ok(())
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn parse<T: for<'de> Deserialize<'de>>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(Error::internal)
}

/// The object-store seam: the objects a content-addressed store (such as
/// [`crate::snapstore`]) keeps, by key, within one unit of work. The
/// embedded OSS implements it inside the caller's IndexedDB transaction
/// ([`crate::snapstore::Embedded`]); an HTTP-backed S3-compatible store can
/// implement it too, under this protocol:
///
/// - Network I/O cannot happen inside an IndexedDB transaction (any await
///   other than an IndexedDB request lets it commit early). So a remote
///   store buffers `put` and `delete` (they are not async) and the work is
///   split: objects are written (and read) outside the transaction.
/// - Objects are written before the records that name them commit: the
///   buffered puts are flushed, and only then are the count and manifest
///   records committed. A crash in between leaves orphan objects, never a
///   record that names a missing object.
/// - Objects are deleted only after the records that named them are gone:
///   the buffered deletes are kept (a sweep list) and carried out after the
///   commit; a deferred sweep removes what a crash left behind.
/// - `get` of an object the store does not hold is `Ok(None)`.
///
/// The embedded store may do all of it in one transaction, which is what
/// keeps an upload step, a release or a cancel atomic there.
#[allow(async_fn_in_trait)]
pub trait ObjectStore {
    /// The object under `key`, if any.
    async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    /// `len` bytes at `offset` of the object (fewer at its end), if any.
    async fn get_range(&mut self, key: &str, offset: u64, len: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.get(key).await?.map(|v| {
            let from = (offset as usize).min(v.len());
            let to = (offset.saturating_add(len) as usize).min(v.len());
            v[from..to].to_vec()
        }))
    }
    /// Stores `data` under `key` (durable before the records naming it commit).
    fn put(&mut self, key: &str, data: Vec<u8>);
    /// Deletes `key` (after the records naming it are gone).
    fn delete(&mut self, key: &str);
}

/// The embedded OSS (stateless: everything is in the transaction's tables).
#[derive(Clone, Copy, Default)]
pub struct Embedded;

impl Embedded {
    pub async fn bucket_exists<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str) -> Result<bool> {
        Ok(t.get_in(OBJECTS, &bucket_key(b)).await?.is_some())
    }

    async fn require_bucket<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str) -> Result<()> {
        if !self.bucket_exists(t, b).await? {
            return Err(Error::no_bucket(b));
        }
        Ok(())
    }

    /// Creates a bucket; no error if it exists.
    pub async fn create_bucket<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, now: u64) -> Result<()> {
        if b != HIDDEN_BUCKET {
            check_bucket_name(b)?;
        }
        if !self.bucket_exists(t, b).await? {
            t.put_in(OBJECTS, &bucket_key(b), json(&BucketMeta { name: b.into(), created: now }));
        }
        Ok(())
    }

    pub async fn list_buckets<S: Store>(&self, t: &mut EngineTx<'_, S>) -> Result<Vec<BucketMeta>> {
        let mut out = Vec::new();
        for (_, v) in t.scan_in(OBJECTS, "b/").await? {
            let b: BucketMeta = parse(&v)?;
            if b.name != HIDDEN_BUCKET {
                out.push(b);
            }
        }
        Ok(out)
    }

    pub async fn head<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, k: &str) -> Result<Option<ObjectMeta>> {
        match t.get_in(OBJECTS, &object_key(b, k)).await? {
            Some(v) => Ok(Some(parse(&v)?)),
            None => Ok(None),
        }
    }

    /// Objects of a bucket whose key starts with `prefix`, sorted by key.
    pub async fn list<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.require_bucket(t, b).await?;
        let mut out = Vec::new();
        for (_, v) in t.scan_in(OBJECTS, &object_key(b, prefix)).await? {
            out.push(parse::<ObjectMeta>(&v)?);
        }
        // Already by key: the scan is in record-key order, `o/<bucket>/<key>`.
        Ok(out)
    }

    /// Writes chunks of `upload` from byte `offset` (a multiple of [`CHUNK`]);
    /// all-zero chunks are skipped. Returns the bytes stored.
    pub fn put_chunks<S: Store>(&self, t: &mut EngineTx<'_, S>, upload: &str, offset: u64, data: &[u8]) -> u64 {
        debug_assert_eq!(offset % CHUNK, 0);
        let mut stored = 0;
        for (i, c) in data.chunks(CHUNK as usize).enumerate() {
            if c.iter().any(|&b| b != 0) {
                t.put_in(CHUNKS, &chunk_key(upload, offset / CHUNK + i as u64), c.to_vec());
                stored += c.len() as u64;
            }
        }
        stored
    }

    /// Points `meta.bucket/meta.key` at the chunks of `meta.upload_id`
    /// (replacing any older object).
    pub async fn complete<S: Store>(&self, t: &mut EngineTx<'_, S>, meta: ObjectMeta) -> Result<()> {
        let (b, k) = (&meta.bucket, &meta.key);
        self.require_bucket(t, b).await?;
        check_key(k)?;
        if let Some(old) = self.head(t, b, k).await? {
            self.delete_chunks(t, &old).await?;
        }
        t.put_in(OBJECTS, &object_key(b, k), json(&meta));
        Ok(())
    }

    async fn delete_chunks<S: Store>(&self, t: &mut EngineTx<'_, S>, m: &ObjectMeta) -> Result<()> {
        for i in 0..m.size.div_ceil(CHUNK) {
            t.delete_in(CHUNKS, &chunk_key(&m.upload_id, i));
        }
        Ok(())
    }

    /// Deletes chunks `indexes` of an upload that will not complete, by key
    /// (nothing is read: a large upload's chunks never sit in memory).
    pub fn delete_upload_chunks<S: Store>(&self, t: &mut EngineTx<'_, S>, upload: &str, indexes: impl Iterator<Item = u64>) {
        for i in indexes {
            t.delete_in(CHUNKS, &chunk_key(upload, i));
        }
    }

    /// Deletes the chunks of an upload that never completed.
    pub async fn abort_upload<S: Store>(&self, t: &mut EngineTx<'_, S>, upload: &str) -> Result<()> {
        for (k, _) in t.scan_in(CHUNKS, &format!("{upload}/")).await? {
            t.delete_in(CHUNKS, &k);
        }
        Ok(())
    }
}

/// The calls `window.oss` and the image tasks make on whole objects.
impl Embedded {
    pub async fn exists<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, k: &str) -> Result<bool> {
        Ok(self.head(t, b, k).await?.is_some())
    }

    pub async fn put<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, k: &str, data: &[u8], now: u64) -> Result<u64> {
        self.require_bucket(t, b).await?;
        check_key(k)?;
        // Old chunks are deleted before the new ones are written: requests run
        // in order, so an upload id that repeats (same key, same ms) is safe.
        if let Some(old) = self.head(t, b, k).await? {
            self.delete_chunks(t, &old).await?;
        }
        let upload = format!("u{}-{:x}", now, crate::util::fnv(format!("{b}/{k}").as_bytes()));
        let stored = self.put_chunks(t, &upload, 0, data);
        let meta = ObjectMeta { bucket: b.into(), key: k.into(), size: data.len() as u64, upload_id: upload, last_modified: now, stored };
        t.put_in(OBJECTS, &object_key(b, k), json(&meta));
        Ok(stored)
    }

    pub async fn get<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, k: &str, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        self.require_bucket(t, b).await?;
        let m = self.head(t, b, k).await?.ok_or_else(|| Error::no_key(b, k))?;
        let (offset, len) = range.unwrap_or((0, m.size));
        let start = offset.min(m.size);
        let end = offset.saturating_add(len).min(m.size); // a range past the end is cut short
        let mut out = vec![0u8; (end - start) as usize];
        if start == end {
            return Ok(out);
        }
        let first = start / CHUNK;
        let last = (end - 1) / CHUNK;
        let keys: Vec<String> = (first..=last).map(|i| chunk_key(&m.upload_id, i)).collect();
        let chunks = t.get_many_in(CHUNKS, &keys).await?;
        for (i, c) in (first..=last).zip(chunks) {
            let Some(c) = c else { continue }; // a zero chunk
            let c_start = i * CHUNK;
            let from = start.max(c_start);
            let to = end.min(c_start + c.len() as u64);
            if from < to {
                out[(from - start) as usize..(to - start) as usize].copy_from_slice(&c[(from - c_start) as usize..(to - c_start) as usize]);
            }
        }
        Ok(out)
    }

    pub async fn delete<S: Store>(&self, t: &mut EngineTx<'_, S>, b: &str, k: &str) -> Result<()> {
        self.require_bucket(t, b).await?;
        if let Some(m) = self.head(t, b, k).await? {
            self.delete_chunks(t, &m).await?;
            t.delete_in(OBJECTS, &object_key(b, k));
        }
        Ok(())
    }
}
