//! The embedded OSS as the ECS service offers it (`window.oss`): each call one
//! transaction; a large object is written in parts under an upload id and
//! completed by one last transaction.

use super::{time::iso, Ecs};
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::oss::{check_bucket_name, Embedded, Listed, ObjectMeta};

impl<S: Store> Ecs<S> {
    /// Creates a bucket (no error if it exists).
    pub async fn oss_create_bucket(&mut self, bucket: &str) -> Result<()> {
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.create_bucket(&mut cx.t, bucket, cx.now).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Stores an object in one transaction.
    pub async fn oss_put(&mut self, bucket: &str, key: &str, data: &[u8]) -> Result<()> {
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
        Ok(Embedded.list_buckets(&mut cx.t).await?.into_iter().map(|b| b.name).collect())
    }

    /// Starts a multi-part put: checks the bucket and returns an upload id.
    pub async fn oss_begin(&mut self, bucket: &str, key: &str) -> Result<String> {
        check_bucket_name(bucket)?;
        if key.is_empty() || key.len() > 1023 {
            return Err(Error::bad("InvalidObjectName", "An object key has 1 to 1023 bytes."));
        }
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
        let mut cx = self.cx("").await?;
        let stored = Embedded.put_chunks(&mut cx.t, upload, offset, data);
        self.settings = cx.commit().await?;
        Ok(stored)
    }

    /// Makes a multi-part put visible.
    pub async fn oss_complete(&mut self, bucket: &str, key: &str, upload: &str, size: u64, stored: u64) -> Result<()> {
        let mut cx = self.cx("").await?;
        let meta = ObjectMeta { bucket: bucket.into(), key: key.into(), size, upload_id: upload.into(), last_modified: cx.now, stored };
        Embedded.complete(&mut cx.t, meta).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// Drops the parts of a multi-part put that will not complete.
    pub async fn oss_abort(&mut self, upload: &str) -> Result<()> {
        let mut cx = self.cx("").await?;
        Embedded.abort_upload(&mut cx.t, upload).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }

    /// An object's bytes, or `range` (offset, length) of them; a range past the end is cut short.
    pub async fn oss_get(&mut self, bucket: &str, key: &str, range: Option<(u64, u64)>) -> Result<Vec<u8>> {
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.get(&mut cx.t, bucket, key, range).await
    }

    /// The objects of a bucket whose key starts with `prefix`, sorted by key.
    pub async fn oss_list(&mut self, bucket: &str, prefix: &str) -> Result<Vec<Listed>> {
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        let objects = Embedded.list(&mut cx.t, bucket, prefix).await?;
        Ok(objects.into_iter().map(|m| Listed { key: m.key, size: m.size, last_modified: iso(m.last_modified) }).collect())
    }

    pub async fn oss_delete(&mut self, bucket: &str, key: &str) -> Result<()> {
        check_bucket_name(bucket)?;
        let mut cx = self.cx("").await?;
        Embedded.delete(&mut cx.t, bucket, key).await?;
        self.settings = cx.commit().await?;
        Ok(())
    }
}
