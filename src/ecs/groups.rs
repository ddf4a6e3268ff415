//! Snapshot-consistent groups: CreateSnapshotGroup (one point in time
//! across up to 10 ESSDs of one instance, in one transaction: all its disks,
//! those of DiskId.N, or all but those of ExcludeDiskId.N),
//! DescribeSnapshotGroups, DeleteSnapshotGroup.

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, Disk, DiskCategory, InstanceStatus, Snapshot, SnapshotCategory, SnapshotGroup, SnapshotStatus, SnapshotType};
use super::params::{check_description, check_name, newest_first, tag_quota, tags_json, Params};
use super::snapshot_ops::{self, SnapshotSpec};
use super::snapshots::snapshot_json;
use super::time::iso;
use crate::engine::Store;
use crate::error::{Error, Result};

fn group_json(g: &SnapshotGroup, snaps: &[Value]) -> Value {
    json!({
        "SnapshotGroupId": g.id,
        "Name": g.name,
        "Description": g.description,
        "InstanceId": g.instance_id,
        "Status": g.status,
        "CreationTime": iso(g.created),
        "ResourceGroupId": g.resource_group,
        "Tags": tags_json(&g.tags),
        "ProgressStatus": "",
        "Snapshots": {"Snapshot": snaps},
    })
}

pub async fn create_snapshot_group<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let instance_id = p.required("InstanceId")?;
    let exclude = p.list("ExcludeDiskId")?;
    let include = p.list("DiskId")?;
    let name = p.str("Name");
    if let Some(n) = &name {
        check_name(n, "InvalidName.Malformed", "snapshot-consistent group name", &[])?;
    }
    if let Some(d) = p.str("Description") {
        check_description(&d)?;
    }
    let ia = p.bool("InstantAccess")?;
    let ia_days = match p.int("InstantAccessRetentionDays", "InvalidParameter")? {
        Some(d) if !(1..=65_535).contains(&d) => return Err(Error::invalid("InstantAccessRetentionDays", "1 to 65535")),
        d => d.map(|d| d as u64),
    };
    let tags = p.tags()?;
    if !include.is_empty() && !exclude.is_empty() {
        return Err(Error::invalid("ExcludeDiskId", "DiskId.N and ExcludeDiskId.N are not given together"));
    }
    let inst = cx.instance(&instance_id).await?;
    for id in exclude.iter().chain(&include) {
        if cx.disk(id).await?.instance_id != instance_id {
            return Err(Error::invalid("DiskId", format!("the disk {id} is not attached to the instance {instance_id}")));
        }
    }
    let disks: Vec<Disk> = cx.all_disks().await?;
    let chosen: Vec<Disk> =
        disks.into_iter().filter(|d| d.instance_id == instance_id && !exclude.contains(&d.id) && (include.is_empty() || include.contains(&d.id))).collect();
    if chosen.is_empty() {
        return Err(Error::invalid("DiskId", "no disk of the instance is left to snapshot"));
    }
    if let Some(d) = chosen.iter().find(|d| d.category != DiskCategory::Essd) {
        return Err(Error::bad(
            "DiskCategory.OperationNotSupported",
            format!("A snapshot-consistent group covers ESSDs only; exclude {} ({}) with ExcludeDiskId.N.", d.id, d.category),
        ));
    }
    if !matches!(inst.status, InstanceStatus::Running | InstanceStatus::Stopped) {
        return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance is {}; it must be Running or Stopped.", inst.status)));
    }
    for d in &chosen {
        snapshot_ops::check_allowed(cx, d, SnapshotCategory::Standard).await?;
    }
    if chosen.len() > 10 {
        return Err(Error::forbidden("QuotaExceed.DiskCount", "A snapshot-consistent group covers at most 10 disks."));
    }
    if chosen.iter().map(|d| d.size_gib).sum::<u64>() > 32 * 1024 {
        return Err(Error::forbidden("QuotaExceed.DiskCapacity", "A snapshot-consistent group covers at most 32 TiB of disks."));
    }
    tag_quota(&tags)?;
    let id = cx.new_id("ssg-");
    let spec = SnapshotSpec {
        snapshot_type: SnapshotType::User,
        name: String::new(),
        description: String::new(),
        category: SnapshotCategory::Standard,
        instant_access: ia,
        ia_days,
        retention_days: None,
        tags: tags.clone(),
        resource_group: p.str("ResourceGroupId").unwrap_or_default(),
    };
    let mut snaps = Vec::new();
    for d in &chosen {
        snaps.push(snapshot_ops::take(cx, d, &spec, &id).await?.id);
    }
    let seq = cx.next_seq();
    let g = SnapshotGroup {
        id: id.clone(),
        seq,
        region: cx.region.clone(),
        name: name.unwrap_or_else(|| id.clone()),
        description: p.str("Description").unwrap_or_default(),
        instance_id,
        snapshots: snaps,
        status: SnapshotStatus::Accomplished,
        created: cx.now,
        resource_group: spec.resource_group,
        tags,
    };
    cx.put(&g);
    Ok(json!({"SnapshotGroupId": id}))
}

pub async fn describe_snapshot_groups<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let ids = p.list("SnapshotGroupId")?;
    let instance = p.str("InstanceId");
    let name = p.str("Name");
    let mut all: Vec<SnapshotGroup> = cx.scan(keys::GROUPS).await?;
    all.retain(|g| {
        g.region == cx.region
            && (ids.is_empty() || ids.contains(&g.id))
            && instance.as_ref().is_none_or(|i| &g.instance_id == i)
            && name.as_ref().is_none_or(|n| &g.name == n)
    });
    newest_first(&mut all, |x| (x.created, x.seq));
    let mut out = Vec::new();
    for g in &all {
        let mut snaps = Vec::new();
        for sid in &g.snapshots {
            if let Some(s) = cx.load::<Snapshot>(&keys::snapshot(sid)).await? {
                snaps.push(snapshot_json(cx, &s).await?);
            }
        }
        out.push(group_json(g, &snaps));
    }
    Ok(json!({"SnapshotGroups": {"SnapshotGroup": out}}))
}

pub async fn delete_snapshot_group<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("SnapshotGroupId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    let g: SnapshotGroup = cx
        .load(&keys::group(&id))
        .await?
        .ok_or_else(|| Error::not_found("InvalidSnapshotGroupId.NotFound", format!("The snapshot-consistent group \"{id}\" does not exist.")))?;
    let mut snaps = Vec::new();
    for sid in &g.snapshots {
        if let Some(s) = cx.load::<Snapshot>(&keys::snapshot(sid)).await? {
            if !s.images.is_empty() {
                return Err(Error::forbidden("SnapshotCreatedImage", format!("The snapshot {} is used by an image.", s.id)));
            }
            if !s.disks_created.is_empty() && !force {
                return Err(Error::forbidden(
                    "SnapshotCreatedDisk",
                    format!("Disks were created from the snapshot {}; set Force=true to delete the group anyway.", s.id),
                ));
            }
            snaps.push(s);
        }
    }
    for s in &snaps {
        snapshot_ops::drop(cx, s).await?;
    }
    cx.delete(&keys::group(&id));
    Ok(json!({"OperationProgressSet": {"OperationProgress": [{"OperationStatus": "Success"}]}}))
}
