#![cfg(not(target_arch = "wasm32"))]
//! ImportImage / ExportImage at the ECS boundary, with the real qemu-img on
//! both sides: what qemu-img writes imports to exactly its bytes and boots;
//! what rowsnap exports passes `qemu-img check` and `qemu-img compare`.

mod support;

use std::path::Path;

use rowsnap::engine::testkit::block_on;
use serde_json::{json, Value};
use support::*;

/// A guest image: a pattern with holes, `len` bytes (not a cluster multiple).
fn guest(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let mut x = seed | 1;
    let mut at = 0;
    while at < len {
        // 96 KiB of data, then a 160 KiB hole, with a few bytes at odd places.
        let end = (at + (96 << 10)).min(len);
        for b in &mut v[at..end] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        at = end + (160 << 10);
    }
    if len > 7 {
        v[len - 7..].copy_from_slice(b"the end");
    }
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Imports `file` (already in OSS as bucket/key) and runs its task; returns (ImageId, TaskId).
fn import(a: &mut Api, key: &str, format: Option<&str>, extra: Value) -> (String, String) {
    let mut p = json!({
        "ImageName": format!("imported-{}", key.replace(['.', '/'], "-")),
        "OSType": "linux",
        "Platform": "Ubuntu",
        "DiskDeviceMapping.1.OSSBucket": "images",
        "DiskDeviceMapping.1.OSSObject": key,
    });
    if let Some(f) = format {
        p["DiskDeviceMapping.1.Format"] = json!(f);
    }
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    let v = a.ok("ImportImage", p);
    let (image, task) = (v["ImageId"].as_str().unwrap().to_string(), v["TaskId"].as_str().unwrap().to_string());
    assert_eq!(a.image(&image)["Status"], "Creating");
    assert_eq!(a.task(&task)["TaskStatus"], "Processing");
    a.tasks_all();
    (image, task)
}

/// Boots an instance from `image` and reads its system disk's first `len` bytes.
fn boot_and_read(a: &mut Api, image: &str, len: usize) -> (String, Vec<u8>) {
    let i = a.instance(image, json!({}));
    assert_eq!(a.status(&i), "Running");
    let d = a.system_disk(&i);
    let mut out = Vec::new();
    while out.len() < len {
        let n = (len - out.len()).min(32 << 20);
        out.extend(a.read(&d, out.len() as u64, n as u64));
    }
    (d, out)
}

#[test]
fn qcow2_and_raw_images_made_by_qemu_img_import_to_their_exact_bytes_and_boot() {
    let dir = scratch("import");
    let len = (5 << 20) + 12_345; // not a multiple of any cluster size
    let data = guest(len, 7);
    let raw = dir.join("disk.raw");
    std::fs::write(&raw, &data).unwrap();
    let mut a = Api::new();
    let variants: &[(&str, &[&str])] = &[
        ("v3.qcow2", &["-o", "compat=1.1"]),
        ("v2.qcow2", &["-o", "compat=0.10"]),
        ("c4k.qcow2", &["-o", "cluster_size=4096"]),
        ("c2m.qcow2", &["-o", "cluster_size=2M"]),
        ("c512.qcow2", &["-o", "cluster_size=512"]),
        ("compressed.qcow2", &["-c"]),
    ];
    for (name, opts) in variants {
        let path = dir.join(name);
        let mut args = vec!["convert", "-f", "raw", "-O", "qcow2"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&[s(&raw), s(&path)]);
        run("qemu-img", &args);
        a.put("images", name, &std::fs::read(&path).unwrap());
        let (image, task) = import(&mut a, name, Some("QCOW2"), json!({}));
        let t = a.task(&task);
        assert_eq!((t["TaskStatus"].as_str(), t["TaskProcess"].as_str()), (Some("Finished"), Some("100%")), "{name}: {t}");
        let img = a.image(&image);
        assert_eq!(img["Status"], "Available", "{name}: {img}");
        assert_eq!(img["Size"], 1, "{name}: rounded up to whole GiB");
        let (_, got) = boot_and_read(&mut a, &image, len + 4096);
        assert!(got[..len] == data[..], "{name}: the imported bytes differ");
        assert!(got[len..].iter().all(|&b| b == 0), "{name}: bytes past the image are zeros");
    }
    // An internal snapshot: the active layer is imported.
    let snap = dir.join("snap.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&snap)]);
    run("qemu-img", &["snapshot", "-c", "before", s(&snap)]);
    run("qemu-io", &["-f", "qcow2", "-c", "write -P 0xab 0 64k", s(&snap)]);
    a.put("images", "snap.qcow2", &std::fs::read(&snap).unwrap());
    let (image, _) = import(&mut a, "snap.qcow2", None, json!({"DiskDeviceMapping.1.DiskImageSize": 3}));
    assert_eq!(a.image(&image)["Size"], 3, "DiskImageSize is the disk's size");
    let (_, got) = boot_and_read(&mut a, &image, len);
    assert!(got[..65536].iter().all(|&b| b == 0xab), "the active layer, not the snapshot");
    assert!(got[65536..] == data[65536..]);
    // RAW of any length, the format detected when not given.
    a.put("images", "disk.raw", &data);
    let (image, _) = import(&mut a, "disk.raw", None, json!({}));
    let (_, got) = boot_and_read(&mut a, &image, len + 100);
    assert!(got[..len] == data[..] && got[len..].iter().all(|&b| b == 0));
}

#[test]
fn bad_images_fail_with_a_reason_and_leave_nothing_behind() {
    let dir = scratch("bad");
    let data = guest(3 << 20, 3);
    let raw = dir.join("d.raw");
    std::fs::write(&raw, &data).unwrap();
    let q = dir.join("d.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&q)]);
    let good = std::fs::read(&q).unwrap();
    let overlay = dir.join("overlay.qcow2");
    run("qemu-img", &["create", "-f", "qcow2", "-F", "qcow2", "-b", s(&q), s(&overlay)]);
    let mut a = Api::new();
    let volumes = block_on(a.ecs.engine().list_volumes()).unwrap().len();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("truncated.qcow2", good[..good.len() - 100_000].to_vec(), "InvalidImage.Malformed", "truncated"),
        (
            "magic.qcow2",
            {
                let mut b = good.clone();
                b[0] = b'X';
                b
            },
            "InvalidImage.Malformed",
            "magic",
        ),
        ("overlay.qcow2", std::fs::read(&overlay).unwrap(), "InvalidImage.Unsupported", "backing file"),
    ];
    for (key, bytes, code, words) in cases {
        a.put("images", key, &bytes);
        let (image, task) = import(&mut a, key, Some("QCOW2"), json!({}));
        let t = a.task(&task);
        assert_eq!(t["TaskStatus"], "Failed", "{key}: {t}");
        assert_eq!(t["ErrorCode"], code, "{key}: {t}");
        assert!(t["ErrorMsg"].as_str().unwrap().contains(words), "{key}: {t}");
        let img = a.image(&image);
        assert_eq!(img["Status"], "CreateFailed");
        assert!(img["FailureReason"].as_str().unwrap().contains(code));
        a.err("RunInstances", json!({"ImageId": image}), "InvalidImageId.NotReady", 403);
        assert_eq!(block_on(a.ecs.engine().list_volumes()).unwrap().len(), volumes, "{key}: no volume is left behind");
        a.ok("DeleteImage", json!({"ImageId": image}));
    }
    // A virtual size past the largest system disk (a qcow2 header says 4 TiB).
    let huge = dir.join("huge.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", s(&huge), "4T"]);
    a.put("images", "huge.qcow2", &std::fs::read(&huge).unwrap());
    let (_, task) = import(&mut a, "huge.qcow2", Some("QCOW2"), json!({}));
    assert_eq!(a.task(&task)["ErrorCode"], "InvalidImage.TooLarge");
    assert_eq!(block_on(a.ecs.engine().list_volumes()).unwrap().len(), volumes);
    // DiskImageSize below the image's size.
    a.put("images", "big.raw", &vec![1u8; (1 << 30) + 512]);
    let (_, task) = import(&mut a, "big.raw", Some("RAW"), json!({"DiskDeviceMapping.1.DiskImageSize": 1}));
    assert_eq!(a.task(&task)["ErrorCode"], "InvalidDiskImageSize.TooSmall");
    // Request errors, in ECS's order.
    a.err("ImportImage", json!({"DiskDeviceMapping.1.OSSBucket": "images"}), "MissingParameter", 400);
    a.err(
        "ImportImage",
        json!({"DiskDeviceMapping.1.OSSBucket": "images", "DiskDeviceMapping.1.OSSObject": "d", "DiskDeviceMapping.1.Format": "VMDK"}),
        "InvalidParameter",
        400,
    );
    a.err("ImportImage", json!({"DiskDeviceMapping.1.OSSBucket": "nope", "DiskDeviceMapping.1.OSSObject": "d"}), "NoSuchBucket", 404);
    a.err("ImportImage", json!({"DiskDeviceMapping.1.OSSBucket": "images", "DiskDeviceMapping.1.OSSObject": "nope"}), "NoSuchKey", 404);
    // Cancelling an import drops its image and volume.
    let big = dir.join("big.raw");
    std::fs::write(&big, guest(24 << 20, 9)).unwrap();
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&big), s(&q)]);
    a.put("images", "d.qcow2", &std::fs::read(&q).unwrap());
    let v = a.ok("ImportImage", json!({"DiskDeviceMapping.1.OSSBucket": "images", "DiskDeviceMapping.1.OSSObject": "d.qcow2"}));
    block_on(a.ecs.task_step()).unwrap();
    a.ok("CancelTask", json!({"TaskId": v["TaskId"]}));
    assert_eq!(a.task(v["TaskId"].as_str().unwrap())["TaskStatus"], "Cancelled");
    a.err("CancelTask", json!({"TaskId": v["TaskId"]}), "IncorrectTaskStatus", 403);
    assert_eq!(a.ok("DescribeImages", json!({"ImageId": v["ImageId"]}))["TotalCount"], 0);
    assert_eq!(block_on(a.ecs.engine().list_volumes()).unwrap().len(), volumes);
    block_on(a.ecs.engine().check()).unwrap();
}

