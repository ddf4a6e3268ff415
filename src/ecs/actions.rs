//! The ECS actions. Each handler checks parameters, then existence, then
//! state, then quota, and only then changes anything.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::error::EcsError;
use super::model::{Disk, Image, Instance, Mapping, Snapshot, SnapshotGroup, Token};
use super::params::{check_description, check_name, check_tag_key, Params};
use super::time::{iso, parse as parse_time};
use super::{tags_json, Cx, GIB, REGIONS};
use crate::engine::{MapRef, SnapshotId, Store, VolumeId};

/// Every action this layer answers, by its ECS name.
pub const ACTIONS: &[&str] = &[
    "DescribeRegions", "DescribeZones",
    "RunInstances", "DescribeInstances", "StartInstance", "StopInstance", "RebootInstance", "DeleteInstance",
    "CreateDisk", "DescribeDisks", "AttachDisk", "DetachDisk", "DeleteDisk", "ResizeDisk",
    "CreateSnapshot", "DescribeSnapshots", "DeleteSnapshot", "ModifySnapshotAttribute", "ResetDisk", "ResetDisks",
    "CreateImage", "DescribeImages", "DeleteImage",
    "CreateSnapshotGroup", "DescribeSnapshotGroups", "DeleteSnapshotGroup",
    "TagResources", "UntagResources", "ListTagResources",
    "ImportImage", "ExportImage", "DescribeTasks", "DescribeTaskAttribute", "CancelTask",
    // Extensions (named and documented in README): export a snapshot or a disk like an image.
    "ExportSnapshot", "ExportDisk",
    // Extension (named and documented in README): the block map of a disk or snapshot.
    "DescribeBlockMap",
    "CreateAutoSnapshotPolicy", "DescribeAutoSnapshotPolicyEx", "ModifyAutoSnapshotPolicyEx", "DeleteAutoSnapshotPolicy",
    "ApplyAutoSnapshotPolicy", "CancelAutoSnapshotPolicy",
];

/// How long each automatic state step takes (ECS's take seconds; ours under one).
const STEP_MS: u64 = 400;
const DAY_MS: u64 = 86_400_000;
/// Snapshots per disk, all kinds (seed 003), and local snapshots per ESSD (seed 000).
pub const SNAPSHOTS_PER_DISK: usize = 64;
pub const LOCAL_SNAPSHOTS_PER_ESSD: usize = 10;

const CATEGORIES: &[&str] = &["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud"];
const LEVELS: &[&str] = &["PL0", "PL1", "PL2", "PL3"];

/// (InstanceType, vCPUs, memory MiB)
const INSTANCE_TYPES: &[(&str, u32, u32)] = &[
    ("ecs.g7.large", 2, 8192),
    ("ecs.g7.xlarge", 4, 16384),
    ("ecs.c7.large", 2, 4096),
    ("ecs.r7.large", 2, 16384),
    ("ecs.t6-c1m1.large", 2, 2048),
];

/// Actions that take a ClientToken.
const IDEMPOTENT: &[&str] = &["RunInstances", "CreateDisk", "CreateSnapshot", "CreateImage", "CreateSnapshotGroup"];

pub async fn dispatch<S: Store>(cx: &mut Cx<'_, S>, action: &str, p: &Params) -> Result<Value, EcsError> {
    let token = if IDEMPOTENT.contains(&action) { p.str("ClientToken") } else { None };
    if let Some(token) = &token {
        if let Some(v) = token_replay(cx, action, token, p).await? {
            return Ok(v);
        }
    }
    let out = dispatch_action(cx, action, p).await?;
    if let Some(token) = &token {
        let fingerprint = p.fingerprint(&["ClientToken", "RegionId"]);
        let key = format!("token/{}/{action}/{token}", cx.region);
        cx.save(&key, &Token { fingerprint, response: out.to_string() });
    }
    Ok(out)
}

/// ClientToken: the same token and parameters give the same result; other
/// parameters give IdempotentParameterMismatch.
async fn token_replay<S: Store>(cx: &mut Cx<'_, S>, action: &str, token: &str, p: &Params) -> Result<Option<Value>, EcsError> {
    if token.len() > 64 || !token.is_ascii() {
        return Err(EcsError::invalid("ClientToken", "at most 64 ASCII characters"));
    }
    let fingerprint = p.fingerprint(&["ClientToken", "RegionId"]);
    match cx.load::<Token>(&format!("token/{}/{action}/{token}", cx.region)).await? {
        Some(t) if t.fingerprint != fingerprint => Err(EcsError::forbidden(
            "IdempotentParameterMismatch",
            "The ClientToken was used before with other parameters.",
        )),
        Some(t) => Ok(Some(serde_json::from_str(&t.response).map_err(|e| EcsError::new(500, "InternalError", e.to_string()))?)),
        None => Ok(None),
    }
}

async fn dispatch_action<S: Store>(cx: &mut Cx<'_, S>, action: &str, p: &Params) -> Result<Value, EcsError> {
    match action {
        "DescribeRegions" => Ok(describe_regions()),
        "DescribeZones" => Ok(describe_zones(cx)),
        "RunInstances" => run_instances(cx, p).await,
        "DescribeInstances" => describe_instances(cx, p).await,
        "StartInstance" => instance_power(cx, p, Power::Start).await,
        "StopInstance" => instance_power(cx, p, Power::Stop).await,
        "RebootInstance" => instance_power(cx, p, Power::Reboot).await,
        "DeleteInstance" => delete_instance(cx, p).await,
        "CreateDisk" => create_disk(cx, p).await,
        "DescribeDisks" => describe_disks(cx, p).await,
        "AttachDisk" => attach_disk(cx, p).await,
        "DetachDisk" => detach_disk(cx, p).await,
        "DeleteDisk" => delete_disk(cx, p).await,
        "ResizeDisk" => resize_disk(cx, p).await,
        "CreateSnapshot" => create_snapshot(cx, p).await,
        "DescribeSnapshots" => describe_snapshots(cx, p).await,
        "DeleteSnapshot" => delete_snapshot(cx, p).await,
        "ModifySnapshotAttribute" => modify_snapshot(cx, p).await,
        "ResetDisk" => reset_disk(cx, p).await,
        "ResetDisks" => reset_disks(cx, p).await,
        "CreateImage" => create_image(cx, p).await,
        "DescribeImages" => describe_images(cx, p).await,
        "DeleteImage" => delete_image(cx, p).await,
        "CreateSnapshotGroup" => create_snapshot_group(cx, p).await,
        "DescribeSnapshotGroups" => describe_snapshot_groups(cx, p).await,
        "DeleteSnapshotGroup" => delete_snapshot_group(cx, p).await,
        "TagResources" => tag_resources(cx, p).await,
        "UntagResources" => untag_resources(cx, p).await,
        "ListTagResources" => list_tag_resources(cx, p).await,
        "ImportImage" => super::tasks::import_image(cx, p).await,
        "ExportImage" | "ExportSnapshot" | "ExportDisk" => super::tasks::export(cx, p, action).await,
        "DescribeTasks" => super::tasks::describe_tasks(cx, p).await,
        "DescribeTaskAttribute" => super::tasks::describe_task_attribute(cx, p).await,
        "CancelTask" => super::tasks::cancel_task(cx, p).await,
        "DescribeBlockMap" => describe_block_map(cx, p).await,
        "CreateAutoSnapshotPolicy" => super::policies::create(cx, p).await,
        "DescribeAutoSnapshotPolicyEx" => super::policies::describe(cx, p).await,
        "ModifyAutoSnapshotPolicyEx" => super::policies::modify(cx, p).await,
        "DeleteAutoSnapshotPolicy" => super::policies::delete(cx, p).await,
        "ApplyAutoSnapshotPolicy" => super::policies::apply(cx, p).await,
        "CancelAutoSnapshotPolicy" => super::policies::cancel(cx, p).await,
        _ => unreachable!("ACTIONS lists every action"),
    }
}

// ------------------------------------------------------------------ helpers

pub(super) fn page<T>(items: Vec<T>, p: &Params) -> Result<(usize, usize, usize, Vec<T>), EcsError> {
    let (number, size) = p.paging()?;
    let total = items.len();
    let items = items.into_iter().skip((number - 1).saturating_mul(size)).take(size).collect();
    Ok((total, number, size, items))
}

fn zone_of_region(region: &str, zone: &str) -> bool {
    REGIONS.iter().any(|r| r.0 == region && r.2.contains(&zone))
}

fn check_zone<S: Store>(cx: &Cx<'_, S>, zone: &str) -> Result<(), EcsError> {
    if !zone_of_region(&cx.region, zone) {
        return Err(EcsError::not_found(
            "InvalidZoneId.NotFound",
            format!("The zone \"{zone}\" does not exist in region {}.", cx.region),
        ));
    }
    Ok(())
}

fn has_tags(tags: &[(String, String)], wanted: &[(String, String)]) -> bool {
    wanted.iter().all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && (v.is_empty() || tv == v)))
}

/// (min, max) GiB for a disk.
fn size_limits(category: &str, pl: &str, disk_type: &str) -> (u64, u64) {
    if disk_type == "system" {
        return if category == "cloud_essd" { (20, 2048) } else { (20, 500) };
    }
    match (category, pl) {
        ("cloud", _) => (5, 2000),
        ("cloud_essd", "PL0") => (1, 65_536),
        ("cloud_essd", "PL2") => (461, 65_536),
        ("cloud_essd", "PL3") => (1261, 65_536),
        ("cloud_essd", _) => (20, 65_536),
        _ => (20, 32_768),
    }
}

