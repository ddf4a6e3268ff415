//! Disks: CreateDisk (empty or from a snapshot), DescribeDisks, AttachDisk,
//! DetachDisk, DeleteDisk, ResizeDisk, and the size rules and constructor
//! RunInstances shares.

use serde_json::{json, Value};

use super::cx::Cx;
use super::kms::{self, Enc};
use super::model::{
    keys, settle, Disk, DiskCategory, DiskStatus, DiskType, EcsEnum, InstanceStatus, PerformanceLevel, Snapshot, SnapshotCategory, SnapshotType,
};
use super::model::{BLOCK_SHIFT, GIB, STEP_MS};
use super::params::{check_description, check_name, has_tags, newest_first, page, tag_quota, tags_json, Params};
use super::regions::check_zone;
use super::time::iso;
use super::{restore, snapshot_ops};
use crate::engine::{MapRef, SnapshotId, Store};
use crate::error::{Error, Result};

/// (min, max) GiB for a disk.
fn size_limits(category: DiskCategory, pl: PerformanceLevel, disk_type: DiskType) -> (u64, u64) {
    use DiskCategory::*;
    use PerformanceLevel::*;
    if disk_type == DiskType::System {
        return if category == Essd { (20, 2048) } else { (20, 500) };
    }
    match (category, pl) {
        (Basic, _) => (5, 2000),
        (Essd, Pl0) => (1, 65_536),
        (Essd, Pl2) => (461, 65_536),
        (Essd, Pl3) => (1261, 65_536),
        (Essd, _) => (20, 65_536),
        _ => (20, 32_768),
    }
}

/// `code` (400) unless `size` GiB fits a disk of this kind.
pub fn check_size(size: u64, category: DiskCategory, pl: PerformanceLevel, disk_type: DiskType, code: &str) -> Result<()> {
    let (lo, hi) = size_limits(category, pl, disk_type);
    if size < lo || size > hi {
        let pl = if pl == PerformanceLevel::None { String::new() } else { format!(" {pl}") };
        return Err(Error::bad(code, format!("A {disk_type} disk of category {category}{pl} has {lo} to {hi} GiB; {size} GiB was asked for.")));
    }
    Ok(())
}

/// The PerformanceLevel parameter `name`: PL1 by default for ESSDs, none for other categories.
pub fn performance_level(p: &Params, name: &str, category: DiskCategory) -> Result<PerformanceLevel> {
    let pl = p.enumerated(name, &PerformanceLevel::NAMES[1..])?;
    Ok(match category {
        DiskCategory::Essd => pl.and_then(EcsEnum::parse).unwrap_or(PerformanceLevel::Pl1),
        _ => PerformanceLevel::None,
    })
}

