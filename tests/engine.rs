#![cfg(not(target_arch = "wasm32"))]
//! Native tests of the engine on the memory store: the reference model under
//! random operation sequences, failing commits, and the figures that must
//! hold exactly (space accounting, changed blocks, block maps).

use rowsnap::engine::memory::MemoryStore;
use rowsnap::engine::testkit::{block_on, digest, random_ops, scenario_step, scenario_step_sealed, test_key, FailMode, FailingStore, Limits, Rng};
use rowsnap::engine::{BlockState, Engine, EngineError, MapRef, SnapshotId, VolumeId};

fn open() -> Engine<MemoryStore> {
    block_on(Engine::open(MemoryStore::new())).unwrap()
}

#[test]
fn model_fixed_seed_10000_ops() {
    let mut e = open();
    block_on(random_ops(&mut e, 0x5eed_0001, 10_000, Limits::default())).unwrap();
}

#[test]
fn model_random_seed() {
    let seed = match std::env::var("ROWSNAP_SEED") {
        Ok(s) => s.parse().expect("ROWSNAP_SEED is a number"),
        Err(_) => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64,
    };
    println!("model_random_seed: seed {seed} (replay with ROWSNAP_SEED={seed})");
    let mut e = open();
    block_on(random_ops(&mut e, seed, 4_000, Limits::default())).unwrap_or_else(|m| panic!("{m} (replay with ROWSNAP_SEED={seed})"));
}

#[test]
fn model_with_a_tiny_cache() {
    // Evictions everywhere: every record is re-read from the store.
    let mut e = block_on(Engine::open_with_cache(MemoryStore::new(), 4)).unwrap();
    block_on(random_ops(&mut e, 77, 1_500, Limits { check_every: 100, ..Limits::default() })).unwrap();
}

#[test]
fn model_sealed_volumes_2000_ops() {
    // Volumes sealed with two keys and plain ones side by side: the same model, and keys never mix.
    let mut e = open();
    block_on(random_ops(&mut e, 0x5ea1_0001, 2_000, Limits { sealed: true, ..Limits::default() })).unwrap();
}

/// The engine over `store`, given data key 1 when `key` is 1.
fn open_keyed<S: rowsnap::engine::Store>(store: S, key: u64) -> Engine<S> {
    let e = block_on(Engine::open(store)).unwrap();
    if key != 0 {
        e.set_key(key, Some(&test_key(key)));
    }
    e
}

/// The digests of the scenario after each step, on a store that never fails.
fn scenario_digests(key: u64) -> Vec<Vec<String>> {
    let mut e = open_keyed(MemoryStore::new(), key);
    let mut out = vec![block_on(digest(&mut e)).unwrap()];
    let mut step = 0;
    while block_on(scenario_step_sealed(&mut e, step, key)).unwrap() {
        out.push(block_on(digest(&mut e)).unwrap());
        step += 1;
    }
    out
}

#[test]
fn failed_commit_at_every_point_leaves_before_or_after() {
    failed_commits(0);
}

#[test]
fn failed_commit_at_every_point_leaves_before_or_after_sealed() {
    failed_commits(1);
}

