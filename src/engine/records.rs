//! The engine's records and their byte layouts (see ARCHITECTURE.md).

use super::codec::{Dec, Enc};
use super::EngineError;

/// Format version of the engine's records. Bumped with a migration in `Engine::open`.
pub const FORMAT_VERSION: u32 = 1;

/// Entries per tree node (leaf or interior): 256. Small nodes keep the
/// copy-on-write of a path cheap (a full leaf is 4 KiB of entries), and make
/// the work of a write, rollback or delete the same for a disk of 16 MiB or
/// 1 TiB (see the rollback figures in `make bench`).
pub const FAN_BITS: u32 = 8;
pub const FAN: usize = 1 << FAN_BITS;
/// Every block map is a tree of exactly this many levels: level 3 (root)
/// down to level 0 (leaves). Up to 2^32 blocks per volume: with 32 KiB
/// blocks, 128 TiB. A fixed depth makes rollback and clone pointer swaps and
/// resize a change of one number.
pub const LEVELS: u32 = 4;
pub const MAX_BLOCKS: u64 = 1 << (FAN_BITS * LEVELS);

/// Key 0 of the meta table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    pub format: u32,
    pub next_node: u64,
    pub next_block: u64,
    pub next_volume: u64,
    pub next_snapshot: u64,
    /// Bumped at every snapshot, rollback and clone; blocks written now are born at it.
    pub generation: u64,
    /// Data blocks stored right now (what the Blocks table holds).
    pub stored_blocks: u64,
    /// Roots dropped by a rollback whose reference is released later (the
    /// next write or delete, or `collect_garbage`): rollback stays O(1).
    pub garbage: Vec<u64>,
}

impl Default for Superblock {
    fn default() -> Self {
        Self::new()
    }
}

impl Superblock {
    pub fn new() -> Self {
        Superblock {
            format: FORMAT_VERSION,
            next_node: 1,
            next_block: 1,
            next_volume: 1,
            next_snapshot: 1,
            generation: 1,
            stored_blocks: 0,
            garbage: Vec::new(),
        }
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(52);
        e.u32(self.format)
            .u64(self.next_node)
            .u64(self.next_block)
            .u64(self.next_volume)
            .u64(self.next_snapshot)
            .u64(self.generation)
            .u64(self.stored_blocks)
            .u32(self.garbage.len() as u32);
        for &g in &self.garbage {
            e.u64(g);
        }
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, EngineError> {
        let mut d = Dec::new(b, "superblock");
        Ok(Superblock {
            format: d.u32()?,
            next_node: d.u64()?,
            next_block: d.u64()?,
            next_volume: d.u64()?,
            next_snapshot: d.u64()?,
            generation: d.u64()?,
            stored_blocks: d.u64()?,
            garbage: {
                // Absent in records written before it existed: none.
                let n = if d.is_empty() { 0 } else { d.u32()? };
                (0..n).map(|_| d.u64()).collect::<Result<_, _>>()?
            },
        })
    }
}

/// A volume (a virtual disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRec {
    pub id: u64,
    pub size: u64,
    pub block_shift: u8,
    /// Root node of the block map (0: nothing written).
    pub root: u64,
    /// Mapped (non-zero) blocks.
    pub referenced_blocks: u64,
    /// Mapped blocks written since the base (entries born after `base_gen`).
    pub written_blocks: u64,
    /// The snapshot this volume's map last equalled (taken, rolled back to, cloned from); 0: none.
    pub base: u64,
    pub base_gen: u64,
    /// The data key its blocks are sealed with (0: stored as they are).
    pub key: u64,
}

impl VolumeRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(64);
        e.u64(self.id)
            .u64(self.size)
            .u8(self.block_shift)
            .u64(self.root)
            .u64(self.referenced_blocks)
            .u64(self.written_blocks)
            .u64(self.base)
            .u64(self.base_gen);
        if self.key != 0 {
            e.u64(self.key); // absent in plain volumes: their records stay as they were
        }
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, EngineError> {
        let mut d = Dec::new(b, "volume");
        Ok(VolumeRec {
            id: d.u64()?,
            size: d.u64()?,
            block_shift: d.u8()?,
            root: d.u64()?,
            referenced_blocks: d.u64()?,
            written_blocks: d.u64()?,
            base: d.u64()?,
            base_gen: d.u64()?,
            key: if d.is_empty() { 0 } else { d.u64()? },
        })
    }
}

/// A snapshot: a frozen block map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotRec {
    pub id: u64,
    /// The volume it was taken of (which may since have been deleted).
    pub volume: u64,
    pub size: u64,
    pub block_shift: u8,
    pub root: u64,
    pub referenced_blocks: u64,
    /// Blocks written between the volume's previous base and this snapshot.
    pub incremental_blocks: u64,
    /// The volume's base when this was taken (0: none): its predecessor.
    pub parent: u64,
    /// The generation it was taken at; orders snapshots in time.
    pub generation: u64,
    /// The data key its blocks are sealed with (its volume's; 0: none).
    pub key: u64,
}

