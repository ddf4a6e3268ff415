//! Engine conformance cases against real IndexedDB, shared by the window
//! (`tests/browser.rs`) and dedicated-worker (`tests/browser_worker.rs`) runs.
//! Every test uses its own database name: all tests of a binary share one origin.

use rowsnap::engine::memory::MemoryStore;
use rowsnap::engine::testkit::{digest, random_ops, scenario_step, Limits};
use rowsnap::engine::{Engine, EngineError, Key, Store, StoreError, Table, Tx, VolumeId};
use rowsnap::idb::IdbStore;
use wasm_bindgen_test::*;

async fn fresh(name: &str) -> IdbStore {
    IdbStore::delete(name).await.unwrap();
    IdbStore::open(name).await.unwrap()
}

#[wasm_bindgen_test]
async fn random_operations_match_the_model_in_indexeddb() {
    let store = fresh("t-random").await;
    let mut e = Engine::open(store).await.unwrap();
    let limits = Limits { max_volumes: 3, max_snapshots: 6, check_every: 100, compare_every: 50, sealed: false };
    random_ops(&mut e, 0x1dba, 300, limits).await.unwrap();
}

#[wasm_bindgen_test]
async fn random_operations_on_sealed_volumes_match_the_model_in_indexeddb() {
    // Encrypted volumes (two data keys and plain ones) on real IndexedDB.
    let store = fresh("t-random-sealed").await;
    let mut e = Engine::open(store).await.unwrap();
    let limits = Limits { max_volumes: 3, max_snapshots: 6, check_every: 100, compare_every: 50, sealed: true };
    random_ops(&mut e, 0x5ea1, 300, limits).await.unwrap();
}

#[wasm_bindgen_test]
async fn scenario_gives_the_same_state_as_the_memory_store() {
    let mut mem = Engine::open(MemoryStore::new()).await.unwrap();
    let mut idb = Engine::open(fresh("t-scenario").await).await.unwrap();
    let mut step = 0;
    loop {
        let a = scenario_step(&mut mem, step).await.unwrap();
        let b = scenario_step(&mut idb, step).await.unwrap();
        assert_eq!(a, b);
        if !a {
            break;
        }
        assert_eq!(digest(&mut idb).await.unwrap(), digest(&mut mem).await.unwrap(), "after step {step}");
        step += 1;
    }
}

#[wasm_bindgen_test]
async fn close_and_reopen_gives_identical_state() {
    let store = fresh("t-reopen").await;
    let mut e = Engine::open(store.clone()).await.unwrap();
    for step in 0..12 {
        scenario_step(&mut e, step).await.unwrap();
    }
    let before = digest(&mut e).await.unwrap();
    drop(e);
    store.close();
    let again = IdbStore::open("t-reopen").await.unwrap();
    let mut e = Engine::open(again).await.unwrap();
    assert_eq!(digest(&mut e).await.unwrap(), before);
}

#[wasm_bindgen_test]
async fn a_dropped_transaction_writes_nothing() {
    let store = fresh("t-drop").await;
    let mut e = Engine::open(store.clone()).await.unwrap();
    let v = e.create_volume(1 << 20, 12).await.unwrap();
    e.write(v, 0, b"committed").await.unwrap();
    {
        let mut t = e.begin().await.unwrap();
        t.write(v, 0, b"DROPPED!!").await.unwrap();
        t.put_in(rowsnap::schema::RECORDS, "probe", b"should not exist".to_vec());
        // dropped here, never committed
    }
    let mut fresh_engine = Engine::open(IdbStore::open("t-drop").await.unwrap()).await.unwrap();
    assert_eq!(fresh_engine.read(v, 0, 9).await.unwrap(), b"committed");
    let mut t = fresh_engine.begin().await.unwrap();
    assert_eq!(t.get_in(rowsnap::schema::RECORDS, "probe").await.unwrap(), None);
}

