//! Snapshots: CreateSnapshot, DescribeSnapshots, DeleteSnapshot,
//! ModifySnapshotAttribute, and rolling disks back to them (ResetDisk,
//! ResetDisks). Taking, checking and dropping a snapshot are in
//! `snapshot_ops`, shared with groups, policies and retention.

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, DiskStatus, InstanceStatus, Snapshot, SnapshotCategory, SnapshotStatus, SnapshotType};
use super::model::{BLOCK_SHIFT, GIB};
use super::params::{check_description, check_name, has_tags, newest_first, page, tag_quota, tags_json, Params};
use super::snapshot_ops::{self, SnapshotSpec, DAY_MS};
use super::time::{iso, parse as parse_time};
use super::{restore, upload};
use crate::engine::{MapRef, Store};
use crate::error::{Error, Result};

pub(super) async fn snapshot_json<S: Store>(cx: &mut Cx<'_, S>, s: &Snapshot) -> Result<Value> {
    let exclusive = if s.local_released { 0 } else { cx.t.exclusive_bytes(MapRef::Snapshot(s.engine)).await? };
    let (progress, remain) = match upload::task(cx, &s.id).await? {
        Some(t) if s.status == SnapshotStatus::Progressing => upload::progress(&t, cx.wall, cx.settings.upload_rate),
        _ => (s.progress, 0),
    };
    let mut v = json!({
        "SnapshotId": s.id,
        "SnapshotName": s.name,
        "Description": s.description,
        "SourceDiskId": s.source_disk_id,
        "SourceDiskSize": s.source_disk_size,
        "SourceDiskType": s.source_disk_type,
        "SourceStorageType": "disk",
        "Progress": format!("{progress}%"),
        "RemainTime": remain,
        "Status": s.status,
        "SnapshotType": s.snapshot_type,
        "Usage": s.usage(),
        "Category": s.category,
        "InstantAccess": s.instant_access,
        "Available": s.available(),
        "Encrypted": s.encrypted,
        "KMSKeyId": s.kms_key_id,
        "CreationTime": iso(s.created),
        "LastModifiedTime": iso(s.last_modified),
        "ResourceGroupId": s.resource_group,
        "Tags": tags_json(&s.tags),
        "SnapshotGroupId": s.group_id,
        "InstanceId": s.instance_id,
        "IncrementalBytes": s.incremental_bytes,
        "ExclusiveBytes": exclusive,
        "ReferencedBytes": s.referenced_bytes,
        "UploadedBytes": s.uploaded_bytes,
        "LocalCopyReleased": s.local_released,
        // Extensions: where its uploaded data is (embedded, or an S3-compatible
        // bucket), whether that store is connected, and whether this database
        // only reads it (recovered from another database's prefix).
        "StorageLocation": if s.store.is_empty() { "embedded" } else { "s3" },
        "ObjectStorageConnected": cx.store_connected(&s.store),
        "ReadOnlyInObjectStorage": !s.store.is_empty() && crate::snapstore::Place::parse(&s.store).is_some_and(|p| p.owner != cx.settings.s3_owner),
        "SourceSnapshotId": s.source_snapshot_id,
        "SourceRegionId": s.source_region_id,
        // Extension: the custom images that use it (they keep it past its retention).
        "ImageIds": s.images,
    });
    if s.status == SnapshotStatus::Progressing && !s.store.is_empty() {
        // Extension: why an upload to a bucket waits (it resumes by itself).
        let why = if !cx.store_connected(&s.store) {
            Some("object storage needs credentials: connect its bucket in Settings > Object Storage".to_string())
        } else {
            cx.x.borrow().last_error.clone()
        };
        if let Some(w) = why {
            v["UploadPaused"] = json!(w);
        }
    }
    if let Some(d) = s.retention_days {
        v["RetentionDays"] = json!(d);
        let left_ms = (s.created + d * DAY_MS).saturating_sub(cx.now);
        v["RemainingRetentionDays"] = json!(left_ms.div_ceil(DAY_MS));
    }
    if let Some(d) = s.instant_access_retention_days {
        v["InstantAccessRetentionDays"] = json!(d);
    }
    Ok(v)
}

