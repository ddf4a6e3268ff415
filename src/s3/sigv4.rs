//! AWS Signature Version 4 for S3 requests signed in headers, with
//! `UNSIGNED-PAYLOAD` (the body is protected by `Content-MD5` instead: a
//! SHA-256 of every part would hash each upload twice). The hashing is the
//! caller's ([`Hashing`]): WebCrypto in the browser.

#[allow(async_fn_in_trait)]
pub trait Hashing {
    async fn sha256(&self, data: &[u8]) -> [u8; 32];
    async fn hmac(&self, key: &[u8], data: &[u8]) -> [u8; 32];
}

pub const UNSIGNED: &str = "UNSIGNED-PAYLOAD";

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// S3's URI encoding: unreserved characters stay; `/` stays in paths.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !encode_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A request to sign: method, path (already encoded), query pairs (raw),
/// headers (lowercase names; `host` among them).
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
}

/// The canonical request and the signed headers list.
pub fn canonical(r: &Request) -> (String, String) {
    let mut q: Vec<(String, String)> = r.query.iter().map(|(k, v)| (uri_encode(k, true), uri_encode(v, true))).collect();
    q.sort();
    let query = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut h: Vec<(String, String)> = r.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string())).collect();
    h.sort();
    let headers: String = h.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed = h.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    (format!("{}\n{}\n{query}\n{headers}\n{signed}\n{}", r.method, r.path, r.payload_hash), signed)
}

/// The `Authorization` header for `r` at `amz_date` (`20130524T000000Z`).
pub async fn authorization<H: Hashing>(h: &H, r: &Request<'_>, amz_date: &str, region: &str, key_id: &str, secret: &str) -> String {
    let (creq, signed) = canonical(r);
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/s3/aws4_request");
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&h.sha256(creq.as_bytes()).await));
    let mut k = h.hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes()).await;
    for part in [region, "s3", "aws4_request"] {
        k = h.hmac(&k, part.as_bytes()).await;
    }
    let sig = hex(&h.hmac(&k, to_sign.as_bytes()).await);
    format!("AWS4-HMAC-SHA256 Credential={key_id}/{scope},SignedHeaders={signed},Signature={sig}")
}

/// `YYYYMMDDTHHMMSSZ` for a time in ms since the Unix epoch.
pub fn amz_date(ms: u64) -> String {
    let iso = crate::ecs::time::iso(ms); // 2026-11-30T04:00:00Z
    iso.replace(['-', ':'], "")
}
