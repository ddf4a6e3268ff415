//! A [`ReadAt`] over an object that is fetched asynchronously, in chunks.
//!
//! The qcow2 reader is synchronous; an object in the embedded OSS is read
//! inside an IndexedDB transaction, asynchronously. [`Prefetch`] bridges
//! them: it serves reads from the chunks it holds and fails with
//! [`Qcow2Error::Pending`] naming what is missing; the caller fetches those
//! chunks ([`Prefetch::missing_chunks`], [`Prefetch::insert`]) and repeats
//! the call (the reader's state does not change on a failed read). Chunks are
//! kept in a small LRU, so memory stays bounded whatever the object's size.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::qcow2::{Qcow2Error, ReadAt};

/// Most bytes held while one operation is under way (the reader's own limits keep a valid
/// image's metadata far below it: an L1 table is at most 32 MiB).
pub const MAX_HELD: u64 = 96 << 20;

/// A chunked, asynchronously filled source (cheap to clone: clones share the chunks).
#[derive(Clone)]
pub struct Prefetch(Rc<RefCell<Inner>>);

struct Inner {
    size: u64,
    chunk: u64,
    cap: usize,
    /// Chunk index -> bytes (shorter than a chunk only at the end; empty = zeros).
    chunks: HashMap<u64, Vec<u8>>,
    /// Least recently used first.
    lru: VecDeque<u64>,
}

impl Prefetch {
    /// A source of `size` bytes fetched in chunks of `chunk` bytes, keeping `cap` chunks
    /// between operations ([`Prefetch::trim`]).
    pub fn new(size: u64, chunk: u64, cap: usize) -> Self {
        Prefetch(Rc::new(RefCell::new(Inner { size, chunk, cap: cap.max(1), chunks: HashMap::new(), lru: VecDeque::new() })))
    }

    pub fn chunk_size(&self) -> u64 {
        self.0.borrow().chunk
    }

    /// The chunk indexes of `[offset, offset + len)` (plus `ahead` more, within the object)
    /// that are not held.
    pub fn missing_chunks(&self, offset: u64, len: u64, ahead: u64) -> Vec<u64> {
        let i = self.0.borrow();
        if i.size == 0 {
            return Vec::new();
        }
        let last_chunk = (i.size - 1) / i.chunk;
        let first = offset / i.chunk;
        let last = ((offset + len.max(1) - 1) / i.chunk + ahead).min(last_chunk);
        (first..=last).filter(|c| !i.chunks.contains_key(c)).collect()
    }

    /// Holds chunk `index` (`bytes` empty for a chunk of zeros). Nothing is dropped until
    /// [`Prefetch::trim`], so the chunks one operation needs stay while it is retried.
    pub fn insert(&self, index: u64, bytes: Vec<u8>) {
        let mut i = self.0.borrow_mut();
        if i.chunks.insert(index, bytes).is_none() {
            i.lru.push_back(index);
        }
    }

    /// Drops the least recently used chunks past the capacity (call between operations).
    pub fn trim(&self) {
        let mut i = self.0.borrow_mut();
        while i.lru.len() > i.cap {
            if let Some(old) = i.lru.pop_front() {
                i.chunks.remove(&old);
            }
        }
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> u64 {
        let i = self.0.borrow();
        i.chunks.len() as u64 * i.chunk
    }
}

impl ReadAt for Prefetch {
    fn size(&self) -> u64 {
        self.0.borrow().size
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), Qcow2Error> {
        let mut guard = self.0.borrow_mut();
        let i = &mut *guard;
        let len = buf.len() as u64;
        match offset.checked_add(len) {
            Some(end) if end <= i.size => {}
            _ => return Err(Qcow2Error::Io(format!("read of {len} bytes at offset {offset} past the end of a {}-byte object", i.size))),
        }
        if len == 0 {
            return Ok(());
        }
        let first = offset / i.chunk;
        let last = (offset + len - 1) / i.chunk;
        if (first..=last).any(|c| !i.chunks.contains_key(&c)) {
            if (i.chunks.len() as u64 + last - first + 1) * i.chunk > MAX_HELD {
                return Err(Qcow2Error::TooLarge(format!("the image needs more than {} MiB of metadata at once", MAX_HELD >> 20)));
            }
            return Err(Qcow2Error::Pending { offset, len });
        }
        for c in first..=last {
            let bytes = &i.chunks[&c];
            let c_start = c * i.chunk;
            let from = offset.max(c_start);
            let to = (offset + len).min(c_start + i.chunk);
            let out = &mut buf[(from - offset) as usize..(to - offset) as usize];
            let (a, b) = ((from - c_start) as usize, (to - c_start) as usize);
            if bytes.len() >= b {
                out.copy_from_slice(&bytes[a..b]);
            } else {
                // A zero chunk (stored as nothing) or the short last chunk.
                out.fill(0);
                if bytes.len() > a {
                    out[..bytes.len() - a].copy_from_slice(&bytes[a..]);
                }
            }
        }
        // Most recently used last.
        if let Some(pos) = i.lru.iter().position(|&c| c == last) {
            i.lru.remove(pos);
            i.lru.push_back(last);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_holds_and_names_what_it_lacks() {
        let data: Vec<u8> = (0..1800u32).map(|x| (x % 251) as u8).collect();
        let chunk = |i: usize| data[i * 256..((i + 1) * 256).min(1800)].to_vec();
        let mut p = Prefetch::new(1800, 256, 3);
        let mut buf = [0u8; 10];
        assert_eq!(p.read_at(250, &mut buf), Err(Qcow2Error::Pending { offset: 250, len: 10 }));
        assert_eq!(p.missing_chunks(250, 10, 1), vec![0, 1, 2]);
        p.insert(0, chunk(0));
        p.insert(1, chunk(1));
        p.read_at(250, &mut buf).unwrap();
        assert_eq!(&buf[..], &data[250..260]);
        // A zero chunk is held as nothing; the last chunk is short.
        p.insert(7, chunk(7));
        p.insert(6, Vec::new());
        assert_eq!(p.missing_chunks(0, 2048, 0), vec![2, 3, 4, 5], "nothing is dropped before trim");
        p.trim();
        assert_eq!(p.missing_chunks(0, 2048, 0), vec![0, 2, 3, 4, 5], "trim drops the least recently used");
        let mut tail = [1u8; 20];
        p.read_at(1780, &mut tail).unwrap();
        assert_eq!(&tail[..12], &[0u8; 12], "chunk 6 reads as zeros");
        assert_eq!(&tail[12..], &data[1792..1800]);
        assert!(matches!(p.read_at(1790, &mut [0u8; 20]), Err(Qcow2Error::Io(_))));
    }
}