pub async fn create_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let disk_id = p.required("DiskId")?;
    let spec = snapshot_spec(p)?;
    let disk = cx.disk(&disk_id).await?;
    snapshot_ops::check_category(&disk, &spec)?;
    snapshot_ops::check_allowed(cx, &disk, spec.category).await?;
    tag_quota(&spec.tags)?;
    let s = snapshot_ops::take(cx, &disk, &spec, "").await?;
    Ok(json!({"SnapshotId": s.id}))
}

pub async fn describe_snapshots<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let ids = p.json_list("SnapshotIds")?;
    if ids.len() > 100 {
        return Err(Error::invalid("SnapshotIds", "at most 100 ids"));
    }
    let instance = p.str("InstanceId");
    let disk = p.str("DiskId");
    let status = p.filter::<SnapshotStatus>("Status")?;
    let stype = p.filter::<SnapshotType>("SnapshotType")?;
    let usage = p.enumerated("Usage", &["image", "disk", "image_disk", "none"])?;
    let source = p.one_of("SourceDiskType")?;
    let category = p.one_of::<SnapshotCategory>("Category")?;
    let encrypted = p.bool("Encrypted")?;
    let rg = p.str("ResourceGroupId");
    let tags = p.tags()?;
    let name = p.str("SnapshotName");
    let start = match p.str("CreationStartTime") {
        Some(t) => Some(parse_time(&t).ok_or_else(|| Error::invalid("CreationStartTime", "yyyy-MM-ddTHH:mmZ"))?),
        None => None,
    };
    let end = match p.str("CreationEndTime") {
        Some(t) => Some(parse_time(&t).ok_or_else(|| Error::invalid("CreationEndTime", "yyyy-MM-ddTHH:mmZ"))?),
        None => None,
    };
    let mut all: Vec<Snapshot> = cx.scan(keys::SNAPSHOTS).await?;
    all.retain(|s| {
        s.region == cx.region
            && (ids.is_empty() || ids.contains(&s.id))
            && instance.as_ref().is_none_or(|i| &s.instance_id == i)
            && disk.as_ref().is_none_or(|d| &s.source_disk_id == d)
            && status.is_none_or(|st| s.status == st)
            && stype.is_none_or(|t| s.snapshot_type == t)
            && usage.is_none_or(|u| s.usage() == u)
            && source.is_none_or(|t| s.source_disk_type == t)
            && category.is_none_or(|c| s.category == c)
            && encrypted.is_none_or(|e| s.encrypted == e)
            && rg.as_ref().is_none_or(|g| &s.resource_group == g)
            && name.as_ref().is_none_or(|n| &s.name == n)
            && start.is_none_or(|t| s.created >= t)
            && end.is_none_or(|t| s.created <= t)
            && has_tags(&s.tags, &tags)
    });
    newest_first(&mut all, |x| (x.created, x.seq));
    // NextToken/MaxResults paging (instead of PageNumber/PageSize when given).
    let max_results = p.int("MaxResults", "InvalidParameter")?;
    let next_token = p.str("NextToken");
    if p.bool("DryRun")? == Some(true) {
        return Err(Error::bad("DryRunOperation", "Request validation has been passed with DryRun flag set."));
    }
    if max_results.is_some() || next_token.is_some() {
        let max = max_results.unwrap_or(10);
        if !(1..=100).contains(&max) {
            return Err(Error::invalid("MaxResults", "it is 1 to 100"));
        }
        let start = match &next_token {
            Some(t) => t.parse::<usize>().map_err(|_| Error::bad("InvalidNextToken.Malformed", "The NextToken is not one this API gave."))?,
            None => 0,
        };
        let total = all.len();
        let items: Vec<Snapshot> = all.into_iter().skip(start).take(max as usize).collect();
        let next = start + items.len();
        let mut out = Vec::new();
        for s in &items {
            out.push(snapshot_json(cx, s).await?);
        }
        let token = if next < total { next.to_string() } else { String::new() };
        return Ok(json!({"TotalCount": total, "NextToken": token, "Snapshots": {"Snapshot": out}}));
    }
    let (total, number, size, items) = page(all, p)?;
    let mut out = Vec::new();
    for s in &items {
        out.push(snapshot_json(cx, s).await?);
    }
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "NextToken": "", "Snapshots": {"Snapshot": out}}))
}

