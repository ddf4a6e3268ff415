//! The one ECS service of a tab, shared by the console and `window.ecs`.
//!
//! The session (`ui`) opens it once the tab holds the writer's lock; until
//! then calls wait, and `window.ecs.ready` stays pending. Calls are served one
//! at a time (an async mutex), so a script and the console never interleave
//! inside one action.

use std::cell::RefCell;
use std::rc::Rc;

use futures::lock::Mutex;
use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};

use crate::ecs::Ecs;
use crate::error::Error;
use crate::idb::IdbStore;

/// The database the console keeps everything in.
pub const DB_NAME: &str = "rowsnap";

/// Seconds between background ticks (retention, state steps).
const TICK_MS: u32 = 5_000;

pub type Service = Ecs<IdbStore>;

struct Shared {
    ecs: Rc<Mutex<Option<Service>>>,
    ready: Promise,
    ready_resolve: Option<Function>,
    ticking: bool,
}

thread_local! {
    static SHARED: RefCell<Shared> = RefCell::new({
        let mut resolve = None;
        let ready = Promise::new(&mut |res, _| resolve = Some(res));
        Shared { ecs: Rc::new(Mutex::new(None)), ready, ready_resolve: resolve, ticking: false }
    });
}

fn wall() -> u64 {
    js_sys::Date::now() as u64
}

/// The promise `window.ecs.ready` is.
pub fn ready() -> Promise {
    SHARED.with(|s| s.borrow().ready.clone())
}

fn handle() -> Rc<Mutex<Option<Service>>> {
    SHARED.with(|s| s.borrow().ecs.clone())
}

/// Opens the ECS service over the database (the tab holds the writer's lock).
/// `on_closed` runs if another tab upgrades or deletes the database.
pub async fn open(on_closed: impl FnOnce() + 'static) -> Result<(), Error> {
    let store = IdbStore::open_with(DB_NAME, on_closed).await.map_err(|e| Error::from(crate::engine::EngineError::Store(e)))?;
    // The room deletes are made in when the disk fills (idb::BALLAST_CACHE), made in the background.
    let ballast = store.clone();
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = ballast.keep_ballast().await {
            web_sys::console::warn_1(&format!("rowsnap: the storage ballast could not be made: {e}").into());
        }
    });
    let mut ecs = Ecs::open(store, Box::new(wall)).await?;
    open_keys(&mut ecs).await;
    // A bucket remembered on this device connects at once.
    if let Some(c) = ecs.remembered_object_store() {
        if let Err(e) = connect(&mut ecs, c, true).await {
            web_sys::console::warn_1(&format!("rowsnap: the remembered object storage could not connect: {e}").into());
        }
    }
    *handle().lock().await = Some(ecs);
    SHARED.with(|s| {
        let mut s = s.borrow_mut();
        if let Some(r) = s.ready_resolve.take() {
            let _ = r.call0(&JsValue::NULL);
        }
        if !s.ticking {
            s.ticking = true;
            wasm_bindgen_futures::spawn_local(tick_loop());
            wasm_bindgen_futures::spawn_local(upload_loop());
            wasm_bindgen_futures::spawn_local(guest_loop());
        }
    });
    Ok(())
}

/// The key service's vault: WebCrypto, the device key beside the database.
pub fn vault() -> crate::vault::WebVault {
    crate::vault::WebVault { db: DB_NAME.to_string() }
}

