//! Instances: RunInstances (an instance, its disks from the image's
//! mappings and DataDisk.N), DescribeInstances, Start/Stop/RebootInstance,
//! DeleteInstance. States move by themselves (plans): Pending -> Starting ->
//! Running, Stopping -> Stopped.

use serde_json::{json, Value};

use super::cx::Cx;
use super::disks::{attach_new, check_size, new_disk, performance_level, remove_disk};
use super::model::STEP_MS;
use super::model::{
    keys, settle, Disk, DiskCategory, DiskStatus, DiskType, ImageStatus, Instance, InstanceStatus, PerformanceLevel, Snapshot, SnapshotCategory,
};
use super::params::{check_description, check_name, has_tags, newest_first, page, tag_quota, tags_json, Params};
use super::regions::{check_zone, zones, INSTANCE_TYPES};
use super::time::iso;
use super::{guest, kms};
use crate::engine::Store;
use crate::error::{Error, Result};

pub fn instance_json(i: &Instance, live: &[String], paused: &std::collections::BTreeMap<String, String>, locked: &[String], vm_mib: u32) -> Value {
    let (cpu, mem) = INSTANCE_TYPES.iter().find(|t| t.0 == i.instance_type).map(|t| (t.1, t.2)).unwrap_or((2, 8192));
    json!({
        "InstanceId": i.id,
        "InstanceName": i.name,
        "HostName": i.host_name,
        "Description": i.description,
        "RegionId": i.region,
        "ZoneId": i.zone,
        "Status": i.status,
        "ImageId": i.image_id,
        "InstanceType": i.instance_type,
        "Cpu": cpu,
        "Memory": mem,
        "InstanceChargeType": "PostPaid",
        "CreationTime": iso(i.created),
        "ResourceGroupId": i.resource_group,
        "Tags": tags_json(&i.tags),
        // Extension: whether its image boots in the browser, and whether its machine is alive in this tab.
        // "key_locked": a disk's KMS key is locked; the machine boots once it is unlocked.
        // "paused": its machine waits on a read or write that failed (VmPauseReason says why).
        "VmStatus": match (i.vm, live.contains(&i.id)) {
            (false, _) => "none",
            (true, true) if paused.contains_key(&i.id) => "paused",
            (true, true) => "live",
            (true, false) if locked.contains(&i.id) => "key_locked",
            (true, false) => "off",
        },
        "VmPauseReason": paused.get(&i.id).map(String::as_str).unwrap_or(""),
        // Extension: the memory its machine gets (the setting, capped by the type's memory).
        "VmMemoryMiB": if i.vm { guest::memory_mib(&i.instance_type, vm_mib) } else { 0 },
    })
}

