//! Images: the public images (seeded on a new database), CreateImage from
//! snapshots (one system-disk snapshot, plus data-disk snapshots through
//! DiskDeviceMapping.N), DescribeImages, DeleteImage. ImportImage and
//! ExportImage are tasks (`tasks`).

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, settle, Disk, DiskType, Image, ImageOwner, ImageStatus, Instance, Mapping, Snapshot, SnapshotStatus};
use super::model::{BLOCK_SHIFT, GIB, STEP_MS};
use super::params::{check_description, check_name, has_tags, newest_first, page, tag_quota, tags_json, Params};
use super::regions::REGIONS;
use super::tasks;
use super::time::iso;
use crate::engine::Store;
use crate::error::{Error, Result};

/// The public images: a few small generated disks (a boot sector and an
/// os-release file), owned by `system`.
pub async fn seed_public_images<S: Store>(cx: &mut Cx<'_, S>) -> Result<()> {
    let images: &[(&str, &str, &str, &str, u64)] = &[
        ("aliyun_3_x64_20G_alibase_20240819.vhd", "Alibaba Cloud Linux 3.2104 LTS 64 bit", "linux", "Aliyun", 20),
        ("ubuntu_22_04_x64_20G_alibase_20240819.vhd", "Ubuntu 22.04 64 bit", "linux", "Ubuntu", 20),
        ("centos_7_9_x64_20G_alibase_20240628.vhd", "CentOS 7.9 64 bit", "linux", "CentOS", 20),
        ("win2022_21H2_x64_dtc_en-us_40G_alibase_20240816.vhd", "Windows Server 2022 Datacenter 64 bit", "windows", "Windows Server 2022", 40),
    ];
    for (region, _, _) in REGIONS {
        for (id, name, os_type, platform, size) in images {
            let v = cx.t.create_volume(size * GIB, BLOCK_SHIFT).await?;
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
                owner_alias: ImageOwner::System,
                status: ImageStatus::Available,
                plan: vec![],
                os_type: os_type.to_string(),
                os_name: name.to_string(),
                platform: platform.to_string(),
                architecture: "x86_64".into(),
                size_gib: *size,
                mappings: vec![Mapping { snapshot_id: String::new(), engine: snap, size_gib: *size, device: "/dev/xvda".into(), disk_type: DiskType::System }],
                created: 0,
                resource_group: String::new(),
                tags: vec![],
                ..Default::default()
            };
            cx.put(&img);
        }
    }
    cx.settings.seeded = true;
    cx.settings_dirty = true;
    Ok(())
}

pub fn image_json(i: &Image, instances: usize) -> Value {
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
        "Progress": match i.status {
            ImageStatus::Available => "100%".to_string(),
            _ if !i.task_id.is_empty() => format!("{}%", i.progress),
            _ => "50%".to_string(),
        },
        // Extensions: the import task and why it failed.
        "ImportTaskId": i.task_id,
        "FailureReason": i.failure,
        // Extension: the image's system disk boots in the browser (v86).
        "BootsInBrowser": !i.boot.is_empty(),
        "Encrypted": i.encrypted,
        "KMSKeyId": i.kms_key_id,
        "DiskDeviceMappings": {"DiskDeviceMapping": i.mappings.iter().map(|m| json!({
            "SnapshotId": m.snapshot_id,
            "Size": m.size_gib,
            "Device": m.device,
            "Type": m.disk_type,
            "Format": "",
        })).collect::<Vec<_>>()},
    })
}

pub async fn describe_images<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let alias = p.enumerated("ImageOwnerAlias", &["system", "self", "others", "marketplace"])?;
    let ids = p.list("ImageId")?;
    let status = p.str("Status");
    let name = p.str("ImageName");
    let tags = p.tags()?;
    let instances: Vec<Instance> = cx.scan(keys::INSTANCES).await?;
    let mut imgs: Vec<Image> = cx.scan(&keys::images(&cx.region)).await?;
    for img in &mut imgs {
        settle(&mut img.status, &mut img.plan, cx.now);
    }
    imgs.retain(|i| {
        alias.is_none_or(|a| i.owner_alias.as_str() == a)
            && (ids.is_empty() || ids.iter().any(|x| x.split(',').any(|y| y.trim() == i.id)))
            && status.as_ref().is_none_or(|s| s.split(',').any(|s| s.eq_ignore_ascii_case(i.status.as_str())))
            && name.as_ref().is_none_or(|n| i.name.contains(n.as_str()))
            && has_tags(&i.tags, &tags)
    });
    newest_first(&mut imgs, |x| (x.created, x.seq));
    let (total, number, size, items) = page(imgs, p)?;
    let items: Vec<Value> = items.iter().map(|i| image_json(i, instances.iter().filter(|x| x.image_id == i.id).count())).collect();
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "RegionId": cx.region, "Images": {"Image": items}}))
}