fn check_size(size: u64, category: &str, pl: &str, disk_type: &str, code: &str) -> Result<(), EcsError> {
    let (lo, hi) = size_limits(category, pl, disk_type);
    if size < lo || size > hi {
        let pl = if pl.is_empty() { String::new() } else { format!(" {pl}") };
        return Err(EcsError::bad(
            code,
            format!("A {disk_type} disk of category {category}{pl} has {lo} to {hi} GiB; {size} GiB was asked for."),
        ));
    }
    Ok(())
}

fn performance_level(p: &Params, name: &str, category: &str) -> Result<String, EcsError> {
    let pl = p.enumerated(name, LEVELS)?;
    Ok(if category == "cloud_essd" { pl.unwrap_or("PL1").to_string() } else { String::new() })
}

pub fn snapshot_available(s: &Snapshot) -> bool {
    s.status == "accomplished" || (s.status == "progressing" && s.instant_access)
}

fn usage(s: &Snapshot) -> &'static str {
    match (s.images.is_empty(), s.disks_created.is_empty()) {
        (false, false) => "image_disk",
        (false, true) => "image",
        (true, false) => "disk",
        (true, true) => "none",
    }
}

// ------------------------------------------------------------ clock & seeds

/// Releases snapshots whose retention ran out (unless an image uses them),
/// then takes the automatic snapshots that became due.
pub async fn expire<S: Store>(cx: &mut Cx<'_, S>) -> Result<(), EcsError> {
    let snaps: Vec<Snapshot> = cx.scan("snapshot/").await?;
    for mut s in snaps {
        if let Some(days) = s.retention_days {
            if cx.now >= s.created.saturating_add(days.saturating_mul(DAY_MS)) && s.images.is_empty() {
                drop_snapshot(cx, &s).await?;
                continue;
            }
        }
        if let Some(days) = s.instant_access_retention_days {
            if cx.now >= s.created.saturating_add(days.saturating_mul(DAY_MS)) && (s.instant_access || !s.local_released) {
                // Instant access ends; once uploaded, the local copy is released
                // (its exclusive local bytes are freed) and the data lives in OSS.
                s.instant_access = false;
                if s.status == "accomplished" && s.category == "standard" && !s.local_released {
                    cx.t.delete_snapshot(SnapshotId(s.engine)).await?;
                    s.local_released = true;
                }
                s.last_modified = cx.now;
                cx.save(&format!("snapshot/{}", s.id), &s);
            }
        }
    }
    super::policies::run_due(cx).await
}

/// The public images: a few small generated disks (a boot sector and an
/// os-release file), owned by `system`.
pub async fn seed_public_images<S: Store>(cx: &mut Cx<'_, S>) -> Result<(), EcsError> {
    let images: &[(&str, &str, &str, &str, u64)] = &[
        ("aliyun_3_x64_20G_alibase_20240819.vhd", "Alibaba Cloud Linux 3.2104 LTS 64 bit", "linux", "Aliyun", 20),
        ("ubuntu_22_04_x64_20G_alibase_20240819.vhd", "Ubuntu 22.04 64 bit", "linux", "Ubuntu", 20),
        ("centos_7_9_x64_20G_alibase_20240628.vhd", "CentOS 7.9 64 bit", "linux", "CentOS", 20),
        ("win2022_21H2_x64_dtc_en-us_40G_alibase_20240816.vhd", "Windows Server 2022 Datacenter 64 bit", "windows", "Windows Server 2022", 40),
    ];
    for (region, _, _) in REGIONS {
        for (id, name, os_type, platform, size) in images {
            let v = cx.t.create_volume(size * GIB, super::BLOCK_SHIFT).await?;
            let mut boot = vec![0u8; 512];
            boot[..name.len()].copy_from_slice(name.as_bytes());
            boot[510] = 0x55;
            boot[511] = 0xaa;
            cx.t.write(v, 0, &boot).await?;
            let release = format!("NAME=\"{platform}\"\nPRETTY_NAME=\"{name}\"\nID={id}\n");
            cx.t.write(v, 1 << 20, release.as_bytes()).await?;
            let snap = cx.t.snapshot(v).await?;
            cx.t.delete_volume(v).await?;
            let seq = cx.next_seq();
            let img = Image {
                id: id.to_string(),
                seq,
                region: region.to_string(),
                name: id.trim_end_matches(".vhd").to_string(),
                description: name.to_string(),
                owner_alias: "system".into(),
                status: "Available".into(),
                plan: vec![],
                os_type: os_type.to_string(),
                os_name: name.to_string(),
                platform: platform.to_string(),
                architecture: "x86_64".into(),
                size_gib: *size,
                mappings: vec![Mapping { snapshot_id: String::new(), engine: snap.0, size_gib: *size, device: "/dev/xvda".into(), disk_type: "system".into() }],
                created: 0,
                resource_group: String::new(),
                tags: vec![],
                ..Default::default()
            };
            cx.save(&format!("image/{region}/{id}"), &img);
        }
    }
    cx.settings.seeded = true;
    cx.settings_dirty = true;
    Ok(())
}

// ---------------------------------------------------------- regions, zones

fn describe_regions() -> Value {
    let regions: Vec<Value> = REGIONS
        .iter()
        .map(|(id, name, _)| json!({"RegionId": id, "LocalName": name, "RegionEndpoint": format!("ecs.{id}.aliyuncs.com"), "Status": "available"}))
        .collect();
    json!({"Regions": {"Region": regions}})
}

fn describe_zones<S: Store>(cx: &Cx<'_, S>) -> Value {
    let zones: Vec<Value> = REGIONS
        .iter()
        .filter(|r| r.0 == cx.region)
        .flat_map(|r| r.2.iter())
        .map(|z| {
            let letter = z.rsplit('-').next().unwrap_or(z).trim_start_matches(|c: char| c.is_ascii_digit());
            json!({
                "ZoneId": z,
                "LocalName": format!("Zone {}", letter.to_uppercase()),
                "AvailableDiskCategories": {"DiskCategories": CATEGORIES},
                "AvailableInstanceTypes": {"InstanceTypes": INSTANCE_TYPES.iter().map(|t| t.0).collect::<Vec<_>>()},
            })
        })
        .collect();
    json!({"Zones": {"Zone": zones}})
}

// ----------------------------------------------------------------- images

pub(super) async fn image<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Image, EcsError> {
    let key = format!("image/{}/{id}", cx.region);
    let mut img: Image = cx
        .load(&key)
        .await?
        .ok_or_else(|| EcsError::not_found("InvalidImageId.NotFound", format!("The image \"{id}\" does not exist in {}.", cx.region)))?;
    if super::model::settle(&mut img.status, &mut img.plan, cx.now) {
        cx.save(&key, &img);
    }
    Ok(img)
}

fn image_json(i: &Image, instances: usize) -> Value {
    json!({
        "ImageId": i.id,
        "ImageName": i.name,
        "Description": i.description,
        "ImageOwnerAlias": i.owner_alias,
        "Status": i.status,
        "OSType": i.os_type,
        "OSName": i.os_name,
        "OSNameEn": i.os_name,
        "Platform": i.platform,
        "Architecture": i.architecture,
        "Size": i.size_gib,
        "IsSelfShared": "",
        "Usage": if instances > 0 { "instance" } else { "none" },
        "CreationTime": iso(i.created),
        "ResourceGroupId": i.resource_group,
        "Tags": tags_json(&i.tags),
        "Progress": match i.status.as_str() {
            "Available" => "100%".to_string(),
            _ if !i.task_id.is_empty() => format!("{}%", i.progress),
            _ => "50%".to_string(),
        },
        // Extensions: the import task and why it failed.
        "ImportTaskId": i.task_id,
        "FailureReason": i.failure,
        "DiskDeviceMappings": {"DiskDeviceMapping": i.mappings.iter().map(|m| json!({
            "SnapshotId": m.snapshot_id,
            "Size": m.size_gib,
            "Device": m.device,
            "Type": m.disk_type,
            "Format": "",
        })).collect::<Vec<_>>()},
    })
}

async fn describe_images<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let alias = p.enumerated("ImageOwnerAlias", &["system", "self", "others", "marketplace"])?;
    let ids = p.list("ImageId")?;
    let status = p.str("Status");
    let name = p.str("ImageName");
    let tags = p.tags()?;
    let instances: Vec<Instance> = cx.scan("instance/").await?;
    let mut imgs: Vec<Image> = cx.scan(&format!("image/{}/", cx.region)).await?;
    for img in &mut imgs {
        super::model::settle(&mut img.status, &mut img.plan, cx.now);
    }
    imgs.retain(|i| {
        alias.is_none_or(|a| i.owner_alias == a)
            && (ids.is_empty() || ids.iter().any(|x| x.split(',').any(|y| y.trim() == i.id)))
            && status.as_ref().is_none_or(|s| s.split(',').any(|s| s.eq_ignore_ascii_case(&i.status)))
            && name.as_ref().is_none_or(|n| i.name.contains(n.as_str()))
            && has_tags(&i.tags, &tags)
    });
    imgs.sort_by(|a, b| (b.created, b.seq).cmp(&(a.created, a.seq)));
    let (total, number, size, items) = page(imgs, p)?;
    let items: Vec<Value> = items
        .iter()
        .map(|i| image_json(i, instances.iter().filter(|x| x.image_id == i.id).count()))
        .collect();
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "RegionId": cx.region, "Images": {"Image": items}}))
}

