#![cfg(not(target_arch = "wasm32"))]
//! Signature Version 4 against AWS's published S3 example ("GET Object",
//! Signature Calculations for the Authorization Header), the URLs of both
//! addressing styles, and the error replies.

use hmac::{Hmac, Mac};
use rowsnap::engine::testkit::block_on;
use rowsnap::s3::sigv4::{self, Hashing, Request};
use rowsnap::s3::{reply_error, S3Config};
use sha2::{Digest, Sha256};

struct Native;

impl Hashing for Native {
    async fn sha256(&self, data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
    async fn hmac(&self, key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(data);
        m.finalize().into_bytes().into()
    }
}

#[test]
fn sigv4_matches_the_aws_get_object_example() {
    let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let headers = vec![
        ("host".to_string(), "examplebucket.s3.amazonaws.com".to_string()),
        ("range".to_string(), "bytes=0-9".to_string()),
        ("x-amz-content-sha256".to_string(), empty.to_string()),
        ("x-amz-date".to_string(), "20130524T000000Z".to_string()),
    ];
    let r = Request { method: "GET", path: "/test.txt", query: &[], headers: &headers, payload_hash: empty };
    let (creq, signed) = sigv4::canonical(&r);
    assert_eq!(signed, "host;range;x-amz-content-sha256;x-amz-date");
    assert!(creq.starts_with("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"));
    let auth = block_on(sigv4::authorization(&Native, &r, "20130524T000000Z", "us-east-1", "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
    assert_eq!(
        auth,
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    );
    assert_eq!(sigv4::amz_date(1_369_353_600_000), "20130524T000000Z");
    assert_eq!(sigv4::uri_encode("a b/c+d~é", false), "a%20b/c%2Bd~%C3%A9");
}

#[test]
fn urls_in_both_addressing_styles_and_the_checks() {
    let mut c = S3Config {
        endpoint: "http://127.0.0.1:8333".into(),
        region: "us-east-1".into(),
        bucket: "rowsnap-test".into(),
        path_style: true,
        access_key_id: "k".into(),
        access_key_secret: "s".into(),
        security_token: None,
    };
    c.check().unwrap();
    assert_eq!(c.url("snap/a b"), ("http://127.0.0.1:8333/rowsnap-test/snap/a%20b".to_string(), "127.0.0.1:8333".to_string()));
    c.path_style = false;
    c.endpoint = "https://s3.oss-cn-hangzhou.aliyuncs.com/".into();
    assert_eq!(c.url("x"), ("https://rowsnap-test.s3.oss-cn-hangzhou.aliyuncs.com/x".to_string(), "rowsnap-test.s3.oss-cn-hangzhou.aliyuncs.com".to_string()));
    c.bucket = "Bad_Bucket".into();
    assert_eq!(c.check().unwrap_err().code, "InvalidParameter");
    let e = reply_error(
        403,
        "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>",
    );
    assert_eq!((e.code.as_str(), e.http_status), ("SignatureDoesNotMatch", 403));
    assert_eq!(reply_error(404, "").code, "NoSuchKey");
}