/// The service's own methods as actions, for the console and `window.ecs`
/// alike. The key service: `ListKeys`, `CreateKey` (Alias, Passphrase),
/// `LockKey` (KeyId), `UnlockKey` (KeyId, Passphrase), each in `RegionId`'s
/// region where it has one. Object storage: `TestObjectStore`,
/// `SetObjectStore` (an `S3Config` and `Remember`, or null), `DescribeObjectStore`,
/// `RecoverSnapshots`. Machines: `DescribeMachineLimits`, `SetMachineLimits`
/// (MaxMachines, MemoryMiB). None for any other action (an ECS one).
pub async fn key_action(ecs: &mut Service, action: &str, p: &serde_json::Value) -> Option<Result<serde_json::Value, Error>> {
    let arg = |k: &str| p[k].as_str().unwrap_or_default().to_string();
    let region = Some(arg("RegionId")).filter(|r| !r.is_empty()).unwrap_or_else(|| crate::ecs::DEFAULT_REGION.to_string());
    let config = || serde_json::from_value::<crate::s3::S3Config>(p.clone()).map_err(|e| Error::invalid("config", e));
    Some(match action {
        "TestObjectStore" => match config() {
            Ok(c) => test_connection(c).await,
            Err(e) => Err(e),
        },
        "SetObjectStore" if p.is_null() || p["Type"] == "Embedded" => ecs.set_object_store(None, None).await.map(|()| describe_object_store(ecs)),
        "SetObjectStore" => match config() {
            Ok(c) => set_object_store(ecs, c, p["Remember"].as_bool().unwrap_or(false)).await,
            Err(e) => Err(e),
        },
        "DescribeObjectStore" => Ok(describe_object_store(ecs)),
        "DescribeMachineLimits" => Ok(machine_limits(ecs)),
        "SetMachineLimits" => {
            let n = |k: &str| p[k].as_u64().map(|v| v.min(u32::MAX as u64) as u32);
            let bad = |k: &str| !p[k].is_null() && n(k).is_none();
            if bad("MaxMachines") || bad("MemoryMiB") {
                Err(Error::invalid(if bad("MaxMachines") { "MaxMachines" } else { "MemoryMiB" }, "a whole number"))
            } else {
                ecs.set_machine_limits(n("MaxMachines"), n("MemoryMiB")).await.map(|()| machine_limits(ecs))
            }
        }
        "RecoverSnapshots" => ecs.recover_snapshots().await,
        "ListKeys" => ecs.list_keys(&region).await,
        "CreateKey" => ecs.create_key(&vault(), &region, &arg("Alias"), &arg("Passphrase")).await,
        "LockKey" => ecs.lock_key(&arg("KeyId")).await.map(|()| serde_json::Value::Null),
        "UnlockKey" => ecs.unlock_key(&vault(), &arg("KeyId"), &arg("Passphrase")).await.map(|()| serde_json::Value::Null),
        _ => return None,
    })
}

/// The connection test of a bucket (`crate::s3::client`, a part of the bundle).
async fn test_connection(c: crate::s3::S3Config) -> Result<serde_json::Value, Error> {
    part!(crate::s3::client::test(c, wall()))?.await
}

/// Connects a bucket for normal snapshots once the connection test passes.
async fn set_object_store(ecs: &mut Service, c: crate::s3::S3Config, remember: bool) -> Result<serde_json::Value, Error> {
    test_connection(c.clone()).await?;
    connect(ecs, c, remember).await?;
    Ok(describe_object_store(ecs))
}

async fn connect(ecs: &mut Service, c: crate::s3::S3Config, remember: bool) -> Result<(), Error> {
    let store = c.store_id();
    let remembered = remember.then(|| c.clone());
    let objects = part!(crate::s3::client::open(c.clone()))?;
    ecs.set_object_store(Some((objects, store, c.bucket.clone())), remembered).await?;
    CONNECTED.with(|k| *k.borrow_mut() = Some(c));
    Ok(())
}

thread_local! {
    /// The connected bucket's configuration (credentials only in memory unless remembered).
    static CONNECTED: RefCell<Option<crate::s3::S3Config>> = const { RefCell::new(None) };
}

/// What `DescribeMachineLimits` (and `SetMachineLimits`) answer.
fn machine_limits(ecs: &Service) -> serde_json::Value {
    let (max, mib) = ecs.machine_limits();
    serde_json::json!({"MaxMachines": max, "MemoryMiB": mib, "MachinesAlive": ecs.guests().live().len()})
}

/// What `DescribeObjectStore` answers (never the secret).
fn describe_object_store(ecs: &Service) -> serde_json::Value {
    let (store, owner) = ecs.object_store();
    let c = CONNECTED.with(|k| k.borrow().clone()).filter(|_| !store.is_empty());
    match c {
        None => serde_json::json!({"Type": "Embedded", "Connected": false, "Remembered": false}),
        Some(c) => serde_json::json!({
            "Type": "S3", "Connected": true, "Endpoint": c.endpoint, "Region": c.region, "Bucket": c.bucket, "PathStyle": c.path_style,
            "AccessKeyId": c.access_key_id, "Prefix": format!("rowsnap/{owner}/"), "StoreId": store,
            "Remembered": ecs.remembered_object_store().is_some(), "LastError": ecs.object_store_error(),
        }),
    }
}

