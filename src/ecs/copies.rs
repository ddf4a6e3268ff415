//! Copies to another region (seed 000: copy an image to migrate to another
//! region; seed 002: geo-disaster recovery): CopySnapshot and CopyImage.
//!
//! A copy is a new resource of the destination region that holds its own
//! references, so deleting the source leaves it whole:
//!
//! - a snapshot copy gets its own engine snapshot of the source's content
//!   (a clone: redirect-on-write shares the blocks, nothing is rewritten)
//!   and uploads it like any normal snapshot, Progressing with Progress until
//!   its own manifest is in OSS. The embedded OSS is one content-addressed
//!   store for every region, so the upload stores only what it lacks
//!   (nothing, for an unchanged copy) but reads and hashes every block;
//! - a copy of a snapshot whose local copy was released (only in OSS) takes
//!   its own references on the source's manifest pages and is accomplished
//!   at once;
//! - an image copy copies each of its snapshots (named for the image) and is
//!   Creating until they are accomplished (see `upload::save_or_finish`); an
//!   imported image's content (an engine snapshot it owns) is cloned.

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, Image, ImageOwner, ImageStatus, Mapping, Snapshot, SnapshotCategory, SnapshotStatus, SnapshotType, STEP_MS};
use super::params::{check_description, check_name, tag_quota, Params};
use super::{kms, regions, snapshot_ops, upload};
use crate::engine::{SnapshotId, Store};
use crate::error::{Error, Result};
use crate::snapstore;

/// The destination region: known, and not the request's own.
fn destination<S: Store>(cx: &Cx<'_, S>, p: &Params) -> Result<String> {
    let dest = p.required("DestinationRegionId")?;
    if !regions::exists(&dest) {
        return Err(Error::not_found("InvalidRegionId.NotFound", format!("The destination region \"{dest}\" does not exist.")));
    }
    if dest == cx.region {
        return Err(Error::forbidden(
            "InvalidOperation.NotSupportCopyInSameRegion",
            "Copying within the same region is not supported. Specify a different DestinationRegionId and try again.",
        ));
    }
    Ok(dest)
}

/// A new engine snapshot with the content of `engine` (its blocks shared).
async fn clone_engine<S: Store>(cx: &mut Cx<'_, S>, engine: SnapshotId) -> Result<SnapshotId> {
    let v = cx.t.clone_snapshot(engine, None).await?;
    let copy = cx.t.snapshot(v).await?;
    cx.t.delete_volume(v).await?;
    Ok(copy)
}

/// Makes the copy of `src` in `region` (a normal snapshot) and starts what it needs.
async fn copy_of<S: Store>(
    cx: &mut Cx<'_, S>,
    src: &Snapshot,
    region: &str,
    name: String,
    description: String,
    retention_days: Option<u64>,
    kms_key_id: Option<&str>,
) -> Result<Snapshot> {
    // An encrypted copy keeps its data key, under a key of the destination region
    // (`KMSKeyId`, or that region's default key).
    let mut kms_id = String::new();
    if src.data_key != 0 {
        let own = std::mem::replace(&mut cx.region, region.to_string());
        let key = kms::resolve(cx, kms_key_id).await;
        let key = match key {
            Ok(k) => kms::add_wrap(cx, src.data_key, &k).await.map(|_| k),
            Err(e) => Err(e),
        };
        cx.region = own;
        kms_id = key?.id;
    } else if kms_key_id.is_some_and(|k| !k.is_empty()) {
        return Err(Error::bad(
            "InvalidParameter.Encrypted",
            "The snapshot is unencrypted: its copy is unencrypted too (KMSKeyId applies to encrypted snapshots).",
        ));
    }
    let id = cx.new_id("s-");
    let seq = cx.next_seq();
    let mut s = Snapshot {
        name: if name.is_empty() { id.clone() } else { name },
        id,
        seq,
        region: region.to_string(),
        description,
        source_disk_id: src.source_disk_id.clone(),
        source_disk_size: src.source_disk_size,
        source_disk_type: src.source_disk_type,
        source_disk_category: src.source_disk_category,
        snapshot_type: SnapshotType::User,
        category: SnapshotCategory::Standard,
        retention_days,
        status: SnapshotStatus::Progressing,
        encrypted: src.encrypted,
        kms_key_id: kms_id,
        data_key: src.data_key,
        created: cx.now,
        last_modified: cx.now,
        // A copy is whole in its region: nothing of it is shared there.
        incremental_bytes: src.referenced_bytes,
        referenced_bytes: src.referenced_bytes,
        source_snapshot_id: src.id.clone(),
        source_region_id: src.region.clone(),
        ..Default::default()
    };
    if src.local_released {
        let m = snapstore::manifest(&mut cx.store_at(&src.store), &src.id)
            .await?
            .ok_or_else(|| Error::internal(format!("the snapshot {} has neither a local copy nor a manifest", src.id)))?;
        snapstore::hold_pages(&mut cx.store_at(&src.store), &m.pages, 1).await?;
        s.uploaded_bytes = snapstore::put_manifest(&mut cx.store_at(&src.store), &s.id, &m)?;
        s.store = src.store.clone();
        s.local_released = true;
        s.status = SnapshotStatus::Accomplished;
        s.progress = 100;
        cx.put(&s);
    } else {
        s.engine = clone_engine(cx, src.engine).await?;
        cx.put(&s);
        upload::start(cx, &s, cx.wall).await?;
    }
    Ok(s)
}

