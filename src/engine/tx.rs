//! One engine transaction: an overlay of changed records over the committed
//! state, and every operation of the engine written against it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use super::records::{rc_page_key, Node, RcKind, RcPage, SnapshotRec, Superblock, VolumeRec, FAN, FAN_BITS, LEVELS, MAX_BLOCKS, RC_PAGE};
use super::seal::{BlockKey, SEAL_OVERHEAD};
use super::store::{Key, Store, Table, Tx};
use super::{
    BlockMap, BlockRun, BlockState, Engine, EngineError, EngineStats, MapRef, SnapshotId, SnapshotInfo, VolumeId, VolumeInfo, MAX_BLOCK_SHIFT, MIN_BLOCK_SHIFT,
};

/// Largest key IndexedDB holds exactly as a number (2^53).
const KEY_MAX: u64 = 1 << 53;

/// A transaction of the engine. Dropping it without [`EngineTx::commit`]
/// discards every change.
pub struct EngineTx<'e, S: Store> {
    engine: &'e Engine<S>,
    tx: S::Tx,
    sb: Option<Superblock>,
    nodes: HashMap<u64, Option<Rc<Node>>>,
    rc: HashMap<u64, Option<Rc<RcPage>>>,
    volumes: HashMap<u64, Option<Rc<VolumeRec>>>,
    snapshots: HashMap<u64, Option<Rc<SnapshotRec>>>,
    blocks: HashMap<u64, Option<Rc<Vec<u8>>>>,
    /// Changes to the upper tables (ECS records, OSS), read back by this
    /// transaction and written at commit.
    upper: BTreeMap<(Table, String), Option<Vec<u8>>>,
    /// Bytes of the values this transaction will put (figures for benchmarks).
    put_bytes: u64,
}

/// Where a block map lives: its root and geometry.
#[derive(Clone, Copy)]
struct Root {
    root: u64,
    size: u64,
    shift: u8,
    key: u64,
}

fn slot(index: u64, level: u32) -> usize {
    ((index >> (FAN_BITS * level)) & (FAN as u64 - 1)) as usize
}

fn blocks_for(size: u64, shift: u8) -> u64 {
    size.div_ceil(1 << shift)
}

fn validate_geometry(size: u64, shift: u8) -> Result<(), EngineError> {
    if !(MIN_BLOCK_SHIFT..=MAX_BLOCK_SHIFT).contains(&shift) {
        return Err(EngineError::InvalidSize(format!("block size 2^{shift} is outside 4 KiB..1 MiB")));
    }
    if blocks_for(size, shift) > MAX_BLOCKS {
        return Err(EngineError::InvalidSize(format!("{size} bytes is more than {} blocks of {} bytes", MAX_BLOCKS, 1u64 << shift)));
    }
    Ok(())
}

impl<'e, S: Store> EngineTx<'e, S> {
    pub(super) fn new(engine: &'e Engine<S>, tx: S::Tx) -> Self {
        EngineTx {
            engine,
            tx,
            sb: None,
            nodes: HashMap::new(),
            rc: HashMap::new(),
            volumes: HashMap::new(),
            snapshots: HashMap::new(),
            blocks: HashMap::new(),
            upper: BTreeMap::new(),
            put_bytes: 0,
        }
    }

    /// The engine this transaction belongs to (its data keys).
    pub fn engine(&self) -> &Engine<S> {
        self.engine
    }

    // ---------------------------------------------------------------- records

    fn sb(&self) -> Superblock {
        self.sb.clone().unwrap_or_else(|| (**self.engine.superblock.borrow()).clone())
    }

    fn sb_mut(&mut self) -> &mut Superblock {
        if self.sb.is_none() {
            self.sb = Some((**self.engine.superblock.borrow()).clone());
        }
        self.sb.as_mut().unwrap()
    }

    async fn node(&mut self, id: u64) -> Result<Rc<Node>, EngineError> {
        if let Some(n) = self.nodes.get(&id) {
            return n.clone().ok_or_else(|| EngineError::Corrupt(format!("node {id} was freed")));
        }
        if let Some(n) = self.engine.caches.borrow_mut().nodes.get(id) {
            return Ok(n);
        }
        let bytes = self.tx.get(Table::NODES, &Key::Num(id)).await?.ok_or_else(|| EngineError::Corrupt(format!("node {id} is missing")))?;
        let n = Rc::new(Node::decode(&bytes)?);
        self.engine.caches.borrow_mut().nodes.insert(id, n.clone());
        Ok(n)
    }

    /// The node, for changing: a private copy in the overlay.
    async fn node_mut(&mut self, id: u64) -> Result<&mut Node, EngineError> {
        if !matches!(self.nodes.get(&id), Some(Some(_))) {
            let n = self.node(id).await?;
            self.nodes.insert(id, Some(n));
        }
        Ok(Rc::make_mut(self.nodes.get_mut(&id).unwrap().as_mut().unwrap()))
    }

    async fn rc_page(&mut self, key: u64) -> Result<Rc<RcPage>, EngineError> {
        if let Some(p) = self.rc.get(&key) {
            return Ok(p.clone().unwrap_or_else(|| Rc::new(RcPage::zero())));
        }
        if let Some(p) = self.engine.caches.borrow_mut().rc.get(key) {
            return Ok(p);
        }
        let p = match self.tx.get(Table::REFCOUNTS, &Key::Num(key)).await? {
            Some(b) => Rc::new(RcPage::decode(&b)?),
            None => Rc::new(RcPage::zero()),
        };
        self.engine.caches.borrow_mut().rc.insert(key, p.clone());
        Ok(p)
    }

    async fn refcount(&mut self, kind: RcKind, id: u64) -> Result<u32, EngineError> {
        let p = self.rc_page(rc_page_key(kind, id)).await?;
        Ok(p.0[(id % RC_PAGE) as usize])
    }

    /// Adds `delta` to a count and returns the new count.
    async fn add_ref(&mut self, kind: RcKind, id: u64, delta: i64) -> Result<u32, EngineError> {
        let key = rc_page_key(kind, id);
        if !matches!(self.rc.get(&key), Some(Some(_))) {
            let p = self.rc_page(key).await?;
            self.rc.insert(key, Some(p));
        }
        let page = Rc::make_mut(self.rc.get_mut(&key).unwrap().as_mut().unwrap());
        let c = &mut page.0[(id % RC_PAGE) as usize];
        let n = *c as i64 + delta;
        if n < 0 || n > u32::MAX as i64 {
            return Err(EngineError::Corrupt(format!("reference count of {kind:?} {id} would be {n}")));
        }
        *c = n as u32;
        Ok(*c)
    }