/// Opens the key service; without it (no WebCrypto) only encryption fails.
async fn open_keys(ecs: &mut Service) {
    if let Err(e) = ecs.kms_open(&vault()).await {
        web_sys::console::warn_1(&format!("rowsnap: the key service could not open; encrypted disks are unavailable: {e}").into());
    }
}

/// Closes the database (another tab took over); later calls wait.
pub async fn close() {
    if let Some(ecs) = handle().lock().await.take() {
        ecs.engine_ref().store().close();
    }
}

/// Runs `f` with the service, waiting for it to be open and for calls before it.
pub async fn with<T>(f: impl AsyncFnOnce(&mut Service) -> Result<T, Error>) -> Result<T, Error> {
    let _ = wasm_bindgen_futures::JsFuture::from(ready()).await;
    let h = handle();
    let mut guard = h.lock().await;
    match guard.as_mut() {
        Some(ecs) => f(ecs).await,
        None => Err(Error::closed("This tab no longer holds the rowsnap database (another tab took over): reload it.")),
    }
}

/// Deletes every disk, snapshot, image and setting, and starts afresh.
pub async fn reset() -> Result<(), Error> {
    let store_err = |e| Error::from(crate::engine::EngineError::Store(e));
    let h = handle();
    let mut guard = h.lock().await;
    if let Some(ecs) = guard.take() {
        ecs.engine_ref().store().close();
    }
    // Whatever happens, the tab ends with an open service: the emptied
    // database, or the old one if it could not be deleted.
    let deleted = IdbStore::delete(DB_NAME).await;
    let store = IdbStore::open(DB_NAME).await.map_err(store_err)?;
    let mut ecs = Ecs::open(store, Box::new(wall)).await?;
    open_keys(&mut ecs).await;
    *guard = Some(ecs);
    deleted.map_err(store_err)
}

async fn tick_loop() {
    loop {
        gloo::timers::future::TimeoutFuture::new(TICK_MS).await;
        let h = handle();
        let mut guard = h.lock().await;
        if let Some(ecs) = guard.as_mut() {
            if let Err(e) = ecs.tick().await {
                web_sys::console::warn_1(&format!("rowsnap: background work failed: {e}").into());
            }
        }
    }
}

/// Uploads normal snapshots to OSS and runs tasks (imports, exports) in the
/// background, paced as `crate::pacing` says. Between pumps the loop yields,
/// so console and script calls are served in between.
async fn upload_loop() {
    use crate::pacing::{Pacer, IDLE_MS, STRETCH, TASK_STEPS, UNCAPPED};
    let mut pacer = Pacer::new(js_sys::Date::now());
    let mut busy = false;
    // Failed steps in a row (a bucket down, expired credentials): waits grow
    // from 2 s to 32 s, so that neither the console nor the server is flooded.
    let mut failures = 0u32;
    loop {
        // Busy and uncapped: only yield to other tasks; otherwise wait a little.
        let wait = if failures > 0 {
            1000 << failures.min(5)
        } else if busy {
            0
        } else {
            IDLE_MS
        };
        gloo::timers::future::TimeoutFuture::new(wait).await;
        busy = false;
        let h = handle();
        let mut guard = h.lock().await;
        let Some(ecs) = guard.as_mut() else { continue };
        let rate = ecs.upload_rate();
        let budget = pacer.budget(js_sys::Date::now(), rate);
        if let Some(budget) = budget {
            match ecs.upload_pump(budget, STRETCH).await {
                Ok(Some(_)) => {
                    pacer.spent(rate, budget);
                    busy = rate.is_none();
                    failures = 0;
                }
                Ok(None) => {
                    pacer.idle();
                    failures = 0;
                    // Nothing to upload: copy restored disks from OSS meanwhile,
                    // and delete what the bucket holds that nothing names.
                    if let Err(e) = ecs.hydrate_step(UNCAPPED).await {
                        web_sys::console::warn_1(&format!("rowsnap: restore step failed (it will be retried): {e}").into());
                    }
                    if let Err(e) = ecs.sweep_step(64).await {
                        web_sys::console::warn_1(&format!("rowsnap: deleting unused objects failed (retried): {e}").into());
                    }
                }
                Err(e) => {
                    failures += 1;
                    web_sys::console::warn_1(&format!("rowsnap: upload step failed (retried in {} s): {e}", 1 << failures.min(5)).into());
                }
            }
        }
        // Imports and exports: a few steps (one transaction each) per turn.
        for _ in 0..TASK_STEPS {
            match ecs.task_step().await {
                Ok(Some(_)) => busy = true,
                Ok(None) => break,
                Err(e) => {
                    web_sys::console::warn_1(&format!("rowsnap: task step failed (it will be retried): {e}").into());
                    break;
                }
            }
        }
    }
}

