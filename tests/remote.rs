//! Normal snapshots in a remote object store (the tier protocol of
//! `snapstore::tier`), against an in-memory bucket that can go down. The
//! browser tests run the same against a real SeaweedFS.

mod support;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use rowsnap::engine::testkit::{block_on, Rng};
use rowsnap::error::{Error, Result};
use rowsnap::snapstore::tier::Io;
use rowsnap::snapstore::Objects;
use serde_json::json;
use support::*;

/// A bucket in memory; `down` makes every request fail as an unreachable server does.
#[derive(Default)]
struct Bucket {
    objects: RefCell<BTreeMap<String, Vec<u8>>>,
    down: Cell<bool>,
    /// Requests that reached it: (gets, puts, deletes).
    counts: Cell<(u32, u32, u32)>,
    /// Fail after this many more puts (None: never).
    puts_left: Cell<Option<u32>>,
}

impl Bucket {
    fn up(&self) -> Result<()> {
        if self.down.get() {
            return Err(rowsnap::s3::unreachable("http://127.0.0.1:1"));
        }
        Ok(())
    }
    fn keys(&self) -> Vec<String> {
        self.objects.borrow().keys().cloned().collect()
    }
}

impl Objects for Bucket {
    fn get<'a>(&'a self, key: &'a str) -> Io<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            self.up()?;
            let c = self.counts.get();
            self.counts.set((c.0 + 1, c.1, c.2));
            Ok(self.objects.borrow().get(key).cloned())
        })
    }
    fn put<'a>(&'a self, key: &'a str, data: &'a [u8]) -> Io<'a, ()> {
        Box::pin(async move {
            self.up()?;
            if let Some(n) = self.puts_left.get() {
                if n == 0 {
                    self.down.set(true);
                    return Err(rowsnap::s3::unreachable("http://127.0.0.1:1"));
                }
                self.puts_left.set(Some(n - 1));
            }
            let c = self.counts.get();
            self.counts.set((c.0, c.1 + 1, c.2));
            self.objects.borrow_mut().insert(key.to_string(), data.to_vec());
            Ok(())
        })
    }
    fn delete<'a>(&'a self, key: &'a str) -> Io<'a, ()> {
        Box::pin(async move {
            self.up()?;
            let c = self.counts.get();
            self.counts.set((c.0, c.1, c.2 + 1));
            self.objects.borrow_mut().remove(key);
            Ok(())
        })
    }
    fn list_meta<'a>(&'a self, prefix: &'a str) -> Io<'a, Vec<(String, u64, String)>> {
        Box::pin(async move {
            self.up()?;
            Ok(self
                .objects
                .borrow()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.len() as u64, "2026-11-30T00:00:00Z".into()))
                .collect())
        })
    }
    fn get_range<'a>(&'a self, key: &'a str, offset: u64, len: u64) -> Io<'a, Option<(Vec<u8>, u64, String)>> {
        Box::pin(async move {
            self.up()?;
            let c = self.counts.get();
            self.counts.set((c.0 + 1, c.1, c.2));
            Ok(self.objects.borrow().get(key).map(|v| {
                let from = (offset as usize).min(v.len());
                let to = (offset + len).min(v.len() as u64) as usize;
                (v[from..to].to_vec(), v.len() as u64, format!("\"{:x}\"", rowsnap::util::fnv(v)))
            }))
        })
    }
    fn multipart_begin<'a>(&'a self, key: &'a str) -> Io<'a, String> {
        Box::pin(async move {
            self.up()?;
            self.objects.borrow_mut().insert(format!("{key}.parts"), Vec::new());
            Ok(format!("up-{key}"))
        })
    }
    fn multipart_part<'a>(&'a self, key: &'a str, _upload: &'a str, part: u32, data: &'a [u8]) -> Io<'a, String> {
        Box::pin(async move {
            self.up()?;
            let mut o = self.objects.borrow_mut();
            let parts = o.get_mut(&format!("{key}.parts")).ok_or_else(|| Error::internal("no upload"))?;
            assert_eq!(parts.len() % (8 << 20), 0, "parts in order, all but the last 8 MiB");
            parts.extend_from_slice(data);
            Ok(format!("\"etag{part}\""))
        })
    }
    fn multipart_complete<'a>(&'a self, key: &'a str, _upload: &'a str, etags: &'a [String]) -> Io<'a, ()> {
        Box::pin(async move {
            self.up()?;
            assert!(!etags.is_empty());
            let mut o = self.objects.borrow_mut();
            let data = o.remove(&format!("{key}.parts")).ok_or_else(|| Error::internal("no upload"))?;
            o.insert(key.to_string(), data);
            Ok(())
        })
    }
    fn multipart_abort<'a>(&'a self, key: &'a str, _upload: &'a str) -> Io<'a, ()> {
        Box::pin(async move {
            self.up()?;
            self.objects.borrow_mut().remove(&format!("{key}.parts"));
            Ok(())
        })
    }
    fn list<'a>(&'a self, prefix: &'a str, delimiter: bool) -> Io<'a, Vec<String>> {
        Box::pin(async move {
            self.up()?;
            let keys = self.objects.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect::<Vec<_>>();
            if !delimiter {
                return Ok(keys);
            }
            let mut out: Vec<String> = keys.iter().filter_map(|k| k[prefix.len()..].split_once('/').map(|(d, _)| format!("{prefix}{d}/"))).collect();
            out.dedup();
            Ok(out)
        })
    }
}

