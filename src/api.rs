//! `window.ecs` and `window.oss`: the ECS API and the embedded OSS for
//! scripts, as PRODUCT.md specifies them.
//!
//! ```js
//! await ecs.ready;
//! const { InstanceIdSets } = await ecs.request('RunInstances', { ImageId: 'aliyun_3_x64_20G_alibase_20240819.vhd' });
//! await ecs.writeDisk(diskId, 0, new Uint8Array([1, 2, 3]));
//! try { await ecs.request('CreateSnapshot', {}) } catch (e) { e.Code /* MissingParameter */, e.HttpStatus /* 400 */ }
//! ```
//!
//! Every function returns a Promise; failures reject with an `Error` whose
//! `Code`, `Message`, `HttpStatus` and `RequestId` are set. It talks only to
//! the ECS service (`crate::service`).

use js_sys::{Object, Promise, Reflect, Uint8Array};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use wasm_bindgen::prelude::*;

use crate::ecs::VERSION;
use crate::error::Error;
use crate::service;

/// A Promise of an async call. Every call's future is boxed first, so the
/// glue that drives it is compiled once, not once per method (twelve copies
/// weighed about 25 KB of the release wasm).
fn promise(f: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let boxed: Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>> = Box::pin(f);
    wasm_bindgen_futures::future_to_promise(boxed)
}

fn js_error(e: Error, request_id: Option<String>) -> JsValue {
    let err = js_sys::Error::new(&format!("{}: {}", e.code, e.message));
    let rid = request_id.unwrap_or_else(|| {
        // Data-plane calls have no ECS RequestId of their own: make one.
        let h = format!("{:016X}{:016X}", (js_sys::Math::random() * 2f64.powi(52)) as u64, (js_sys::Math::random() * 2f64.powi(52)) as u64);
        format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
    });
    let _ = Reflect::set(&err, &"Code".into(), &e.code.into());
    let _ = Reflect::set(&err, &"Message".into(), &e.message.into());
    let _ = Reflect::set(&err, &"HttpStatus".into(), &JsValue::from(e.http_status));
    // What a script (and the guest host) can do about it: Refused, Pending, QuotaExceeded,
    // KeyLocked (with KeyId when known), Closed, Io.
    let _ = Reflect::set(&err, &"Kind".into(), &e.kind.name().into());
    if let crate::error::ErrorKind::KeyLocked { key_id: Some(k), .. } = &e.kind {
        let _ = Reflect::set(&err, &"KeyId".into(), &k.as_str().into());
    }
    let _ = Reflect::set(&err, &"RequestId".into(), &rid.into());
    err.into()
}

fn to_js<T: Serialize>(v: &T) -> JsValue {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::UNDEFINED)
}

/// A non-negative whole number of bytes from JS.
fn bytes_arg(v: &JsValue, name: &str) -> Result<u64, Error> {
    match v.as_f64() {
        Some(n) if n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 => Ok(n as u64),
        _ => Err(Error::invalid(name, "a whole number of bytes, 0 or more")),
    }
}

fn set_fn(obj: &Object, name: &str, f: JsValue) {
    let _ = Reflect::set(obj, &name.into(), &f);
}

fn request(action: JsValue, params: JsValue) -> Promise {
    promise(async move {
        let Some(action) = action.as_string() else {
            return Err(js_error(Error::missing("Action"), None));
        };
        let params = json_arg(params)?;
        let mut rid = None;
        let out = service::with(async |ecs| match ecs.request(&action, &params).await {
            Ok(v) => Ok(v),
            Err((e, r)) => {
                rid = Some(r);
                Err(e)
            }
        })
        .await;
        out.map(|v| to_js(&v)).map_err(|e| js_error(e, rid))
    })
}

