//! ExportImage and the extensions ExportSnapshot and ExportDisk: a disk's
//! content written as a RAW or QCOW2 object of the embedded OSS, front to
//! back, as a multi-part put completed by the last step. The export holds
//! its own O(1) engine snapshot (or the pages of a released snapshot), so the
//! source may change or go meanwhile.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{fail, Job, Readers, StepError, Task, CS, STEP_BYTES};
use crate::ecs::cx::Cx;
use crate::ecs::model::{keys, zero_is_none, Disk, ExportFormat, ImageOwner, ImageStatus, Snapshot, TaskAction, TaskStatus, GIB};
use crate::ecs::params::Params;
use crate::ecs::restore;
use crate::engine::{MapRef, SnapshotId, Store};
use crate::error::{Error, Result};
use crate::image::qcow2::Qcow2Writer;
use crate::oss::{Embedded, ObjectMeta, CHUNK};
use crate::snapstore;

/// An export's progress (in its task record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ExportJob {
    /// The task's own engine snapshot of the content (none: the source lives only in OSS).
    #[serde(with = "zero_is_none")]
    pub engine: Option<SnapshotId>,
    /// The snapshot whose released content (OSS only) is exported, when `engine` is 0.
    pub snapshot_id: String,
    /// That content's pages, which the task holds (a reference each) until it ends.
    pub pages: std::collections::BTreeMap<u64, String>,
    pub block_shift: u8,
    /// Where the released snapshot's data is (`Snapshot::store`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub store: String,
    pub bucket: String,
    pub key: String,
    pub format: ExportFormat,
    pub virtual_size: u64,
    /// Written 64 KiB clusters of the content, as (first, count) runs.
    pub clusters: Vec<(u64, u64)>,
    pub upload_id: String,
    /// File bytes written.
    pub pos: u64,
    pub total: u64,
    pub stored: u64,
    /// To the connected bucket: the file is written here first (under
    /// `upload_id`), then sent as a multipart upload, a part a step.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub remote: bool,
    /// The multipart upload's id ("" until begun) and its parts' ETags.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub s3_upload: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub etags: Vec<String>,
}

/// What an export reads: an engine snapshot, or a released snapshot's OSS copy.
enum Source {
    Engine(SnapshotId),
    Released(Box<Snapshot>),
}

/// An engine snapshot the task owns, sharing every block with `sid` (O(1)).
async fn own_copy<S: Store>(cx: &mut Cx<'_, S>, sid: SnapshotId) -> Result<SnapshotId> {
    let v = cx.t.clone_snapshot(sid, None).await?;
    let s = cx.t.snapshot(v).await?;
    cx.t.delete_volume(v).await?;
    Ok(s)
}

async fn snapshot_source<S: Store>(cx: &mut Cx<'_, S>, s: Snapshot) -> Result<Source> {
    if s.local_released {
        Ok(Source::Released(Box::new(s)))
    } else {
        Ok(Source::Engine(own_copy(cx, s.engine).await?))
    }
}

pub(in crate::ecs) async fn export_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    export(cx, p, TaskAction::ExportImage).await
}

/// ExportSnapshot (extension): one snapshot's content, like ExportImage.
pub(in crate::ecs) async fn export_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    export(cx, p, TaskAction::ExportSnapshot).await
}

/// ExportDisk (extension): a disk's content as it is now, like ExportImage.
pub(in crate::ecs) async fn export_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    export(cx, p, TaskAction::ExportDisk).await
}

/// Exports are refused for encrypted resources: the file would hold their plaintext.
fn encrypted(id: &str) -> Error {
    Error::forbidden(
        "InvalidOperation.EncryptedNotSupported",
        format!("\"{id}\" is encrypted: it cannot be exported, since the exported file would hold its data in plaintext."),
    )
}