pub async fn create_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
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
            return Err(Error::missing(&format!("DiskDeviceMapping.{n}.SnapshotId")));
        };
        let size = match m.get("Size") {
            Some(v) => Some(v.parse::<u64>().map_err(|_| Error::invalid(&format!("DiskDeviceMapping.{n}.Size"), "a whole number of GiB"))?),
            None => None,
        };
        wanted.push((s.clone(), size, m.get("Device").cloned().unwrap_or_default()));
    }
    if wanted.is_empty() {
        return Err(Error::missing("SnapshotId"));
    }
    if wanted.len() > 17 {
        return Err(Error::invalid("DiskDeviceMapping", "at most 17 disks"));
    }
    // Existence.
    let mut snaps = Vec::new();
    for (id, _, _) in &wanted {
        snaps.push(cx.snapshot(id).await?);
    }
    for ((_, size, _), s) in wanted.iter().zip(&snaps) {
        if size.is_some_and(|sz| sz < s.source_disk_size) {
            return Err(Error::bad("InvalidDiskSize.TooSmall", format!("The disk size for \"{}\" is less than its {} GiB.", s.id, s.source_disk_size)));
        }
    }
    // State.
    let systems = snaps.iter().filter(|s| s.source_disk_type == DiskType::System).count();
    if systems != 1 || snaps[0].source_disk_type != DiskType::System {
        return Err(Error::forbidden(
            "OperationDenied",
            "The specified snapshot is not from system disk. A custom image needs exactly one system-disk snapshot, first; data-disk snapshots (local ones too) join it through DiskDeviceMapping.N.",
        ));
    }
    for s in &snaps {
        // An image needs the whole snapshot: instant access is not enough.
        if s.status != SnapshotStatus::Accomplished {
            return Err(Error::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{}\" is still being created.", s.id)));
        }
    }
    let name = cx.unique_image_name(name, "image-").await?;
    tag_quota(&tags)?;
    // Act.
    let id = cx.new_id("m-");
    let mut mappings = Vec::new();
    for (letter, ((_, size, device), s)) in (b'a'..).zip(wanted.iter().zip(&snaps)) {
        let device = if device.is_empty() { format!("/dev/xvd{}", letter as char) } else { device.clone() };
        mappings.push(Mapping {
            snapshot_id: s.id.clone(),
            engine: s.engine,
            size_gib: size.unwrap_or(s.source_disk_size),
            device,
            disk_type: s.source_disk_type,
        });
        let mut s = s.clone();
        s.images.push(id.clone());
        s.last_modified = cx.now;
        cx.put(&s);
    }
    let seq = cx.next_seq();
    // What the source disk's image was (an image of a disk that boots in the browser boots too).
    let (os_type, os_name, platform, boot) = match cx.load::<Disk>(&keys::disk(&snaps[0].source_disk_id)).await? {
        Some(d) if !d.image_id.is_empty() => match cx.image(&d.image_id).await {
            Ok(i) => (i.os_type, i.os_name, i.platform, i.boot),
            Err(_) => ("linux".into(), String::new(), String::new(), String::new()),
        },
        _ => ("linux".into(), String::new(), String::new(), String::new()),
    };
    let img = Image {
        id: id.clone(),
        seq,
        region: cx.region.clone(),
        name,
        description: p.str("Description").unwrap_or_default(),
        owner_alias: ImageOwner::Own,
        status: ImageStatus::Creating,
        plan: vec![(cx.now + STEP_MS, ImageStatus::Available)],
        os_type,
        os_name,
        platform: p.str("Platform").unwrap_or(platform),
        architecture: architecture.to_string(),
        size_gib: mappings[0].size_gib,
        encrypted: snaps[0].encrypted,
        kms_key_id: snaps[0].kms_key_id.clone(),
        mappings,
        created: cx.now,
        resource_group: p.str("ResourceGroupId").unwrap_or_default(),
        tags,
        boot,
        ..Default::default()
    };
    cx.put(&img);
    Ok(json!({"ImageId": id}))
}

pub async fn delete_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("ImageId")?;
    let img = cx.image(&id).await?;
    if img.owner_alias != ImageOwner::Own {
        return Err(Error::forbidden("OperationDenied", "Public images cannot be deleted."));
    }
    let force = p.bool("Force")?.unwrap_or(false);
    let users: Vec<Instance> = cx.scan(keys::INSTANCES).await?;
    if !force && users.iter().any(|i| i.image_id == id) {
        return Err(Error::forbidden("IncorrectImageStatus.InUse", "Instances were created from this image; delete them first or set Force=true."));
    }
    for m in &img.mappings {
        if m.snapshot_id.is_empty() {
            // An imported image owns its content (disks made from it share its blocks).
            cx.t.delete_snapshot(m.engine).await?;
        } else if let Some(mut s) = cx.load::<Snapshot>(&keys::snapshot(&m.snapshot_id)).await? {
            s.images.retain(|x| *x != id);
            cx.put(&s);
        }
    }
    // Deleting an image being imported cancels its import.
    tasks::cancel_processing(cx, &img.task_id).await?;
    cx.delete(&keys::image(&cx.region, &id));
    Ok(json!({}))
}
