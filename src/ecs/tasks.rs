//! Tasks: long work made of many bounded transactions (DescribeTasks).
//!
//! - `ImportImage` reads a RAW or QCOW2 object of the embedded OSS into a new
//!   engine volume, then snapshots it as the image's content. The object is
//!   read in 256 KiB chunks inside each step's transaction (the synchronous
//!   qcow2 reader runs over [`Prefetch`], which asks for the chunks it lacks),
//!   holes and zero clusters are skipped, and at most [`STEP_BYTES`] of data
//!   are copied per step. A bad file fails the task with the reader's reason:
//!   the image becomes `CreateFailed` and its volume is deleted.
//! - `ExportImage` (and the extensions `ExportSnapshot`, `ExportDisk`) writes
//!   a disk's content as a RAW or QCOW2 object: the export holds its own
//!   engine snapshot (taken in the request, O(1)), so the source may change or
//!   go meanwhile; the file is written front to back as a multi-part OSS put
//!   and becomes visible when the last step completes it. qcow2 files are
//!   planned up front ([`Qcow2Writer`]) from the source's written clusters.
//!
//! A step that fails on bad input records the failure in a fresh transaction
//! (the failed step's writes are dropped). A task resumes after a reload:
//! everything it needs is in its record (`task/<id>`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::EcsError;
use super::model::{Disk, Image, Snapshot};
use super::params::{check_description, check_name, Params};
use super::time::iso;
use super::{Cx, GIB};
use crate::engine::{MapRef, SnapshotId, Store, Table, VolumeId};
use crate::image::prefetch::Prefetch;
use crate::image::qcow2::{Qcow2Error, Qcow2Reader, Qcow2Writer, QCOW2_MAGIC, WRITER_CLUSTER_SIZE};
use crate::oss::{chunk_key, Embedded, ObjectMeta, ObjectStore, OssError, CHUNK};

/// The actions that start a task.
pub const STARTS_TASK: &[&str] = &["ImportImage", "ExportImage", "ExportSnapshot", "ExportDisk"];

/// Most data bytes one step copies (import) or writes (export).
pub const STEP_BYTES: u64 = 4 << 20;
/// Most guest space one import step scans for data (holes are skipped fast).
const STEP_SPAN: u64 = 1 << 30;
/// Chunks an import keeps in memory (12 MiB) and reads ahead.
const PREFETCH_CHUNKS: usize = 48;
/// Chunks fetched past a missing range (a sequential image reads ahead; a
/// fragmented one does not pile up chunks within one read).
const READ_AHEAD: u64 = 3;
const CS: u64 = WRITER_CLUSTER_SIZE;

