#![cfg(not(target_arch = "wasm32"))]
//! Native tests of the ECS side of instances that run in the page: the
//! Linux image's install, VM states moved by the machine (orders, attach,
//! running, detach), the live-machine cap, guest writes queued and applied
//! in batches (reads see them at once; durable before any other action),
//! writeDisk refused under a machine, boot after a reload.

mod support;

use rowsnap::ecs::guest::LINUX_IMAGE;
use rowsnap::ecs::Ecs;
use rowsnap::engine::memory::MemoryStore;
use rowsnap::engine::testkit::{block_on, FailMode, FailingStore};
use rowsnap::error::ErrorKind;
use serde_json::{json, Value};
use support::*;

/// A stand-in system disk image: 4 MiB, a marker at 0 and at 2 MiB.
fn raw_image(marker: &[u8]) -> Vec<u8> {
    let mut raw = vec![0u8; 4 << 20];
    raw[..marker.len()].copy_from_slice(marker);
    raw[2 << 20..(2 << 20) + marker.len()].copy_from_slice(marker);
    raw
}

fn orders(ecs: &mut Ecs<impl rowsnap::engine::Store>) -> Vec<(String, String)> {
    block_on(ecs.guest_orders()).unwrap().iter().map(|o| (o["Order"].as_str().unwrap().to_string(), o["InstanceId"].as_str().unwrap().to_string())).collect()
}

fn installed() -> Api {
    let mut a = Api::new();
    assert!(block_on(a.ecs.install_guest_image("build-1", &raw_image(b"ROWSNAP-LINUX-1"))).unwrap());
    a
}

/// A VM instance, attached and running; its system disk.
fn running_vm(a: &mut Api) -> (String, String) {
    let id = a.ok("RunInstances", json!({"ImageId": LINUX_IMAGE, "InstanceType": "ecs.t6-c1m1.large"}))["InstanceIdSets"]["InstanceIdSet"][0]
        .as_str()
        .unwrap()
        .to_string();
    a.wait();
    assert_eq!(a.status(&id), "Starting", "a VM instance waits for its machine");
    assert_eq!(orders(&mut a.ecs), [("boot".to_string(), id.clone())]);
    let boot = block_on(a.ecs.guest_attach(&id)).unwrap();
    assert_eq!(boot["MemoryMiB"], 128);
    let sys = boot["Disks"][0]["DiskId"].as_str().unwrap().to_string();
    assert_eq!(boot["Disks"][0]["Bytes"], 20 * GIB);
    block_on(a.ecs.guest_running(&id)).unwrap();
    assert_eq!(a.status(&id), "Running");
    assert!(orders(&mut a.ecs).is_empty());
    (id, sys)
}

