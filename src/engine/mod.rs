//! The redirect-on-write block snapshot engine: plain Rust, no browser.
//!
//! # Model
//!
//! A *volume* is a virtual disk of any size in bytes, cut into blocks of
//! `2^block_shift` bytes. Its content is a *block map*: a tree of fixed depth
//! (four levels of 256 entries) from block index to *block id*; a data
//! block is stored once, under its id, in the `Blocks` table. Index 0 in the
//! map means "never written" (reads as zeros, stores nothing); a block written
//! with zeros is unmapped again.
//!
//! ```text
//!   volume d-1 ──► root R1 ─┬─► L1 ─┬─► leaf A  [b1 b2 b3 ...]
//!   snapshot s-1 ─►(R1)     │       └─► leaf B  [b9 ...]
//!                           └─► ...
//! ```
//!
//! A *snapshot* is a second pointer to the volume's current root: taking one
//! costs one record whatever the disk holds. Nodes and data blocks carry
//! reference counts (in pages, `Refcounts` table). A write walks from the
//! volume's root to the leaf; every node on the way that is shared (count > 1)
//! is copied first and its children's counts go up by one (path copying).
//! The write then goes to a new block when the old one is shared
//! (redirect-on-write) and in place when the volume alone holds it.
//!
//! ```text
//!   after a write to block 1:
//!   volume ──► R2 ──► L1' ──► leaf A' [b7 b2 b3 ...]      (b2, b3 now shared)
//!   snapshot ─► R1 ──► L1 ──► leaf A  [b1 b2 b3 ...]
//! ```
//!
//! Rollback points the volume at the snapshot's root; a clone is a new volume
//! pointing at it: O(1) both. A read walks one tree of four levels: it never
//! walks a chain of snapshots. Dropping a root decrements counts and frees
//! whatever reaches zero, so deleting a snapshot frees exactly the nodes and
//! blocks that only it reached: its *exclusive* bytes.
//!
//! Every leaf entry records the generation it was written at; the superblock's
//! generation goes up at every snapshot, rollback and clone. A volume counts
//! the mapped entries born after its base (its last snapshot, rollback or
//! clone): that count is the next snapshot's *incremental* size.
//!
//! # Transactions
//!
//! Each public operation is one [`Store`] transaction: it reads through a
//! bounded cache of committed records, keeps every change in an overlay, and
//! writes the overlay at commit. If the commit fails, the overlay is dropped
//! and nothing changed, in the store or in memory. Callers above the engine
//! (the ECS layer) use [`Engine::begin`] to put their own records into the
//! same transaction.

mod cache;
mod codec;
pub mod memory;
pub mod records;
pub mod seal;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tx;

use std::cell::RefCell;
use std::fmt;

pub use records::{FORMAT_VERSION, MAX_BLOCKS};
pub use store::{Key, Store, StoreError, Table, Tx, ENGINE_TABLES};
pub use tx::EngineTx;

use cache::Lru;
use records::{Node, RcPage, SnapshotRec, Superblock, VolumeRec};
use std::rc::Rc;

/// Smallest and largest block sizes a volume may use (4 KiB .. 1 MiB).
pub const MIN_BLOCK_SHIFT: u8 = 12;
pub const MAX_BLOCK_SHIFT: u8 = 20;
/// The default block size: 32 KiB. Chosen by measurement (`make bench`):
/// Chromium moves values of 64 KiB and more out to blob files, which made
/// 64 KiB blocks the slowest to write; 32 KiB blocks wrote fastest, and
/// cost half as much as 64 KiB per small write redirected after a snapshot.
/// See ARCHITECTURE.md ("Block size").
pub const DEFAULT_BLOCK_SHIFT: u8 = 15;

/// A volume's id (a number in records above the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct VolumeId(pub u64);
/// A snapshot's id (a number in records above the engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(pub u64);

impl From<u64> for VolumeId {
    fn from(n: u64) -> Self {
        VolumeId(n)
    }
}
impl From<VolumeId> for u64 {
    fn from(v: VolumeId) -> u64 {
        v.0
    }
}
impl From<u64> for SnapshotId {
    fn from(n: u64) -> Self {
        SnapshotId(n)
    }
}
impl From<SnapshotId> for u64 {
    fn from(s: SnapshotId) -> u64 {
        s.0
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "volume {}", self.0)
    }
}
impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snapshot {}", self.0)
    }
}

