//! The ECS layer: regions, instances, disks, snapshots, images, snapshot
//! groups and tags over the engine, with ECS's states, preconditions and
//! error codes. Plain Rust: the browser binding is `crate::api`.
//!
//! One request is one engine transaction: ECS records (JSON in the
//! `records` table) and engine blocks change together or not at all.
//! Checks run in ECS's order: parameters (400), existence (404), state
//! (403), quota (403).
//!
//! Time is the console's clock: the real clock plus an offset that
//! `advance_clock` moves forward. States that ECS moves by itself (an
//! instance Starting, then Running) are *plans*: steps due at a time, applied
//! whenever a record is read after that time.

mod actions;
mod blockmap;
mod copies;
mod cx;
mod disks;
mod groups;
pub mod guest;
mod images;
mod instances;
pub mod kms;
pub mod model;
mod objects;
pub mod params;
mod policies;
mod regions;
mod remote;
mod restore;
mod snapshot_ops;
mod snapshots;
mod tags;
pub mod tasks;
pub mod time;
pub mod upload;

use serde_json::Value;

use crate::engine::{Engine, MapRef, Store};
use crate::error::{Error, ErrorKind, Result};
use crate::util::Rng;
pub(crate) use cx::Cx;
use model::{keys, Settings, TaskStatus};
pub use objects::PART;
use params::Params;
pub use regions::{DEFAULT_REGION, REGIONS};
pub use snapshot_ops::{LOCAL_SNAPSHOTS_PER_ESSD, SNAPSHOTS_PER_DISK};

/// The rowsnap version (`window.ecs.version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Most bytes one `write_disk` / `read_disk` / `read_snapshot` call moves.
pub const MAX_IO: u64 = 64 << 20;
pub use model::BLOCK_SHIFT;
use model::GIB;

/// The ECS service over an engine.
pub struct Ecs<S: Store> {
    engine: Engine<S>,
    wall: Box<dyn Fn() -> u64>,
    rng: Rng,
    settings: Settings,
    readers: tasks::Readers,
    /// The task whose steps failed on the store, and how many times in a row.
    task_failures: (String, u32),
    /// A task may be Processing (true after opening and after a request that
    /// starts one; false once a step found none): the background loop then
    /// opens no transaction while nothing is to be done.
    tasks_pending: bool,
    /// The machines alive in this tab and their queued writes (`guest`).
    guests: guest::Guests,
    /// The keys unwrapped in this tab (`kms`).
    kms: std::rc::Rc<std::cell::RefCell<kms::Kms>>,
    /// The tab's exchange with a remote object store (`remote`).
    x: std::rc::Rc<std::cell::RefCell<crate::snapstore::Exchange>>,
}

impl<S: Store> Ecs<S> {
    /// Opens the ECS layer over `store`; `wall` gives the real time in ms
    /// since the Unix epoch. Creates the public images on a new database.
    pub async fn open(store: S, wall: Box<dyn Fn() -> u64>) -> Result<Self> {
        let engine = Engine::open(store).await?;
        let seed = wall() ^ 0x5eed_ec50_0000_0000;
        let mut ecs = Ecs {
            engine,
            wall,
            rng: Rng::new(seed),
            settings: Settings::default(),
            readers: tasks::Readers::default(),
            task_failures: (String::new(), 0),
            tasks_pending: true,
            guests: guest::Guests::default(),
            kms: Default::default(),
            x: Default::default(),
        };
        let mut t = ecs.engine.begin().await?;
        if let Some(s) = t.get_in(crate::schema::RECORDS, keys::SETTINGS).await? {
            ecs.settings = serde_json::from_slice(&s)?;
        }
        drop(t);
        if !ecs.settings.seeded {
            let mut cx = ecs.cx(DEFAULT_REGION).await?;
            images::seed_public_images(&mut cx).await?;
            ecs.settings = cx.commit().await?;
        }
        Ok(ecs)
    }

    pub fn engine(&mut self) -> &mut Engine<S> {
        &mut self.engine
    }

    pub fn engine_ref(&self) -> &Engine<S> {
        &self.engine
    }

    /// The console's clock, ms since the Unix epoch.
    pub fn now(&self) -> u64 {
        (self.wall)() + self.settings.clock_offset_ms
    }

    pub fn clock_offset_seconds(&self) -> f64 {
        self.settings.clock_offset_ms as f64 / 1000.0
    }

    /// The guest build the Linux image holds ("" before one was installed).
    pub fn guest_build(&self) -> &str {
        &self.settings.guest_build
    }

