//! The embedded OSS as the ECS service offers it (`window.oss`): each call one
//! transaction; a large object is written in parts under an upload id and
//! completed by one last transaction. The connected S3-compatible bucket
//! (`remote`) is offered beside the embedded buckets under its own name:
//! calls on it go to the bucket (no transaction), large puts as multipart
//! uploads (upload ids `s3:<id>`).

use std::rc::Rc;

use super::{time::iso, Ecs};
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::oss::{check_bucket_name, Embedded, Listed, ObjectMeta};
use crate::snapstore::Objects;

/// Objects under `rowsnap/` in the bucket are normal snapshots' data: not
/// the user's to write or delete.
fn guard(key: &str) -> Result<()> {
    if key.starts_with("rowsnap/") {
        return Err(Error::forbidden("AccessDenied", "Objects under rowsnap/ hold normal snapshots' data: delete or copy the snapshots instead."));
    }
    Ok(())
}

/// Bytes of a part of a multipart upload to a bucket (S3 wants at least 5 MiB
/// but for the last); a put of more goes in parts.
pub const PART: u64 = 8 << 20;

impl<S: Store> Ecs<S> {
    /// The connected bucket's client, when `bucket` names it.
    fn remote_bucket(&self, bucket: &str) -> Option<Rc<dyn Objects>> {
        let x = self.x.borrow();
        (!x.bucket.is_empty() && x.bucket == bucket).then(|| x.objects.clone()).flatten()
    }

    /// The connected bucket's name ("" when none): the OSS page lists it.
    pub fn remote_bucket_name(&self) -> String {
        self.x.borrow().bucket.clone()
    }