/// DescribeSnapshotsUsage: the region's snapshots and the bytes they occupy.
/// LocalSnapshotSize: their local copies, each block once however many
/// snapshots share it; NormalSnapshotSize: their data in OSS, each block once
/// (distinct blocks of their manifests). SnapshotSize is the two together.
pub async fn describe_snapshots_usage<S: Store>(cx: &mut Cx<'_, S>, _p: &Params) -> Result<Value> {
    let mut snaps: Vec<Snapshot> = cx.all_snapshots().await?;
    snaps.retain(|s| s.region == cx.region);
    let local: Vec<MapRef> = snaps.iter().filter(|s| !s.local_released).map(|s| MapRef::Snapshot(s.engine)).collect();
    let local = cx.t.union_bytes(&local).await?;
    let mut pages = std::collections::BTreeSet::new();
    let mut blocks = std::collections::BTreeSet::new();
    let mut normal = 0;
    for s in snaps.iter().filter(|s| s.category == SnapshotCategory::Standard) {
        let Some(m) = crate::snapstore::manifest(&mut cx.store_at(&s.store), &s.id).await? else { continue };
        for h in m.pages.values() {
            if pages.insert(h.clone()) {
                for b in crate::snapstore::load_page(&mut cx.store_at(&s.store), h).await?.into_values() {
                    if blocks.insert(b) {
                        normal += 1u64 << m.block_shift;
                    }
                }
            }
        }
    }
    Ok(json!({"SnapshotCount": snaps.len(), "SnapshotSize": local + normal, "LocalSnapshotSize": local, "NormalSnapshotSize": normal}))
}

pub async fn delete_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("SnapshotId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    // An unknown id is ignored, as ECS does.
    let Some(s) = cx.load::<Snapshot>(&keys::snapshot(&id)).await? else { return Ok(json!({})) };
    if !s.images.is_empty() {
        return Err(Error::forbidden(
            "SnapshotCreatedImage",
            format!("The snapshot is used by the image(s) {}; delete them first (Force does not help).", s.images.join(", ")),
        ));
    }
    if !s.disks_created.is_empty() && !force {
        return Err(Error::forbidden(
            "SnapshotCreatedDisk",
            format!(
                "Disks were created from this snapshot ({}); set Force=true to delete it anyway (those disks then cannot be re-initialised).",
                s.disks_created.join(", ")
            ),
        ));
    }
    snapshot_ops::drop(cx, &s).await?;
    Ok(json!({}))
}

pub async fn modify_snapshot_attribute<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("SnapshotId")?;
    let name = p.str("SnapshotName");
    if let Some(n) = &name {
        check_name(n, "InvalidSnapshotName.Malformed", "snapshot name", &["auto"])?;
    }
    let desc = p.str("Description");
    if let Some(d) = &desc {
        check_description(d)?;
    }
    let days = match p.int("RetentionDays", "InvalidRetentionDays.Malformed")? {
        Some(d) if !(1..=65_536).contains(&d) => return Err(Error::bad("InvalidRetentionDays.Malformed", "RetentionDays is 1 to 65536.")),
        d => d.map(|d| d as u64),
    };
    let disable_ia = p.bool("DisableInstantAccess")?;
    if name.is_none() && desc.is_none() && days.is_none() && disable_ia.is_none() {
        return Err(Error::bad("NoAttributeToModify", "Nothing to modify: give SnapshotName, Description, RetentionDays or DisableInstantAccess."));
    }
    let mut s = cx.snapshot(&id).await?;
    if let Some(n) = name {
        s.name = n;
    }
    if let Some(d) = desc {
        s.description = d;
    }
    if let Some(d) = days {
        // Retention is counted from creation: extending adds days to it.
        let age_days = cx.now.saturating_sub(s.created) / DAY_MS;
        if d <= age_days {
            return Err(Error::bad(
                "InvalidRetentionDays.Malformed",
                format!("The snapshot is {age_days} days old: a retention of {d} days would release it now."),
            ));
        }
        s.retention_days = Some(d);
    }
    if disable_ia == Some(true) {
        s.instant_access = false;
    }
    s.last_modified = cx.now;
    cx.put(&s);
    Ok(json!({}))
}