/// What can go wrong in the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0} does not exist")]
    NoSuchVolume(VolumeId),
    #[error("{0} does not exist")]
    NoSuchSnapshot(SnapshotId),
    #[error("range {offset}+{len} is outside the {size}-byte volume")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    #[error("invalid size: {0}")]
    InvalidSize(String),
    #[error("block sizes differ ({0} and {1} bytes)")]
    BlockSizeMismatch(u64, u64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the database is damaged: {0}")]
    Corrupt(String),
    /// The data key of an encrypted volume is not available (its key is locked).
    #[error("data key {0} is not unlocked")]
    KeyUnavailable(u64),
    /// A sealed block failed to open: altered, or not this block.
    #[error("block {index} sealed with data key {key} failed authentication: it was altered or moved, and is not returned")]
    Tampered { key: u64, index: u64 },
    /// A volume and a snapshot sealed with different keys (or one sealed, one not).
    #[error("the snapshot and the volume are not sealed with the same data key")]
    KeyMismatch,
}

/// One of the block maps the engine keeps: a volume's or a snapshot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapRef {
    Volume(VolumeId),
    Snapshot(SnapshotId),
}

/// What the engine says about a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub id: VolumeId,
    pub size: u64,
    pub block_size: u64,
    /// Bytes of mapped blocks (all the volume sees).
    pub referenced_bytes: u64,
    /// Bytes of blocks written since its base: what a snapshot now would add.
    pub written_since_base_bytes: u64,
    /// The snapshot its content last equalled (taken, rolled back to, cloned from).
    pub base: Option<SnapshotId>,
    /// The data key its blocks are sealed with (0: plain).
    pub key: u64,
}

/// What the engine says about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    pub volume: VolumeId,
    pub size: u64,
    pub block_size: u64,
    /// Bytes it added over its predecessor (the volume's base when it was taken).
    pub incremental_bytes: u64,
    /// Bytes of all blocks it sees.
    pub referenced_bytes: u64,
    /// Its predecessor, if any.
    pub parent: Option<SnapshotId>,
    /// Orders snapshots in time: later snapshots have larger generations.
    pub generation: u64,
    /// The data key its blocks are sealed with (0: plain).
    pub key: u64,
}

/// A run of blocks in a [`BlockMap`] that are in the same state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRun {
    pub start: u64,
    pub len: u64,
    pub state: BlockState,
}

/// The state of a block as seen from one volume or snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockState {
    /// Never written (or written with zeros): reads as zeros, stores nothing.
    Unwritten,
    Written {
        /// The oldest snapshot that holds this very block: the one that first
        /// captured the write. None: written since the last snapshot.
        first_snapshot: Option<SnapshotId>,
        /// The other snapshots that hold this very block.
        shared_with: Vec<SnapshotId>,
        /// The volumes whose current content holds this very block (other than the subject).
        shared_with_volumes: Vec<VolumeId>,
        /// True when nothing else holds it (deleting the subject frees it).
        exclusive: bool,
    },
}

/// Which blocks of a volume or snapshot are unwritten, shared or exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMap {
    pub block_size: u64,
    pub blocks: u64,
    pub runs: Vec<BlockRun>,
}

/// Space and record counts of the whole database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStats {
    pub stored_blocks: u64,
    pub volumes: u64,
    pub snapshots: u64,
}

pub(crate) struct Caches {
    pub nodes: Lru<Node>,
    pub rc: Lru<RcPage>,
    pub volumes: Lru<VolumeRec>,
    pub snapshots: Lru<SnapshotRec>,
}

impl Caches {
    fn new(nodes: usize) -> Self {
        Caches { nodes: Lru::new(nodes), rc: Lru::new(nodes / 4), volumes: Lru::new(1024), snapshots: Lru::new(4096) }
    }
}

/// The engine over a [`Store`].
pub struct Engine<S: Store> {
    store: S,
    caches: RefCell<Caches>,
    superblock: RefCell<Rc<Superblock>>,
    /// The data keys given by the layer above (`seal`), by id.
    keys: RefCell<std::collections::HashMap<u64, Rc<seal::BlockKey>>>,
}

impl<S: Store> Engine<S> {
    /// Opens the engine's records in `store`, creating them on a new store.
    pub async fn open(store: S) -> Result<Self, EngineError> {
        Self::open_with_cache(store, 4096).await
    }

    /// As [`Engine::open`], with a cache of at most `nodes` tree nodes.
    pub async fn open_with_cache(store: S, nodes: usize) -> Result<Self, EngineError> {
        let mut tx = store.begin(true).await?;
        let sb = match tx.get(Table::META, &Key::Num(0)).await? {
            Some(b) => {
                let sb = Superblock::decode(&b)?;
                if sb.format > FORMAT_VERSION {
                    return Err(EngineError::Corrupt(format!(
                        "the database has format {} and this rowsnap reads up to {}: use a newer rowsnap",
                        sb.format, FORMAT_VERSION
                    )));
                }
                // Migrations from older formats go here, in this transaction.
                drop(tx);
                sb
            }
            None => {
                let sb = Superblock::new();
                tx.put(Table::META, Key::Num(0), sb.encode());
                tx.commit().await?;
                sb
            }
        };
        Ok(Engine { store, caches: RefCell::new(Caches::new(nodes)), superblock: RefCell::new(Rc::new(sb)), keys: Default::default() })
    }

