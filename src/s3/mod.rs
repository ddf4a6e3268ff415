//! A remote S3-compatible object store (issue: normal snapshots beyond one
//! browser): its configuration, Signature Version 4 and the error codes.
//!
//! `sigv4` is plain Rust (canonical request, string to sign, the header),
//! tested natively against AWS's published example; the hashing it needs
//! (SHA-256, HMAC-SHA-256) is the platform's (`client`: WebCrypto in the
//! browser), so the bundle carries no hash crates for it. `client` is the
//! browser's fetch: the connection test for now; the snapshot store's remote
//! backing builds on it.

#[cfg(target_arch = "wasm32")]
pub mod client;
pub mod sigv4;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What `window.ecs.setObjectStore` / `testObjectStore` take.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct S3Config {
    /// `https://s3.oss-cn-hangzhou.aliyuncs.com`, `http://127.0.0.1:8333`, ...
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// Path style (`endpoint/bucket/key`) or virtual-hosted (`bucket.endpoint/key`, as OSS wants).
    pub path_style: bool,
    pub access_key_id: String,
    pub access_key_secret: String,
    /// STS temporary credentials (as Alibaba recommends for browsers).
    pub security_token: Option<String>,
}

impl S3Config {
    /// Checks the configuration's shape (InvalidParameter with the field).
    pub fn check(&self) -> Result<()> {
        let e = &self.endpoint;
        if !(e.starts_with("https://") || e.starts_with("http://")) || e.len() < 10 || e.contains(char::is_whitespace) {
            return Err(Error::invalid("Endpoint", "an http:// or https:// URL"));
        }
        if self.region.is_empty() || !self.region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Error::invalid("Region", "a region name such as us-east-1 or oss-cn-hangzhou"));
        }
        let b = &self.bucket;
        if !(3..=63).contains(&b.len()) || !b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
            return Err(Error::invalid("Bucket", "3 to 63 lowercase letters, digits, - and ."));
        }
        if self.access_key_id.is_empty() || self.access_key_secret.is_empty() {
            return Err(Error::missing(if self.access_key_id.is_empty() { "AccessKeyId" } else { "AccessKeySecret" }));
        }
        Ok(())
    }

    /// The store's id, which snapshots record: from its endpoint and bucket.
    pub fn store_id(&self) -> String {
        // One bucket, however its endpoint is spelt (case, a trailing slash).
        format!("{:016x}", crate::util::fnv(format!("{}|{}", self.endpoint.trim_end_matches('/').to_ascii_lowercase(), self.bucket).as_bytes()))
    }

    /// The URL of `key` in the bucket ("" for the bucket itself), and its Host.
    pub fn url(&self, key: &str) -> (String, String) {
        let (scheme, rest) = self.endpoint.split_once("://").unwrap_or(("https", &self.endpoint));
        let host = rest.trim_end_matches('/');
        let path = sigv4::uri_encode(key, false);
        if self.path_style {
            let p = if key.is_empty() { format!("/{}", self.bucket) } else { format!("/{}/{path}", self.bucket) };
            (format!("{scheme}://{host}{p}"), host.to_string())
        } else {
            let host = format!("{}.{host}", self.bucket);
            (format!("{scheme}://{host}/{path}"), host)
        }
    }

    /// The CORS rule the bucket needs for this console's origin.
    pub fn cors_rule(origin: &str) -> String {
        format!(
            "<CORSConfiguration><CORSRule><AllowedOrigin>{origin}</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedMethod>DELETE</AllowedMethod><AllowedMethod>HEAD</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Range</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader><MaxAgeSeconds>3600</MaxAgeSeconds></CORSRule></CORSConfiguration>"
        )
    }
}

/// The error an S3 reply carries (`<Error><Code>..</Code><Message>..</Message>`),
/// as rowsnap's error with the server's code and HTTP status.
pub fn reply_error(status: u16, body: &str) -> Error {
    let tag = |t: &str| elements(body, t).into_iter().next();
    let code = tag("Code").unwrap_or_else(|| match status {
        403 => "AccessDenied".into(),
        404 => "NoSuchKey".into(),
        _ => "InvalidObjectStorage.Reply".into(),
    });
    let message = tag("Message").unwrap_or_else(|| format!("the object store answered HTTP {status}"));
    Error::new(status, &code, format!("Object storage: {message}"))
}

/// The text of each `<tag>` element of an XML reply, entities decoded.
pub fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(after[..j].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'"));
        rest = &after[j + close.len()..];
    }
    out
}

/// A fetch that failed without a status: the browser reports a CORS refusal
/// and an unreachable server alike.
pub fn unreachable(endpoint: &str) -> Error {
    Error::new(
        503,
        "InvalidObjectStorage.Unreachable",
        format!("Cannot reach the endpoint {endpoint}, or CORS refused it (the bucket's CORS rule must allow this console's origin)."),
    )
}