/// A new disk record and its engine volume (empty, or cloned from a snapshot).
#[allow(clippy::too_many_arguments)]
pub async fn new_disk<S: Store>(
    cx: &mut Cx<'_, S>,
    zone: &str,
    category: DiskCategory,
    pl: PerformanceLevel,
    size_gib: u64,
    disk_type: DiskType,
    from: Option<(SnapshotId, String)>,
    enc: Option<Enc>,
) -> Result<Disk> {
    let data_key = enc.as_ref().map_or(0, |e| e.data_key);
    let released = match &from {
        Some((_, id)) if !id.is_empty() => cx.load::<Snapshot>(&keys::snapshot(id)).await?.filter(|s| s.local_released),
        _ => None,
    };
    let mut hydration = None;
    let volume = match (&from, &released) {
        (_, Some(s)) => {
            // Only in OSS: an empty volume, filled from OSS on demand and in the background.
            hydration = Some(restore::hydration_for(cx, s).await?);
            cx.t.create_sealed_volume(size_gib * GIB, BLOCK_SHIFT, data_key).await?
        }
        (Some((engine, _)), None) if cx.t.snapshot_info(*engine).await?.key == data_key => cx.t.clone_snapshot(*engine, Some(size_gib * GIB)).await?,
        (Some((engine, _)), None) => {
            // A public image's plain content for an encrypted disk: copied, sealed.
            let v = cx.t.create_sealed_volume(size_gib * GIB, BLOCK_SHIFT, data_key).await?;
            copy_map(cx, *engine, v).await?;
            v
        }
        (None, None) => cx.t.create_sealed_volume(size_gib * GIB, BLOCK_SHIFT, data_key).await?,
    };
    let id = cx.new_id("d-");
    let seq = cx.next_seq();
    let source = from.map(|f| f.1).unwrap_or_default();
    if !source.is_empty() {
        if let Some(mut s) = cx.load::<Snapshot>(&keys::snapshot(&source)).await? {
            s.disks_created.push(id.clone());
            cx.put(&s);
        }
    }
    Ok(Disk {
        id: id.clone(),
        seq,
        region: cx.region.clone(),
        zone: zone.to_string(),
        name: id.clone(),
        description: String::new(),
        category,
        performance_level: pl,
        size_gib,
        disk_type,
        status: DiskStatus::Available,
        plan: vec![],
        instance_id: String::new(),
        device: String::new(),
        volume,
        encrypted: enc.is_some(),
        kms_key_id: enc.map(|e| e.kms_key_id).unwrap_or_default(),
        data_key,
        delete_auto_snapshot: true,
        auto_snapshot_policy_id: String::new(),
        delete_with_instance: false,
        attached_once: false,
        source_snapshot_id: source,
        image_id: String::new(),
        created: cx.now,
        resource_group: String::new(),
        tags: vec![],
        hydration,
    })
}

/// Copies what a snapshot holds into a volume (of the same block size).
async fn copy_map<S: Store>(cx: &mut Cx<'_, S>, from: SnapshotId, to: crate::engine::VolumeId) -> Result<()> {
    let bs = 1u64 << BLOCK_SHIFT;
    let size = cx.t.snapshot_info(from).await?.size;
    for (first, count) in cx.t.written_runs(MapRef::Snapshot(from)).await? {
        let (mut at, end) = (first * bs, ((first + count) * bs).min(size));
        while at < end {
            let n = (end - at).min(1 << 20);
            let data = cx.t.read(MapRef::Snapshot(from), at, n).await?;
            cx.t.write(to, at, &data).await?;
            at += n;
        }
    }
    Ok(())
}

pub async fn attach_new<S: Store>(cx: &mut Cx<'_, S>, mut disk: Disk, instance: &str, image_id: &str, letter: u8, dwi: bool) -> Result<()> {
    disk.status = DiskStatus::InUse;
    disk.instance_id = instance.to_string();
    disk.device = format!("/dev/xvd{}", letter as char);
    disk.attached_once = true;
    disk.delete_with_instance = dwi;
    disk.image_id = image_id.to_string();
    cx.put(&disk);
    Ok(())
}

pub async fn disk_json<S: Store>(cx: &mut Cx<'_, S>, d: &Disk) -> Result<Value> {
    let info = cx.t.volume_info(d.volume).await?;
    let hydration = d.hydration.as_ref().map(|h| format!("{}%", restore::hydration_progress(h))).unwrap_or_else(|| "100%".into());
    Ok(json!({
        "DiskId": d.id,
        "DiskName": d.name,
        "Description": d.description,
        "RegionId": d.region,
        "ZoneId": d.zone,
        "Category": d.category,
        "PerformanceLevel": d.performance_level,
        "Size": d.size_gib,
        "Type": d.disk_type,
        "Status": d.status,
        "InstanceId": d.instance_id,
        "Device": d.device,
        "Encrypted": d.encrypted,
        "KMSKeyId": d.kms_key_id,
        "DeleteAutoSnapshot": d.delete_auto_snapshot,
        "DeleteWithInstance": d.delete_with_instance,
        "EnableAutoSnapshot": !d.auto_snapshot_policy_id.is_empty(),
        "AutoSnapshotPolicyId": d.auto_snapshot_policy_id,
        "Portable": d.disk_type == DiskType::Data,
        "SourceSnapshotId": d.source_snapshot_id,
        "ImageId": d.image_id,
        "DiskChargeType": "PostPaid",
        "CreationTime": iso(d.created),
        "ResourceGroupId": d.resource_group,
        "Tags": tags_json(&d.tags),
        "ReferencedBytes": info.referenced_bytes,
        "WrittenSinceSnapshotBytes": info.written_since_base_bytes,
        "AttachedOnce": d.attached_once,
        "HydrationProgress": hydration,
    }))
}

