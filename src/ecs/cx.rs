//! `Cx`: one request in progress (its transaction, the console clock, id
//! generation, the region) and the look-ups every resource module shares:
//! loading, saving and scanning records, and finding an instance, disk,
//! snapshot or image by id with ECS's NotFound codes.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::model::{keys, settle, Disk, DiskStatus, Image, Instance, InstanceStatus, Record, Settings, Snapshot};
use crate::engine::{EngineTx, Store};
use crate::error::{Error, Result};
use crate::schema::RECORDS;
use crate::util::Rng;

/// One request in progress: its transaction, the time, and id generation.
pub(crate) struct Cx<'a, S: Store> {
    pub t: EngineTx<'a, S>,
    pub now: u64,
    /// The real time (ms): upload rates are real, whatever the console clock says.
    pub wall: u64,
    pub rng: &'a mut Rng,
    pub settings: Settings,
    pub settings_dirty: bool,
    pub region: String,
    /// The instances with a machine alive in this tab (`guest`).
    pub live: Vec<String>,
    /// Of those, the machines paused on a failed read or write, with the reason (`guest`).
    pub paused: std::collections::BTreeMap<String, String>,
    /// Instances whose paused machine ResumeInstance asked to resume (applied after the commit).
    pub resume: Vec<String>,
    /// The keys unwrapped in this tab (`kms`).
    pub kms: std::rc::Rc<std::cell::RefCell<super::kms::Kms>>,
    /// The tab's exchange with a remote object store (`snapstore::tier`).
    pub x: std::rc::Rc<std::cell::RefCell<crate::snapstore::Exchange>>,
}

impl<'a, S: Store> Cx<'a, S> {
    /// Commits the request's transaction; returns the settings to keep.
    pub async fn commit(mut self) -> Result<Settings> {
        if self.x.borrow().wants() {
            // Objects to move first: the work is dropped and runs again (`Ecs::remote`).
            return Err(Error::pending());
        }
        if self.settings_dirty {
            let bytes = serde_json::to_vec(&self.settings)?;
            self.t.put_in(RECORDS, keys::SETTINGS, bytes);
        }
        self.t.commit().await?;
        Ok(self.settings)
    }

    pub async fn load<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>> {
        match self.t.get_in(RECORDS, key).await? {
            Some(b) => Ok(Some(serde_json::from_slice(&b)?)),
            None => Ok(None),
        }
    }

