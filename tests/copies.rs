#![cfg(not(target_arch = "wasm32"))]
//! Native tests of copies to another region (CopySnapshot, CopyImage), the
//! region's snapshot usage (DescribeSnapshotsUsage) and ModifyDiskAttribute.

mod support;

use rowsnap::engine::testkit::block_on;
use serde_json::{json, Value};
use support::*;

const DEST: &str = "cn-shanghai";

fn snap(a: &mut Api, region: &str, id: &str) -> Value {
    a.ok("DescribeSnapshots", json!({"RegionId": region, "SnapshotIds": [id]}))["Snapshots"]["Snapshot"][0].clone()
}

fn usage(a: &mut Api, region: &str) -> (u64, u64, u64, u64) {
    let u = a.ok("DescribeSnapshotsUsage", json!({"RegionId": region}));
    let n = |k: &str| u[k].as_u64().unwrap_or_else(|| panic!("{k} in {u}"));
    (n("SnapshotCount"), n("SnapshotSize"), n("LocalSnapshotSize"), n("NormalSnapshotSize"))
}

/// A running instance in `region` from `image`; its disks by device.
fn instance_in(a: &mut Api, region: &str, zone: &str, image: &str, extra: Value) -> (String, Vec<String>) {
    let mut p = json!({"RegionId": region, "ZoneId": zone, "ImageId": image});
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    let inst = a.instance(image, p);
    let v = a.ok("DescribeDisks", json!({"RegionId": region, "InstanceId": inst}));
    let mut d: Vec<(String, String)> =
        v["Disks"]["Disk"].as_array().unwrap().iter().map(|d| (d["Device"].as_str().unwrap().to_string(), d["DiskId"].as_str().unwrap().to_string())).collect();
    d.sort();
    (inst, d.into_iter().map(|x| x.1).collect())
}