async fn create_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    // Parameters.
    let name = p.str("ImageName");
    if let Some(n) = &name {
        check_name(n, "InvalidImageName.Malformed", "image name", &["aliyun", "acs:"])?;
    }
    if let Some(d) = p.str("Description") {
        check_description(&d)?;
    }
    let tags = p.tags()?;
    let architecture = p.enumerated("Architecture", &["x86_64", "arm64", "i386"])?.unwrap_or("x86_64");
    let mut wanted: Vec<(String, Option<u64>, String)> = Vec::new(); // (snapshot, size, device)
    if let Some(s) = p.str("SnapshotId") {
        wanted.push((s, None, "/dev/xvda".into()));
    }
    for (n, m) in p.numbered("DiskDeviceMapping") {
        let Some(s) = m.get("SnapshotId").filter(|s| !s.is_empty()) else {
            return Err(EcsError::missing(&format!("DiskDeviceMapping.{n}.SnapshotId")));
        };
        let size = match m.get("Size") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| EcsError::invalid(&format!("DiskDeviceMapping.{n}.Size"), "a whole number of GiB"))?),
            None => None,
        };
        wanted.push((s.clone(), size, m.get("Device").cloned().unwrap_or_default()));
    }
    if wanted.is_empty() {
        return Err(EcsError::missing("SnapshotId"));
    }
    if wanted.len() > 17 {
        return Err(EcsError::invalid("DiskDeviceMapping", "at most 17 disks"));
    }
    // Existence.
    let mut snaps = Vec::new();
    for (id, _, _) in &wanted {
        snaps.push(cx.snapshot(id).await?);
    }
    for ((_, size, _), s) in wanted.iter().zip(&snaps) {
        if size.is_some_and(|sz| sz < s.source_disk_size) {
            return Err(EcsError::bad("InvalidDiskSize.TooSmall", format!("The disk size for \"{}\" is less than its {} GiB.", s.id, s.source_disk_size)));
        }
    }
    // State.
    let systems = snaps.iter().filter(|s| s.source_disk_type == "system").count();
    if systems != 1 || snaps[0].source_disk_type != "system" {
        return Err(EcsError::forbidden(
            "OperationDenied",
            "The specified snapshot is not from system disk. A custom image needs exactly one system-disk snapshot, first; data-disk snapshots (local ones too) join it through DiskDeviceMapping.N.",
        ));
    }
    for s in &snaps {
        // An image needs the whole snapshot: instant access is not enough.
        if s.status != "accomplished" {
            return Err(EcsError::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{}\" is still being created.", s.id)));
        }
    }
    let name = unique_image_name(cx, name, "image-").await?;
    super::params::tag_quota(&tags)?;
    // Act.
    let id = cx.new_id("m-");
    let mut mappings = Vec::new();
    let mut letter = b'a';
    for ((_, size, device), s) in wanted.iter().zip(&snaps) {
        let device = if device.is_empty() { format!("/dev/xvd{}", letter as char) } else { device.clone() };
        letter += 1;
        mappings.push(Mapping {
            snapshot_id: s.id.clone(),
            engine: s.engine,
            size_gib: size.unwrap_or(s.source_disk_size),
            device,
            disk_type: s.source_disk_type.clone(),
        });
        let mut s = s.clone();
        s.images.push(id.clone());
        s.last_modified = cx.now;
        cx.save(&format!("snapshot/{}", s.id), &s);
    }
    let seq = cx.next_seq();
    let (os_type, os_name, platform) = match cx.load::<Disk>(&format!("disk/{}", snaps[0].source_disk_id)).await? {
        Some(d) if !d.image_id.is_empty() => match image(cx, &d.image_id).await {
            Ok(i) => (i.os_type, i.os_name, i.platform),
            Err(_) => ("linux".into(), String::new(), String::new()),
        },
        _ => ("linux".into(), String::new(), String::new()),
    };
    let img = Image {
        id: id.clone(),
        seq,
        region: cx.region.clone(),
        name,
        description: p.str("Description").unwrap_or_default(),
        owner_alias: "self".into(),
        status: "Creating".into(),
        plan: vec![(cx.now + STEP_MS, "Available".into())],
        os_type,
        os_name,
        platform: p.str("Platform").unwrap_or(platform),
        architecture: architecture.to_string(),
        size_gib: mappings[0].size_gib,
        mappings,
        created: cx.now,
        resource_group: p.str("ResourceGroupId").unwrap_or_default(),
        tags,
        ..Default::default()
    };
    cx.save(&format!("image/{}/{id}", cx.region), &img);
    Ok(json!({"ImageId": id}))
}

/// A new image's name: the one asked for (refused when the region has an
/// image of that name), or a generated one starting with `prefix`.
pub(super) async fn unique_image_name<S: Store>(cx: &mut Cx<'_, S>, name: Option<String>, prefix: &str) -> Result<String, EcsError> {
    let name = match name {
        Some(n) => n,
        None => cx.new_id(prefix),
    };
    let existing: Vec<Image> = cx.scan(&format!("image/{}/", cx.region)).await?;
    if existing.iter().any(|i| i.name == name) {
        return Err(EcsError::forbidden("InvalidImageName.Duplicated", format!("An image named \"{name}\" already exists.")));
    }
    Ok(name)
}

async fn delete_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("ImageId")?;
    let img = image(cx, &id).await?;
    if img.owner_alias != "self" {
        return Err(EcsError::forbidden("OperationDenied", "Public images cannot be deleted."));
    }
    let force = p.bool("Force")?.unwrap_or(false);
    let users: Vec<Instance> = cx.scan("instance/").await?;
    if !force && users.iter().any(|i| i.image_id == id) {
        return Err(EcsError::forbidden(
            "IncorrectImageStatus.InUse",
            "Instances were created from this image; delete them first or set Force=true.",
        ));
    }
    for m in &img.mappings {
        if m.snapshot_id.is_empty() {
            // An imported image owns its content (disks made from it share its blocks).
            cx.t.delete_snapshot(SnapshotId(m.engine)).await?;
        } else if let Some(mut s) = cx.load::<Snapshot>(&format!("snapshot/{}", m.snapshot_id)).await? {
            s.images.retain(|x| *x != id);
            cx.save(&format!("snapshot/{}", s.id), &s);
        }
    }
    // Deleting an image being imported cancels its import.
    if let Some(mut t) = cx.load::<super::tasks::Task>(&format!("task/{}", img.task_id)).await? {
        if t.status == "Processing" {
            super::tasks::end(cx, &mut t, "Cancelled", "", "").await?;
        }
    }
    cx.t.delete_record(&format!("image/{}/{id}", cx.region));
    Ok(json!({}))
}

// -------------------------------------------------------------- instances

fn instance_json(i: &Instance) -> Value {
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
    })
}