    pub fn save<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.t.put_in(RECORDS, key, serde_json::to_vec(value).expect("records serialize"));
    }

    /// Saves a record under its own key.
    pub fn put<R: Record>(&mut self, r: &R) {
        self.save(&r.key(), r);
    }

    pub fn delete(&mut self, key: &str) {
        self.t.delete_in(RECORDS, key);
    }

    pub async fn scan<T: DeserializeOwned>(&mut self, prefix: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for (_, b) in self.t.scan_in(RECORDS, prefix).await? {
            out.push(serde_json::from_slice(&b)?);
        }
        Ok(out)
    }

    /// A new id: the prefix and 20 lowercase letters and digits.
    pub fn new_id(&mut self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut s = String::from(prefix);
        for _ in 0..20 {
            s.push(ALPHABET[self.rng.below(ALPHABET.len() as u64) as usize] as char);
        }
        s
    }

    pub fn next_seq(&mut self) -> u64 {
        self.settings.next_seq += 1;
        self.settings_dirty = true;
        self.settings.next_seq
    }

    /// Where new uploads go: the connected bucket under this database's
    /// prefix, or "" (the embedded store).
    pub fn upload_place(&self) -> String {
        let store = self.x.borrow().store.clone();
        if store.is_empty() {
            return store;
        }
        crate::snapstore::Place { store, owner: self.settings.s3_owner.clone() }.name()
    }

    /// Whether `bucket` is the connected S3-compatible bucket (window.oss
    /// offers it beside the embedded buckets; ImportImage reads from it).
    pub fn is_remote_bucket(&self, bucket: &str) -> bool {
        let x = self.x.borrow();
        !x.bucket.is_empty() && x.bucket == bucket && x.objects.is_some()
    }

    /// `len` bytes at `offset` of object `key` of the connected bucket, the
    /// object's size and its ETag's fingerprint; `Error::pending` until
    /// fetched (`Ecs::remote`).
    pub fn remote_range(&self, key: &str, offset: u64, len: u64, generation: &str) -> Result<Option<(Vec<u8>, u64, u64)>> {
        let store = self.x.borrow().store.clone();
        let v = self.x.borrow_mut().get(&crate::snapstore::tier::range_key(&store, key, offset, len, generation))?;
        let le = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
        Ok(v.filter(|v| v.len() >= 16).map(|v| (v[16..].to_vec(), le(&v[..8]), le(&v[8..16]))))
    }

    /// The result of a request to the connected bucket ([`crate::snapstore::tier::op_key`]);
    /// `Error::pending` until it is made.
    pub fn remote_op(&self, key: &str, data: Vec<u8>) -> Result<Vec<u8>> {
        self.x.borrow_mut().op(key, data)
    }

    /// Whether the store at `place` is reachable now (the embedded one always is).
    pub fn store_connected(&self, place: &str) -> bool {
        crate::snapstore::Place::parse(place).is_none_or(|p| p.store == self.x.borrow().store)
    }

    /// The backing of the snapshot store at `place` ("": the embedded one;
    /// `s3:<store>:<owner>`: a bucket).
    pub fn store_at(&mut self, place: &str) -> crate::snapstore::Backed<'_, 'a, S> {
        let tier = crate::snapstore::Place::parse(place).map(|p| {
            let own = p.owner == self.settings.s3_owner;
            (p, own, self.x.clone())
        });
        crate::snapstore::Backed { t: &mut self.t, tier }
    }

    /// Whether a record of `region` is visible to this request (the data
    /// plane, with no region, sees every region).
    fn in_region(&self, region: &str) -> bool {
        self.region.is_empty() || self.region == region
    }

    pub async fn instance(&mut self, id: &str) -> Result<Instance> {
        let mut i: Instance = self
            .load::<Instance>(&keys::instance(id))
            .await?
            .filter(|i| self.in_region(&i.region))
            .ok_or_else(|| Error::not_found("InvalidInstanceId.NotFound", format!("The instance \"{id}\" does not exist.")))?;
        if settle(&mut i.status, &mut i.plan, self.now) {
            self.put(&i);
        }
        Ok(i)
    }

    pub async fn disk(&mut self, id: &str) -> Result<Disk> {
        let mut d: Disk = self
            .load::<Disk>(&keys::disk(id))
            .await?
            .filter(|d| self.in_region(&d.region))
            .ok_or_else(|| Error::not_found("InvalidDiskId.NotFound", format!("The disk \"{id}\" does not exist.")))?;
        if settle(&mut d.status, &mut d.plan, self.now) {
            self.put(&d);
        }
        Ok(d)
    }

    pub async fn snapshot(&mut self, id: &str) -> Result<Snapshot> {
        self.load::<Snapshot>(&keys::snapshot(id))
            .await?
            .filter(|s| self.in_region(&s.region))
            .ok_or_else(|| Error::not_found("InvalidSnapshotId.NotFound", format!("The snapshot \"{id}\" does not exist.")))
    }

    /// Every snapshot record (of every region).
    pub async fn all_snapshots(&mut self) -> Result<Vec<Snapshot>> {
        self.scan(keys::SNAPSHOTS).await
    }

    /// Every disk record (of every region).
    pub async fn all_disks(&mut self) -> Result<Vec<Disk>> {
        self.scan(keys::DISKS).await
    }

    /// An image of this request's region, its state settled.
    pub async fn image(&mut self, id: &str) -> Result<Image> {
        let mut img: Image = self
            .load(&keys::image(&self.region, id))
            .await?
            .ok_or_else(|| Error::not_found("InvalidImageId.NotFound", format!("The image \"{id}\" does not exist in {}.", self.region)))?;
        if settle(&mut img.status, &mut img.plan, self.now) {
            self.put(&img);
        }
        Ok(img)
    }

    /// A new image's name: the one asked for (refused when the region has an
    /// image of that name), or a generated one starting with `prefix`.
    pub async fn unique_image_name(&mut self, name: Option<String>, prefix: &str) -> Result<String> {
        let name = match name {
            Some(n) => n,
            None => self.new_id(prefix),
        };
        let existing: Vec<Image> = self.scan(&keys::images(&self.region)).await?;
        if existing.iter().any(|i| i.name == name) {
            return Err(Error::forbidden("InvalidImageName.Duplicated", format!("An image named \"{name}\" already exists.")));
        }
        Ok(name)
    }

    /// Whether the data plane may use a disk: attached to a Running instance.
    pub async fn check_running(&mut self, disk: &Disk) -> Result<()> {
        let id = &disk.id;
        if disk.instance_id.is_empty() || disk.status != DiskStatus::InUse {
            return Err(Error::forbidden(
                "IncorrectInstanceStatus",
                format!("The disk \"{id}\" is {}: it must be attached to a Running instance to be read or written.", disk.status),
            ));
        }
        let inst = self.instance(&disk.instance_id).await?;
        if inst.status != InstanceStatus::Running {
            return Err(Error::forbidden(
                "IncorrectInstanceStatus",
                format!("The instance \"{}\" is {}: start it to read or write its disks.", inst.id, inst.status),
            ));
        }
        Ok(())
    }
}