fn failed_commits(key: u64) {
    let digests = scenario_digests(key);
    let steps = digests.len() - 1;
    // Commits of a clean run: one to create the superblock, one per step.
    let total = {
        let store = FailingStore::new(MemoryStore::new(), u64::MAX, FailMode::Before);
        let mut e = open_keyed(store.clone(), key);
        for s in 0..steps {
            block_on(scenario_step_sealed(&mut e, s, key)).unwrap();
        }
        store.commits()
    };
    assert!(total as usize > steps);
    let mut tried = 0;
    for n in 2..=total {
        for mode in [FailMode::Before, FailMode::After] {
            let store = FailingStore::new(MemoryStore::new(), n, mode);
            let mut e = open_keyed(store.clone(), key);
            let mut failed_at = None;
            for s in 0..steps {
                if let Err(err) = block_on(scenario_step_sealed(&mut e, s, key)) {
                    assert!(matches!(err, EngineError::Store(_)), "{err}");
                    failed_at = Some(s);
                    break;
                }
            }
            let s = failed_at.expect("the chosen commit failed");
            let want = match mode {
                FailMode::Before => &digests[s],
                FailMode::After => &digests[s + 1],
                FailMode::QuotaAbove(_) => unreachable!("only Before and After are run here"),
            };
            // Reopened from what the store holds ...
            let mut reopened = open_keyed(store.inner.clone(), key);
            assert_eq!(&block_on(digest(&mut reopened)).unwrap(), want, "commit {n} {mode:?}, reopened");
            // ... and the engine that saw the failure, still running.
            if mode == FailMode::Before {
                assert_eq!(&block_on(digest(&mut e)).unwrap(), want, "commit {n}, same engine");
                // It goes on working: the failed step succeeds when retried.
                block_on(scenario_step_sealed(&mut e, s, key)).unwrap();
                assert_eq!(block_on(digest(&mut e)).unwrap(), digests[s + 1], "commit {n}, retried");
            }
            tried += 1;
        }
    }
    assert_eq!(tried, 2 * (total - 1));
}

#[test]
fn close_and_reopen_gives_identical_state() {
    let store = MemoryStore::new();
    let mut e = block_on(Engine::open(store.clone())).unwrap();
    let mut s = 0;
    while block_on(scenario_step(&mut e, s)).unwrap() {
        s += 1;
        if s == 9 {
            break;
        }
    }
    let before = block_on(digest(&mut e)).unwrap();
    let dump = store.dump();
    drop(e);
    let mut again = block_on(Engine::open(store.clone())).unwrap();
    assert_eq!(block_on(digest(&mut again)).unwrap(), before);
    assert_eq!(store.dump(), dump, "opening and reading wrote nothing");
}

#[test]
fn sparse_and_zero_blocks_take_no_space() {
    let mut e = open();
    let v = block_on(e.create_volume(1 << 40, 16)).unwrap(); // 1 TiB, nothing written
    assert_eq!(block_on(e.stats()).unwrap().stored_blocks, 0);
    block_on(e.write(v, (1 << 40) - 10, b"0123456789")).unwrap();
    block_on(e.write(v, 5 << 30, &vec![0u8; 1 << 20])).unwrap(); // zeros: nothing
    assert_eq!(block_on(e.stats()).unwrap().stored_blocks, 1);
    assert_eq!(block_on(e.read(v, (1 << 40) - 12, 12)).unwrap(), b"\0\x000123456789");
    block_on(e.write(v, (1 << 40) - 10, &[0u8; 10])).unwrap();
    assert_eq!(block_on(e.stats()).unwrap().stored_blocks, 0);
    assert_eq!(block_on(e.volume_info(v)).unwrap().referenced_bytes, 0);
    block_on(e.check()).unwrap();
}

#[test]
fn out_of_range_and_missing_ids_are_errors_that_change_nothing() {
    let mut e = open();
    let v = block_on(e.create_volume(10_000, 12)).unwrap();
    let before = block_on(digest(&mut e)).unwrap();
    assert!(matches!(block_on(e.write(v, 9_999, b"ab")), Err(EngineError::OutOfRange { .. })));
    assert!(matches!(block_on(e.read(v, u64::MAX, 2)), Err(EngineError::OutOfRange { .. })));
    assert_eq!(block_on(e.snapshot(VolumeId(9))), Err(EngineError::NoSuchVolume(VolumeId(9))));
    assert_eq!(block_on(e.rollback(v, SnapshotId(4))), Err(EngineError::NoSuchSnapshot(SnapshotId(4))));
    assert!(matches!(block_on(e.create_volume(10, 11)), Err(EngineError::InvalidSize(_))));
    assert!(matches!(block_on(e.create_volume(1 << 50, 12)), Err(EngineError::InvalidSize(_))));
    assert!(matches!(block_on(e.resize(v, 10)), Err(EngineError::InvalidSize(_))));
    assert_eq!(block_on(digest(&mut e)).unwrap(), before);
}

