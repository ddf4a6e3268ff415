//! An in-memory [`Store`]: a `BTreeMap` per table behind a shared handle.
//!
//! It is a real store with the full contract (atomic commit, isolation of
//! uncommitted writes), the reference the native tests and benchmarks run on.
//! Cloning a `MemoryStore` gives another handle to the same data, which is how
//! tests "reopen" a database: a new engine over a clone sees only what was
//! committed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::store::{Key, Store, StoreError, Table, Tx};

type Data = BTreeMap<(Table, Key), Rc<Vec<u8>>>;

/// The in-memory store.
#[derive(Clone, Default)]
pub struct MemoryStore {
    data: Rc<RefCell<Data>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes of every value of `table` (for space accounting in tests and benchmarks).
    pub fn table_bytes(&self, table: Table) -> u64 {
        self.data.borrow().iter().filter(|((t, _), _)| *t == table).map(|(_, v)| v.len() as u64).sum()
    }

    /// Replaces the committed state with `dump` (tests: start several stores
    /// from one state).
    pub fn restore(&self, dump: &BTreeMap<(Table, Key), Vec<u8>>) {
        *self.data.borrow_mut() = dump.iter().map(|(k, v)| (k.clone(), Rc::new(v.clone()))).collect();
    }

    /// A deep copy of the committed state (to compare two databases).
    pub fn dump(&self) -> BTreeMap<(Table, Key), Vec<u8>> {
        self.data.borrow().iter().map(|(k, v)| (k.clone(), v.to_vec())).collect()
    }
}

/// A transaction of the [`MemoryStore`]: reads go to the committed data,
/// writes are buffered until `commit`.
pub struct MemoryTx {
    data: Rc<RefCell<Data>>,
    writes: Vec<(Table, Key, Option<Vec<u8>>)>,
}

impl Store for MemoryStore {
    type Tx = MemoryTx;
    async fn begin(&self, _write: bool) -> Result<MemoryTx, StoreError> {
        Ok(MemoryTx { data: self.data.clone(), writes: Vec::new() })
    }
}

impl Tx for MemoryTx {
    async fn get(&mut self, table: Table, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.data.borrow().get(&(table, key.clone())).map(|v| v.to_vec()))
    }

    async fn get_many(&mut self, table: Table, keys: &[Key]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let data = self.data.borrow();
        Ok(keys.iter().map(|k| data.get(&(table, k.clone())).map(|v| v.to_vec())).collect())
    }

    async fn get_range(&mut self, table: Table, lo: u64, hi: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let data = self.data.borrow();
        Ok(data
            .range((table, Key::Num(lo))..=(table, Key::Num(hi)))
            .map(|((_, k), v)| match k {
                Key::Num(n) => (*n, v.to_vec()),
                Key::Str(_) => unreachable!("numeric range over a string key"),
            })
            .collect())
    }

    async fn get_values(&mut self, table: Table, ranges: &[(u64, u64)]) -> Result<Vec<Vec<Vec<u8>>>, StoreError> {
        let data = self.data.borrow();
        Ok(ranges.iter().map(|&(lo, hi)| data.range((table, Key::Num(lo))..=(table, Key::Num(hi))).map(|(_, v)| v.to_vec()).collect()).collect())
    }

    async fn count(&mut self, table: Table) -> Result<u64, StoreError> {
        Ok(self.data.borrow().keys().filter(|(t, _)| *t == table).count() as u64)
    }

    async fn scan_prefix(&mut self, table: Table, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let data = self.data.borrow();
        Ok(data
            .range((table, Key::Str(prefix.to_string()))..)
            .map_while(|((t, k), v)| match k {
                Key::Str(s) if *t == table && s.starts_with(prefix) => Some((s.clone(), v.to_vec())),
                _ => None,
            })
            .collect())
    }

    fn put(&mut self, table: Table, key: Key, value: Vec<u8>) {
        self.writes.push((table, key, Some(value)));
    }

    fn delete(&mut self, table: Table, key: Key) {
        self.writes.push((table, key, None));
    }

    async fn commit(self) -> Result<(), StoreError> {
        let mut data = self.data.borrow_mut();
        for (table, key, value) in self.writes {
            match value {
                Some(v) => {
                    data.insert((table, key), Rc::new(v));
                }
                None => {
                    data.remove(&(table, key));
                }
            }
        }
        Ok(())
    }
}
