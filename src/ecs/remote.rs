//! A remote object store (an S3-compatible bucket) for normal snapshots:
//! connecting it, the two-phase work every entry point runs under
//! ([`Ecs::remote`]), the sweep of deleted objects, and recovering the
//! snapshots a bucket holds into a database that never saw them.
//!
//! How a transaction and the bucket meet is `snapstore::tier`'s protocol:
//! work that lacks objects (or wrote objects the bucket does not hold yet)
//! fails with `Error::pending`, its transaction is dropped, the objects are
//! moved, and the work runs again.

use std::rc::Rc;

use serde_json::{json, Value};

use super::model::{keys, Snapshot, SnapshotCategory, SnapshotStatus};
use super::Ecs;
use crate::engine::Store;
use crate::error::{Error, Result};
use crate::s3::S3Config;
use crate::snapstore::{self, tier, Manifest, Objects, Place, SWEEP};

/// Most rounds of moving objects one piece of work may take.
const ROUNDS: usize = 64;

impl<S: Store> Ecs<S> {
    /// Runs `f` until it no longer lacks objects of the remote store (each
    /// round moves what the last one lacked, outside any transaction).
    pub(crate) async fn remote<T>(&mut self, mut f: impl AsyncFnMut(&mut Self) -> Result<T>) -> Result<T> {
        // Only the outermost call ends what the rounds kept (a request runs
        // the guests' queued writes under its own call first).
        let outer = {
            let mut x = self.x.borrow_mut();
            x.depth += 1;
            x.depth == 1
        };
        let mut out = Err(Error::internal("the work needed more rounds of object storage requests than it may take"));
        for _ in 0..ROUNDS {
            self.x.borrow_mut().forget_wants();
            // A round that is dropped makes its ids again, the same ones: the
            // objects it named are the ones the next round names.
            let rng = self.rng.clone();
            match f(self).await {
                Err(e) if e.is_pending() => {
                    self.rng = rng;
                    if let Err(e) = tier::exchange(&self.x).await {
                        out = Err(e);
                        break;
                    }
                }
                r => {
                    out = r;
                    break;
                }
            }
        }
        let mut x = self.x.borrow_mut();
        x.depth -= 1;
        x.forget_wants();
        if outer {
            x.committed();
        }
        out
    }

    /// Connects a remote store (None: only the embedded one). `store` names
    /// it (snapshots record it); `remember` keeps the configuration (with
    /// its credentials) on this device.
    pub async fn set_object_store(&mut self, objects: Option<(Rc<dyn Objects>, String, String)>, remember: Option<S3Config>) -> Result<()> {
        let mut cx = self.cx("").await?;
        if cx.settings.s3_owner.is_empty() {
            // Random (not from the id generator): two databases never share a prefix.
            let mut b = [0u8; 10];
            crate::engine::seal::random_bytes(&mut b);
            cx.settings.s3_owner = b.iter().map(|x| format!("{x:02x}")).collect();
        }
        cx.settings.object_store = remember;
        cx.settings_dirty = true;
        self.settings = cx.commit().await?;
        let mut x = self.x.borrow_mut();
        x.reset();
        if let Some((o, store, bucket)) = objects {
            x.objects = Some(o);
            x.store = store;
            x.bucket = bucket;
        }
        Ok(())
    }

    /// The connected store's id ("" for none) and this database's prefix there.
    pub fn object_store(&self) -> (String, String) {
        (self.x.borrow().store.clone(), self.settings.s3_owner.clone())
    }

    /// Why the last move of objects failed (None: it did not).
    pub fn object_store_error(&self) -> Option<String> {
        self.x.borrow().last_error.clone()
    }

    /// The configuration remembered on this device, if any.
    pub fn remembered_object_store(&self) -> Option<S3Config> {
        self.settings.object_store.clone()
    }