/// A VM instance attached on an ECS over a copy of `a`'s store behind a
/// `FailingStore` in `mode` (which also counts commits): (ecs, store, instance).
fn machine_on(a: &Api, mode: FailMode) -> (Ecs<FailingStore>, FailingStore, String) {
    let store = MemoryStore::new();
    store.restore(&a.ecs.engine_ref().store().dump());
    let failing = FailingStore::new(store, u64::MAX, mode);
    let clock = a.clock.clone();
    let mut ecs = block_on(Ecs::open(failing.clone(), Box::new(move || clock.get()))).unwrap();
    let run = block_on(ecs.request("RunInstances", &json!({"ImageId": LINUX_IMAGE}))).unwrap();
    let id = run["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    a.clock.set(a.clock.get() + 2_000);
    block_on(ecs.guest_attach(&id)).unwrap();
    (ecs, failing, id)
}

#[test]
fn the_linux_image_is_installed_once_per_build_in_every_region() {
    let mut a = installed();
    for region in ["cn-hangzhou", "ap-southeast-1"] {
        let i = a.ok("DescribeImages", json!({"RegionId": region, "ImageId": LINUX_IMAGE}))["Images"]["Image"][0].clone();
        assert_eq!((i["BootsInBrowser"].as_bool(), i["Architecture"].as_str(), i["ImageOwnerAlias"].as_str()), (Some(true), Some("i386"), Some("system")));
    }
    let other = a.ok("DescribeImages", json!({"ImageId": IMAGE}))["Images"]["Image"][0]["BootsInBrowser"].clone();
    assert_eq!(other, false, "the other public images do not boot in the browser");
    assert!(!block_on(a.ecs.install_guest_image("build-1", &raw_image(b"ignored"))).unwrap());
    let (id, sys) = running_vm(&mut a);
    assert_eq!(block_on(a.ecs.guest_read(&id, 0, 2 << 20, 15)).unwrap(), b"ROWSNAP-LINUX-1");
    // A new build replaces the image's content; the disk made from the old one keeps its bytes.
    assert!(block_on(a.ecs.install_guest_image("build-2", &raw_image(b"ROWSNAP-LINUX-2"))).unwrap());
    assert_eq!(block_on(a.ecs.guest_read(&id, 0, 0, 15)).unwrap(), b"ROWSNAP-LINUX-1");
    block_on(a.ecs.guest_detach(&id)).unwrap();
    let (id2, _) = running_vm(&mut a);
    assert_eq!(block_on(a.ecs.guest_read(&id2, 0, 0, 15)).unwrap(), b"ROWSNAP-LINUX-2");
    let _ = sys;
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn guest_writes_are_seen_at_once_and_durable_before_any_action() {
    let mut a = installed();
    let (id, sys) = running_vm(&mut a);
    block_on(a.ecs.guest_write(&id, 0, 4096, b"first".to_vec())).unwrap();
    block_on(a.ecs.guest_write(&id, 0, 4098, b"XY".to_vec())).unwrap();
    assert!(a.ecs.guest_writes_pending());
    assert_eq!(block_on(a.ecs.guest_read(&id, 0, 4096, 5)).unwrap(), b"fiXYt", "a read sees queued writes, in order");
    // writeDisk under a machine is refused; readDisk reads what the guest wrote.
    let err = block_on(a.ecs.write_disk(&sys, 0, b"x")).unwrap_err();
    assert_eq!((err.code.as_str(), err.http_status), ("IncorrectDiskStatus", 403));
    assert_eq!(a.read(&sys, 4096, 5), b"fiXYt");
    // Written by the guest, then snapshotted: the snapshot holds it.
    block_on(a.ecs.guest_write(&id, 0, 8192, b"before the snapshot".to_vec())).unwrap();
    let s = a.snapshot(&sys, json!({}));
    assert!(!a.ecs.guest_writes_pending());
    assert_eq!(block_on(a.ecs.read_snapshot(&s, 8192, 19)).unwrap(), b"before the snapshot");
    assert_eq!(block_on(a.ecs.guest_read(&id, 1, 0, 1)).unwrap_err().code, "InvalidParameter");
}

#[test]
fn guest_writes_go_in_batches() {
    let a = installed();
    let (mut ecs, counting, id) = machine_on(&a, FailMode::Before);
    let before = counting.commits();
    // 1,000 sector writes (the small metadata writes a file system makes), then the host's flush.
    for n in 0..1000u64 {
        block_on(ecs.guest_write(&id, 0, (n * 7919 % 40_000) * 512, vec![(n % 251) as u8; 512])).unwrap();
    }
    assert_eq!(counting.commits(), before, "queued, not yet applied");
    block_on(ecs.flush_guest_writes()).unwrap();
    assert_eq!(counting.commits(), before + 1, "one transaction for the batch");
    for n in [0u64, 1, 500, 999] {
        assert_eq!(block_on(ecs.guest_read(&id, 0, (n * 7919 % 40_000) * 512, 1)).unwrap(), [(n % 251) as u8]);
    }
    // A batch reaching its size is applied by itself.
    for n in 0..(rowsnap::ecs::guest::BATCH_BYTES / (64 << 10)) as u64 {
        block_on(ecs.guest_write(&id, 0, n * (64 << 10), vec![1; 64 << 10])).unwrap();
    }
    assert!(!ecs.guest_writes_pending());
    assert_eq!(counting.commits(), before + 2);
}

#[test]
fn stop_reboot_force_and_delete_are_orders_for_the_machine() {
    let mut a = installed();
    let (id, _) = running_vm(&mut a);
    a.ok("RebootInstance", json!({"InstanceId": id}));
    assert_eq!(a.status(&id), "Starting");
    assert_eq!(orders(&mut a.ecs), [("reboot".to_string(), id.clone())]);
    block_on(a.ecs.guest_attach(&id)).unwrap();
    block_on(a.ecs.guest_running(&id)).unwrap();
    a.ok("StopInstance", json!({"InstanceId": id}));
    a.wait();
    assert_eq!(a.status(&id), "Stopping", "until the machine has halted");
    let o = block_on(a.ecs.guest_orders()).unwrap();
    assert_eq!((o[0]["Order"].as_str(), o[0]["Force"].as_bool()), (Some("stop"), Some(false)));
    block_on(a.ecs.guest_detach(&id)).unwrap();
    assert_eq!(a.status(&id), "Stopped");
    assert!(orders(&mut a.ecs).is_empty());
    a.ok("StartInstance", json!({"InstanceId": id}));
    assert_eq!(orders(&mut a.ecs), [("boot".to_string(), id.clone())]);
    block_on(a.ecs.guest_attach(&id)).unwrap();
    block_on(a.ecs.guest_running(&id)).unwrap();
    a.ok("StopInstance", json!({"InstanceId": id, "ForceStop": true}));
    assert_eq!(block_on(a.ecs.guest_orders()).unwrap()[0]["Force"], true);
    block_on(a.ecs.guest_detach(&id)).unwrap();
    // Deleted while its machine runs: the machine is dropped, its queued writes too.
    a.ok("StartInstance", json!({"InstanceId": id}));
    block_on(a.ecs.guest_attach(&id)).unwrap();
    block_on(a.ecs.guest_running(&id)).unwrap();
    block_on(a.ecs.guest_write(&id, 0, 0, b"lost".to_vec())).unwrap();
    a.ok("DeleteInstance", json!({"InstanceId": id, "Force": true}));
    assert_eq!(orders(&mut a.ecs), [("destroy".to_string(), id.clone())]);
    block_on(a.ecs.guest_detach(&id)).unwrap();
    assert!(orders(&mut a.ecs).is_empty());
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn at_most_two_machines_unless_the_setting_says_more() {
    let mut a = installed();
    let run = |a: &mut Api| a.call("RunInstances", json!({"ImageId": LINUX_IMAGE}));
    run(&mut a).unwrap();
    let two = run(&mut a).unwrap()["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    assert_eq!(run(&mut a).unwrap_err(), ("QuotaExceed.RunningInstances".to_string(), 403));
    a.err("RunInstances", json!({"ImageId": LINUX_IMAGE, "Amount": 2}), "QuotaExceed.RunningInstances", 403);
    // Other instances are not machines: no cap.
    a.ok("RunInstances", json!({"ImageId": IMAGE}));
    a.wait();
    block_on(a.ecs.guest_attach(&two)).unwrap();
    block_on(a.ecs.guest_running(&two)).unwrap();
    a.ok("StopInstance", json!({"InstanceId": two}));
    block_on(a.ecs.guest_detach(&two)).unwrap();
    run(&mut a).unwrap();
    a.err("StartInstance", json!({"InstanceId": two}), "QuotaExceed.RunningInstances", 403);
    // The setting raises the cap (and lowers a machine's memory); bad values are refused.
    assert_eq!(a.ecs.machine_limits(), (2, 128));
    assert_eq!(block_on(a.ecs.set_machine_limits(Some(0), None)).unwrap_err().code, "InvalidParameter");
    assert_eq!(block_on(a.ecs.set_machine_limits(None, Some(32))).unwrap_err().code, "InvalidParameter");
    block_on(a.ecs.set_machine_limits(Some(3), Some(96))).unwrap();
    a.ok("StartInstance", json!({"InstanceId": two}));
    a.wait();
    assert_eq!(a.ecs.machine_limits(), (3, 96));
    let mib = a.ok("DescribeInstances", json!({"InstanceIds": [two.clone()]}))["Instances"]["Instance"][0]["VmMemoryMiB"].clone();
    assert_eq!(mib, 96, "the next boot gets the new memory");
}

#[test]
fn after_a_reload_running_instances_boot_again_and_images_of_them_boot_too() {
    let mut a = installed();
    let (id, sys) = running_vm(&mut a);
    block_on(a.ecs.guest_write(&id, 0, 1 << 20, b"kept".to_vec())).unwrap();
    block_on(a.ecs.flush_guest_writes()).unwrap();
    let dump = a.ecs.engine_ref().store().dump();
    let store = MemoryStore::new();
    store.restore(&dump);
    let clock = a.clock.clone();
    let mut b =
        Api { ecs: block_on(Ecs::open(store, Box::new(move || clock.get()))).unwrap(), clock: a.clock.clone(), auto_upload: true, vault: a.vault.clone() };
    assert_eq!(orders(&mut b.ecs), [("boot".to_string(), id.clone())]);
    let vms = b.ok("DescribeInstances", json!({}))["Instances"]["Instance"][0]["VmStatus"].clone();
    assert_eq!(vms, "off");
    block_on(b.ecs.guest_attach(&id)).unwrap();
    assert_eq!(b.status(&id), "Starting");
    block_on(b.ecs.guest_running(&id)).unwrap();
    assert_eq!(b.ok("DescribeInstances", json!({}))["Instances"]["Instance"][0]["VmStatus"], "live");
    // A custom image of its system disk boots in the browser too.
    let s = b.snapshot(&sys, json!({}));
    let img = b.ok("CreateImage", json!({"SnapshotId": s}))["ImageId"].as_str().unwrap().to_string();
    b.wait();
    let i: Value = b.ok("DescribeImages", json!({"ImageId": img}))["Images"]["Image"][0].clone();
    assert_eq!(i["BootsInBrowser"], true);
    let id2 = b.ok("RunInstances", json!({"ImageId": img}))["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    b.wait();
    assert_eq!(b.status(&id2), "Starting");
    block_on(b.ecs.guest_attach(&id2)).unwrap();
    assert_eq!(block_on(b.ecs.guest_read(&id2, 0, 1 << 20, 4)).unwrap(), b"kept");
}

#[test]
fn an_encrypted_machine_waits_while_its_key_is_locked_and_keeps_no_saved_state() {
    let mut a = installed();
    let key = block_on(a.ecs.create_key(&a.vault.clone(), "cn-hangzhou", "vm-key", "machine passphrase")).unwrap()["KeyId"].as_str().unwrap().to_string();
    block_on(a.ecs.lock_key(&key)).unwrap();
    let p = json!({"ImageId": LINUX_IMAGE, "InstanceType": "ecs.t6-c1m1.large", "SystemDisk": {"Category": "cloud_essd", "Encrypted": true, "KMSKeyId": key}});
    a.err("RunInstances", p.clone(), "InvalidKMSKeyId.Locked", 403);
    block_on(a.ecs.unlock_key(&a.vault.clone(), &key, "machine passphrase")).unwrap();
    let id = a.ok("RunInstances", p)["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    a.wait();
    // The public image's content was copied, sealed: the system disk reads it.
    let sys = a.system_disk(&id);
    let d = a.ok("DescribeDisks", json!({"DiskIds": format!("[\"{sys}\"]")}))["Disks"]["Disk"][0].clone();
    assert_eq!((d["Encrypted"].as_bool(), d["KMSKeyId"].as_str()), (Some(true), Some(key.as_str())));
    block_on(a.ecs.lock_key(&key)).unwrap();
    assert!(orders(&mut a.ecs).is_empty(), "no boot while the key is locked");
    let i = a.ok("DescribeInstances", json!({"InstanceIds": format!("[\"{id}\"]")}))["Instances"]["Instance"][0].clone();
    assert_eq!(i["VmStatus"], "key_locked");
    assert_eq!(i["VmMemoryMiB"], 128, "the machine's memory (the setting, within the type's)");
    assert_eq!(block_on(a.ecs.guest_attach(&id)).unwrap_err().code, "InvalidKMSKeyId.Locked");
    block_on(a.ecs.unlock_key(&a.vault.clone(), &key, "machine passphrase")).unwrap();
    assert_eq!(orders(&mut a.ecs), [("boot".to_string(), id.clone())]);
    let boot = block_on(a.ecs.guest_attach(&id)).unwrap();
    assert_eq!(boot["Encrypted"], true, "the host keeps no saved state of an encrypted machine");
    let sys_bytes = block_on(a.ecs.guest_read(&id, 0, 0, 15)).unwrap();
    assert_eq!(sys_bytes, b"ROWSNAP-LINUX-1");
    // Locked while its machine runs: the writes queued so far are committed first; then its
    // reads and batches fail as KeyLocked (the host pauses the machine), and nothing is lost.
    block_on(a.ecs.guest_write(&id, 0, 4096, b"queued by the guest".to_vec())).unwrap();
    block_on(a.ecs.lock_key(&key)).unwrap();
    assert!(!a.ecs.guest_writes_pending(), "committed before the key was locked");
    let e = block_on(a.ecs.guest_read(&id, 0, 4096, 19)).unwrap_err();
    assert_eq!((e.code.as_str(), e.kind.name()), ("InvalidKMSKeyId.Locked", "KeyLocked"));
    assert!(matches!(&e.kind, ErrorKind::KeyLocked { data_key, key_id: Some(k) } if *data_key != 0 && k == &key), "named with its KMS key: {:?}", e.kind);
    block_on(a.ecs.guest_write(&id, 0, 8192, b"written while locked".to_vec())).unwrap();
    assert_eq!(block_on(a.ecs.flush_guest_writes()).unwrap_err().kind.name(), "KeyLocked");
    // Requests still run (the console works while the machine is paused).
    a.ok("DescribeInstances", json!({}));
    block_on(a.ecs.unlock_key(&a.vault.clone(), &key, "machine passphrase")).unwrap();
    block_on(a.ecs.sync_guest_writes()).unwrap();
    assert_eq!(block_on(a.ecs.guest_read(&id, 0, 4096, 19)).unwrap(), b"queued by the guest");
    assert_eq!(block_on(a.ecs.guest_read(&id, 0, 8192, 20)).unwrap(), b"written while locked");
}

#[test]
fn a_paused_machine_is_said_in_describe_instances_and_resumed_by_resume_instance() {
    let mut a = installed();
    let (id, _) = running_vm(&mut a);
    let i = |a: &mut Api| a.ok("DescribeInstances", json!({"InstanceIds": format!("[\"{id}\"]")}))["Instances"]["Instance"][0].clone();
    assert_eq!((i(&mut a)["VmStatus"].as_str(), i(&mut a)["VmPauseReason"].as_str()), (Some("live"), Some("")));
    a.err("ResumeInstance", json!({"InstanceId": id}), "IncorrectInstanceStatus", 403);
    a.err("ResumeInstance", json!({"InstanceId": "i-nosuch"}), "InvalidInstanceId.NotFound", 404);
    a.err("ResumeInstance", json!({}), "MissingParameter", 400);
    assert_eq!(a.ecs.guest_paused(&id, "Sleepy").unwrap_err().code, "InvalidParameter");
    a.ecs.guest_paused(&id, "StorageFull").unwrap();
    let now = i(&mut a);
    assert_eq!((now["Status"].as_str(), now["VmStatus"].as_str(), now["VmPauseReason"].as_str()), (Some("Running"), Some("paused"), Some("StorageFull")));
    assert!(orders(&mut a.ecs).is_empty(), "retried by the host by itself; no order yet");
    a.ok("ResumeInstance", json!({"InstanceId": id}));
    assert_eq!(orders(&mut a.ecs), [("resume".to_string(), id.clone())]);
    // The retry failed again (another reason): paused, the order answered.
    a.ecs.guest_paused(&id, "WriteError").unwrap();
    assert!(orders(&mut a.ecs).is_empty());
    assert_eq!(i(&mut a)["VmPauseReason"], "WriteError");
    a.ecs.guest_resumed(&id).unwrap();
    assert_eq!((i(&mut a)["VmStatus"].as_str(), i(&mut a)["VmPauseReason"].as_str()), (Some("live"), Some("")));
}

#[test]
fn a_paused_machine_that_stops_drops_only_its_uncommitted_writes() {
    let a = installed();
    let (mut ecs, _, id) = machine_on(&a, FailMode::QuotaAbove(1 << 20));
    block_on(ecs.guest_write(&id, 0, 1 << 20, b"flushed".to_vec())).unwrap();
    block_on(ecs.sync_guest_writes()).unwrap();
    for n in 0..32u64 {
        block_on(ecs.guest_write(&id, 0, (8 << 20) + n * (64 << 10), vec![7; 64 << 10])).unwrap();
    }
    assert_eq!(block_on(ecs.sync_guest_writes()).unwrap_err().kind.name(), "QuotaExceeded");
    ecs.guest_paused(&id, "StorageFull").unwrap();
    // Stopped while paused: the detach drops what no flush covered, and the instance stops.
    block_on(ecs.guest_detach(&id)).unwrap();
    assert!(!ecs.guest_writes_pending());
    let st = block_on(ecs.request("DescribeInstances", &json!({}))).unwrap();
    assert_eq!(st["Instances"]["Instance"][0]["Status"], "Stopped");
    // Started again: what a completed flush covered is there, the dropped batch is not.
    block_on(ecs.request("StartInstance", &json!({"InstanceId": id}))).unwrap();
    block_on(ecs.guest_attach(&id)).unwrap();
    assert_eq!(block_on(ecs.guest_read(&id, 0, 1 << 20, 7)).unwrap(), b"flushed", "what a completed flush covered stays");
    assert_eq!(block_on(ecs.guest_read(&id, 0, 8 << 20, 4)).unwrap(), [0u8; 4], "what no flush covered is gone");
}

#[test]
fn the_guests_flush_commits_strictly_and_covers_batches_committed_before_it() {
    let a = installed();
    let (mut ecs, counting, id) = machine_on(&a, FailMode::Before);
    // Nothing written since the machine came: a flush costs nothing.
    block_on(ecs.sync_guest_writes()).unwrap();
    assert_eq!(counting.strict_commits(), 0);
    // Queued writes: the flush applies them in one strict transaction.
    block_on(ecs.guest_write(&id, 0, 1 << 20, b"synced".to_vec())).unwrap();
    let before = counting.commits();
    block_on(ecs.sync_guest_writes()).unwrap();
    assert_eq!((counting.commits() - before, counting.strict_commits()), (1, 1));
    assert!(!ecs.guest_writes_pending());
    block_on(ecs.sync_guest_writes()).unwrap();
    assert_eq!(counting.strict_commits(), 1, "nothing new: no commit");
    // A batch the host's timer committed (relaxed) before the flush: the flush still commits
    // strictly (a marker), which carries the earlier commit to the device.
    block_on(ecs.guest_write(&id, 0, 2 << 20, b"batched".to_vec())).unwrap();
    block_on(ecs.flush_guest_writes()).unwrap();
    assert_eq!(counting.strict_commits(), 1, "the timer's batch is relaxed");
    block_on(ecs.sync_guest_writes()).unwrap();
    assert_eq!(counting.strict_commits(), 2);
    assert_eq!(block_on(ecs.guest_read(&id, 0, 2 << 20, 7)).unwrap(), b"batched");
}

#[test]
fn a_batch_that_fails_to_apply_stays_queued_and_readable() {
    let a = installed();
    // Every commit that puts more than 1 MiB fails, as a full browser storage does.
    let (mut ecs, _, id) = machine_on(&a, FailMode::QuotaAbove(1 << 20));
    for n in 0..32u64 {
        block_on(ecs.guest_write(&id, 0, (8 << 20) + n * (64 << 10), vec![(n + 1) as u8; 64 << 10])).unwrap();
    }
    assert_eq!(block_on(ecs.flush_guest_writes()).unwrap_err().code, "StorageQuotaExceeded");
    // The guest was told these writes are done: they are not dropped.
    assert!(ecs.guest_writes_pending());
    assert_eq!(block_on(ecs.guest_read(&id, 0, (8 << 20) + 31 * (64 << 10), 4)).unwrap(), [32u8; 4]);
    block_on(ecs.guest_write(&id, 0, 4 << 20, b"newer".to_vec())).unwrap_or(());
    assert_eq!(block_on(ecs.guest_read(&id, 0, 4 << 20, 5)).unwrap(), b"newer");
    assert_eq!(block_on(ecs.guest_read(&id, 0, 8 << 20, 1)).unwrap(), [1u8], "older writes kept, in order");
    // Requests still run (one of them may free space); the writes stay queued.
    block_on(ecs.request("DescribeInstances", &json!({}))).unwrap();
    assert!(ecs.guest_writes_pending());
}

#[test]
fn saved_machine_states_are_kept_per_key_three_at_most_the_oldest_going_first() {
    let mut a = installed();
    for (k, b) in [("k1", vec![1u8; 10]), ("k2", vec![2u8; 5 << 20]), ("k1", vec![3u8; 7])] {
        block_on(a.ecs.guest_state_put(k, &b)).unwrap();
    }
    // k1 replaced, not doubled; the newest last.
    assert_eq!(block_on(a.ecs.guest_state_keys()).unwrap(), ["k2", "k1"]);
    assert_eq!(block_on(a.ecs.guest_state_get("k1")).unwrap(), Some(vec![3u8; 7]));
    assert_eq!(block_on(a.ecs.guest_state_get("k2")).unwrap(), Some(vec![2u8; 5 << 20]), "two 4 MiB records");
    block_on(a.ecs.guest_state_put("k3", &[4])).unwrap();
    block_on(a.ecs.guest_state_put("k4", &[5])).unwrap();
    assert_eq!(block_on(a.ecs.guest_state_keys()).unwrap(), ["k1", "k3", "k4"]);
    assert_eq!(block_on(a.ecs.guest_state_get("k2")).unwrap(), None, "the oldest went, its records too");
    let left = a.ecs.engine_ref().store().dump().into_iter().filter(|((_, k), _)| format!("{k:?}").contains("guest/state/k2")).count();
    assert_eq!(left, 0);
}