    async fn volume(&mut self, id: VolumeId) -> Result<Rc<VolumeRec>, EngineError> {
        if let Some(v) = self.volumes.get(&id.0) {
            return v.clone().ok_or(EngineError::NoSuchVolume(id));
        }
        if let Some(v) = self.engine.caches.borrow_mut().volumes.get(id.0) {
            return Ok(v);
        }
        let bytes = self.tx.get(Table::VOLUMES, &Key::Num(id.0)).await?.ok_or(EngineError::NoSuchVolume(id))?;
        let v = Rc::new(VolumeRec::decode(&bytes)?);
        self.engine.caches.borrow_mut().volumes.insert(id.0, v.clone());
        Ok(v)
    }

    fn set_volume(&mut self, v: VolumeRec) {
        self.volumes.insert(v.id, Some(Rc::new(v)));
    }

    async fn snapshot_rec(&mut self, id: SnapshotId) -> Result<Rc<SnapshotRec>, EngineError> {
        if let Some(s) = self.snapshots.get(&id.0) {
            return s.clone().ok_or(EngineError::NoSuchSnapshot(id));
        }
        if let Some(s) = self.engine.caches.borrow_mut().snapshots.get(id.0) {
            return Ok(s);
        }
        let bytes = self.tx.get(Table::SNAPSHOTS, &Key::Num(id.0)).await?.ok_or(EngineError::NoSuchSnapshot(id))?;
        let s = Rc::new(SnapshotRec::decode(&bytes)?);
        self.engine.caches.borrow_mut().snapshots.insert(id.0, s.clone());
        Ok(s)
    }

    async fn map_root(&mut self, map: MapRef) -> Result<Root, EngineError> {
        Ok(match map {
            MapRef::Volume(v) => {
                let v = self.volume(v).await?;
                Root { root: v.root, size: v.size, shift: v.block_shift, key: v.key }
            }
            MapRef::Snapshot(s) => {
                let s = self.snapshot_rec(s).await?;
                Root { root: s.root, size: s.size, shift: s.block_shift, key: s.key }
            }
        })
    }

    fn alloc_node(&mut self, node: Node) -> u64 {
        let sb = self.sb_mut();
        let id = sb.next_node;
        sb.next_node += 1;
        self.nodes.insert(id, Some(Rc::new(node)));
        id
    }

    // ------------------------------------------------------- reference counts