async fn export<S: Store>(cx: &mut Cx<'_, S>, p: &Params, action: TaskAction) -> Result<Value> {
    // Parameters.
    let what = match action {
        TaskAction::ExportImage => "ImageId",
        TaskAction::ExportSnapshot => "SnapshotId",
        _ => "DiskId",
    };
    let id = p.required(what)?;
    let bucket = p.required("OSSBucket")?;
    let prefix = p.str("OSSPrefix").unwrap_or_default();
    if prefix.len() > 200 || prefix.starts_with('/') || prefix.chars().any(|c| c.is_control()) {
        return Err(Error::invalid("OSSPrefix", "at most 200 characters, not starting with /"));
    }
    let format = p.one_of("ImageFormat")?.unwrap_or(ExportFormat::Raw);
    // Existence, then state.
    let (source, size, name) = match action {
        TaskAction::ExportImage => {
            let img = cx.image(&id).await?;
            require_bucket(cx, &bucket).await?;
            if img.owner_alias != ImageOwner::Own {
                return Err(Error::forbidden("OperationDenied", "Public images cannot be exported; export a custom image."));
            }
            if img.status != ImageStatus::Available {
                return Err(Error::forbidden("IncorrectImageStatus", format!("The image \"{id}\" is {}: only Available images can be exported.", img.status)));
            }
            if img.encrypted {
                return Err(encrypted(&id));
            }
            let m = img.mappings.first().cloned().unwrap_or_default();
            let source = if m.snapshot_id.is_empty() {
                Source::Engine(own_copy(cx, m.engine).await?)
            } else {
                let s = cx.snapshot(&m.snapshot_id).await?;
                if s.encrypted {
                    return Err(encrypted(&id));
                }
                snapshot_source(cx, s).await?
            };
            (source, m.size_gib, format!("{id}_system"))
        }
        TaskAction::ExportSnapshot => {
            let s = cx.snapshot(&id).await?;
            require_bucket(cx, &bucket).await?;
            if !s.available() {
                return Err(Error::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{id}\" is not ready yet.")));
            }
            if s.encrypted {
                return Err(encrypted(&id));
            }
            let size = s.source_disk_size;
            (snapshot_source(cx, s).await?, size, id.clone())
        }
        _ => {
            let d: Disk = cx.disk(&id).await?;
            require_bucket(cx, &bucket).await?;
            if d.encrypted {
                return Err(encrypted(&id));
            }
            if d.hydration.is_some() {
                return Err(Error::forbidden(
                    "IncorrectDiskStatus",
                    format!("The disk \"{id}\" is still being restored from OSS; export it when HydrationProgress is 100%."),
                ));
            }
            // Detached: the disk's own snapshot history does not see it.
            let s = cx.t.snapshot_detached(d.volume).await?;
            (Source::Engine(s), d.size_gib, id.clone())
        }
    };
    let key = format!("{prefix}{name}.{format}");
    if cx.is_remote_bucket(&bucket) && key.starts_with("rowsnap/") {
        return Err(Error::invalid("OSSPrefix", "rowsnap/ in the connected bucket holds normal snapshots' data"));
    }
    if key.len() > 1023 {
        return Err(Error::invalid("OSSPrefix", "the object key would be longer than 1023 bytes"));
    }
    // The written clusters, the file's size.
    let virtual_size = size * GIB;
    let mut store = String::new();
    let (engine, snapshot_id, clusters, pages, block_shift) = match source {
        Source::Engine(sid) => {
            let info = cx.t.snapshot_info(sid).await?;
            let bs = info.block_size;
            let runs = cx.t.written_runs(MapRef::Snapshot(sid)).await?;
            (Some(sid), String::new(), cluster_runs(runs.into_iter().map(|(f, n)| (f * bs, n * bs))), Default::default(), 0)
        }
        Source::Released(s) => {
            let runs = restore::released_runs(cx, &s).await?;
            let m = restore::manifest_of(cx, &s).await?;
            // Held until the export ends: deleting the snapshot meanwhile cannot drop them.
            snapstore::hold_pages(&mut cx.store_at(&s.store), &m.pages, 1).await?;
            store = s.store.clone();
            (None, s.id, cluster_runs(runs.into_iter()), m.pages, m.block_shift)
        }
    };
    let total = match format {
        ExportFormat::Qcow2 => Qcow2Writer::try_plan(virtual_size, &expand(&clusters)).map_err(Error::internal)?.total_size(),
        _ => virtual_size,
    };
    let task_id = cx.new_id("t-");
    let upload_id = cx.new_id("up-");
    let remote = cx.is_remote_bucket(&bucket);
    let task = Task {
        id: task_id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        action,
        status: TaskStatus::Processing,
        created: cx.now,
        resource_id: id,
        progress: 0,
        finished: 0,
        error_code: String::new(),
        error_msg: String::new(),
        job: Job::Export(ExportJob {
            engine,
            snapshot_id,
            pages,
            block_shift,
            store,
            remote,
            bucket,
            key: key.clone(),
            format,
            virtual_size,
            clusters,
            upload_id,
            total,
            ..Default::default()
        }),
    };
    cx.put(&task);
    Ok(json!({"TaskId": task_id, "RegionId": cx.region, "OSSObject": key}))
}

