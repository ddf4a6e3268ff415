#![cfg(not(target_arch = "wasm32"))]
//! Native tests of the ECS layer at its boundary: actions in, ECS JSON or
//! (Code, HTTP status) out, through one helper (`support::Api`).

mod support;

use rowsnap::ecs::Ecs;
use rowsnap::engine::memory::MemoryStore;
use rowsnap::engine::testkit::block_on;
use serde_json::{json, Value};
use support::*;

#[test]
fn regions_zones_and_public_images() {
    let mut a = Api::new();
    let r = a.ok("DescribeRegions", json!({}));
    assert!(r["Regions"]["Region"].as_array().unwrap().iter().any(|r| r["RegionId"] == "cn-hangzhou"));
    let z = a.ok("DescribeZones", json!({"RegionId": "cn-hangzhou"}));
    let zones: Vec<&str> = z["Zones"]["Zone"].as_array().unwrap().iter().map(|z| z["ZoneId"].as_str().unwrap()).collect();
    assert_eq!(zones, ["cn-hangzhou-h", "cn-hangzhou-i", "cn-hangzhou-j", "cn-hangzhou-k"]);
    let i = a.ok("DescribeImages", json!({"ImageOwnerAlias": "system", "PageSize": 100}));
    assert!(i["TotalCount"].as_u64().unwrap() >= 3);
    assert_eq!(i["Images"]["Image"][0]["ImageOwnerAlias"], "system");
    a.err("DescribeRegions", json!({"RegionId": "mars-1"}), "InvalidRegionId.NotFound", 404);
    a.err("CreateSnapshots", json!({}), "InvalidAction.NotFound", 404);
    a.err("describeSnapshots", json!({}), "InvalidAction.NotFound", 404);
}

#[test]
fn instance_states_move_by_themselves() {
    let mut a = Api::new();
    let v = a.ok("RunInstances", json!({"ImageId": IMAGE}));
    let id = v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    assert!(id.starts_with("i-") && id.len() == 22 && id[2..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    assert_eq!(a.status(&id), "Pending");
    a.wait();
    assert_eq!(a.status(&id), "Running");
    let z = a.ok("DescribeInstances", json!({}))["Instances"]["Instance"][0]["ZoneId"].as_str().unwrap().to_string();
    assert!(z.starts_with("cn-hangzhou-"), "RunInstances without ZoneId picks one");
    a.ok("StopInstance", json!({"InstanceId": id}));
    assert_eq!(a.status(&id), "Stopping");
    a.err("StartInstance", json!({"InstanceId": id}), "IncorrectInstanceStatus", 403);
    a.wait();
    assert_eq!(a.status(&id), "Stopped");
    a.ok("StartInstance", json!({"InstanceId": id}));
    a.wait();
    assert_eq!(a.status(&id), "Running");
    a.err("DeleteInstance", json!({"InstanceId": id}), "IncorrectInstanceStatus", 403);
    a.ok("DeleteInstance", json!({"InstanceId": id, "Force": "true"}));
    a.err("DescribeInstances", json!({"InstanceIds": 5}), "InvalidParameter", 400);
    assert_eq!(a.ok("DescribeInstances", json!({}))["TotalCount"], 0);
    assert_eq!(a.ok("DescribeDisks", json!({}))["TotalCount"], 0, "the system disk went with the instance");
}

#[test]
fn write_snapshot_roll_back_clone_image_boot() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 40, "Category": "cloud_essd"}]}));
    let disks = a.disks_of(&inst);
    assert_eq!(disks.len(), 2);
    let sys = disks[0]["DiskId"].as_str().unwrap().to_string();
    let data = disks[1]["DiskId"].as_str().unwrap().to_string();
    assert_eq!(disks[0]["Type"], "system");
    assert_eq!(disks[1]["Size"], 40);
    // The public image's content is on the system disk.
    assert_eq!(&a.read(&sys, 510, 2), &[0x55, 0xaa]);
    a.write(&sys, 4096, b"version one");
    a.write(&data, 39 * GIB, b"far away");
    let s1 = a.snapshot(&sys, json!({"SnapshotName": "before-upgrade"}));
    let d1 = a.snapshot(&data, json!({"Category": "Flash"}));
    a.write(&sys, 4096, b"VERSION TWO");
    assert_eq!(a.read(&sys, 4096, 11), b"VERSION TWO");
    assert_eq!(block_on(a.ecs.read_snapshot(&s1, 4096, 11)).unwrap(), b"version one");
    let snaps = a.ok("DescribeSnapshots", json!({"InstanceId": inst}));
    assert_eq!(snaps["TotalCount"], 2);
    let newest = &snaps["Snapshots"]["Snapshot"][0];
    assert_eq!(newest["SnapshotId"], d1.as_str(), "newest first");
    assert_eq!(newest["Category"], "flash");
    assert_eq!(newest["Status"], "accomplished");
    assert_eq!(newest["Progress"], "100%");
    assert_eq!(newest["SourceDiskType"], "data");
    assert_eq!(newest["IncrementalBytes"], 32768);
    let old = &snaps["Snapshots"]["Snapshot"][1];
    assert_eq!(old["SnapshotName"], "before-upgrade");
    assert_eq!(old["InstantAccess"], true, "ESSDs have instant access by default");
    assert_eq!(old["Available"], true);
    // Roll back: the instance must be stopped.
    a.err("ResetDisk", json!({"DiskId": sys, "SnapshotId": s1}), "IncorrectInstanceStatus", 403);
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    a.err("ResetDisk", json!({"DiskId": sys, "SnapshotId": d1}), "InvalidParameter.Mismatch", 400);
    a.ok("ResetDisk", json!({"DiskId": sys, "SnapshotId": s1}));
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    assert_eq!(a.read(&sys, 4096, 11), b"version one");
    // Clone: a disk from the local data snapshot (ESSD only, at least its size).
    a.err("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": d1, "DiskCategory": "cloud_ssd"}), "DiskCategory.OperationNotSupported", 400);
    a.err("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": d1, "DiskCategory": "cloud_essd", "Size": 20}), "InvalidDiskSize.TooSmall", 400);
    let clone = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": d1, "DiskCategory": "cloud_essd"}))["DiskId"].as_str().unwrap().to_string();
    a.err("AttachDisk", json!({"InstanceId": inst, "DiskId": clone}), "IncorrectDiskStatus", 403);
    a.wait();
    a.ok("AttachDisk", json!({"InstanceId": inst, "DiskId": clone}));
    a.wait();
    assert_eq!(a.read(&clone, 39 * GIB, 8), b"far away");
    // Image: the system snapshot, plus the local data snapshot by DiskDeviceMapping.
    a.err("CreateImage", json!({"SnapshotId": d1}), "OperationDenied", 403);
    let img = a.ok("CreateImage", json!({"ImageName": "golden", "DiskDeviceMapping": [{"SnapshotId": s1}, {"SnapshotId": d1}]}))["ImageId"]
        .as_str()
        .unwrap()
        .to_string();
    a.err("CreateImage", json!({"ImageName": "golden", "SnapshotId": s1}), "InvalidImageName.Duplicated", 403);
    a.wait();
    let boot = a.instance(&img, json!({}));
    let bd = a.disks_of(&boot);
    assert_eq!(bd.len(), 2);
    let (bs, bdata) = (bd[0]["DiskId"].as_str().unwrap().to_string(), bd[1]["DiskId"].as_str().unwrap().to_string());
    assert_eq!(a.read(&bs, 4096, 11), b"version one");
    assert_eq!(a.read(&bdata, 39 * GIB, 8), b"far away");
    // Deleting snapshots in use.
    a.err("DeleteSnapshot", json!({"SnapshotId": s1, "Force": true}), "SnapshotCreatedImage", 403);
    a.err("DeleteSnapshot", json!({"SnapshotId": d1}), "SnapshotCreatedImage", 403);
    a.ok("DeleteImage", json!({"ImageId": img, "Force": true}));
    a.err("DeleteSnapshot", json!({"SnapshotId": d1}), "SnapshotCreatedDisk", 403);
    a.ok("DeleteSnapshot", json!({"SnapshotId": d1, "Force": true}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": "s-doesnotexist0000000"}));
    assert_eq!(a.read(&clone, 39 * GIB, 8), b"far away", "a clone outlives its snapshot");
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn create_snapshot_errors_in_their_order() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk.1.Size": "100", "DataDisk.1.Category": "cloud_efficiency"}));
    let disks = a.disks_of(&inst);
    let sys = disks[0]["DiskId"].as_str().unwrap().to_string();
    let hdd = disks[1]["DiskId"].as_str().unwrap().to_string();
    a.err("CreateSnapshot", json!({}), "MissingParameter", 400);
    for bad in ["a", "1abc", "auto-x", "http://x", "has space", &"x".repeat(129)] {
        a.err("CreateSnapshot", json!({"DiskId": sys, "SnapshotName": bad}), "InvalidSnapshotName.Malformed", 400);
    }
    // Parameters before existence.
    a.err("CreateSnapshot", json!({"DiskId": "d-nope", "SnapshotName": "1bad"}), "InvalidSnapshotName.Malformed", 400);
    a.err("CreateSnapshot", json!({"DiskId": "d-nope"}), "InvalidDiskId.NotFound", 404);
    a.err("CreateSnapshot", json!({"DiskId": sys, "RetentionDays": 0}), "InvalidRetentionDays.Malformed", 400);
    a.err("CreateSnapshot", json!({"DiskId": sys, "RetentionDays": "65537"}), "InvalidRetentionDays.Malformed", 400);
    a.err("CreateSnapshot", json!({"DiskId": sys, "Tag": [{"Key": "acs:x", "Value": "1"}]}), "InvalidTagKey.Malformed", 400);
    a.err("CreateSnapshot", json!({"DiskId": sys, "Tag.1.Key": "k", "Tag.2.Key": "k"}), "Duplicate.TagKey", 400);
    let many: Vec<Value> = (0..21).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect();
    a.err("CreateSnapshot", json!({"DiskId": sys, "Tag": many}), "QuotaExceed.Tags", 403);
    a.err("CreateSnapshot", json!({"DiskId": hdd, "Category": "flash"}), "DiskCategory.OperationNotSupported", 400);
    // State: an instance in transition; a disk never attached.
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.err("CreateSnapshot", json!({"DiskId": sys}), "IncorrectInstanceStatus", 403);
    a.wait();
    a.snapshot(&sys, json!({})); // Stopped is fine
    let fresh = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "Size": 20, "DiskCategory": "cloud_essd"}))["DiskId"].as_str().unwrap().to_string();
    a.err("CreateSnapshot", json!({"DiskId": fresh}), "IncorrectDiskStatus", 403);
    a.wait();
    a.err("CreateSnapshot", json!({"DiskId": fresh}), "IncorrectDiskStatus.NeverAttached", 403);
    // Quota: 10 local snapshots per ESSD, 64 snapshots per disk.
    for i in 0..10 {
        a.snapshot(&sys, json!({"Category": "flash", "SnapshotName": format!("local-{i}")}));
    }
    a.err("CreateSnapshot", json!({"DiskId": sys, "Category": "flash"}), "QuotaExceed.Snapshot", 403);
    for _ in 11..64 {
        a.snapshot(&sys, json!({}));
    }
    a.err("CreateSnapshot", json!({"DiskId": sys}), "QuotaExceed.Snapshot", 403);
    // Precedence: a parameter error wins over the quota.
    a.err("CreateSnapshot", json!({"DiskId": sys, "SnapshotName": "x"}), "InvalidSnapshotName.Malformed", 400);
    assert_eq!(a.ok("DescribeSnapshots", json!({"DiskId": sys, "PageSize": 100}))["TotalCount"], 64);
}