pub async fn run_instances<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    // Parameters.
    let image_id = p.required("ImageId")?;
    let instance_type = p.str("InstanceType").unwrap_or_else(|| "ecs.g7.large".into());
    if !INSTANCE_TYPES.iter().any(|t| t.0 == instance_type) {
        return Err(Error::bad(
            "InvalidInstanceType.ValueNotSupported",
            format!("The instance type \"{instance_type}\" is not offered. Offered: {}.", INSTANCE_TYPES.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")),
        ));
    }
    let amount = p.int("Amount", "InvalidParameter")?.unwrap_or(1);
    if !(1..=100).contains(&amount) {
        return Err(Error::invalid("Amount", "1 to 100"));
    }
    if let Some(n) = p.str("InstanceName") {
        check_name(&n, "InvalidInstanceName.Malformed", "instance name", &[])?;
    }
    if let Some(d) = p.str("Description") {
        check_description(&d)?;
    }
    let sys_category = p.one_of("SystemDisk.Category")?.unwrap_or(DiskCategory::Essd);
    let sys_pl = performance_level(p, "SystemDisk.PerformanceLevel", sys_category)?;
    let sys_size = p.int("SystemDisk.Size", "InvalidSystemDiskSize.ValueNotSupported")?;
    let sys_encrypted = p.bool("SystemDisk.Encrypted")?.unwrap_or(false);
    let tags = p.tags()?;
    struct DataSpec {
        size: Option<u64>,
        category: DiskCategory,
        pl: PerformanceLevel,
        snapshot: Option<String>,
        delete_with_instance: bool,
        encrypted: bool,
        kms_key_id: Option<String>,
        name: Option<String>,
    }
    let mut data = Vec::new();
    for (n, d) in p.numbered("DataDisk") {
        let sub = Params::from_value(&serde_json::to_value(&d).unwrap())?;
        let category = sub.one_of("Category")?.unwrap_or(DiskCategory::Efficiency);
        let size = sub.int("Size", "InvalidDataDiskSize.ValueNotSupported")?;
        if size.is_some_and(|s| s < 1) {
            return Err(Error::bad("InvalidDataDiskSize.ValueNotSupported", format!("DataDisk.{n}.Size must be positive.")));
        }
        data.push(DataSpec {
            size: size.map(|s| s as u64),
            category,
            pl: performance_level(&sub, "PerformanceLevel", category)?,
            snapshot: sub.str("SnapshotId"),
            delete_with_instance: sub.bool("DeleteWithInstance")?.unwrap_or(true),
            encrypted: sub.bool("Encrypted")?.unwrap_or(false),
            kms_key_id: sub.str("KMSKeyId"),
            name: sub.str("DiskName"),
        });
    }
    if data.len() > 16 {
        return Err(Error::invalid("DataDisk", "at most 16 data disks"));
    }
    let zone = match p.str("ZoneId") {
        Some(z) => {
            check_zone(cx, &z)?;
            z
        }
        None => {
            let zones = zones(&cx.region);
            zones[cx.rng.below(zones.len() as u64) as usize].to_string()
        }
    };
    // Existence.
    let img = cx.image(&image_id).await?;
    let mut data_snaps = Vec::new();
    for d in &data {
        data_snaps.push(match &d.snapshot {
            Some(s) => Some(cx.snapshot(s).await?),
            None => None,
        });
    }
    for m in img.mappings.iter().filter(|m| m.disk_type == DiskType::System && !m.snapshot_id.is_empty()) {
        if let Some(s) = cx.load::<Snapshot>(&keys::snapshot(&m.snapshot_id)).await? {
            if s.category == SnapshotCategory::Flash && sys_category != DiskCategory::Essd {
                return Err(Error::bad(
                    "DiskCategory.OperationNotSupported",
                    "This image's system disk comes from a local snapshot, which makes only ESSDs: use SystemDisk.Category=cloud_essd.",
                ));
            }
        }
    }
    // State.
    if img.status != ImageStatus::Available {
        return Err(Error::forbidden("InvalidImageId.NotReady", format!("The image \"{image_id}\" is {}.", img.status)));
    }
    let sys_size = sys_size.map(|s| s as u64).unwrap_or(img.size_gib.max(20));
    if sys_size < img.size_gib {
        return Err(Error::bad(
            "InvalidSystemDiskSize.LessThanImageSize",
            format!("The system disk ({sys_size} GiB) is smaller than the image ({} GiB).", img.size_gib),
        ));
    }
    check_size(sys_size, sys_category, sys_pl, DiskType::System, "InvalidSystemDiskSize.ValueNotSupported")?;
    for (d, s) in data.iter().zip(&data_snaps) {
        if let Some(s) = s {
            if !s.available() {
                return Err(Error::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{}\" is not ready yet.", s.id)));
            }
            if s.category == SnapshotCategory::Flash && d.category != DiskCategory::Essd {
                return Err(Error::bad("DiskCategory.OperationNotSupported", "A local snapshot only makes ESSDs (cloud_essd)."));
            }
            if d.size.is_some_and(|sz| sz < s.source_disk_size) {
                return Err(Error::bad("InvalidDiskSize.TooSmall", format!("The data disk is smaller than the snapshot's {} GiB.", s.source_disk_size)));
            }
        }
        let size = d.size.or(s.as_ref().map(|s| s.source_disk_size)).ok_or_else(|| Error::missing("DataDisk.N.Size"))?;
        check_size(size, d.category, d.pl, DiskType::Data, "InvalidDataDiskSize.ValueNotSupported")?;
    }
    tag_quota(&tags)?;
    let vm = !img.boot.is_empty();
    if vm {
        let all: Vec<Instance> = cx.scan(keys::INSTANCES).await?;
        guest::check_cap(&all, cx.settings.max_vms.unwrap_or(guest::DEFAULT_MAX_VMS), amount as usize)?;
    }
    // Act.
    let mut ids = Vec::new();
    for k in 0..amount {
        let id = cx.new_id("i-");
        let seq = cx.next_seq();
        let name = p.str("InstanceName").map(|n| if amount > 1 { format!("{n}-{:03}", k + 1) } else { n }).unwrap_or_else(|| id.clone());
        let inst = Instance {
            id: id.clone(),
            seq,
            region: cx.region.clone(),
            zone: zone.clone(),
            name,
            host_name: p.str("HostName").unwrap_or_else(|| format!("iZ{}Z", &id[2..])),
            description: p.str("Description").unwrap_or_default(),
            image_id: image_id.clone(),
            instance_type: instance_type.clone(),
            status: InstanceStatus::Pending,
            // A machine makes a VM instance Running when it runs (`guest`).
            plan: if vm {
                vec![(cx.now + STEP_MS, InstanceStatus::Starting)]
            } else {
                vec![(cx.now + STEP_MS, InstanceStatus::Starting), (cx.now + 2 * STEP_MS, InstanceStatus::Running)]
            },
            created: cx.now,
            resource_group: p.str("ResourceGroupId").unwrap_or_default(),
            tags: tags.clone(),
            vm,
            force_stop: false,
        };
        cx.put(&inst);
        // Disks: the image's mappings (system first), then DataDisk.N.
        let mut letter = b'a';
        for m in &img.mappings {
            let system = m.disk_type == DiskType::System;
            let (category, pl, size) = if system { (sys_category, sys_pl, sys_size) } else { (DiskCategory::Essd, PerformanceLevel::Pl1, m.size_gib.max(20)) };
            // A custom image's snapshot decides (an encrypted one stays encrypted);
            // a public image's content is copied sealed when asked to encrypt.
            let snap = if m.snapshot_id.is_empty() { None } else { cx.load::<Snapshot>(&keys::snapshot(&m.snapshot_id)).await? };
            let kms_key_id = if system { p.str("SystemDisk.KMSKeyId") } else { None };
            let enc = kms::for_new_disk(cx, system && sys_encrypted, kms_key_id.as_deref(), snap.as_ref()).await?;
            let disk = new_disk(cx, &zone, category, pl, size, m.disk_type, Some((m.engine, m.snapshot_id.clone())), enc).await?;
            attach_new(cx, disk, &id, &image_id, letter, true).await?;
            letter += 1;
        }
        for (d, s) in data.iter().zip(&data_snaps) {
            let size = d.size.or(s.as_ref().map(|s| s.source_disk_size)).unwrap();
            let from = s.as_ref().map(|s| (s.engine, s.id.clone()));
            let enc = kms::for_new_disk(cx, d.encrypted, d.kms_key_id.as_deref(), s.as_ref()).await?;
            let mut disk = new_disk(cx, &zone, d.category, d.pl, size, DiskType::Data, from, enc).await?;
            if let Some(n) = &d.name {
                disk.name = n.clone();
            }
            attach_new(cx, disk, &id, "", letter, d.delete_with_instance).await?;
            letter += 1;
        }
        ids.push(id);
    }
    Ok(json!({"InstanceIdSets": {"InstanceIdSet": ids}}))
}