#[test]
fn copy_snapshot_checks_in_ecs_order() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"SystemDisk": {"Category": "cloud_essd"}}));
    let sys = a.system_disk(&inst);
    let normal = a.snapshot(&sys, json!({}));
    let local = a.snapshot(&sys, json!({"Category": "flash"}));
    let ok = json!({"SnapshotId": normal, "DestinationRegionId": DEST, "DestinationSnapshotName": "dr-copy", "DestinationSnapshotDescription": "geo"});
    let with = |k: &str, v: Value| {
        let mut p = ok.clone();
        p[k] = v;
        p
    };
    a.err("CopySnapshot", json!({"SnapshotId": normal}), "MissingParameter", 400);
    a.err("CopySnapshot", with("DestinationSnapshotName", json!("http://x")), "InvalidSnapshotName.Malformed", 400);
    a.err("CopySnapshot", with("RetentionDays", json!(0)), "InvalidRetentionDays.Malformed", 400);
    a.err("CopySnapshot", with("DestinationRegionId", json!("mars-1")), "InvalidRegionId.NotFound", 404);
    a.err("CopySnapshot", with("DestinationRegionId", json!("cn-hangzhou")), "InvalidOperation.NotSupportCopyInSameRegion", 403);
    a.err("CopySnapshot", with("SnapshotId", json!("s-nope")), "InvalidSnapshotId.NotFound", 404);
    a.err("CopySnapshot", with("SnapshotId", json!(local)), "OperationDenied", 403);
    // A snapshot still uploading cannot be copied; nor a second copy of the
    // disk to a region where one is unfinished.
    a.auto_upload = false;
    let busy = a.snapshot(&sys, json!({}));
    a.err("CopySnapshot", with("SnapshotId", json!(busy)), "IncorrectSnapshotStatus", 403);
    a.upload_all();
    let first = a.ok("CopySnapshot", ok.clone())["SnapshotId"].as_str().unwrap().to_string();
    a.err("CopySnapshot", ok.clone(), "InvalidOperation.DiskHasUnfinishedSnapshotCopy", 403);
    // Another region is fine meanwhile; and a copy does not hold back the disk's own snapshots.
    a.ok("CopySnapshot", with("DestinationRegionId", json!("cn-beijing")));
    a.snapshot(&sys, json!({}));
    a.upload_all();
    a.ok("CopySnapshot", ok.clone());
    let c = snap(&mut a, DEST, &first);
    assert_eq!((c["Status"].as_str(), c["SnapshotName"].as_str(), c["Description"].as_str()), (Some("accomplished"), Some("dr-copy"), Some("geo")));
    assert_eq!(
        (c["SourceSnapshotId"].as_str(), c["SourceRegionId"].as_str(), c["SourceDiskId"].as_str()),
        (Some(normal.as_str()), Some("cn-hangzhou"), Some(sys.as_str()))
    );
    assert_eq!(a.ok("DescribeSnapshots", json!({"SnapshotIds": [first]}))["TotalCount"], 0, "the copy is not in the source region");
    // A copy cannot roll back the source's disk (it is in another region).
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    a.err("ResetDisk", json!({"DiskId": sys, "SnapshotId": first}), "InvalidSnapshotId.NotFound", 404);
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn a_copy_outlives_its_source_and_makes_disks_in_its_region() {
    let mut a = Api::new();
    a.auto_upload = false;
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}]}));
    let data = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
    let pattern: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    a.write(&data, 5 << 20, &pattern);
    let s = a.snapshot(&data, json!({"RetentionDays": 30, "Tag": [{"Key": "env", "Value": "prod"}]}));
    a.upload_all();
    let copy = a.ok("CopySnapshot", json!({"SnapshotId": s, "DestinationRegionId": DEST, "RetentionDays": 7, "Tag": [{"Key": "dr", "Value": "yes"}]}))
        ["SnapshotId"]
        .as_str()
        .unwrap()
        .to_string();
    let c = snap(&mut a, DEST, &copy);
    assert_eq!((c["Status"].as_str(), c["Category"].as_str(), c["InstantAccess"].as_bool()), (Some("progressing"), Some("standard"), Some(false)));
    assert_eq!((c["RetentionDays"].as_u64(), c["Tags"]["Tag"][0]["TagKey"].as_str()), (Some(7), Some("dr")));
    a.upload_all();
    assert_eq!(snap(&mut a, DEST, &copy)["Status"], "accomplished");
    // The source goes first: its disk, then the snapshot itself.
    a.ok("DeleteInstance", json!({"InstanceId": inst, "Force": true}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": s, "Force": true}));
    assert_eq!(a.ok("DescribeSnapshots", json!({}))["TotalCount"], 0);
    assert_eq!(block_on(a.ecs.read_snapshot(&copy, 5 << 20, 3 << 20)).unwrap(), pattern);
    let (dr, _) = instance_in(&mut a, DEST, "cn-shanghai-e", IMAGE, json!({}));
    let disk = a.ok("CreateDisk", json!({"RegionId": DEST, "ZoneId": "cn-shanghai-e", "SnapshotId": copy, "DiskCategory": "cloud_essd"}))["DiskId"]
        .as_str()
        .unwrap()
        .to_string();
    a.wait();
    a.ok("AttachDisk", json!({"RegionId": DEST, "InstanceId": dr, "DiskId": disk}));
    a.wait();
    assert_eq!(a.read(&disk, 5 << 20, 3 << 20), pattern);
    // Releasing everything leaves nothing behind in OSS.
    a.ok("DetachDisk", json!({"RegionId": DEST, "InstanceId": dr, "DiskId": disk}));
    a.wait();
    a.ok("DeleteInstance", json!({"RegionId": DEST, "InstanceId": dr, "Force": true}));
    a.ok("DeleteDisk", json!({"RegionId": DEST, "DiskId": disk}));
    a.ok("DeleteSnapshot", json!({"RegionId": DEST, "SnapshotId": copy, "Force": true}));
    assert_eq!(a.ecs.engine().store().table_bytes(rowsnap::oss::CHUNKS), 0, "{:?}", oss_state(&mut a));
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn a_snapshot_only_in_oss_is_copied_by_its_manifest() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"SystemDisk": {"Category": "cloud_essd"}}));
    let sys = a.system_disk(&inst);
    a.write(&sys, 8 << 20, b"released but copied");
    let s = a.snapshot(&sys, json!({"InstantAccessRetentionDays": 1}));
    block_on(a.ecs.advance_clock(86_401.0)).unwrap();
    assert_eq!(snap(&mut a, "cn-hangzhou", &s)["LocalCopyReleased"], true);
    let copy = a.ok("CopySnapshot", json!({"SnapshotId": s, "DestinationRegionId": "ap-southeast-1"}))["SnapshotId"].as_str().unwrap().to_string();
    let c = snap(&mut a, "ap-southeast-1", &copy);
    assert_eq!((c["Status"].as_str(), c["LocalCopyReleased"].as_bool()), (Some("accomplished"), Some(true)));
    a.ok("DeleteSnapshot", json!({"SnapshotId": s}));
    assert_eq!(block_on(a.ecs.read_snapshot(&copy, 8 << 20, 19)).unwrap(), b"released but copied");
    a.ok("DeleteSnapshot", json!({"RegionId": "ap-southeast-1", "SnapshotId": copy}));
    assert!(oss_state(&mut a).iter().all(|l| !l.contains("snap/")), "{:?}", oss_state(&mut a));
}

