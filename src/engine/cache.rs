//! A small bounded cache of decoded, committed records.
//!
//! Only committed state enters it (records read from the store, and a
//! transaction's dirty records after its commit succeeded), so a failed or
//! abandoned transaction can never leave anything behind in it.

use std::collections::HashMap;
use std::rc::Rc;

pub struct Lru<V> {
    map: HashMap<u64, (Rc<V>, u64)>,
    cap: usize,
    tick: u64,
}

impl<V> Lru<V> {
    pub fn new(cap: usize) -> Self {
        Lru { map: HashMap::new(), cap: cap.max(4), tick: 0 }
    }

    pub fn get(&mut self, k: u64) -> Option<Rc<V>> {
        self.tick += 1;
        let t = self.tick;
        self.map.get_mut(&k).map(|e| {
            e.1 = t;
            e.0.clone()
        })
    }

    pub fn insert(&mut self, k: u64, v: Rc<V>) {
        self.tick += 1;
        self.map.insert(k, (v, self.tick));
        if self.map.len() > self.cap {
            // Evict the least recently used quarter at once (amortised O(1) per insert).
            let mut ticks: Vec<u64> = self.map.values().map(|e| e.1).collect();
            let cut = self.map.len() / 4;
            ticks.select_nth_unstable(cut);
            let limit = ticks[cut];
            self.map.retain(|_, e| e.1 > limit);
        }
    }

    pub fn remove(&mut self, k: u64) {
        self.map.remove(&k);
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}
