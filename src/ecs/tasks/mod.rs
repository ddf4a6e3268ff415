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

mod export;
mod import;

pub use export::ExportJob;
pub(super) use export::{export_disk, export_image, export_snapshot};
pub(super) use import::import_image;
pub use import::ImportJob;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, ExportFormat, Image, ImageStatus, Record, TaskAction, TaskStatus};
use super::params::{newest_first, Params};
use super::time::iso;
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::image::prefetch::Prefetch;
use crate::image::qcow2::{Qcow2Error, Qcow2Reader, Qcow2Writer, WRITER_CLUSTER_SIZE};
use crate::oss::{Embedded, CHUNK};
use crate::snapstore;
use export::{expand, export_step};
use import::import_step;

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
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(from = "TaskRecord")]
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
#[derive(Deserialize, Default)]
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

/// Saved as the stored shape, by reference: a save (every step of a task)
/// copies nothing.
impl Serialize for Task {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> std::result::Result<Ser::Ok, Ser::Error> {
        #[derive(Serialize)]
        struct Stored<'a> {
            id: &'a str,
            seq: u64,
            region: &'a str,
            action: TaskAction,
            status: TaskStatus,
            progress: u32,
            created: u64,
            finished: u64,
            resource_id: &'a str,
            error_code: &'a str,
            error_msg: &'a str,
            import: Option<&'a ImportJob>,
            export: Option<&'a ExportJob>,
        }
        let (import, export) = match &self.job {
            Job::Import(i) => (Some(i), None),
            Job::Export(e) => (None, Some(e)),
        };
        Stored {
            id: &self.id,
            seq: self.seq,
            region: &self.region,
            action: self.action,
            status: self.status,
            progress: self.progress,
            created: self.created,
            finished: self.finished,
            resource_id: &self.resource_id,
            error_code: &self.error_code,
            error_msg: &self.error_msg,
            import,
            export,
        }
        .serialize(s)
    }
}

impl Record for Task {
    fn key(&self) -> String {
        keys::task(&self.id)
    }
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
        let store = cx.x.borrow().store.clone();
        if !job.s3_upload.is_empty() && !store.is_empty() {
            // The bucket's multipart upload is aborted after this commits (`Ecs::sweep_step`).
            let abort = crate::snapstore::tier::op_key(&store, &job.key, &["abort", &job.s3_upload]);
            cx.t.put_in(crate::schema::RECORDS, &format!("{}{abort}", crate::snapstore::SWEEP), Vec::new());
        }
        snapstore::hold_pages(&mut cx.store_at(&job.store), &job.pages, -1).await?;
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

/// How many bytes an export wrote so far (tests and the bench).
pub fn progress_bytes(t: &Task) -> u64 {
    match &t.job {
        Job::Export(e) => e.pos,
        Job::Import(i) => i.copied,
    }
}