async fn run_instances<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    // Parameters.
    let image_id = p.required("ImageId")?;
    let instance_type = p.str("InstanceType").unwrap_or_else(|| "ecs.g7.large".into());
    if !INSTANCE_TYPES.iter().any(|t| t.0 == instance_type) {
        return Err(EcsError::bad(
            "InvalidInstanceType.ValueNotSupported",
            format!("The instance type \"{instance_type}\" is not offered. Offered: {}.", INSTANCE_TYPES.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")),
        ));
    }
    let amount = p.int("Amount", "InvalidParameter")?.unwrap_or(1);
    if !(1..=100).contains(&amount) {
        return Err(EcsError::invalid("Amount", "1 to 100"));
    }
    if let Some(n) = p.str("InstanceName") {
        check_name(&n, "InvalidInstanceName.Malformed", "instance name", &[])?;
    }
    if let Some(d) = p.str("Description") {
        check_description(&d)?;
    }
    let sys_category = p.enumerated("SystemDisk.Category", CATEGORIES)?.unwrap_or("cloud_essd");
    let sys_pl = performance_level(p, "SystemDisk.PerformanceLevel", sys_category)?;
    let sys_size = p.int("SystemDisk.Size", "InvalidSystemDiskSize.ValueNotSupported")?;
    let sys_encrypted = p.bool("SystemDisk.Encrypted")?.unwrap_or(false);
    let tags = p.tags()?;
    struct DataSpec {
        size: Option<u64>,
        category: &'static str,
        pl: String,
        snapshot: Option<String>,
        delete_with_instance: bool,
        encrypted: bool,
        name: Option<String>,
    }
    let mut data = Vec::new();
    for (n, d) in p.numbered("DataDisk") {
        let sub = Params::from_value(&serde_json::to_value(&d).unwrap())?;
        let category = sub.enumerated("Category", CATEGORIES)?.unwrap_or("cloud_efficiency");
        let size = sub.int("Size", "InvalidDataDiskSize.ValueNotSupported")?;
        if size.is_some_and(|s| s < 1) {
            return Err(EcsError::bad("InvalidDataDiskSize.ValueNotSupported", format!("DataDisk.{n}.Size must be positive.")));
        }
        data.push(DataSpec {
            size: size.map(|s| s as u64),
            category,
            pl: performance_level(&sub, "PerformanceLevel", category)?,
            snapshot: sub.str("SnapshotId"),
            delete_with_instance: sub.bool("DeleteWithInstance")?.unwrap_or(true),
            encrypted: sub.bool("Encrypted")?.unwrap_or(false),
            name: sub.str("DiskName"),
        });
    }
    if data.len() > 16 {
        return Err(EcsError::invalid("DataDisk", "at most 16 data disks"));
    }
    let zone = match p.str("ZoneId") {
        Some(z) => {
            check_zone(cx, &z)?;
            z
        }
        None => {
            let zones = REGIONS.iter().find(|r| r.0 == cx.region).unwrap().2;
            zones[cx.rng.below(zones.len() as u64) as usize].to_string()
        }
    };
    // Existence.
    let img = image(cx, &image_id).await?;
    let mut data_snaps = Vec::new();
    for d in &data {
        data_snaps.push(match &d.snapshot {
            Some(s) => Some(cx.snapshot(s).await?),
            None => None,
        });
    }
    for m in img.mappings.iter().filter(|m| m.disk_type == "system" && !m.snapshot_id.is_empty()) {
        if let Some(s) = cx.load::<Snapshot>(&format!("snapshot/{}", m.snapshot_id)).await? {
            if s.category == "flash" && sys_category != "cloud_essd" {
                return Err(EcsError::bad("DiskCategory.OperationNotSupported", "This image's system disk comes from a local snapshot, which makes only ESSDs: use SystemDisk.Category=cloud_essd."));
            }
        }
    }
    // State.
    if img.status != "Available" {
        return Err(EcsError::forbidden("InvalidImageId.NotReady", format!("The image \"{image_id}\" is {}.", img.status)));
    }
    let sys_size = sys_size.map(|s| s as u64).unwrap_or(img.size_gib.max(20));
    if sys_size < img.size_gib {
        return Err(EcsError::bad(
            "InvalidSystemDiskSize.LessThanImageSize",
            format!("The system disk ({sys_size} GiB) is smaller than the image ({} GiB).", img.size_gib),
        ));
    }
    check_size(sys_size, sys_category, &sys_pl, "system", "InvalidSystemDiskSize.ValueNotSupported")?;
    for (d, s) in data.iter().zip(&data_snaps) {
        if let Some(s) = s {
            if !snapshot_available(s) {
                return Err(EcsError::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{}\" is not ready yet.", s.id)));
            }
            if s.category == "flash" && d.category != "cloud_essd" {
                return Err(EcsError::bad("DiskCategory.OperationNotSupported", "A local snapshot only makes ESSDs (cloud_essd)."));
            }
            if d.size.is_some_and(|sz| sz < s.source_disk_size) {
                return Err(EcsError::bad("InvalidDiskSize.TooSmall", format!("The data disk is smaller than the snapshot's {} GiB.", s.source_disk_size)));
            }
        }
        let size = d.size.or(s.as_ref().map(|s| s.source_disk_size)).ok_or_else(|| EcsError::missing("DataDisk.N.Size"))?;
        check_size(size, d.category, &d.pl, "data", "InvalidDataDiskSize.ValueNotSupported")?;
    }
    super::params::tag_quota(&tags)?;
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
            status: "Pending".into(),
            plan: vec![(cx.now + STEP_MS, "Starting".into()), (cx.now + 2 * STEP_MS, "Running".into())],
            created: cx.now,
            resource_group: p.str("ResourceGroupId").unwrap_or_default(),
            tags: tags.clone(),
        };
        cx.save(&format!("instance/{id}"), &inst);
        // Disks: the image's mappings (system first), then DataDisk.N.
        let mut letter = b'a';
        for m in &img.mappings {
            let system = m.disk_type == "system";
            let (category, pl, size) = if system { (sys_category, sys_pl.clone(), sys_size) } else { ("cloud_essd", "PL1".to_string(), m.size_gib.max(20)) };
            let encrypted = system && sys_encrypted;
            let disk = new_disk(cx, &zone, category, &pl, size, &m.disk_type, Some((m.engine, m.snapshot_id.clone())), encrypted).await?;
            attach_new(cx, disk, &id, &image_id, letter, true).await?;
            letter += 1;
        }
        for (d, s) in data.iter().zip(&data_snaps) {
            let size = d.size.or(s.as_ref().map(|s| s.source_disk_size)).unwrap();
            let from = s.as_ref().map(|s| (s.engine, s.id.clone()));
            let encrypted = d.encrypted || s.as_ref().is_some_and(|s| s.encrypted);
            let mut disk = new_disk(cx, &zone, d.category, &d.pl, size, "data", from, encrypted).await?;
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

/// A new disk record and its engine volume (empty, or cloned from a snapshot).
#[allow(clippy::too_many_arguments)]
async fn new_disk<S: Store>(
    cx: &mut Cx<'_, S>,
    zone: &str,
    category: &str,
    pl: &str,
    size_gib: u64,
    disk_type: &str,
    from: Option<(u64, String)>,
    encrypted: bool,
) -> Result<Disk, EcsError> {
    let released = match &from {
        Some((_, id)) if !id.is_empty() => cx.load::<Snapshot>(&format!("snapshot/{id}")).await?.filter(|s| s.local_released),
        _ => None,
    };
    let mut hydration = None;
    let volume = match (&from, &released) {
        (_, Some(s)) => {
            // Only in OSS: an empty volume, filled from OSS on demand and in the background.
            hydration = Some(super::restore::hydration_for(cx, s).await?);
            cx.t.create_volume(size_gib * GIB, super::BLOCK_SHIFT).await?
        }
        (Some((engine, _)), None) => cx.t.clone_snapshot(SnapshotId(*engine), Some(size_gib * GIB)).await?,
        (None, None) => cx.t.create_volume(size_gib * GIB, super::BLOCK_SHIFT).await?,
    };
    let id = cx.new_id("d-");
    let seq = cx.next_seq();
    let source = from.map(|f| f.1).unwrap_or_default();
    if !source.is_empty() {
        if let Some(mut s) = cx.load::<Snapshot>(&format!("snapshot/{source}")).await? {
            s.disks_created.push(id.clone());
            cx.save(&format!("snapshot/{source}"), &s);
        }
    }
    Ok(Disk {
        id: id.clone(),
        seq,
        region: cx.region.clone(),
        zone: zone.to_string(),
        name: id.clone(),
        description: String::new(),
        category: category.to_string(),
        performance_level: pl.to_string(),
        size_gib,
        disk_type: disk_type.to_string(),
        status: "Available".into(),
        plan: vec![],
        instance_id: String::new(),
        device: String::new(),
        volume: volume.0,
        encrypted,
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

async fn attach_new<S: Store>(cx: &mut Cx<'_, S>, mut disk: Disk, instance: &str, image_id: &str, letter: u8, dwi: bool) -> Result<(), EcsError> {
    disk.status = "In_use".into();
    disk.instance_id = instance.to_string();
    disk.device = format!("/dev/xvd{}", letter as char);
    disk.attached_once = true;
    disk.delete_with_instance = dwi;
    disk.image_id = image_id.to_string();
    cx.save(&format!("disk/{}", disk.id), &disk);
    Ok(())
}

async fn describe_instances<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let ids = p.json_list("InstanceIds")?;
    let zone = p.str("ZoneId");
    let status = p.enumerated("Status", &["Pending", "Running", "Starting", "Stopping", "Stopped"])?;
    let name = p.str("InstanceName");
    let tags = p.tags()?;
    let rg = p.str("ResourceGroupId");
    let mut all: Vec<Instance> = cx.scan("instance/").await?;
    for i in &mut all {
        if super::model::settle(&mut i.status, &mut i.plan, cx.now) {
            cx.save(&format!("instance/{}", i.id), &*i);
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
    all.sort_by(|a, b| (b.created, b.seq).cmp(&(a.created, a.seq)));
    let (total, number, size, items) = page(all, p)?;
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "Instances": {"Instance": items.iter().map(instance_json).collect::<Vec<_>>()}}))
}

#[derive(Clone, Copy)]
enum Power {
    Start,
    Stop,
    Reboot,
}

async fn instance_power<S: Store>(cx: &mut Cx<'_, S>, p: &Params, what: Power) -> Result<Value, EcsError> {
    let id = p.required("InstanceId")?;
    let _ = p.bool("ForceStop")?;
    let mut i = cx.instance(&id).await?;
    let now = cx.now;
    let (need, plan): (&str, Vec<(u64, &str)>) = match what {
        Power::Start => ("Stopped", vec![(now, "Starting"), (now + STEP_MS, "Running")]),
        Power::Stop => ("Running", vec![(now, "Stopping"), (now + STEP_MS, "Stopped")]),
        Power::Reboot => ("Running", vec![(now, "Stopping"), (now + STEP_MS, "Starting"), (now + 2 * STEP_MS, "Running")]),
    };
    if i.status != need {
        return Err(EcsError::forbidden(
            "IncorrectInstanceStatus",
            format!("The instance \"{id}\" is {}; this action needs it {need}.", i.status),
        ));
    }
    i.status = plan[0].1.to_string();
    i.plan = plan[1..].iter().map(|(t, s)| (*t, s.to_string())).collect();
    cx.save(&format!("instance/{id}"), &i);
    Ok(json!({}))
}

async fn delete_instance<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("InstanceId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    let i = cx.instance(&id).await?;
    if i.status != "Stopped" && !(force && i.status == "Running") {
        return Err(EcsError::forbidden(
            "IncorrectInstanceStatus",
            format!("The instance \"{id}\" is {}: stop it first, or delete a Running instance with Force=true.", i.status),
        ));
    }
    let disks: Vec<Disk> = cx.scan("disk/").await?;
    for mut d in disks.into_iter().filter(|d| d.instance_id == id) {
        if d.disk_type == "system" || d.delete_with_instance {
            remove_disk(cx, &d).await?;
        } else {
            d.instance_id.clear();
            d.device.clear();
            d.status = "Available".into();
            d.plan.clear();
            cx.save(&format!("disk/{}", d.id), &d);
        }
    }
    cx.t.delete_record(&format!("instance/{id}"));
    Ok(json!({}))
}

// ------------------------------------------------------------------- disks

async fn disk_json<S: Store>(cx: &mut Cx<'_, S>, d: &Disk) -> Result<Value, EcsError> {
    let info = cx.t.volume_info(VolumeId(d.volume)).await?;
    let hydration = d.hydration.as_ref().map(|h| format!("{}%", super::restore::hydration_progress(h))).unwrap_or_else(|| "100%".into());
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
        "KMSKeyId": "",
        "DeleteAutoSnapshot": d.delete_auto_snapshot,
        "DeleteWithInstance": d.delete_with_instance,
        "EnableAutoSnapshot": !d.auto_snapshot_policy_id.is_empty(),
        "AutoSnapshotPolicyId": d.auto_snapshot_policy_id,
        "Portable": d.disk_type == "data",
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

async fn create_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    // Parameters.
    let zone = p.required("ZoneId")?;
    let category = p.enumerated("DiskCategory", CATEGORIES)?.unwrap_or("cloud");
    let pl = performance_level(p, "PerformanceLevel", category)?;
    let size = p.int("Size", "InvalidDiskSize.ValueNotSupported")?;
    if size.is_some_and(|s| s < 1) {
        return Err(EcsError::bad("InvalidDiskSize.ValueNotSupported", "Size must be positive."));
    }
    let snapshot_id = p.str("SnapshotId");
    if size.is_none() && snapshot_id.is_none() {
        return Err(EcsError::missing("Size"));
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
        check_size(sz as u64, category, &pl, "data", "InvalidDiskSize.ValueNotSupported")?;
    }
    check_zone(cx, &zone)?;
    // Existence.
    let snap = match &snapshot_id {
        Some(s) => Some(cx.snapshot(s).await?),
        None => None,
    };
    // State.
    if let Some(s) = &snap {
        if s.category == "flash" && category != "cloud_essd" {
            return Err(EcsError::bad("DiskCategory.OperationNotSupported", "A local snapshot only makes ESSDs (cloud_essd)."));
        }
        if size.is_some_and(|sz| (sz as u64) < s.source_disk_size) {
            return Err(EcsError::bad(
                "InvalidDiskSize.TooSmall",
                format!("The disk must be at least as large as the snapshot: {} GiB.", s.source_disk_size),
            ));
        }
        if !snapshot_available(s) {
            return Err(EcsError::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{}\" is not ready yet.", s.id)));
        }
    }
    let size = size.map(|s| s as u64).unwrap_or_else(|| snap.as_ref().unwrap().source_disk_size);
    check_size(size, category, &pl, "data", "InvalidDiskSize.ValueNotSupported")?;
    super::params::tag_quota(&tags)?;
    // Act.
    let from = snap.as_ref().map(|s| (s.engine, s.id.clone()));
    let mut d = new_disk(cx, &zone, category, &pl, size, "data", from, encrypted || snap.as_ref().is_some_and(|s| s.encrypted)).await?;
    if let Some(n) = p.str("DiskName") {
        d.name = n;
    }
    d.description = p.str("Description").unwrap_or_default();
    d.status = "Creating".into();
    d.plan = vec![(cx.now + STEP_MS, "Available".into())];
    d.resource_group = p.str("ResourceGroupId").unwrap_or_default();
    d.tags = tags;
    d.delete_auto_snapshot = delete_auto_snapshot;
    let id = d.id.clone();
    cx.save(&format!("disk/{id}"), &d);
    Ok(json!({"DiskId": id}))
}