async fn require_bucket<S: Store>(cx: &mut Cx<'_, S>, bucket: &str) -> Result<()> {
    if cx.is_remote_bucket(bucket) {
        return Ok(());
    }
    if !Embedded.bucket_exists(&mut cx.t, bucket).await? || bucket == crate::oss::HIDDEN_BUCKET {
        return Err(Error::no_bucket(bucket));
    }
    Ok(())
}

/// One step of sending a finished file to the connected bucket: begins the
/// multipart upload, or sends its next part (8 MiB, holes as zeros), or
/// completes it. Each request is moved by `Ecs::remote` between two rounds
/// of the step; the file written here goes with the last.
async fn send_step<S: Store>(cx: &mut Cx<'_, S>, task_id: &str, progress: &mut u32, job: &mut ExportJob) -> Result<bool, StepError> {
    use crate::snapstore::tier::op_key;
    let store = cx.x.borrow().store.clone();
    if !cx.is_remote_bucket(&job.bucket) {
        return Err(fail("InvalidObjectStorage.NotConnected", format!("The bucket \"{}\" is no longer connected.", job.bucket)));
    }
    if job.s3_upload.is_empty() {
        let id = cx.remote_op(&op_key(&store, &job.key, &["begin", task_id]), Vec::new())?;
        job.s3_upload = String::from_utf8_lossy(&id).into_owned();
        return Ok(false);
    }
    let part = crate::ecs::PART;
    let parts = job.total.div_ceil(part).max(1);
    let n = job.etags.len() as u64;
    if n < parts {
        let (from, to) = (n * part, ((n + 1) * part).min(job.total));
        let idx: Vec<u64> = (from / CHUNK..to.div_ceil(CHUNK)).collect();
        let keys: Vec<String> = idx.iter().map(|&i| crate::oss::chunk_key(&job.upload_id, i)).collect();
        let mut data = vec![0u8; (to - from) as usize];
        for (i, v) in idx.iter().zip(cx.t.get_many_in(crate::oss::CHUNKS, &keys).await?) {
            if let Some(v) = v {
                let at = (i * CHUNK - from) as usize;
                data[at..at + v.len()].copy_from_slice(&v);
            }
        }
        let etag = cx.remote_op(&op_key(&store, &job.key, &["part", &job.s3_upload, &(n + 1).to_string()]), data)?;
        job.etags.push(String::from_utf8_lossy(&etag).into_owned());
        *progress = 50 + ((n + 1) * 49 / parts) as u32;
        return Ok(false);
    }
    let etags = job.etags.join("\n").into_bytes();
    cx.remote_op(&op_key(&store, &job.key, &["complete", &job.s3_upload]), etags)?;
    let written = job.pos.div_ceil(CHUNK);
    Embedded.delete_upload_chunks(&mut cx.t, &job.upload_id, 0..written);
    if let Some(engine) = job.engine.take() {
        cx.t.delete_snapshot(engine).await?;
    }
    snapstore::hold_pages(&mut cx.store_at(&job.store), &job.pages, -1).await?;
    job.clusters.clear();
    Ok(true)
}

/// Byte ranges -> runs of the 64 KiB clusters they touch, merged.
fn cluster_runs(ranges: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (start, len) in ranges {
        if len == 0 {
            continue;
        }
        let (first, last) = (start / CS, (start + len - 1) / CS);
        match out.last_mut() {
            Some((f, n)) if *f + *n >= first => *n = (*n).max(last + 1 - *f),
            _ => out.push((first, last + 1 - first)),
        }
    }
    out
}

pub(super) fn expand(runs: &[(u64, u64)]) -> Vec<u64> {
    runs.iter().flat_map(|&(f, n)| f..f + n).collect()
}