/// Where the guest build's files are served (`scripts/guest/build.sh`).
pub const GUEST_BASE: &str = "guest/";

/// Calls `window.rowsnapHost[name](args)` (the in-page host, `static/guest-host.js`), if it is loaded.
pub fn host_call(name: &str, args: &[JsValue]) -> Option<JsValue> {
    let host = js_sys::Reflect::get(&js_sys::global(), &"rowsnapHost".into()).ok().filter(|h| h.is_object())?;
    let f: Function = js_sys::Reflect::get(&host, &name.into()).ok()?.dyn_into().ok()?;
    f.apply(&host, &args.iter().collect::<js_sys::Array>()).ok()
}

/// Loads the in-page host (once).
async fn load_host() -> Result<(), Error> {
    if host_call("live", &[JsValue::NULL]).is_some() {
        return Ok(());
    }
    let doc = gloo::utils::document();
    let script = doc.create_element("script").map_err(|_| Error::internal("no script element"))?;
    let _ = script.set_attribute("src", "guest-host.js");
    let loaded = Promise::new(&mut |resolve, reject| {
        let _ = js_sys::Reflect::set(&script, &"onload".into(), &resolve);
        let _ = js_sys::Reflect::set(&script, &"onerror".into(), &reject);
    });
    let _ = doc.head().map(|h| h.append_child(&script));
    wasm_bindgen_futures::JsFuture::from(loaded).await.map_err(|_| Error::internal("The machine host (guest-host.js) could not be loaded."))?;
    Ok(())
}

/// The machines of instances that boot in the page: applies the guests'
/// queued writes every 250 ms, and hands the ECS layer's orders (boot, stop,
/// ...) to the in-page host, loaded when the first machine is to run.
async fn guest_loop() {
    install_guest_image().await;
    let mut n = 0u32;
    loop {
        gloo::timers::future::TimeoutFuture::new(250).await;
        n += 1;
        let orders = with(async |ecs| {
            // A batch that cannot commit (storage full, a key locked) stays queued, and the
            // machines that need it pause (static/guest-host.js); the orders still go out (a
            // resume among them), and the failure is said every 10 s, not every 250 ms.
            if let Err(e) = ecs.flush_guest_writes().await {
                if e.kind == crate::error::ErrorKind::Closed {
                    return Err(e);
                }
                if n.is_multiple_of(40) {
                    web_sys::console::warn_1(&format!("rowsnap: queued guest writes wait (retried): {e}").into());
                }
            }
            // Orders every second (a read of the instances); writes every 250 ms.
            if n.is_multiple_of(4) {
                ecs.guest_orders().await
            } else {
                Ok(Vec::new())
            }
        })
        .await;
        match orders {
            Ok(o) if o.is_empty() => {}
            Ok(o) => match load_host().await {
                Ok(()) => {
                    use serde::Serialize;
                    let v = o.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL);
                    host_call("apply", &[v]);
                }
                Err(e) => web_sys::console::warn_1(&format!("rowsnap: {e}").into()),
            },
            Err(e) => web_sys::console::warn_1(&format!("rowsnap: guest writes or orders failed (retried): {e}").into()),
        }
    }
}