pub async fn describe_instances<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let ids = p.json_list("InstanceIds")?;
    let zone = p.str("ZoneId");
    let status = p.one_of::<InstanceStatus>("Status")?;
    let name = p.str("InstanceName");
    let tags = p.tags()?;
    let rg = p.str("ResourceGroupId");
    let mut all: Vec<Instance> = cx.scan(keys::INSTANCES).await?;
    let locked = guest::key_locked(cx).await?;
    let vm_mib = cx.settings.vm_memory_mib.unwrap_or(guest::DEFAULT_VM_MIB);
    for i in &mut all {
        if settle(&mut i.status, &mut i.plan, cx.now) {
            cx.put(&*i);
        }
    }
    all.retain(|i| {
        i.region == cx.region
            && (ids.is_empty() || ids.contains(&i.id))
            && zone.as_ref().is_none_or(|z| &i.zone == z)
            && status.is_none_or(|s| i.status == s)
            && name.as_ref().is_none_or(|n| i.name.contains(n.as_str()))
            && rg.as_ref().is_none_or(|g| &i.resource_group == g)
            && has_tags(&i.tags, &tags)
    });
    newest_first(&mut all, |x| (x.created, x.seq));
    let (total, number, size, items) = page(all, p)?;
    Ok(
        json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "Instances": {"Instance": items.iter().map(|i| instance_json(i, &cx.live, &cx.paused, &locked, vm_mib)).collect::<Vec<_>>()}}),
    )
}

