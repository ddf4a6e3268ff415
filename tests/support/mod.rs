//! What the native ECS-level tests share: the `Api` helper (actions in, ECS
//! JSON or (Code, HTTP status) out), OSS state dumps, and running qemu-img.
#![allow(dead_code)]

use std::cell::Cell;
use std::rc::Rc;

use rowsnap::ecs::Ecs;
use rowsnap::engine::memory::MemoryStore;
use rowsnap::engine::testkit::block_on;
use rowsnap::vault::SoftVault;
use serde_json::{json, Value};

pub const GIB: u64 = 1 << 30;

pub struct Api {
    pub ecs: Ecs<MemoryStore>,
    pub clock: Rc<Cell<u64>>,
    /// Finish every upload after each call (as a patient client would see it).
    pub auto_upload: bool,
    /// The key service's vault (the native stand-in for WebCrypto).
    pub vault: SoftVault,
}

impl Api {
    pub fn new() -> Self {
        let clock = Rc::new(Cell::new(1_795_000_000_000)); // 2026-11-18
        let c = clock.clone();
        let mut ecs = block_on(Ecs::open(MemoryStore::new(), Box::new(move || c.get()))).unwrap();
        let vault = SoftVault::default();
        block_on(ecs.kms_open(&vault)).unwrap();
        Api { ecs, clock, auto_upload: true, vault }
    }
    pub fn call(&mut self, action: &str, params: Value) -> Result<Value, (String, u16)> {
        let out = block_on(self.ecs.request(action, &params)).map_err(|(e, rid)| {
            assert_eq!(rid.len(), 36, "errors carry a RequestId");
            (e.code, e.http_status)
        });
        if self.auto_upload {
            self.upload_all();
        }
        out
    }
    /// Runs every upload to its end.
    pub fn upload_all(&mut self) {
        while block_on(self.ecs.upload_step(u64::MAX)).unwrap().is_some() {}
    }
    pub fn ok(&mut self, action: &str, params: Value) -> Value {
        let v = self.call(action, params.clone()).unwrap_or_else(|e| panic!("{action} {params}: {e:?}"));
        assert!(v["RequestId"].as_str().is_some_and(|r| r.len() == 36 && r == r.to_uppercase()));
        v
    }
    /// The check helper: the action fails with this Code and HTTP status.
    pub fn err(&mut self, action: &str, params: Value, code: &str, status: u16) {
        match self.call(action, params.clone()) {
            Ok(v) => panic!("{action} {params} succeeded: {v}"),
            Err(e) => assert_eq!(e, (code.to_string(), status), "{action} {params}"),
        }
    }
    /// Lets state steps complete (real time passes).
    pub fn wait(&mut self) {
        self.clock.set(self.clock.get() + 2_000);
    }
    pub fn instance(&mut self, image: &str, extra: Value) -> String {
        let mut p = json!({"ImageId": image, "ZoneId": "cn-hangzhou-h", "InstanceType": "ecs.g7.large"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        let v = self.ok("RunInstances", p);
        self.wait();
        v["InstanceIdSets"]["InstanceIdSet"][0].as_str().unwrap().to_string()
    }
    pub fn disks_of(&mut self, instance: &str) -> Vec<Value> {
        let v = self.ok("DescribeDisks", json!({"InstanceId": instance}));
        let mut d = v["Disks"]["Disk"].as_array().unwrap().clone();
        d.sort_by_key(|d| d["Device"].as_str().unwrap().to_string());
        d
    }
    pub fn system_disk(&mut self, instance: &str) -> String {
        self.disks_of(instance)[0]["DiskId"].as_str().unwrap().to_string()
    }
    pub fn snapshot(&mut self, disk: &str, extra: Value) -> String {
        let mut p = json!({"DiskId": disk});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        self.ok("CreateSnapshot", p)["SnapshotId"].as_str().unwrap().to_string()
    }
    pub fn status(&mut self, instance: &str) -> String {
        let v = self.ok("DescribeInstances", json!({"InstanceIds": format!("[\"{instance}\"]")}));
        v["Instances"]["Instance"][0]["Status"].as_str().unwrap().to_string()
    }
    pub fn write(&mut self, disk: &str, offset: u64, data: &[u8]) {
        block_on(self.ecs.write_disk(disk, offset, data)).unwrap();
    }
    pub fn read(&mut self, disk: &str, offset: u64, len: u64) -> Vec<u8> {
        block_on(self.ecs.read_disk(disk, offset, len)).unwrap()
    }
}

/// The OSS tables and the upload bookkeeping, as comparable lines.
pub fn oss_state(a: &mut Api) -> Vec<String> {
    oss_lines(a.ecs.engine().store())
}

pub fn oss_lines(store: &MemoryStore) -> Vec<String> {
    use rowsnap::engine::Key;
    store
        .dump()
        .into_iter()
        .filter_map(|((t, k), v)| {
            let Key::Str(k) = k else { return None };
            let keep = (t == rowsnap::oss::OBJECTS || t == rowsnap::oss::CHUNKS)
                || (t == rowsnap::schema::RECORDS && (k.starts_with("oss/") || k.starts_with("upload/")));
            keep.then(|| format!("{t:?} {k} {}", if t == rowsnap::oss::OBJECTS { String::new() } else { format!("{:x}", rowsnap::engine::testkit::fnv(&v)) }))
        })
        .collect()
}

pub const IMAGE: &str = "aliyun_3_x64_20G_alibase_20240819.vhd";

/// Runs a program; panics with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh scratch directory under target/.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

impl Api {
    /// Runs every task (imports, exports) to its end; returns the steps taken.
    pub fn tasks_all(&mut self) -> usize {
        let mut steps = 0;
        while block_on(self.ecs.task_step()).unwrap().is_some() {
            steps += 1;
            assert!(steps < 100_000, "tasks do not end");
        }
        steps
    }
    pub fn put(&mut self, bucket: &str, key: &str, data: &[u8]) {
        block_on(self.ecs.oss_create_bucket(bucket)).unwrap();
        block_on(self.ecs.oss_put(bucket, key, data)).unwrap();
    }
    pub fn get(&mut self, bucket: &str, key: &str) -> Vec<u8> {
        block_on(self.ecs.oss_get(bucket, key, None)).unwrap()
    }
    pub fn task(&mut self, id: &str) -> Value {
        let v = self.ok("DescribeTasks", json!({"TaskIds": id}));
        v["TaskSet"]["Task"][0].clone()
    }
    pub fn image(&mut self, id: &str) -> Value {
        let v = self.ok("DescribeImages", json!({"ImageId": id}));
        v["Images"]["Image"][0].clone()
    }
}

/// The OSS state as content: pages, manifests, and each block's count, but
/// not where blocks are packed (that depends on the step sizes). Checks on
/// the way that every block's stored bytes hash to its name.
pub fn oss_logical(a: &mut Api) -> Vec<String> {
    use rowsnap::engine::Key;
    let dump = a.ecs.engine().store().dump();
    let chunk = |k: &str| dump.iter().find(|((t, key), _)| *t == rowsnap::oss::CHUNKS && *key == Key::Str(k.to_string())).map(|(_, v)| v.clone());
    let bs = 1usize << rowsnap::engine::DEFAULT_BLOCK_SHIFT;
    let mut out = Vec::new();
    for ((t, k), v) in &dump {
        let Key::Str(k) = k else { continue };
        if let Some(hash) = k.strip_prefix("oss/block/").filter(|_| *t == rowsnap::schema::RECORDS) {
            let rec: Value = serde_json::from_slice(v).unwrap();
            let (count, bytes) = match rec.as_u64() {
                Some(n) => (n, chunk(&format!("snap/blocks/{hash}")).unwrap()),
                None => {
                    let pack = chunk(&format!("snap/packs/{}", rec["p"].as_str().unwrap())).expect("the block's pack");
                    let at = rec["s"].as_u64().unwrap() as usize * bs;
                    (rec["n"].as_u64().unwrap(), pack[at..at + bs].to_vec())
                }
            };
            assert_eq!(blake3::hash(&bytes).to_hex().as_str(), hash, "a block's bytes hash to its name");
            out.push(format!("block {hash} x{count}"));
        }
    }
    out.extend(oss_lines(a.ecs.engine().store()).into_iter().filter(|l| !l.contains("oss/block/") && !l.contains("/pack")));
    out
}

/// A store's content (as `MemoryStore::dump` gives it).
pub type Dump = std::collections::BTreeMap<(rowsnap::engine::Table, rowsnap::engine::Key), Vec<u8>>;

/// The clock of the failure tests: fixed.
pub fn fixed_wall() -> Box<dyn Fn() -> u64> {
    Box::new(|| 1_795_000_000_000)
}

/// Starts from `start` with an ECS whose commit `n` fails in `mode`, runs
/// `step` until that failure, and returns what the store holds then (to be
/// reopened and resumed).
pub fn run_until_failure<T>(
    start: &Dump,
    n: u64,
    mode: rowsnap::engine::testkit::FailMode,
    mut step: impl FnMut(&mut Ecs<rowsnap::engine::testkit::FailingStore>) -> Result<Option<T>, rowsnap::error::Error>,
) -> MemoryStore {
    let store = MemoryStore::new();
    store.restore(start);
    let mut ecs = block_on(Ecs::open(rowsnap::engine::testkit::FailingStore::new(store.clone(), n, mode), fixed_wall())).unwrap();
    loop {
        match step(&mut ecs) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("commit {n} never failed"),
            Err(_) => break,
        }
    }
    store
}