#[wasm_bindgen_test]
async fn a_strict_transaction_is_strict_and_commits_like_any_other() {
    // The guest's FLUSH CACHE commits with durability "strict" (Ecs::sync_guest_writes).
    let store = fresh("t-strict").await;
    let mut t = store.begin_strict().await.unwrap();
    assert_eq!(t.durability().as_deref(), Some("strict"), "Chromium and Firefox both report it");
    t.put(rowsnap::schema::RECORDS, Key::Str("synced".into()), b"on the device".to_vec());
    t.commit().await.unwrap();
    assert_eq!(store.begin(true).await.unwrap().durability().as_deref(), Some("default"));
    let again = IdbStore::open("t-strict").await.unwrap();
    let mut t = again.begin(false).await.unwrap();
    assert_eq!(t.get(rowsnap::schema::RECORDS, &Key::Str("synced".into())).await.unwrap().as_deref(), Some(&b"on the device"[..]));
}

#[wasm_bindgen_test]
async fn the_reserve_refuses_data_near_the_quota_and_lets_records_and_deletes_through() {
    use rowsnap::browser::estimate;
    use rowsnap::idb::reserve_margin;
    let store = fresh("t-reserve").await;
    let mut e = Engine::open(store.clone()).await.unwrap();
    let v = e.create_volume(256 << 20, 15).await.unwrap();
    // A quota 12 MiB past today's usage and the margin (32 MiB below 640 MiB): 12 MiB fits.
    let (usage, _) = estimate().await.unwrap();
    let quota = usage + 44.0 * 1048576.0;
    assert_eq!(reserve_margin(quota), 32.0 * 1048576.0, "usage {usage}");
    store.set_quota_for_test(Some(quota));
    let chunk = vec![0x5au8; 4 << 20];
    let mut written = 0u64;
    let refused = loop {
        match e.write(v, written, &chunk).await {
            Ok(()) => written += 4 << 20,
            Err(err) => break err,
        }
        assert!(written <= 64 << 20, "the reserve never refused");
    };
    assert!(matches!(refused, EngineError::Store(StoreError::QuotaExceeded)), "{refused:?}");
    assert!((4 << 20..=16 << 20).contains(&written), "refused after {written} bytes");
    // Nothing of the refused write is there; what was written before is.
    assert_eq!(e.read(v, written, 4).await.unwrap(), [0u8; 4]);
    assert_eq!(e.read(v, written - 4, 4).await.unwrap(), [0x5au8; 4]);
    // Records (what a stop or a delete puts) still commit, and so does a delete.
    let mut t = e.begin().await.unwrap();
    t.put_in(rowsnap::schema::RECORDS, "a-record", vec![1; 2048]);
    t.commit().await.unwrap();
    e.delete_volume(v).await.unwrap();
    // With the browser's quota again, data commits.
    store.set_quota_for_test(None);
    let w = e.create_volume(16 << 20, 15).await.unwrap();
    e.write(w, 0, &chunk).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_connection_the_browser_closes_is_opened_again() {
    let store = fresh("t-lost").await;
    let mut e = Engine::open(store.clone()).await.unwrap();
    let v = e.create_volume(1 << 20, 15).await.unwrap();
    e.write(v, 0, b"before").await.unwrap();
    // Closed with its close event (what Chromium does after an I/O error), then closed without
    // one (a transaction then fails with InvalidStateError: "the connection is closing").
    for (i, event) in [true, false].into_iter().enumerate() {
        store.close_as_the_browser_would(event);
        let at = 4096 * (i as u64 + 1);
        e.write(v, at, b"after").await.unwrap();
        assert_eq!(e.read(v, at, 5).await.unwrap(), b"after");
    }
    assert_eq!(e.read(v, 0, 6).await.unwrap(), b"before");
    assert!(!store.is_closed());
}

#[wasm_bindgen_test]
async fn another_tab_upgrading_closes_this_connection_cleanly() {
    let store = fresh("t-upgrade").await;
    let mut e = Engine::open(store.clone()).await.unwrap();
    let v = e.create_volume(4096, 12).await.unwrap();
    // "Another tab" opens the same database with a newer version.
    let factory = idb::Factory::new().unwrap();
    let newer = factory.open("t-upgrade", Some(rowsnap::idb::DB_VERSION + 1)).unwrap().await.unwrap();
    assert!(store.is_closed());
    assert_eq!(e.write(v, 0, b"x").await, Err(EngineError::Store(StoreError::VersionChanged)));
    newer.close();
    let _ = VolumeId(0);
}

#[wasm_bindgen_test]
async fn a_schema_1_database_migrates_with_its_data() {
    use rowsnap::engine::Key;
    // The fixture: what a schema-1 rowsnap stored after the scenario's first steps,
    // written with raw IndexedDB in the schema-1 layout (seven object stores).
    let mut mem = Engine::open(MemoryStore::new()).await.unwrap();
    for step in 0..10 {
        scenario_step(&mut mem, step).await.unwrap();
    }
    let want = digest(&mut mem).await.unwrap();
    let name = "t-migrate";
    IdbStore::delete(name).await.unwrap();
    const V1: [&str; 7] = ["meta", "volumes", "snapshots", "nodes", "blocks", "refcounts", "records"];
    let mut req = idb::Factory::new().unwrap().open(name, Some(1)).unwrap();
    req.on_upgrade_needed(|ev| {
        let db = idb::DatabaseEvent::database(&ev).unwrap();
        for n in V1 {
            db.create_object_store(n, idb::ObjectStoreParams::new()).unwrap();
        }
    });
    let db = req.await.unwrap();
    let tx = db.transaction(&V1, idb::TransactionMode::ReadWrite).unwrap();
    for ((table, key), value) in mem.store().dump() {
        let k = match key {
            Key::Num(n) => wasm_bindgen::JsValue::from_f64(n as f64),
            Key::Str(s) => wasm_bindgen::JsValue::from_str(&s),
        };
        let v = js_sys::Uint8Array::from(&value[..]);
        tx.object_store(table.name()).unwrap().put(&v, Some(&k)).unwrap();
    }
    tx.commit().unwrap().await.unwrap();
    db.close();
    // The current rowsnap opens it: the data is intact and the new tables work.
    let mut e = Engine::open(IdbStore::open(name).await.unwrap()).await.unwrap();
    assert_eq!(digest(&mut e).await.unwrap(), want);
    let mut t = e.begin().await.unwrap();
    t.put_in(rowsnap::oss::OBJECTS, "probe", b"schema 2".to_vec());
    t.commit().await.unwrap();
    let mut t = e.begin().await.unwrap();
    assert_eq!(t.get_in(rowsnap::oss::OBJECTS, "probe").await.unwrap(), Some(b"schema 2".to_vec()));
}

/// `get_values` (the engine's block reads: one get per key in IndexedDB,
/// getAll for very long ranges) answers exactly as the memory store: values
/// in key order, keys that hold nothing left out.
#[wasm_bindgen_test]
async fn get_values_answers_as_the_memory_store() {
    let idb = fresh("t-values").await;
    let mem = MemoryStore::new();
    let keys: Vec<u64> = (1..=6000u64).filter(|k| k % 7 != 3 && !(100..200).contains(k)).collect();
    let mut a = idb.begin(true).await.unwrap();
    let mut b = mem.begin(true).await.unwrap();
    for &k in &keys {
        let v = vec![(k % 251) as u8; 1 + (k % 5) as usize];
        a.put(Table::BLOCKS, Key::Num(k), v.clone());
        b.put(Table::BLOCKS, Key::Num(k), v);
    }
    a.commit().await.unwrap();
    b.commit().await.unwrap();
    let ranges = [(1, 40), (3, 3), (10, 10), (95, 210), (150, 160), (7000, 7010), (1, 6000), (5990, 6100)];
    let mut a = idb.begin(false).await.unwrap();
    let mut b = mem.begin(false).await.unwrap();
    let got = a.get_values(Table::BLOCKS, &ranges).await.unwrap();
    let want = b.get_values(Table::BLOCKS, &ranges).await.unwrap();
    assert_eq!(got.len(), ranges.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "range {:?}", ranges[i]);
    }
    assert_eq!(got[1], Vec::<Vec<u8>>::new(), "key 3 holds nothing");
    assert_eq!(got[6].len(), keys.len());
}
