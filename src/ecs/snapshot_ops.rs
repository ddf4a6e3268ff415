//! Taking, checking and dropping a snapshot: the pieces CreateSnapshot,
//! snapshot-consistent groups, automatic snapshot policies, disks (which
//! release their automatic snapshots) and retention share. They sit below
//! every resource module, so none of those imports another to reach them.

use super::cx::Cx;
use super::model::{keys, Disk, DiskCategory, DiskStatus, InstanceStatus, Snapshot, SnapshotCategory, SnapshotGroup, SnapshotStatus, SnapshotType};
use super::params::Params;
use super::{restore, upload};
use crate::engine::Store;
use crate::error::{Error, Result};

/// Snapshots per disk, all kinds (seed 003), and local snapshots per ESSD (seed 000).
pub const SNAPSHOTS_PER_DISK: usize = 64;
pub const LOCAL_SNAPSHOTS_PER_ESSD: usize = 10;
pub const DAY_MS: u64 = 86_400_000;

/// What a new snapshot is to be (CreateSnapshot's parameters, a group's, a policy's).
pub struct SnapshotSpec {
    pub snapshot_type: SnapshotType,
    pub name: String,
    pub description: String,
    pub category: SnapshotCategory,
    pub instant_access: Option<bool>,
    pub ia_days: Option<u64>,
    pub retention_days: Option<u64>,
    pub tags: Vec<(String, String)>,
    pub resource_group: String,
}

/// RetentionDays of a new snapshot (CreateSnapshot, CopySnapshot): 1 to 65536, or none (kept for ever).
pub fn retention_days(p: &Params) -> Result<Option<u64>> {
    match p.int("RetentionDays", "InvalidRetentionDays.Malformed")? {
        Some(d) if !(1..=65_536).contains(&d) => {
            Err(Error::bad("InvalidRetentionDays.Malformed", "RetentionDays is 1 to 65536 (leave it out to keep the snapshot for ever)."))
        }
        d => Ok(d.map(|d| d as u64)),
    }
}

/// The checks of CreateSnapshot's parameters against the disk's category (400).
pub fn check_category(disk: &Disk, spec: &SnapshotSpec) -> Result<()> {
    let essd = disk.category == DiskCategory::Essd;
    if spec.category == SnapshotCategory::Flash && (!essd || disk.encrypted) {
        return Err(Error::bad("DiskCategory.OperationNotSupported", "A local snapshot can be created only for an unencrypted ESSD (cloud_essd)."));
    }
    if spec.instant_access == Some(true) && !essd {
        return Err(Error::bad("DiskCategory.OperationNotSupported", "Instant access is for ESSDs only."));
    }
    if spec.ia_days.is_some() && !(spec.category == SnapshotCategory::Standard && essd && spec.instant_access != Some(false)) {
        return Err(Error::invalid("InstantAccessRetentionDays", "instant access applies to normal snapshots of ESSDs only"));
    }
    Ok(())
}

/// The state and quota checks of CreateSnapshot for one disk.
pub async fn check_allowed<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, category: SnapshotCategory) -> Result<()> {
    let snaps = cx.all_snapshots().await?;
    check_state(cx, disk, &snaps).await?;
    check_quota(disk, &snaps, category)
}

/// The state checks of CreateSnapshot for one disk (403s); `snaps`: every snapshot.
pub async fn check_state<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, snaps: &[Snapshot]) -> Result<()> {
    // A disk whose key is locked takes no snapshot (its upload could not read it).
    if disk.data_key != 0 && !cx.t.engine().has_key(disk.data_key) {
        return Err(super::kms::data_key_locked(&cx.kms.borrow(), disk.data_key));
    }
    match disk.status {
        DiskStatus::InUse => {
            let inst = cx.instance(&disk.instance_id).await?;
            if !matches!(inst.status, InstanceStatus::Running | InstanceStatus::Stopped) {
                return Err(Error::forbidden(
                    "IncorrectInstanceStatus",
                    format!("The instance \"{}\" is {}; it must be Running or Stopped.", inst.id, inst.status),
                ));
            }
        }
        DiskStatus::Available => {
            if !disk.attached_once {
                return Err(Error::forbidden(
                    "IncorrectDiskStatus.NeverAttached",
                    "The disk has never been attached to an instance: its data has not changed since it was created, so there is nothing to snapshot.",
                ));
            }
        }
        other => {
            return Err(Error::forbidden("IncorrectDiskStatus", format!("The disk \"{}\" is {other}; it must be In_use or Available.", disk.id)));
        }
    }
    if let Some(h) = &disk.hydration {
        return Err(Error::forbidden(
            "IncorrectDiskStatus",
            format!("The disk is still being restored from OSS ({}%); snapshot it when the restore completes.", restore::hydration_progress(h)),
        ));
    }
    if snaps.iter().any(|s| s.source_disk_id == disk.id && s.status == SnapshotStatus::Progressing && s.source_snapshot_id.is_empty()) {
        return Err(Error::forbidden("IncorrectDiskStatus.CreatingSnapshot", "Another snapshot of this disk is still being created."));
    }
    Ok(())
}