impl SnapshotRec {
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(72);
        e.u64(self.id)
            .u64(self.volume)
            .u64(self.size)
            .u8(self.block_shift)
            .u64(self.root)
            .u64(self.referenced_blocks)
            .u64(self.incremental_blocks)
            .u64(self.parent)
            .u64(self.generation);
        if self.key != 0 {
            e.u64(self.key);
        }
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, EngineError> {
        let mut d = Dec::new(b, "snapshot");
        Ok(SnapshotRec {
            id: d.u64()?,
            volume: d.u64()?,
            size: d.u64()?,
            block_shift: d.u8()?,
            root: d.u64()?,
            referenced_blocks: d.u64()?,
            incremental_blocks: d.u64()?,
            parent: d.u64()?,
            generation: d.u64()?,
            key: if d.is_empty() { 0 } else { d.u64()? },
        })
    }
}

/// A block-map tree node. Interior nodes hold child node ids; leaves hold
/// block ids and, per entry, the generation it was written at. Id 0 is "none".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub level: u8,
    pub ids: Vec<u64>,
    /// Leaves only (empty for interior nodes).
    pub births: Vec<u64>,
}

impl Node {
    pub fn empty(level: u8) -> Self {
        Node { level, ids: vec![0; FAN], births: if level == 0 { vec![0; FAN] } else { Vec::new() } }
    }

    pub fn is_leaf(&self) -> bool {
        self.level == 0
    }

    /// Layout: level u8, dense u8, count u16, then either `count` sparse
    /// entries (slot u16, id u64[, birth u64]) or FAN dense entries (id u64[, birth u64]).
    pub fn encode(&self) -> Vec<u8> {
        let leaf = self.is_leaf();
        let count = self.ids.iter().filter(|&&i| i != 0).count();
        let entry = if leaf { 16 } else { 8 };
        let dense = (count * (entry + 2)) > FAN * entry;
        let mut e = Enc::with_capacity(4 + if dense { FAN * entry } else { count * (entry + 2) });
        e.u8(self.level).u8(dense as u8).u16(count as u16);
        for (slot, &id) in self.ids.iter().enumerate() {
            if !dense && id == 0 {
                continue;
            }
            if !dense {
                e.u16(slot as u16);
            }
            e.u64(id);
            if leaf {
                e.u64(self.births[slot]);
            }
        }
        e.0
    }

    pub fn decode(b: &[u8]) -> Result<Self, EngineError> {
        let mut d = Dec::new(b, "node");
        let level = d.u8()?;
        if level as u32 >= LEVELS {
            return Err(EngineError::Corrupt(format!("node level {level}")));
        }
        let dense = d.u8()? != 0;
        let count = d.u16()? as usize;
        let mut n = Node::empty(level);
        let leaf = n.is_leaf();
        if dense {
            for slot in 0..FAN {
                n.ids[slot] = d.u64()?;
                if leaf {
                    n.births[slot] = d.u64()?;
                }
            }
        } else {
            for _ in 0..count {
                let slot = d.u16()? as usize;
                if slot >= FAN {
                    return Err(EngineError::Corrupt(format!("node slot {slot}")));
                }
                n.ids[slot] = d.u64()?;
                if leaf {
                    n.births[slot] = d.u64()?;
                }
            }
        }
        Ok(n)
    }
}

/// Reference counts are kept in pages of this many u32 counters (4 KiB).
pub const RC_PAGE: u64 = 1024;

/// Which id space a reference count belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RcKind {
    Node = 0,
    Block = 1,
}

/// The Refcounts-table key of the page that holds `id`'s counter.
pub fn rc_page_key(kind: RcKind, id: u64) -> u64 {
    (id / RC_PAGE) * 2 + kind as u64
}

/// A page of reference counts; absent pages are all zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcPage(pub Vec<u32>);

impl RcPage {
    pub fn zero() -> Self {
        RcPage(vec![0; RC_PAGE as usize])
    }
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&c| c == 0)
    }
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Enc::with_capacity(RC_PAGE as usize * 4);
        for &c in &self.0 {
            e.u32(c);
        }
        e.0
    }
    pub fn decode(b: &[u8]) -> Result<Self, EngineError> {
        if b.len() != RC_PAGE as usize * 4 {
            return Err(EngineError::Corrupt("refcount page has the wrong size".into()));
        }
        let mut d = Dec::new(b, "refcount page");
        let mut v = Vec::with_capacity(RC_PAGE as usize);
        while !d.is_empty() {
            v.push(d.u32()?);
        }
        Ok(RcPage(v))
    }
}