    /// Drops one reference to a node; frees it and, recursively, whatever
    /// only it held, when the count reaches zero.
    async fn unref_node(&mut self, id: u64) -> Result<(), EngineError> {
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            if self.add_ref(RcKind::Node, id, -1).await? > 0 {
                continue;
            }
            let node = self.node(id).await?;
            self.nodes.insert(id, None);
            for &child in node.ids.iter().filter(|&&c| c != 0) {
                if node.is_leaf() {
                    self.unref_block(child).await?;
                } else {
                    stack.push(child);
                }
            }
        }
        Ok(())
    }

    async fn unref_block(&mut self, id: u64) -> Result<(), EngineError> {
        if self.add_ref(RcKind::Block, id, -1).await? == 0 {
            self.blocks.insert(id, None);
            self.sb_mut().stored_blocks -= 1;
        }
        Ok(())
    }

    /// Makes node `id` (at `level`) private to the caller's path: returns it
    /// when only one parent holds it, else a copy (children's counts +1).
    /// `id` 0 gives a new empty node.
    async fn private_node(&mut self, id: u64, level: u8) -> Result<u64, EngineError> {
        if id == 0 {
            let new = self.alloc_node(Node::empty(level));
            self.add_ref(RcKind::Node, new, 1).await?;
            return Ok(new);
        }
        if self.refcount(RcKind::Node, id).await? == 1 {
            return Ok(id);
        }
        let node = self.node(id).await?;
        let kind = if node.is_leaf() { RcKind::Block } else { RcKind::Node };
        for &child in node.ids.iter().filter(|&&c| c != 0) {
            self.add_ref(kind, child, 1).await?;
        }
        let new = self.alloc_node((*node).clone());
        self.add_ref(RcKind::Node, new, 1).await?;
        self.add_ref(RcKind::Node, id, -1).await?;
        Ok(new)
    }

    /// Makes the path from the volume's root to the leaf holding `index`
    /// private, and returns the leaf's id.
    async fn private_leaf(&mut self, vol: &mut VolumeRec, index: u64) -> Result<u64, EngineError> {
        let top = (LEVELS - 1) as u8;
        let root = self.private_node(vol.root, top).await?;
        vol.root = root;
        let mut id = root;
        for level in (1..LEVELS).rev() {
            let s = slot(index, level);
            let child = self.node(id).await?.ids[s];
            let private = self.private_node(child, level as u8 - 1).await?;
            if private != child {
                self.node_mut(id).await?.ids[s] = private;
            }
            id = private;
        }
        Ok(id)
    }

    /// The leaf that holds `index` in the map under `root`, if any.
    async fn leaf(&mut self, root: u64, index: u64) -> Result<Option<Rc<Node>>, EngineError> {
        let mut id = root;
        for level in (1..LEVELS).rev() {
            if id == 0 {
                return Ok(None);
            }
            id = self.node(id).await?.ids[slot(index, level)];
        }
        if id == 0 {
            return Ok(None);
        }
        Ok(Some(self.node(id).await?))
    }

    // ------------------------------------------------------------- data blocks

    /// The data key `key` (0: none), or why it cannot be used.
    fn block_key(&self, key: u64) -> Result<Option<Rc<BlockKey>>, EngineError> {
        if key == 0 {
            return Ok(None);
        }
        self.engine.keys.borrow().get(&key).cloned().map(Some).ok_or(EngineError::KeyUnavailable(key))
    }

    /// Reads the given block ids (0: zeros) into `out`, one block each,
    /// fetching contiguous runs of ids with one range request each. With a
    /// key, the blocks are sealed and the one at position `pos` is block
    /// `first + pos` of its map.
    async fn read_blocks(&mut self, ids: &[u64], bs: usize, out: &mut [u8], key: Option<&BlockKey>, first: u64) -> Result<(), EngineError> {
        let stored = bs + if key.is_some() { SEAL_OVERHEAD } else { 0 };
        let mut wanted: Vec<(u64, usize)> = Vec::new(); // (id, position)
        for (pos, &id) in ids.iter().enumerate() {
            let dst = &mut out[pos * bs..(pos + 1) * bs];
            if id == 0 {
                dst.fill(0);
            } else if let Some(b) = self.blocks.get(&id) {
                let b = b.as_ref().ok_or_else(|| EngineError::Corrupt(format!("block {id} was freed")))?;
                match key {
                    Some(k) => k.open_into(first + pos as u64, b, dst)?,
                    None => dst.copy_from_slice(b),
                }
            } else {
                wanted.push((id, pos));
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort_unstable();
        wanted.dedup_by_key(|w| w.0);
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &(id, _) in &wanted {
            match ranges.last_mut() {
                Some(r) if r.1 + 1 == id => r.1 = id,
                _ => ranges.push((id, id)),
            }
        }
        // Each block is checked (and opened) as it arrives, while later ones are still fetched.
        let mut positions: HashMap<u64, Vec<usize>> = HashMap::with_capacity(wanted.len());
        for (pos, &id) in ids.iter().enumerate() {
            if id != 0 && !self.blocks.contains_key(&id) {
                positions.entry(id).or_default().push(pos);
            }
        }
        let mut arrived = 0usize;
        let mut failed: Option<EngineError> = None;
        let mut each = |id: u64, v: Vec<u8>| {
            if failed.is_some() {
                return;
            }
            arrived += 1;
            if v.len() != stored {
                failed = Some(EngineError::Corrupt(format!("block {id} has {} bytes", v.len())));
                return;
            }
            for &pos in positions.get(&id).map(|p| p.as_slice()).unwrap_or(&[]) {
                let dst = &mut out[pos * bs..(pos + 1) * bs];
                match key {
                    Some(k) => {
                        if let Err(e) = k.open_into(first + pos as u64, &v, dst) {
                            failed = Some(e);
                            return;
                        }
                    }
                    None => dst.copy_from_slice(&v),
                }
            }
        };
        self.tx.get_values_each(Table::BLOCKS, &ranges, &mut each).await?;
        if let Some(e) = failed {
            return Err(e);
        }
        if arrived != wanted.len() {
            let (lo, hi) = (ranges[0].0, ranges[ranges.len() - 1].1);
            return Err(EngineError::Corrupt(format!("{} of the blocks in {lo}..={hi} are missing", wanted.len() - arrived)));
        }
        Ok(())
    }

    // -------------------------------------------------------------- operations

    pub async fn create_volume(&mut self, size: u64, block_shift: u8) -> Result<VolumeId, EngineError> {
        self.create_sealed_volume(size, block_shift, 0).await
    }

    /// A new volume whose blocks are sealed with data key `key` (0: plain);
    /// its snapshots and their clones keep the key.
    pub async fn create_sealed_volume(&mut self, size: u64, block_shift: u8, key: u64) -> Result<VolumeId, EngineError> {
        validate_geometry(size, block_shift)?;
        self.block_key(key)?;
        let sb = self.sb_mut();
        let id = sb.next_volume;
        sb.next_volume += 1;
        let gen = sb.generation;
        self.set_volume(VolumeRec { id, size, block_shift, root: 0, referenced_blocks: 0, written_blocks: 0, base: 0, base_gen: gen.saturating_sub(1), key });
        Ok(VolumeId(id))
    }

    /// Releases the roots that rollbacks dropped (frees what only they held).
    pub async fn collect_garbage(&mut self) -> Result<(), EngineError> {
        if self.sb().garbage.is_empty() {
            return Ok(());
        }
        let garbage = std::mem::take(&mut self.sb_mut().garbage);
        for root in garbage {
            self.unref_node(root).await?;
        }
        Ok(())
    }

    pub async fn write(&mut self, vid: VolumeId, offset: u64, data: &[u8]) -> Result<(), EngineError> {
        self.collect_garbage().await?;
        let mut vol = (*self.volume(vid).await?).clone();
        let len = data.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > vol.size) {
            return Err(EngineError::OutOfRange { offset, len, size: vol.size });
        }
        if data.is_empty() {
            return Ok(());
        }
        let bs = 1u64 << vol.block_shift;
        let gen = self.sb().generation;
        let key = self.block_key(vol.key)?;
        let first = offset / bs;
        let last = (offset + len - 1) / bs;
        let mut index = first;
        while index <= last {
            // One leaf at a time: make its path private once.
            let leaf_end = ((index >> FAN_BITS) + 1) << FAN_BITS;
            let chunk_last = last.min(leaf_end - 1);
            let leaf_id = self.private_leaf(&mut vol, index).await?;
            // Old contents of partly written blocks (only the edges can be).
            let leaf = self.node(leaf_id).await?;
            let mut partial: HashMap<u64, Vec<u8>> = HashMap::new();
            for i in [index, chunk_last] {
                let start = i * bs;
                let covers = offset <= start && offset + len >= start + bs;
                if !covers && !partial.contains_key(&i) {
                    let mut buf = vec![0u8; bs as usize];
                    let id = leaf.ids[slot(i, 0)];
                    self.read_blocks(&[id], bs as usize, &mut buf, key.as_deref(), i).await?;
                    partial.insert(i, buf);
                }
            }
            for i in index..=chunk_last {
                let start = i * bs;
                let content: Vec<u8> = match partial.remove(&i) {
                    Some(mut buf) => {
                        let from = offset.max(start);
                        let to = (offset + len).min(start + bs);
                        buf[(from - start) as usize..(to - start) as usize].copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
                        buf
                    }
                    None => data[(start - offset) as usize..(start - offset + bs) as usize].to_vec(),
                };
                let content = match &key {
                    Some(k) if content.iter().any(|&b| b != 0) => k.seal(i, &content),
                    _ => content,
                };
                self.write_block(&mut vol, leaf_id, i, content, gen).await?;
            }
            index = chunk_last + 1;
        }
        self.set_volume(vol);
        Ok(())
    }

    /// Puts one whole block's new content at `index` of a private leaf.
    async fn write_block(&mut self, vol: &mut VolumeRec, leaf_id: u64, index: u64, content: Vec<u8>, gen: u64) -> Result<(), EngineError> {
        let s = slot(index, 0);
        let (old, old_birth) = {
            let leaf = self.node(leaf_id).await?;
            (leaf.ids[s], leaf.births[s])
        };
        let was_new = old != 0 && old_birth > vol.base_gen;
        // Zeros stay unmapped (sealed content is never all zeros: the nonce is random).
        if content.iter().all(|&b| b == 0) {
            if old != 0 {
                self.unref_block(old).await?;
                let leaf = self.node_mut(leaf_id).await?;
                leaf.ids[s] = 0;
                leaf.births[s] = 0;
                vol.referenced_blocks -= 1;
                if was_new {
                    vol.written_blocks -= 1;
                }
            }
            return Ok(());
        }
        let id = if old != 0 && self.refcount(RcKind::Block, old).await? == 1 {
            old // only this volume holds it: overwrite in place
        } else {
            let sb = self.sb_mut();
            let id = sb.next_block;
            sb.next_block += 1;
            sb.stored_blocks += 1;
            self.add_ref(RcKind::Block, id, 1).await?;
            if old != 0 {
                self.unref_block(old).await?;
            } else {
                vol.referenced_blocks += 1;
            }
            id
        };
        self.blocks.insert(id, Some(Rc::new(content)));
        let leaf = self.node_mut(leaf_id).await?;
        leaf.ids[s] = id;
        leaf.births[s] = gen;
        if !was_new {
            vol.written_blocks += 1;
        }
        Ok(())
    }

    pub async fn read(&mut self, map: MapRef, offset: u64, len: u64) -> Result<Vec<u8>, EngineError> {
        let r = self.map_root(map).await?;
        if offset.checked_add(len).is_none_or(|end| end > r.size) {
            return Err(EngineError::OutOfRange { offset, len, size: r.size });
        }
        // Locked is locked: even the unwritten parts of a sealed map are not answered.
        let key = self.block_key(r.key)?;
        let mut out = vec![0u8; len as usize];
        if len == 0 || r.root == 0 {
            return Ok(out);
        }
        let bs = 1u64 << r.shift;
        let first = offset / bs;
        let last = (offset + len - 1) / bs;
        let mut ids = Vec::with_capacity((last - first + 1) as usize);
        let mut index = first;
        while index <= last {
            let leaf_end = ((index >> FAN_BITS) + 1) << FAN_BITS;
            let chunk_last = last.min(leaf_end - 1);
            match self.leaf(r.root, index).await? {
                Some(leaf) => ids.extend((index..=chunk_last).map(|i| leaf.ids[slot(i, 0)])),
                None => ids.extend((index..=chunk_last).map(|_| 0)),
            }
            index = chunk_last + 1;
        }
        if ids.iter().all(|&id| id == 0) {
            return Ok(out);
        }
        let aligned = offset.is_multiple_of(bs) && len.is_multiple_of(bs);
        if aligned {
            self.read_blocks(&ids, bs as usize, &mut out, key.as_deref(), first).await?;
        } else {
            let mut buf = vec![0u8; ids.len() * bs as usize];
            self.read_blocks(&ids, bs as usize, &mut buf, key.as_deref(), first).await?;
            let skip = (offset - first * bs) as usize;
            out.copy_from_slice(&buf[skip..skip + len as usize]);
        }
        Ok(out)
    }

    pub async fn snapshot(&mut self, vid: VolumeId) -> Result<SnapshotId, EngineError> {
        self.take_snapshot(vid, true).await
    }

    /// A snapshot of the volume's current content that leaves the volume as
    /// it was: its base snapshot and its written-since-snapshot count do not
    /// move (for a copy a task holds, such as an export, which the user's
    /// next snapshot must not build on).
    pub async fn snapshot_detached(&mut self, vid: VolumeId) -> Result<SnapshotId, EngineError> {
        self.take_snapshot(vid, false).await
    }

    async fn take_snapshot(&mut self, vid: VolumeId, rebase: bool) -> Result<SnapshotId, EngineError> {
        let mut vol = (*self.volume(vid).await?).clone();
        if vol.root != 0 {
            self.add_ref(RcKind::Node, vol.root, 1).await?;
        }
        let sb = self.sb_mut();
        let id = sb.next_snapshot;
        sb.next_snapshot += 1;
        let gen = sb.generation;
        sb.generation += 1;
        let rec = SnapshotRec {
            id,
            volume: vol.id,
            size: vol.size,
            block_shift: vol.block_shift,
            root: vol.root,
            referenced_blocks: vol.referenced_blocks,
            incremental_blocks: vol.written_blocks,
            parent: vol.base,
            generation: gen,
            key: vol.key,
        };
        self.snapshots.insert(id, Some(Rc::new(rec)));
        if rebase {
            vol.base = id;
            vol.base_gen = gen;
            vol.written_blocks = 0;
            self.set_volume(vol);
        }
        Ok(SnapshotId(id))
    }

    /// Points `vol` at a snapshot's map (the snapshot gains a reference).
    async fn rebase(&mut self, vol: &mut VolumeRec, snap: &SnapshotRec) -> Result<(), EngineError> {
        if snap.root != 0 {
            self.add_ref(RcKind::Node, snap.root, 1).await?;
        }
        if vol.root != 0 {
            // Released later: what the volume held is dropped in the background.
            self.sb_mut().garbage.push(vol.root);
        }
        vol.root = snap.root;
        vol.referenced_blocks = snap.referenced_blocks;
        vol.written_blocks = 0;
        vol.base = snap.id;
        let sb = self.sb_mut();
        vol.base_gen = sb.generation;
        sb.generation += 1;
        Ok(())
    }

    pub async fn rollback(&mut self, vid: VolumeId, sid: SnapshotId) -> Result<(), EngineError> {
        let mut vol = (*self.volume(vid).await?).clone();
        let snap = self.snapshot_rec(sid).await?;
        if snap.block_shift != vol.block_shift {
            return Err(EngineError::BlockSizeMismatch(1 << vol.block_shift, 1 << snap.block_shift));
        }
        if snap.size > vol.size {
            return Err(EngineError::InvalidSize(format!("the snapshot holds {} bytes and the volume only {}", snap.size, vol.size)));
        }
        if snap.key != vol.key {
            return Err(EngineError::KeyMismatch);
        }
        self.rebase(&mut vol, &snap).await?;
        self.set_volume(vol);
        Ok(())
    }

    pub async fn clone_snapshot(&mut self, sid: SnapshotId, size: Option<u64>) -> Result<VolumeId, EngineError> {
        let snap = self.snapshot_rec(sid).await?;
        let size = size.unwrap_or(snap.size);
        if size < snap.size {
            return Err(EngineError::InvalidSize(format!("{size} bytes is less than the snapshot's {} bytes", snap.size)));
        }
        let vid = self.create_sealed_volume(size, snap.block_shift, snap.key).await?;
        let mut vol = (*self.volume(vid).await?).clone();
        self.rebase(&mut vol, &snap).await?;
        self.set_volume(vol);
        Ok(vid)
    }

    pub async fn resize(&mut self, vid: VolumeId, size: u64) -> Result<(), EngineError> {
        let mut vol = (*self.volume(vid).await?).clone();
        if size < vol.size {
            return Err(EngineError::InvalidSize(format!("a volume only grows: {size} bytes is less than {}", vol.size)));
        }
        validate_geometry(size, vol.block_shift)?;
        vol.size = size;
        self.set_volume(vol);
        Ok(())
    }

    pub async fn delete_snapshot(&mut self, sid: SnapshotId) -> Result<(), EngineError> {
        self.collect_garbage().await?;
        let snap = self.snapshot_rec(sid).await?;
        if snap.root != 0 {
            self.unref_node(snap.root).await?;
        }
        self.snapshots.insert(sid.0, None);
        Ok(())
    }

    pub async fn delete_volume(&mut self, vid: VolumeId) -> Result<(), EngineError> {
        self.collect_garbage().await?;
        let vol = self.volume(vid).await?;
        if vol.root != 0 {
            self.unref_node(vol.root).await?;
        }
        self.volumes.insert(vid.0, None);
        Ok(())
    }

    // ------------------------------------------------------------- reporting

    pub async fn volume_info(&mut self, vid: VolumeId) -> Result<VolumeInfo, EngineError> {
        let v = self.volume(vid).await?;
        let bs = 1u64 << v.block_shift;
        Ok(VolumeInfo {
            id: vid,
            size: v.size,
            block_size: bs,
            referenced_bytes: v.referenced_blocks * bs,
            written_since_base_bytes: v.written_blocks * bs,
            base: (v.base != 0).then_some(SnapshotId(v.base)),
            key: v.key,
        })
    }

    pub async fn snapshot_info(&mut self, sid: SnapshotId) -> Result<SnapshotInfo, EngineError> {
        let s = self.snapshot_rec(sid).await?;
        Ok(snapshot_info(&s))
    }

    pub async fn exclusive_bytes(&mut self, map: MapRef) -> Result<u64, EngineError> {
        let r = self.map_root(map).await?;
        if r.root == 0 || self.refcount(RcKind::Node, r.root).await? != 1 {
            return Ok(0);
        }
        let mut blocks = 0u64;
        let mut stack = vec![r.root];
        while let Some(id) = stack.pop() {
            let node = self.node(id).await?;
            for &child in node.ids.iter().filter(|&&c| c != 0) {
                let kind = if node.is_leaf() { RcKind::Block } else { RcKind::Node };
                if self.refcount(kind, child).await? == 1 {
                    if node.is_leaf() {
                        blocks += 1;
                    } else {
                        stack.push(child);
                    }
                }
            }
        }
        Ok(blocks << r.shift)
    }

    /// The bytes the maps hold together, each block counted once however
    /// many of them share it (a region's snapshot usage).
    pub async fn union_bytes(&mut self, maps: &[MapRef]) -> Result<u64, EngineError> {
        let mut nodes = HashSet::new();
        let mut blocks = HashSet::new();
        let mut bytes = 0;
        for &map in maps {
            let r = self.map_root(map).await?;
            let mut stack = vec![(r.root, LEVELS - 1)];
            while let Some((id, level)) = stack.pop() {
                if id == 0 || !nodes.insert(id) {
                    continue; // a subtree already counted
                }
                let node = self.node(id).await?;
                for &c in node.ids.iter().filter(|&&c| c != 0) {
                    if level > 0 {
                        stack.push((c, level - 1));
                    } else if blocks.insert(c) {
                        bytes += 1u64 << r.shift;
                    }
                }
            }
        }
        Ok(bytes)
    }

    pub async fn list_volumes(&mut self) -> Result<Vec<VolumeInfo>, EngineError> {
        let recs = self.tx.get_range(Table::VOLUMES, 0, KEY_MAX).await?;
        let mut out = Vec::new();
        for (id, _) in recs {
            if matches!(self.volumes.get(&id), Some(None)) {
                continue;
            }
            out.push(self.volume_info(VolumeId(id)).await?);
        }
        for (&id, v) in &self.volumes.clone() {
            if v.is_some() && !out.iter().any(|i| i.id.0 == id) {
                out.push(self.volume_info(VolumeId(id)).await?);
            }
        }
        out.sort_unstable_by_key(|v| v.id); // ids are unique
        Ok(out)
    }

    pub async fn list_snapshots(&mut self) -> Result<Vec<SnapshotInfo>, EngineError> {
        let recs = self.tx.get_range(Table::SNAPSHOTS, 0, KEY_MAX).await?;
        let mut out: BTreeMap<u64, SnapshotInfo> = BTreeMap::new();
        for (id, bytes) in recs {
            out.insert(id, snapshot_info(&SnapshotRec::decode(&bytes)?));
        }
        for (&id, s) in &self.snapshots {
            match s {
                Some(s) => out.insert(id, snapshot_info(s)),
                None => out.remove(&id),
            };
        }
        Ok(out.into_values().collect())
    }

    pub async fn changed_blocks(&mut self, a: MapRef, b: MapRef) -> Result<Vec<(u64, u64)>, EngineError> {
        let ra = self.map_root(a).await?;
        let rb = self.map_root(b).await?;
        if ra.shift != rb.shift {
            return Err(EngineError::BlockSizeMismatch(1 << ra.shift, 1 << rb.shift));
        }
        let mut changed: Vec<u64> = Vec::new();
        // (node of a, node of b, level, first block index under them)
        let mut stack = vec![(ra.root, rb.root, LEVELS - 1, 0u64)];
        while let Some((x, y, level, base)) = stack.pop() {
            if x == y {
                continue; // the same subtree: nothing differs below
            }
            let nx = if x == 0 { None } else { Some(self.node(x).await?) };
            let ny = if y == 0 { None } else { Some(self.node(y).await?) };
            for s in 0..FAN {
                let cx = nx.as_ref().map_or(0, |n| n.ids[s]);
                let cy = ny.as_ref().map_or(0, |n| n.ids[s]);
                if cx == cy {
                    continue;
                }
                let index = base + ((s as u64) << (FAN_BITS * level));
                if level == 0 {
                    changed.push(index);
                } else {
                    stack.push((cx, cy, level - 1, index));
                }
            }
        }
        changed.sort_unstable();
        Ok(to_runs(&changed))
    }

    /// The written (mapped) blocks of a map as (first block, count) runs.
    pub async fn written_runs(&mut self, map: MapRef) -> Result<Vec<(u64, u64)>, EngineError> {
        let r = self.map_root(map).await?;
        let idx: Vec<u64> = self.mapped_blocks(r.root).await?.into_iter().map(|(i, _)| i).collect();
        Ok(to_runs(&idx))
    }

    /// Every (block index, block id) of a map, ascending.
    async fn mapped_blocks(&mut self, root: u64) -> Result<Vec<(u64, u64)>, EngineError> {
        let mut out = Vec::new();
        let mut stack = vec![(root, LEVELS - 1, 0u64)];
        while let Some((id, level, base)) = stack.pop() {
            if id == 0 {
                continue;
            }
            let node = self.node(id).await?;
            for s in (0..FAN).rev() {
                let c = node.ids[s];
                if c == 0 {
                    continue;
                }
                let index = base + ((s as u64) << (FAN_BITS * level));
                if level == 0 {
                    out.push((index, c));
                } else {
                    stack.push((c, level - 1, index));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// The leaves a map reaches (each once).
    async fn leaves_of(&mut self, root: u64) -> Result<HashSet<u64>, EngineError> {
        let mut leaves = HashSet::new();
        let mut stack = vec![(root, LEVELS - 1)];
        while let Some((id, level)) = stack.pop() {
            if id == 0 {
                continue;
            }
            if level == 0 {
                leaves.insert(id);
                continue;
            }
            let node = self.node(id).await?;
            stack.extend(node.ids.iter().filter(|&&c| c != 0).map(|&c| (c, level - 1)));
        }
        Ok(leaves)
    }

    pub async fn block_map(&mut self, map: MapRef) -> Result<BlockMap, EngineError> {
        let r = self.map_root(map).await?;
        let bs = 1u64 << r.shift;
        let blocks = blocks_for(r.size, r.shift);
        let mine = self.mapped_blocks(r.root).await?;
        let wanted: HashSet<u64> = mine.iter().map(|&(_, id)| id).collect();
        // Which other maps hold each of the subject's blocks.
        #[allow(clippy::type_complexity)] // block id -> (snapshots with their generation, volumes)
        let mut holders: HashMap<u64, (Vec<(u64, SnapshotId)>, Vec<VolumeId>)> = HashMap::new();
        let mut leaf_hits: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut others: Vec<(MapRef, u64)> = Vec::new();
        for s in self.list_snapshots().await? {
            if map != MapRef::Snapshot(s.id) {
                let rec = self.snapshot_rec(s.id).await?;
                others.push((MapRef::Snapshot(s.id), rec.root));
            }
        }
        for v in self.list_volumes().await? {
            if map != MapRef::Volume(v.id) {
                let rec = self.volume(v.id).await?;
                others.push((MapRef::Volume(v.id), rec.root));
            }
        }
        for (other, root) in others {
            if root == 0 {
                continue;
            }
            let gen = match other {
                MapRef::Snapshot(s) => self.snapshot_rec(s).await?.generation,
                MapRef::Volume(_) => 0,
            };
            for leaf in self.leaves_of(root).await? {
                if let std::collections::hash_map::Entry::Vacant(e) = leaf_hits.entry(leaf) {
                    let node = self.node(leaf).await?;
                    let hits = node.ids.iter().copied().filter(|id| wanted.contains(id)).collect();
                    e.insert(hits);
                }
                for &b in &leaf_hits[&leaf] {
                    let h = holders.entry(b).or_default();
                    match other {
                        MapRef::Snapshot(s) => h.0.push((gen, s)),
                        MapRef::Volume(v) => h.1.push(v),
                    }
                }
            }
        }
        let own_gen = match map {
            MapRef::Snapshot(s) => Some((self.snapshot_rec(s).await?.generation, s)),
            MapRef::Volume(_) => None,
        };
        let mut runs: Vec<BlockRun> = Vec::new();
        let mut next = 0u64;
        for (index, id) in mine {
            push_run(&mut runs, next, index - next, BlockState::Unwritten);
            let (mut snaps, mut vols) = holders.remove(&id).unwrap_or_default();
            snaps.sort_unstable();
            vols.sort_unstable();
            let first = snaps.iter().copied().chain(own_gen).min().map(|(_, s)| s);
            let state = BlockState::Written {
                first_snapshot: first,
                exclusive: snaps.is_empty() && vols.is_empty(),
                shared_with: snaps.into_iter().map(|(_, s)| s).collect(),
                shared_with_volumes: vols,
            };
            push_run(&mut runs, index, 1, state);
            next = index + 1;
        }
        push_run(&mut runs, next, blocks.saturating_sub(next), BlockState::Unwritten);
        Ok(BlockMap { block_size: bs, blocks, runs })
    }

    pub async fn stats(&mut self) -> Result<EngineStats, EngineError> {
        Ok(EngineStats {
            stored_blocks: self.sb().stored_blocks,
            volumes: self.tx.count(Table::VOLUMES).await?,
            snapshots: self.tx.count(Table::SNAPSHOTS).await?,
        })
    }

    pub async fn check(&mut self) -> Result<(), EngineError> {
        let bad = |m: String| Err(EngineError::Corrupt(m));
        let mut roots: Vec<(String, u64, u64, u8, u64)> = Vec::new(); // (name, root, size, shift, key)
        for (id, b) in self.tx.get_range(Table::VOLUMES, 0, KEY_MAX).await? {
            let v = VolumeRec::decode(&b)?;
            if v.id != id {
                return bad(format!("volume record {id} names {}", v.id));
            }
            let mapped = self.mapped_blocks(v.root).await?;
            if mapped.len() as u64 != v.referenced_blocks {
                return bad(format!("volume {id} counts {} blocks and maps {}", v.referenced_blocks, mapped.len()));
            }
            let newer = self.newer_than(v.root, v.base_gen).await?;
            if newer != v.written_blocks {
                return bad(format!("volume {id} counts {} new blocks and has {newer}", v.written_blocks));
            }
            if let Some(&(i, _)) = mapped.last() {
                if i >= blocks_for(v.size, v.block_shift) {
                    return bad(format!("volume {id} maps block {i} past its end"));
                }
            }
            roots.push((format!("volume {id}"), v.root, v.size, v.block_shift, v.key));
        }
        for (id, b) in self.tx.get_range(Table::SNAPSHOTS, 0, KEY_MAX).await? {
            let s = SnapshotRec::decode(&b)?;
            let mapped = self.mapped_blocks(s.root).await?;
            if mapped.len() as u64 != s.referenced_blocks {
                return bad(format!("snapshot {id} counts {} blocks and maps {}", s.referenced_blocks, mapped.len()));
            }
            roots.push((format!("snapshot {id}"), s.root, s.size, s.block_shift, s.key));
        }
        // Count every reference, walking each node once (garbage roots still hold theirs).
        let mut node_refs: HashMap<u64, u32> = HashMap::new();
        let mut block_refs: HashMap<u64, u32> = HashMap::new();
        // Block id -> (block shift, sealed); shift 0: unknown (reached from garbage only).
        let mut block_size: HashMap<u64, (u8, bool)> = HashMap::new();
        let mut stack: Vec<(u64, u32, (u8, bool))> = Vec::new();
        for (_, root, _, shift, key) in &roots {
            if *root != 0 {
                stack.push((*root, LEVELS - 1, (*shift, *key != 0)));
            }
        }
        for &g in &self.sb().garbage {
            stack.push((g, LEVELS - 1, (0, false)));
        }
        while let Some((id, level, shift)) = stack.pop() {
            let seen = node_refs.contains_key(&id);
            *node_refs.entry(id).or_default() += 1;
            if seen {
                continue;
            }
            let node = self.node(id).await?;
            if node.level as u32 != level {
                return bad(format!("node {id} is at level {} and is reached at level {level}", node.level));
            }
            for &c in node.ids.iter().filter(|&&c| c != 0) {
                if level == 0 {
                    *block_refs.entry(c).or_default() += 1;
                    if shift.0 != 0 || !block_size.contains_key(&c) {
                        block_size.insert(c, shift);
                    }
                } else {
                    stack.push((c, level - 1, shift));
                }
            }
        }
        let mut stored_rc: HashMap<(u64, u64), u32> = HashMap::new();
        for (key, b) in self.tx.get_range(Table::REFCOUNTS, 0, KEY_MAX).await? {
            let page = RcPage::decode(&b)?;
            if page.is_zero() {
                return bad(format!("refcount page {key} is all zero and still stored"));
            }
            for (i, &c) in page.0.iter().enumerate() {
                if c != 0 {
                    stored_rc.insert((key % 2, (key / 2) * RC_PAGE + i as u64), c);
                }
            }
        }
        for (&id, &n) in &node_refs {
            let c = stored_rc.remove(&(RcKind::Node as u64, id)).unwrap_or(0);
            if c != n {
                return bad(format!("node {id} has count {c} and {n} references"));
            }
        }
        for (&id, &n) in &block_refs {
            let c = stored_rc.remove(&(RcKind::Block as u64, id)).unwrap_or(0);
            if c != n {
                return bad(format!("block {id} has count {c} and {n} references"));
            }
        }
        if let Some(((kind, id), c)) = stored_rc.into_iter().next() {
            return bad(format!("{} {id} has count {c} and no reference", if kind == 0 { "node" } else { "block" }));
        }
        let nodes: BTreeSet<u64> = self.tx.get_range(Table::NODES, 0, KEY_MAX).await?.into_iter().map(|(k, _)| k).collect();
        let reachable: BTreeSet<u64> = node_refs.keys().copied().collect();
        if nodes != reachable {
            return bad(format!("stored nodes and reachable nodes differ: {:?}", nodes.symmetric_difference(&reachable).take(5).collect::<Vec<_>>()));
        }
        let blocks = self.tx.get_range(Table::BLOCKS, 0, KEY_MAX).await?;
        let sb = self.sb();
        if blocks.len() as u64 != sb.stored_blocks {
            return bad(format!("{} blocks are stored and the superblock counts {}", blocks.len(), sb.stored_blocks));
        }
        for (id, v) in &blocks {
            let Some(&(shift, sealed)) = block_size.get(id) else {
                return bad(format!("block {id} is stored and unreachable"));
            };
            if shift != 0 && v.len() != (1 << shift) + if sealed { SEAL_OVERHEAD } else { 0 } {
                return bad(format!("block {id} holds {} bytes", v.len()));
            }
            if v.iter().all(|&b| b == 0) {
                return bad(format!("block {id} is all zeros and stored"));
            }
            if *id >= sb.next_block {
                return bad(format!("block {id} is past the allocator"));
            }
        }
        if blocks.len() != block_refs.len() {
            return bad(format!("{} blocks are referenced and {} stored", block_refs.len(), blocks.len()));
        }
        Ok(())
    }

    /// Mapped entries of a map born after `gen`.
    async fn newer_than(&mut self, root: u64, gen: u64) -> Result<u64, EngineError> {
        let mut n = 0;
        let mut stack = vec![(root, LEVELS - 1)];
        while let Some((id, level)) = stack.pop() {
            if id == 0 {
                continue;
            }
            let node = self.node(id).await?;
            if level == 0 {
                n += node.ids.iter().zip(&node.births).filter(|(&i, &b)| i != 0 && b > gen).count() as u64;
            } else {
                stack.extend(node.ids.iter().filter(|&&c| c != 0).map(|&c| (c, level - 1)));
            }
        }
        Ok(n)
    }

    // ------------------------------------------------- the upper layers' tables

    /// A value of one of the tables of the layers above (not [`Table::is_engine`]), as this
    /// transaction left it.
    pub async fn get_in(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, EngineError> {
        assert!(!table.is_engine(), "{table:?} belongs to the engine");
        if let Some(v) = self.upper.get(&(table, key.to_string())) {
            return Ok(v.clone());
        }
        Ok(self.tx.get(table, &Key::Str(key.to_string())).await?)
    }

    /// Several values of an upper table; those not changed here are all
    /// requested before any is awaited.
    pub async fn get_many_in(&mut self, table: Table, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, EngineError> {
        assert!(!table.is_engine(), "{table:?} belongs to the engine");
        let missing: Vec<Key> = keys.iter().filter(|k| !self.upper.contains_key(&(table, (*k).clone()))).map(|k| Key::Str(k.clone())).collect();
        let mut fetched = self.tx.get_many(table, &missing).await?.into_iter();
        Ok(keys
            .iter()
            .map(|k| match self.upper.get(&(table, k.clone())) {
                Some(v) => v.clone(),
                None => fetched.next().flatten(),
            })
            .collect())
    }

    /// Every (key, value) of an upper table whose key starts with `prefix`,
    /// ascending, as this transaction left them.
    pub async fn scan_in(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        assert!(!table.is_engine(), "{table:?} belongs to the engine");
        let mut all: BTreeMap<String, Vec<u8>> = self.tx.scan_prefix(table, prefix).await?.into_iter().collect();
        for ((t, k), v) in self.upper.range((table, prefix.to_string())..) {
            if *t != table || !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => all.insert(k.clone(), v.clone()),
                None => all.remove(k),
            };
        }
        Ok(all.into_iter().collect())
    }

    pub fn put_in(&mut self, table: Table, key: &str, value: Vec<u8>) {
        assert!(!table.is_engine(), "{table:?} belongs to the engine");
        self.upper.insert((table, key.to_string()), Some(value));
    }

    pub fn delete_in(&mut self, table: Table, key: &str) {
        assert!(!table.is_engine(), "{table:?} belongs to the engine");
        self.upper.insert((table, key.to_string()), None);
    }

    // ------------------------------------------------------------------ commit

    /// Writes every change atomically. On failure nothing changed, in the
    /// store or in the engine's memory. Returns the bytes of values written.
    pub async fn commit(self) -> Result<(), EngineError> {
        self.commit_counted().await.map(|_| ())
    }

    /// As [`EngineTx::commit`], returning the bytes of the values it put.
    pub async fn commit_counted(mut self) -> Result<u64, EngineError> {
        let mut bytes = self.put_bytes;
        for ((table, key), v) in std::mem::take(&mut self.upper) {
            match v {
                Some(v) => {
                    bytes += v.len() as u64;
                    self.tx.put(table, Key::Str(key), v);
                }
                None => self.tx.delete(table, Key::Str(key)),
            }
        }
        if let Some(sb) = &self.sb {
            let v = sb.encode();
            bytes += v.len() as u64;
            self.tx.put(Table::META, Key::Num(0), v);
        }
        for (&id, n) in &self.nodes {
            match n {
                Some(n) => {
                    let v = n.encode();
                    bytes += v.len() as u64;
                    self.tx.put(Table::NODES, Key::Num(id), v);
                }
                None => self.tx.delete(Table::NODES, Key::Num(id)),
            }
        }
        for (&key, p) in &self.rc {
            match p {
                Some(p) if !p.is_zero() => {
                    let v = p.encode();
                    bytes += v.len() as u64;
                    self.tx.put(Table::REFCOUNTS, Key::Num(key), v);
                }
                _ => self.tx.delete(Table::REFCOUNTS, Key::Num(key)),
            }
        }
        for (&id, v) in &self.volumes {
            match v {
                Some(v) => {
                    let v = v.encode();
                    bytes += v.len() as u64;
                    self.tx.put(Table::VOLUMES, Key::Num(id), v);
                }
                None => self.tx.delete(Table::VOLUMES, Key::Num(id)),
            }
        }
        for (&id, s) in &self.snapshots {
            match s {
                Some(s) => {
                    let v = s.encode();
                    bytes += v.len() as u64;
                    self.tx.put(Table::SNAPSHOTS, Key::Num(id), v);
                }
                None => self.tx.delete(Table::SNAPSHOTS, Key::Num(id)),
            }
        }
        let mut ids: Vec<u64> = self.blocks.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            match self.blocks.remove(&id).unwrap() {
                Some(b) => {
                    bytes += b.len() as u64;
                    self.tx.put(Table::BLOCKS, Key::Num(id), Rc::unwrap_or_clone(b));
                }
                None => self.tx.delete(Table::BLOCKS, Key::Num(id)),
            }
        }
        let EngineTx { engine, tx, sb, nodes, rc, volumes, snapshots, .. } = self;
        tx.commit().await?;
        // Committed: the overlay is now the truth.
        if let Some(sb) = sb {
            *engine.superblock.borrow_mut() = Rc::new(sb);
        }
        let mut c = engine.caches.borrow_mut();
        for (id, n) in nodes {
            match n {
                Some(n) => c.nodes.insert(id, n),
                None => c.nodes.remove(id),
            }
        }
        for (key, p) in rc {
            match p {
                Some(p) => c.rc.insert(key, p),
                None => c.rc.remove(key),
            }
        }
        for (id, v) in volumes {
            match v {
                Some(v) => c.volumes.insert(id, v),
                None => c.volumes.remove(id),
            }
        }
        for (id, s) in snapshots {
            match s {
                Some(s) => c.snapshots.insert(id, s),
                None => c.snapshots.remove(id),
            }
        }
        Ok(bytes)
    }
}

fn snapshot_info(s: &SnapshotRec) -> SnapshotInfo {
    let bs = 1u64 << s.block_shift;
    SnapshotInfo {
        id: SnapshotId(s.id),
        volume: VolumeId(s.volume),
        size: s.size,
        block_size: bs,
        incremental_bytes: s.incremental_blocks * bs,
        referenced_bytes: s.referenced_blocks * bs,
        parent: (s.parent != 0).then_some(SnapshotId(s.parent)),
        generation: s.generation,
        key: s.key,
    }
}

/// Appends `len` blocks in `state` at `start`, merging with the last run.
fn push_run(runs: &mut Vec<BlockRun>, start: u64, len: u64, state: BlockState) {
    if len == 0 {
        return;
    }
    match runs.last_mut() {
        Some(last) if last.start + last.len == start && last.state == state => last.len += len,
        _ => runs.push(BlockRun { start, len, state }),
    }
}

/// Sorted block indexes to (first, count) runs.
fn to_runs(indexes: &[u64]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &i in indexes {
        match runs.last_mut() {
            Some((s, n)) if *s + *n == i => *n += 1,
            _ => runs.push((i, 1)),
        }
    }
    runs
}
