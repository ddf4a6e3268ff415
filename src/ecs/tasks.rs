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

use super::cx::Cx;
use super::model::{
    keys, zero_is_none, Disk, DiskType, EcsEnum, ExportFormat, Image, ImageOwner, ImageStatus, ImportFormat, Mapping, Record, Snapshot, TaskAction, TaskStatus,
};
use super::model::{BLOCK_SHIFT, GIB};
use super::params::{check_description, check_name, newest_first, tag_quota, Params};
use super::restore;
use super::time::iso;
use crate::engine::{MapRef, SnapshotId, Store, VolumeId};
use crate::error::{Error, Result};
use crate::image::prefetch::Prefetch;
use crate::image::qcow2::{Qcow2Error, Qcow2Reader, Qcow2Writer, QCOW2_MAGIC, WRITER_CLUSTER_SIZE};
use crate::oss::{chunk_key, Embedded, ObjectMeta, CHUNK};
use crate::snapstore;

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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "TaskRecord", into = "TaskRecord")]
pub struct Task {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub action: TaskAction,
    pub status: TaskStatus,
    pub progress: u32,
    pub created: u64,
    pub finished: u64,
    pub resource_id: String,
    pub error_code: String,
    pub error_msg: String,
    pub job: Job,
}

/// What a task does.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Import(ImportJob),
    Export(ExportJob),
}

impl Task {
    pub fn export(&self) -> Option<&ExportJob> {
        match &self.job {
            Job::Export(e) => Some(e),
            Job::Import(_) => None,
        }
    }
}

/// A task as stored: the job is one of two fields (as records always had it).
#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct TaskRecord {
    id: String,
    seq: u64,
    region: String,
    action: TaskAction,
    status: TaskStatus,
    progress: u32,
    created: u64,
    finished: u64,
    resource_id: String,
    error_code: String,
    error_msg: String,
    import: Option<ImportJob>,
    export: Option<ExportJob>,
}

impl From<TaskRecord> for Task {
    fn from(r: TaskRecord) -> Self {
        let job = match (r.import, r.export) {
            (Some(i), _) => Job::Import(i),
            (None, Some(e)) => Job::Export(e),
            (None, None) if r.action == TaskAction::ImportImage => Job::Import(ImportJob::default()),
            (None, None) => Job::Export(ExportJob::default()),
        };
        Task {
            id: r.id,
            seq: r.seq,
            region: r.region,
            action: r.action,
            status: r.status,
            progress: r.progress,
            created: r.created,
            finished: r.finished,
            resource_id: r.resource_id,
            error_code: r.error_code,
            error_msg: r.error_msg,
            job,
        }
    }
}

impl From<Task> for TaskRecord {
    fn from(t: Task) -> Self {
        let (import, export) = match t.job {
            Job::Import(i) => (Some(i), None),
            Job::Export(e) => (None, Some(e)),
        };
        TaskRecord {
            id: t.id,
            seq: t.seq,
            region: t.region,
            action: t.action,
            status: t.status,
            progress: t.progress,
            created: t.created,
            finished: t.finished,
            resource_id: t.resource_id,
            error_code: t.error_code,
            error_msg: t.error_msg,
            import,
            export,
        }
    }
}

impl Record for Task {
    fn key(&self) -> String {
        keys::task(&self.id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ImportJob {
    pub bucket: String,
    pub object: String,
    pub format: ImportFormat,
    /// The object's upload when the import began: a replaced object fails the import.
    pub upload_id: String,
    /// The disk size asked for (0: the image's own size, rounded up to GiB).
    pub disk_size_gib: u64,
    /// The engine volume being filled (none: not created yet).
    #[serde(with = "zero_is_none")]
    pub volume: Option<VolumeId>,
    pub virtual_size: u64,
    /// Guest offset up to which the content is copied.
    pub cursor: u64,
    /// Data bytes copied (holes and zero clusters are not counted).
    pub copied: u64,
}

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
        let writer = Qcow2Writer::try_plan(job.virtual_size, &clusters).map_err(|e| StepError::Store(Error::internal(e)))?;
        let metadata = writer.metadata();
        let p = std::rc::Rc::new(ExportPlan { clusters, writer, metadata });
        self.plan = Some((task.to_string(), p.clone()));
        Ok(p)
    }
}

/// Why a step stopped: the task failed for good (bad input), or the store failed (retry).
pub enum StepError {
    Fail(String, String),
    Store(Error),
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError::Store(e)
    }
}
impl From<crate::engine::EngineError> for StepError {
    fn from(e: crate::engine::EngineError) -> Self {
        StepError::Store(e.into())
    }
}