/// The quota checks of CreateSnapshot for one disk (403s).
pub fn check_quota(disk: &Disk, snaps: &[Snapshot], category: SnapshotCategory) -> Result<()> {
    let mine: Vec<&Snapshot> = snaps.iter().filter(|s| s.source_disk_id == disk.id).collect();
    if mine.len() >= SNAPSHOTS_PER_DISK {
        return Err(Error::forbidden(
            "QuotaExceed.Snapshot",
            format!("The disk has {SNAPSHOTS_PER_DISK} snapshots, the most a disk may have. Delete some first."),
        ));
    }
    let local = mine.iter().filter(|s| s.category == SnapshotCategory::Flash).count();
    if category == SnapshotCategory::Flash && local >= LOCAL_SNAPSHOTS_PER_ESSD {
        return Err(Error::forbidden("QuotaExceed.Snapshot", format!("An ESSD keeps at most {LOCAL_SNAPSHOTS_PER_ESSD} local snapshots. Delete one first.")));
    }
    Ok(())
}

/// Takes the engine snapshot and writes its record; a normal snapshot's upload starts.
pub async fn take<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, spec: &SnapshotSpec, group: &str) -> Result<Snapshot> {
    let engine = cx.t.snapshot(disk.volume).await?;
    let info = cx.t.snapshot_info(engine).await?;
    let id = cx.new_id("s-");
    let seq = cx.next_seq();
    let essd = disk.category == DiskCategory::Essd;
    let standard = spec.category == SnapshotCategory::Standard;
    let s = Snapshot {
        id: id.clone(),
        seq,
        region: disk.region.clone(),
        name: if spec.name.is_empty() { id.clone() } else { spec.name.clone() },
        description: spec.description.clone(),
        engine,
        source_disk_id: disk.id.clone(),
        source_disk_size: disk.size_gib,
        source_disk_type: disk.disk_type,
        source_disk_category: disk.category,
        instance_id: disk.instance_id.clone(),
        snapshot_type: spec.snapshot_type,
        category: spec.category,
        instant_access: standard && essd && spec.instant_access.unwrap_or(true),
        instant_access_retention_days: if standard && essd { spec.ia_days.or(spec.retention_days) } else { None },
        retention_days: spec.retention_days,
        // A local snapshot is accomplished at once; a normal one when its upload to OSS completes.
        status: if standard { SnapshotStatus::Progressing } else { SnapshotStatus::Accomplished },
        progress: if standard { 0 } else { 100 },
        encrypted: disk.encrypted,
        kms_key_id: disk.kms_key_id.clone(),
        data_key: disk.data_key,
        created: cx.now,
        last_modified: cx.now,
        resource_group: spec.resource_group.clone(),
        tags: spec.tags.clone(),
        disks_created: vec![],
        images: vec![],
        group_id: group.to_string(),
        incremental_bytes: info.incremental_bytes,
        referenced_bytes: info.referenced_bytes,
        uploaded_bytes: 0,
        local_released: false,
        // A normal snapshot's data goes to the connected object storage, if any.
        store: if standard { cx.upload_place() } else { String::new() },
        source_snapshot_id: String::new(),
        source_region_id: String::new(),
    };
    cx.put(&s);
    if standard {
        upload::start(cx, &s, cx.wall).await?;
    }
    Ok(s)
}

/// An automatic snapshot (a policy's run): a normal snapshot with the
/// disk's defaults. The caller made CreateSnapshot's state and quota checks.
pub async fn take_auto<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, name: String, retention_days: Option<u64>) -> Result<Snapshot> {
    let spec = SnapshotSpec {
        snapshot_type: SnapshotType::Auto,
        name,
        description: String::new(),
        category: SnapshotCategory::Standard,
        instant_access: None,
        ia_days: None,
        retention_days,
        tags: vec![],
        resource_group: disk.resource_group.clone(),
    };
    take(cx, disk, &spec, "").await
}

/// Deletes a snapshot's engine snapshot, its uploaded data and its record,
/// and takes it out of its group.
pub async fn drop<S: Store>(cx: &mut Cx<'_, S>, s: &Snapshot) -> Result<()> {
    // Cancels an upload in progress, or releases the uploaded data.
    upload::release(cx, &s.id).await?;
    if !s.local_released {
        cx.t.delete_snapshot(s.engine).await?;
    }
    cx.delete(&keys::snapshot(&s.id));
    if !s.group_id.is_empty() {
        if let Some(mut g) = cx.load::<SnapshotGroup>(&keys::group(&s.group_id)).await? {
            g.snapshots.retain(|x| *x != s.id);
            cx.put(&g);
        }
    }
    Ok(())
}

/// Retention: releases snapshots whose retention ran out (unless an image
/// uses them), and ends instant access whose days ran out (an uploaded normal
/// snapshot then gives up its local copy: its data lives in OSS).
pub async fn expire<S: Store>(cx: &mut Cx<'_, S>) -> Result<()> {
    for mut s in cx.all_snapshots().await? {
        if let Some(days) = s.retention_days {
            if cx.now >= s.created.saturating_add(days.saturating_mul(DAY_MS)) && s.images.is_empty() {
                drop(cx, &s).await?;
                continue;
            }
        }
        if let Some(days) = s.instant_access_retention_days {
            if cx.now >= s.created.saturating_add(days.saturating_mul(DAY_MS)) && (s.instant_access || !s.local_released) {
                s.instant_access = false;
                if s.status == SnapshotStatus::Accomplished && s.category == SnapshotCategory::Standard && !s.local_released {
                    cx.t.delete_snapshot(s.engine).await?;
                    s.local_released = true;
                }
                s.last_modified = cx.now;
                cx.put(&s);
            }
        }
    }
    Ok(())
}