/// A task (record `task/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Task {
    pub id: String,
    pub seq: u64,
    pub region: String,
    /// ImportImage, ExportImage, ExportSnapshot, ExportDisk.
    pub action: String,
    /// Processing, Finished, Failed, Cancelled.
    pub status: String,
    pub progress: u32,
    pub created: u64,
    pub finished: u64,
    pub resource_id: String,
    pub error_code: String,
    pub error_msg: String,
    pub import: Option<ImportJob>,
    pub export: Option<ExportJob>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ImportJob {
    pub bucket: String,
    pub object: String,
    /// RAW or QCOW2.
    pub format: String,
    /// The object's upload when the import began: a replaced object fails the import.
    pub upload_id: String,
    /// The disk size asked for (0: the image's own size, rounded up to GiB).
    pub disk_size_gib: u64,
    /// The engine volume being filled (0: not created yet).
    pub volume: u64,
    pub virtual_size: u64,
    /// Guest offset up to which the content is copied.
    pub cursor: u64,
    /// Data bytes copied (holes and zero clusters are not counted).
    pub copied: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ExportJob {
    /// The task's own engine snapshot of the content (0: the source lives only in OSS).
    pub engine: u64,
    /// The snapshot whose released content (OSS only) is exported, when `engine` is 0.
    pub snapshot_id: String,
    /// That content's pages, which the task holds (a reference each) until it ends.
    pub pages: std::collections::BTreeMap<u64, String>,
    pub block_shift: u8,
    pub bucket: String,
    pub key: String,
    /// raw or qcow2.
    pub format: String,
    pub virtual_size: u64,
    /// Written 64 KiB clusters of the content, as (first, count) runs.
    pub clusters: Vec<(u64, u64)>,
    pub upload_id: String,
    /// File bytes written.
    pub pos: u64,
    pub total: u64,
    pub stored: u64,
}

fn task_key(id: &str) -> String {
    format!("task/{id}")
}

/// What tasks keep in memory between steps: an import's qcow2 reader and a
/// qcow2 export's plan (rebuilt after a reload).
#[derive(Default)]
pub struct Readers {
    key: Option<(String, String)>,
    src: Option<Prefetch>,
    reader: Option<Qcow2Reader<Prefetch>>,
    /// A qcow2 export's plan: its task, the guest clusters, the writer and
    /// the metadata bytes (built once, not every step).
    plan: Option<(String, std::rc::Rc<ExportPlan>)>,
}

/// What a qcow2 export writes, planned once.
pub struct ExportPlan {
    clusters: Vec<u64>,
    writer: Qcow2Writer,
    metadata: Vec<u8>,
}

impl Readers {
    fn plan(&mut self, task: &str, job: &ExportJob) -> Result<std::rc::Rc<ExportPlan>, StepError> {
        if let Some((t, p)) = &self.plan {
            if t == task {
                return Ok(p.clone());
            }
        }
        let clusters = expand(&job.clusters);
        let writer = Qcow2Writer::try_plan(job.virtual_size, &clusters).map_err(|e| StepError::Store(EcsError::new(500, "InternalError", e.to_string())))?;
        let metadata = writer.metadata();
        let p = std::rc::Rc::new(ExportPlan { clusters, writer, metadata });
        self.plan = Some((task.to_string(), p.clone()));
        Ok(p)
    }
}

/// Why a step stopped: the task failed for good (bad input), or the store failed (retry).
pub enum StepError {
    Fail(String, String),
    Store(EcsError),
}

impl From<EcsError> for StepError {
    fn from(e: EcsError) -> Self {
        StepError::Store(e)
    }
}
impl From<crate::engine::EngineError> for StepError {
    fn from(e: crate::engine::EngineError) -> Self {
        StepError::Store(e.into())
    }
}
impl From<OssError> for StepError {
    fn from(e: OssError) -> Self {
        StepError::Store(oss_err(e))
    }
}

fn oss_err(e: OssError) -> EcsError {
    EcsError::new(e.http_status, &e.code, e.message)
}

fn fail(code: &str, msg: impl Into<String>) -> StepError {
    StepError::Fail(code.into(), msg.into())
}

fn qcow2_fail(e: Qcow2Error) -> StepError {
    let code = match e {
        Qcow2Error::BackingFile(_) | Qcow2Error::Encrypted(_) | Qcow2Error::Unsupported(_) | Qcow2Error::MarkedCorrupt => {
            "InvalidImage.Unsupported"
        }
        Qcow2Error::TooLarge(_) => "InvalidImage.TooLarge",
        _ => "InvalidImage.Malformed",
    };
    fail(code, format!("The QCOW2 file cannot be imported: {e}."))
}

// ------------------------------------------------------------------ actions

pub(super) async fn import_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    // Parameters.
    let name = p.str("ImageName");
    if let Some(n) = &name {
        check_name(n, "InvalidImageName.Malformed", "image name", &["aliyun", "acs:"])?;
    }
    if let Some(d) = p.str("Description") {
        check_description(&d)?;
    }
    let architecture = p.enumerated("Architecture", &["x86_64", "arm64", "i386"])?.unwrap_or("x86_64");
    let os_type = p.enumerated("OSType", &["linux", "windows"])?.unwrap_or("linux");
    let mappings = p.numbered("DiskDeviceMapping");
    if mappings.len() > 1 {
        return Err(EcsError::invalid("DiskDeviceMapping", "one disk (the system disk) per imported image"));
    }
    let Some(m) = mappings.get(&1) else {
        return Err(EcsError::missing("DiskDeviceMapping.1.OSSObject"));
    };
    let bucket = m.get("OSSBucket").filter(|s| !s.is_empty()).ok_or_else(|| EcsError::missing("DiskDeviceMapping.1.OSSBucket"))?.clone();
    let object = m.get("OSSObject").filter(|s| !s.is_empty()).ok_or_else(|| EcsError::missing("DiskDeviceMapping.1.OSSObject"))?.clone();
    let format = match m.get("Format").map(|f| f.to_ascii_uppercase()) {
        None => String::new(), // detected from the file
        Some(f) if f == "RAW" || f == "QCOW2" => f,
        Some(f) => return Err(EcsError::invalid("DiskDeviceMapping.1.Format", format!("\"{f}\" is not RAW or QCOW2"))),
    };
    let disk_size_gib = match m.get("DiskImageSize") {
        None => 0,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=2048).contains(&n) => n,
            _ => return Err(EcsError::invalid("DiskDeviceMapping.1.DiskImageSize", "a whole number of GiB from 1 to 2048")),
        },
    };
    let tags = p.tags()?;
    // Existence.
    if !Embedded.bucket_exists(&mut cx.t, &bucket).await.map_err(oss_err)? {
        return Err(oss_err(OssError::no_bucket(&bucket)));
    }
    let meta = Embedded.head(&mut cx.t, &bucket, &object).await.map_err(oss_err)?.ok_or_else(|| oss_err(OssError::no_key(&bucket, &object)))?;
    // The image's size from the start: a qcow2 file's virtual size (its
    // header's bytes 24..32), else the file's size. The task checks the rest.
    let mut source_size = meta.size;
    if format != "RAW" && meta.size >= 32 {
        let head = Embedded.get(&mut cx.t, &bucket, &object, Some((0, 32))).await.map_err(oss_err)?;
        if head.len() == 32 && u32::from_be_bytes(head[..4].try_into().unwrap()) == QCOW2_MAGIC {
            // Untrusted until the task reads the file: a corrupt header fails
            // it (InvalidImage.TooLarge past 2048 GiB); the Size stays sane.
            source_size = u64::from_be_bytes(head[24..32].try_into().unwrap()).min(2048 * GIB);
        }
    }
    // State.
    let name = super::actions::unique_image_name(cx, name, "import-").await?;
    super::params::tag_quota(&tags)?;
    // Act.
    let image_id = cx.new_id("m-");
    let task_id = cx.new_id("t-");
    let img = Image {
        id: image_id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        name,
        description: p.str("Description").unwrap_or_default(),
        owner_alias: "self".into(),
        status: "Creating".into(),
        plan: vec![],
        os_type: os_type.into(),
        os_name: p.str("Platform").unwrap_or_default(),
        platform: p.str("Platform").unwrap_or_default(),
        architecture: architecture.into(),
        size_gib: disk_size_gib.max(source_size.div_ceil(GIB)).max(1),
        mappings: vec![],
        created: cx.now,
        resource_group: p.str("ResourceGroupId").unwrap_or_default(),
        tags,
        task_id: task_id.clone(),
        ..Default::default()
    };
    cx.save(&format!("image/{}/{image_id}", cx.region), &img);
    let task = Task {
        id: task_id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        action: "ImportImage".into(),
        status: "Processing".into(),
        created: cx.now,
        resource_id: image_id.clone(),
        import: Some(ImportJob { bucket, object, format, upload_id: meta.upload_id, disk_size_gib, ..Default::default() }),
        ..Default::default()
    };
    cx.save(&task_key(&task_id), &task);
    Ok(json!({"ImageId": image_id, "TaskId": task_id, "RegionId": cx.region}))
}