/// Writes an OSS object to a file.
fn fetch(a: &mut Api, bucket: &str, key: &str, path: &Path) {
    std::fs::write(path, a.get(bucket, key)).unwrap();
}

fn export(a: &mut Api, action: &str, id_param: &str, id: &str, format: &str) -> String {
    let v = a.ok(action, json!({id_param: id, "OSSBucket": "exports", "OSSPrefix": "out/", "ImageFormat": format}));
    let key = v["OSSObject"].as_str().unwrap().to_string();
    assert!(key.starts_with("out/") && key.ends_with(&format!(".{format}")), "{key}");
    let task = v["TaskId"].as_str().unwrap().to_string();
    a.tasks_all();
    let t = a.task(&task);
    assert_eq!(t["TaskStatus"], "Finished", "{t}");
    key
}

#[test]
fn exports_are_accepted_and_found_identical_by_qemu_img() {
    let dir = scratch("export");
    let mut a = Api::new();
    block_on(a.ecs.oss_create_bucket("exports")).unwrap();
    let i = a.instance(IMAGE, json!({}));
    let d = a.system_disk(&i);
    let data = guest(6 << 20, 11);
    a.write(&d, 0, &data);
    a.write(&d, 20 * GIB - 5, b"tail!");
    let snap = a.snapshot(&d, json!({}));
    let img = a.ok("CreateImage", json!({"SnapshotId": snap, "ImageName": "exported"}))["ImageId"].as_str().unwrap().to_string();
    a.wait();
    // The content as raw, for qemu-img compare: what the disk reads.
    let content = a.read(&d, 0, 8 << 20);
    a.write(&d, 0, b"changed after the snapshot");
    for format in ["qcow2", "raw"] {
        let key = export(&mut a, "ExportImage", "ImageId", &img, format);
        let listed = block_on(a.ecs.oss_list("exports", &key)).unwrap();
        assert_eq!(listed.len(), 1);
        if format == "raw" {
            assert_eq!(listed[0].size, 20 * GIB, "raw: the full virtual size");
            let head = block_on(a.ecs.oss_get("exports", &key, Some((0, 8 << 20)))).unwrap();
            assert!(head == content, "raw: the snapshot's bytes");
            let tail = block_on(a.ecs.oss_get("exports", &key, Some((20 * GIB - 5, 100)))).unwrap();
            assert_eq!(tail, b"tail!", "a range past the end is cut short");
        } else {
            let path = dir.join("image.qcow2");
            fetch(&mut a, "exports", &key, &path);
            let check = run("qemu-img", &["check", "--output=json", s(&path)]);
            let report: Value = serde_json::from_slice(&check.stdout).unwrap();
            assert_eq!(report["check-errors"], 0, "{report}");
            assert!(report.get("leaks").is_none_or(|l| l == 0), "{report}");
            let info: Value = serde_json::from_slice(&run("qemu-img", &["info", "--output=json", s(&path)]).stdout).unwrap();
            assert_eq!(info["virtual-size"], 20 * GIB);
            assert_eq!(info["format-specific"]["data"]["compat"], "1.1");
            assert!(std::fs::metadata(&path).unwrap().len() < 10 << 20, "sparse: never-written clusters are not stored");
            // Compare against the raw content (written out sparsely).
            let raw = dir.join("content.raw");
            let f = std::fs::File::create(&raw).unwrap();
            f.set_len(20 * GIB).unwrap();
            use std::os::unix::fs::FileExt;
            f.write_all_at(&content, 0).unwrap();
            f.write_all_at(b"tail!", 20 * GIB - 5).unwrap();
            run("qemu-img", &["compare", "-f", "raw", "-F", "qcow2", s(&raw), s(&path)]);
        }
    }
    // Extensions: a snapshot and a disk (the disk as it is now).
    let key = export(&mut a, "ExportSnapshot", "SnapshotId", &snap, "qcow2");
    let path = dir.join("snap.qcow2");
    fetch(&mut a, "exports", &key, &path);
    run("qemu-img", &["check", s(&path)]);
    let out =
        run("qemu-img", &["dd", "-f", "qcow2", "-O", "raw", &format!("if={}", s(&path)), &format!("of={}", s(&dir.join("snap.raw"))), "bs=1M", "count=8"]);
    drop(out);
    assert!(std::fs::read(dir.join("snap.raw")).unwrap() == content);
    let written = |a: &mut Api| a.ok("DescribeDisks", json!({"DiskIds": [d.clone()]}))["Disks"]["Disk"][0]["WrittenSinceSnapshotBytes"].clone();
    let before = written(&mut a);
    assert_eq!(before, 32768, "one block written since the snapshot");
    let key = export(&mut a, "ExportDisk", "DiskId", &d, "raw");
    let now = block_on(a.ecs.oss_get("exports", &key, Some((0, 26)))).unwrap();
    assert_eq!(now, b"changed after the snapshot");
    assert_eq!(written(&mut a), before, "an export is not one of the disk's snapshots");
    let next = a.snapshot(&d, json!({}));
    let inc = a.ok("DescribeSnapshots", json!({"SnapshotIds": [next]}))["Snapshots"]["Snapshot"][0]["IncrementalBytes"].clone();
    assert_eq!(inc, 32768, "the next snapshot builds on the user's previous one");
    // Errors.
    a.err("ExportImage", json!({"ImageId": img, "OSSBucket": "nope"}), "NoSuchBucket", 404);
    a.err("ExportImage", json!({"ImageId": img}), "MissingParameter", 400);
    a.err("ExportImage", json!({"ImageId": img, "OSSBucket": "exports", "ImageFormat": "vhdx"}), "InvalidParameter", 400);
    a.err("ExportImage", json!({"ImageId": "m-nope", "OSSBucket": "exports"}), "InvalidImageId.NotFound", 404);
    a.err("ExportImage", json!({"ImageId": IMAGE, "OSSBucket": "exports"}), "OperationDenied", 403);
    // Cancelling an export leaves OSS as it was, and the task's snapshot goes.
    let before = oss_state(&mut a);
    let snaps = block_on(a.ecs.engine().list_snapshots()).unwrap().len();
    let v = a.ok("ExportImage", json!({"ImageId": img, "OSSBucket": "exports", "ImageFormat": "raw"}));
    block_on(a.ecs.task_step()).unwrap();
    assert_eq!(a.task(v["TaskId"].as_str().unwrap())["TaskStatus"], "Processing");
    a.ok("CancelTask", json!({"TaskId": v["TaskId"]}));
    assert_eq!(oss_state(&mut a), before);
    assert_eq!(block_on(a.ecs.engine().list_snapshots()).unwrap().len(), snaps);
    // The exported qcow2 imports back to the same bytes.
    let key = export(&mut a, "ExportImage", "ImageId", &img, "qcow2");
    let bytes = a.get("exports", &key);
    a.put("images", "round.qcow2", &bytes);
    let (back, _) = import(&mut a, "round.qcow2", None, json!({}));
    let (_, got) = boot_and_read(&mut a, &back, 8 << 20);
    assert!(got == content, "export then import gives the same bytes");
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn a_released_snapshot_exports_from_oss() {
    let mut a = Api::new();
    block_on(a.ecs.oss_create_bucket("exports")).unwrap();
    let i = a.instance(IMAGE, json!({"SystemDisk.Category": "cloud_essd"}));
    let d = a.system_disk(&i);
    let data = guest(3 << 20, 5);
    a.write(&d, 0, &data);
    let snap = a.snapshot(&d, json!({"InstantAccess": true, "InstantAccessRetentionDays": 1}));
    block_on(a.ecs.advance_clock(2.0 * 86_400.0)).unwrap();
    let s = a.ok("DescribeSnapshots", json!({"SnapshotIds": [snap.clone()]}));
    assert_eq!(s["Snapshots"]["Snapshot"][0]["LocalCopyReleased"], true, "{s}");
    // Deleting the snapshot right after the export began does not break it.
    let v = a.ok("ExportSnapshot", json!({"SnapshotId": snap, "OSSBucket": "exports", "ImageFormat": "raw"}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": snap}));
    a.tasks_all();
    assert_eq!(a.task(v["TaskId"].as_str().unwrap())["TaskStatus"], "Finished");
    let got = block_on(a.ecs.oss_get("exports", v["OSSObject"].as_str().unwrap(), Some((0, 3 << 20)))).unwrap();
    assert!(got == data);
    let left: Vec<String> = oss_logical(&mut a).into_iter().filter(|l| l.contains("snap/") || l.starts_with("block")).collect();
    assert!(left.is_empty(), "the export's hold ended with it: {left:?}");
}

#[test]
fn imports_and_exports_resume_after_a_failed_commit_at_any_point() {
    use rowsnap::ecs::Ecs;
    use rowsnap::engine::memory::MemoryStore;
    use rowsnap::engine::testkit::{FailMode, FailingStore};
    let dir = scratch("resume");
    let len = (9 << 20) + 4_000;
    let data = guest(len, 13);
    let raw = dir.join("r.raw");
    std::fs::write(&raw, &data).unwrap();
    let q = dir.join("r.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", s(&raw), s(&q)]);
    // Set-up: an import and an export (qcow2 and raw), all Processing.
    let start = {
        let mut a = Api::new();
        a.put("images", "r.qcow2", &std::fs::read(&q).unwrap());
        block_on(a.ecs.oss_create_bucket("exports")).unwrap();
        let i = a.instance(IMAGE, json!({}));
        let d = a.system_disk(&i);
        a.write(&d, 0, &data);
        let snap = a.snapshot(&d, json!({}));
        let img = a.ok("CreateImage", json!({"SnapshotId": snap, "ImageName": "src"}))["ImageId"].as_str().unwrap().to_string();
        a.wait();
        a.ok("ImportImage", json!({"ImageName": "imported", "DiskDeviceMapping.1.OSSBucket": "images", "DiskDeviceMapping.1.OSSObject": "r.qcow2"}));
        a.ok("ExportImage", json!({"ImageId": img, "OSSBucket": "exports", "ImageFormat": "qcow2"}));
        a.ok("ExportImage", json!({"ImageId": img, "OSSBucket": "exports", "OSSPrefix": "raw/", "ImageFormat": "raw"}));
        a.ecs.engine().store().dump()
    };
    // What an imported image boots with.
    let booted = |ecs: &mut Ecs<MemoryStore>| -> Vec<u8> {
        let imgs = block_on(ecs.request("DescribeImages", &json!({"ImageName": "imported"}))).unwrap();
        let img = &imgs["Images"]["Image"][0];
        assert_eq!(img["Status"], "Available", "{img}");
        let v = block_on(ecs.request("RunInstances", &json!({"ImageId": img["ImageId"]}))).unwrap();
        let id = v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
        block_on(ecs.advance_clock(5.0)).unwrap();
        let disks = block_on(ecs.request("DescribeDisks", &json!({"InstanceId": id}))).unwrap();
        let disk = disks["Disks"]["Disk"][0]["DiskId"].as_str().unwrap().to_string();
        block_on(ecs.read_disk(&disk, 0, len as u64)).unwrap()
    };
    let clean = MemoryStore::new();
    clean.restore(&start);
    let counting = FailingStore::new(clean.clone(), u64::MAX, FailMode::Before);
    let mut ecs = block_on(Ecs::open(counting.clone(), fixed_wall())).unwrap();
    while block_on(ecs.task_step()).unwrap().is_some() {}
    let commits = counting.commits();
    assert!(commits >= 6, "several steps: {commits}");
    let want = oss_lines(&clean);
    drop(ecs);
    let mut ecs = block_on(Ecs::open(clean.clone(), fixed_wall())).unwrap();
    assert!(booted(&mut ecs) == data);
    drop(ecs);
    for n in 1..=commits {
        for mode in [FailMode::Before, FailMode::After] {
            let store = run_until_failure(&start, n, mode, |ecs| block_on(ecs.task_step()));
            // Reopen after the failure and let the tasks resume.
            let mut ecs = block_on(Ecs::open(store.clone(), fixed_wall())).unwrap();
            while block_on(ecs.task_step()).unwrap().is_some() {}
            assert_eq!(oss_lines(&store), want, "failed commit {n} {mode:?}: OSS differs from a clean run");
            let tasks = block_on(ecs.request("DescribeTasks", &json!({"PageSize": 10}))).unwrap();
            for t in tasks["TaskSet"]["Task"].as_array().unwrap() {
                assert_eq!(t["TaskStatus"], "Finished", "failed commit {n} {mode:?}: {t}");
            }
            block_on(ecs.engine().check()).unwrap();
            assert!(booted(&mut ecs) == data, "failed commit {n} {mode:?}: the imported image's bytes");
        }
    }
}

#[test]
fn a_fragmented_qcow2_imports_exactly() {
    // 4 KiB clusters written in a strided order (cluster k is the (k*97 mod
    // 2048)-th allocated), so that guest-adjacent clusters lie ~400 KiB apart
    // in the file: every import read is scattered.
    let dir = scratch("fragmented");
    let q = dir.join("frag.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", "-o", "cluster_size=4096", s(&q), "16M"]);
    let mut args: Vec<String> = vec!["-f".into(), "qcow2".into()];
    for k in 0..2048u64 {
        let i = k * 97 % 2048;
        // Every other cluster of the first 16 MiB, with its own pattern.
        args.push("-c".into());
        args.push(format!("write -q -P {} {} 4k", i % 251 + 1, i * 8192));
    }
    args.push(s(&q).into());
    let refs: Vec<&str> = args.iter().map(|a| a.as_str()).collect();
    run("qemu-io", &refs);
    let raw = dir.join("frag.raw");
    run("qemu-img", &["convert", "-f", "qcow2", "-O", "raw", s(&q), s(&raw)]);
    let want = std::fs::read(&raw).unwrap();
    let mut a = Api::new();
    a.put("images", "frag.qcow2", &std::fs::read(&q).unwrap());
    let (image, task) = import(&mut a, "frag.qcow2", None, json!({}));
    assert_eq!(a.task(&task)["TaskStatus"], "Finished", "{}", a.task(&task));
    let (_, got) = boot_and_read(&mut a, &image, want.len());
    assert!(got == want, "the fragmented image's bytes");
}

#[test]
fn a_full_storage_fails_the_task_and_frees_what_it_made() {
    use rowsnap::ecs::Ecs;
    use rowsnap::engine::memory::MemoryStore;
    use rowsnap::engine::testkit::{FailMode, FailingStore};
    let dir = scratch("quota");
    let raw = dir.join("q.raw");
    std::fs::write(&raw, guest(6 << 20, 17)).unwrap();
    let q = dir.join("q.qcow2");
    run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&q)]);
    let start = {
        let mut a = Api::new();
        a.put("images", "q.qcow2", &std::fs::read(&q).unwrap());
        a.ok("ImportImage", json!({"ImageName": "too-big", "DiskDeviceMapping.1.OSSBucket": "images", "DiskDeviceMapping.1.OSSObject": "q.qcow2"}));
        a.ecs.engine().store().dump()
    };
    let store = MemoryStore::new();
    store.restore(&start);
    // Commits that put more than 1 MiB fail as a full browser storage does.
    let mut ecs = block_on(Ecs::open(FailingStore::new(store.clone(), 0, FailMode::QuotaAbove(1 << 20)), Box::new(|| 1_795_000_000_000))).unwrap();
    let volumes = block_on(ecs.engine().list_volumes()).unwrap().len();
    let (_, ended) = block_on(ecs.task_step()).unwrap().expect("a task");
    assert!(ended, "a full storage ends the task at once");
    assert_eq!(block_on(ecs.task_step()).unwrap(), None, "nothing left processing, nothing blocked");
    let t = block_on(ecs.request("DescribeTasks", &json!({}))).unwrap();
    let t = &t["TaskSet"]["Task"][0];
    assert_eq!((t["TaskStatus"].as_str(), t["ErrorCode"].as_str()), (Some("Failed"), Some("StorageQuotaExceeded")), "{t}");
    let img = block_on(ecs.request("DescribeImages", &json!({"ImageName": "too-big"}))).unwrap();
    assert_eq!(img["Images"]["Image"][0]["Status"], "CreateFailed");
    assert_eq!(block_on(ecs.engine().list_volumes()).unwrap().len(), volumes, "no volume left behind");
    block_on(ecs.engine().check()).unwrap();
}

#[test]
fn an_importing_qcow2_image_shows_its_virtual_size_from_the_start() {
    let dir = scratch("vsize");
    let q = dir.join("sparse.qcow2");
    run("qemu-img", &["create", "-q", "-f", "qcow2", s(&q), "3G"]);
    let mut a = Api::new();
    a.put("images", "sparse.qcow2", &std::fs::read(&q).unwrap());
    let v = a.ok("ImportImage", json!({"DiskDeviceMapping.1.OSSBucket": "images", "DiskDeviceMapping.1.OSSObject": "sparse.qcow2"}));
    let image = v["ImageId"].as_str().unwrap().to_string();
    let img = a.image(&image);
    assert_eq!((img["Status"].as_str(), img["Size"].as_u64()), (Some("Creating"), Some(3)), "{img}");
    a.tasks_all();
    let img = a.image(&image);
    assert_eq!((img["Status"].as_str(), img["Size"].as_u64()), (Some("Available"), Some(3)), "{img}");
}