#[test]
fn space_figures_incremental_exclusive_referenced() {
    let mut e = open();
    let bs = 1u64 << 12;
    let v = block_on(e.create_volume(64 * bs, 12)).unwrap();
    let mut r = Rng::new(3);
    let mut data = vec![0u8; (10 * bs) as usize];
    r.fill(&mut data);
    block_on(e.write(v, 0, &data)).unwrap(); // blocks 0..10
    let s1 = block_on(e.snapshot(v)).unwrap();
    block_on(e.write(v, 5 * bs, &data[..(10 * bs) as usize])).unwrap(); // blocks 5..15
    let s2 = block_on(e.snapshot(v)).unwrap();
    let i1 = block_on(e.snapshot_info(s1)).unwrap();
    let i2 = block_on(e.snapshot_info(s2)).unwrap();
    assert_eq!((i1.incremental_bytes, i1.referenced_bytes), (10 * bs, 10 * bs));
    assert_eq!((i2.incremental_bytes, i2.referenced_bytes), (10 * bs, 15 * bs));
    assert_eq!(i2.parent, Some(s1));
    // s1 alone holds its blocks 5..10; s2 shares everything with the volume.
    assert_eq!(block_on(e.exclusive_bytes(MapRef::Snapshot(s1))).unwrap(), 5 * bs);
    assert_eq!(block_on(e.exclusive_bytes(MapRef::Snapshot(s2))).unwrap(), 0);
    // Overwrite 5..15 again: now s2 alone holds those.
    block_on(e.write(v, 5 * bs, &vec![7u8; (10 * bs) as usize])).unwrap();
    assert_eq!(block_on(e.exclusive_bytes(MapRef::Snapshot(s2))).unwrap(), 10 * bs);
    // Deleting s1 frees its 5 exclusive blocks; then s2's share of 0..5 becomes ... still shared with the volume.
    let before = block_on(e.stats()).unwrap().stored_blocks;
    block_on(e.delete_snapshot(s1)).unwrap();
    assert_eq!(before - block_on(e.stats()).unwrap().stored_blocks, 5);
    assert_eq!(block_on(e.exclusive_bytes(MapRef::Snapshot(s2))).unwrap(), 10 * bs);
    block_on(e.check()).unwrap();
}

#[test]
fn changed_blocks_between_snapshots() {
    let mut e = open();
    let v = block_on(e.create_volume(32 << 20, 12)).unwrap();
    block_on(e.write(v, 0, &vec![1u8; 3 * 4096])).unwrap();
    let s1 = block_on(e.snapshot(v)).unwrap();
    block_on(e.write(v, 4096, &[2u8; 10])).unwrap(); // block 1
    block_on(e.write(v, 5000 * 4096, &[3u8; 4096 * 2])).unwrap(); // blocks 5000, 5001 (another leaf)
    block_on(e.write(v, 2 * 4096, &[0u8; 4096])).unwrap(); // block 2 unmapped
    let s2 = block_on(e.snapshot(v)).unwrap();
    let runs = block_on(e.changed_blocks(MapRef::Snapshot(s1), MapRef::Snapshot(s2))).unwrap();
    assert_eq!(runs, vec![(1, 2), (5000, 2)]);
    assert_eq!(block_on(e.changed_blocks(MapRef::Snapshot(s2), MapRef::Volume(v))).unwrap(), vec![]);
}