pub async fn copy_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    // Parameters.
    let id = p.required("SnapshotId")?;
    let name = p.str("DestinationSnapshotName").unwrap_or_default();
    if !name.is_empty() {
        check_name(&name, "InvalidSnapshotName.Malformed", "snapshot name", &["auto"])?;
    }
    let description = p.str("DestinationSnapshotDescription").unwrap_or_default();
    if !description.is_empty() {
        check_description(&description)?;
    }
    let retention_days = snapshot_ops::retention_days(p)?;
    let tags = p.tags()?;
    let dest = destination(cx, p)?;
    // Existence.
    let src = cx.snapshot(&id).await?;
    // State.
    if src.category == SnapshotCategory::Flash {
        return Err(Error::forbidden("OperationDenied", "Local snapshots cannot be copied: copy a normal snapshot of the disk."));
    }
    if src.status != SnapshotStatus::Accomplished {
        return Err(Error::forbidden(
            "IncorrectSnapshotStatus",
            format!("The snapshot \"{id}\" is {}: only an accomplished normal snapshot (uploaded to OSS) can be copied.", src.status),
        ));
    }
    let snaps = cx.all_snapshots().await?;
    if let Some(c) = snaps
        .iter()
        .find(|s| s.region == dest && !s.source_snapshot_id.is_empty() && s.source_disk_id == src.source_disk_id && s.status == SnapshotStatus::Progressing)
    {
        return Err(Error::forbidden(
            "InvalidOperation.DiskHasUnfinishedSnapshotCopy",
            format!("There is an unfinished snapshot copy \"{}\" of this disk in {dest}. Wait for it to complete, or choose another region.", c.id),
        ));
    }
    tag_quota(&tags)?;
    // Act.
    let mut s = copy_of(cx, &src, &dest, name, description, retention_days, p.str("KMSKeyId").as_deref()).await?;
    if !tags.is_empty() {
        s.tags = tags;
        cx.put(&s);
    }
    Ok(json!({"SnapshotId": s.id}))
}

pub async fn copy_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    // Parameters.
    let id = p.required("ImageId")?;
    let name = p.str("DestinationImageName");
    if let Some(n) = &name {
        check_name(n, "InvalidImageName.Malformed", "image name", &["aliyun", "acs:"])?;
    }
    let description = p.str("DestinationDescription");
    if let Some(d) = &description {
        check_description(d)?;
    }
    let dest = destination(cx, p)?;
    // Existence.
    let img = cx.image(&id).await?;
    // State.
    if img.owner_alias != ImageOwner::Own {
        return Err(Error::forbidden("OperationDenied", "Only custom images can be copied: public images are in every region already."));
    }
    if img.status != ImageStatus::Available {
        return Err(Error::forbidden("IncorrectImageStatus", format!("The image \"{id}\" is {}: only an Available image can be copied.", img.status)));
    }
    let name = name.unwrap_or_else(|| img.name.clone());
    let theirs: Vec<Image> = cx.scan(&keys::images(&dest)).await?;
    if theirs.iter().any(|i| i.name == name) {
        return Err(Error::forbidden("InvalidImageName.Duplicated", format!("An image named \"{name}\" already exists in {dest}.")));
    }
    let mut sources = Vec::new();
    for m in &img.mappings {
        sources.push(if m.snapshot_id.is_empty() { None } else { Some(cx.snapshot(&m.snapshot_id).await?) });
    }
    // Act.
    let copy_id = cx.new_id("m-");
    let mut mappings = Vec::new();
    let mut copying = false;
    for (m, src) in img.mappings.iter().zip(&sources) {
        let mapping = match src {
            None => Mapping { engine: clone_engine(cx, m.engine).await?, ..m.clone() },
            Some(src) => {
                let what = format!("Copied for image {copy_id} from {}", img.id);
                let mut s = copy_of(cx, src, &dest, String::new(), what, None, None).await?;
                s.images.push(copy_id.clone());
                cx.put(&s);
                copying |= s.status == SnapshotStatus::Progressing;
                Mapping { snapshot_id: s.id.clone(), engine: s.engine, ..m.clone() }
            }
        };
        mappings.push(mapping);
    }
    let seq = cx.next_seq();
    let description = description.unwrap_or_else(|| img.description.clone());
    let copy = Image {
        id: copy_id.clone(),
        seq,
        region: dest,
        name,
        description,
        owner_alias: ImageOwner::Own,
        status: ImageStatus::Creating,
        // Available when its snapshots' copies are accomplished (upload::save_or_finish).
        plan: if copying { vec![] } else { vec![(cx.now + STEP_MS, ImageStatus::Available)] },
        mappings,
        created: cx.now,
        tags: img.tags.clone(),
        task_id: String::new(),
        progress: 0,
        failure: String::new(),
        ..img
    };
    cx.put(&copy);
    Ok(json!({"ImageId": copy_id}))
}
