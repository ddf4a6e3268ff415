//! Records written by the release before typed records (statuses and
//! categories as strings, 0 for "no volume", a task's job as two fields)
//! still load, and save again byte for byte: what users' IndexedDB already
//! holds opens unchanged. The fixture lines were printed by that release
//! (commit 17221f3) from records built with these values.

use rowsnap::ecs::model::*;
use rowsnap::ecs::tasks::{Job, Task};
use rowsnap::ecs::upload::UploadTask;
use rowsnap::engine::{SnapshotId, VolumeId};
use serde::de::DeserializeOwned;
use serde::Serialize;

const FIXTURES: &str = include_str!("fixtures/records-before-enums.txt");

fn lines(kind: &str) -> Vec<&'static str> {
    FIXTURES.lines().filter_map(|l| l.strip_prefix(kind).and_then(|l| l.strip_prefix(' '))).collect()
}

/// Parses a stored record and saves it again: the same bytes.
fn round_trip<T: Serialize + DeserializeOwned>(json: &str) -> T {
    let v: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(serde_json::to_string(&v).unwrap(), json);
    v
}

#[test]
fn instances_and_disks() {
    let i: Instance = round_trip(lines("instance")[0]);
    assert_eq!((i.status, i.plan.clone()), (InstanceStatus::Running, vec![(5, InstanceStatus::Stopped)]));
    let d = lines("disk");
    let d1: Disk = round_trip(d[0]);
    assert_eq!((d1.category, d1.performance_level, d1.disk_type, d1.status), (DiskCategory::Essd, PerformanceLevel::Pl1, DiskType::System, DiskStatus::InUse));
    assert_eq!(d1.volume, VolumeId(12));
    let d2: Disk = round_trip(d[1]);
    assert_eq!(
        (d2.category, d2.performance_level, d2.disk_type, d2.status),
        (DiskCategory::Basic, PerformanceLevel::None, DiskType::Data, DiskStatus::ReIniting)
    );
}

#[test]
fn snapshots_images_groups() {
    let s = lines("snapshot");
    let s1: Snapshot = round_trip(s[0]);
    assert_eq!(
        (s1.snapshot_type, s1.category, s1.status, s1.engine),
        (SnapshotType::Auto, SnapshotCategory::Flash, SnapshotStatus::Accomplished, SnapshotId(21))
    );
    assert!(s1.available());
    let s2: Snapshot = round_trip(s[1]);
    assert_eq!(
        (s2.snapshot_type, s2.category, s2.status, s2.source_disk_category),
        (SnapshotType::User, SnapshotCategory::Standard, SnapshotStatus::Progressing, DiskCategory::Efficiency)
    );
    let m = lines("image");
    let m1: Image = round_trip(m[0]);
    assert_eq!((m1.owner_alias, m1.status, m1.mappings[0].disk_type), (ImageOwner::Own, ImageStatus::Creating, DiskType::System));
    let m2: Image = round_trip(m[1]);
    assert_eq!((m2.owner_alias, m2.status), (ImageOwner::System, ImageStatus::CreateFailed));
    let g: SnapshotGroup = round_trip(lines("group")[0]);
    assert_eq!(g.status, SnapshotStatus::Accomplished);
}

#[test]
fn tasks_and_uploads() {
    let t = lines("task");
    let t1: Task = round_trip(t[0]);
    match &t1.job {
        Job::Import(j) => assert_eq!((j.format, j.volume), (ImportFormat::Detect, None)),
        other => panic!("{other:?}"),
    }
    assert_eq!((t1.action, t1.status), (TaskAction::ImportImage, TaskStatus::Processing));
    let t2: Task = round_trip(t[1]);
    assert_eq!((t2.action, t2.status), (TaskAction::ExportDisk, TaskStatus::Failed));
    assert_eq!(t2.export().map(|e| (e.engine, e.format)), Some((Some(SnapshotId(33)), ExportFormat::Qcow2)));
    let t3: Task = round_trip(t[2]);
    assert_eq!(t3.export().map(|e| (e.engine, e.format)), Some((None, ExportFormat::Raw)));
    let t4: Task = round_trip(t[3]);
    match &t4.job {
        Job::Import(j) => assert_eq!((j.format, j.volume), (ImportFormat::Qcow2, Some(VolumeId(44)))),
        other => panic!("{other:?}"),
    }
    let u: UploadTask = round_trip(lines("upload")[0]);
    assert_eq!(u.engine, SnapshotId(22));
}

#[test]
fn enum_parameters_are_case_insensitive_and_spelled_as_ecs_spells_them() {
    assert_eq!(<DiskStatus as EcsEnum>::parse("in_use"), Some(DiskStatus::InUse));
    assert_eq!(<SnapshotCategory as EcsEnum>::parse("Flash"), Some(SnapshotCategory::Flash));
    assert_eq!(<DiskCategory as EcsEnum>::parse("cloud_ESSD"), Some(DiskCategory::Essd));
    assert_eq!(<DiskCategory as EcsEnum>::parse("ssd"), None);
    assert_eq!(DiskStatus::InUse.to_string(), "In_use");
    assert_eq!(serde_json::to_string(&ImageOwner::Own).unwrap(), "\"self\"");
}