    pub fn upload_rate(&self) -> Option<u64> {
        self.settings.upload_rate
    }

    /// A new RequestId: an uppercase UUID.
    pub fn request_id(&mut self) -> String {
        let a = self.rng.next_u64();
        let b = self.rng.next_u64();
        let h = format!("{a:016X}{b:016X}");
        let variant = ['8', '9', 'A', 'B'][(b >> 62) as usize];
        format!("{}-{}-4{}-{variant}{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    }

    /// Opens one request's transaction.
    async fn cx(&mut self, region: &str) -> Result<Cx<'_, S>> {
        self.cx_in(region, false).await
    }

    /// As [`Ecs::cx`] (the default region), in a transaction whose commit is
    /// durable against an operating system crash (`Store::begin_strict`).
    async fn cx_strict(&mut self) -> Result<Cx<'_, S>> {
        self.cx_in("", true).await
    }

    async fn cx_in(&mut self, region: &str, strict: bool) -> Result<Cx<'_, S>> {
        let now = self.now();
        let wall = (self.wall)();
        let settings = self.settings.clone();
        let t = if strict { self.engine.begin_strict().await? } else { self.engine.begin().await? };
        let (live, paused) = (self.guests.live(), self.guests.paused());
        Ok(Cx {
            t,
            now,
            wall,
            rng: &mut self.rng,
            settings,
            settings_dirty: false,
            region: region.to_string(),
            live,
            paused,
            resume: Vec::new(),
            kms: self.kms.clone(),
            x: self.x.clone(),
        })
    }

    /// One ECS API action by its ECS name. The response carries `RequestId`;
    /// an error carries the Code, Message, HTTP status and RequestId.
    pub async fn request(&mut self, action: &str, params: &Value) -> Result<Value, (Error, String)> {
        let request_id = self.request_id();
        let result = self.remote(async |e| e.request_inner(action, params).await).await.map_err(|e| self.name_key(e));
        match result {
            Ok(mut v) => {
                if let Value::Object(m) = &mut v {
                    m.insert("RequestId".into(), Value::String(request_id));
                }
                Ok(v)
            }
            Err(e) => Err((e, request_id)),
        }
    }

    async fn request_inner(&mut self, action: &str, params: &Value) -> Result<Value> {
        actions::check_exists(action)?;
        let p = Params::from_value(params)?;
        // Some actions spell it regionId (the automatic snapshot policy ones).
        let region = p.str("RegionId").or_else(|| p.str("regionId")).unwrap_or_else(|| DEFAULT_REGION.to_string());
        if !regions::exists(&region) {
            return Err(Error::not_found("InvalidRegionId.NotFound", format!("The region \"{region}\" does not exist.")));
        }
        // Every write a guest completed is applied before any action runs. When
        // they cannot be (storage full, a key locked: their machine is paused),
        // they stay queued and the action still runs: it may be the one that
        // frees space.
        if let Err(e) = self.flush_guest_writes().await {
            if e.kind == ErrorKind::Closed {
                return Err(e);
            }
        }
        let mut cx = self.cx(&region).await?;
        // What earlier rollbacks dropped is released here, off their own path.
        cx.t.collect_garbage().await?;
        due_work(&mut cx).await?;
        let out = actions::dispatch(&mut cx, action, &p).await?;
        let resume = std::mem::take(&mut cx.resume);
        self.settings = cx.commit().await?;
        self.guests.resume(&resume);
        if tasks::STARTS_TASK.contains(&action) {
            self.tasks_pending = true;
        }
        if matches!(action, "CancelTask" | "DeleteImage") {
            // An import may have ended: its reader's memory goes (rebuilt if not).
            tasks::forget(&mut self.readers);
        }
        Ok(out)
    }

    /// The engine's "data key N is locked", said with the KMS key that can unlock it.
    pub(crate) fn name_key(&self, e: Error) -> Error {
        match e.kind {
            ErrorKind::KeyLocked { data_key, key_id: None } => kms::data_key_locked(&self.kms.borrow(), data_key),
            _ => e,
        }
    }

    /// Writes `data` at byte `offset` of a disk attached to a Running instance.
    pub async fn write_disk(&mut self, disk_id: &str, offset: u64, data: &[u8]) -> Result<()> {
        self.remote(async |e| e.write_disk_inner(disk_id, offset, data).await).await.map_err(|e| self.name_key(e))
    }

    async fn write_disk_inner(&mut self, disk_id: &str, offset: u64, data: &[u8]) -> Result<()> {
        if data.len() as u64 > MAX_IO {
            return Err(Error::invalid("Bytes", "at most 64 MiB a call"));
        }
        if self.guests.holds(disk_id) {
            return Err(Error::forbidden(
                "IncorrectDiskStatus",
                format!("The disk \"{disk_id}\" is in use by its instance's running machine: a write under its mounted file system would corrupt it. Write from inside the guest, or stop the instance first."),
            ));
        }
        let mut cx = self.cx("").await?;
        let mut disk = cx.disk(disk_id).await?;
        check_range(offset, data.len() as u64, disk.size_gib * GIB)?;
        cx.check_running(&disk).await?;
        restore::write_disk(&mut cx, &mut disk, offset, data).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Reads `length` bytes at `offset` of a disk attached to a Running instance.
    pub async fn read_disk(&mut self, disk_id: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.remote(async |e| e.read_disk_inner(disk_id, offset, length).await).await.map_err(|e| self.name_key(e))
    }

    async fn read_disk_inner(&mut self, disk_id: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        if length > MAX_IO {
            return Err(Error::invalid("Length", "at most 64 MiB a call"));
        }
        self.flush_guest_writes().await?;
        let mut cx = self.cx("").await?;
        let disk = cx.disk(disk_id).await?;
        check_range(offset, length, disk.size_gib * GIB)?;
        cx.check_running(&disk).await?;
        let out = restore::read_disk(&mut cx, &disk, offset, length).await?;
        self.settings = cx.commit().await?;
        Ok(out)
    }

    /// Reads a snapshot's content (like EBS GetSnapshotBlock).
    pub async fn read_snapshot(&mut self, snapshot_id: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.remote(async |e| e.read_snapshot_inner(snapshot_id, offset, length).await).await.map_err(|e| self.name_key(e))
    }

    async fn read_snapshot_inner(&mut self, snapshot_id: &str, offset: u64, length: u64) -> Result<Vec<u8>> {
        if length > MAX_IO {
            return Err(Error::invalid("Length", "at most 64 MiB a call"));
        }
        let mut cx = self.cx("").await?;
        let s = cx.snapshot(snapshot_id).await?;
        if !s.available() {
            return Err(Error::forbidden("InvalidSnapshotId.NotReady", format!("The snapshot \"{snapshot_id}\" is not ready yet.")));
        }
        check_range(offset, length, s.source_disk_size * GIB)?;
        let out = if s.local_released {
            restore::read_released(&mut cx, &s, offset, length).await?
        } else {
            cx.t.read(MapRef::Snapshot(s.engine), offset, length).await?
        };
        self.settings = cx.commit().await?;
        Ok(out)
    }

    /// Moves the console's clock forward, then applies whatever became due
    /// (state steps, retention).
    pub async fn advance_clock(&mut self, seconds: f64) -> Result<()> {
        // At most about a century at once: the clock stays far from overflowing.
        if !(seconds.is_finite() && (0.0..=3.2e9).contains(&seconds)) {
            return Err(Error::invalid("Seconds", "a number of seconds from 0 to 3.2e9"));
        }
        let add = (seconds * 1000.0) as u64;
        let mut cx = self.cx(DEFAULT_REGION).await?;
        cx.settings.clock_offset_ms += add;
        cx.now += add;
        cx.settings_dirty = true;
        due_work(&mut cx).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Caps uploads to OSS at `rate` bytes per second (None: no cap).
    pub async fn set_upload_rate(&mut self, rate: Option<u64>) -> Result<()> {
        if rate == Some(0) {
            return Err(Error::invalid("BytesPerSecond", "more than 0, or null for no cap"));
        }
        let mut cx = self.cx(DEFAULT_REGION).await?;
        cx.settings.upload_rate = rate;
        cx.settings_dirty = true;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Uploads up to `budget` bytes of the oldest normal snapshot still
    /// uploading, in one transaction. Returns the snapshot and whether its
    /// upload completed; None when nothing is uploading.
    pub async fn upload_step(&mut self, budget: u64) -> Result<Option<(String, bool)>> {
        self.remote(async |e| e.upload_step_inner(budget).await).await
    }

    async fn upload_step_inner(&mut self, budget: u64) -> Result<Option<(String, bool)>> {
        let mut cx = self.cx("").await?;
        let out = upload::step(&mut cx, budget).await?;
        self.settings = cx.commit().await?;
        Ok(out)
    }

    /// Copies up to `budget` bytes of a disk restored from OSS into its
    /// volume, in one transaction. None when no disk is hydrating.
    pub async fn hydrate_step(&mut self, budget: u64) -> Result<Option<(String, bool)>> {
        self.remote(async |e| e.hydrate_step_inner(budget).await).await
    }

    async fn hydrate_step_inner(&mut self, budget: u64) -> Result<Option<(String, bool)>> {
        let mut cx = self.cx("").await?;
        let out = restore::hydrate_step(&mut cx, budget).await?;
        self.settings = cx.commit().await?;
        Ok(out)
    }

    /// Uploads up to `budget` bytes of the oldest uploading snapshot in
    /// stretches of `stretch` bytes, pipelined: the next stretch is read (a
    /// read-only transaction over the engine's tables) while the previous one
    /// is written (a transaction over OSS and records), each stretch one
    /// transaction. Returns like [`Ecs::upload_step`].
    pub async fn upload_pump(&mut self, budget: u64, stretch: u64) -> Result<Option<(String, bool)>> {
        let now = self.now();
        let wall = (self.wall)();
        let engine = &self.engine;
        let rng = &mut self.rng;
        let settings = self.settings.clone();
        let kms = self.kms.clone();
        let x = self.x.clone();
        let mut cx = upper_cx(engine, rng, settings, now, wall, kms.clone(), x.clone()).await?;
        let Some(mut task) = upload::oldest(&mut cx).await? else { return Ok(None) };
        drop(cx);
        if !task.store.is_empty() {
            // To a bucket: a step's objects are stored before it commits
            // (`remote`); at most 8 MiB a step bounds what it holds meanwhile.
            return self.upload_step(budget.min(8 << 20)).await;
        }
        let id = task.snapshot_id.clone();
        let bs = 1u64 << task.block_shift;
        let read = |task: &upload::UploadTask, s: (u64, u64)| {
            let (offset, len) = upload::stretch_bytes(task, s);
            let snap = MapRef::Snapshot(task.engine);
            async move { engine.begin_engine_read().await?.read(snap, offset, len).await }
        };
        let mut budget = budget.max(bs);
        let Some(mut current) = upload::next_stretch(&task, stretch.min(budget)) else {
            let mut cx = upper_cx(engine, &mut self.rng, self.settings.clone(), now, wall, kms.clone(), x.clone()).await?;
            let done = upload::save_or_finish(&mut cx, task).await?;
            self.settings = cx.commit().await?;
            return Ok(Some((id, done)));
        };
        let mut data = read(&task, current).await?;
        loop {
            let mut cx = upper_cx(engine, &mut self.rng, self.settings.clone(), now, wall, kms.clone(), x.clone()).await?;
            upload::apply_stretch(&mut cx, &mut task, current, &data).await?;
            budget = budget.saturating_sub(current.1 * bs);
            let next = if budget >= bs { upload::next_stretch(&task, stretch.min(budget)) } else { None };
            let Some(next) = next else {
                let done = upload::save_or_finish(&mut cx, task).await?;
                self.settings = cx.commit().await?;
                return Ok(Some((id, done)));
            };
            upload::save_or_finish(&mut cx, task.clone()).await?;
            // Write this stretch while the next one is read.
            let (committed, next_data) = join2(cx.commit(), read(&task, next)).await;
            self.settings = committed?;
            data = next_data?;
            current = next;
        }
    }

    /// One bounded step (one transaction) of the oldest Processing task
    /// (ImportImage, ExportImage, ...). Returns the task and whether it ended;
    /// None when no task is processing. A step that meets bad input ends the
    /// task as Failed, in a fresh transaction, with the reason.
    pub async fn task_step(&mut self) -> Result<Option<(String, bool)>> {
        self.remote(async |e| e.task_step_inner().await).await
    }

    async fn task_step_inner(&mut self) -> Result<Option<(String, bool)>> {
        if !self.tasks_pending {
            return Ok(None);
        }
        let now = self.now();
        let wall = (self.wall)();
        let t = self.engine.begin().await?;
        let mut cx = Cx {
            t,
            now,
            wall,
            rng: &mut self.rng,
            settings: self.settings.clone(),
            settings_dirty: false,
            region: String::new(),
            live: Vec::new(),
            paused: Default::default(),
            resume: Vec::new(),
            kms: self.kms.clone(),
            x: self.x.clone(),
        };
        let Some(mut task) = tasks::oldest(&mut cx).await? else {
            self.tasks_pending = false;
            return Ok(None);
        };
        let id = task.id.clone();
        match tasks::step(&mut cx, &mut self.readers, &mut task).await {
            Ok(done) => match cx.commit().await {
                Ok(settings) => {
                    self.settings = settings;
                    self.task_failures = (String::new(), 0);
                    if done {
                        tasks::forget(&mut self.readers);
                    }
                    Ok(Some((id, done)))
                }
                Err(e) if e.is_pending() => Err(e),
                Err(e) => self.task_store_failure(id, e).await,
            },
            Err(tasks::StepError::Store(e)) if e.is_pending() => Err(e),
            Err(tasks::StepError::Store(e)) => {
                drop(cx);
                self.task_store_failure(id, e).await
            }
            Err(tasks::StepError::Fail(code, msg)) => {
                drop(cx);
                tasks::forget(&mut self.readers);
                let mut cx = self.cx("").await?;
                // The task as it was before the failed step.
                let mut task: tasks::Task = cx.load(&keys::task(&id)).await?.unwrap_or(task);
                tasks::end(&mut cx, &mut task, TaskStatus::Failed, &code, &msg).await?;
                self.settings = cx.commit().await?;
                Ok(Some((id, true)))
            }
        }
    }

    /// A task step failed on the store (or the reader gave up): retried by
    /// the next step, unless it was the third time in a row or the browser's
    /// storage is full; then the task ends as Failed with the error (which
    /// frees what it made) so that it neither hangs nor blocks later tasks.
    async fn task_store_failure(&mut self, id: String, e: Error) -> Result<Option<(String, bool)>> {
        tasks::forget(&mut self.readers);
        let n = if self.task_failures.0 == id { self.task_failures.1 + 1 } else { 1 };
        self.task_failures = (id.clone(), n);
        if n < 3 && e.kind != ErrorKind::QuotaExceeded {
            return Err(e);
        }
        self.task_failures = (String::new(), 0);
        let mut cx = self.cx("").await?;
        let Some(mut task) = cx.load::<tasks::Task>(&keys::task(&id)).await? else { return Err(e) };
        if task.status != TaskStatus::Processing {
            // The failed commit was durable after all: the task already ended.
            return Ok(Some((id, true)));
        }
        tasks::end(&mut cx, &mut task, TaskStatus::Failed, &e.code, &format!("{} (the step failed {n} times)", e.message)).await?;
        self.settings = cx.commit().await?;
        Ok(Some((id, true)))
    }

    /// Background work: applies due state steps and releases expired snapshots.
    pub async fn tick(&mut self) -> Result<()> {
        self.remote(async |e| e.tick_inner().await).await
    }

    async fn tick_inner(&mut self) -> Result<()> {
        let mut cx = self.cx(DEFAULT_REGION).await?;
        cx.t.collect_garbage().await?;
        due_work(&mut cx).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }
}

/// A request context whose transaction covers only the upper tables (records,
/// OSS), so that an engine read can run beside it.
async fn upper_cx<'a, S: Store>(
    engine: &'a Engine<S>,
    rng: &'a mut Rng,
    settings: Settings,
    now: u64,
    wall: u64,
    kms: std::rc::Rc<std::cell::RefCell<kms::Kms>>,
    x: std::rc::Rc<std::cell::RefCell<crate::snapstore::Exchange>>,
) -> Result<Cx<'a, S>> {
    Ok(Cx {
        t: engine.begin_upper(&crate::schema::UPPER_TABLES).await?,
        now,
        wall,
        rng,
        settings,
        settings_dirty: false,
        region: String::new(),
        live: Vec::new(),
        paused: Default::default(),
        resume: Vec::new(),
        kms,
        x,
    })
}

/// Runs two futures at once and waits for both.
async fn join2<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    use std::task::Poll;
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

fn check_range(offset: u64, len: u64, size: u64) -> Result<()> {
    if offset.checked_add(len).is_none_or(|end| end > size) {
        return Err(Error::invalid("Offset", format!("the range {offset}+{len} is outside the {size}-byte disk")));
    }
    Ok(())
}

/// The work that comes due on the console clock: retention (snapshots
/// released, instant access ended), then automatic snapshot policies' runs.
/// Runs at the start of every request, on the background tick and when the
/// clock is moved.
async fn due_work<S: Store>(cx: &mut Cx<'_, S>) -> Result<()> {
    snapshot_ops::expire(cx).await?;
    policies::run_due(cx).await
}