    /// Deletes up to `max` objects of the connected store that no record
    /// names any more (`sweep/` records); returns how many.
    pub async fn sweep_step(&mut self, max: usize) -> Result<usize> {
        let store = self.x.borrow().store.clone();
        if store.is_empty() {
            return Ok(0);
        }
        let mut cx = self.cx("").await?;
        let prefix = format!("{SWEEP}{store}|");
        let keys: Vec<String> = cx.t.scan_in(crate::schema::RECORDS, &prefix).await?.into_iter().map(|(k, _)| k).take(max).collect();
        drop(cx);
        if keys.is_empty() {
            return Ok(0);
        }
        let objects = tier::connected(&self.x)?;
        for k in &keys {
            let name = &k[prefix.len()..];
            self.x.borrow_mut().forget(&k[SWEEP.len()..]);
            if name.contains('\u{2}') {
                tier::op(&*objects, name, &[]).await?; // an upload's abort
            } else {
                objects.delete(name).await?;
            }
        }
        let mut cx = self.cx("").await?;
        for k in &keys {
            cx.delete(k);
        }
        self.settings = cx.commit().await?;
        Ok(keys.len())
    }

    /// Registers the normal snapshots the connected bucket holds that this
    /// database does not know (from other databases' prefixes: read-only
    /// here). Returns `{Recovered, SnapshotIds}`.
    pub async fn recover_snapshots(&mut self) -> Result<Value> {
        let objects = tier::connected(&self.x)?;
        let store = self.x.borrow().store.clone();
        let mine = self.settings.s3_owner.clone();
        let mut found = Vec::new();
        for owner_prefix in objects.list("rowsnap/", true).await? {
            let owner = owner_prefix.trim_start_matches("rowsnap/").trim_end_matches('/').to_string();
            if owner.is_empty() || owner == mine {
                continue;
            }
            for key in objects.list(&format!("{owner_prefix}manifests/"), false).await? {
                found.push((owner.clone(), key));
            }
        }
        let mut recovered = Vec::new();
        let mut skipped = Vec::new();
        for (owner, key) in found {
            let id = key.rsplit('/').next().unwrap_or_default().to_string();
            let mut cx = self.cx("").await?;
            let known = cx.load::<Snapshot>(&keys::snapshot(&id)).await?.is_some();
            drop(cx);
            if known || id.is_empty() {
                continue;
            }
            let Some(bytes) = objects.get(&key).await? else { continue };
            let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::internal(format!("the manifest {key} does not parse: {e}")))?;
            let Some(about) = m.snapshot.clone() else { continue };
            let encrypted = about["Encrypted"].as_bool().unwrap_or(false);
            if encrypted && about["Key"].is_null() {
                // Its data key is wrapped only in the browser profile that made it.
                skipped
                    .push(json!({"SnapshotId": id, "Reason": "encrypted under a region's default key, which cannot leave the browser profile that made it"}));
                continue;
            }
            let place = Place { store: store.clone(), owner }.name();
            let mut cx = self.cx("").await?;
            let mut s = recovered_snapshot(&id, &about, &place, cx.next_seq(), cx.now)?;
            if encrypted {
                // Its passphrase key comes along, locked until its passphrase is given.
                let (key, dk) = super::kms::import_portable(&mut cx, &about["Key"]).await?;
                (s.kms_key_id, s.data_key) = (key, dk);
            }
            snapstore::put_manifest(&mut cx.store_at(&place), &id, &m)?;
            cx.put(&s);
            self.settings = cx.commit().await?;
            recovered.push(id);
        }
        Ok(json!({"Recovered": recovered.len(), "SnapshotIds": recovered, "Skipped": skipped}))
    }
}

/// A snapshot record from a bucket's manifest: released (its data only
/// there), accomplished, read-only in this database.
fn recovered_snapshot(id: &str, about: &Value, place: &str, seq: u64, now: u64) -> Result<Snapshot> {
    let str_of = |k: &str| about[k].as_str().unwrap_or_default().to_string();
    let region = str_of("RegionId");
    if !super::regions::exists(&region) {
        return Err(Error::internal(format!("the manifest of {id} names no known region")));
    }
    Ok(Snapshot {
        id: id.to_string(),
        seq,
        region,
        name: str_of("SnapshotName"),
        description: str_of("Description"),
        source_disk_id: str_of("SourceDiskId"),
        source_disk_size: about["SourceDiskSize"].as_u64().unwrap_or(0),
        source_disk_type: serde_json::from_value(about["SourceDiskType"].clone()).unwrap_or_default(),
        category: SnapshotCategory::Standard,
        status: SnapshotStatus::Accomplished,
        progress: 100,
        encrypted: about["Encrypted"].as_bool().unwrap_or(false),
        kms_key_id: str_of("KMSKeyId"),
        created: about["CreationTime"].as_u64().unwrap_or(now),
        last_modified: now,
        local_released: true,
        store: place.to_string(),
        ..Default::default()
    })
}