#[test]
fn parameters_as_ecs_accepts_them() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    let s1 = a.snapshot(&sys, json!({"Tag.1.Key": "env", "Tag.1.Value": "prod", "RetentionDays": "7"}));
    let s2 = a.snapshot(&sys, json!({"Tag": [{"Key": "env", "Value": "dev"}], "Category": "FLASH"}));
    let by_json = a.ok("DescribeSnapshots", json!({"SnapshotIds": format!("[\"{s1}\"]")}));
    assert_eq!(by_json["TotalCount"], 1);
    let by_array = a.ok("DescribeSnapshots", json!({"SnapshotIds": [s1, s2]}));
    assert_eq!(by_array["TotalCount"], 2);
    let tagged = a.ok("DescribeSnapshots", json!({"Tag": [{"Key": "env", "Value": "dev"}]}));
    assert_eq!(tagged["Snapshots"]["Snapshot"][0]["SnapshotId"], s2.as_str());
    assert_eq!(tagged["Snapshots"]["Snapshot"][0]["Tags"]["Tag"][0], json!({"TagKey": "env", "TagValue": "dev"}));
    let local = a.ok("DescribeSnapshots", json!({"Category": "Flash"}));
    assert_eq!(local["TotalCount"], 1);
    let paged = a.ok("DescribeSnapshots", json!({"PageSize": "1", "PageNumber": 2}));
    assert_eq!((paged["TotalCount"].as_u64(), paged["PageNumber"].as_u64()), (Some(2), Some(2)));
    assert_eq!(paged["Snapshots"]["Snapshot"][0]["SnapshotId"], s1.as_str());
    a.err("DescribeSnapshots", json!({"PageSize": 101}), "InvalidParameter", 400);
    a.err("DescribeSnapshots", json!({"Status": "done"}), "InvalidParameter", 400);
    let s = &a.ok("DescribeSnapshots", json!({"SnapshotIds": [s1]}))["Snapshots"]["Snapshot"][0];
    assert_eq!(s["RetentionDays"], 7);
    assert!(s["CreationTime"].as_str().unwrap().ends_with('Z') && s["CreationTime"].as_str().unwrap().len() == 20);
    assert_eq!(s["SourceDiskSize"], 20);
}