/// What an export reads: an engine snapshot, or a released snapshot's OSS copy.
enum Source {
    Engine(u64),
    Released(Snapshot),
}

/// An engine snapshot the task owns, sharing every block with `sid` (O(1)).
async fn own_copy<S: Store>(cx: &mut Cx<'_, S>, sid: u64) -> Result<u64, EcsError> {
    let v = cx.t.clone_snapshot(SnapshotId(sid), None).await?;
    let s = cx.t.snapshot(v).await?;
    cx.t.delete_volume(v).await?;
    Ok(s.0)
}

async fn snapshot_source<S: Store>(cx: &mut Cx<'_, S>, s: Snapshot) -> Result<Source, EcsError> {
    if s.local_released {
        Ok(Source::Released(s))
    } else {
        Ok(Source::Engine(own_copy(cx, s.engine).await?))
    }
}

pub(super) async fn export<S: Store>(cx: &mut Cx<'_, S>, p: &Params, action: &str) -> Result<Value, EcsError> {
    // Parameters.
    let what = match action {
        "ExportImage" => "ImageId",
        "ExportSnapshot" => "SnapshotId",
        _ => "DiskId",
    };
    let id = p.required(what)?;
    let bucket = p.required("OSSBucket")?;
    let prefix = p.str("OSSPrefix").unwrap_or_default();
    if prefix.len() > 200 || prefix.starts_with('/') || prefix.chars().any(|c| c.is_control()) {
        return Err(EcsError::invalid("OSSPrefix", "at most 200 characters, not starting with /"));
    }
    let format = p.enumerated("ImageFormat", &["raw", "qcow2"])?.unwrap_or("raw");
    // Existence, then state.
    let (source, size, name) = match action {
        "ExportImage" => {
            let img = super::actions::image(cx, &id).await?;
            require_bucket(cx, &bucket).await?;
            if img.owner_alias != "self" {
                return Err(EcsError::forbidden("OperationDenied", "Public images cannot be exported; export a custom image."));
            }
            if img.status != "Available" {
                return Err(EcsError::forbidden("IncorrectImageStatus", format!("The image \"{id}\" is {}: only Available images can be exported.", img.status)));
            }
            let m = img.mappings.first().cloned().unwrap_or_default();
            let source = if m.snapshot_id.is_empty() {
                Source::Engine(own_copy(cx, m.engine).await?)
            } else {
                let s = cx.snapshot(&m.snapshot_id).await?;
                snapshot_source(cx, s).await?
            };
            (source, m.size_gib, format!("{id}_system"))
        }
        "ExportSnapshot" => {
            let s = cx.snapshot(&id).await?;
            require_bucket(cx, &bucket).await?;
            if !super::actions::snapshot_available(&s) {
                return Err(EcsError::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{id}\" is not ready yet.")));
            }
            let size = s.source_disk_size;
            (snapshot_source(cx, s).await?, size, id.clone())
        }
        _ => {
            let d: Disk = cx.disk(&id).await?;
            require_bucket(cx, &bucket).await?;
            if d.hydration.is_some() {
                return Err(EcsError::forbidden("IncorrectDiskStatus", format!("The disk \"{id}\" is still being restored from OSS; export it when HydrationProgress is 100%.")));
            }
            // Detached: the disk's own snapshot history does not see it.
            let s = cx.t.snapshot_detached(VolumeId(d.volume)).await?;
            (Source::Engine(s.0), d.size_gib, id.clone())
        }
    };
    let key = format!("{prefix}{name}.{format}");
    if key.len() > 1023 {
        return Err(EcsError::invalid("OSSPrefix", "the object key would be longer than 1023 bytes"));
    }
    // The written clusters, the file's size.
    let virtual_size = size * GIB;
    let (engine, snapshot_id, clusters, pages, block_shift) = match source {
        Source::Engine(sid) => {
            let info = cx.t.snapshot_info(SnapshotId(sid)).await?;
            let bs = info.block_size;
            let runs = cx.t.written_runs(MapRef::Snapshot(SnapshotId(sid))).await?;
            (sid, String::new(), cluster_runs(runs.into_iter().map(|(f, n)| (f * bs, n * bs))), Default::default(), 0)
        }
        Source::Released(s) => {
            let runs = super::restore::released_runs(cx, &s).await?;
            let m = super::upload::manifest(cx, &s.id).await?.ok_or_else(|| EcsError::new(500, "InternalError", format!("the snapshot {} has no manifest", s.id)))?;
            // Held until the export ends: deleting the snapshot meanwhile cannot drop them.
            super::upload::hold_pages(cx, &m.pages, 1).await?;
            (0, s.id, cluster_runs(runs.into_iter()), m.pages, m.block_shift)
        }
    };
    let total = match format {
        "qcow2" => Qcow2Writer::try_plan(virtual_size, &expand(&clusters)).map_err(|e| EcsError::new(500, "InternalError", e.to_string()))?.total_size(),
        _ => virtual_size,
    };
    let task_id = cx.new_id("t-");
    let upload_id = cx.new_id("up-");
    let task = Task {
        id: task_id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        action: action.into(),
        status: "Processing".into(),
        created: cx.now,
        resource_id: id,
        export: Some(ExportJob {
            engine,
            snapshot_id,
            pages,
            block_shift,
            bucket,
            key: key.clone(),
            format: format.into(),
            virtual_size,
            clusters,
            upload_id,
            total,
            ..Default::default()
        }),
        ..Default::default()
    };
    cx.save(&task_key(&task_id), &task);
    Ok(json!({"TaskId": task_id, "RegionId": cx.region, "OSSObject": key}))
}