fn fail(code: &str, msg: impl Into<String>) -> StepError {
    StepError::Fail(code.into(), msg.into())
}

fn qcow2_fail(e: Qcow2Error) -> StepError {
    let code = match e {
        Qcow2Error::BackingFile(_) | Qcow2Error::Encrypted(_) | Qcow2Error::Unsupported(_) | Qcow2Error::MarkedCorrupt => "InvalidImage.Unsupported",
        Qcow2Error::TooLarge(_) => "InvalidImage.TooLarge",
        _ => "InvalidImage.Malformed",
    };
    fail(code, format!("The QCOW2 file cannot be imported: {e}."))
}

// ------------------------------------------------------------------ actions

pub(super) async fn import_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
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
        return Err(Error::invalid("DiskDeviceMapping", "one disk (the system disk) per imported image"));
    }
    let Some(m) = mappings.get(&1) else {
        return Err(Error::missing("DiskDeviceMapping.1.OSSObject"));
    };
    let bucket = m.get("OSSBucket").filter(|s| !s.is_empty()).ok_or_else(|| Error::missing("DiskDeviceMapping.1.OSSBucket"))?.clone();
    let object = m.get("OSSObject").filter(|s| !s.is_empty()).ok_or_else(|| Error::missing("DiskDeviceMapping.1.OSSObject"))?.clone();
    let format = match m.get("Format") {
        None => ImportFormat::Detect,
        Some(f) => match EcsEnum::parse(f) {
            Some(ImportFormat::Detect) | None => return Err(Error::invalid("DiskDeviceMapping.1.Format", format!("\"{f}\" is not RAW or QCOW2"))),
            Some(f) => f,
        },
    };
    let disk_size_gib = match m.get("DiskImageSize") {
        None => 0,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (1..=2048).contains(&n) => n,
            _ => return Err(Error::invalid("DiskDeviceMapping.1.DiskImageSize", "a whole number of GiB from 1 to 2048")),
        },
    };
    let tags = p.tags()?;
    // Existence.
    if !Embedded.bucket_exists(&mut cx.t, &bucket).await? {
        return Err(Error::no_bucket(&bucket));
    }
    let meta = Embedded.head(&mut cx.t, &bucket, &object).await?.ok_or_else(|| Error::no_key(&bucket, &object))?;
    // The image's size from the start: a qcow2 file's virtual size (its
    // header's bytes 24..32), else the file's size. The task checks the rest.
    let mut source_size = meta.size;
    if format != ImportFormat::Raw && meta.size >= 32 {
        let head = Embedded.get(&mut cx.t, &bucket, &object, Some((0, 32))).await?;
        if head.len() == 32 && u32::from_be_bytes(head[..4].try_into().unwrap()) == QCOW2_MAGIC {
            // Untrusted until the task reads the file: a corrupt header fails
            // it (InvalidImage.TooLarge past 2048 GiB); the Size stays sane.
            source_size = u64::from_be_bytes(head[24..32].try_into().unwrap()).min(2048 * GIB);
        }
    }
    // State.
    let name = cx.unique_image_name(name, "import-").await?;
    tag_quota(&tags)?;
    // Act.
    let image_id = cx.new_id("m-");
    let task_id = cx.new_id("t-");
    let img = Image {
        id: image_id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        name,
        description: p.str("Description").unwrap_or_default(),
        owner_alias: ImageOwner::Own,
        status: ImageStatus::Creating,
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
    cx.put(&img);
    let task = Task {
        id: task_id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        action: TaskAction::ImportImage,
        status: TaskStatus::Processing,
        progress: 0,
        created: cx.now,
        finished: 0,
        resource_id: image_id.clone(),
        error_code: String::new(),
        error_msg: String::new(),
        job: Job::Import(ImportJob { bucket, object, format, upload_id: meta.upload_id, disk_size_gib, ..Default::default() }),
    };
    cx.put(&task);
    Ok(json!({"ImageId": image_id, "TaskId": task_id, "RegionId": cx.region}))
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

pub(super) async fn export_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    export(cx, p, TaskAction::ExportImage).await
}

/// ExportSnapshot (extension): one snapshot's content, like ExportImage.
pub(super) async fn export_snapshot<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    export(cx, p, TaskAction::ExportSnapshot).await
}