async fn reset_one<S: Store>(cx: &mut Cx<'_, S>, disk_id: &str, snapshot_id: &str) -> Result<()> {
    let mut disk = cx.disk(disk_id).await?;
    let snap = cx.snapshot(snapshot_id).await?;
    if snap.source_disk_id != disk.id {
        return Err(Error::bad("InvalidParameter.Mismatch", format!("The snapshot \"{snapshot_id}\" was not taken of the disk \"{disk_id}\".")));
    }
    if !matches!(disk.status, DiskStatus::InUse | DiskStatus::Available) {
        return Err(Error::forbidden("IncorrectDiskStatus", format!("The disk \"{disk_id}\" is {}; it must be In_use or Available.", disk.status)));
    }
    if disk.status == DiskStatus::InUse {
        let inst = cx.instance(&disk.instance_id).await?;
        if inst.status != InstanceStatus::Stopped {
            return Err(Error::forbidden(
                "IncorrectInstanceStatus",
                format!("The instance \"{}\" is {}: stop it before rolling its disk back.", inst.id, inst.status),
            ));
        }
    }
    if !snap.available() {
        return Err(Error::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{snapshot_id}\" is not ready yet.")));
    }
    if let Some(h) = disk.hydration.take() {
        restore::end_hydration(cx, &h).await?;
    }
    if snap.local_released {
        // The snapshot is only in OSS: a fresh volume, hydrated from it.
        let fresh = cx.t.create_sealed_volume(disk.size_gib * GIB, BLOCK_SHIFT, disk.data_key).await?;
        cx.t.delete_volume(disk.volume).await?;
        disk.volume = fresh;
        disk.hydration = Some(restore::hydration_for(cx, &snap).await?);
    } else {
        cx.t.rollback(disk.volume, snap.engine).await?;
        disk.hydration = None;
    }
    let back = disk.status;
    disk.status = DiskStatus::ReIniting;
    disk.plan = vec![(cx.now + super::model::STEP_MS, back)];
    cx.put(&disk);
    Ok(())
}

pub async fn reset_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let disk_id = p.required("DiskId")?;
    let snapshot_id = p.required("SnapshotId")?;
    reset_one(cx, &disk_id, &snapshot_id).await?;
    Ok(json!({}))
}

pub async fn reset_disks<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let mut pairs = Vec::new();
    for (n, d) in p.numbered("Disk") {
        let disk = d.get("DiskId").filter(|v| !v.is_empty()).cloned().ok_or_else(|| Error::missing(&format!("Disk.{n}.DiskId")))?;
        let snap = d.get("SnapshotId").filter(|v| !v.is_empty()).cloned().ok_or_else(|| Error::missing(&format!("Disk.{n}.SnapshotId")))?;
        pairs.push((disk, snap));
    }
    if pairs.is_empty() {
        return Err(Error::missing("Disk.1.DiskId"));
    }
    for (disk, snap) in &pairs {
        cx.disk(disk).await?;
        cx.snapshot(snap).await?;
    }
    let mut results = Vec::new();
    for (disk, snap) in &pairs {
        reset_one(cx, disk, snap).await?;
        results.push(json!({"DiskId": disk, "Success": true}));
    }
    Ok(json!({"OperationProgressSet": {"OperationProgress": [{"OperationStatus": "Success", "RelatedItemSet": {"RelatedItem": results}}]}}))
}

fn snapshot_spec(p: &Params) -> Result<SnapshotSpec> {
    let name = p.str("SnapshotName").unwrap_or_default();
    if !name.is_empty() {
        check_name(&name, "InvalidSnapshotName.Malformed", "snapshot name", &["auto"])?;
    }
    let description = p.str("Description").unwrap_or_default();
    if !description.is_empty() {
        check_description(&description)?;
    }
    let retention_days = snapshot_ops::retention_days(p)?;
    let category = p.one_of("Category")?.unwrap_or(SnapshotCategory::Standard);
    let instant_access = p.bool("InstantAccess")?;
    if category == SnapshotCategory::Flash && instant_access == Some(true) {
        return Err(Error::invalid("InstantAccess", "a local (flash) snapshot is not combined with InstantAccess"));
    }
    let ia_days = match p.int("InstantAccessRetentionDays", "InvalidParameter")? {
        Some(d) if !(1..=65_535).contains(&d) => return Err(Error::invalid("InstantAccessRetentionDays", "1 to 65535")),
        d => d.map(|d| d as u64),
    };
    Ok(SnapshotSpec {
        snapshot_type: SnapshotType::User,
        name,
        description,
        category,
        instant_access,
        ia_days,
        retention_days,
        tags: p.tags()?,
        resource_group: p.str("ResourceGroupId").unwrap_or_default(),
    })
}