pub async fn start_instance<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    power(cx, p, Power::Start).await
}

pub async fn stop_instance<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    power(cx, p, Power::Stop).await
}

pub async fn reboot_instance<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    power(cx, p, Power::Reboot).await
}

/// ResumeInstance (a rowsnap action; ECS has no paused state): the host of the
/// instance's paused machine retries the guest's waiting read or write now,
/// and the machine goes on if it succeeds (it stays paused, with the new
/// reason, if it does not).
pub async fn resume_instance<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("InstanceId")?;
    let i = cx.instance(&id).await?;
    if !cx.paused.contains_key(&i.id) {
        let why = if !i.vm {
            "has no machine in the browser".to_string()
        } else if cx.live.contains(&i.id) {
            "runs (its machine is not paused)".to_string()
        } else {
            format!("is {} with no machine in this tab", i.status)
        };
        return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{id}\" {why}: only a paused machine resumes.")));
    }
    cx.resume.push(i.id.clone());
    Ok(json!({}))
}

#[derive(Clone, Copy)]
enum Power {
    Start,
    Stop,
    Reboot,
}

async fn power<S: Store>(cx: &mut Cx<'_, S>, p: &Params, what: Power) -> Result<Value> {
    use InstanceStatus::*;
    let id = p.required("InstanceId")?;
    let force = p.bool("ForceStop")?.unwrap_or(false);
    let mut i = cx.instance(&id).await?;
    let now = cx.now;
    let (need, plan) = match what {
        Power::Start => (Stopped, vec![(now, Starting), (now + STEP_MS, Running)]),
        Power::Stop => (Running, vec![(now, Stopping), (now + STEP_MS, Stopped)]),
        Power::Reboot => (Running, vec![(now, Stopping), (now + STEP_MS, Starting), (now + 2 * STEP_MS, Running)]),
    };
    if i.status != need {
        return Err(Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{id}\" is {}; this action needs it {need}.", i.status)));
    }
    if i.vm && matches!(what, Power::Start) {
        let all: Vec<Instance> = cx.scan(keys::INSTANCES).await?;
        guest::check_cap(&all, cx.settings.max_vms.unwrap_or(guest::DEFAULT_MAX_VMS), 1)?;
    }
    i.status = plan[0].1;
    i.plan = plan[1..].to_vec();
    if i.vm {
        // The machine moves it on: Starting -> Running when it runs, Stopping ->
        // Stopped when it has halted; a reboot is Starting again.
        i.plan.clear();
        i.force_stop = force && matches!(what, Power::Stop);
        if matches!(what, Power::Reboot) {
            i.status = Starting;
        }
    }
    cx.put(&i);
    Ok(json!({}))
}

pub async fn delete_instance<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("InstanceId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    let i = cx.instance(&id).await?;
    if i.status != InstanceStatus::Stopped && !(force && i.status == InstanceStatus::Running) {
        return Err(Error::forbidden(
            "IncorrectInstanceStatus",
            format!("The instance \"{id}\" is {}: stop it first, or delete a Running instance with Force=true.", i.status),
        ));
    }
    let disks: Vec<Disk> = cx.scan(keys::DISKS).await?;
    for mut d in disks.into_iter().filter(|d| d.instance_id == id) {
        if d.disk_type == DiskType::System || d.delete_with_instance {
            remove_disk(cx, &d).await?;
        } else {
            d.instance_id.clear();
            d.device.clear();
            d.status = DiskStatus::Available;
            d.plan.clear();
            cx.put(&d);
        }
    }
    cx.delete(&keys::instance(&id));
    Ok(json!({}))
}