/// ExportDisk (extension): a disk's content as it is now, like ExportImage.
pub(super) async fn export_disk<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    export(cx, p, TaskAction::ExportDisk).await
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
            let m = img.mappings.first().cloned().unwrap_or_default();
            let source = if m.snapshot_id.is_empty() {
                Source::Engine(own_copy(cx, m.engine).await?)
            } else {
                let s = cx.snapshot(&m.snapshot_id).await?;
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
            let size = s.source_disk_size;
            (snapshot_source(cx, s).await?, size, id.clone())
        }
        _ => {
            let d: Disk = cx.disk(&id).await?;
            require_bucket(cx, &bucket).await?;
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
    if key.len() > 1023 {
        return Err(Error::invalid("OSSPrefix", "the object key would be longer than 1023 bytes"));
    }
    // The written clusters, the file's size.
    let virtual_size = size * GIB;
    let (engine, snapshot_id, clusters, pages, block_shift) = match source {
        Source::Engine(sid) => {
            let info = cx.t.snapshot_info(sid).await?;
            let bs = info.block_size;
            let runs = cx.t.written_runs(MapRef::Snapshot(sid)).await?;
            (Some(sid), String::new(), cluster_runs(runs.into_iter().map(|(f, n)| (f * bs, n * bs))), Default::default(), 0)
        }
        Source::Released(s) => {
            let runs = restore::released_runs(cx, &s).await?;
            let m = snapstore::manifest(&mut cx.store(), &s.id).await?.ok_or_else(|| Error::internal(format!("the snapshot {} has no manifest", s.id)))?;
            // Held until the export ends: deleting the snapshot meanwhile cannot drop them.
            snapstore::hold_pages(&mut cx.store(), &m.pages, 1).await?;
            (None, s.id, cluster_runs(runs.into_iter()), m.pages, m.block_shift)
        }
    };
    let total = match format {
        ExportFormat::Qcow2 => Qcow2Writer::try_plan(virtual_size, &expand(&clusters)).map_err(Error::internal)?.total_size(),
        _ => virtual_size,
    };
    let task_id = cx.new_id("t-");
    let upload_id = cx.new_id("up-");
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
    if !Embedded.bucket_exists(&mut cx.t, bucket).await? || bucket == crate::oss::HIDDEN_BUCKET {
        return Err(Error::no_bucket(bucket));
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

async fn task<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Task> {
    cx.load::<Task>(&keys::task(id))
        .await?
        .filter(|t| t.region == cx.region)
        .ok_or_else(|| Error::not_found("InvalidTaskId.NotFound", format!("The task \"{id}\" does not exist.")))
}

fn task_json(t: &Task) -> Value {
    let object = t.export().map(|e| e.key.clone()).unwrap_or_default();
    json!({
        "TaskId": t.id,
        "TaskAction": t.action,
        "TaskStatus": t.status,
        "TaskProcess": format!("{}%", t.progress),
        "SupportCancel": if t.status == TaskStatus::Processing { "true" } else { "false" },
        "CreationTime": iso(t.created),
        "FinishedTime": if t.finished > 0 { iso(t.finished) } else { String::new() },
        "ResourceId": t.resource_id,
        "RegionId": t.region,
        "ErrorCode": t.error_code,
        "ErrorMsg": t.error_msg,
        "OSSObject": object,
    })
}

pub(super) async fn describe_tasks<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let ids: Vec<String> = p.list("TaskIds")?.iter().flat_map(|s| s.split(',').map(|x| x.trim().to_string())).filter(|s| !s.is_empty()).collect();
    let action = p.str("TaskAction");
    let status = p.str("TaskStatus");
    let mut tasks: Vec<Task> = cx.scan(keys::TASKS).await?;
    tasks.retain(|t| {
        t.region == cx.region
            && (ids.is_empty() || ids.contains(&t.id))
            && action.as_ref().is_none_or(|a| a.eq_ignore_ascii_case(t.action.as_str()))
            && status.as_ref().is_none_or(|s| s.eq_ignore_ascii_case(t.status.as_str()))
    });
    newest_first(&mut tasks, |x| (x.created, x.seq));
    let (total, number, size, items) = super::params::page(tasks, p)?;
    let items: Vec<Value> = items.iter().map(task_json).collect();
    Ok(json!({"TotalCount": total, "PageNumber": number, "PageSize": size, "RegionId": cx.region, "TaskSet": {"Task": items}}))
}

pub(super) async fn describe_task_attribute<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("TaskId")?;
    let t = task(cx, &id).await?;
    let mut v = task_json(&t);
    let failed = t.status == TaskStatus::Failed;
    v["TotalCount"] = json!(1);
    v["SuccessCount"] = json!(if t.status == TaskStatus::Finished { 1 } else { 0 });
    v["FailedCount"] = json!(if failed { 1 } else { 0 });
    v["OperationProgressSet"] = json!({"OperationProgress": [{
        "OperationStatus": t.status,
        "ErrorCode": t.error_code,
        "ErrorMsg": t.error_msg,
        "RelatedItemSet": {"RelatedItem": [{"Name": "ResourceId", "Value": t.resource_id}]},
    }]});
    Ok(v)
}

