//! The one seam between the engine and storage: a transactional key-value
//! store with a fixed set of tables.
//!
//! The engine never talks to IndexedDB (or anything else) directly; it talks
//! to a [`Store`]. Two implementations exist: [`crate::engine::memory::MemoryStore`]
//! (the native reference, used by `cargo test` and the native benchmarks) and
//! `IdbStore` (the browser, `src/idb/`), and the same conformance cases run on
//! both.
//!
//! Contract:
//! - A [`Tx`] sees the committed state of the store as of `begin`, plus its
//!   own writes are *not* visible through `get` (the engine keeps its own
//!   overlay; a store may or may not show them, so the engine never asks).
//! - `put`/`delete` are fire-and-forget: a store may buffer them or issue them
//!   at once; failures surface from `commit`.
//! - `commit` is atomic: either every `put` and `delete` of the transaction
//!   becomes durable, or none does and `commit` returns an error. Dropping a
//!   transaction without committing discards it.
//! - Keys of one table are all numbers ([`Key::Num`]) or all strings.

use std::fmt;

/// A table (an IndexedDB object store), by name. Each layer declares the
/// tables it owns: the engine's are below ([`ENGINE_TABLES`], numeric keys);
/// the layers above declare theirs (string keys) and the database's schema
/// (which tables exist since which version) is put together above them
/// (`crate::schema`). The engine keeps the other tables' writes in its
/// transaction's overlay without knowing what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Table(pub &'static str);

impl Table {
    /// Key 0: the superblock (format version, id counters).
    pub const META: Table = Table("meta");
    /// Volume records, by volume id.
    pub const VOLUMES: Table = Table("volumes");
    /// Snapshot records, by snapshot id.
    pub const SNAPSHOTS: Table = Table("snapshots");
    /// Block-map tree nodes, by node id.
    pub const NODES: Table = Table("nodes");
    /// Data blocks, by block id; every value is exactly the volume's block size.
    pub const BLOCKS: Table = Table("blocks");
    /// Reference-count pages, by page key (`records.rs`).
    pub const REFCOUNTS: Table = Table("refcounts");

    /// The object-store name in IndexedDB.
    pub fn name(self) -> &'static str {
        self.0
    }

    /// One of the engine's own tables (numeric keys).
    pub fn is_engine(self) -> bool {
        ENGINE_TABLES.contains(&self)
    }
}

/// A record key: numbers for engine tables, strings for the upper tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Num(u64),
    Str(String),
}

impl From<u64> for Key {
    fn from(n: u64) -> Self {
        Key::Num(n)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::Str(s.to_string())
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The browser refused to store more data. Nothing of the transaction was written.
    QuotaExceeded,
    /// Another tab upgraded or deleted the database; this connection is closed.
    VersionChanged,
    /// The transaction failed or was aborted; nothing of it was written.
    Aborted(String),
    /// Anything else the backend reported.
    Backend(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::QuotaExceeded => write!(f, "the browser's storage quota is exhausted; nothing of this action was written"),
            StoreError::VersionChanged => write!(f, "the database was upgraded or deleted by another tab; reload this page"),
            StoreError::Aborted(m) => write!(f, "the transaction was aborted: {m}"),
            StoreError::Backend(m) => write!(f, "storage error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A transactional store. `begin` opens one transaction over every table.
#[allow(async_fn_in_trait)]
pub trait Store {
    type Tx: Tx;
    /// Opens a transaction; `write` false gives a read-only one.
    async fn begin(&self, write: bool) -> Result<Self::Tx, StoreError>;

    /// Opens a transaction over some tables only. Transactions over disjoint
    /// tables may run at the same time (IndexedDB runs them in parallel); a
    /// store may ignore the scope. Using a table outside it is a bug.
    async fn begin_scoped(&self, write: bool, tables: &[Table]) -> Result<Self::Tx, StoreError> {
        let _ = tables;
        self.begin(write).await
    }

    /// Opens a read-write transaction over every table whose commit, once
    /// reported, survives an operating system crash or a power loss, where
    /// the store can tell the difference (IndexedDB's `durability:
    /// "strict"`: the browser flushes to the device before it reports the
    /// commit). A store without the distinction gives a plain one.
    async fn begin_strict(&self) -> Result<Self::Tx, StoreError> {
        self.begin(true).await
    }
}

/// The engine's own tables.
pub const ENGINE_TABLES: [Table; 6] = [Table::META, Table::VOLUMES, Table::SNAPSHOTS, Table::NODES, Table::BLOCKS, Table::REFCOUNTS];

/// One transaction. See the module docs for the contract.
#[allow(async_fn_in_trait)]
pub trait Tx {
    /// The value under `key`, if any.
    async fn get(&mut self, table: Table, key: &Key) -> Result<Option<Vec<u8>>, StoreError>;
    /// Many values at once (a store issues all requests before awaiting any).
    async fn get_many(&mut self, table: Table, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// The records with numeric keys in `lo..=hi`, ascending, as (key, value).
    async fn get_range(&mut self, table: Table, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// For each `(lo, hi)` range, the values with numeric keys in `lo..=hi`,
    /// ascending, without their keys (cheaper where the caller knows which
    /// keys exist). A store issues every range's request before awaiting any.
    async fn get_values(&mut self, table: Table, ranges: &[(u64, u64)]) -> Result<Vec<Vec<Vec<u8>>>, StoreError>;
    /// As [`Tx::get_values`], handing each value to `each` with its key as it
    /// arrives (a store that gets values one by one calls `each` while later
    /// ones are still being fetched: the caller's work on a value, such as
    /// opening a sealed block, overlaps the fetching of the next). Missing
    /// keys are left out.
    async fn get_values_each(&mut self, table: Table, ranges: &[(u64, u64)], each: &mut dyn FnMut(u64, Vec<u8>)) -> Result<(), StoreError> {
        for (&(lo, _), values) in ranges.iter().zip(self.get_values(table, ranges).await?) {
            for (i, v) in values.into_iter().enumerate() {
                each(lo + i as u64, v);
            }
        }
        Ok(())
    }
    /// How many records the table holds.
    async fn count(&mut self, table: Table) -> Result<u64, StoreError>;
    /// Every string key of a string-keyed table that starts with `prefix`, ascending,
    /// with its value.
    async fn scan_prefix(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Stores `value` under `key` when the transaction commits.
    fn put(&mut self, table: Table, key: Key, value: Vec<u8>);
    /// Deletes `key` when the transaction commits.
    fn delete(&mut self, table: Table, key: Key);
    /// Makes every put and delete durable, atomically, or none of them.
    async fn commit(self) -> Result<(), StoreError>;
}
