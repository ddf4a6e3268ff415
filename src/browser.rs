//! The browser facilities the console needs besides IndexedDB: the writer's
//! Web Lock (one tab writes), persistent storage, the storage estimate, Cache Storage, and
//! saving a download as a stream.
//!
//! Web Locks are reached through `js_sys` (web-sys gates `LockManager`
//! behind unstable APIs); every call works in a page and in a worker.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The name of the lock the writing tab holds.
pub const WRITER_LOCK: &str = "rowsnap-writer";

fn navigator() -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &"navigator".into()).ok().filter(|n| !n.is_undefined())
}

fn get(obj: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(obj, &key.into()).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

fn call0(obj: &JsValue, method: &str) -> Result<JsValue, JsValue> {
    let f: Function = get(obj, method).ok_or_else(|| JsValue::from_str(method))?.dyn_into()?;
    f.call0(obj)
}

/// What came of asking for the writer's lock.
pub enum LockOutcome {
    /// This tab holds the lock until the returned guard is dropped and the page goes away.
    Held(LockGuard),
    /// Another tab holds it.
    HeldElsewhere,
    /// The browser has no Web Locks: nothing stops a second tab.
    Unsupported,
}

/// Holds the writer's lock while it lives (dropping it releases the lock).
pub struct LockGuard {
    release: Function,
    _lost: Closure<dyn FnMut(JsValue)>,
    _granted: Closure<dyn FnMut(JsValue) -> JsValue>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// Asks for the writer's lock. Without `steal`, it is only taken when free;
/// with `steal`, it is taken from the tab that holds it, whose `on_lost` runs.
pub async fn writer_lock(steal: bool, on_lost: impl FnOnce() + 'static) -> Result<LockOutcome, String> {
    let Some(locks) = navigator().and_then(|n| get(&n, "locks")) else {
        return Ok(LockOutcome::Unsupported);
    };
    // `granted` resolves with whether the callback got the lock.
    let mut granted_resolve: Option<Function> = None;
    let granted = Promise::new(&mut |res, _| granted_resolve = Some(res));
    let granted_resolve = granted_resolve.unwrap();
    // The lock is held until `hold` resolves.
    let mut release: Option<Function> = None;
    let hold = Promise::new(&mut |res, _| release = Some(res));
    let release = release.unwrap();
    let hold_value: JsValue = hold.into();
    let callback = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |lock: JsValue| {
        let got = !lock.is_null();
        let _ = granted_resolve.call1(&JsValue::NULL, &JsValue::from_bool(got));
        if got {
            hold_value.clone()
        } else {
            JsValue::UNDEFINED
        }
    });
    let options = Object::new();
    let flag = if steal { "steal" } else { "ifAvailable" };
    Reflect::set(&options, &flag.into(), &JsValue::TRUE).map_err(|e| format!("{e:?}"))?;
    let request: Function =
        get(&locks, "request").ok_or("navigator.locks.request is missing")?.dyn_into().map_err(|_| "navigator.locks.request is not a function")?;
    let done: Promise = request
        .call3(&locks, &WRITER_LOCK.into(), &options, callback.as_ref())
        .map_err(|e| format!("navigator.locks.request failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "navigator.locks.request gave no promise")?;
    // When another tab steals the lock, `done` rejects with an AbortError.
    let mut on_lost = Some(on_lost);
    let lost = Closure::<dyn FnMut(JsValue)>::new(move |_err: JsValue| {
        if let Some(f) = on_lost.take() {
            f();
        }
    });
    let _ = done.catch(&lost);
    let got = JsFuture::from(granted).await.map_err(|e| format!("{e:?}"))?.as_bool().unwrap_or(false);
    if got {
        Ok(LockOutcome::Held(LockGuard { release, _lost: lost, _granted: callback }))
    } else {
        Ok(LockOutcome::HeldElsewhere)
    }
}

/// The browser's figures for this origin's storage.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageInfo {
    pub usage: f64,
    pub quota: f64,
    pub persisted: bool,
}

/// The estimate and whether storage is persistent already (`persisted()`, which never asks the
/// person anything, so it answers at once in every browser).
pub async fn storage() -> Option<StorageInfo> {
    let storage = navigator().and_then(|n| get(&n, "storage"))?;
    let mut persisted = false;
    if let Ok(p) = call0(&storage, "persisted") {
        persisted = JsFuture::from(Promise::from(p)).await.ok().and_then(|v| v.as_bool()).unwrap_or(false);
    }
    let (usage, quota) = estimate().await?;
    Some(StorageInfo { usage, quota, persisted })
}

/// `navigator.storage.estimate()`: this origin's (usage, quota) in bytes.
pub async fn estimate() -> Option<(f64, f64)> {
    let storage = navigator().and_then(|n| get(&n, "storage"))?;
    let est = JsFuture::from(Promise::from(call0(&storage, "estimate").ok()?)).await.ok()?;
    let num = |k: &str| get(&est, k).and_then(|v| v.as_f64()).unwrap_or(0.0);
    Some((num("usage"), num("quota")))
}

/// Asks for persistent storage: the browser's answer, `None` when it has no such API. Firefox
/// answers by asking the person (a prompt whose promise waits for them: for ever when nobody
/// is there), so nothing may wait on this.
pub async fn request_persist() -> Option<bool> {
    let storage = navigator().and_then(|n| get(&n, "storage"))?;
    let p = call0(&storage, "persist").ok()?;
    Some(JsFuture::from(Promise::from(p)).await.ok().and_then(|v| v.as_bool()).unwrap_or(false))
}

/// Bytes for people: "1.5 GiB".
pub fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A local file being written as a stream (the File System Access API's
/// `showSaveFilePicker`): a large download never sits in memory.
pub struct FileStream {
    writable: JsValue,
}

/// Calls `obj[method](...args)` and awaits the promise it returns.
async fn call_await(obj: &JsValue, method: &str, args: &[&JsValue]) -> Result<JsValue, String> {
    let f: js_sys::Function =
        js_sys::Reflect::get(obj, &method.into()).map_err(|e| format!("{e:?}"))?.dyn_into().map_err(|_| format!("{method} is not a function"))?;
    let argv: js_sys::Array = args.iter().copied().collect();
    let p = f.apply(obj, &argv).map_err(|e| format!("{e:?}"))?;
    JsFuture::from(Promise::resolve(&p)).await.map_err(|e| js_error_text(&e))
}

/// Cache Storage (`caches`), where the page or worker has it (secure contexts).
fn caches() -> Result<JsValue, String> {
    get(&js_sys::global(), "caches").ok_or_else(|| "no Cache Storage here".to_string())
}

/// Stores what `body` makes under `url` in the cache `name`, unless it holds `url` already.
pub async fn cache_keep(name: &str, url: &str, body: impl FnOnce() -> Vec<u8>) -> Result<(), String> {
    let cache = call_await(&caches()?, "open", &[&name.into()]).await?;
    let url = JsValue::from_str(url);
    if call_await(&cache, "match", &[&url]).await?.is_undefined() {
        let response = web_sys::Response::new_with_opt_u8_array(Some(&mut body())).map_err(|e| js_error_text(&e))?;
        call_await(&cache, "put", &[&url, &response]).await?;
    }
    Ok(())
}

/// Deletes the cache `name`.
pub async fn cache_delete(name: &str) -> Result<(), String> {
    call_await(&caches()?, "delete", &[&name.into()]).await.map(|_| ())
}

fn js_error_text(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_else(|| format!("{e:?}"))
}

impl FileStream {
    /// Asks where to save `name`; None when the browser has no save-file
    /// picker (the caller falls back to a Blob download). Err when the
    /// person cancels or the browser refuses.
    pub async fn open(name: &str) -> Result<Option<FileStream>, String> {
        let Some(w) = web_sys::window() else { return Ok(None) };
        let w: JsValue = w.into();
        let picker = js_sys::Reflect::get(&w, &"showSaveFilePicker".into()).unwrap_or(JsValue::UNDEFINED);
        if !picker.is_function() {
            return Ok(None);
        }
        let opts = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&opts, &"suggestedName".into(), &name.into());
        let handle = call_await(&w, "showSaveFilePicker", &[&opts]).await?;
        let writable = call_await(&handle, "createWritable", &[]).await?;
        Ok(Some(FileStream { writable }))
    }

    pub async fn write(&self, data: &[u8]) -> Result<(), String> {
        call_await(&self.writable, "write", &[&js_sys::Uint8Array::from(data).into()]).await.map(|_| ())
    }

    pub async fn close(self) -> Result<(), String> {
        call_await(&self.writable, "close", &[]).await.map(|_| ())
    }
}