pub(super) async fn cancel_task<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("TaskId")?;
    let mut t = task(cx, &id).await?;
    if t.status != TaskStatus::Processing {
        return Err(Error::forbidden("IncorrectTaskStatus", format!("The task \"{id}\" is {}: only a Processing task can be cancelled.", t.status)));
    }
    end(cx, &mut t, TaskStatus::Cancelled, "", "").await?;
    Ok(json!({}))
}

/// Cancels task `id` if it is still Processing (DeleteImage of an image being imported).
pub(super) async fn cancel_processing<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<()> {
    if let Some(mut t) = cx.load::<Task>(&keys::task(id)).await? {
        if t.status == TaskStatus::Processing {
            end(cx, &mut t, TaskStatus::Cancelled, "", "").await?;
        }
    }
    Ok(())
}

/// Ends a task that did not finish: drops what it made, records why. An
/// import's image goes when cancelled and is `CreateFailed` when it failed.
pub(super) async fn end<S: Store>(cx: &mut Cx<'_, S>, t: &mut Task, status: TaskStatus, code: &str, msg: &str) -> Result<()> {
    if let Job::Import(job) = &t.job {
        if let Some(v) = job.volume {
            cx.t.delete_volume(v).await?;
        }
        let key = keys::image(&t.region, &t.resource_id);
        if let Some(mut img) = cx.load::<Image>(&key).await? {
            if status == TaskStatus::Cancelled {
                cx.delete(&key);
            } else {
                img.status = ImageStatus::CreateFailed;
                img.failure = format!("{code}: {msg}");
                cx.put(&img);
            }
        }
    }
    if let Job::Export(job) = &mut t.job {
        // The chunks written so far, by key: qcow2 files are written front to
        // back; raw ones only where the source has data.
        let written = job.pos.div_ceil(CHUNK);
        if job.format == ExportFormat::Qcow2 {
            Embedded.delete_upload_chunks(&mut cx.t, &job.upload_id, 0..written);
        } else {
            let mut chunks: Vec<u64> =
                job.clusters.iter().flat_map(|&(f, n)| (f * CS / CHUNK)..((f + n) * CS).div_ceil(CHUNK)).filter(|&c| c < written).collect();
            chunks.dedup();
            Embedded.delete_upload_chunks(&mut cx.t, &job.upload_id, chunks.into_iter());
        }
        if let Some(engine) = job.engine {
            cx.t.delete_snapshot(engine).await?;
        }
        snapstore::hold_pages(&mut cx.store(), &job.pages, -1).await?;
        job.clusters.clear(); // nothing more to write: keep the record small
    }
    t.status = status;
    t.error_code = code.into();
    t.error_msg = msg.into();
    t.finished = cx.now;
    cx.put(&*t);
    Ok(())
}

// ------------------------------------------------------------------ steps

/// The oldest Processing task, if any.
pub(super) async fn oldest<S: Store>(cx: &mut Cx<'_, S>) -> Result<Option<Task>> {
    let mut tasks: Vec<Task> = cx.scan(keys::TASKS).await?;
    tasks.retain(|t| t.status == TaskStatus::Processing);
    Ok(tasks.into_iter().min_by_key(|t| (t.created, t.seq)))
}

/// One bounded step of `task`. Ok(true) when it finished.
pub(super) async fn step<S: Store>(cx: &mut Cx<'_, S>, readers: &mut Readers, task: &mut Task) -> Result<bool, StepError> {
    let image_key = keys::image(&task.region, &task.resource_id);
    let done = match &mut task.job {
        Job::Import(job) => import_step(cx, readers, &task.id, &image_key, &mut task.progress, job).await?,
        Job::Export(job) => export_step(cx, readers, &task.id, &mut task.progress, job).await?,
    };
    if done {
        task.status = TaskStatus::Finished;
        task.progress = 100;
        task.finished = cx.now;
    }
    cx.put(&*task);
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
    let values = cx.t.get_many_in(crate::oss::CHUNKS, &keys).await?;
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
    Err(StepError::Store(Error::internal("the import's reads did not settle")))
}