pub async fn create_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    // Parameters.
    let zone = p.required("ZoneId")?;
    let category = p.one_of("DiskCategory")?.unwrap_or(DiskCategory::Basic);
    let pl = performance_level(p, "PerformanceLevel", category)?;
    let size = p.int("Size", "InvalidDiskSize.ValueNotSupported")?;
    if size.is_some_and(|s| s < 1) {
        return Err(Error::bad("InvalidDiskSize.ValueNotSupported", "Size must be positive."));
    }
    let snapshot_id = p.str("SnapshotId");
    if size.is_none() && snapshot_id.is_none() {
        return Err(Error::missing("Size"));
    }
    if let Some(n) = p.str("DiskName") {
        check_name(&n, "InvalidDiskName.Malformed", "disk name", &[])?;
    }
    if let Some(d) = p.str("Description") {
        check_description(&d)?;
    }
    let encrypted = p.bool("Encrypted")?.unwrap_or(false);
    let delete_auto_snapshot = p.bool("DeleteAutoSnapshot")?.unwrap_or(true);
    let tags = p.tags()?;
    if let Some(sz) = size {
        check_size(sz as u64, category, pl, DiskType::Data, "InvalidDiskSize.ValueNotSupported")?;
    }
    check_zone(cx, &zone)?;
    // Existence.
    let snap = match &snapshot_id {
        Some(s) => Some(cx.snapshot(s).await?),
        None => None,
    };
    // State.
    if let Some(s) = &snap {
        if s.category == SnapshotCategory::Flash && category != DiskCategory::Essd {
            return Err(Error::bad("DiskCategory.OperationNotSupported", "A local snapshot only makes ESSDs (cloud_essd)."));
        }
        if size.is_some_and(|sz| (sz as u64) < s.source_disk_size) {
            return Err(Error::bad("InvalidDiskSize.TooSmall", format!("The disk must be at least as large as the snapshot: {} GiB.", s.source_disk_size)));
        }
        if !s.available() {
            return Err(Error::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{}\" is not ready yet.", s.id)));
        }
    }
    let size = size.map(|s| s as u64).unwrap_or_else(|| snap.as_ref().unwrap().source_disk_size);
    check_size(size, category, pl, DiskType::Data, "InvalidDiskSize.ValueNotSupported")?;
    tag_quota(&tags)?;
    // Act.
    let from = snap.as_ref().map(|s| (s.engine, s.id.clone()));
    let enc = kms::for_new_disk(cx, encrypted, p.str("KMSKeyId").as_deref(), snap.as_ref()).await?;
    let mut d = new_disk(cx, &zone, category, pl, size, DiskType::Data, from, enc).await?;
    if let Some(n) = p.str("DiskName") {
        d.name = n;
    }
    d.description = p.str("Description").unwrap_or_default();
    d.status = DiskStatus::Creating;
    d.plan = vec![(cx.now + STEP_MS, DiskStatus::Available)];
    d.resource_group = p.str("ResourceGroupId").unwrap_or_default();
    d.tags = tags;
    d.delete_auto_snapshot = delete_auto_snapshot;
    let id = d.id.clone();
    cx.put(&d);
    Ok(json!({"DiskId": id}))
}

