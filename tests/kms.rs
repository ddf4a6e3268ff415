#![cfg(not(target_arch = "wasm32"))]
//! Encrypted disks at the ECS boundary: no plaintext at rest (every record,
//! block and OSS object scanned raw), keys that lock their data, the ECS
//! encryption rules end to end.

mod support;

use rowsnap::engine::testkit::block_on;
use rowsnap::engine::Table;
use serde_json::{json, Value};
use support::{Api, IMAGE};

fn pattern() -> Vec<u8> {
    b"ROWSNAP-SECRET-PATTERN-0123456789-".iter().cycle().take(96 << 10).copied().collect()
}

/// Whether any stored value (any table: records, engine blocks, OSS objects and chunks) holds `needle`.
fn stored_anywhere(a: &Api, needle: &[u8]) -> bool {
    a.ecs.engine_ref().store().dump().values().any(|v| v.windows(needle.len()).any(|w| w == needle))
}

fn disk(a: &mut Api, id: &str) -> Value {
    a.ok("DescribeDisks", json!({"DiskIds": format!("[\"{id}\"]")}))["Disks"]["Disk"][0].clone()
}

fn snap(a: &mut Api, id: &str) -> Value {
    a.ok("DescribeSnapshots", json!({"SnapshotIds": format!("[\"{id}\"]")}))["Snapshots"]["Snapshot"][0].clone()
}

/// An instance with one ESSD data disk (encrypted or not); returns (instance, data disk).
fn with_data_disk(a: &mut Api, encrypted: bool, key: Option<&str>) -> (String, String) {
    let mut d = json!({"Size": 20, "Category": "cloud_essd", "Encrypted": encrypted});
    if let Some(k) = key {
        d["KMSKeyId"] = json!(k);
    }
    let inst = a.instance(IMAGE, json!({"DataDisk": [d]}));
    let data = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
    (inst, data)
}

#[test]
fn no_plaintext_at_rest_for_encrypted_disks_snapshots_and_uploads_and_the_scan_finds_plain_ones() {
    let p = pattern();
    for encrypted in [false, true] {
        let mut a = Api::new();
        let (_, d) = with_data_disk(&mut a, encrypted, None);
        a.write(&d, 3 << 20, &p);
        let s = a.snapshot(&d, json!({"InstantAccessRetentionDays": 1}));
        assert_eq!(snap(&mut a, &s)["Status"], "accomplished");
        // A disk from the snapshot, a custom-image-free copy in another region.
        let d2 = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": s, "DiskCategory": "cloud_essd"}))["DiskId"].as_str().unwrap().to_string();
        a.wait();
        assert_eq!(disk(&mut a, &d2)["Encrypted"], encrypted);
        assert_eq!(block_on(a.ecs.read_snapshot(&s, 3 << 20, p.len() as u64)).unwrap(), p);
        // Released: the snapshot lives only in OSS, and reads back from there.
        block_on(a.ecs.advance_clock(86_401.0)).unwrap();
        assert_eq!(snap(&mut a, &s)["LocalCopyReleased"], true);
        assert_eq!(block_on(a.ecs.read_snapshot(&s, 3 << 20, p.len() as u64)).unwrap(), p);
        assert_eq!(stored_anywhere(&a, &p[..34]), !encrypted, "encrypted: {encrypted}");
        let ds = disk(&mut a, &d);
        assert_eq!((ds["Encrypted"].as_bool(), ds["KMSKeyId"].as_str().unwrap().is_empty()), (Some(encrypted), !encrypted));
        assert_eq!(snap(&mut a, &s)["KMSKeyId"], ds["KMSKeyId"]);
        block_on(a.ecs.engine().check()).unwrap();
    }
}

#[test]
fn a_flipped_bit_in_a_stored_encrypted_block_is_an_error_never_data() {
    let mut a = Api::new();
    let (_, d) = with_data_disk(&mut a, true, None);
    a.write(&d, 0, &pattern()[..32 << 10]);
    let store = a.ecs.engine_ref().store().clone();
    let mut dump = store.dump();
    let (k, v) = dump.iter_mut().filter(|((t, _), _)| *t == Table::BLOCKS).last().unwrap();
    let k = k.clone();
    v[500] ^= 0x01;
    store.restore(&dump);
    a.ecs.engine().clear_cache();
    let err = block_on(a.ecs.read_disk(&d, 0, 4096)).unwrap_err();
    assert_eq!((err.code.as_str(), err.http_status), ("InvalidDiskData.AuthenticationFailed", 500), "{err} ({k:?})");
}