async fn describe_disks<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let ids = p.json_list("DiskIds")?;
    let instance = p.str("InstanceId");
    let zone = p.str("ZoneId");
    let disk_type = p.enumerated("DiskType", &["all", "system", "data"])?;
    let category = p.enumerated("Category", &["all", "cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud"])?;
    let status = p.enumerated("Status", &["In_use", "Available", "Attaching", "Detaching", "Creating", "ReIniting", "All"])?;
    let tags = p.tags()?;
    let mut all: Vec<Disk> = cx.scan("disk/").await?;
    for d in &mut all {
        if super::model::settle(&mut d.status, &mut d.plan, cx.now) {
            cx.save(&format!("disk/{}", d.id), &*d);
        }
    }
    all.retain(|d| {
        d.region == cx.region
            && (ids.is_empty() || ids.contains(&d.id))
            && instance.as_ref().is_none_or(|i| &d.instance_id == i)
            && zone.as_ref().is_none_or(|z| &d.zone == z)
            && disk_type.is_none_or(|t| t == "all" || d.disk_type == t)
            && category.is_none_or(|c| c == "all" || d.category == c)
            && status.is_none_or(|s| s == "All" || d.status == s)
            && has_tags(&d.tags, &tags)
    });
    all.sort_by(|a, b| (b.created, b.seq).cmp(&(a.created, a.seq)));
    let (total, number, size, items) = page(all, p)?;
    let mut out = Vec::new();
    for d in &items {
        out.push(disk_json(cx, d).await?);
    }
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "Disks": {"Disk": out}}))
}

async fn attach_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let instance_id = p.required("InstanceId")?;
    let disk_id = p.required("DiskId")?;
    let dwi = p.bool("DeleteWithInstance")?;
    let inst = cx.instance(&instance_id).await?;
    let mut disk = cx.disk(&disk_id).await?;
    if disk.status != "Available" {
        return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk \"{disk_id}\" is {}; only an Available disk can be attached.", disk.status)));
    }
    if inst.status != "Running" && inst.status != "Stopped" {
        return Err(EcsError::forbidden("IncorrectInstanceStatus", format!("The instance \"{instance_id}\" is {}; it must be Running or Stopped.", inst.status)));
    }
    if disk.zone != inst.zone {
        return Err(EcsError::forbidden(
            "InvalidDiskId.ZoneMismatch",
            format!("The disk is in {} and the instance in {}: a disk attaches only to an instance in its zone.", disk.zone, inst.zone),
        ));
    }
    let disks: Vec<Disk> = cx.scan("disk/").await?;
    let used: Vec<String> = disks.iter().filter(|d| d.instance_id == instance_id).map(|d| d.device.clone()).collect();
    if used.len() >= 17 {
        return Err(EcsError::forbidden("InstanceDiskNumber.LimitExceed", "An instance has at most 16 data disks."));
    }
    let letter = (b'b'..=b'z').find(|l| !used.contains(&format!("/dev/xvd{}", *l as char))).unwrap();
    disk.status = "Attaching".into();
    disk.plan = vec![(cx.now + STEP_MS, "In_use".into())];
    disk.instance_id = instance_id;
    disk.device = format!("/dev/xvd{}", letter as char);
    disk.attached_once = true;
    if let Some(d) = dwi {
        disk.delete_with_instance = d;
    }
    cx.save(&format!("disk/{disk_id}"), &disk);
    Ok(json!({}))
}

async fn detach_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let instance_id = p.required("InstanceId")?;
    let disk_id = p.required("DiskId")?;
    let inst = cx.instance(&instance_id).await?;
    let mut disk = cx.disk(&disk_id).await?;
    if disk.status != "In_use" || disk.instance_id != instance_id {
        return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk \"{disk_id}\" is not attached to \"{instance_id}\".")));
    }
    if disk.disk_type == "system" && inst.status != "Stopped" {
        return Err(EcsError::forbidden("IncorrectInstanceStatus", "A system disk is detached only from a Stopped instance."));
    }
    if inst.status != "Running" && inst.status != "Stopped" {
        return Err(EcsError::forbidden("IncorrectInstanceStatus", format!("The instance is {}.", inst.status)));
    }
    disk.status = "Detaching".into();
    disk.plan = vec![(cx.now + STEP_MS, "Available".into())];
    disk.instance_id.clear();
    disk.device.clear();
    cx.save(&format!("disk/{disk_id}"), &disk);
    Ok(json!({}))
}

/// Deletes a disk's volume and record, and its automatic snapshots when it says so.
async fn remove_disk<S: Store>(cx: &mut Cx<'_, S>, d: &Disk) -> Result<(), EcsError> {
    if d.delete_auto_snapshot {
        let snaps: Vec<Snapshot> = cx.scan("snapshot/").await?;
        for s in snaps.iter().filter(|s| s.source_disk_id == d.id && s.snapshot_type == "auto" && s.images.is_empty()) {
            drop_snapshot(cx, s).await?;
        }
    }
    if !d.source_snapshot_id.is_empty() {
        // The snapshot no longer has this disk created from it (Usage, SnapshotCreatedDisk).
        if let Some(mut s) = cx.load::<Snapshot>(&format!("snapshot/{}", d.source_snapshot_id)).await? {
            s.disks_created.retain(|x| *x != d.id);
            cx.save(&format!("snapshot/{}", s.id), &s);
        }
    }
    if let Some(h) = &d.hydration {
        super::restore::end_hydration(cx, h).await?;
    }
    cx.t.delete_volume(VolumeId(d.volume)).await?;
    cx.t.delete_record(&format!("disk/{}", d.id));
    Ok(())
}

async fn delete_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("DiskId")?;
    let d = cx.disk(&id).await?;
    if d.status != "Available" {
        return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk \"{id}\" is {}; detach it first.", d.status)));
    }
    remove_disk(cx, &d).await?;
    Ok(json!({}))
}

async fn resize_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("DiskId")?;
    let new = p.int("NewSize", "InvalidDiskSize.ValueNotSupported")?.ok_or_else(|| EcsError::missing("NewSize"))?;
    let _ = p.enumerated("Type", &["offline", "online"])?;
    let mut d = cx.disk(&id).await?;
    if new < 1 || (new as u64) <= d.size_gib {
        return Err(EcsError::bad("InvalidDiskSize.TooSmall", format!("NewSize must be larger than the disk's {} GiB.", d.size_gib)));
    }
    check_size(new as u64, &d.category, &d.performance_level, &d.disk_type, "InvalidDiskSize.ValueNotSupported")?;
    if d.status != "In_use" && d.status != "Available" {
        return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk is {}.", d.status)));
    }
    cx.t.resize(VolumeId(d.volume), new as u64 * GIB).await?;
    d.size_gib = new as u64;
    cx.save(&format!("disk/{id}"), &d);
    Ok(json!({}))
}

// -------------------------------------------------------------- snapshots