/// Installs the guest build's system disk as the Linux image's content when
/// the build served here is not the one installed (the first start, or a new
/// build). Without a guest build (`guest/manifest.json` missing) the console
/// runs without it.
async fn install_guest_image() {
    let result: Result<(), JsValue> = async {
        let window = gloo::utils::window();
        let fetch = |url: String| wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(&url));
        let resp: web_sys::Response = fetch(format!("{GUEST_BASE}manifest.json")).await?.dyn_into()?;
        if !resp.ok() {
            return Ok(());
        }
        let manifest = wasm_bindgen_futures::JsFuture::from(resp.json()?).await?;
        let get = |o: &JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok().unwrap_or(JsValue::UNDEFINED);
        let build = get(&manifest, "build").as_string().unwrap_or_default();
        let image = get(&get(&manifest, "image"), "path").as_string().unwrap_or_default();
        if build.is_empty() || image.is_empty() {
            return Ok(());
        }
        let installed = with(async |ecs| Ok(ecs.guest_build() == build)).await.unwrap_or(true);
        if installed {
            return Ok(());
        }
        // The image is gzip: decompressed by the browser as it streams in.
        let resp: web_sys::Response = fetch(format!("{GUEST_BASE}{image}")).await?.dyn_into()?;
        let body = resp.body().ok_or("no body")?;
        // new DecompressionStream('gzip') (web-sys has it only as an unstable API).
        let ctor: Function = js_sys::Reflect::get(&js_sys::global(), &"DecompressionStream".into())?.dyn_into()?;
        let ds = js_sys::Reflect::construct(&ctor, &js_sys::Array::of1(&"gzip".into()))?;
        let pipe: Function = js_sys::Reflect::get(&body, &"pipeThrough".into())?.dyn_into()?;
        let out: web_sys::ReadableStream = pipe.call1(&body, &ds)?.dyn_into()?;
        let raw = web_sys::Response::new_with_opt_readable_stream(Some(&out))?;
        let buf = wasm_bindgen_futures::JsFuture::from(raw.array_buffer()?).await?;
        let bytes = js_sys::Uint8Array::new(&buf).to_vec();
        with(async |ecs| ecs.install_guest_image(&build, &bytes).await).await.map_err(|e| JsValue::from(e.to_string()))?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        web_sys::console::warn_1(&format!("rowsnap: the Linux image could not be installed: {e:?}").into());
    }
}

/// Bytes of a Blob read at a time (one transaction each where they are stored).
pub const SLICE: f64 = (4 << 20) as f64;

/// Reads a Blob (such as a File) in 4 MiB slices, outside any transaction,
/// handing each to `f` with its offset: a large file never sits in memory.
pub async fn for_each_slice(blob: &web_sys::Blob, slice: f64, mut f: impl AsyncFnMut(u64, Vec<u8>) -> Result<(), Error>) -> Result<(), Error> {
    let js = |e: JsValue| Error::new(400, "InvalidArgument", format!("The file could not be read: {e:?}"));
    let size = blob.size();
    let mut offset = 0f64;
    while offset < size {
        let end = (offset + slice).min(size);
        let slice = blob.slice_with_f64_and_f64(offset, end).map_err(js)?;
        let buf = wasm_bindgen_futures::JsFuture::from(slice.array_buffer()).await.map_err(js)?;
        f(offset as u64, js_sys::Uint8Array::new(&buf).to_vec()).await?;
        offset = end;
    }
    Ok(())
}

/// Puts a Blob into OSS: each slice is one transaction (in a bucket, one
/// part of a multipart upload); the object appears when the last one completes it. `progress` gets the bytes done so far.
pub async fn put_blob(bucket: &str, key: &str, blob: &web_sys::Blob, progress: impl Fn(f64)) -> Result<(), Error> {
    let upload = with(async |ecs| ecs.oss_begin(bucket, key).await).await?;
    let mut stored = 0u64;
    let result = async {
        // To a bucket, each slice is one part of a multipart upload.
        let slice = if upload.starts_with("s3:") { crate::ecs::PART as f64 } else { SLICE };
        for_each_slice(blob, slice, async |at, bytes| {
            let n = bytes.len() as u64;
            stored += with(async |ecs| ecs.oss_put_part(&upload, at, &bytes).await).await?;
            progress((at + n) as f64);
            Ok(())
        })
        .await?;
        with(async |ecs| ecs.oss_complete(bucket, key, &upload, blob.size() as u64, stored).await).await
    }
    .await;
    if result.is_err() {
        let _ = with(async |ecs| ecs.oss_abort(&upload).await).await;
    }
    result
}