#[test]
fn retention_releases_snapshots_on_the_console_clock() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    let keep = a.snapshot(&sys, json!({}));
    let short = a.snapshot(&sys, json!({"RetentionDays": 2}));
    let extended = a.snapshot(&sys, json!({"RetentionDays": 2}));
    block_on(a.ecs.advance_clock(86_400.0)).unwrap();
    a.ok("ModifySnapshotAttribute", json!({"SnapshotId": extended, "RetentionDays": 30}));
    let left = a.ok("DescribeSnapshots", json!({"SnapshotIds": [short]}))["Snapshots"]["Snapshot"][0]["RemainingRetentionDays"].clone();
    assert_eq!(left, 1);
    block_on(a.ecs.advance_clock(86_400.0 + 1.0)).unwrap();
    let ids: Vec<String> = a.ok("DescribeSnapshots", json!({}))["Snapshots"]["Snapshot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["SnapshotId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![extended.clone(), keep.clone()]);
    a.err("ModifySnapshotAttribute", json!({"SnapshotId": keep}), "NoAttributeToModify", 400);
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn client_token_is_idempotent() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    let p = json!({"DiskId": sys, "ClientToken": "abc-123", "SnapshotName": "once"});
    let first = a.ok("CreateSnapshot", p.clone())["SnapshotId"].clone();
    let again = a.ok("CreateSnapshot", p)["SnapshotId"].clone();
    assert_eq!(first, again);
    assert_eq!(a.ok("DescribeSnapshots", json!({}))["TotalCount"], 1);
    a.err("CreateSnapshot", json!({"DiskId": sys, "ClientToken": "abc-123", "SnapshotName": "other"}), "IdempotentParameterMismatch", 403);
}

#[test]
fn snapshot_groups_and_tags() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}, {"Size": 20, "Category": "cloud_efficiency"}]}));
    let disks = a.disks_of(&inst);
    let hdd = disks[2]["DiskId"].as_str().unwrap().to_string();
    a.err("CreateSnapshotGroup", json!({"InstanceId": inst}), "DiskCategory.OperationNotSupported", 400);
    let g =
        a.ok("CreateSnapshotGroup", json!({"InstanceId": inst, "ExcludeDiskId": [hdd], "Name": "consistent"}))["SnapshotGroupId"].as_str().unwrap().to_string();
    assert!(g.starts_with("ssg-"));
    let groups = a.ok("DescribeSnapshotGroups", json!({"InstanceId": inst}));
    let snaps = groups["SnapshotGroups"]["SnapshotGroup"][0]["Snapshots"]["Snapshot"].as_array().unwrap().clone();
    assert_eq!(snaps.len(), 2);
    let created: Vec<&str> = snaps.iter().map(|s| s["CreationTime"].as_str().unwrap()).collect();
    assert_eq!(created[0], created[1], "one point in time");
    a.ok("TagResources", json!({"ResourceType": "snapshot", "ResourceId": [snaps[0]["SnapshotId"]], "Tag": [{"Key": "team", "Value": "storage"}]}));
    let listed = a.ok("ListTagResources", json!({"ResourceType": "snapshot"}));
    assert_eq!(listed["TagResources"]["TagResource"][0]["TagKey"], "team");
    a.ok("UntagResources", json!({"ResourceType": "snapshot", "ResourceId": [snaps[0]["SnapshotId"]], "TagKey": ["team"]}));
    assert_eq!(a.ok("ListTagResources", json!({"ResourceType": "snapshot"}))["TagResources"]["TagResource"], json!([]));
    a.err("TagResources", json!({"ResourceType": "disk", "ResourceId": ["d-nope"], "Tag": [{"Key": "a", "Value": "b"}]}), "InvalidDiskId.NotFound", 404);
    a.ok("DeleteSnapshotGroup", json!({"SnapshotGroupId": g}));
    assert_eq!(a.ok("DescribeSnapshots", json!({}))["TotalCount"], 0);
}

#[test]
fn data_plane_needs_a_running_instance_and_stays_in_range() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    let err = block_on(a.ecs.write_disk(&sys, 20 * GIB - 1, b"xy")).unwrap_err();
    assert_eq!((err.code.as_str(), err.http_status), ("InvalidParameter", 400));
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    let err = block_on(a.ecs.read_disk(&sys, 0, 1)).unwrap_err();
    assert_eq!((err.code.as_str(), err.http_status), ("IncorrectInstanceStatus", 403));
    let err = block_on(a.ecs.read_disk("d-nope", 0, 1)).unwrap_err();
    assert_eq!(err.code, "InvalidDiskId.NotFound");
    let err = block_on(a.ecs.read_snapshot("s-nope", 0, 1)).unwrap_err();
    assert_eq!(err.code, "InvalidSnapshotId.NotFound");
}