fn write_disk(disk: JsValue, offset: JsValue, bytes: JsValue) -> Promise {
    promise(async move {
        let disk = disk.as_string().ok_or_else(|| js_error(Error::missing("DiskId"), None))?;
        let offset = bytes_arg(&offset, "Offset").map_err(|e| js_error(e, None))?;
        if !bytes.is_instance_of::<Uint8Array>() {
            return Err(js_error(Error::invalid("Bytes", "a Uint8Array"), None));
        }
        let bytes = Uint8Array::from(bytes);
        if bytes.length() as u64 > crate::ecs::MAX_IO {
            return Err(js_error(Error::invalid("Bytes", "at most 64 MiB a call"), None));
        }
        let data = bytes.to_vec();
        service::with(async |ecs| ecs.write_disk(&disk, offset, &data).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn read_disk(disk: JsValue, offset: JsValue, length: JsValue) -> Promise {
    promise(async move {
        let disk = disk.as_string().ok_or_else(|| js_error(Error::missing("DiskId"), None))?;
        let offset = bytes_arg(&offset, "Offset").map_err(|e| js_error(e, None))?;
        let length = bytes_arg(&length, "Length").map_err(|e| js_error(e, None))?;
        let data = service::with(async |ecs| ecs.read_disk(&disk, offset, length).await).await.map_err(|e| js_error(e, None))?;
        Ok(Uint8Array::from(&data[..]).into())
    })
}

fn read_snapshot(snap: JsValue, offset: JsValue, length: JsValue) -> Promise {
    promise(async move {
        let snap = snap.as_string().ok_or_else(|| js_error(Error::missing("SnapshotId"), None))?;
        let offset = bytes_arg(&offset, "Offset").map_err(|e| js_error(e, None))?;
        let length = bytes_arg(&length, "Length").map_err(|e| js_error(e, None))?;
        let data = service::with(async |ecs| ecs.read_snapshot(&snap, offset, length).await).await.map_err(|e| js_error(e, None))?;
        Ok(Uint8Array::from(&data[..]).into())
    })
}

fn advance_clock(seconds: JsValue) -> Promise {
    promise(async move {
        let s = seconds.as_f64().ok_or_else(|| js_error(Error::invalid("Seconds", "a number"), None))?;
        service::with(async |ecs| ecs.advance_clock(s).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn set_upload_rate(rate: JsValue) -> Promise {
    promise(async move {
        let rate = if rate.is_null() || rate.is_undefined() { None } else { Some(bytes_arg(&rate, "BytesPerSecond").map_err(|e| js_error(e, None))?) };
        service::with(async |ecs| ecs.set_upload_rate(rate).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn region_arg(v: &JsValue) -> String {
    v.as_string().unwrap_or_else(|| crate::ecs::DEFAULT_REGION.to_string())
}

/// Plain data from JS (undefined and null: null).
fn json_arg(v: JsValue) -> Result<serde_json::Value, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(serde_json::Value::Null);
    }
    serde_wasm_bindgen::from_value(v).map_err(|e| js_error(Error::bad("InvalidParameter", format!("The parameters are not plain data: {e}")), None))
}

/// `testObjectStore(config)`, `setObjectStore(config | null)`,
/// `describeObjectStore()`, `recoverSnapshots()`, `describeMachineLimits()`,
/// `setMachineLimits(limits)`: one service action each.
fn service_call(action: &'static str) -> JsValue {
    Closure::<dyn Fn(JsValue) -> Promise>::new(move |arg: JsValue| promise(async move { Ok(to_js(&key_call(action, json_arg(arg)?).await?)) })).into_js_value()
}

/// One of the key service's methods (`service::key_action`).
async fn key_call(action: &'static str, params: serde_json::Value) -> Result<serde_json::Value, JsValue> {
    let out = service::with(async |ecs| service::key_action(ecs, action, &params).await.unwrap_or_else(|| Err(Error::internal(action)))).await;
    out.map_err(|e| js_error(e, None))
}

fn create_key(alias: JsValue, passphrase: JsValue, region: JsValue) -> Promise {
    promise(async move {
        let (alias, pass) = (str_arg(&alias, "Alias")?, str_arg(&passphrase, "Passphrase")?);
        let v = key_call("CreateKey", serde_json::json!({"Alias": alias, "Passphrase": pass, "RegionId": region_arg(&region)})).await?;
        Ok(to_js(&v))
    })
}

fn list_keys(region: JsValue) -> Promise {
    promise(async move { Ok(to_js(&key_call("ListKeys", serde_json::json!({"RegionId": region_arg(&region)})).await?)) })
}

fn lock_key(id: JsValue) -> Promise {
    promise(async move {
        key_call("LockKey", serde_json::json!({"KeyId": str_arg(&id, "KeyId")?})).await?;
        Ok(JsValue::UNDEFINED)
    })
}

fn unlock_key(id: JsValue, passphrase: JsValue) -> Promise {
    promise(async move {
        key_call("UnlockKey", serde_json::json!({"KeyId": str_arg(&id, "KeyId")?, "Passphrase": str_arg(&passphrase, "Passphrase")?})).await?;
        Ok(JsValue::UNDEFINED)
    })
}

fn reset() -> Promise {
    promise(async move {
        service::reset().await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn bucket_key(bucket: &JsValue, key: &JsValue) -> Result<(String, String), JsValue> {
    let b = bucket.as_string().ok_or_else(|| js_error(Error::bad("InvalidBucketName", "The bucket name is a string."), None))?;
    let k = key.as_string().ok_or_else(|| js_error(Error::bad("InvalidObjectName", "The object key is a string."), None))?;
    Ok((b, k))
}

fn oss_create_bucket(bucket: JsValue) -> Promise {
    promise(async move {
        let b = bucket.as_string().ok_or_else(|| js_error(Error::bad("InvalidBucketName", "The bucket name is a string."), None))?;
        service::with(async |ecs| ecs.oss_create_bucket(&b).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn oss_put_object(bucket: JsValue, key: JsValue, data: JsValue) -> Promise {
    promise(async move {
        let (b, k) = bucket_key(&bucket, &key)?;
        if data.is_instance_of::<Uint8Array>() {
            let bytes = Uint8Array::from(data).to_vec();
            service::with(async |ecs| ecs.oss_put(&b, &k, &bytes).await).await.map_err(|e| js_error(e, None))?;
            return Ok(JsValue::UNDEFINED);
        }
        let Ok(blob) = data.dyn_into::<web_sys::Blob>() else {
            return Err(js_error(Error::invalid("Data", "a Uint8Array or a Blob (such as a File)"), None));
        };
        service::put_blob(&b, &k, &blob, |_| ()).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn oss_get_object(bucket: JsValue, key: JsValue, range: JsValue) -> Promise {
    promise(async move {
        let (b, k) = bucket_key(&bucket, &key)?;
        let range = if range.is_undefined() || range.is_null() {
            None
        } else {
            let get = |n: &str| Reflect::get(&range, &n.into()).ok().unwrap_or(JsValue::UNDEFINED);
            let offset = bytes_arg(&get("offset"), "offset").map_err(|e| js_error(e, None))?;
            let length = bytes_arg(&get("length"), "length").map_err(|e| js_error(e, None))?;
            Some((offset, length))
        };
        let data = service::with(async |ecs| ecs.oss_get(&b, &k, range).await).await.map_err(|e| js_error(e, None))?;
        Ok(Uint8Array::from(&data[..]).into())
    })
}

fn oss_list_objects(bucket: JsValue, prefix: JsValue) -> Promise {
    promise(async move {
        let b = bucket.as_string().ok_or_else(|| js_error(Error::bad("InvalidBucketName", "The bucket name is a string."), None))?;
        let prefix = prefix.as_string().unwrap_or_default();
        let list = service::with(async |ecs| ecs.oss_list(&b, &prefix).await).await.map_err(|e| js_error(e, None))?;
        Ok(to_js(&list))
    })
}

fn oss_delete_object(bucket: JsValue, key: JsValue) -> Promise {
    promise(async move {
        let (b, k) = bucket_key(&bucket, &key)?;
        service::with(async |ecs| ecs.oss_delete(&b, &k).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn str_arg(v: &JsValue, name: &str) -> Result<String, JsValue> {
    v.as_string().ok_or_else(|| js_error(Error::missing(name), None))
}

fn no_vm(id: &str) -> JsValue {
    js_error(Error::forbidden("IncorrectInstanceStatus", format!("The instance \"{id}\" has no machine running in this tab.")), None)
}

/// `window.ecs.consoleRead(instanceId)`: the serial output since the machine booted.
fn console_read(id: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        let out = crate::service::host_call("consoleRead", &[id.clone().into()]);
        out.filter(|v| v.is_string()).ok_or_else(|| no_vm(&id))
    })
}

/// `window.ecs.consoleWrite(instanceId, text)`: text to the serial console.
fn console_write(id: JsValue, text: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        let text = str_arg(&text, "Text")?;
        match crate::service::host_call("consoleWrite", &[id.clone().into(), text.into()]) {
            Some(v) if v.as_bool() == Some(true) => Ok(JsValue::UNDEFINED),
            _ => Err(no_vm(&id)),
        }
    })
}

fn guest_attach(id: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        let v = service::with(async |ecs| ecs.guest_attach(&id).await).await.map_err(|e| js_error(e, None))?;
        Ok(to_js(&v))
    })
}

fn guest_running(id: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        service::with(async |ecs| ecs.guest_running(&id).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn guest_detach(id: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        service::with(async |ecs| ecs.guest_detach(&id).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

/// The guest's FLUSH CACHE (static/guest-host.js): resolves once every guest write queued so far,
/// the instance's among them, is committed with strict durability (`Ecs::sync_guest_writes`);
/// rejects when it cannot be.
fn guest_flush(id: JsValue) -> Promise {
    promise(async move {
        let _id = str_arg(&id, "InstanceId")?;
        service::with(async |ecs| ecs.sync_guest_writes().await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

/// The host paused the instance's machine (a read or write failed; `reason` one of
/// `ecs::guest::PAUSE_REASONS`): DescribeInstances says so until `resumed`.
fn guest_paused(id: JsValue, reason: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        let reason = str_arg(&reason, "Reason")?;
        service::with(async |ecs| ecs.guest_paused(&id, &reason)).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn guest_resumed(id: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        service::with(async |ecs| ecs.guest_resumed(&id)).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn guest_read(id: JsValue, index: JsValue, offset: JsValue, length: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        let index = bytes_arg(&index, "DiskIndex").map_err(|e| js_error(e, None))? as usize;
        let offset = bytes_arg(&offset, "Offset").map_err(|e| js_error(e, None))?;
        let length = bytes_arg(&length, "Length").map_err(|e| js_error(e, None))?;
        let data = service::with(async |ecs| ecs.guest_read(&id, index, offset, length).await).await.map_err(|e| js_error(e, None))?;
        Ok(Uint8Array::from(&data[..]).into())
    })
}

fn guest_write(id: JsValue, index: JsValue, offset: JsValue, bytes: JsValue) -> Promise {
    promise(async move {
        let id = str_arg(&id, "InstanceId")?;
        let index = bytes_arg(&index, "DiskIndex").map_err(|e| js_error(e, None))? as usize;
        let offset = bytes_arg(&offset, "Offset").map_err(|e| js_error(e, None))?;
        let data = bytes.dyn_into::<Uint8Array>().map_err(|_| js_error(Error::invalid("Bytes", "a Uint8Array"), None))?.to_vec();
        service::with(async |ecs| ecs.guest_write(&id, index, offset, data).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

fn guest_state_get(key: JsValue) -> Promise {
    promise(async move {
        let key = str_arg(&key, "Key")?;
        let data = service::with(async |ecs| ecs.guest_state_get(&key).await).await.map_err(|e| js_error(e, None))?;
        Ok(data.map_or(JsValue::NULL, |d| Uint8Array::from(&d[..]).into()))
    })
}

fn guest_state_keys() -> Promise {
    promise(async move {
        let keys = service::with(async |ecs| ecs.guest_state_keys().await).await.map_err(|e| js_error(e, None))?;
        Ok(to_js(&keys))
    })
}

fn guest_state_put(key: JsValue, bytes: JsValue) -> Promise {
    promise(async move {
        let key = str_arg(&key, "Key")?;
        let data = bytes.dyn_into::<Uint8Array>().map_err(|_| js_error(Error::invalid("Bytes", "a Uint8Array"), None))?.to_vec();
        service::with(async |ecs| ecs.guest_state_put(&key, &data).await).await.map_err(|e| js_error(e, None))?;
        Ok(JsValue::UNDEFINED)
    })
}

/// Installs `window.ecs` (call once, before the console renders).
pub fn install() {
    let ecs = Object::new();
    let _ = Reflect::set(&ecs, &"version".into(), &VERSION.into());
    let _ = Reflect::set(&ecs, &"ready".into(), &service::ready());
    set_fn(&ecs, "request", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(request).into_js_value());
    set_fn(&ecs, "writeDisk", Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(write_disk).into_js_value());
    set_fn(&ecs, "readDisk", Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(read_disk).into_js_value());
    set_fn(&ecs, "readSnapshot", Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(read_snapshot).into_js_value());
    set_fn(&ecs, "advanceClock", Closure::<dyn Fn(JsValue) -> Promise>::new(advance_clock).into_js_value());
    set_fn(&ecs, "setUploadRate", Closure::<dyn Fn(JsValue) -> Promise>::new(set_upload_rate).into_js_value());
    set_fn(&ecs, "reset", Closure::<dyn Fn() -> Promise>::new(reset).into_js_value());
    set_fn(&ecs, "testObjectStore", service_call("TestObjectStore"));
    set_fn(&ecs, "setObjectStore", service_call("SetObjectStore"));
    set_fn(&ecs, "describeObjectStore", service_call("DescribeObjectStore"));
    set_fn(&ecs, "recoverSnapshots", service_call("RecoverSnapshots"));
    set_fn(&ecs, "describeMachineLimits", service_call("DescribeMachineLimits"));
    set_fn(&ecs, "setMachineLimits", service_call("SetMachineLimits"));
    set_fn(&ecs, "createKey", Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(create_key).into_js_value());
    set_fn(&ecs, "listKeys", Closure::<dyn Fn(JsValue) -> Promise>::new(list_keys).into_js_value());
    set_fn(&ecs, "lockKey", Closure::<dyn Fn(JsValue) -> Promise>::new(lock_key).into_js_value());
    set_fn(&ecs, "unlockKey", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(unlock_key).into_js_value());
    set_fn(&ecs, "consoleRead", Closure::<dyn Fn(JsValue) -> Promise>::new(console_read).into_js_value());
    set_fn(&ecs, "consoleWrite", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(console_write).into_js_value());
    // The in-page host's side of the machines (static/guest-host.js), not for scripts.
    let guest = Object::new();
    set_fn(&guest, "attach", Closure::<dyn Fn(JsValue) -> Promise>::new(guest_attach).into_js_value());
    set_fn(&guest, "running", Closure::<dyn Fn(JsValue) -> Promise>::new(guest_running).into_js_value());
    set_fn(&guest, "detach", Closure::<dyn Fn(JsValue) -> Promise>::new(guest_detach).into_js_value());
    set_fn(&guest, "read", Closure::<dyn Fn(JsValue, JsValue, JsValue, JsValue) -> Promise>::new(guest_read).into_js_value());
    set_fn(&guest, "write", Closure::<dyn Fn(JsValue, JsValue, JsValue, JsValue) -> Promise>::new(guest_write).into_js_value());
    set_fn(&guest, "flush", Closure::<dyn Fn(JsValue) -> Promise>::new(guest_flush).into_js_value());
    set_fn(&guest, "paused", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(guest_paused).into_js_value());
    set_fn(&guest, "resumed", Closure::<dyn Fn(JsValue) -> Promise>::new(guest_resumed).into_js_value());
    set_fn(&guest, "loadState", Closure::<dyn Fn(JsValue) -> Promise>::new(guest_state_get).into_js_value());
    set_fn(&guest, "saveState", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(guest_state_put).into_js_value());
    set_fn(&guest, "stateKeys", Closure::<dyn Fn() -> Promise>::new(guest_state_keys).into_js_value());
    let _ = Reflect::set(&ecs, &"guest".into(), &guest);
    let _ = Reflect::set(&js_sys::global(), &"ecs".into(), &ecs);

    let oss = Object::new();
    set_fn(&oss, "createBucket", Closure::<dyn Fn(JsValue) -> Promise>::new(oss_create_bucket).into_js_value());
    set_fn(&oss, "putObject", Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(oss_put_object).into_js_value());
    set_fn(&oss, "getObject", Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(oss_get_object).into_js_value());
    set_fn(&oss, "listObjects", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(oss_list_objects).into_js_value());
    set_fn(&oss, "deleteObject", Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(oss_delete_object).into_js_value());
    let _ = Reflect::set(&js_sys::global(), &"oss".into(), &oss);
}