async fn require_bucket<S: Store>(cx: &mut Cx<'_, S>, bucket: &str) -> Result<(), EcsError> {
    if !Embedded.bucket_exists(&mut cx.t, bucket).await.map_err(oss_err)? || bucket == crate::oss::HIDDEN_BUCKET {
        return Err(oss_err(OssError::no_bucket(bucket)));
    }
    Ok(())
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

fn expand(runs: &[(u64, u64)]) -> Vec<u64> {
    runs.iter().flat_map(|&(f, n)| f..f + n).collect()
}

async fn task<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Task, EcsError> {
    cx.load::<Task>(&task_key(id))
        .await?
        .filter(|t| t.region == cx.region)
        .ok_or_else(|| EcsError::not_found("InvalidTaskId.NotFound", format!("The task \"{id}\" does not exist.")))
}

fn task_json(t: &Task) -> Value {
    let object = t.export.as_ref().map(|e| e.key.clone()).unwrap_or_default();
    json!({
        "TaskId": t.id,
        "TaskAction": t.action,
        "TaskStatus": t.status,
        "TaskProcess": format!("{}%", t.progress),
        "SupportCancel": if t.status == "Processing" { "true" } else { "false" },
        "CreationTime": iso(t.created),
        "FinishedTime": if t.finished > 0 { iso(t.finished) } else { String::new() },
        "ResourceId": t.resource_id,
        "RegionId": t.region,
        "ErrorCode": t.error_code,
        "ErrorMsg": t.error_msg,
        "OSSObject": object,
    })
}

pub(super) async fn describe_tasks<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let ids: Vec<String> = p.list("TaskIds")?.iter().flat_map(|s| s.split(',').map(|x| x.trim().to_string())).filter(|s| !s.is_empty()).collect();
    let action = p.str("TaskAction");
    let status = p.str("TaskStatus");
    let mut tasks: Vec<Task> = cx.scan("task/").await?;
    tasks.retain(|t| {
        t.region == cx.region
            && (ids.is_empty() || ids.contains(&t.id))
            && action.as_ref().is_none_or(|a| a.eq_ignore_ascii_case(&t.action))
            && status.as_ref().is_none_or(|s| s.eq_ignore_ascii_case(&t.status))
    });
    tasks.sort_by(|a, b| (b.created, b.seq).cmp(&(a.created, a.seq)));
    let (total, number, size, items) = super::actions::page(tasks, p)?;
    let items: Vec<Value> = items.iter().map(task_json).collect();
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "RegionId": cx.region, "TaskSet": {"Task": items}}))
}