#[test]
fn passphrase_keys_lock_only_their_disks_and_a_reopened_tab_starts_locked() {
    let mut a = Api::new();
    let v = block_on(a.ecs.create_key(&a.vault.clone(), "cn-hangzhou", "team-backup", "correct horse battery")).unwrap();
    let key = v["KeyId"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 36);
    let (_, locked_disk) = with_data_disk(&mut a, true, Some(&key));
    let (_, default_disk) = with_data_disk(&mut a, true, None);
    let (_, plain) = with_data_disk(&mut a, false, None);
    assert_eq!(disk(&mut a, &locked_disk)["KMSKeyId"], key.as_str());
    let p = pattern();
    for d in [&locked_disk, &default_disk, &plain] {
        a.write(d, 1 << 20, &p[..8192]);
    }
    let s = a.snapshot(&locked_disk, json!({}));
    // Listed, unlocked; aliases are unique; short passphrases refused.
    let keys = block_on(a.ecs.list_keys("cn-hangzhou")).unwrap();
    let mine: Vec<&Value> = keys["Keys"].as_array().unwrap().iter().filter(|k| k["KeyId"] == key.as_str()).collect();
    assert_eq!((mine[0]["Alias"].as_str(), mine[0]["Locked"].as_bool()), (Some("alias/team-backup"), Some(false)));
    assert_eq!(keys["Keys"][0]["Alias"], "alias/acs/ecs");
    assert_eq!(block_on(a.ecs.create_key(&a.vault.clone(), "cn-hangzhou", "team-backup", "another passphrase")).unwrap_err().code, "AlreadyExists.Alias");
    assert_eq!(block_on(a.ecs.create_key(&a.vault.clone(), "cn-hangzhou", "short", "1234567")).unwrap_err().code, "InvalidParameter");
    // Locked: its disk and snapshot fail, naming the key; the others are untouched.
    block_on(a.ecs.lock_key(&key)).unwrap();
    let e = block_on(a.ecs.read_disk(&locked_disk, 1 << 20, 8192)).unwrap_err();
    assert_eq!((e.code.as_str(), e.http_status), ("InvalidKMSKeyId.Locked", 403));
    assert!(e.message.contains(&key) && e.message.contains("alias/team-backup"), "{}", e.message);
    assert_eq!(block_on(a.ecs.read_snapshot(&s, 0, 4096)).unwrap_err().code, "InvalidKMSKeyId.Locked");
    assert_eq!(block_on(a.ecs.write_disk(&locked_disk, 0, b"x")).unwrap_err().code, "InvalidKMSKeyId.Locked");
    a.err("CreateSnapshot", json!({"DiskId": locked_disk}), "InvalidKMSKeyId.Locked", 403);
    a.err(
        "CreateDisk",
        json!({"ZoneId": "cn-hangzhou-h", "DiskCategory": "cloud_essd", "Size": 20, "Encrypted": true, "KMSKeyId": key}),
        "InvalidKMSKeyId.Locked",
        403,
    );
    assert_eq!(a.read(&default_disk, 1 << 20, 8192), p[..8192]);
    assert_eq!(a.read(&plain, 1 << 20, 8192), p[..8192]);
    // The default key cannot be locked; unknown keys are NotFound; a wrong passphrase is refused.
    let default_id = keys["Keys"][0]["KeyId"].as_str().unwrap().to_string();
    assert_eq!(block_on(a.ecs.lock_key(&default_id)).unwrap_err().code, "OperationDenied");
    assert_eq!(block_on(a.ecs.lock_key("00000000-0000-4000-8000-000000000000")).unwrap_err().code, "InvalidKMSKeyId.NotFound");
    let e = block_on(a.ecs.unlock_key(&a.vault.clone(), &key, "wrong horse battery")).unwrap_err();
    assert_eq!((e.code.as_str(), e.http_status), ("InvalidKMSKeyId.WrongPassphrase", 400));
    block_on(a.ecs.unlock_key(&a.vault.clone(), &key, "correct horse battery")).unwrap();
    assert_eq!(a.read(&locked_disk, 1 << 20, 8192), p[..8192]);
    // A reopened tab (same profile: same store and device key): the passphrase key is locked again,
    // the default key's disks read at once.
    let store = a.ecs.engine_ref().store().clone();
    let clock = a.clock.clone();
    let c = clock.clone();
    let mut b = Api { ecs: block_on(rowsnap::ecs::Ecs::open(store, Box::new(move || c.get()))).unwrap(), clock, auto_upload: true, vault: a.vault.clone() };
    block_on(b.ecs.kms_open(&b.vault.clone())).unwrap();
    assert_eq!(b.read(&default_disk, 1 << 20, 8192), p[..8192]);
    assert_eq!(block_on(b.ecs.read_disk(&locked_disk, 1 << 20, 8)).unwrap_err().code, "InvalidKMSKeyId.Locked");
    block_on(b.ecs.unlock_key(&b.vault.clone(), &key, "correct horse battery")).unwrap();
    assert_eq!(b.read(&locked_disk, 1 << 20, 8192), p[..8192]);
    // Another profile (another device key) cannot open the default key's disks.
    let store = b.ecs.engine_ref().store().clone();
    let c = b.clock.clone();
    let mut other = block_on(rowsnap::ecs::Ecs::open(store, Box::new(move || c.get()))).unwrap();
    block_on(other.kms_open(&rowsnap::vault::SoftVault::default())).unwrap();
    assert_eq!(block_on(other.read_disk(&default_disk, 0, 8)).unwrap_err().code, "InvalidKMSKeyId.Locked");
}