async fn snapshot_json<S: Store>(cx: &mut Cx<'_, S>, s: &Snapshot) -> Result<Value, EcsError> {
    let exclusive = if s.local_released { 0 } else { cx.t.exclusive_bytes(MapRef::Snapshot(SnapshotId(s.engine))).await? };
    let (progress, remain) = match super::upload::task(cx, &s.id).await? {
        Some(t) if s.status == "progressing" => super::upload::progress(&t, cx.wall, cx.settings.upload_rate),
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
        "Usage": usage(s),
        "Category": s.category,
        "InstantAccess": s.instant_access,
        "Available": snapshot_available(s),
        "Encrypted": s.encrypted,
        "KMSKeyId": "",
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
    });
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

struct SnapshotSpec {
    /// user or auto.
    snapshot_type: &'static str,
    name: String,
    description: String,
    category: &'static str,
    instant_access: Option<bool>,
    ia_days: Option<u64>,
    retention_days: Option<u64>,
    tags: Vec<(String, String)>,
    resource_group: String,
}

fn snapshot_spec(p: &Params) -> Result<SnapshotSpec, EcsError> {
    let name = p.str("SnapshotName").unwrap_or_default();
    if !name.is_empty() {
        check_name(&name, "InvalidSnapshotName.Malformed", "snapshot name", &["auto"])?;
    }
    let description = p.str("Description").unwrap_or_default();
    if !description.is_empty() {
        check_description(&description)?;
    }
    let retention_days = match p.int("RetentionDays", "InvalidRetentionDays.Malformed")? {
        Some(d) if !(1..=65_536).contains(&d) => {
            return Err(EcsError::bad("InvalidRetentionDays.Malformed", "RetentionDays is 1 to 65536 (leave it out to keep the snapshot for ever)."))
        }
        d => d.map(|d| d as u64),
    };
    let category = p.enumerated("Category", &["standard", "flash"])?.unwrap_or("standard");
    let instant_access = p.bool("InstantAccess")?;
    if category == "flash" && instant_access == Some(true) {
        return Err(EcsError::invalid("InstantAccess", "a local (flash) snapshot is not combined with InstantAccess"));
    }
    let ia_days = match p.int("InstantAccessRetentionDays", "InvalidParameter")? {
        Some(d) if !(1..=65_535).contains(&d) => return Err(EcsError::invalid("InstantAccessRetentionDays", "1 to 65535")),
        d => d.map(|d| d as u64),
    };
    Ok(SnapshotSpec {
        snapshot_type: "user",
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

/// The checks of CreateSnapshot's parameters against the disk's category (400).
fn check_snapshot_category(disk: &Disk, spec: &SnapshotSpec) -> Result<(), EcsError> {
    if spec.category == "flash" && (disk.category != "cloud_essd" || disk.encrypted) {
        return Err(EcsError::bad(
            "DiskCategory.OperationNotSupported",
            "A local snapshot can be created only for an unencrypted ESSD (cloud_essd).",
        ));
    }
    if spec.instant_access == Some(true) && disk.category != "cloud_essd" {
        return Err(EcsError::bad("DiskCategory.OperationNotSupported", "Instant access is for ESSDs only."));
    }
    if spec.ia_days.is_some() && !(spec.category == "standard" && disk.category == "cloud_essd" && spec.instant_access != Some(false)) {
        return Err(EcsError::invalid("InstantAccessRetentionDays", "instant access applies to normal snapshots of ESSDs only"));
    }
    Ok(())
}

/// The state and quota checks of CreateSnapshot for one disk.
async fn check_snapshot_allowed<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, category: &str) -> Result<(), EcsError> {
    let snaps: Vec<Snapshot> = cx.scan("snapshot/").await?;
    check_snapshot_state(cx, disk, &snaps).await?;
    check_snapshot_quota(disk, &snaps, category)
}

/// The state checks of CreateSnapshot for one disk (403s); `snaps`: every snapshot.
pub(super) async fn check_snapshot_state<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, snaps: &[Snapshot]) -> Result<(), EcsError> {
    match disk.status.as_str() {
        "In_use" => {
            let inst = cx.instance(&disk.instance_id).await?;
            if inst.status != "Running" && inst.status != "Stopped" {
                return Err(EcsError::forbidden(
                    "IncorrectInstanceStatus",
                    format!("The instance \"{}\" is {}; it must be Running or Stopped.", inst.id, inst.status),
                ));
            }
        }
        "Available" => {
            if !disk.attached_once {
                return Err(EcsError::forbidden(
                    "IncorrectDiskStatus.NeverAttached",
                    "The disk has never been attached to an instance: its data has not changed since it was created, so there is nothing to snapshot.",
                ));
            }
        }
        other => {
            return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk \"{}\" is {other}; it must be In_use or Available.", disk.id)));
        }
    }
    if let Some(h) = &disk.hydration {
        return Err(EcsError::forbidden(
            "IncorrectDiskStatus",
            format!("The disk is still being restored from OSS ({}%); snapshot it when the restore completes.", super::restore::hydration_progress(h)),
        ));
    }
    if snaps.iter().any(|s| s.source_disk_id == disk.id && s.status == "progressing") {
        return Err(EcsError::forbidden("IncorrectDiskStatus.CreatingSnapshot", "Another snapshot of this disk is still being created."));
    }
    Ok(())
}

/// The quota checks of CreateSnapshot for one disk (403s).
fn check_snapshot_quota(disk: &Disk, snaps: &[Snapshot], category: &str) -> Result<(), EcsError> {
    let mine: Vec<&Snapshot> = snaps.iter().filter(|s| s.source_disk_id == disk.id).collect();
    if mine.len() >= SNAPSHOTS_PER_DISK {
        return Err(EcsError::forbidden(
            "QuotaExceed.Snapshot",
            format!("The disk has {} snapshots, the most a disk may have. Delete some first.", SNAPSHOTS_PER_DISK),
        ));
    }
    if category == "flash" && mine.iter().filter(|s| s.category == "flash").count() >= LOCAL_SNAPSHOTS_PER_ESSD {
        return Err(EcsError::forbidden(
            "QuotaExceed.Snapshot",
            format!("An ESSD keeps at most {LOCAL_SNAPSHOTS_PER_ESSD} local snapshots. Delete one first."),
        ));
    }
    Ok(())
}

/// Takes the engine snapshot and writes its record.
async fn take_snapshot<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, spec: &SnapshotSpec, group: &str) -> Result<Snapshot, EcsError> {
    let engine = cx.t.snapshot(VolumeId(disk.volume)).await?;
    let info = cx.t.snapshot_info(engine).await?;
    let id = cx.new_id("s-");
    let seq = cx.next_seq();
    let essd = disk.category == "cloud_essd";
    let s = Snapshot {
        id: id.clone(),
        seq,
        region: disk.region.clone(),
        name: if spec.name.is_empty() { id.clone() } else { spec.name.clone() },
        description: spec.description.clone(),
        engine: engine.0,
        source_disk_id: disk.id.clone(),
        source_disk_size: disk.size_gib,
        source_disk_type: disk.disk_type.clone(),
        source_disk_category: disk.category.clone(),
        instance_id: disk.instance_id.clone(),
        snapshot_type: spec.snapshot_type.into(),
        category: spec.category.to_string(),
        instant_access: spec.category == "standard" && essd && spec.instant_access.unwrap_or(true),
        instant_access_retention_days: if spec.category == "standard" && essd { spec.ia_days.or(spec.retention_days) } else { None },
        retention_days: spec.retention_days,
        // A local snapshot is accomplished at once; a normal one when its upload to OSS completes.
        status: if spec.category == "flash" { "accomplished".into() } else { "progressing".into() },
        progress: if spec.category == "flash" { 100 } else { 0 },
        encrypted: disk.encrypted,
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
    };
    cx.save(&format!("snapshot/{id}"), &s);
    if s.category == "standard" {
        super::upload::start(cx, &s, cx.wall).await?;
    }
    Ok(s)
}

/// An automatic snapshot (a policy's run): a normal snapshot with the
/// disk's defaults. The caller made CreateSnapshot's state and quota checks.
pub(super) async fn take_auto_snapshot<S: Store>(cx: &mut Cx<'_, S>, disk: &Disk, name: String, retention_days: Option<u64>) -> Result<Snapshot, EcsError> {
    let spec = SnapshotSpec {
        snapshot_type: "auto",
        name,
        description: String::new(),
        category: "standard",
        instant_access: None,
        ia_days: None,
        retention_days,
        tags: vec![],
        resource_group: disk.resource_group.clone(),
    };
    take_snapshot(cx, disk, &spec, "").await
}

async fn create_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let disk_id = p.required("DiskId")?;
    let spec = snapshot_spec(p)?;
    let disk = cx.disk(&disk_id).await?;
    check_snapshot_category(&disk, &spec)?;
    check_snapshot_allowed(cx, &disk, spec.category).await?;
    super::params::tag_quota(&spec.tags)?;
    let s = take_snapshot(cx, &disk, &spec, "").await?;
    Ok(json!({"SnapshotId": s.id}))
}