    /// Gives the engine data key `id` (32 bytes), or takes it away (None):
    /// the volumes and snapshots sealed with it then fail with
    /// [`EngineError::KeyUnavailable`].
    pub fn set_key(&self, id: u64, key: Option<&[u8; 32]>) {
        let mut keys = self.keys.borrow_mut();
        match key {
            Some(k) => keys.insert(id, Rc::new(seal::BlockKey::new(id, k))),
            None => keys.remove(&id),
        };
    }

    /// Data key `id`, when set (to seal and open blocks outside the engine:
    /// uploads of encrypted snapshots).
    pub fn block_key(&self, id: u64) -> Option<Rc<seal::BlockKey>> {
        self.keys.borrow().get(&id).cloned()
    }

    /// Whether data key `id` is set.
    pub fn has_key(&self, id: u64) -> bool {
        self.keys.borrow().contains_key(&id)
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Forgets every cached record (they are re-read from the store).
    pub fn clear_cache(&self) {
        let mut c = self.caches.borrow_mut();
        c.nodes.clear();
        c.rc.clear();
        c.volumes.clear();
        c.snapshots.clear();
    }

    /// Opens a read-write transaction for several operations, or for one
    /// operation plus records of the layers above. Nothing is written until
    /// [`EngineTx::commit`].
    pub async fn begin(&mut self) -> Result<EngineTx<'_, S>, EngineError> {
        let tx = self.store.begin(true).await?;
        Ok(EngineTx::new(self, tx))
    }