#[test]
fn copy_image_copies_its_snapshots_and_boots_there() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"SystemDisk": {"Category": "cloud_essd"}, "DataDisk": [{"Size": 20, "Category": "cloud_essd"}]}));
    let disks = a.disks_of(&inst);
    let (sys, data) = (disks[0]["DiskId"].as_str().unwrap().to_string(), disks[1]["DiskId"].as_str().unwrap().to_string());
    a.write(&sys, 4 << 20, b"system bytes");
    a.write(&data, 6 << 20, b"data bytes");
    let s1 = a.snapshot(&sys, json!({}));
    let s2 = a.snapshot(&data, json!({"Category": "flash"}));
    let img = a.ok("CreateImage", json!({"SnapshotId": s1, "ImageName": "golden", "DiskDeviceMapping": [{"SnapshotId": s2}]}))["ImageId"]
        .as_str()
        .unwrap()
        .to_string();
    a.err("CopyImage", json!({"ImageId": img, "DestinationRegionId": "cn-beijing"}), "IncorrectImageStatus", 403);
    a.wait();
    a.err("CopyImage", json!({"ImageId": IMAGE, "DestinationRegionId": "cn-beijing"}), "OperationDenied", 403);
    a.err("CopyImage", json!({"ImageId": "m-nope", "DestinationRegionId": "cn-beijing"}), "InvalidImageId.NotFound", 404);
    a.err("CopyImage", json!({"ImageId": img}), "MissingParameter", 400);
    a.err("CopyImage", json!({"ImageId": img, "DestinationRegionId": "cn-hangzhou"}), "InvalidOperation.NotSupportCopyInSameRegion", 403);
    a.err("CopyImage", json!({"ImageId": img, "DestinationRegionId": "cn-beijing", "DestinationImageName": "-bad"}), "InvalidImageName.Malformed", 400);
    a.auto_upload = false;
    let copy = a.ok("CopyImage", json!({"ImageId": img, "DestinationRegionId": "cn-beijing", "DestinationDescription": "for DR"}))["ImageId"]
        .as_str()
        .unwrap()
        .to_string();
    a.err("CopyImage", json!({"ImageId": img, "DestinationRegionId": "cn-beijing"}), "InvalidImageName.Duplicated", 403);
    let describe = |a: &mut Api| a.ok("DescribeImages", json!({"RegionId": "cn-beijing", "ImageId": copy}))["Images"]["Image"][0].clone();
    let c = describe(&mut a);
    assert_eq!((c["Status"].as_str(), c["ImageName"].as_str(), c["Description"].as_str()), (Some("Creating"), Some("golden"), Some("for DR")));
    a.upload_all();
    a.wait();
    let c = describe(&mut a);
    assert_eq!(c["Status"], "Available", "{c}");
    let maps = c["DiskDeviceMappings"]["DiskDeviceMapping"].as_array().unwrap().clone();
    assert_eq!(maps.len(), 2);
    for m in &maps {
        let s = snap(&mut a, "cn-beijing", m["SnapshotId"].as_str().unwrap());
        assert_eq!((s["Status"].as_str(), s["Category"].as_str(), s["Usage"].as_str()), (Some("accomplished"), Some("standard"), Some("image")));
    }
    // The source image and its snapshots go; the copy still makes instances.
    a.auto_upload = true;
    a.ok("DeleteInstance", json!({"InstanceId": inst, "Force": true}));
    a.ok("DeleteImage", json!({"ImageId": img}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": s1}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": s2}));
    let (_, disks) = instance_in(&mut a, "cn-beijing", "cn-beijing-g", &copy, json!({}));
    assert_eq!(disks.len(), 2);
    assert_eq!(a.read(&disks[0], 4 << 20, 12), b"system bytes");
    assert_eq!(a.read(&disks[1], 6 << 20, 10), b"data bytes");
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn snapshot_usage_counts_each_block_once_per_region() {
    let mut a = Api::new();
    assert_eq!(usage(&mut a, "cn-hangzhou"), (0, 0, 0, 0));
    let inst = a.instance(IMAGE, json!({"SystemDisk": {"Category": "cloud_essd"}}));
    let sys = a.system_disk(&inst);
    a.write(&sys, 64 << 20, &vec![7u8; 1 << 20]);
    let public = block_on(a.ecs.engine().list_snapshots()).unwrap().len();
    assert!(public > 0);
    let s1 = a.snapshot(&sys, json!({}));
    let (n, total, local, normal) = usage(&mut a, "cn-hangzhou");
    assert_eq!(n, 1);
    // The disk holds the image's blocks and 1 MiB more (1 MiB of equal blocks: one block's bytes in OSS).
    let bs = 32 << 10;
    assert!(local >= 1 << 20, "{local}");
    assert_eq!(total, local + normal);
    // A second snapshot of unchanged data occupies nothing more.
    let s2 = a.snapshot(&sys, json!({}));
    assert_eq!(usage(&mut a, "cn-hangzhou"), (2, total, local, normal));
    // New distinct data: 4 blocks more in both stores.
    let fresh: Vec<u8> = (0..4 * bs).map(|i| (i / 7 % 256) as u8).collect();
    a.write(&sys, 200 << 20, &fresh);
    let s3 = a.snapshot(&sys, json!({"Category": "flash"}));
    assert_eq!(usage(&mut a, "cn-hangzhou"), (3, total + 4 * bs as u64, local + 4 * bs as u64, normal));
    let s4 = a.snapshot(&sys, json!({}));
    assert_eq!(usage(&mut a, "cn-hangzhou"), (4, total + 8 * bs as u64, local + 4 * bs as u64, normal + 4 * bs as u64));
    assert_eq!(usage(&mut a, DEST), (0, 0, 0, 0), "another region's snapshots are not counted");
    for s in [s1, s2, s3, s4] {
        a.ok("DeleteSnapshot", json!({"SnapshotId": s}));
    }
    assert_eq!(usage(&mut a, "cn-hangzhou"), (0, 0, 0, 0));
}