#[test]
fn disks_attach_detach_resize_delete() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    a.err("CreateDisk", json!({"ZoneId": "cn-hangzhou-h"}), "MissingParameter", 400);
    a.err("CreateDisk", json!({"ZoneId": "cn-hangzhou-z", "Size": 20}), "InvalidZoneId.NotFound", 404);
    a.err("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "Size": 2, "DiskCategory": "cloud_ssd"}), "InvalidDiskSize.ValueNotSupported", 400);
    let other_zone = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-k", "Size": 20}))["DiskId"].as_str().unwrap().to_string();
    let d = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "Size": 20, "DiskCategory": "cloud_essd", "Encrypted": true}))["DiskId"]
        .as_str()
        .unwrap()
        .to_string();
    a.wait();
    a.err("AttachDisk", json!({"InstanceId": inst, "DiskId": other_zone}), "InvalidDiskId.ZoneMismatch", 403);
    a.ok("AttachDisk", json!({"InstanceId": inst, "DiskId": d}));
    a.err("DeleteDisk", json!({"DiskId": d}), "IncorrectDiskStatus", 403);
    a.wait();
    a.err("CreateSnapshot", json!({"DiskId": d, "Category": "flash"}), "DiskCategory.OperationNotSupported", 400);
    a.write(&d, 0, b"encrypted flag only");
    a.ok("ResizeDisk", json!({"DiskId": d, "NewSize": 30}));
    a.err("ResizeDisk", json!({"DiskId": d, "NewSize": 30}), "InvalidDiskSize.TooSmall", 400);
    a.write(&d, 30 * GIB - 4, b"edge");
    a.ok("DetachDisk", json!({"InstanceId": inst, "DiskId": d}));
    a.wait();
    let s = a.snapshot(&d, json!({})); // detached but attached once: allowed
    a.ok("DeleteDisk", json!({"DiskId": d}));
    assert_eq!(block_on(a.ecs.read_snapshot(&s, 30 * GIB - 4, 4)).unwrap(), b"edge", "manual snapshots outlive their disk");
    let desc = a.ok("DescribeSnapshots", json!({"SnapshotIds": [s]}));
    assert_eq!(desc["Snapshots"]["Snapshot"][0]["SourceDiskId"], d.as_str());
    assert_eq!(desc["Snapshots"]["Snapshot"][0]["Encrypted"], true);
    // Describe names the KMS key (the region's default here) on both.
    let key = desc["Snapshots"]["Snapshot"][0]["KMSKeyId"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 36, "a KMS key id: {key:?}");
    let copy = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": s}))["DiskId"].as_str().unwrap().to_string();
    assert_eq!(a.ok("DescribeDisks", json!({"DiskIds": [copy]}))["Disks"]["Disk"][0]["KMSKeyId"], key.as_str());
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn review_fixes_hold() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_efficiency"}]}));
    let disks = a.disks_of(&inst);
    let (sys, hdd) = (disks[0]["DiskId"].as_str().unwrap().to_string(), disks[1]["DiskId"].as_str().unwrap().to_string());
    // Retention expiring on the real clock is applied inside the next request.
    let s = a.snapshot(&sys, json!({"RetentionDays": 1, "InstantAccessRetentionDays": 1}));
    let keep = a.snapshot(&sys, json!({"InstantAccessRetentionDays": 1}));
    a.clock.set(a.clock.get() + 86_400_000 + 1);
    let left = a.ok("DescribeSnapshots", json!({}));
    assert_eq!(left["TotalCount"], 1);
    assert_eq!(left["Snapshots"]["Snapshot"][0]["SnapshotId"], keep.as_str());
    assert_eq!(left["Snapshots"]["Snapshot"][0]["InstantAccess"], false, "the instant-access copy expired");
    assert_eq!(a.ok("DescribeSnapshots", json!({"SnapshotIds": [s], "PageNumber": u32::MAX}))["Snapshots"]["Snapshot"], json!([]));
    // Several disks from one snapshot in one request all count.
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    let two =
        a.ok("RunInstances", json!({"ImageId": IMAGE, "ZoneId": "cn-hangzhou-h", "Amount": 2, "DataDisk": [{"SnapshotId": keep, "Category": "cloud_essd"}]}));
    assert_eq!(two["InstanceIdSets"]["InstanceIdSet"].as_array().unwrap().len(), 2);
    a.err("DeleteSnapshot", json!({"SnapshotId": keep}), "SnapshotCreatedDisk", 403);
    a.wait();
    for id in two["InstanceIdSets"]["InstanceIdSet"].as_array().unwrap() {
        a.ok("DeleteInstance", json!({"InstanceId": id, "Force": true}));
    }
    let usage = a.ok("DescribeSnapshots", json!({"SnapshotIds": [keep]}))["Snapshots"]["Snapshot"][0]["Usage"].clone();
    assert_eq!(usage, "none", "deleting the disks made from it frees the snapshot");
    // Regions are separate.
    a.err("CreateSnapshot", json!({"DiskId": sys, "RegionId": "cn-beijing"}), "InvalidDiskId.NotFound", 404);
    // Order: parameters, existence, state, quota.
    let many: Vec<Value> = (0..21).map(|i| json!({"Key": format!("k{i}"), "Value": "v"})).collect();
    a.err("CreateSnapshot", json!({"DiskId": "d-nope", "Tag": many.clone()}), "InvalidDiskId.NotFound", 404);
    a.err("CreateSnapshot", json!({"DiskId": sys, "Tag": many}), "QuotaExceed.Tags", 403);
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.err("CreateSnapshot", json!({"DiskId": hdd, "Category": "flash"}), "DiskCategory.OperationNotSupported", 400);
    a.wait();
    let other = a.snapshot(&hdd, json!({}));
    a.err("ResetDisk", json!({"DiskId": sys, "SnapshotId": other}), "InvalidParameter.Mismatch", 400);
    let err = block_on(a.ecs.write_disk(&sys, 20 * GIB, b"x")).unwrap_err();
    assert_eq!(err.code, "InvalidParameter", "range before state");
    let err = block_on(a.ecs.advance_clock(1e300)).unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    a.err("NoSuchAction", json!(7), "InvalidAction.NotFound", 404);
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn normal_snapshots_upload_with_progress_and_can_be_cancelled() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_efficiency"}]}));
    let disks = a.disks_of(&inst);
    let (sys, hdd) = (disks[0]["DiskId"].as_str().unwrap().to_string(), disks[1]["DiskId"].as_str().unwrap().to_string());
    let mut data = vec![0u8; 4 << 20];
    rowsnap::engine::testkit::Rng::new(9).fill(&mut data);
    a.write(&hdd, 0, &data);
    a.write(&sys, 8 << 20, &data);
    a.auto_upload = false;
    let s = a.snapshot(&hdd, json!({}));
    let desc = |a: &mut Api, id: &str| a.ok("DescribeSnapshots", json!({"SnapshotIds": [id]}))["Snapshots"]["Snapshot"][0].clone();
    let d = desc(&mut a, &s);
    assert_eq!((d["Status"].as_str(), d["Progress"].as_str(), d["Available"].as_bool()), (Some("progressing"), Some("0%"), Some(false)));
    // Not usable yet (not an ESSD: no instant access); the disk is busy.
    a.err("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": s}), "InvalidSnapshotId.NotReady", 403);
    a.err("CreateSnapshot", json!({"DiskId": hdd}), "IncorrectDiskStatus.CreatingSnapshot", 403);
    assert_eq!(block_on(a.ecs.read_snapshot(&s, 0, 1)).unwrap_err().code, "InvalidSnapshotId.NotReady");
    // Half of it: 1 MiB steps of a 4 MiB disk.
    block_on(a.ecs.upload_step(1 << 20)).unwrap();
    block_on(a.ecs.upload_step(1 << 20)).unwrap();
    let d = desc(&mut a, &s);
    assert_eq!(d["Progress"], "50%");
    assert!(d["RemainTime"].as_u64().is_some());
    while block_on(a.ecs.upload_step(1 << 20)).unwrap().is_some() {}
    let d = desc(&mut a, &s);
    assert_eq!((d["Status"].as_str(), d["Progress"].as_str(), d["Available"].as_bool()), (Some("accomplished"), Some("100%"), Some(true)));
    let first_upload = d["UploadedBytes"].as_u64().unwrap();
    assert!((4 << 20..(4 << 20) + (64 << 10)).contains(&first_upload), "{first_upload}");
    // An ESSD snapshot is usable at once (instant access) while it uploads.
    let e = a.snapshot(&sys, json!({}));
    let d = desc(&mut a, &e);
    assert_eq!((d["Status"].as_str(), d["Available"].as_bool()), (Some("progressing"), Some(true)));
    assert_eq!(block_on(a.ecs.read_snapshot(&e, 8 << 20, 16)).unwrap(), &data[..16]);
    // Dedup across disks: the system disk holds the same 4 MiB, so almost nothing new goes up.
    while block_on(a.ecs.upload_step(u64::MAX)).unwrap().is_some() {}
    let up = desc(&mut a, &e)["UploadedBytes"].as_u64().unwrap();
    assert!(up < 256 << 10, "the same blocks from another disk are not uploaded again: {up}");
    // Incremental: change 1 MiB of the data disk; the next snapshot uploads about that.
    a.write(&hdd, 1 << 20, &data[..1 << 20].iter().map(|b| b ^ 0xff).collect::<Vec<u8>>());
    let s2 = a.snapshot(&hdd, json!({}));
    while block_on(a.ecs.upload_step(u64::MAX)).unwrap().is_some() {}
    let up2 = desc(&mut a, &s2)["UploadedBytes"].as_u64().unwrap();
    assert!(up2 >= 1 << 20 && (up2 as f64) < 1.05 * (1 << 20) as f64, "incremental upload {up2}");
    // Cancel: deleting a progressing snapshot leaves OSS as it was.
    let oss_before = oss_state(&mut a);
    a.write(&hdd, 3 << 20, &data[..1 << 20].iter().map(|b| b.wrapping_add(1)).collect::<Vec<u8>>());
    let s3 = a.snapshot(&hdd, json!({}));
    block_on(a.ecs.upload_step(64 << 10)).unwrap();
    assert_eq!(desc(&mut a, &s3)["Status"], "progressing");
    a.ok("DeleteSnapshot", json!({"SnapshotId": s3}));
    assert_eq!(oss_state(&mut a), oss_before, "nothing of the cancelled upload is left");
    // Deleting uploaded snapshots frees their objects; shared blocks stay for the others.
    a.ok("DeleteSnapshot", json!({"SnapshotId": s}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": s2}));
    assert_eq!(block_on(a.ecs.read_snapshot(&e, 8 << 20, 16)).unwrap(), &data[..16]);
    a.ok("DeleteSnapshot", json!({"SnapshotId": e}));
    assert!(oss_state(&mut a).iter().all(|k| !k.starts_with("OssChunks")), "no snapshot: no snapshot data in OSS");
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn an_upload_resumes_after_a_failed_commit_at_any_point() {
    use rowsnap::engine::testkit::{FailMode, FailingStore};
    // Set-up without failures: a disk with 1 MiB written and a normal snapshot of it.
    let mem = MemoryStore::new();
    let snap = {
        let mut a = Api::new();
        a.auto_upload = false;
        let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_efficiency"}]}));
        let data_disk = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
        let mut bytes = vec![0u8; 1 << 20];
        rowsnap::engine::testkit::Rng::new(4).fill(&mut bytes);
        a.write(&data_disk, 5 << 20, &bytes);
        let s = a.snapshot(&data_disk, json!({}));
        mem.restore(&a.ecs.engine().store().dump());
        s
    };
    let start = mem.dump();
    // The clean run: one block per step.
    let finish = |ecs: &mut Ecs<_>| while block_on(ecs.upload_step(32 << 10)).unwrap().is_some() {};
    let clean = MemoryStore::new();
    clean.restore(&start);
    let counting = FailingStore::new(clean.clone(), u64::MAX, FailMode::Before);
    let mut ecs = block_on(Ecs::open(counting.clone(), fixed_wall())).unwrap();
    finish(&mut ecs);
    let commits = counting.commits();
    assert!(commits >= 32, "one commit per block at least: {commits}");
    let want = oss_lines(&clean);
    let content = block_on(ecs.read_snapshot(&snap, 5 << 20, 1 << 20)).unwrap();
    drop(ecs);
    for n in 1..=commits {
        for mode in [FailMode::Before, FailMode::After] {
            let store = run_until_failure(&start, n, mode, |ecs| block_on(ecs.upload_step(32 << 10)));
            // Reopen after the failure and let the upload resume.
            let mut ecs = block_on(Ecs::open(store.clone(), fixed_wall())).unwrap();
            while block_on(ecs.upload_step(32 << 10)).unwrap().is_some() {}
            assert_eq!(oss_lines(&store), want, "failed commit {n} {mode:?}: OSS differs from a clean upload");
            assert_eq!(block_on(ecs.read_snapshot(&snap, 5 << 20, 1 << 20)).unwrap(), content);
            let d = block_on(ecs.request("DescribeSnapshots", &json!({"SnapshotIds": [snap]}))).unwrap();
            assert_eq!(d["Snapshots"]["Snapshot"][0]["Status"], "accomplished");
            block_on(ecs.engine().check()).unwrap();
        }
    }
}

#[test]
fn the_embedded_oss() {
    let mut a = Api::new();
    let code = |r: Result<Vec<u8>, rowsnap::error::Error>| r.map(|_| ()).unwrap_err();
    assert_eq!(code(block_on(a.ecs.oss_get("nope", "k", None))).code, "NoSuchBucket");
    assert_eq!(block_on(a.ecs.oss_create_bucket(".rowsnap-snapshots")).unwrap_err().code, "InvalidBucketName");
    block_on(a.ecs.oss_create_bucket("my-bucket")).unwrap();
    block_on(a.ecs.oss_create_bucket("my-bucket")).unwrap(); // no error if it exists
    let e = code(block_on(a.ecs.oss_get("my-bucket", "missing", None)));
    assert_eq!((e.code.as_str(), e.http_status), ("NoSuchKey", 404));
    // A sparse object: 1 MiB of zeros and a few bytes at the end.
    let mut obj = vec![0u8; (1 << 20) + 10];
    obj[(1 << 20)..].copy_from_slice(b"0123456789");
    block_on(a.ecs.oss_put("my-bucket", "disk.raw", &obj)).unwrap();
    block_on(a.ecs.oss_put("my-bucket", "a.txt", b"hello")).unwrap();
    let chunks = a.ecs.engine().store().table_bytes(rowsnap::oss::CHUNKS);
    assert!(chunks < 64 << 10, "all-zero chunks are not stored ({chunks} bytes)");
    let listed = block_on(a.ecs.oss_list("my-bucket", "")).unwrap();
    assert_eq!(listed.iter().map(|l| (l.key.as_str(), l.size)).collect::<Vec<_>>(), [("a.txt", 5), ("disk.raw", (1 << 20) + 10)]);
    assert_eq!(block_on(a.ecs.oss_list("my-bucket", "d")).unwrap().len(), 1);
    assert_eq!(block_on(a.ecs.oss_get("my-bucket", "disk.raw", Some(((1 << 20) + 5, 100)))).unwrap(), b"56789", "cut short at the end");
    assert_eq!(block_on(a.ecs.oss_get("my-bucket", "disk.raw", None)).unwrap(), obj);
    // A multi-part put is invisible until completed, and an aborted one leaves nothing.
    let up = block_on(a.ecs.oss_begin("my-bucket", "big")).unwrap();
    block_on(a.ecs.oss_put_part(&up, 0, &vec![7u8; 256 << 10])).unwrap();
    assert!(block_on(a.ecs.oss_list("my-bucket", "big")).unwrap().is_empty());
    block_on(a.ecs.oss_abort(&up)).unwrap();
    let up = block_on(a.ecs.oss_begin("my-bucket", "big")).unwrap();
    let stored = block_on(a.ecs.oss_put_part(&up, 0, &vec![7u8; 256 << 10])).unwrap() + block_on(a.ecs.oss_put_part(&up, 256 << 10, &[9u8; 3])).unwrap();
    block_on(a.ecs.oss_complete("my-bucket", "big", &up, (256 << 10) + 3, stored)).unwrap();
    assert_eq!(block_on(a.ecs.oss_get("my-bucket", "big", Some((256 << 10, 10)))).unwrap(), [9, 9, 9]);
    block_on(a.ecs.oss_delete("my-bucket", "big")).unwrap();
    block_on(a.ecs.oss_delete("my-bucket", "disk.raw")).unwrap();
    block_on(a.ecs.oss_delete("my-bucket", "a.txt")).unwrap();
    assert_eq!(a.ecs.engine().store().table_bytes(rowsnap::oss::CHUNKS), 0);
}

#[test]
fn a_released_snapshot_rolls_back_clones_and_reads_from_oss() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}]}));
    let disk = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
    let mut data = vec![0u8; 3 << 20];
    rowsnap::engine::testkit::Rng::new(12).fill(&mut data);
    a.write(&disk, 10 << 20, &data);
    let s = a.snapshot(&disk, json!({"InstantAccessRetentionDays": 1}));
    // Overwrite it all, so the snapshot alone holds its blocks locally.
    a.write(&disk, 10 << 20, &vec![0x11; 3 << 20]);
    let desc = |a: &mut Api| a.ok("DescribeSnapshots", json!({"SnapshotIds": [s.clone()]}))["Snapshots"]["Snapshot"][0].clone();
    assert_eq!(desc(&mut a)["ExclusiveBytes"], 3 << 20);
    let stored = block_on(a.ecs.engine().stats()).unwrap().stored_blocks;
    block_on(a.ecs.advance_clock(86_401.0)).unwrap();
    let d = desc(&mut a);
    assert_eq!((d["LocalCopyReleased"].as_bool(), d["InstantAccess"].as_bool(), d["Available"].as_bool()), (Some(true), Some(false), Some(true)));
    assert_eq!(d["ExclusiveBytes"], 0);
    let freed = stored - block_on(a.ecs.engine().stats()).unwrap().stored_blocks;
    assert_eq!(freed * 32768, 3 << 20, "its exclusive local bytes were freed");
    // Reads come from OSS.
    assert_eq!(block_on(a.ecs.read_snapshot(&s, 10 << 20, 3 << 20)).unwrap(), data);
    // Roll back: usable at once, blocks fetched on first read; a write merges.
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    a.ok("ResetDisk", json!({"DiskId": disk, "SnapshotId": s}));
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    let p = |a: &mut Api, id: &str| a.ok("DescribeDisks", json!({"DiskIds": [id]}))["Disks"]["Disk"][0]["HydrationProgress"].clone();
    assert_eq!(p(&mut a, &disk), "0%");
    assert_eq!(a.read(&disk, 10 << 20, 3 << 20), data);
    a.write(&disk, (10 << 20) + 100, b"user bytes win");
    a.err("CreateSnapshot", json!({"DiskId": disk}), "IncorrectDiskStatus", 403);
    let mut want = data.clone();
    want[100..114].copy_from_slice(b"user bytes win");
    assert_eq!(a.read(&disk, 10 << 20, 3 << 20), want);
    // Clone from it too.
    let clone = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": s, "DiskCategory": "cloud_essd"}))["DiskId"].as_str().unwrap().to_string();
    a.wait();
    a.ok("AttachDisk", json!({"InstanceId": inst, "DiskId": clone}));
    a.wait();
    assert_eq!(a.read(&clone, 10 << 20, 3 << 20), data);
    // Deleting the snapshot meanwhile does not break the disks restoring from
    // it: they hold its pages until they are copied.
    a.ok("DeleteSnapshot", json!({"SnapshotId": s, "Force": true}));
    // Hydration in the background copies the rest; the user's bytes stay.
    while block_on(a.ecs.hydrate_step(1 << 20)).unwrap().is_some() {}
    assert_eq!(p(&mut a, &disk), "100%");
    assert_eq!(a.read(&disk, 10 << 20, 3 << 20), want);
    assert_eq!(a.read(&clone, 10 << 20, 3 << 20), data);
    let s2 = a.snapshot(&disk, json!({})); // hydrated: snapshots work again
    block_on(a.ecs.engine().check()).unwrap();
    // Nothing of the deleted snapshot is left in OSS once the disks are copied.
    a.ok("DeleteSnapshot", json!({"SnapshotId": s2}));
    let left: Vec<String> = oss_logical(&mut a).into_iter().filter(|l| l.contains("snap/") || l.starts_with("block")).collect();
    assert!(left.is_empty(), "OSS still holds {left:?}");
}