pub async fn describe_disks<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let ids = p.json_list("DiskIds")?;
    let instance = p.str("InstanceId");
    let zone = p.str("ZoneId");
    let disk_type = p.filter::<DiskType>("DiskType")?;
    let category = p.filter::<DiskCategory>("Category")?;
    let status = p.filter::<DiskStatus>("Status")?;
    let tags = p.tags()?;
    let mut all: Vec<Disk> = cx.scan(keys::DISKS).await?;
    for d in &mut all {
        if settle(&mut d.status, &mut d.plan, cx.now) {
            cx.put(&*d);
        }
    }
    all.retain(|d| {
        d.region == cx.region
            && (ids.is_empty() || ids.contains(&d.id))
            && instance.as_ref().is_none_or(|i| &d.instance_id == i)
            && zone.as_ref().is_none_or(|z| &d.zone == z)
            && disk_type.is_none_or(|t| d.disk_type == t)
            && category.is_none_or(|c| d.category == c)
            && status.is_none_or(|s| d.status == s)
            && has_tags(&d.tags, &tags)
    });
    newest_first(&mut all, |x| (x.created, x.seq));
    let (total, number, size, items) = page(all, p)?;
    let mut out = Vec::new();
    for d in &items {
        out.push(disk_json(cx, d).await?);
    }
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "Disks": {"Disk": out}}))
}

pub async fn attach_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let instance_id = p.required("InstanceId")?;
    let disk_id = p.required("DiskId")?;
    let dwi = p.bool("DeleteWithInstance")?;
    let inst = cx.instance(&instance_id).await?;
    let mut disk = cx.disk(&disk_id).await?;
    if disk.status != DiskStatus::Available {
        return Err(Error::forbidden("IncorrectDiskStatus", format!("The disk \"{disk_id}\" is {}; only an Available disk can be attached.", disk.status)));
    }
    if !matches!(inst.status, InstanceStatus::Running | InstanceStatus::Stopped) {
        return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{instance_id}\" is {}; it must be Running or Stopped.", inst.status)));
    }
    if disk.zone != inst.zone {
        return Err(Error::forbidden(
            "InvalidDiskId.ZoneMismatch",
            format!("The disk is in {} and the instance in {}: a disk attaches only to an instance in its zone.", disk.zone, inst.zone),
        ));
    }
    let disks: Vec<Disk> = cx.scan(keys::DISKS).await?;
    let used: Vec<String> = disks.iter().filter(|d| d.instance_id == instance_id).map(|d| d.device.clone()).collect();
    if used.len() >= 17 {
        return Err(Error::forbidden("InstanceDiskNumber.LimitExceed", "An instance has at most 16 data disks."));
    }
    let letter = (b'b'..=b'z').find(|l| !used.contains(&format!("/dev/xvd{}", *l as char))).unwrap();
    disk.status = DiskStatus::Attaching;
    disk.plan = vec![(cx.now + STEP_MS, DiskStatus::InUse)];
    disk.instance_id = instance_id;
    disk.device = format!("/dev/xvd{}", letter as char);
    disk.attached_once = true;
    if let Some(d) = dwi {
        disk.delete_with_instance = d;
    }
    cx.put(&disk);
    Ok(json!({}))
}

pub async fn detach_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let instance_id = p.required("InstanceId")?;
    let disk_id = p.required("DiskId")?;
    let inst = cx.instance(&instance_id).await?;
    let mut disk = cx.disk(&disk_id).await?;
    if disk.status != DiskStatus::InUse || disk.instance_id != instance_id {
        return Err(Error::forbidden("IncorrectDiskStatus", format!("The disk \"{disk_id}\" is not attached to \"{instance_id}\".")));
    }
    if disk.disk_type == DiskType::System && inst.status != InstanceStatus::Stopped {
        return Err(Error::forbidden("IncorrectInstanceStatus", "A system disk is detached only from a Stopped instance."));
    }
    if !matches!(inst.status, InstanceStatus::Running | InstanceStatus::Stopped) {
        return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance is {}.", inst.status)));
    }
    disk.status = DiskStatus::Detaching;
    disk.plan = vec![(cx.now + STEP_MS, DiskStatus::Available)];
    disk.instance_id.clear();
    disk.device.clear();
    cx.put(&disk);
    Ok(json!({}))
}