#[test]
fn modify_disk_attribute_and_automatic_snapshots_released_with_their_disk() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20}, {"Size": 20}]}));
    let disks = a.disks_of(&inst);
    let (keep, release) = (disks[1]["DiskId"].as_str().unwrap().to_string(), disks[2]["DiskId"].as_str().unwrap().to_string());
    a.err("ModifyDiskAttribute", json!({}), "MissingParameter", 400);
    a.err("ModifyDiskAttribute", json!({"DiskId": "d-nope", "DiskName": "x1"}), "InvalidDiskId.NotFound", 404);
    a.err("ModifyDiskAttribute", json!({"DiskId": keep, "DiskName": "http://x"}), "InvalidDiskName.Malformed", 400);
    a.ok("ModifyDiskAttribute", json!({"DiskId": keep, "DiskName": "archive", "Description": "kept snapshots", "DeleteAutoSnapshot": false}));
    a.ok("ModifyDiskAttribute", json!({"DiskIds": [keep.clone(), release.clone()], "DeleteWithInstance": false}));
    let d = a.ok("DescribeDisks", json!({"DiskIds": [keep]}))["Disks"]["Disk"][0].clone();
    assert_eq!(
        (d["DiskName"].as_str(), d["Description"].as_str(), d["DeleteAutoSnapshot"].as_bool(), d["DeleteWithInstance"].as_bool()),
        (Some("archive"), Some("kept snapshots"), Some(false), Some(false))
    );
    // Automatic snapshots of both disks, every hour.
    let hours: Vec<String> = (0..24).map(|h| h.to_string()).collect();
    let sp = a.ok(
        "CreateAutoSnapshotPolicy",
        json!({"timePoints": serde_json::to_string(&hours).unwrap(), "repeatWeekdays": "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]", "retentionDays": -1}),
    )["AutoSnapshotPolicyId"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": [keep.clone(), release.clone()]}));
    block_on(a.ecs.advance_clock(3_700.0)).unwrap();
    a.upload_all();
    let autos = |a: &mut Api, d: &str| a.ok("DescribeSnapshots", json!({"DiskId": d, "SnapshotType": "auto"}))["TotalCount"].as_u64().unwrap();
    assert!(autos(&mut a, &keep) >= 1 && autos(&mut a, &release) >= 1);
    // EnableAutoSnapshot=false takes a disk out of its policy.
    a.ok("ModifyDiskAttribute", json!({"DiskId": keep, "EnableAutoSnapshot": false}));
    let before = autos(&mut a, &keep);
    block_on(a.ecs.advance_clock(3_700.0)).unwrap();
    a.upload_all();
    assert_eq!(autos(&mut a, &keep), before);
    assert_eq!(a.ok("DescribeDisks", json!({"DiskIds": [keep]}))["Disks"]["Disk"][0]["EnableAutoSnapshot"], false);
    // Deleting the disks: automatic snapshots go with the one that says so.
    for d in [&keep, &release] {
        a.ok("DetachDisk", json!({"InstanceId": inst, "DiskId": d}));
    }
    a.wait();
    for d in [&keep, &release] {
        a.ok("DeleteDisk", json!({"DiskId": d}));
    }
    assert_eq!(autos(&mut a, &keep), before, "DeleteAutoSnapshot=false keeps them");
    assert_eq!(autos(&mut a, &release), 0, "released with their disk");
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn resource_groups_filter_and_local_snapshots_roll_back() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"SystemDisk": {"Category": "cloud_essd"}}));
    let sys = a.system_disk(&inst);
    a.write(&sys, 1 << 20, b"before");
    let local = a.snapshot(&sys, json!({"Category": "flash", "ResourceGroupId": "rg-prod"}));
    a.snapshot(&sys, json!({"ResourceGroupId": "rg-test"}));
    let ids =
        |v: Value| -> Vec<String> { v["Snapshots"]["Snapshot"].as_array().unwrap().iter().map(|s| s["SnapshotId"].as_str().unwrap().to_string()).collect() };
    assert_eq!(ids(a.ok("DescribeSnapshots", json!({"ResourceGroupId": "rg-prod"}))), std::slice::from_ref(&local));
    assert_eq!(a.ok("DescribeSnapshots", json!({"ResourceGroupId": "rg-none"}))["TotalCount"], 0);
    assert_eq!(a.ok("DescribeSnapshots", json!({}))["TotalCount"], 2);
    a.write(&sys, 1 << 20, b"AFTER!");
    a.err("ResetDisk", json!({"DiskId": sys, "SnapshotId": local}), "IncorrectInstanceStatus", 403);
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    a.ok("ResetDisk", json!({"DiskId": sys, "SnapshotId": local}));
    a.wait();
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    assert_eq!(a.read(&sys, 1 << 20, 6), b"before");
}