async fn import_step<S: Store>(
    cx: &mut Cx<'_, S>,
    readers: &mut Readers,
    task_id: &str,
    image_key: &str,
    progress: &mut u32,
    job: &mut ImportJob,
) -> Result<bool, StepError> {
    let meta = match Embedded.head(&mut cx.t, &job.bucket, &job.object).await? {
        Some(m) if m.upload_id == job.upload_id => m,
        _ => {
            return Err(fail(
                "InvalidOSSObject.Changed",
                format!("The object \"{}\" of bucket \"{}\" was deleted or replaced during the import.", job.object, job.bucket),
            ))
        }
    };
    let key = (task_id.to_string(), meta.upload_id.clone());
    if readers.key.as_ref() != Some(&key) {
        *readers = Readers { key: Some(key), src: Some(Prefetch::new(meta.size, CHUNK, PREFETCH_CHUNKS)), reader: None, plan: None };
    }
    let src = readers.src.clone().expect("a source");
    if job.format == ImportFormat::Detect {
        // Detect: a qcow2 file starts with its magic.
        let head = Embedded.get(&mut cx.t, &job.bucket, &job.object, Some((0, 4))).await?;
        job.format = if head == b"QFI\xfb" { ImportFormat::Qcow2 } else { ImportFormat::Raw };
    }
    let qcow2 = job.format == ImportFormat::Qcow2;
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
    let volume = match job.volume {
        Some(v) => v,
        None => {
            let needed = virtual_size.div_ceil(GIB).max(1);
            if needed > 2048 {
                return Err(fail("InvalidImage.TooLarge", format!("The image's virtual size is {virtual_size} bytes; a system disk holds at most 2048 GiB.")));
            }
            let gib = if job.disk_size_gib == 0 { needed } else { job.disk_size_gib };
            if gib < needed {
                return Err(fail(
                    "InvalidDiskImageSize.TooSmall",
                    format!("DiskImageSize is {gib} GiB but the image's virtual size is {virtual_size} bytes ({needed} GiB)."),
                ));
            }
            let v = cx.t.create_volume(gib * GIB, BLOCK_SHIFT).await?;
            job.volume = Some(v);
            job.virtual_size = virtual_size;
            if let Some(mut img) = cx.load::<Image>(image_key).await? {
                img.size_gib = gib;
                cx.put(&img);
            }
            v
        }
    };
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
            let values = cx.t.get_many_in(crate::oss::CHUNKS, &keys).await?;
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
    *progress = ((job.cursor as f64 / virtual_size.max(1) as f64) * 100.0).min(99.0) as u32;
    if job.cursor < virtual_size {
        if let Some(mut img) = cx.load::<Image>(image_key).await? {
            img.progress = *progress;
            cx.put(&img);
        }
        return Ok(false);
    }
    // Done: the volume's content becomes the image's.
    let snap = cx.t.snapshot(volume).await?;
    cx.t.delete_volume(volume).await?;
    job.volume = None;
    if let Some(mut img) = cx.load::<Image>(image_key).await? {
        img.status = ImageStatus::Available;
        img.progress = 100;
        img.mappings =
            vec![Mapping { snapshot_id: String::new(), engine: snap, size_gib: img.size_gib, device: "/dev/xvda".into(), disk_type: DiskType::System }];
        cx.put(&img);
    } else {
        // The image was deleted meanwhile: nothing keeps the content.
        cx.t.delete_snapshot(snap).await?;
    }
    Ok(true)
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
    Ok(restore::read_pages(cx, &job.pages, job.block_shift, offset, len).await?)
}

async fn export_step<S: Store>(cx: &mut Cx<'_, S>, readers: &mut Readers, task_id: &str, progress: &mut u32, job: &mut ExportJob) -> Result<bool, StepError> {
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
    if pos < total {
        return Ok(false);
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
    snapstore::hold_pages(&mut cx.store(), &job.pages, -1).await?;
    job.clusters.clear();
    Ok(true)
}

/// How many bytes an export wrote so far (tests and the bench).
pub fn progress_bytes(t: &Task) -> u64 {
    match &t.job {
        Job::Export(e) => e.pos,
        Job::Import(i) => i.copied,
    }
}
