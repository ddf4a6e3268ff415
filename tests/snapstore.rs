//! The snapshot store over a backing that is not IndexedDB: the seam a
//! remote (S3) store will implement. Blocks and pages are stored once,
//! counted, and everything goes when the last manifest holding it goes.

use std::collections::{BTreeMap, HashMap};

use rowsnap::engine::testkit::block_on;
use rowsnap::error::Result;
use rowsnap::snapstore::{self, Backing, Manifest, ObjectStore, Page};

/// Counts and objects in maps; every object call is logged.
#[derive(Default)]
struct Mem {
    counts: BTreeMap<String, Vec<u8>>,
    objects: BTreeMap<String, Vec<u8>>,
    log: Vec<String>,
}

impl ObjectStore for Mem {
    async fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.objects.get(key).cloned())
    }
    fn put(&mut self, key: &str, data: Vec<u8>) {
        self.log.push(format!("put {key}"));
        self.objects.insert(key.to_string(), data);
    }
    fn delete(&mut self, key: &str) {
        self.log.push(format!("delete {key}"));
        self.objects.remove(key);
    }
}

impl Backing for Mem {
    type Objects = Self;
    async fn count(&mut self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.counts.get(key).cloned())
    }
    async fn counts(&mut self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(keys.iter().map(|k| self.counts.get(k).cloned()).collect())
    }
    fn put_count(&mut self, key: &str, value: Vec<u8>) {
        self.counts.insert(key.to_string(), value);
    }
    fn delete_count(&mut self, key: &str) {
        self.counts.remove(key);
    }
    fn objects(&mut self) -> &mut Self {
        self
    }
}

const BS: usize = 4096;

fn block(seed: u8) -> Vec<u8> {
    vec![seed; BS]
}

/// Stores a page of `blocks` (slot -> content) the way an upload step does:
/// the blocks counted (new ones packed), then the page.
fn store_page(m: &mut Mem, blocks: &[(u16, Vec<u8>)], pack: &str) -> String {
    let mut deltas = BTreeMap::new();
    let mut data = BTreeMap::new();
    let mut page = Page::new();
    for (slot, b) in blocks {
        let h = blake3::hash(b).to_hex().to_string();
        *deltas.entry(h.clone()).or_insert(0) += 1;
        data.insert(h.clone(), b.clone());
        page.insert(*slot, h);
    }
    block_on(snapstore::block_deltas(m, &deltas, &data, pack)).unwrap();
    block_on(snapstore::put_page(m, &page)).unwrap().0
}

fn read(m: &mut Mem, page_hash: &str, slot: u16) -> Option<Vec<u8>> {
    let page = block_on(snapstore::located_page(m, page_hash)).unwrap();
    let (h, rec) = page.get(&slot)?;
    Some(block_on(snapstore::load_block_at(m, h, rec, BS, &mut HashMap::new())).unwrap())
}

#[test]
fn shared_blocks_and_pages_are_stored_once_and_go_with_the_last_holder() {
    let mut m = Mem::default();
    // Two snapshots: the second shares one page and changes one block of the other.
    let p1 = store_page(&mut m, &[(0, block(1)), (1, block(2))], "s-1-0");
    let p2 = store_page(&mut m, &[(0, block(1)), (1, block(3))], "s-2-0");
    let same = store_page(&mut m, &[(0, block(1)), (1, block(2))], "s-3-0");
    assert_eq!(same, p1, "an identical page is the same object");
    assert_eq!(block_on(snapstore::page_count(&mut m, &p1)).unwrap(), 2);
    // Blocks 1, 2 and 3 are stored once each, in packs.
    let packs = m.objects.keys().filter(|k| k.starts_with("snap/packs/")).count();
    assert!(packs >= 1);
    for (slot, want) in [(0, 1u8), (1, 2)] {
        assert_eq!(read(&mut m, &p1, slot), Some(block(want)));
    }
    assert_eq!(read(&mut m, &p2, 1), Some(block(3)));
    // Manifests take over the pages; the build references go.
    let m1 = Manifest { block_shift: 12, size: 2 * BS as u64, pages: [(0, p1.clone())].into(), snapshot: None };
    let m2 = Manifest { block_shift: 12, size: 2 * BS as u64, pages: [(0, p2.clone())].into(), snapshot: None };
    block_on(snapstore::hold_pages(&mut m, &m1.pages, 1)).unwrap();
    block_on(snapstore::hold_pages(&mut m, &m2.pages, 1)).unwrap();
    block_on(snapstore::page_ref(&mut m, &p1, -2, None)).unwrap();
    block_on(snapstore::page_ref(&mut m, &p2, -1, None)).unwrap();
    snapstore::put_manifest(&mut m, "s-1", &m1).unwrap();
    snapstore::put_manifest(&mut m, "s-2", &m2).unwrap();
    assert_eq!(block_on(snapstore::manifest(&mut m, "s-1")).unwrap(), Some(m1));
    // Releasing the first keeps what the second holds.
    block_on(snapstore::release(&mut m, "s-1")).unwrap();
    assert_eq!(read(&mut m, &p2, 0), Some(block(1)));
    assert_eq!(read(&mut m, &p2, 1), Some(block(3)));
    assert!(m.log.iter().any(|l| l == &format!("delete snap/pages/{p1}")));
    // Releasing the last leaves nothing: no object, no count.
    block_on(snapstore::release(&mut m, "s-2")).unwrap();
    assert!(m.objects.is_empty(), "left: {:?}", m.objects.keys().collect::<Vec<_>>());
    assert!(m.counts.is_empty(), "left: {:?}", m.counts.keys().collect::<Vec<_>>());
}