async fn describe_snapshots<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let ids = p.json_list("SnapshotIds")?;
    if ids.len() > 100 {
        return Err(EcsError::invalid("SnapshotIds", "at most 100 ids"));
    }
    let instance = p.str("InstanceId");
    let disk = p.str("DiskId");
    let status = p.enumerated("Status", &["progressing", "accomplished", "failed", "all"])?;
    let stype = p.enumerated("SnapshotType", &["auto", "user", "all"])?;
    let usage_f = p.enumerated("Usage", &["image", "disk", "image_disk", "none"])?;
    let source = p.enumerated("SourceDiskType", &["system", "data"])?;
    let category = p.enumerated("Category", &["standard", "flash"])?;
    let encrypted = p.bool("Encrypted")?;
    let rg = p.str("ResourceGroupId");
    let tags = p.tags()?;
    let name = p.str("SnapshotName");
    let start = match p.str("CreationStartTime") {
        Some(t) => Some(parse_time(&t).ok_or_else(|| EcsError::invalid("CreationStartTime", "yyyy-MM-ddTHH:mmZ"))?),
        None => None,
    };
    let end = match p.str("CreationEndTime") {
        Some(t) => Some(parse_time(&t).ok_or_else(|| EcsError::invalid("CreationEndTime", "yyyy-MM-ddTHH:mmZ"))?),
        None => None,
    };
    let mut all: Vec<Snapshot> = cx.scan("snapshot/").await?;
    all.retain(|s| {
        s.region == cx.region
            && (ids.is_empty() || ids.contains(&s.id))
            && instance.as_ref().is_none_or(|i| &s.instance_id == i)
            && disk.as_ref().is_none_or(|d| &s.source_disk_id == d)
            && status.is_none_or(|st| st == "all" || s.status == st)
            && stype.is_none_or(|t| t == "all" || s.snapshot_type == t)
            && usage_f.is_none_or(|u| usage(s) == u)
            && source.is_none_or(|t| s.source_disk_type == t)
            && category.is_none_or(|c| s.category == c)
            && encrypted.is_none_or(|e| s.encrypted == e)
            && rg.as_ref().is_none_or(|g| &s.resource_group == g)
            && name.as_ref().is_none_or(|n| &s.name == n)
            && start.is_none_or(|t| s.created >= t)
            && end.is_none_or(|t| s.created <= t)
            && has_tags(&s.tags, &tags)
    });
    all.sort_by(|a, b| (b.created, b.seq).cmp(&(a.created, a.seq)));
    // NextToken/MaxResults paging (instead of PageNumber/PageSize when given).
    let max_results = p.int("MaxResults", "InvalidParameter")?;
    let next_token = p.str("NextToken");
    if p.bool("DryRun")? == Some(true) {
        return Err(EcsError::bad("DryRunOperation", "Request validation has been passed with DryRun flag set."));
    }
    if max_results.is_some() || next_token.is_some() {
        let max = max_results.unwrap_or(10);
        if !(1..=100).contains(&max) {
            return Err(EcsError::invalid("MaxResults", "it is 1 to 100"));
        }
        let start = match &next_token {
            Some(t) => t.parse::<usize>().map_err(|_| EcsError::bad("InvalidNextToken.Malformed", "The NextToken is not one this API gave."))?,
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

/// Deletes a snapshot's engine snapshot and record.
pub(super) async fn drop_snapshot<S: Store>(cx: &mut Cx<'_, S>, s: &Snapshot) -> Result<(), EcsError> {
    // Cancels an upload in progress, or releases the uploaded data.
    super::upload::release(cx, &s.id).await?;
    if !s.local_released {
        cx.t.delete_snapshot(SnapshotId(s.engine)).await?;
    }
    cx.t.delete_record(&format!("snapshot/{}", s.id));
    if !s.group_id.is_empty() {
        if let Some(mut g) = cx.load::<SnapshotGroup>(&format!("ssg/{}", s.group_id)).await? {
            g.snapshots.retain(|x| *x != s.id);
            cx.save(&format!("ssg/{}", g.id), &g);
        }
    }
    Ok(())
}

async fn delete_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("SnapshotId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    // An unknown id is ignored, as ECS does.
    let Some(s) = cx.load::<Snapshot>(&format!("snapshot/{id}")).await? else { return Ok(json!({})) };
    if !s.images.is_empty() {
        return Err(EcsError::forbidden(
            "SnapshotCreatedImage",
            format!("The snapshot is used by the image(s) {}; delete them first (Force does not help).", s.images.join(", ")),
        ));
    }
    if !s.disks_created.is_empty() && !force {
        return Err(EcsError::forbidden(
            "SnapshotCreatedDisk",
            format!("Disks were created from this snapshot ({}); set Force=true to delete it anyway (those disks then cannot be re-initialised).", s.disks_created.join(", ")),
        ));
    }
    drop_snapshot(cx, &s).await?;
    Ok(json!({}))
}

async fn modify_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
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
        Some(d) if !(1..=65_536).contains(&d) => return Err(EcsError::bad("InvalidRetentionDays.Malformed", "RetentionDays is 1 to 65536.")),
        d => d.map(|d| d as u64),
    };
    let disable_ia = p.bool("DisableInstantAccess")?;
    if name.is_none() && desc.is_none() && days.is_none() && disable_ia.is_none() {
        return Err(EcsError::bad("NoAttributeToModify", "Nothing to modify: give SnapshotName, Description, RetentionDays or DisableInstantAccess."));
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
            return Err(EcsError::bad(
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
    cx.save(&format!("snapshot/{id}"), &s);
    Ok(json!({}))
}

async fn reset_one<S: Store>(cx: &mut Cx<'_, S>, disk_id: &str, snapshot_id: &str) -> Result<(), EcsError> {
    let mut disk = cx.disk(disk_id).await?;
    let snap = cx.snapshot(snapshot_id).await?;
    if snap.source_disk_id != disk.id {
        return Err(EcsError::bad(
            "InvalidParameter.Mismatch",
            format!("The snapshot \"{snapshot_id}\" was not taken of the disk \"{disk_id}\"."),
        ));
    }
    if disk.status != "In_use" && disk.status != "Available" {
        return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk \"{disk_id}\" is {}; it must be In_use or Available.", disk.status)));
    }
    if disk.status == "In_use" {
        let inst = cx.instance(&disk.instance_id).await?;
        if inst.status != "Stopped" {
            return Err(EcsError::forbidden(
                "IncorrectInstanceStatus",
                format!("The instance \"{}\" is {}: stop it before rolling its disk back.", inst.id, inst.status),
            ));
        }
    }
    if !snapshot_available(&snap) {
        return Err(EcsError::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{snapshot_id}\" is not ready yet.")));
    }
    if let Some(h) = disk.hydration.take() {
        super::restore::end_hydration(cx, &h).await?;
    }
    if snap.local_released {
        // The snapshot is only in OSS: a fresh volume, hydrated from it.
        let fresh = cx.t.create_volume(disk.size_gib * GIB, super::BLOCK_SHIFT).await?;
        cx.t.delete_volume(VolumeId(disk.volume)).await?;
        disk.volume = fresh.0;
        disk.hydration = Some(super::restore::hydration_for(cx, &snap).await?);
    } else {
        cx.t.rollback(VolumeId(disk.volume), SnapshotId(snap.engine)).await?;
        disk.hydration = None;
    }
    let back = disk.status.clone();
    disk.status = "ReIniting".into();
    disk.plan = vec![(cx.now + STEP_MS, back)];
    cx.save(&format!("disk/{disk_id}"), &disk);
    Ok(())
}

async fn reset_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let disk_id = p.required("DiskId")?;
    let snapshot_id = p.required("SnapshotId")?;
    reset_one(cx, &disk_id, &snapshot_id).await?;
    Ok(json!({}))
}

async fn reset_disks<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let mut pairs = Vec::new();
    for (n, d) in p.numbered("Disk") {
        let disk = d.get("DiskId").filter(|v| !v.is_empty()).cloned().ok_or_else(|| EcsError::missing(&format!("Disk.{n}.DiskId")))?;
        let snap = d.get("SnapshotId").filter(|v| !v.is_empty()).cloned().ok_or_else(|| EcsError::missing(&format!("Disk.{n}.SnapshotId")))?;
        pairs.push((disk, snap));
    }
    if pairs.is_empty() {
        return Err(EcsError::missing("Disk.1.DiskId"));
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

// -------------------------------------------------------- snapshot groups

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

async fn create_snapshot_group<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
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
        Some(d) if !(1..=65_535).contains(&d) => return Err(EcsError::invalid("InstantAccessRetentionDays", "1 to 65535")),
        d => d.map(|d| d as u64),
    };
    let tags = p.tags()?;
    let inst = cx.instance(&instance_id).await?;
    for id in exclude.iter().chain(&include) {
        cx.disk(id).await?;
    }
    let disks: Vec<Disk> = cx.scan("disk/").await?;
    let chosen: Vec<Disk> = disks
        .into_iter()
        .filter(|d| d.instance_id == instance_id && !exclude.contains(&d.id) && (include.is_empty() || include.contains(&d.id)))
        .collect();
    if chosen.is_empty() {
        return Err(EcsError::invalid("DiskId", "no disk of the instance is left to snapshot"));
    }
    if let Some(d) = chosen.iter().find(|d| d.category != "cloud_essd") {
        return Err(EcsError::bad(
            "DiskCategory.OperationNotSupported",
            format!("A snapshot-consistent group covers ESSDs only; exclude {} ({}) with ExcludeDiskId.N.", d.id, d.category),
        ));
    }
    if inst.status != "Running" && inst.status != "Stopped" {
        return Err(EcsError::forbidden("IncorrectInstanceStatus", format!("The instance is {}; it must be Running or Stopped.", inst.status)));
    }
    for d in &chosen {
        check_snapshot_allowed(cx, d, "standard").await?;
    }
    if chosen.len() > 10 {
        return Err(EcsError::forbidden("QuotaExceed.DiskCount", "A snapshot-consistent group covers at most 10 disks."));
    }
    if chosen.iter().map(|d| d.size_gib).sum::<u64>() > 32 * 1024 {
        return Err(EcsError::forbidden("QuotaExceed.DiskCapacity", "A snapshot-consistent group covers at most 32 TiB of disks."));
    }
    super::params::tag_quota(&tags)?;
    let id = cx.new_id("ssg-");
    let spec = SnapshotSpec {
        snapshot_type: "user",
        name: String::new(),
        description: String::new(),
        category: "standard",
        instant_access: ia,
        ia_days,
        retention_days: None,
        tags: tags.clone(),
        resource_group: p.str("ResourceGroupId").unwrap_or_default(),
    };
    let mut snaps = Vec::new();
    for d in &chosen {
        snaps.push(take_snapshot(cx, d, &spec, &id).await?.id);
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
        status: "accomplished".into(),
        created: cx.now,
        resource_group: spec.resource_group,
        tags,
    };
    cx.save(&format!("ssg/{id}"), &g);
    Ok(json!({"SnapshotGroupId": id}))
}