/// Reads the export's source.
async fn read_source<S: Store>(cx: &mut Cx<'_, S>, job: &ExportJob, offset: u64, len: u64) -> Result<Vec<u8>, StepError> {
    if let Some(engine) = job.engine {
        return Ok(cx.t.read(MapRef::Snapshot(engine), offset, len).await?);
    }
    if job.pages.is_empty() && !job.snapshot_id.is_empty() {
        // An export from before exports held their pages: read the snapshot's manifest.
        let Some(s) = cx.load::<Snapshot>(&keys::snapshot(&job.snapshot_id)).await? else {
            return Err(fail("InvalidSnapshotId.NotFound", format!("The snapshot \"{}\" was deleted during the export.", job.snapshot_id)));
        };
        return Ok(restore::read_released(cx, &s, offset, len).await?);
    }
    Ok(restore::read_pages(cx, &job.store, &job.pages, job.block_shift, 0, offset, len).await?)
}

pub(super) async fn export_step<S: Store>(
    cx: &mut Cx<'_, S>,
    readers: &mut Readers,
    task_id: &str,
    progress: &mut u32,
    job: &mut ExportJob,
) -> Result<bool, StepError> {
    let mut pos = job.pos;
    let mut stored = job.stored;
    if job.format == ExportFormat::Qcow2 {
        let plan = readers.plan(task_id, job)?;
        let (clusters, w) = (&plan.clusters, &plan.writer);
        let end = (pos + STEP_BYTES).min(w.total_size());
        if pos < end {
            let mut buf = vec![0u8; (end - pos) as usize];
            let meta_len = w.metadata_len();
            if pos < meta_len {
                let to = end.min(meta_len);
                buf[..(to - pos) as usize].copy_from_slice(&plan.metadata[pos as usize..to as usize]);
            }
            // Data clusters i..j of the file, read in runs of guest-contiguous clusters.
            let first = pos.max(meta_len);
            if first < end {
                let (i, j) = (((first - meta_len) / CS) as usize, ((end - meta_len).div_ceil(CS)) as usize);
                let mut k = i;
                while k < j {
                    let mut n = 1;
                    while k + n < j && clusters[k + n] == clusters[k] + n as u64 {
                        n += 1;
                    }
                    let guest = clusters[k] * CS;
                    let glen = (n as u64 * CS).min(job.virtual_size - guest);
                    let data = read_source(cx, job, guest, glen).await?;
                    let file_at = w.data_offset(k);
                    // Copy the part of [file_at, file_at + glen) inside [pos, end).
                    let (from, to) = (file_at.max(pos), (file_at + glen).min(end));
                    if from < to {
                        buf[(from - pos) as usize..(to - pos) as usize].copy_from_slice(&data[(from - file_at) as usize..(to - file_at) as usize]);
                    }
                    k += n;
                }
            }
            stored += Embedded.put_chunks(&mut cx.t, &job.upload_id, pos, &buf);
            pos = end;
        }
    } else {
        // Raw: only the chunks that hold written clusters.
        let next = job.clusters.iter().map(|&(f, n)| (f * CS, (f + n) * CS)).find(|&(_, e)| e > pos);
        match next {
            None => pos = job.total,
            Some((start, _)) => {
                if start > pos {
                    pos = start / CHUNK * CHUNK;
                }
                let end = (pos + STEP_BYTES).min(job.total);
                let data = read_source(cx, job, pos, end - pos).await?;
                stored += Embedded.put_chunks(&mut cx.t, &job.upload_id, pos, &data);
                pos = end;
            }
        }
    }
    let total = job.total;
    job.pos = pos;
    job.stored = stored;
    *progress = ((pos as f64 / total.max(1) as f64) * 100.0).min(99.0) as u32;
    if job.remote {
        // Written here at half the progress; sent to the bucket for the rest.
        *progress /= 2;
    }
    if pos < total {
        return Ok(false);
    }
    if job.remote {
        return send_step(cx, task_id, progress, job).await;
    }
    let meta = ObjectMeta { bucket: job.bucket.clone(), key: job.key.clone(), size: total, upload_id: job.upload_id.clone(), last_modified: cx.now, stored };
    match Embedded.complete(&mut cx.t, meta).await {
        Ok(()) => {}
        Err(e) if e.code == "NoSuchBucket" => return Err(fail("NoSuchBucket", e.message)),
        Err(e) => return Err(e.into()),
    }
    if let Some(engine) = job.engine.take() {
        cx.t.delete_snapshot(engine).await?;
    }
    snapstore::hold_pages(&mut cx.store_at(&job.store), &job.pages, -1).await?;
    job.clusters.clear();
    Ok(true)
}
