//! The browser's side of a remote object store: WebCrypto hashing for
//! SigV4, requests over `fetch`, and the connection test (credentials,
//! bucket, CORS for this origin, ranged GETs).

use js_sys::{Object, Reflect, Uint8Array};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::sigv4::{self, Hashing, UNSIGNED};
use super::{elements, reply_error, unreachable, S3Config};
use crate::error::{Error, Result};
use crate::vault::web::{call, obj, subtle, usages};

/// SHA-256 and HMAC-SHA-256 from WebCrypto.
pub struct WebHashing;

fn to32(v: &JsValue) -> [u8; 32] {
    let mut out = [0u8; 32];
    let b = Uint8Array::new(v).to_vec();
    out.copy_from_slice(&b[..32]);
    out
}

impl Hashing for WebHashing {
    async fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let d = call(subtle().expect("WebCrypto").digest_with_str_and_buffer_source("SHA-256", &Uint8Array::from(data))).await.expect("SHA-256 is available");
        to32(&d)
    }
    async fn hmac(&self, key: &[u8], data: &[u8]) -> [u8; 32] {
        let s = subtle().expect("WebCrypto");
        let alg = obj(&[("name", "HMAC".into()), ("hash", "SHA-256".into())]);
        let k = call(s.import_key_with_object("raw", &Uint8Array::from(key), &alg, false, &usages(&["sign"]))).await.expect("HMAC keys import");
        let sig = call(s.sign_with_str_and_buffer_source("HMAC", k.unchecked_ref(), &Uint8Array::from(data))).await.expect("HMAC signs");
        to32(&sig)
    }
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            s.push(if i <= c.len() { A[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    s
}

/// A reply: status, the response (headers), the body.
pub struct Reply {
    pub status: u16,
    pub response: web_sys::Response,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.response.headers().get(name).ok().flatten()
    }
}

/// Sends one signed request. `Err(None)`: the fetch failed without a status
/// (unreachable, or refused by CORS).
pub async fn send(
    cfg: &S3Config,
    method: &str,
    key: &str,
    query: &[(String, String)],
    headers: &[(&str, String)],
    body: Option<&[u8]>,
    now_ms: u64,
) -> std::result::Result<Reply, Option<Error>> {
    let (mut url, host) = cfg.url(key);
    let path_start = url.find("://").map(|i| i + 3).and_then(|i| url[i..].find('/').map(|j| i + j)).unwrap_or(url.len());
    let path = if path_start < url.len() { url[path_start..].to_string() } else { "/".to_string() };
    let date = sigv4::amz_date(now_ms);
    let mut h: Vec<(String, String)> = vec![("host".into(), host), ("x-amz-content-sha256".into(), UNSIGNED.into()), ("x-amz-date".into(), date.clone())];
    if let Some(t) = &cfg.security_token {
        h.push(("x-amz-security-token".into(), t.clone()));
    }
    for (k, v) in headers {
        h.push((k.to_ascii_lowercase(), v.clone()));
    }
    let req = sigv4::Request { method, path: &path, query, headers: &h, payload_hash: UNSIGNED };
    let auth = sigv4::authorization(&WebHashing, &req, &date, &cfg.region, &cfg.access_key_id, &cfg.access_key_secret).await;
    if !query.is_empty() {
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", sigv4::uri_encode(k, true), sigv4::uri_encode(v, true))).collect();
        url = format!("{url}?{}", q.join("&"));
    }
    let sent = Object::new();
    for (k, v) in h.iter().filter(|(k, _)| k != "host") {
        let _ = Reflect::set(&sent, &k.into(), &v.into());
    }
    let _ = Reflect::set(&sent, &"authorization".into(), &auth.into());
    let init = obj(&[("method", method.into()), ("headers", sent.into()), ("mode", "cors".into()), ("cache", "no-store".into())]);
    if let Some(b) = body {
        let _ = Reflect::set(&init, &"body".into(), &Uint8Array::from(b));
    }
    let fetch: js_sys::Function = Reflect::get(&js_sys::global(), &"fetch".into()).map_err(|_| None)?.unchecked_into();
    let p: js_sys::Promise = fetch.call2(&JsValue::NULL, &url.into(), &init).map_err(|_| None)?.unchecked_into();
    let response: web_sys::Response = JsFuture::from(p).await.map_err(|_| None)?.unchecked_into();
    let buf = JsFuture::from(response.array_buffer().map_err(|_| None)?).await.map_err(|_| None)?;
    Ok(Reply { status: response.status(), body: Uint8Array::new(&buf).to_vec(), response })
}

/// Whether anything answers at the endpoint (an opaque `no-cors` fetch):
/// tells a CORS refusal from an unreachable server.
async fn reachable(endpoint: &str) -> bool {
    let Ok(fetch) = Reflect::get(&js_sys::global(), &"fetch".into()) else { return false };
    let fetch: js_sys::Function = fetch.unchecked_into();
    let init = obj(&[("mode", "no-cors".into()), ("cache", "no-store".into())]);
    match fetch.call2(&JsValue::NULL, &endpoint.into(), &init) {
        Ok(p) => JsFuture::from(p.unchecked_into::<js_sys::Promise>()).await.is_ok(),
        Err(_) => false,
    }
}

fn origin() -> String {
    Reflect::get(&js_sys::global(), &"location".into()).and_then(|l| Reflect::get(&l, &"origin".into())).ok().and_then(|o| o.as_string()).unwrap_or_default()
}

fn cors_refused(cfg: &S3Config, what: &str) -> Error {
    let o = origin();
    Error::new(
        403,
        "InvalidObjectStorage.CorsRefused",
        format!(
            "The endpoint {} answers, but the bucket's CORS rule refuses this console ({o}){what}. Add this rule to the bucket \"{}\" (in its console or API; a browser cannot set it): {}",
            cfg.endpoint,
            cfg.bucket,
            S3Config::cors_rule(&o)
        ),
    )
}

/// What a failed request means, with the codes users know.
async fn failed(cfg: &S3Config, r: std::result::Result<Reply, Option<Error>>) -> Result<Reply> {
    match r {
        Ok(reply) if reply.status < 300 => Ok(reply),
        Ok(reply) => Err(reply_error(reply.status, &String::from_utf8_lossy(&reply.body))),
        Err(Some(e)) => Err(e),
        Err(None) if reachable(&cfg.endpoint).await => Err(cors_refused(cfg, "")),
        Err(None) => Err(unreachable(&cfg.endpoint)),
    }
}

/// Test connection: a small object put (with Content-MD5), read back with a
/// ranged GET (206 and a readable Content-Range), deleted. Checks the
/// credentials, the bucket, the CORS rule (methods, headers, exposed
/// headers) and ranged reads.
async fn test_connection(cfg: &S3Config, now_ms: u64) -> Result<Value> {
    cfg.check()?;
    use md5::Digest;
    let body = b"rowsnap connection test: this object is deleted at once";
    let key = format!("rowsnap-connection-test/{now_ms}");
    let md5 = base64(&md5::Md5::digest(body));
    // The bucket and the credentials first (a PUT could create a missing bucket on some servers).
    let list = [("list-type".to_string(), "2".to_string()), ("max-keys".to_string(), "1".to_string())];
    failed(cfg, send(cfg, "GET", "", &list, &[], None, now_ms).await).await?;
    let put = failed(cfg, send(cfg, "PUT", &key, &[], &[("content-md5", md5)], Some(body), now_ms).await).await?;
    if put.header("etag").is_none() {
        return Err(cors_refused(cfg, ": the ETag header is not exposed"));
    }
    let get = failed(cfg, send(cfg, "GET", &key, &[], &[("range", "bytes=9-18".into())], None, now_ms).await).await?;
    if get.status != 206 {
        let _ = send(cfg, "DELETE", &key, &[], &[], None, now_ms).await;
        return Err(Error::new(
            502,
            "InvalidObjectStorage.RangeIgnored",
            format!(
                "A ranged GET answered HTTP {} with {} bytes instead of 206 with the range: this store cannot serve rowsnap's lazy restores.",
                get.status,
                get.body.len()
            ),
        ));
    }
    if get.header("content-range").is_none() {
        let _ = send(cfg, "DELETE", &key, &[], &[], None, now_ms).await;
        return Err(cors_refused(cfg, ": the Content-Range header is not exposed"));
    }
    if get.body != body[9..19] {
        return Err(Error::new(502, "InvalidObjectStorage.Reply", "A ranged GET gave other bytes than were put."));
    }
    failed(cfg, send(cfg, "DELETE", &key, &[], &[], None, now_ms).await).await?;
    Ok(
        json!({"Ok": true, "Endpoint": cfg.endpoint, "Bucket": cfg.bucket, "Checked": ["credentials", "bucket", "PUT with Content-MD5", "ranged GET (206, Content-Range)", "DELETE", "CORS for this origin"]}),
    )
}

/// The bucket client for `cfg` (the snapshot store's remote seam). A split
/// point of the release bundle (`part!`): the client (signing, XML, MD5,
/// requests) is a part of its own, fetched the first time a bucket is
/// tested or connected, since a console that never uses a bucket never needs it.
#[cfg_attr(feature = "split", wasm_split_helpers::wasm_split(s3, fallible))]
pub fn open(cfg: S3Config) -> Result<std::rc::Rc<dyn crate::snapstore::Objects>> {
    Ok(std::rc::Rc::new(S3Objects { cfg }))
}

/// [`test_connection`] behind the same split point as [`open`].
#[cfg_attr(feature = "split", wasm_split_helpers::wasm_split(s3, fallible))]
pub fn test(cfg: S3Config, now_ms: u64) -> Result<std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value>>>>> {
    Ok(Box::pin(async move { test_connection(&cfg, now_ms).await }))
}

/// The snapshot store's remote seam over a bucket (`snapstore::Objects`).
struct S3Objects {
    cfg: S3Config,
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

impl crate::snapstore::Objects for S3Objects {
    fn get<'a>(&'a self, key: &'a str) -> crate::snapstore::tier::Io<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match send(&self.cfg, "GET", key, &[], &[], None, now()).await {
                Ok(r) if r.status == 404 => Ok(None),
                r => Ok(Some(failed(&self.cfg, r).await?.body)),
            }
        })
    }
    fn put<'a>(&'a self, key: &'a str, data: &'a [u8]) -> crate::snapstore::tier::Io<'a, ()> {
        Box::pin(async move {
            use md5::Digest;
            let md5 = base64(&md5::Md5::digest(data));
            failed(&self.cfg, send(&self.cfg, "PUT", key, &[], &[("content-md5", md5)], Some(data), now()).await).await?;
            Ok(())
        })
    }
    fn delete<'a>(&'a self, key: &'a str) -> crate::snapstore::tier::Io<'a, ()> {
        Box::pin(async move {
            match send(&self.cfg, "DELETE", key, &[], &[], None, now()).await {
                Ok(r) if r.status == 404 => Ok(()),
                r => failed(&self.cfg, r).await.map(|_| ()),
            }
        })
    }
    fn list<'a>(&'a self, prefix: &'a str, delimiter: bool) -> crate::snapstore::tier::Io<'a, Vec<String>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut token = None;
            loop {
                let mut q = vec![("list-type".to_string(), "2".to_string()), ("prefix".to_string(), prefix.to_string())];
                if delimiter {
                    q.push(("delimiter".into(), "/".into()));
                }
                if let Some(t) = token.take() {
                    q.push(("continuation-token".into(), t));
                }
                let r = failed(&self.cfg, send(&self.cfg, "GET", "", &q, &[], None, now()).await).await?;
                let xml = String::from_utf8_lossy(&r.body);
                if delimiter {
                    for p in elements(&xml, "CommonPrefixes") {
                        out.extend(elements(&p, "Prefix"));
                    }
                } else {
                    out.extend(elements(&xml, "Key"));
                }
                token = elements(&xml, "NextContinuationToken").into_iter().next();
                if token.is_none() || elements(&xml, "IsTruncated").first().map(String::as_str) != Some("true") {
                    return Ok(out);
                }
            }
        })
    }
    fn list_meta<'a>(&'a self, prefix: &'a str) -> crate::snapstore::tier::Io<'a, Vec<(String, u64, String)>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut token = None;
            loop {
                let mut q = vec![("list-type".to_string(), "2".to_string()), ("prefix".to_string(), prefix.to_string())];
                if let Some(t) = token.take() {
                    q.push(("continuation-token".into(), t));
                }
                let r = failed(&self.cfg, send(&self.cfg, "GET", "", &q, &[], None, now()).await).await?;
                let xml = String::from_utf8_lossy(&r.body);
                for c in elements(&xml, "Contents") {
                    let one = |t: &str| elements(&c, t).into_iter().next().unwrap_or_default();
                    out.push((one("Key"), one("Size").parse().unwrap_or(0), one("LastModified")));
                }
                token = elements(&xml, "NextContinuationToken").into_iter().next();
                if token.is_none() || elements(&xml, "IsTruncated").first().map(String::as_str) != Some("true") {
                    return Ok(out);
                }
            }
        })
    }
    fn get_range<'a>(&'a self, key: &'a str, offset: u64, len: u64) -> crate::snapstore::tier::Io<'a, Option<(Vec<u8>, u64, String)>> {
        Box::pin(async move {
            let range = format!("bytes={offset}-{}", offset + len.max(1) - 1);
            let r = match send(&self.cfg, "GET", key, &[], &[("range", range)], None, now()).await {
                Ok(r) if r.status == 404 => return Ok(None),
                // Past the end: no bytes, and the size from `bytes */<size>`.
                Ok(r) if r.status == 416 => {
                    let size = r.header("content-range").and_then(|c| c.rsplit('/').next()?.parse().ok()).unwrap_or(offset);
                    return Ok(Some((Vec::new(), size, r.header("etag").unwrap_or_default())));
                }
                r => failed(&self.cfg, r).await?,
            };
            // Some servers answer a range they cannot serve with the whole object.
            let size = r.header("content-range").and_then(|c| c.rsplit('/').next()?.parse().ok());
            match (r.status, size) {
                (206, Some(size)) => {
                    let etag = r.header("etag").unwrap_or_default();
                    Ok(Some((r.body, size, etag)))
                }
                _ => Err(Error::new(
                    502,
                    "InvalidObjectStorage.RangeIgnored",
                    format!("A ranged GET of \"{key}\" answered HTTP {} without a readable Content-Range.", r.status),
                )),
            }
        })
    }
    fn multipart_begin<'a>(&'a self, key: &'a str) -> crate::snapstore::tier::Io<'a, String> {
        Box::pin(async move {
            let q = [("uploads".to_string(), String::new())];
            let r = failed(&self.cfg, send(&self.cfg, "POST", key, &q, &[], None, now()).await).await?;
            elements(&String::from_utf8_lossy(&r.body), "UploadId")
                .into_iter()
                .next()
                .ok_or_else(|| Error::new(502, "InvalidObjectStorage.Reply", "CreateMultipartUpload gave no UploadId."))
        })
    }
    fn multipart_part<'a>(&'a self, key: &'a str, upload: &'a str, part: u32, data: &'a [u8]) -> crate::snapstore::tier::Io<'a, String> {
        Box::pin(async move {
            use md5::Digest;
            let md5 = base64(&md5::Md5::digest(data));
            let q = [("partNumber".to_string(), part.to_string()), ("uploadId".to_string(), upload.to_string())];
            let r = failed(&self.cfg, send(&self.cfg, "PUT", key, &q, &[("content-md5", md5)], Some(data), now()).await).await?;
            r.header("etag").ok_or_else(|| cors_refused(&self.cfg, ": the ETag header is not exposed"))
        })
    }
    fn multipart_complete<'a>(&'a self, key: &'a str, upload: &'a str, etags: &'a [String]) -> crate::snapstore::tier::Io<'a, ()> {
        Box::pin(async move {
            let parts: String = etags.iter().enumerate().map(|(i, e)| format!("<Part><PartNumber>{}</PartNumber><ETag>{e}</ETag></Part>", i + 1)).collect();
            let body = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
            let q = [("uploadId".to_string(), upload.to_string())];
            let r = failed(&self.cfg, send(&self.cfg, "POST", key, &q, &[], Some(body.as_bytes()), now()).await).await?;
            // S3 may answer 200 with an error in the body.
            let text = String::from_utf8_lossy(&r.body);
            if text.contains("<Error>") {
                return Err(reply_error(500, &text));
            }
            Ok(())
        })
    }
    fn multipart_abort<'a>(&'a self, key: &'a str, upload: &'a str) -> crate::snapstore::tier::Io<'a, ()> {
        Box::pin(async move {
            let q = [("uploadId".to_string(), upload.to_string())];
            match send(&self.cfg, "DELETE", key, &q, &[], None, now()).await {
                Ok(r) if r.status == 404 => Ok(()),
                r => failed(&self.cfg, r).await.map(|_| ()),
            }
        })
    }
}