async fn describe_snapshot_groups<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let ids = p.list("SnapshotGroupId")?;
    let instance = p.str("InstanceId");
    let name = p.str("Name");
    let mut all: Vec<SnapshotGroup> = cx.scan("ssg/").await?;
    all.retain(|g| {
        g.region == cx.region
            && (ids.is_empty() || ids.contains(&g.id))
            && instance.as_ref().is_none_or(|i| &g.instance_id == i)
            && name.as_ref().is_none_or(|n| &g.name == n)
    });
    all.sort_by(|a, b| (b.created, b.seq).cmp(&(a.created, a.seq)));
    let mut out = Vec::new();
    for g in &all {
        let mut snaps = Vec::new();
        for sid in &g.snapshots {
            if let Some(s) = cx.load::<Snapshot>(&format!("snapshot/{sid}")).await? {
                snaps.push(snapshot_json(cx, &s).await?);
            }
        }
        out.push(group_json(g, &snaps));
    }
    Ok(json!({"SnapshotGroups": {"SnapshotGroup": out}}))
}

async fn delete_snapshot_group<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("SnapshotGroupId")?;
    let force = p.bool("Force")?.unwrap_or(false);
    let g: SnapshotGroup = cx
        .load(&format!("ssg/{id}"))
        .await?
        .ok_or_else(|| EcsError::not_found("InvalidSnapshotGroupId.NotFound", format!("The snapshot-consistent group \"{id}\" does not exist.")))?;
    let mut snaps = Vec::new();
    for sid in &g.snapshots {
        if let Some(s) = cx.load::<Snapshot>(&format!("snapshot/{sid}")).await? {
            if !s.images.is_empty() {
                return Err(EcsError::forbidden("SnapshotCreatedImage", format!("The snapshot {} is used by an image.", s.id)));
            }
            if !s.disks_created.is_empty() && !force {
                return Err(EcsError::forbidden("SnapshotCreatedDisk", format!("Disks were created from the snapshot {}; set Force=true to delete the group anyway.", s.id)));
            }
            snaps.push(s);
        }
    }
    for s in &snaps {
        drop_snapshot(cx, s).await?;
    }
    cx.t.delete_record(&format!("ssg/{id}"));
    Ok(json!({"OperationProgressSet": {"OperationProgress": [{"OperationStatus": "Success"}]}}))
}

// ------------------------------------------------------------------- tags

const TAGGABLE: &[&str] = &["instance", "disk", "snapshot", "image", "snapshotgroup"];

fn tag_key(region: &str, kind: &str, id: &str) -> String {
    match kind {
        "image" => format!("image/{region}/{id}"),
        "snapshotgroup" => format!("ssg/{id}"),
        k => format!("{k}/{id}"),
    }
}

/// Loads a taggable record as JSON, applies `f` to its tags, and saves it.
async fn with_tags<S: Store>(
    cx: &mut Cx<'_, S>,
    kind: &str,
    id: &str,
    f: impl FnOnce(&mut Vec<(String, String)>) -> Result<(), EcsError>,
) -> Result<(), EcsError> {
    let key = tag_key(&cx.region, kind, id);
    let mut v: Value = cx.load(&key).await?.ok_or_else(|| {
        let code = match kind {
            "instance" => "InvalidInstanceId.NotFound",
            "disk" => "InvalidDiskId.NotFound",
            "snapshot" => "InvalidSnapshotId.NotFound",
            "image" => "InvalidImageId.NotFound",
            _ => "InvalidResourceId.NotFound",
        };
        EcsError::not_found(code, format!("The {kind} \"{id}\" does not exist."))
    })?;
    let mut tags: Vec<(String, String)> = serde_json::from_value(v["tags"].clone()).unwrap_or_default();
    f(&mut tags)?;
    v["tags"] = serde_json::to_value(&tags).unwrap();
    cx.save(&key, &v);
    Ok(())
}

async fn tag_resources<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let kind = p.enumerated("ResourceType", TAGGABLE)?.ok_or_else(|| EcsError::missing("ResourceType"))?;
    let ids = p.list("ResourceId")?;
    if ids.is_empty() {
        return Err(EcsError::missing("ResourceId.1"));
    }
    let tags = p.tags()?;
    if tags.is_empty() {
        return Err(EcsError::missing("Tag.1.Key"));
    }
    for id in &ids {
        let tags = tags.clone();
        with_tags(cx, kind, id, move |have| {
            for (k, v) in tags {
                match have.iter_mut().find(|(hk, _)| *hk == k) {
                    Some(t) => t.1 = v,
                    None => have.push((k, v)),
                }
            }
            if have.len() > 20 {
                return Err(EcsError::forbidden("QuotaExceed.Tags", "A resource can have at most 20 tags."));
            }
            Ok(())
        })
        .await?;
    }
    Ok(json!({}))
}

async fn untag_resources<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let kind = p.enumerated("ResourceType", TAGGABLE)?.ok_or_else(|| EcsError::missing("ResourceType"))?;
    let ids = p.list("ResourceId")?;
    if ids.is_empty() {
        return Err(EcsError::missing("ResourceId.1"));
    }
    let keys = p.list("TagKey")?;
    for k in &keys {
        check_tag_key(k)?;
    }
    let all = p.bool("All")?.unwrap_or(false);
    for id in &ids {
        let keys = keys.clone();
        with_tags(cx, kind, id, move |have| {
            have.retain(|(k, _)| !(all || keys.contains(k)));
            Ok(())
        })
        .await?;
    }
    Ok(json!({}))
}

async fn list_tag_resources<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let kind = p.enumerated("ResourceType", TAGGABLE)?.ok_or_else(|| EcsError::missing("ResourceType"))?;
    let ids = p.list("ResourceId")?;
    let filter = p.tags()?;
    let prefix = match kind {
        "image" => format!("image/{}/", cx.region),
        "snapshotgroup" => "ssg/".to_string(),
        k => format!("{k}/"),
    };
    let records: Vec<Value> = cx.scan(&prefix).await?;
    let mut out = Vec::new();
    let mut by_id: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in records {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        if r["region"].as_str() != Some(cx.region.as_str()) || (!ids.is_empty() && !ids.contains(&id)) {
            continue;
        }
        let tags: Vec<(String, String)> = serde_json::from_value(r["tags"].clone()).unwrap_or_default();
        if !filter.is_empty() && !has_tags(&tags, &filter) {
            continue;
        }
        by_id.insert(id, tags);
    }
    for (id, tags) in by_id {
        for (k, v) in tags {
            out.push(json!({"ResourceId": id, "ResourceType": kind, "TagKey": k, "TagValue": v}));
        }
    }
    Ok(json!({"NextToken": "", "TagResources": {"TagResource": out}}))
}

// ------------------------------------------------------- block map (extension)

/// DescribeBlockMap (a rowsnap extension): which blocks of a disk or a
/// snapshot are unwritten, written and shared (with which snapshots), or
/// exclusive, and which snapshot first captured each, as runs.
async fn describe_block_map<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let disk_id = p.str("DiskId");
    let snap_id = p.str("SnapshotId");
    let map = match (&disk_id, &snap_id) {
        (Some(d), None) => MapRef::Volume(VolumeId(cx.disk(d).await?.volume)),
        (None, Some(s)) => {
            let snap = cx.snapshot(s).await?;
            if snap.local_released {
                return Err(EcsError::forbidden(
                    "OperationDenied.LocalCopyReleased",
                    "This snapshot's local copy was released; its blocks are in OSS only.",
                ));
            }
            MapRef::Snapshot(SnapshotId(snap.engine))
        }
        _ => return Err(EcsError::bad("MissingParameter", "Give DiskId or SnapshotId (one of them).")),
    };
    // Engine snapshots by what owns them: an ECS snapshot, an image's content
    // (public or imported), or a task (an export's copy).
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for t in cx.scan::<super::tasks::Task>("task/").await? {
        if let Some(e) = t.export.as_ref().filter(|e| e.engine != 0 && t.status == "Processing") {
            names.insert(e.engine, format!("{} (export task)", t.id));
        }
    }
    for i in cx.scan::<Image>("image/").await? {
        for m in i.mappings.iter().filter(|m| m.snapshot_id.is_empty()) {
            names.insert(m.engine, i.id.clone());
        }
    }
    for s in cx.scan::<Snapshot>("snapshot/").await?.into_iter().filter(|s| !s.local_released) {
        names.insert(s.engine, s.id);
    }
    let name = |engine: u64| names.get(&engine).cloned().unwrap_or_else(|| "image".to_string());
    let m = cx.t.block_map(map).await?;
    let runs: Vec<Value> = m
        .runs
        .iter()
        .map(|r| match &r.state {
            crate::engine::BlockState::Unwritten => json!({"Start": r.start, "Length": r.len, "State": "unwritten"}),
            crate::engine::BlockState::Written { first_snapshot, shared_with, shared_with_volumes, exclusive } => json!({
                "Start": r.start,
                "Length": r.len,
                "State": if *exclusive { "exclusive" } else { "shared" },
                "FirstSnapshotId": first_snapshot.map(|s| name(s.0)).unwrap_or_default(),
                "SharedWithSnapshots": shared_with.iter().map(|s| name(s.0)).collect::<Vec<_>>(),
                "SharedWithDisks": shared_with_volumes.len(),
            }),
        })
        .collect();
    Ok(json!({"BlockSize": m.block_size, "Blocks": m.blocks, "Runs": {"Run": runs}}))
}