pub(super) async fn describe_task_attribute<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("TaskId")?;
    let t = task(cx, &id).await?;
    let mut v = task_json(&t);
    let failed = t.status == "Failed";
    v["TotalCount"] = json!(1);
    v["SuccessCount"] = json!(if t.status == "Finished" { 1 } else { 0 });
    v["FailedCount"] = json!(if failed { 1 } else { 0 });
    v["OperationProgressSet"] = json!({"OperationProgress": [{
        "OperationStatus": t.status,
        "ErrorCode": t.error_code,
        "ErrorMsg": t.error_msg,
        "RelatedItemSet": {"RelatedItem": [{"Name": "ResourceId", "Value": t.resource_id}]},
    }]});
    Ok(v)
}

pub(super) async fn cancel_task<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value, EcsError> {
    let id = p.required("TaskId")?;
    let mut t = task(cx, &id).await?;
    if t.status != "Processing" {
        return Err(EcsError::forbidden("IncorrectTaskStatus", format!("The task \"{id}\" is {}: only a Processing task can be cancelled.", t.status)));
    }
    end(cx, &mut t, "Cancelled", "", "").await?;
    Ok(json!({}))
}

/// Ends a task that did not finish: drops what it made, records why. An
/// import's image goes when cancelled and is `CreateFailed` when it failed.
pub(super) async fn end<S: Store>(cx: &mut Cx<'_, S>, t: &mut Task, status: &str, code: &str, msg: &str) -> Result<(), EcsError> {
    if let Some(job) = &t.import {
        if job.volume != 0 {
            cx.t.delete_volume(VolumeId(job.volume)).await?;
        }
        let key = format!("image/{}/{}", t.region, t.resource_id);
        if let Some(mut img) = cx.load::<Image>(&key).await? {
            if status == "Cancelled" {
                cx.t.delete_record(&key);
            } else {
                img.status = "CreateFailed".into();
                img.failure = format!("{code}: {msg}");
                cx.save(&key, &img);
            }
        }
    }
    if let Some(job) = &t.export {
        // The chunks written so far, by key: qcow2 files are written front to
        // back; raw ones only where the source has data.
        let written = job.pos.div_ceil(CHUNK);
        if job.format == "qcow2" {
            Embedded.delete_upload_chunks(&mut cx.t, &job.upload_id, 0..written);
        } else {
            let mut chunks: Vec<u64> = job
                .clusters
                .iter()
                .flat_map(|&(f, n)| (f * CS / CHUNK)..((f + n) * CS).div_ceil(CHUNK))
                .filter(|&c| c < written)
                .collect();
            chunks.dedup();
            Embedded.delete_upload_chunks(&mut cx.t, &job.upload_id, chunks.into_iter());
        }
        if job.engine != 0 {
            cx.t.delete_snapshot(SnapshotId(job.engine)).await?;
        }
        super::upload::hold_pages(cx, &job.pages, -1).await?;
    }
    if let Some(job) = t.export.as_mut() {
        job.clusters.clear(); // nothing more to write: keep the record small
    }
    t.status = status.into();
    t.error_code = code.into();
    t.error_msg = msg.into();
    t.finished = cx.now;
    cx.save(&task_key(&t.id), &*t);
    Ok(())
}