#[test]
fn block_map_says_who_wrote_and_who_shares() {
    let mut e = open();
    let bs = 4096u64;
    let v = block_on(e.create_volume(8 * bs, 12)).unwrap();
    block_on(e.write(v, 0, &vec![1u8; 2 * bs as usize])).unwrap(); // 0,1
    let s1 = block_on(e.snapshot(v)).unwrap();
    block_on(e.write(v, bs, &vec![2u8; 2 * bs as usize])).unwrap(); // 1,2
    let s2 = block_on(e.snapshot(v)).unwrap();
    block_on(e.write(v, 2 * bs, &vec![3u8; bs as usize])).unwrap(); // 2
    let m = block_on(e.block_map(MapRef::Volume(v))).unwrap();
    assert_eq!(m.blocks, 8);
    let st = |i: u64| m.runs.iter().find(|r| r.start <= i && i < r.start + r.len).unwrap().state.clone();
    assert_eq!(st(0), BlockState::Written { first_snapshot: Some(s1), shared_with: vec![s1, s2], shared_with_volumes: vec![], exclusive: false });
    assert_eq!(st(1), BlockState::Written { first_snapshot: Some(s2), shared_with: vec![s2], shared_with_volumes: vec![], exclusive: false });
    assert_eq!(st(2), BlockState::Written { first_snapshot: None, shared_with: vec![], shared_with_volumes: vec![], exclusive: true });
    assert_eq!(st(5), BlockState::Unwritten);
    let total: u64 = m.runs.iter().map(|r| r.len).sum();
    assert_eq!(total, 8);
    // Seen from s1: block 1 is its own (s2 rewrote it), block 0 shared with s2 and the volume.
    let m1 = block_on(e.block_map(MapRef::Snapshot(s1))).unwrap();
    assert_eq!(m1.runs[1].state, BlockState::Written { first_snapshot: Some(s1), shared_with: vec![], shared_with_volumes: vec![], exclusive: true });
}

#[test]
fn deleting_a_volume_keeps_its_snapshots_readable_and_clonable() {
    let mut e = open();
    let v = block_on(e.create_volume(100_000, 12)).unwrap();
    block_on(e.write(v, 777, b"kept after the disk is gone")).unwrap();
    let s = block_on(e.snapshot(v)).unwrap();
    block_on(e.delete_volume(v)).unwrap();
    assert_eq!(block_on(e.read_snapshot(s, 777, 4)).unwrap(), b"kept");
    let c = block_on(e.clone_snapshot(s, None)).unwrap();
    assert_eq!(block_on(e.read(c, 782, 5)).unwrap(), b"after");
    block_on(e.check()).unwrap();
}

// ------------------------------------------------------------ sealed volumes

/// Whether any stored value of any table holds `pattern`.
fn stored_anywhere(store: &MemoryStore, pattern: &[u8]) -> bool {
    store.dump().values().any(|v| v.windows(pattern.len()).any(|w| w == pattern))
}

#[test]
fn sealed_volume_stores_no_plaintext_and_its_snapshots_and_clones_read_back() {
    let pattern: Vec<u8> = b"ROWSNAP-PLAINTEXT-PATTERN-".iter().cycle().take(40_000).copied().collect();
    for key in [0u64, 1] {
        let store = MemoryStore::new();
        let mut e = open_keyed(store.clone(), key);
        let v = block_on(e.create_sealed_volume(1 << 20, 15, key)).unwrap();
        block_on(e.write(v, 5000, &pattern)).unwrap();
        let s = block_on(e.snapshot(v)).unwrap();
        let c = block_on(e.clone_snapshot(s, None)).unwrap();
        block_on(e.write(c, 100, b"clone's own")).unwrap();
        assert_eq!(block_on(e.read(v, 5000, 40_000)).unwrap(), pattern);
        assert_eq!(block_on(e.read_snapshot(s, 5000, 40_000)).unwrap(), pattern);
        assert_eq!(block_on(e.read(c, 100, 11)).unwrap(), b"clone's own");
        assert_eq!(block_on(e.volume_info(c)).unwrap().key, key);
        // The scan works: plain volumes show the pattern, sealed ones never.
        assert_eq!(stored_anywhere(&store, &pattern[..26]), key == 0, "key {key}");
        assert_eq!(stored_anywhere(&store, b"clone's own"), key == 0);
        block_on(e.check()).unwrap();
        // Zeros stay unmapped when sealed too.
        let before = block_on(e.stats()).unwrap().stored_blocks;
        block_on(e.write(v, 512 << 10, &[0u8; 65536])).unwrap();
        assert_eq!(block_on(e.stats()).unwrap().stored_blocks, before);
    }
}