#[test]
fn deleting_a_parent_snapshot_during_its_childs_upload_keeps_the_child_whole() {
    let mut a = Api::new();
    a.auto_upload = false;
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}]}));
    let disk = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
    let mut data = vec![0u8; 3 << 20];
    rowsnap::engine::testkit::Rng::new(23).fill(&mut data);
    a.write(&disk, 0, &data[..1 << 20]);
    let parent = a.snapshot(&disk, json!({}));
    a.upload_all();
    a.write(&disk, 2 << 20, &data[2 << 20..]);
    let child = a.snapshot(&disk, json!({"InstantAccessRetentionDays": 1}));
    // The child's upload builds on the parent's pages; the parent goes first.
    a.ok("DeleteSnapshot", json!({"SnapshotId": parent}));
    a.upload_all();
    block_on(a.ecs.advance_clock(2.0 * 86_400.0)).unwrap();
    let d = a.ok("DescribeSnapshots", json!({"SnapshotIds": [child.clone()]}))["Snapshots"]["Snapshot"][0].clone();
    assert_eq!(d["LocalCopyReleased"], true, "{d}");
    let mut want = data.clone();
    want[1 << 20..2 << 20].fill(0);
    assert!(block_on(a.ecs.read_snapshot(&child, 0, 3 << 20)).unwrap() == want, "the child reads whole from OSS");
    a.ok("DeleteSnapshot", json!({"SnapshotId": child}));
    let left: Vec<String> = oss_logical(&mut a).into_iter().filter(|l| l.contains("snap/") || l.starts_with("block")).collect();
    assert!(left.is_empty(), "OSS still holds {left:?}");
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn describe_block_map_extension() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}]}));
    let disk = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
    a.write(&disk, 0, &vec![1u8; 2 * 32768]);
    let s1 = a.snapshot(&disk, json!({}));
    a.write(&disk, 32768, &vec![2u8; 32768]);
    let m = a.ok("DescribeBlockMap", json!({"DiskId": disk}));
    assert_eq!(m["BlockSize"], 32768);
    assert_eq!(m["Blocks"], 20 * 32768);
    let runs = m["Runs"]["Run"].as_array().unwrap();
    assert_eq!(runs[0], json!({"Start": 0, "Length": 1, "State": "shared", "FirstSnapshotId": s1, "SharedWithSnapshots": [s1], "SharedWithDisks": 0}));
    assert_eq!(runs[1]["State"], "exclusive");
    assert_eq!(runs[2], json!({"Start": 2, "Length": 20 * 32768 - 2, "State": "unwritten"}));
    // The system disk's blocks came from its public image: named by it.
    let sys = a.system_disk(&inst);
    let m = a.ok("DescribeBlockMap", json!({"DiskId": sys}));
    let first = m["Runs"]["Run"].as_array().unwrap().iter().find(|r| r["State"] != "unwritten").unwrap().clone();
    assert_eq!(first["FirstSnapshotId"], IMAGE, "{first}");
    a.err("DescribeBlockMap", json!({}), "MissingParameter", 400);
    a.err("DescribeBlockMap", json!({"SnapshotId": "s-nope"}), "InvalidSnapshotId.NotFound", 404);
}