fn connect(a: &mut Api, b: &Rc<Bucket>) {
    block_on(a.ecs.set_object_store(Some((b.clone() as Rc<dyn Objects>, "store1".into(), "bucket1".into())), None)).unwrap();
}

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut d = vec![0u8; len];
    Rng::new(seed).fill(&mut d);
    d
}

/// A data disk with `bytes` written at 0.
fn disk_with(a: &mut Api, bytes: &[u8], extra: serde_json::Value) -> String {
    let mut dd = json!({"Size": 20, "Category": "cloud_essd"});
    for (k, v) in extra.as_object().unwrap() {
        dd[k] = v.clone();
    }
    let inst = a.instance(IMAGE, json!({"DataDisk": [dd]}));
    let disk = a.disks_of(&inst)[1]["DiskId"].as_str().unwrap().to_string();
    a.write(&disk, 0, bytes);
    disk
}

fn describe(a: &mut Api, id: &str) -> serde_json::Value {
    a.ok("DescribeSnapshots", json!({"SnapshotIds": [id]}))["Snapshots"]["Snapshot"][0].clone()
}

fn release(a: &mut Api) {
    block_on(a.ecs.advance_clock(2.0 * 86_400.0)).unwrap();
}

fn local_packs(a: &mut Api) -> Vec<String> {
    oss_state(a).into_iter().filter(|l| l.contains("packs/")).collect()
}

/// Runs snapshot `s`'s upload in 1 MiB steps; each time the bucket goes
/// down, the step fails as unreachable (the snapshot still progressing) and
/// the bucket comes back. Returns how many steps failed.
fn upload_through_cuts(a: &mut Api, bucket: &Bucket, s: &str) -> u32 {
    let mut failures = 0;
    loop {
        match block_on(a.ecs.upload_step(1 << 20)) {
            Ok(Some((_, true))) => return failures,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code, "InvalidObjectStorage.Unreachable");
                assert_eq!(describe(a, s)["Status"], "progressing");
                failures += 1;
                bucket.down.set(false);
                bucket.puts_left.set(None);
            }
        }
    }
}

