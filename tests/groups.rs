#![cfg(not(target_arch = "wasm32"))]
//! Native tests of snapshot-consistent groups at the ECS boundary (the
//! `support::Api` helper, as in `tests/ecs.rs`): every refusal of
//! CreateSnapshotGroup and DeleteSnapshotGroup gives its ECS code, and
//! ResetDisks to a group's snapshots restores every disk's bytes, all or none.

mod support;

use rowsnap::engine::testkit::block_on;
use serde_json::{json, Value};
use support::*;

/// The instance's disks, the system disk first (every page: `disks_of` reads the first ten).
fn disk_ids(a: &mut Api, instance: &str) -> Vec<String> {
    let v = a.ok("DescribeDisks", json!({"InstanceId": instance, "PageSize": 100}));
    let mut d: Vec<(String, String)> =
        v["Disks"]["Disk"].as_array().unwrap().iter().map(|d| (d["Device"].as_str().unwrap().to_string(), d["DiskId"].as_str().unwrap().to_string())).collect();
    d.sort_by_key(|(dev, _)| (dev.len(), dev.clone()));
    d.into_iter().map(|(_, id)| id).collect()
}

fn group(a: &mut Api, params: Value) -> String {
    a.ok("CreateSnapshotGroup", params)["SnapshotGroupId"].as_str().unwrap().to_string()
}

/// The group's snapshots as (source disk, snapshot id), in the group's order.
fn group_snapshots(a: &mut Api, g: &str) -> Vec<(String, String)> {
    let v = a.ok("DescribeSnapshotGroups", json!({"SnapshotGroupId": [g]}));
    v["SnapshotGroups"]["SnapshotGroup"][0]["Snapshots"]["Snapshot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["SourceDiskId"].as_str().unwrap().to_string(), s["SnapshotId"].as_str().unwrap().to_string()))
        .collect()
}

fn essds(n: usize, size: u64) -> Value {
    json!({"DataDisk": (0..n).map(|_| json!({"Size": size, "Category": "cloud_essd"})).collect::<Vec<_>>()})
}

#[test]
fn create_refuses_with_the_ecs_codes() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}, {"Size": 20, "Category": "cloud_ssd"}]}));
    let d = disk_ids(&mut a, &inst);
    let (sys, essd, ssd) = (d[0].clone(), d[1].clone(), d[2].clone());
    a.err("CreateSnapshotGroup", json!({}), "MissingParameter", 400);
    a.err("CreateSnapshotGroup", json!({"InstanceId": "i-nope"}), "InvalidInstanceId.NotFound", 404);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "ExcludeDiskId": ["d-nope"]}), "InvalidDiskId.NotFound", 404);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "DiskId": [essd], "Name": "1bad"}), "InvalidName.Malformed", 400);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "DiskId": [essd], "InstantAccessRetentionDays": 0}), "InvalidParameter", 400);
    // A non-ESSD refuses the whole group until it is left out.
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "DiskCategory.OperationNotSupported", 400);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "DiskId": [sys, ssd]}), "DiskCategory.OperationNotSupported", 400);
    // DiskId.N or ExcludeDiskId.N, not both; only the instance's disks; at least one disk left.
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "DiskId": [sys], "ExcludeDiskId": [ssd]}), "InvalidParameter", 400);
    let other = a.instance(IMAGE, json!({}));
    let foreign = a.system_disk(&other);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "DiskId": [sys, foreign]}), "InvalidParameter", 400);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "ExcludeDiskId": [sys, essd, ssd]}), "InvalidParameter", 400);
    // Tags: 20 at most.
    let tags: Vec<Value> = (0..21).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect();
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst, "ExcludeDiskId": [ssd], "Tag": tags}), "QuotaExceed.Tags", 403);
    assert_eq!(a.ok("DescribeSnapshots", json!({}))["TotalCount"], 0, "a refused group takes no snapshot");

    // Both ways of choosing give the same disks.
    let by_exclude = group(&mut a, json!({"InstanceId": inst, "ExcludeDiskId": [ssd], "Tag": [{"Key": "team", "Value": "db"}]}));
    let by_include = group(&mut a, json!({"InstanceId": inst, "DiskId": [essd, sys]}));
    let disks = |a: &mut Api, g: &str| {
        let mut d: Vec<String> = group_snapshots(a, g).into_iter().map(|(d, _)| d).collect();
        d.sort();
        d
    };
    let mut want = vec![sys.clone(), essd.clone()];
    want.sort();
    assert_eq!(disks(&mut a, &by_exclude), want);
    assert_eq!(disks(&mut a, &by_include), want);
    // The group's tags are its snapshots' tags; unnamed, the group is named by its id.
    let g = &a.ok("DescribeSnapshotGroups", json!({"SnapshotGroupId": [by_exclude.clone()]}))["SnapshotGroups"]["SnapshotGroup"][0];
    assert_eq!((g["Name"].as_str(), g["Tags"]["Tag"][0]["TagKey"].as_str()), (Some(by_exclude.as_str()), Some("team")));
    assert_eq!(g["Snapshots"]["Snapshot"][0]["Tags"]["Tag"][0]["TagValue"], "db");
}