#[test]
fn the_pipelined_upload_stores_what_the_stepwise_one_does() {
    let run = |pump: bool| {
        let mut a = Api::new();
        a.auto_upload = false;
        let inst = a.instance(IMAGE, json!({"DataDisk": [{"Size": 20, "Category": "cloud_essd"}]}));
        let disk = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
        let mut data = vec![0u8; 3 << 20];
        rowsnap::engine::testkit::Rng::new(5).fill(&mut data);
        a.write(&disk, 1 << 20, &data);
        a.write(&disk, 9 << 20, &data[..1 << 20]); // dedup within one upload
        let s = a.snapshot(&disk, json!({}));
        if pump {
            while block_on(a.ecs.upload_pump(1 << 20, 128 << 10)).unwrap().is_some() {}
        } else {
            a.upload_all();
        }
        let d = a.ok("DescribeSnapshots", json!({"SnapshotIds": [s]}))["Snapshots"]["Snapshot"][0].clone();
        assert_eq!(d["Status"], "accomplished");
        // The same bytes on another disk: found in OSS, not uploaded again.
        let other = a.disks_of(&inst)[0]["DiskId"].as_str().unwrap().to_string();
        a.write(&other, 64 << 20, &data);
        let s2 = a.snapshot(&other, json!({}));
        if pump {
            while block_on(a.ecs.upload_pump(1 << 20, 128 << 10)).unwrap().is_some() {}
        } else {
            a.upload_all();
        }
        let d2 = a.ok("DescribeSnapshots", json!({"SnapshotIds": [s2]}))["Snapshots"]["Snapshot"][0].clone();
        assert!(d2["UploadedBytes"].as_u64().unwrap() < (1 << 20), "deduplicated: {d2}");
        (oss_logical(&mut a), d["UploadedBytes"].clone(), d2["UploadedBytes"].clone())
    };
    assert_eq!(run(true), run(false));
}

