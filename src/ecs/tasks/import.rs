//! ImportImage: a RAW or QCOW2 object of the embedded OSS read into a new
//! engine volume in bounded steps, then snapshotted as the image's content.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{fail, qcow2_fail, Job, Readers, StepError, Task, PREFETCH_CHUNKS, READ_AHEAD, STEP_BYTES, STEP_SPAN};
use crate::ecs::cx::Cx;
use crate::ecs::model::{zero_is_none, DiskType, EcsEnum, Image, ImageOwner, ImageStatus, ImportFormat, Mapping, TaskAction, TaskStatus};
use crate::ecs::model::{BLOCK_SHIFT, GIB};
use crate::ecs::params::{check_description, check_name, tag_quota, Params};
use crate::engine::{Store, VolumeId};
use crate::error::{Error, Result};
use crate::image::prefetch::Prefetch;
use crate::image::qcow2::{Qcow2Error, Qcow2Reader, QCOW2_MAGIC};
use crate::oss::{chunk_key, Embedded, ObjectMeta, CHUNK};

/// An import's progress (in its task record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct ImportJob {
    pub bucket: String,
    pub object: String,
    pub format: ImportFormat,
    /// The object's upload when the import began: a replaced object fails the
    /// import. From the connected bucket: `s3:<size>:<generation>:<ETag fingerprint>`.
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

// ------------------------------------------------------------------ actions

pub(in crate::ecs) async fn import_image<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
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
    let (meta, head) = if cx.is_remote_bucket(&bucket) {
        // The connected bucket: its first bytes and its size from one ranged
        // GET; this import's reads are its own (`generation`).
        let generation = cx.new_id("");
        let (head, size, tag) = cx.remote_range(&object, 0, 32, &generation)?.ok_or_else(|| Error::no_key(&bucket, &object))?;
        let upload_id = format!("s3:{size}:{generation}:{tag}");
        let meta = ObjectMeta { bucket: bucket.clone(), key: object.clone(), size, upload_id, last_modified: 0, stored: size };
        (meta, Some(head))
    } else {
        if !Embedded.bucket_exists(&mut cx.t, &bucket).await? {
            return Err(Error::no_bucket(&bucket));
        }
        (Embedded.head(&mut cx.t, &bucket, &object).await?.ok_or_else(|| Error::no_key(&bucket, &object))?, None)
    };
    // The image's size from the start: a qcow2 file's virtual size (its
    // header's bytes 24..32), else the file's size. The task checks the rest.
    let mut source_size = meta.size;
    if format != ImportFormat::Raw && meta.size >= 32 {
        let head = match head {
            Some(h) => h,
            None => Embedded.get(&mut cx.t, &bucket, &object, Some((0, 32))).await?,
        };
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

/// Chunks `idx` of the object (None: zeros): from the embedded OSS, or from
/// the connected bucket by ranged GETs (`Error::pending` for the ones not
/// fetched yet: all of them are asked for in one round).
async fn chunks<S: Store>(cx: &mut Cx<'_, S>, meta: &ObjectMeta, idx: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StepError> {
    let Some((size, generation, tag)) = remote_object(&meta.upload_id) else {
        let keys: Vec<String> = idx.iter().map(|&i| chunk_key(&meta.upload_id, i)).collect();
        return Ok(cx.t.get_many_in(crate::oss::CHUNKS, &keys).await?);
    };
    let changed =
        || fail("InvalidOSSObject.Changed", format!("The object \"{}\" of bucket \"{}\" was deleted or replaced during the import.", meta.key, meta.bucket));
    let mut out = Vec::with_capacity(idx.len());
    let mut pending = None;
    for &i in idx {
        match cx.remote_range(&meta.key, i * CHUNK, CHUNK, generation) {
            // The same size and ETag as when the import began, or it was replaced.
            Ok(Some((b, total, t))) if total == size && t == tag => out.push(Some(b).filter(|b| b.iter().any(|&x| x != 0))),
            Ok(_) => return Err(changed()),
            Err(e) if e.is_pending() => {
                pending = Some(e);
                out.push(None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    match pending {
        Some(e) => Err(e.into()),
        None => Ok(out),
    }
}

/// An object of the connected bucket: (its size, the import's generation,
/// its ETag's fingerprint) from `s3:<size>:<generation>:<fingerprint>`.
fn remote_object(upload_id: &str) -> Option<(u64, &str, u64)> {
    let mut it = upload_id.strip_prefix("s3:")?.splitn(3, ':');
    let size = it.next()?.parse().ok()?;
    Some((size, it.next().unwrap_or(""), it.next().and_then(|t| t.parse().ok()).unwrap_or(0)))
}

/// Fetches the chunks a [`Qcow2Error::Pending`] names (and some after them).
async fn fetch<S: Store>(cx: &mut Cx<'_, S>, meta: &ObjectMeta, src: &Prefetch, offset: u64, len: u64) -> Result<(), StepError> {
    let missing = src.missing_chunks(offset, len, READ_AHEAD);
    let values = chunks(cx, meta, &missing).await?;
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

pub(super) async fn import_step<S: Store>(
    cx: &mut Cx<'_, S>,
    readers: &mut Readers,
    task_id: &str,
    image_key: &str,
    progress: &mut u32,
    job: &mut ImportJob,
) -> Result<bool, StepError> {
    let remote = remote_object(&job.upload_id).map(|(size, _, _)| size);
    let head = match remote {
        Some(size) => {
            Some(ObjectMeta { bucket: job.bucket.clone(), key: job.object.clone(), size, upload_id: job.upload_id.clone(), last_modified: 0, stored: size })
        }
        None => Embedded.head(&mut cx.t, &job.bucket, &job.object).await?,
    };
    let meta = match head {
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
        let head = if remote.is_some() {
            chunks(cx, &meta, &[0]).await?.pop().flatten().unwrap_or_default()
        } else {
            Embedded.get(&mut cx.t, &job.bucket, &job.object, Some((0, 4))).await?
        };
        job.format = if head.starts_with(b"QFI\xfb") { ImportFormat::Qcow2 } else { ImportFormat::Raw };
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
            let idx: Vec<u64> = (first..=last).collect();
            let values = chunks(cx, &meta, &idx).await?;
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