#[test]
fn instance_and_disk_states_a_group_needs() {
    let mut a = Api::new();
    // Pending: neither Running nor Stopped.
    let v = a.ok("RunInstances", json!({"ImageId": IMAGE, "ZoneId": "cn-hangzhou-h", "InstanceType": "ecs.g7.large"}));
    let inst = v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "IncorrectInstanceStatus", 403);
    a.wait();
    group(&mut a, json!({"InstanceId": inst}));
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "IncorrectInstanceStatus", 403);
    a.wait();
    let g = group(&mut a, json!({"InstanceId": inst}));
    // A disk being re-initialised (rolled back a moment ago) is not In_use.
    let (disk, snap) = group_snapshots(&mut a, &g).remove(0);
    a.ok("ResetDisk", json!({"DiskId": disk, "SnapshotId": snap}));
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "IncorrectDiskStatus", 403);
    a.wait();
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    // A snapshot of a disk still being created (uploading) refuses another.
    a.auto_upload = false;
    a.snapshot(&disk, json!({}));
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "IncorrectDiskStatus.CreatingSnapshot", 403);
    a.upload_all();
    a.auto_upload = true;
    group(&mut a, json!({"InstanceId": inst}));
    // 64 snapshots a disk: the group's snapshot counts too (4 so far).
    for _ in 4..64 {
        a.snapshot(&disk, json!({}));
    }
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "QuotaExceed.Snapshot", 403);
}

#[test]
fn at_most_ten_disks_and_32_tib() {
    let mut a = Api::new();
    // The system disk and ten data ESSDs: eleven.
    let inst = a.instance(IMAGE, essds(10, 20));
    let d = disk_ids(&mut a, &inst);
    assert_eq!(d.len(), 11);
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "QuotaExceed.DiskCount", 403);
    let g = group(&mut a, json!({"InstanceId": inst, "ExcludeDiskId": [d[10]]}));
    assert_eq!(group_snapshots(&mut a, &g).len(), 10);
    // Two 20,000 GiB ESSDs: 40,000 GiB > 32 TiB; either alone fits.
    let big = a.instance(IMAGE, essds(2, 20_000));
    let b = disk_ids(&mut a, &big);
    a.err("CreateSnapshotGroup", json!({"InstanceId": big}), "QuotaExceed.DiskCapacity", 403);
    a.err("CreateSnapshotGroup", json!({"InstanceId": big, "DiskId": [b[1], b[2]]}), "QuotaExceed.DiskCapacity", 403);
    let g = group(&mut a, json!({"InstanceId": big, "DiskId": [b[0], b[1]]}));
    assert_eq!(group_snapshots(&mut a, &g).len(), 2);
}