#[test]
fn altered_or_moved_sealed_blocks_are_refused_never_returned() {
    let store = MemoryStore::new();
    let mut e = open_keyed(store.clone(), 1);
    let v = block_on(e.create_sealed_volume(1 << 20, 15, 1)).unwrap();
    block_on(e.write(v, 0, &[7u8; 65536])).unwrap(); // blocks 0 and 1
    let dump = store.dump();
    let blocks: Vec<_> = dump.iter().filter(|((t, _), _)| *t == rowsnap::engine::Table::BLOCKS).collect();
    assert_eq!(blocks.len(), 2);
    // One flipped bit in block 0's ciphertext.
    let mut bad = dump.clone();
    let ((t0, k0), v0) = blocks[0];
    let mut flipped = v0.clone();
    flipped[1000] ^= 0x10;
    bad.insert((*t0, k0.clone()), flipped);
    store.restore(&bad);
    e.clear_cache();
    let err = block_on(e.read(v, 0, 4096)).unwrap_err();
    assert!(matches!(err, EngineError::Tampered { key: 1, index: 0 }), "{err}");
    // A write into the altered block (read-modify-write) is refused too, and changes nothing.
    assert!(matches!(block_on(e.write(v, 10, b"x")), Err(EngineError::Tampered { .. })));
    // Block 1 still reads.
    assert_eq!(block_on(e.read(v, 32768, 4)).unwrap(), [7u8; 4]);
    // Block 0's sealed bytes put in block 1's place (a moved block): refused.
    let mut moved = dump.clone();
    let ((t1, k1), _) = blocks[1];
    moved.insert((*t1, k1.clone()), v0.clone());
    store.restore(&moved);
    e.clear_cache();
    assert!(matches!(block_on(e.read(v, 32768, 4)), Err(EngineError::Tampered { key: 1, index: 1 })));
    // Restored as it was: both read.
    store.restore(&dump);
    assert_eq!(block_on(e.read(v, 0, 65536)).unwrap(), vec![7u8; 65536]);
}

#[test]
fn a_sealed_volume_without_its_key_is_unavailable_and_keys_never_mix() {
    let mut e = open_keyed(MemoryStore::new(), 1);
    let v = block_on(e.create_sealed_volume(1 << 20, 15, 1)).unwrap();
    let plain = block_on(e.create_volume(1 << 20, 15)).unwrap();
    block_on(e.write(v, 0, b"secret")).unwrap();
    let s = block_on(e.snapshot(v)).unwrap();
    let ps = block_on(e.snapshot(plain)).unwrap();
    assert!(matches!(block_on(e.rollback(plain, s)), Err(EngineError::KeyMismatch)));
    assert!(matches!(block_on(e.rollback(v, ps)), Err(EngineError::KeyMismatch)));
    e.set_key(1, None);
    assert!(!e.has_key(1));
    assert_eq!(block_on(e.read(v, 0, 6)), Err(EngineError::KeyUnavailable(1)));
    assert_eq!(block_on(e.read_snapshot(s, 0, 6)), Err(EngineError::KeyUnavailable(1)));
    assert_eq!(block_on(e.write(v, 0, b"x")), Err(EngineError::KeyUnavailable(1)));
    assert!(matches!(block_on(e.clone_snapshot(s, None)), Err(EngineError::KeyUnavailable(1))));
    // Plain volumes are not affected; the key given back opens everything again.
    block_on(e.write(plain, 0, b"plain")).unwrap();
    e.set_key(1, Some(&test_key(1)));
    assert_eq!(block_on(e.read(v, 0, 6)).unwrap(), b"secret");
    // The wrong key's bytes under the right id: nothing opens.
    e.set_key(1, Some(&test_key(2)));
    e.clear_cache();
    assert!(matches!(block_on(e.read(v, 0, 6)), Err(EngineError::Tampered { .. })));
}