/// Deletes a disk's volume and record, and its automatic snapshots when it says so.
pub async fn remove_disk<S: Store>(cx: &mut Cx<'_, S>, d: &Disk) -> Result<()> {
    if d.delete_auto_snapshot {
        let snaps = cx.all_snapshots().await?;
        for s in snaps.iter().filter(|s| s.source_disk_id == d.id && s.snapshot_type == SnapshotType::Auto && s.images.is_empty()) {
            snapshot_ops::drop(cx, s).await?;
        }
    }
    if !d.source_snapshot_id.is_empty() {
        // The snapshot no longer has this disk created from it (Usage, SnapshotCreatedDisk).
        if let Some(mut s) = cx.load::<Snapshot>(&keys::snapshot(&d.source_snapshot_id)).await? {
            s.disks_created.retain(|x| *x != d.id);
            cx.put(&s);
        }
    }
    if let Some(h) = &d.hydration {
        restore::end_hydration(cx, h).await?;
    }
    cx.t.delete_volume(d.volume).await?;
    cx.delete(&keys::disk(&d.id));
    Ok(())
}

pub async fn delete_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("DiskId")?;
    let d = cx.disk(&id).await?;
    if d.status != DiskStatus::Available {
        return Err(Error::forbidden("IncorrectDiskStatus", format!("The disk \"{id}\" is {}; detach it first.", d.status)));
    }
    remove_disk(cx, &d).await?;
    Ok(json!({}))
}

/// ModifyDiskAttribute: a disk's name and description, and what happens
/// with it: DeleteWithInstance, DeleteAutoSnapshot (its automatic snapshots
/// are released with it) and EnableAutoSnapshot (false takes it out of its
/// automatic snapshot policy). DiskIds.N applies the flags to several disks.
pub async fn modify_disk_attribute<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let mut ids = p.list("DiskIds")?;
    if let Some(id) = p.str("DiskId") {
        ids.insert(0, id);
    }
    if ids.is_empty() {
        return Err(Error::missing("DiskId"));
    }
    let name = p.str("DiskName");
    if let Some(n) = &name {
        check_name(n, "InvalidDiskName.Malformed", "disk name", &[])?;
    }
    let description = p.str("Description");
    if let Some(d) = &description {
        check_description(d)?;
    }
    if ids.len() > 1 && (name.is_some() || description.is_some()) {
        return Err(Error::invalid("DiskIds", "DiskName and Description are for one disk (DiskId)"));
    }
    let dwi = p.bool("DeleteWithInstance")?;
    let das = p.bool("DeleteAutoSnapshot")?;
    let enable = p.bool("EnableAutoSnapshot")?;
    let mut disks = Vec::new();
    for id in &ids {
        disks.push(cx.disk(id).await?);
    }
    for mut d in disks {
        if let Some(n) = &name {
            d.name = n.clone();
        }
        if let Some(x) = &description {
            d.description = x.clone();
        }
        if let Some(b) = dwi {
            d.delete_with_instance = b;
        }
        if let Some(b) = das {
            d.delete_auto_snapshot = b;
        }
        if enable == Some(false) {
            d.auto_snapshot_policy_id.clear();
        }
        cx.put(&d);
    }
    Ok(json!({}))
}

pub async fn resize_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("DiskId")?;
    let new = p.int("NewSize", "InvalidDiskSize.ValueNotSupported")?.ok_or_else(|| Error::missing("NewSize"))?;
    let _ = p.enumerated("Type", &["offline", "online"])?;
    let mut d = cx.disk(&id).await?;
    if new < 1 || (new as u64) <= d.size_gib {
        return Err(Error::bad("InvalidDiskSize.TooSmall", format!("NewSize must be larger than the disk's {} GiB.", d.size_gib)));
    }
    check_size(new as u64, d.category, d.performance_level, d.disk_type, "InvalidDiskSize.ValueNotSupported")?;
    if !matches!(d.status, DiskStatus::InUse | DiskStatus::Available) {
        return Err(Error::forbidden("IncorrectDiskStatus", format!("The disk is {}.", d.status)));
    }
    cx.t.resize(d.volume, new as u64 * GIB).await?;
    d.size_gib = new as u64;
    cx.put(&d);
    Ok(json!({}))
}