// ------------------------------------------------------------------ steps

/// The oldest Processing task, if any.
pub(super) async fn oldest<S: Store>(cx: &mut Cx<'_, S>) -> Result<Option<Task>, EcsError> {
    let mut tasks: Vec<Task> = cx.scan("task/").await?;
    tasks.retain(|t| t.status == "Processing");
    Ok(tasks.into_iter().min_by_key(|t| (t.created, t.seq)))
}

/// One bounded step of `task`. Ok(true) when it finished.
pub(super) async fn step<S: Store>(cx: &mut Cx<'_, S>, readers: &mut Readers, task: &mut Task) -> Result<bool, StepError> {
    let done = if task.import.is_some() { import_step(cx, readers, task).await? } else { export_step(cx, readers, task).await? };
    if done {
        task.status = "Finished".into();
        task.progress = 100;
        task.finished = cx.now;
    }
    cx.save(&task_key(&task.id), &*task);
    Ok(done)
}

/// Forgets an import's reader (after it ended).
pub(super) fn forget(readers: &mut Readers) {
    *readers = Readers::default();
}

/// Fetches the chunks a [`Qcow2Error::Pending`] names (and some after them).
async fn fetch<S: Store>(cx: &mut Cx<'_, S>, meta: &ObjectMeta, src: &Prefetch, offset: u64, len: u64) -> Result<(), StepError> {
    let missing = src.missing_chunks(offset, len, READ_AHEAD);
    let keys: Vec<String> = missing.iter().map(|&i| chunk_key(&meta.upload_id, i)).collect();
    let values = cx.t.get_many_in(Table::OssChunks, &keys).await?;
    for (i, v) in missing.into_iter().zip(values) {
        src.insert(i, v.unwrap_or_default());
    }
    Ok(())
}

/// Runs `f` against the reader, fetching what it lacks until it is done.
async fn with_fetch<S: Store, T>(
    cx: &mut Cx<'_, S>,
    meta: &ObjectMeta,
    src: &Prefetch,
    reader: &mut Qcow2Reader<Prefetch>,
    mut f: impl FnMut(&mut Qcow2Reader<Prefetch>) -> Result<T, Qcow2Error>,
) -> Result<T, StepError> {
    for _ in 0..100_000 {
        match f(reader) {
            Err(Qcow2Error::Pending { offset, len }) => fetch(cx, meta, src, offset, len).await?,
            r => {
                src.trim();
                return r.map_err(qcow2_fail);
            }
        }
    }
    Err(StepError::Store(EcsError::new(500, "InternalError", "the import's reads did not settle")))
}