#[test]
fn reset_disks_to_a_group_restores_every_disk_all_or_none() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, essds(2, 40));
    let d = disk_ids(&mut a, &inst);
    let before: Vec<Vec<u8>> = (0..3).map(|i| format!("disk {i} at the group's moment").into_bytes()).collect();
    let offsets = [1 << 20, 0, 39 * GIB];
    for i in 0..3 {
        a.write(&d[i], offsets[i], &before[i]);
    }
    let g = group(&mut a, json!({"InstanceId": inst, "Name": "consistent"}));
    let snaps = group_snapshots(&mut a, &g);
    assert_eq!(snaps.len(), 3);
    for i in 0..3 {
        a.write(&d[i], offsets[i], &vec![0xee; before[i].len()]);
    }
    let pairs: Vec<Value> = snaps.iter().map(|(disk, snap)| json!({"DiskId": disk, "SnapshotId": snap})).collect();
    a.err("ResetDisks", json!({"Disk": pairs}), "IncorrectInstanceStatus", 403);
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    // One pair that does not match: nothing is rolled back.
    let mut wrong = pairs.clone();
    wrong[2]["SnapshotId"] = wrong[0]["SnapshotId"].clone();
    a.err("ResetDisks", json!({"Disk": wrong}), "InvalidParameter.Mismatch", 400);
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    for i in 0..3 {
        assert_eq!(a.read(&d[i], offsets[i], before[i].len() as u64), vec![0xee; before[i].len()], "disk {i} untouched by the refused ResetDisks");
    }
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    let r = a.ok("ResetDisks", json!({"Disk": pairs}));
    assert_eq!(r["OperationProgressSet"]["OperationProgress"][0]["RelatedItemSet"]["RelatedItem"].as_array().unwrap().len(), 3);
    a.wait();
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    for i in 0..3 {
        assert_eq!(a.read(&d[i], offsets[i], before[i].len() as u64), before[i], "disk {i} back to the group's moment");
    }
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn delete_group_frees_its_snapshots_unless_in_use() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, essds(1, 20));
    let other = a.instance(IMAGE, json!({}));
    let g = group(&mut a, json!({"InstanceId": inst}));
    let keep = group(&mut a, json!({"InstanceId": other}));
    let snaps = group_snapshots(&mut a, &g);
    let sys = a.system_disk(&inst);
    let sys_snap = snaps.iter().find(|(d, _)| *d == sys).unwrap().1.clone();
    let data_snap = snaps.iter().find(|(_, s)| *s != sys_snap).unwrap().1.clone();
    a.err("DeleteSnapshotGroup", json!({"SnapshotGroupId": "ssg-nope"}), "InvalidSnapshotGroupId.NotFound", 404);
    // An image made from one of its snapshots keeps the group (Force does not help).
    let img = a.ok("CreateImage", json!({"ImageName": "from-group", "SnapshotId": sys_snap}))["ImageId"].as_str().unwrap().to_string();
    a.err("DeleteSnapshotGroup", json!({"SnapshotGroupId": g, "Force": true}), "SnapshotCreatedImage", 403);
    a.wait();
    a.ok("DeleteImage", json!({"ImageId": img, "Force": true}));
    // A disk made from one: only with Force.
    a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": data_snap, "DiskCategory": "cloud_essd"}));
    a.err("DeleteSnapshotGroup", json!({"SnapshotGroupId": g}), "SnapshotCreatedDisk", 403);
    assert_eq!(group_snapshots(&mut a, &g).len(), 2, "a refused delete keeps every snapshot");
    a.ok("DeleteSnapshotGroup", json!({"SnapshotGroupId": g, "Force": true}));
    let left: Vec<String> = a.ok("DescribeSnapshots", json!({}))["Snapshots"]["Snapshot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["SnapshotId"].as_str().unwrap().to_string())
        .collect();
    assert!(!left.contains(&sys_snap) && !left.contains(&data_snap), "the group's snapshots went with it");
    assert_eq!(left.len(), 1, "the other group's snapshot stays");
    let groups = a.ok("DescribeSnapshotGroups", json!({}));
    let gs: Vec<&str> = groups["SnapshotGroups"]["SnapshotGroup"].as_array().unwrap().iter().map(|g| g["SnapshotGroupId"].as_str().unwrap()).collect();
    assert_eq!(gs, [keep.as_str()]);
    block_on(a.ecs.engine().check()).unwrap();
}