#[test]
fn a_snapshot_uploads_to_the_bucket_is_released_and_reads_back_from_it() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let bytes = data(1, 3 << 20);
    let disk = disk_with(&mut a, &bytes, json!({}));
    let s = a.snapshot(&disk, json!({"InstantAccessRetentionDays": 1}));
    let d = describe(&mut a, &s);
    assert_eq!(
        (d["Status"].as_str(), d["StorageLocation"].as_str(), d["ObjectStorageConnected"].as_bool()),
        (Some("accomplished"), Some("s3"), Some(true)),
        "{d}"
    );
    let keys = bucket.keys();
    let (owner, _) = keys[0].trim_start_matches("rowsnap/").split_once('/').unwrap();
    assert!(keys.iter().all(|k| k.starts_with(&format!("rowsnap/{owner}/"))), "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.contains("/manifests/")).count(), 1);
    assert_eq!(keys.iter().filter(|k| k.contains("/packs/")).count(), 3, "three 1 MiB packs: {keys:?}");
    // Packs live only in the bucket; pages and the manifest are mirrored here.
    assert!(local_packs(&mut a).is_empty());
    release(&mut a);
    assert_eq!(describe(&mut a, &s)["LocalCopyReleased"], true);
    let before = bucket.counts.get().0;
    assert!(block_on(a.ecs.read_snapshot(&s, 0, 3 << 20)).unwrap() == bytes, "the snapshot reads back from the bucket");
    assert!(bucket.counts.get().0 > before, "it was read from the bucket");
    // Roll the disk back: it hydrates from the bucket, and reads right meanwhile.
    a.write(&disk, 0, &vec![9u8; 1 << 20]);
    let inst = a.ok("DescribeDisks", json!({"DiskIds": [disk.clone()]}))["Disks"]["Disk"][0]["InstanceId"].as_str().unwrap().to_string();
    a.ok("StopInstance", json!({"InstanceId": inst}));
    a.wait();
    a.ok("ResetDisk", json!({"DiskId": disk, "SnapshotId": s}));
    a.ok("StartInstance", json!({"InstanceId": inst}));
    a.wait();
    assert!(a.read(&disk, 0, 3 << 20) == bytes, "rolled back, read through to the bucket");
    while block_on(a.ecs.hydrate_step(1 << 20)).unwrap().is_some() {}
    bucket.down.set(true);
    assert!(a.read(&disk, 0, 3 << 20) == bytes, "hydrated: local now");
    bucket.down.set(false);
    // A disk from it reads the same.
    let nd = a.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": s, "DiskCategory": "cloud_essd"}))["DiskId"].as_str().unwrap().to_string();
    a.wait();
    a.ok("AttachDisk", json!({"DiskId": nd, "InstanceId": inst}));
    a.wait();
    assert!(a.read(&nd, 0, 3 << 20) == bytes);
    block_on(a.ecs.engine().check()).unwrap();
}

#[test]
fn the_second_snapshot_uploads_only_what_changed_and_deleting_sweeps_the_bucket() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let bytes = data(2, 4 << 20);
    let disk = disk_with(&mut a, &bytes, json!({}));
    let s1 = a.snapshot(&disk, json!({}));
    let puts1 = bucket.counts.get().1;
    a.write(&disk, 1 << 20, &vec![7u8; 32768]);
    let s2 = a.snapshot(&disk, json!({}));
    let puts2 = bucket.counts.get().1 - puts1;
    assert_eq!(puts2, 3, "one pack, one page, one manifest");
    let u = describe(&mut a, &s2)["UploadedBytes"].as_u64().unwrap();
    assert!(u < 100_000, "{u}");
    a.ok("DeleteSnapshot", json!({"SnapshotId": s1}));
    a.ok("DeleteSnapshot", json!({"SnapshotId": s2}));
    while block_on(a.ecs.sweep_step(100)).unwrap() > 0 {}
    assert_eq!(bucket.keys(), Vec::<String>::new(), "deleting both leaves the bucket as before");
    let left: Vec<String> = oss_state(&mut a).into_iter().filter(|l| l.contains("s3/")).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_upload_cut_off_by_the_server_resumes_and_stores_what_a_clean_one_does() {
    let bytes = data(3, 5 << 20);
    let clean = Rc::new(Bucket::default());
    let mut a = Api::new();
    a.auto_upload = false;
    connect(&mut a, &clean);
    let disk = disk_with(&mut a, &bytes, json!({}));
    a.snapshot(&disk, json!({}));
    while block_on(a.ecs.upload_step(1 << 20)).unwrap().is_some() {}
    let want: Vec<Vec<u8>> = clean.objects.borrow().iter().filter(|(k, _)| k.contains("/packs/")).map(|(_, v)| v.clone()).collect();

    let cut = Rc::new(Bucket::default());
    let mut b = Api::new();
    b.auto_upload = false;
    connect(&mut b, &cut);
    let disk = disk_with(&mut b, &bytes, json!({}));
    cut.puts_left.set(Some(2));
    let s = b.snapshot(&disk, json!({}));
    assert_eq!(upload_through_cuts(&mut b, &cut, &s), 1);
    let got: Vec<Vec<u8>> = cut.objects.borrow().iter().filter(|(k, _)| k.contains("/packs/")).map(|(_, v)| v.clone()).collect();
    assert!(got == want, "the same packs as a clean upload");
    assert_eq!(cut.keys().len(), clean.keys().len());
    release(&mut b);
    assert!(block_on(b.ecs.read_snapshot(&s, 0, 5 << 20)).unwrap() == bytes);
}