    /// As [`Engine::begin`], with a commit that survives an operating system
    /// crash where the store can promise it ([`Store::begin_strict`]).
    pub async fn begin_strict(&mut self) -> Result<EngineTx<'_, S>, EngineError> {
        let tx = self.store.begin_strict().await?;
        Ok(EngineTx::new(self, tx))
    }

    /// A read-only transaction over the engine's tables only: it runs beside
    /// a transaction over the upper tables ([`Engine::begin_upper`]).
    pub async fn begin_engine_read(&self) -> Result<EngineTx<'_, S>, EngineError> {
        let tx = self.store.begin_scoped(false, &store::ENGINE_TABLES).await?;
        Ok(EngineTx::new(self, tx))
    }

    /// A read-write transaction over `tables` of the layers above only:
    /// engine operations are not allowed in it.
    pub async fn begin_upper(&self, tables: &[Table]) -> Result<EngineTx<'_, S>, EngineError> {
        let tx = self.store.begin_scoped(true, tables).await?;
        Ok(EngineTx::new(self, tx))
    }

    async fn read_tx(&mut self) -> Result<EngineTx<'_, S>, EngineError> {
        let tx = self.store.begin(false).await?;
        Ok(EngineTx::new(self, tx))
    }

    /// Creates an empty volume of `size` bytes with blocks of `2^block_shift` bytes.
    /// A volume whose blocks are sealed with data key `key` (0: plain).
    pub async fn create_sealed_volume(&mut self, size: u64, block_shift: u8, key: u64) -> Result<VolumeId, EngineError> {
        let mut t = self.begin().await?;
        let id = t.create_sealed_volume(size, block_shift, key).await?;
        t.commit().await?;
        Ok(id)
    }

    pub async fn create_volume(&mut self, size: u64, block_shift: u8) -> Result<VolumeId, EngineError> {
        let mut t = self.begin().await?;
        let v = t.create_volume(size, block_shift).await?;
        t.commit().await?;
        Ok(v)
    }

    /// Writes `data` at byte `offset`.
    pub async fn write(&mut self, vol: VolumeId, offset: u64, data: &[u8]) -> Result<(), EngineError> {
        let mut t = self.begin().await?;
        t.write(vol, offset, data).await?;
        t.commit().await
    }

    /// Reads `len` bytes at byte `offset` of a volume.
    pub async fn read(&mut self, vol: VolumeId, offset: u64, len: u64) -> Result<Vec<u8>, EngineError> {
        self.read_tx().await?.read(MapRef::Volume(vol), offset, len).await
    }

    /// Reads `len` bytes at byte `offset` of a snapshot.
    pub async fn read_snapshot(&mut self, snap: SnapshotId, offset: u64, len: u64) -> Result<Vec<u8>, EngineError> {
        self.read_tx().await?.read(MapRef::Snapshot(snap), offset, len).await
    }

    /// Takes a snapshot of a volume.
    pub async fn snapshot(&mut self, vol: VolumeId) -> Result<SnapshotId, EngineError> {
        let mut t = self.begin().await?;
        let s = t.snapshot(vol).await?;
        t.commit().await?;
        Ok(s)
    }

    /// Rolls a volume back to a snapshot (every other snapshot stays).
    pub async fn rollback(&mut self, vol: VolumeId, snap: SnapshotId) -> Result<(), EngineError> {
        let mut t = self.begin().await?;
        t.rollback(vol, snap).await?;
        t.commit().await
    }

    /// Creates a volume from a snapshot (sharing its blocks), of `size` bytes
    /// (at least the snapshot's size) or the snapshot's size.
    pub async fn clone_snapshot(&mut self, snap: SnapshotId, size: Option<u64>) -> Result<VolumeId, EngineError> {
        let mut t = self.begin().await?;
        let v = t.clone_snapshot(snap, size).await?;
        t.commit().await?;
        Ok(v)
    }

    /// Grows a volume to `size` bytes.
    pub async fn resize(&mut self, vol: VolumeId, size: u64) -> Result<(), EngineError> {
        let mut t = self.begin().await?;
        t.resize(vol, size).await?;
        t.commit().await
    }

    /// Deletes a snapshot, freeing its exclusive blocks.
    pub async fn delete_snapshot(&mut self, snap: SnapshotId) -> Result<(), EngineError> {
        let mut t = self.begin().await?;
        t.delete_snapshot(snap).await?;
        t.commit().await
    }

    /// Releases what rollbacks dropped (they defer it to stay O(1)); writes
    /// and deletes do it first anyway. Callers run it in the background.
    pub async fn collect_garbage(&mut self) -> Result<(), EngineError> {
        let mut t = self.begin().await?;
        t.collect_garbage().await?;
        t.commit().await
    }

    /// Deletes a volume; its snapshots stay.
    pub async fn delete_volume(&mut self, vol: VolumeId) -> Result<(), EngineError> {
        let mut t = self.begin().await?;
        t.delete_volume(vol).await?;
        t.commit().await
    }

    pub async fn volume_info(&mut self, vol: VolumeId) -> Result<VolumeInfo, EngineError> {
        self.read_tx().await?.volume_info(vol).await
    }

    pub async fn snapshot_info(&mut self, snap: SnapshotId) -> Result<SnapshotInfo, EngineError> {
        self.read_tx().await?.snapshot_info(snap).await
    }

    /// Bytes that deleting the volume or snapshot would free.
    pub async fn exclusive_bytes(&mut self, map: MapRef) -> Result<u64, EngineError> {
        self.read_tx().await?.exclusive_bytes(map).await
    }

    pub async fn list_volumes(&mut self) -> Result<Vec<VolumeInfo>, EngineError> {
        self.read_tx().await?.list_volumes().await
    }

    pub async fn list_snapshots(&mut self) -> Result<Vec<SnapshotInfo>, EngineError> {
        self.read_tx().await?.list_snapshots().await
    }

    /// Block ranges `(first block, count)` whose content differs between two
    /// maps with the same block size (like EBS ListChangedBlocks).
    pub async fn changed_blocks(&mut self, a: MapRef, b: MapRef) -> Result<Vec<(u64, u64)>, EngineError> {
        self.read_tx().await?.changed_blocks(a, b).await
    }

    /// Which blocks of a volume or snapshot are unwritten, shared or exclusive.
    pub async fn block_map(&mut self, map: MapRef) -> Result<BlockMap, EngineError> {
        self.read_tx().await?.block_map(map).await
    }

    pub async fn stats(&mut self) -> Result<EngineStats, EngineError> {
        self.read_tx().await?.stats().await
    }

    /// Stored records: (data blocks, bytes of every other engine record).
    /// For space figures in tests and benchmarks; reads all metadata.
    pub async fn record_bytes(&mut self) -> Result<(u64, u64), EngineError> {
        let mut tx = self.store.begin(false).await?;
        let mut meta = 0u64;
        for t in [Table::META, Table::VOLUMES, Table::SNAPSHOTS, Table::NODES, Table::REFCOUNTS] {
            meta += tx.get_range(t, 0, 1 << 53).await?.iter().map(|(_, v)| v.len() as u64).sum::<u64>();
        }
        Ok((tx.count(Table::BLOCKS).await?, meta))
    }

    /// Checks every invariant of the stored records: reference counts equal
    /// the references, no record is unreachable, counters are right. Returns
    /// a description of the first problem found.
    pub async fn check(&mut self) -> Result<(), EngineError> {
        self.read_tx().await?.check().await
    }
}