async fn import_step<S: Store>(cx: &mut Cx<'_, S>, readers: &mut Readers, task: &mut Task) -> Result<bool, StepError> {
    let job = task.import.as_mut().expect("an import");
    let meta = match Embedded.head(&mut cx.t, &job.bucket, &job.object).await? {
        Some(m) if m.upload_id == job.upload_id => m,
        _ => return Err(fail("InvalidOSSObject.Changed", format!("The object \"{}\" of bucket \"{}\" was deleted or replaced during the import.", job.object, job.bucket))),
    };
    let key = (task.id.clone(), meta.upload_id.clone());
    if readers.key.as_ref() != Some(&key) {
        *readers = Readers { key: Some(key), src: Some(Prefetch::new(meta.size, CHUNK, PREFETCH_CHUNKS)), reader: None, plan: None };
    }
    let src = readers.src.clone().expect("a source");
    if job.format.is_empty() {
        // Detect: a qcow2 file starts with its magic.
        let head = Embedded.get(&mut cx.t, &job.bucket, &job.object, Some((0, 4))).await?;
        job.format = if head == b"QFI\xfb" { "QCOW2" } else { "RAW" }.into();
    }
    let qcow2 = job.format == "QCOW2";
    if qcow2 && readers.reader.is_none() {
        let mut tries = 0;
        let r = loop {
            tries += 1;
            match Qcow2Reader::open(src.clone()) {
                Err(Qcow2Error::Pending { offset, len }) if tries < 100_000 => fetch(cx, &meta, &src, offset, len).await?,
                r => {
                    src.trim();
                    break r.map_err(qcow2_fail)?;
                }
            }
        };
        readers.reader = Some(r);
    }
    let virtual_size = match &readers.reader {
        Some(r) if qcow2 => r.virtual_size(),
        _ => meta.size,
    };
    if job.volume == 0 {
        let needed = virtual_size.div_ceil(GIB).max(1);
        if needed > 2048 {
            return Err(fail(
                "InvalidImage.TooLarge",
                format!("The image's virtual size is {virtual_size} bytes; a system disk holds at most 2048 GiB."),
            ));
        }
        let gib = if job.disk_size_gib == 0 { needed } else { job.disk_size_gib };
        if gib < needed {
            return Err(fail(
                "InvalidDiskImageSize.TooSmall",
                format!("DiskImageSize is {gib} GiB but the image's virtual size is {virtual_size} bytes ({needed} GiB)."),
            ));
        }
        job.volume = cx.t.create_volume(gib * GIB, super::BLOCK_SHIFT).await?.0;
        job.virtual_size = virtual_size;
        let ikey = format!("image/{}/{}", task.region, task.resource_id);
        if let Some(mut img) = cx.load::<Image>(&ikey).await? {
            img.size_gib = gib;
            cx.save(&ikey, &img);
        }
    }
    let volume = VolumeId(job.volume);
    if qcow2 {
        let reader = readers.reader.as_mut().expect("a reader");
        let from = job.cursor;
        let (runs, next) = with_fetch(cx, &meta, &src, reader, |r| r.allocated_from(from, STEP_BYTES, STEP_SPAN)).await?;
        // Read in pieces of at most 16 clusters (64 KiB to 1 MiB): the chunks
        // one piece needs stay few however scattered the image's clusters are,
        // and are trimmed between pieces.
        let piece = (reader.cluster_size() * 16).clamp(64 << 10, 1 << 20);
        for (start, len) in runs {
            let mut at = start;
            while at < start + len {
                let n = (start + len - at).min(STEP_BYTES);
                let mut buf = vec![0u8; n as usize];
                let mut done = 0u64;
                while done < n {
                    let k = (n - done).min(piece - (at + done) % piece);
                    let (from, to) = (done as usize, (done + k) as usize);
                    with_fetch(cx, &meta, &src, reader, |r| r.read(at + done, &mut buf[from..to])).await?;
                    done += k;
                }
                cx.t.write(volume, at, &buf).await?;
                job.copied += n;
                at += n;
            }
        }
        job.cursor = next;
    } else {
        // Stored chunks only: a missing chunk is zeros, and the volume is already zero.
        let mut copied = 0;
        let mut at = job.cursor;
        let window = 16 * CHUNK;
        while at < virtual_size && copied < STEP_BYTES && at - job.cursor < STEP_SPAN / 4 {
            let first = at / CHUNK;
            let last = ((at + window).min(virtual_size) - 1) / CHUNK;
            let keys: Vec<String> = (first..=last).map(|i| chunk_key(&meta.upload_id, i)).collect();
            let values = cx.t.get_many_in(Table::OssChunks, &keys).await?;
            for (i, v) in (first..=last).zip(values) {
                if let Some(v) = v {
                    cx.t.write(volume, i * CHUNK, &v).await?;
                    copied += v.len() as u64;
                }
            }
            at = ((last + 1) * CHUNK).min(virtual_size);
        }
        job.copied += copied;
        job.cursor = at;
    }
    task.progress = ((job.cursor as f64 / virtual_size.max(1) as f64) * 100.0).min(99.0) as u32;
    let ikey = format!("image/{}/{}", task.region, task.resource_id);
    if job.cursor < virtual_size {
        if let Some(mut img) = cx.load::<Image>(&ikey).await? {
            img.progress = task.progress;
            cx.save(&ikey, &img);
        }
        return Ok(false);
    }
    // Done: the volume's content becomes the image's.
    let snap = cx.t.snapshot(volume).await?;
    cx.t.delete_volume(volume).await?;
    job.volume = 0;
    if let Some(mut img) = cx.load::<Image>(&ikey).await? {
        img.status = "Available".into();
        img.progress = 100;
        img.mappings = vec![super::model::Mapping {
            snapshot_id: String::new(),
            engine: snap.0,
            size_gib: img.size_gib,
            device: "/dev/xvda".into(),
            disk_type: "system".into(),
        }];
        cx.save(&ikey, &img);
    } else {
        // The image was deleted meanwhile: nothing keeps the content.
        cx.t.delete_snapshot(snap).await?;
    }
    Ok(true)
}