#[test]
fn describe_snapshots_next_token_and_dry_run() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    let ids: Vec<String> = (0..5).map(|i| a.snapshot(&sys, json!({"SnapshotName": format!("n{i}"), "Category": "flash"}))).collect();
    let first = a.ok("DescribeSnapshots", json!({"MaxResults": 2}));
    assert_eq!(first["TotalCount"], 5);
    assert_eq!(first["NextToken"], "2");
    let mut seen: Vec<String> = first["Snapshots"]["Snapshot"].as_array().unwrap().iter().map(|s| s["SnapshotId"].as_str().unwrap().to_string()).collect();
    let mut token = first["NextToken"].as_str().unwrap().to_string();
    while !token.is_empty() {
        let next = a.ok("DescribeSnapshots", json!({"MaxResults": "2", "NextToken": token}));
        seen.extend(next["Snapshots"]["Snapshot"].as_array().unwrap().iter().map(|s| s["SnapshotId"].as_str().unwrap().to_string()));
        token = next["NextToken"].as_str().unwrap().to_string();
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    a.err("DescribeSnapshots", json!({"MaxResults": 0}), "InvalidParameter", 400);
    a.err("DescribeSnapshots", json!({"NextToken": "zz"}), "InvalidNextToken.Malformed", 400);
    a.err("DescribeSnapshots", json!({"DryRun": true}), "DryRunOperation", 400);
    a.err("DescribeSnapshots", json!({"DryRun": true, "Status": "bogus"}), "InvalidParameter", 400);
}

/// Automatic snapshots of the disk, oldest first: (id, name, RetentionDays).
fn autos(a: &mut Api, disk: &str) -> Vec<(String, String, Value)> {
    let v = a.ok("DescribeSnapshots", json!({"DiskId": disk, "SnapshotType": "auto", "PageSize": 100}));
    let mut out: Vec<(String, String, Value)> = v["Snapshots"]["Snapshot"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["SnapshotId"].as_str().unwrap().to_string(), s["SnapshotName"].as_str().unwrap().to_string(), s["RetentionDays"].clone()))
        .collect();
    out.reverse();
    out
}

/// Moves the console clock, then lets the uploads it started finish.
fn advance(a: &mut Api, seconds: f64) {
    block_on(a.ecs.advance_clock(seconds)).unwrap();
    a.upload_all();
}