#[test]
fn another_database_recovers_the_snapshots_and_reads_them_but_never_deletes_them() {
    let bucket = Rc::new(Bucket::default());
    let bytes = data(4, 2 << 20);
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let disk = disk_with(&mut a, &bytes, json!({}));
    let s = a.snapshot(&disk, json!({"SnapshotName": "before-upgrade"}));
    let keys = bucket.keys();

    let mut b = Api::new();
    connect(&mut b, &bucket);
    let r = block_on(b.ecs.recover_snapshots()).unwrap();
    assert_eq!(r["SnapshotIds"], json!([s]), "{r}");
    assert_eq!(block_on(b.ecs.recover_snapshots()).unwrap()["Recovered"], 0, "nothing twice");
    let d = describe(&mut b, &s);
    assert_eq!(
        (d["SnapshotName"].as_str(), d["SourceDiskSize"].as_u64(), d["LocalCopyReleased"].as_bool()),
        (Some("before-upgrade"), Some(20), Some(true)),
        "{d}"
    );
    assert!(block_on(b.ecs.read_snapshot(&s, 0, 2 << 20)).unwrap() == bytes);
    let nd = b.ok("CreateDisk", json!({"ZoneId": "cn-hangzhou-h", "SnapshotId": s, "DiskCategory": "cloud_essd"}))["DiskId"].as_str().unwrap().to_string();
    b.wait();
    let inst = b.instance(IMAGE, json!({}));
    b.ok("AttachDisk", json!({"DiskId": nd, "InstanceId": inst}));
    b.wait();
    assert!(b.read(&nd, 0, 2 << 20) == bytes, "a disk from the recovered snapshot has its bytes");
    while block_on(b.ecs.hydrate_step(1 << 20)).unwrap().is_some() {}
    b.ok("DeleteSnapshot", json!({"SnapshotId": s, "Force": true}));
    while block_on(b.ecs.sweep_step(100)).unwrap() > 0 {}
    assert_eq!(bucket.keys(), keys, "another database's objects stay");
    // Not connected: a clear code.
    let mut c = Api::new();
    connect(&mut c, &bucket);
    block_on(c.ecs.recover_snapshots()).unwrap();
    block_on(c.ecs.set_object_store(None, None)).unwrap();
    let e: Error = block_on(c.ecs.read_snapshot(&s, 0, 4096)).unwrap_err();
    assert_eq!(e.code, "InvalidObjectStorage.NotConnected");
    assert_eq!(describe(&mut c, &s)["ObjectStorageConnected"], false);
}

#[test]
fn an_encrypted_disk_uploads_sealed_blocks_and_reads_back() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let bytes = data(5, 1 << 20);
    let disk = disk_with(&mut a, &bytes, json!({"Encrypted": true}));
    let s = a.snapshot(&disk, json!({"InstantAccessRetentionDays": 1}));
    let pack = bucket.objects.borrow().iter().find(|(k, _)| k.contains("/packs/")).map(|(_, v)| v.clone()).unwrap();
    assert!(!pack.windows(64).any(|w| bytes.windows(64).next() == Some(w)), "no plaintext in the bucket");
    release(&mut a);
    assert!(block_on(a.ecs.read_snapshot(&s, 0, 1 << 20)).unwrap() == bytes);
}