    /// Creates a bucket (no error if it exists).
    pub async fn oss_create_bucket(&mut self, bucket: &str) -> Result<()> {
        if self.remote_bucket(bucket).is_some() {
            return Ok(()); // it exists (made outside rowsnap)
        }
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.create_bucket(&mut cx.t, bucket, cx.now).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Stores an object in one transaction.
    pub async fn oss_put(&mut self, bucket: &str, key: &str, data: &[u8]) -> Result<()> {
        if let Some(o) = self.remote_bucket(bucket) {
            guard(key)?;
            if data.len() as u64 <= PART {
                return o.put(key, data).await;
            }
            let upload = o.multipart_begin(key).await?;
            let mut etags = Vec::new();
            for (i, part) in data.chunks(PART as usize).enumerate() {
                match o.multipart_part(key, &upload, i as u32 + 1, part).await {
                    Ok(e) => etags.push(e),
                    Err(e) => {
                        let _ = o.multipart_abort(key, &upload).await;
                        return Err(e);
                    }
                }
            }
            return o.multipart_complete(key, &upload, &etags).await;
        }
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.put(&mut cx.t, bucket, key, data, cx.now).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// The buckets (not the hidden one), by name.
    pub async fn oss_list_buckets(&mut self) -> Result<Vec<String>> {
        let mut cx = self.cx("").await?;
        // By name: the scan is in record-key order, `b/<bucket>`.
        let mut names: Vec<String> = Embedded.list_buckets(&mut cx.t).await?.into_iter().map(|b| b.name).collect();
        let remote = self.remote_bucket_name();
        if !remote.is_empty() && !names.contains(&remote) {
            names.push(remote);
            names.sort();
        }
        Ok(names)
    }

    /// Starts a multi-part put: checks the bucket and returns an upload id.
    pub async fn oss_begin(&mut self, bucket: &str, key: &str) -> Result<String> {
        if key.is_empty() || key.len() > 1023 {
            return Err(Error::bad("InvalidObjectName", "An object key has 1 to 1023 bytes."));
        }
        if let Some(o) = self.remote_bucket(bucket) {
            guard(key)?;
            let id = o.multipart_begin(key).await?;
            self.x.borrow_mut().uploads.insert(id.clone(), (key.to_string(), Vec::new()));
            return Ok(format!("s3:{id}"));
        }
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        if !Embedded.bucket_exists(&mut cx.t, bucket).await? {
            return Err(Error::no_bucket(bucket));
        }
        let id = cx.new_id("up-");
        Ok(id)
    }

    /// Writes one part (at an offset that is a multiple of the chunk size);
    /// returns the bytes stored (zero chunks are not).
    pub async fn oss_put_part(&mut self, upload: &str, offset: u64, data: &[u8]) -> Result<u64> {
        if let Some(id) = upload.strip_prefix("s3:") {
            // Parts in order, each PART bytes but the last (`service::put_blob`'s slices).
            let (key, n) = self.x.borrow().uploads.get(id).map(|(k, e)| (k.clone(), e.len() as u64)).ok_or_else(|| Error::internal("no such upload"))?;
            if offset != n * PART {
                return Err(Error::internal(format!("part at {offset} out of order")));
            }
            let o = crate::snapstore::tier::connected(&self.x)?;
            let etag = o.multipart_part(&key, id, n as u32 + 1, data).await?;
            if let Some((_, e)) = self.x.borrow_mut().uploads.get_mut(id) {
                e.push(etag);
            }
            return Ok(data.len() as u64);
        }
        let mut cx = self.cx("").await?;
        let stored = Embedded.put_chunks(&mut cx.t, upload, offset, data);
        self.settings = cx.commit().await?;
        Ok(stored)
    }

    /// Makes a multi-part put visible.
    pub async fn oss_complete(&mut self, bucket: &str, key: &str, upload: &str, size: u64, stored: u64) -> Result<()> {
        if let Some(id) = upload.strip_prefix("s3:") {
            let (_, etags) = self.x.borrow_mut().uploads.remove(id).ok_or_else(|| Error::internal("no such upload"))?;
            let o = self.remote_bucket(bucket).ok_or_else(crate::snapstore::tier::not_connected)?;
            if etags.is_empty() {
                // An empty file: no parts to complete.
                o.multipart_abort(key, id).await?;
                return o.put(key, &[]).await;
            }
            return o.multipart_complete(key, id, &etags).await;
        }
        let mut cx = self.cx("").await?;
        let meta = ObjectMeta { bucket: bucket.into(), key: key.into(), size, upload_id: upload.into(), last_modified: cx.now, stored };
        Embedded.complete(&mut cx.t, meta).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Drops the parts of a multi-part put that will not complete.
    pub async fn oss_abort(&mut self, upload: &str) -> Result<()> {
        if let Some(id) = upload.strip_prefix("s3:") {
            let Some((key, _)) = self.x.borrow_mut().uploads.remove(id) else { return Ok(()) };
            return crate::snapstore::tier::connected(&self.x)?.multipart_abort(&key, id).await;
        }
        let mut cx = self.cx("").await?;
        Embedded.abort_upload(&mut cx.t, upload).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// An object's bytes, or `range` (offset, length) of them; a range past the end is cut short.
    pub async fn oss_get(&mut self, bucket: &str, key: &str, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        if let Some(o) = self.remote_bucket(bucket) {
            let got = match range {
                Some((offset, 0)) => o.get_range(key, offset, 1).await?.map(|_| Vec::new()),
                Some((offset, len)) => o.get_range(key, offset, len).await?.map(|(b, _, _)| b),
                None => o.get(key).await?,
            };
            return got.ok_or_else(|| Error::no_key(bucket, key));
        }
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.get(&mut cx.t, bucket, key, range).await
    }

    /// The objects of a bucket whose key starts with `prefix`, sorted by key.
    pub async fn oss_list(&mut self, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
        if let Some(o) = self.remote_bucket(bucket) {
            let all = o.list_meta(prefix).await?;
            // rowsnap's own objects (snapshot data) are not the user's to browse.
            return Ok(all
                .into_iter()
                .filter(|(k, _, _)| !k.starts_with("rowsnap/"))
                .map(|(key, size, last_modified)| Listed { key, size, last_modified })
                .collect());
        }
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        let objects = Embedded.list(&mut cx.t, bucket, prefix).await?;
        Ok(objects.into_iter().map(|m| Listed { key: m.key, size: m.size, last_modified: iso(m.last_modified) }).collect())
    }

    pub async fn oss_delete(&mut self, bucket: &str, key: &str) -> Result<()> {
        if let Some(o) = self.remote_bucket(bucket) {
            guard(key)?;
            return o.delete(key).await;
        }
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.delete(&mut cx.t, bucket, key).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }
}