#[test]
fn automatic_snapshot_policies_take_snapshots_on_the_console_clock() {
    let mut a = Api::new(); // the clock reads 2026-11-18T11:06:40Z (19:06:40 in UTC+8)
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    // Bad parameters, each with its code; nothing is created.
    let good = json!({"timePoints": "[\"2\"]", "repeatWeekdays": "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]", "retentionDays": 2, "autoSnapshotPolicyName": "nightly"});
    for (k, v, code) in [
        ("timePoints", json!("[\"24\"]"), "InvalidTimePoints.Malformed"),
        ("timePoints", json!("[\"two\"]"), "InvalidTimePoints.Malformed"),
        ("repeatWeekdays", json!("[\"0\"]"), "InvalidRepeatWeekdays.Malformed"),
        ("retentionDays", json!(0), "InvalidRetentionDays.Malformed"),
        // ECS's CreateAutoSnapshotPolicy documents 1 to 65535.
        ("retentionDays", json!(65536), "InvalidRetentionDays.Malformed"),
        ("autoSnapshotPolicyName", json!("http://nightly"), "InvalidAutoSnapshotPolicyName.Malformed"),
    ] {
        let mut p = good.clone();
        p[k] = v;
        a.err("CreateAutoSnapshotPolicy", p, code, 400);
    }
    let mut p = good.clone();
    p.as_object_mut().unwrap().remove("timePoints");
    a.err("CreateAutoSnapshotPolicy", p, "MissingParameter", 400);
    assert_eq!(a.ok("DescribeAutoSnapshotPolicyEx", json!({}))["TotalCount"], 0);
    let sp = a.ok("CreateAutoSnapshotPolicy", good)["AutoSnapshotPolicyId"].as_str().unwrap().to_string();
    assert!(sp.starts_with("sp-"));
    a.err("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": "sp-nope", "diskIds": [sys]}), "InvalidAutoSnapshotPolicyId.NotFound", 404);
    a.err("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": [sys.clone(), "d-nope"]}), "InvalidDiskId.NotFound", 404);
    let d = a.ok("DescribeDisks", json!({"DiskIds": [sys]}));
    assert_eq!(d["Disks"]["Disk"][0]["EnableAutoSnapshot"], false, "a failed Apply changes nothing");
    a.ok("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": format!("[\"{sys}\"]")}));
    let d = a.ok("DescribeDisks", json!({"DiskIds": [sys]}));
    assert_eq!(
        (d["Disks"]["Disk"][0]["EnableAutoSnapshot"].as_bool(), d["Disks"]["Disk"][0]["AutoSnapshotPolicyId"].as_str()),
        (Some(true), Some(sp.as_str()))
    );
    let p = a.ok("DescribeAutoSnapshotPolicyEx", json!({"AutoSnapshotPolicyId": sp}));
    let p = &p["AutoSnapshotPolicies"]["AutoSnapshotPolicy"][0];
    assert_eq!(
        (p["TimePoints"].as_str(), p["DiskNums"].as_u64(), p["RetentionDays"].as_i64(), p["AutoSnapshotPolicyName"].as_str()),
        (Some("[\"2\"]"), Some(1), Some(2), Some("nightly"))
    );
    // Nothing until 02:00 UTC+8 (18:00 UTC).
    advance(&mut a, 6.0 * 3600.0);
    assert!(autos(&mut a, &sys).is_empty(), "17:06 UTC: not yet");
    a.write(&sys, 0, b"monday data");
    advance(&mut a, 3600.0);
    let first = autos(&mut a, &sys);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!((first[0].1.as_str(), &first[0].2), ("auto_20261119_1", &json!(2)), "named as ECS names them, kept for the policy's days");
    let got = block_on(a.ecs.read_snapshot(&first[0].0, 0, 11)).unwrap();
    assert_eq!(got, b"monday data");
    // An hour later: no second run; a day later: one more.
    advance(&mut a, 3600.0);
    assert_eq!(autos(&mut a, &sys).len(), 1);
    advance(&mut a, 23.0 * 3600.0);
    assert_eq!(autos(&mut a, &sys).iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), ["auto_20261119_1", "auto_20261120_1"]);
    // Ten days at once: the runs missed meanwhile are skipped, only the latest is
    // taken; the two older ones ran out of their 2 days.
    advance(&mut a, 10.0 * 86_400.0);
    assert_eq!(autos(&mut a, &sys).iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), ["auto_20261130_1"]);
    // A new retention applies to later snapshots only; Modify takes the same bound as Create.
    a.err("ModifyAutoSnapshotPolicyEx", json!({"autoSnapshotPolicyId": sp, "retentionDays": 65536}), "InvalidRetentionDays.Malformed", 400);
    a.ok("ModifyAutoSnapshotPolicyEx", json!({"autoSnapshotPolicyId": sp, "retentionDays": 65535}));
    a.ok("ModifyAutoSnapshotPolicyEx", json!({"autoSnapshotPolicyId": sp, "retentionDays": -1}));
    advance(&mut a, 86_400.0);
    let now = autos(&mut a, &sys);
    assert_eq!(now.iter().map(|s| s.2.clone()).collect::<Vec<_>>(), [json!(2), Value::Null], "{now:?}");
    // Cancelled: no more runs.
    a.ok("CancelAutoSnapshotPolicy", json!({"diskIds": [sys]}));
    advance(&mut a, 3.0 * 86_400.0);
    assert_eq!(autos(&mut a, &sys).len(), 1, "the permanent one stays, no new ones");
    let p = a.ok("DescribeAutoSnapshotPolicyEx", json!({}));
    assert_eq!(p["AutoSnapshotPolicies"]["AutoSnapshotPolicy"][0]["DiskNums"], 0);
    // Deleted: gone, and its disks have no policy.
    a.ok("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": [sys]}));
    a.ok("DeleteAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp}));
    assert_eq!(a.ok("DescribeAutoSnapshotPolicyEx", json!({}))["TotalCount"], 0);
    let d = a.ok("DescribeDisks", json!({"DiskIds": [sys]}));
    assert_eq!(d["Disks"]["Disk"][0]["AutoSnapshotPolicyId"], "");
    a.err("DeleteAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp}), "InvalidAutoSnapshotPolicyId.NotFound", 404);
}

#[test]
fn a_full_disk_gives_up_its_oldest_automatic_snapshot_for_the_next_run() {
    let mut a = Api::new();
    let inst = a.instance(IMAGE, json!({}));
    let sys = a.system_disk(&inst);
    let every_hour: Vec<String> = (0..24).map(|h| h.to_string()).collect();
    let sp = a.ok("CreateAutoSnapshotPolicy", json!({"timePoints": every_hour, "repeatWeekdays": ["1", "2", "3", "4", "5", "6", "7"], "retentionDays": -1}))
        ["AutoSnapshotPolicyId"]
        .as_str()
        .unwrap()
        .to_string();
    a.ok("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": [sys]}));
    // A run while the previous automatic snapshot still uploads is skipped.
    block_on(a.ecs.advance_clock(3600.0)).unwrap();
    block_on(a.ecs.advance_clock(3600.0)).unwrap();
    a.upload_all();
    assert_eq!(autos(&mut a, &sys).len(), 1, "the overlapping run was skipped");
    advance(&mut a, 3600.0);
    let two = autos(&mut a, &sys);
    assert_eq!(two.len(), 2);
    for i in 0..62 {
        a.snapshot(&sys, json!({"SnapshotName": format!("manual-{i}")}));
    }
    a.err("CreateSnapshot", json!({"DiskId": sys}), "QuotaExceed.Snapshot", 403);
    advance(&mut a, 3600.0);
    let after = autos(&mut a, &sys);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[0].0, two[1].0, "the oldest automatic snapshot went");
    assert_ne!(after[1].0, two[1].0, "a new one was taken");
    let all = a.ok("DescribeSnapshots", json!({"DiskId": sys, "PageSize": 100}));
    assert_eq!(all["TotalCount"], 64);
    // With no automatic snapshot left to give up, the run is skipped.
    a.ok("CancelAutoSnapshotPolicy", json!({"diskIds": [sys]}));
    for (id, _, _) in after {
        a.ok("DeleteSnapshot", json!({"SnapshotId": id}));
    }
    a.snapshot(&sys, json!({}));
    a.snapshot(&sys, json!({}));
    a.ok("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": [sys]}));
    advance(&mut a, 3600.0);
    assert!(autos(&mut a, &sys).is_empty());
    assert_eq!(a.ok("DescribeSnapshots", json!({"DiskId": sys, "PageSize": 100}))["TotalCount"], 64);
}

#[test]
fn a_policy_runs_in_its_own_region_whichever_region_notices_the_hour() {
    let mut a = Api::new();
    let v = a.ok("RunInstances", json!({"RegionId": "cn-shanghai", "ImageId": IMAGE, "InstanceType": "ecs.g7.large"}));
    let inst = v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string();
    a.wait();
    let d = a.ok("DescribeDisks", json!({"RegionId": "cn-shanghai", "InstanceId": inst}));
    let sys = d["Disks"]["Disk"][0]["DiskId"].as_str().unwrap().to_string();
    let every_hour: Vec<String> = (0..24).map(|h| h.to_string()).collect();
    // regionId as these actions spell it.
    let sp = a.ok(
        "CreateAutoSnapshotPolicy",
        json!({"regionId": "cn-shanghai", "timePoints": every_hour, "repeatWeekdays": ["1", "2", "3", "4", "5", "6", "7"], "retentionDays": -1}),
    )["AutoSnapshotPolicyId"]
        .as_str()
        .unwrap()
        .to_string();
    a.err("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": sp, "diskIds": [sys]}), "InvalidAutoSnapshotPolicyId.NotFound", 404);
    a.ok("ApplyAutoSnapshotPolicy", json!({"regionId": "cn-shanghai", "autoSnapshotPolicyId": sp, "diskIds": [sys]}));
    // advanceClock and the tick work in the default region (cn-hangzhou).
    advance(&mut a, 3600.0);
    block_on(a.ecs.tick()).unwrap();
    let v = a.ok("DescribeSnapshots", json!({"RegionId": "cn-shanghai", "DiskId": sys, "SnapshotType": "auto"}));
    assert_eq!(v["TotalCount"], 1, "{v}");
    let v = a.ok("DescribeSnapshots", json!({"DiskId": sys, "SnapshotType": "auto"}));
    assert_eq!(v["TotalCount"], 0, "not in cn-hangzhou");
}

#[test]
fn buckets_and_objects_list_in_name_order_whatever_the_order_they_were_made_in() {
    let mut a = Api::new();
    for b in ["zeta", "alpha", "mid-bucket"] {
        block_on(a.ecs.oss_create_bucket(b)).unwrap();
    }
    assert_eq!(block_on(a.ecs.oss_list_buckets()).unwrap(), ["alpha", "mid-bucket", "zeta"]);
    for k in ["b/2", "a", "b/10", "c.txt", "b/1"] {
        block_on(a.ecs.oss_put("alpha", k, b"x")).unwrap();
    }
    let keys = |prefix: &str, a: &mut Api| block_on(a.ecs.oss_list("alpha", prefix)).unwrap().into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(keys("", &mut a), ["a", "b/1", "b/10", "b/2", "c.txt"]);
    assert_eq!(keys("b/", &mut a), ["b/1", "b/10", "b/2"]);
}