#[test]
fn an_upload_to_a_bucket_not_connected_waits_and_says_why_while_others_go_on() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    a.auto_upload = false;
    connect(&mut a, &bucket);
    let d1 = disk_with(&mut a, &data(6, 1 << 20), json!({}));
    let waiting = a.snapshot(&d1, json!({}));
    // The tab reloads without remembered credentials: the bucket is not connected.
    block_on(a.ecs.set_object_store(None, None)).unwrap();
    let d2 = disk_with(&mut a, &data(7, 1 << 20), json!({}));
    let local = a.snapshot(&d2, json!({}));
    a.upload_all();
    assert_eq!(describe(&mut a, &local)["Status"], "accomplished");
    let w = describe(&mut a, &waiting);
    assert_eq!(w["Status"], "progressing");
    assert!(w["UploadPaused"].as_str().unwrap().contains("needs credentials"), "{w}");
    assert!(bucket.keys().is_empty());
    // Credentials again: it resumes where it was.
    connect(&mut a, &bucket);
    a.upload_all();
    let w = describe(&mut a, &waiting);
    assert_eq!((w["Status"].as_str(), w.get("UploadPaused")), (Some("accomplished"), None), "{w}");
    assert_eq!(bucket.keys().iter().filter(|k| k.contains("/manifests/")).count(), 1);
}

#[test]
fn the_connected_bucket_is_an_oss_bucket_and_images_import_from_it() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    connect(&mut a, &bucket);
    // A 20 MiB raw image with a hole: put in three parts (8 + 8 + 4 MiB).
    let mut raw = data(8, 20 << 20);
    raw[4 << 20..12 << 20].fill(0);
    block_on(a.ecs.oss_put("bucket1", "images/disk.raw", &raw)).unwrap();
    assert!(bucket.objects.borrow().get("images/disk.raw").is_some_and(|o| *o == raw));
    assert!(block_on(a.ecs.oss_list_buckets()).unwrap().contains(&"bucket1".to_string()));
    let listed = block_on(a.ecs.oss_list("bucket1", "images/")).unwrap();
    assert_eq!((listed.len(), listed[0].size), (1, 20 << 20));
    assert!(block_on(a.ecs.oss_get("bucket1", "images/disk.raw", Some((5, 10)))).unwrap() == raw[5..15]);
    let e = block_on(a.ecs.oss_get("bucket1", "nope", None)).unwrap_err();
    assert_eq!(e.code, "NoSuchKey");
    // Snapshot data is not the user's to delete.
    let e = block_on(a.ecs.oss_delete("bucket1", "rowsnap/x/packs/y")).unwrap_err();
    assert_eq!(e.code, "AccessDenied");
    let v = a.ok(
        "ImportImage",
        json!({"ImageName": "from-s3", "OSType": "linux", "Platform": "Ubuntu", "DiskDeviceMapping.1.OSSBucket": "bucket1", "DiskDeviceMapping.1.OSSObject": "images/disk.raw"}),
    );
    let (image, task) = (v["ImageId"].as_str().unwrap().to_string(), v["TaskId"].as_str().unwrap().to_string());
    a.tasks_all();
    assert_eq!(a.task(&task)["TaskStatus"], "Finished", "{}", a.task(&task));
    assert_eq!(a.image(&image)["Status"], "Available");
    let i = a.instance(&image, json!({}));
    let sys = a.system_disk(&i);
    assert!(a.read(&sys, 0, 20 << 20) == raw, "the imported image holds the object's bytes");
    a.err(
        "ImportImage",
        json!({"ImageName": "missing", "OSType": "linux", "DiskDeviceMapping.1.OSSBucket": "bucket1", "DiskDeviceMapping.1.OSSObject": "nope.raw"}),
        "NoSuchKey",
        404,
    );
    // ExportImage to the bucket: written here, then sent as a multipart upload.
    let v = a.ok("ExportImage", json!({"ImageId": image, "OSSBucket": "bucket1", "OSSPrefix": "out/", "ImageFormat": "raw"}));
    let key = v["OSSObject"].as_str().unwrap().to_string();
    a.tasks_all();
    let t = a.task(v["TaskId"].as_str().unwrap());
    assert_eq!(t["TaskStatus"], "Finished", "{t}");
    // The image is 1 GiB (the object's 20 MiB rounded up): holes go as zeros (a bucket has no sparse objects).
    let o = bucket.objects.borrow().get(&key).cloned().unwrap();
    assert_eq!(o.len(), 1 << 30);
    assert!(o[..20 << 20] == raw && o[20 << 20..].iter().all(|&b| b == 0), "the exported object is the image's bytes");
    let staged: Vec<String> = oss_state(&mut a).into_iter().filter(|l| l.contains("oss_chunks") && l.contains(" up-")).collect();
    assert!(staged.is_empty(), "nothing of the export is left here: {staged:?}");
    // A cancelled export to the bucket aborts its multipart upload.
    a.auto_upload = false;
    let v = a.ok("ExportImage", json!({"ImageId": image, "OSSBucket": "bucket1", "OSSPrefix": "cancel/", "ImageFormat": "raw"}));
    let key = v["OSSObject"].as_str().unwrap().to_string();
    for _ in 0..100 {
        block_on(a.ecs.task_step()).unwrap();
        if bucket.objects.borrow().contains_key(&format!("{key}.parts")) && !bucket.objects.borrow()[&format!("{key}.parts")].is_empty() {
            break;
        }
    }
    assert!(!bucket.objects.borrow()[&format!("{key}.parts")].is_empty(), "a part was sent");
    a.ok("CancelTask", json!({"TaskId": v["TaskId"]}));
    while block_on(a.ecs.sweep_step(100)).unwrap() > 0 {}
    assert!(!bucket.objects.borrow().contains_key(&format!("{key}.parts")), "the upload was aborted");
    assert!(!bucket.objects.borrow().contains_key(&key));
    block_on(a.ecs.oss_delete("bucket1", "images/disk.raw")).unwrap();
    assert!(bucket.objects.borrow().get("images/disk.raw").is_none());
}