#[test]
fn the_encryption_rules_hold_end_to_end() {
    let mut a = Api::new();
    let (inst, d) = with_data_disk(&mut a, true, None);
    let (_, plain) = with_data_disk(&mut a, false, None);
    // No local snapshots of encrypted disks.
    a.err("CreateSnapshot", json!({"DiskId": d, "Category": "flash"}), "DiskCategory.OperationNotSupported", 400);
    let s = a.snapshot(&d, json!({}));
    let ps = a.snapshot(&plain, json!({}));
    assert_eq!(snap(&mut a, &s)["Encrypted"], true);
    // No conversion: an unencrypted snapshot makes unencrypted disks only; an encrypted one encrypted disks.
    a.err(
        "CreateDisk",
        json!({"ZoneId": "cn-hangzhou-h", "DiskCategory": "cloud_essd", "SnapshotId": ps, "Encrypted": true}),
        "InvalidParameter.Encrypted",
        400,
    );
    let from = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "DiskCategory": "cloud_essd", "SnapshotId": s, "Encrypted": false}))["DiskId"]
        .as_str()
        .unwrap()
        .to_string();
    a.wait();
    assert_eq!(disk(&mut a, &from)["Encrypted"], true);
    // Under another key: the same data key, rewrapped; the bytes read back.
    a.write(&d, 0, b"before the snapshot"); // after s: not in it
    let k2 = block_on(a.ecs.create_key(&a.vault.clone(), "cn-hangzhou", "second", "second passphrase")).unwrap()["KeyId"].as_str().unwrap().to_string();
    let other = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "DiskCategory": "cloud_essd", "SnapshotId": s, "KMSKeyId": k2}))["DiskId"]
        .as_str()
        .unwrap()
        .to_string();
    a.wait();
    assert_eq!(disk(&mut a, &other)["KMSKeyId"], k2.as_str());
    a.ok("AttachDisk", json!({"DiskId": other, "InstanceId": inst}));
    a.wait();
    assert_eq!(a.read(&other, 0, 19), vec![0u8; 19]);
    // Encrypted exports are refused.
    let bucket = "exports";
    block_on(a.ecs.oss_create_bucket(bucket)).unwrap();
    a.err("ExportSnapshot", json!({"SnapshotId": s, "OSSBucket": bucket}), "InvalidOperation.EncryptedNotSupported", 403);
    a.err("ExportDisk", json!({"DiskId": d, "OSSBucket": bucket}), "InvalidOperation.EncryptedNotSupported", 403);
    // An encrypted system disk: its custom image is encrypted and so is every instance from it.
    let enc_inst = a.instance(IMAGE, json!({"SystemDisk": {"Category": "cloud_essd", "Encrypted": true}}));
    let sys = a.system_disk(&enc_inst);
    assert_eq!(disk(&mut a, &sys)["Encrypted"], true);
    a.write(&sys, 4 << 20, b"system disk bytes");
    let ss = a.snapshot(&sys, json!({}));
    let img = a.ok("CreateImage", json!({"SnapshotId": ss, "ImageName": "enc-image"}))["ImageId"].as_str().unwrap().to_string();
    a.wait();
    let i = a.ok("DescribeImages", json!({"ImageId": img}))["Images"]["Image"][0].clone();
    assert_eq!(i["Encrypted"], true);
    a.err("ExportImage", json!({"ImageId": img, "OSSBucket": bucket}), "InvalidOperation.EncryptedNotSupported", 403);
    let second = a.instance(&img, json!({"SystemDisk": {"Category": "cloud_essd"}}));
    let sys2 = a.system_disk(&second);
    assert_eq!(disk(&mut a, &sys2)["Encrypted"], true);
    assert_eq!(a.read(&sys2, 4 << 20, 17), b"system disk bytes");
    // A copy in another region is encrypted under that region's key.
    let copy = a.ok("CopySnapshot", json!({"SnapshotId": s, "DestinationRegionId": "ap-southeast-1"}))["SnapshotId"].as_str().unwrap().to_string();
    let c = a.ok("DescribeSnapshots", json!({"RegionId": "ap-southeast-1", "SnapshotIds": format!("[\"{copy}\"]")}))["Snapshots"]["Snapshot"][0].clone();
    assert_eq!(c["Encrypted"], true);
    let keys = block_on(a.ecs.list_keys("ap-southeast-1")).unwrap();
    assert_eq!(c["KMSKeyId"], keys["Keys"][0]["KeyId"]);
    assert_ne!(c["KMSKeyId"], snap(&mut a, &s)["KMSKeyId"]);
    block_on(a.ecs.engine().check()).unwrap();
}