/// Reads the export's source.
async fn read_source<S: Store>(cx: &mut Cx<'_, S>, job: &ExportJob, offset: u64, len: u64) -> Result<Vec<u8>, StepError> {
    if job.engine != 0 {
        return Ok(cx.t.read(MapRef::Snapshot(SnapshotId(job.engine)), offset, len).await?);
    }
    if job.pages.is_empty() && !job.snapshot_id.is_empty() {
        // An export from before exports held their pages: read the snapshot's manifest.
        let Some(s) = cx.load::<Snapshot>(&format!("snapshot/{}", job.snapshot_id)).await? else {
            return Err(fail("InvalidSnapshotId.NotFound", format!("The snapshot \"{}\" was deleted during the export.", job.snapshot_id)));
        };
        return Ok(super::restore::read_released(cx, &s, offset, len).await?);
    }
    Ok(super::restore::read_pages(cx, &job.pages, job.block_shift, offset, len).await?)
}

async fn export_step<S: Store>(cx: &mut Cx<'_, S>, readers: &mut Readers, task: &mut Task) -> Result<bool, StepError> {
    let job = task.export.clone().expect("an export");
    let mut pos = job.pos;
    let mut stored = job.stored;
    if job.format == "qcow2" {
        let plan = readers.plan(&task.id, &job)?;
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
                    let data = read_source(cx, &job, guest, glen).await?;
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
                let data = read_source(cx, &job, pos, end - pos).await?;
                stored += Embedded.put_chunks(&mut cx.t, &job.upload_id, pos, &data);
                pos = end;
            }
        }
    }
    let total = job.total;
    let e = task.export.as_mut().expect("an export");
    e.pos = pos;
    e.stored = stored;
    task.progress = ((pos as f64 / total.max(1) as f64) * 100.0).min(99.0) as u32;
    if pos < total {
        return Ok(false);
    }
    match Embedded.complete(&mut cx.t, &job.bucket, &job.key, &job.upload_id, total, stored, cx.now).await {
        Ok(()) => {}
        Err(e) if e.code == "NoSuchBucket" => return Err(fail("NoSuchBucket", e.message)),
        Err(e) => return Err(e.into()),
    }
    if job.engine != 0 {
        cx.t.delete_snapshot(SnapshotId(job.engine)).await?;
    }
    super::upload::hold_pages(cx, &job.pages, -1).await?;
    if let Some(e) = task.export.as_mut() {
        e.clusters.clear();
    }
    Ok(true)
}

/// How many bytes an export wrote so far (tests and the bench).
pub fn progress_bytes(t: &Task) -> u64 {
    t.export.as_ref().map(|e| e.pos).or(t.import.as_ref().map(|i| i.copied)).unwrap_or(0)
}