#[test]
fn a_copy_of_a_released_bucket_snapshot_completes_and_a_64_mib_read_finishes() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let bytes = data(9, 64 << 20);
    let disk = disk_with(&mut a, &bytes, json!({}));
    let s = a.snapshot(&disk, json!({"InstantAccessRetentionDays": 1}));
    release(&mut a);
    // The largest read there is (64 MiB: 64 packs), whole from the bucket.
    assert!(block_on(a.ecs.read_snapshot(&s, 0, 64 << 20)).unwrap() == bytes);
    let before = bucket.keys().len();
    let c = a.ok("CopySnapshot", json!({"SnapshotId": s, "DestinationRegionId": "cn-shanghai"}))["SnapshotId"].as_str().unwrap().to_string();
    let keys = bucket.keys();
    assert_eq!(keys.len(), before + 1, "one more manifest, the copy's: {:?}", &keys[..keys.len().min(5)]);
    assert!(keys.iter().any(|k| k.ends_with(&format!("/manifests/{c}"))));
    assert!(block_on(a.ecs.read_snapshot(&c, 60 << 20, 4 << 20)).unwrap() == bytes[60 << 20..]);
}

#[test]
fn deleting_a_snapshot_whose_upload_waits_for_credentials_works_and_its_objects_go_later() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    a.auto_upload = false;
    connect(&mut a, &bucket);
    let disk = disk_with(&mut a, &data(10, 3 << 20), json!({}));
    let s = a.snapshot(&disk, json!({}));
    block_on(a.ecs.upload_step(1 << 20)).unwrap();
    assert!(!bucket.keys().is_empty(), "a pack went up");
    block_on(a.ecs.set_object_store(None, None)).unwrap();
    a.ok("DeleteSnapshot", json!({"SnapshotId": s}));
    assert!(!bucket.keys().is_empty(), "nothing is deleted while the bucket is not connected");
    connect(&mut a, &bucket);
    while block_on(a.ecs.sweep_step(100)).unwrap() > 0 {}
    assert_eq!(bucket.keys(), Vec::<String>::new(), "its objects went once it was connected again");
}

#[test]
fn an_encrypted_upload_cut_off_and_run_again_stores_the_same_sealed_blocks() {
    let bytes = data(11, 3 << 20);
    let clean = Rc::new(Bucket::default());
    let mut a = Api::new();
    a.auto_upload = false;
    connect(&mut a, &clean);
    let disk = disk_with(&mut a, &bytes, json!({"Encrypted": true}));
    let s = a.snapshot(&disk, json!({"InstantAccessRetentionDays": 1}));
    cut(&clean, 1);
    assert_eq!(upload_through_cuts(&mut a, &clean, &s), 1);
    release(&mut a);
    assert!(block_on(a.ecs.read_snapshot(&s, 0, 3 << 20)).unwrap() == bytes, "every sealed block opens: each round sealed the same bytes");
}

fn cut(b: &Bucket, puts: u32) {
    b.puts_left.set(Some(puts));
}

#[test]
fn an_encrypted_snapshot_under_a_passphrase_key_is_recovered_locked_and_opens_with_the_passphrase() {
    let bucket = Rc::new(Bucket::default());
    let bytes = data(12, 2 << 20);
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let key = block_on(a.ecs.create_key(&a.vault, "cn-hangzhou", "team", "correct horse battery")).unwrap()["KeyId"].as_str().unwrap().to_string();
    let disk = disk_with(&mut a, &bytes, json!({"Encrypted": true, "KMSKeyId": key}));
    let s = a.snapshot(&disk, json!({}));
    // And one under the region's default key: it cannot leave this database.
    let d2 = disk_with(&mut a, &bytes, json!({"Encrypted": true}));
    let s2 = a.snapshot(&d2, json!({}));
    let manifest = bucket.objects.borrow().iter().find(|(k, _)| k.ends_with(&format!("/manifests/{s}"))).map(|(_, v)| v.clone()).unwrap();
    let text = String::from_utf8_lossy(&manifest).to_string();
    assert!(!text.contains("correct horse"), "no passphrase in the bucket");

    let mut b = Api::new();
    connect(&mut b, &bucket);
    let r = block_on(b.ecs.recover_snapshots()).unwrap();
    assert_eq!(r["SnapshotIds"], json!([s]), "{r}");
    assert_eq!(r["Skipped"][0]["SnapshotId"], json!(s2), "{r}");
    let d = describe(&mut b, &s);
    assert_eq!((d["Encrypted"].as_bool(), d["KMSKeyId"].as_str()), (Some(true), Some(key.as_str())), "{d}");
    // Locked until its passphrase is given here.
    let e = block_on(b.ecs.read_snapshot(&s, 0, 4096)).unwrap_err();
    assert_eq!(e.code, "InvalidKMSKeyId.Locked");
    assert_eq!(block_on(b.ecs.unlock_key(&b.vault, &key, "wrong passphrase!")).unwrap_err().code, "InvalidKMSKeyId.WrongPassphrase");
    block_on(b.ecs.unlock_key(&b.vault, &key, "correct horse battery")).unwrap();
    assert!(block_on(b.ecs.read_snapshot(&s, 0, 2 << 20)).unwrap() == bytes, "the bytes, opened with the passphrase");
    let keys = block_on(b.ecs.list_keys("cn-hangzhou")).unwrap();
    assert!(keys.to_string().contains("alias/team"), "{keys}");
}

#[test]
fn an_import_whose_object_is_replaced_by_one_of_the_same_size_fails_and_keeps_nothing_of_it() {
    let bucket = Rc::new(Bucket::default());
    let mut a = Api::new();
    connect(&mut a, &bucket);
    let raw = data(13, 6 << 20);
    block_on(a.ecs.oss_put("bucket1", "images/x.raw", &raw)).unwrap();
    a.auto_upload = false;
    let v = a.ok(
        "ImportImage",
        json!({"ImageName": "replaced", "OSType": "linux", "DiskDeviceMapping.1.OSSBucket": "bucket1", "DiskDeviceMapping.1.OSSObject": "images/x.raw", "DiskDeviceMapping.1.Format": "RAW"}),
    );
    // Replaced between the request and the task's first step: same size, other bytes.
    block_on(a.ecs.oss_put("bucket1", "images/x.raw", &data(14, 6 << 20))).unwrap();
    a.tasks_all();
    let t = a.task(v["TaskId"].as_str().unwrap());
    assert_eq!((t["TaskStatus"].as_str(), t["ErrorCode"].as_str()), (Some("Failed"), Some("InvalidOSSObject.Changed")), "{t}");
    assert_eq!(a.image(v["ImageId"].as_str().unwrap()).get("Status").and_then(|s| s.as_str()).unwrap_or("gone"), "CreateFailed");
}
