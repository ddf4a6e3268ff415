//! The ECS layer's records, stored as JSON in the `records` table under
//! keys made by [`keys`], in the same transaction as the engine's blocks.
//! Every struct takes `#[serde(default)]`: records written before a field
//! existed still load. Statuses, categories and types are enums that
//! serialize to exactly the strings ECS (and records already stored in
//! users' IndexedDB) spell; `tests/records.rs` pins the JSON byte for byte.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::engine::{SnapshotId, VolumeId};

/// Bytes in a GiB (disk sizes are in GiB).
pub const GIB: u64 = 1 << 30;
/// How long each automatic state step takes (ECS's take seconds; ours under one).
pub const STEP_MS: u64 = 400;
/// Engine block size of ECS disks (the engine default).
pub const BLOCK_SHIFT: u8 = crate::engine::DEFAULT_BLOCK_SHIFT;

/// An enum whose values are ECS strings: serde renames, `as_str`, and a
/// case-insensitive `parse` (ECS reads enum parameters case-insensitively).
macro_rules! ecs_enum {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $v,)+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)+];
            pub const NAMES: &'static [&'static str] = &[$($s,)+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }
        }
        impl EcsEnum for $name {
            fn names() -> &'static [&'static str] { Self::NAMES }
            fn from_index(i: usize) -> Self { Self::ALL[i] }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

/// What [`crate::ecs::params::Params::one_of`] parses.
pub trait EcsEnum: Copy + 'static {
    fn names() -> &'static [&'static str];
    fn from_index(i: usize) -> Self;
    /// Case-insensitive, as ECS reads enum values.
    fn parse(s: &str) -> Option<Self> {
        Self::names().iter().position(|n| n.eq_ignore_ascii_case(s)).map(Self::from_index)
    }
}

ecs_enum! {
    pub enum InstanceStatus {
        #[default]
        Pending = "Pending",
        Starting = "Starting",
        Running = "Running",
        Stopping = "Stopping",
        Stopped = "Stopped",
    }
}

ecs_enum! {
    pub enum DiskStatus {
        #[default]
        Creating = "Creating",
        Available = "Available",
        Attaching = "Attaching",
        InUse = "In_use",
        Detaching = "Detaching",
        ReIniting = "ReIniting",
    }
}

ecs_enum! {
    /// A disk's category.
    pub enum DiskCategory {
        #[default]
        Essd = "cloud_essd",
        Ssd = "cloud_ssd",
        Efficiency = "cloud_efficiency",
        Basic = "cloud",
    }
}

ecs_enum! {
    /// An ESSD's performance level (`None`: not an ESSD, stored as "").
    pub enum PerformanceLevel {
        #[default]
        None = "",
        Pl0 = "PL0",
        Pl1 = "PL1",
        Pl2 = "PL2",
        Pl3 = "PL3",
    }
}

ecs_enum! {
    pub enum DiskType {
        #[default]
        System = "system",
        Data = "data",
    }
}

ecs_enum! {
    /// Manual (user) or automatic (a policy's).
    pub enum SnapshotType {
        #[default]
        User = "user",
        Auto = "auto",
    }
}

ecs_enum! {
    /// Normal (standard: uploaded to OSS) or local (flash: beside the disk).
    pub enum SnapshotCategory {
        #[default]
        Standard = "standard",
        Flash = "flash",
    }
}

ecs_enum! {
    /// A snapshot's (and a snapshot-consistent group's) status.
    pub enum SnapshotStatus {
        #[default]
        Progressing = "progressing",
        Accomplished = "accomplished",
        Failed = "failed",
    }
}

ecs_enum! {
    pub enum ImageStatus {
        #[default]
        Creating = "Creating",
        Available = "Available",
        CreateFailed = "CreateFailed",
    }
}

ecs_enum! {
    /// Public (system) or custom (self).
    pub enum ImageOwner {
        #[default]
        System = "system",
        Own = "self",
    }
}

ecs_enum! {
    pub enum TaskStatus {
        #[default]
        Processing = "Processing",
        Finished = "Finished",
        Failed = "Failed",
        Cancelled = "Cancelled",
    }
}

ecs_enum! {
    /// The action that started a task.
    pub enum TaskAction {
        #[default]
        ImportImage = "ImportImage",
        ExportImage = "ExportImage",
        ExportSnapshot = "ExportSnapshot",
        ExportDisk = "ExportDisk",
    }
}

ecs_enum! {
    /// ImportImage's DiskDeviceMapping.N.Format.
    pub enum ImportFormat {
        /// Detected from the file's first bytes.
        #[default]
        Detect = "",
        Raw = "RAW",
        Qcow2 = "QCOW2",
    }
}

ecs_enum! {
    /// ExportImage's ImageFormat.
    pub enum ExportFormat {
        #[default]
        Raw = "raw",
        Qcow2 = "qcow2",
    }
}

/// The keys of the records, one function per kind (and the prefix a scan of
/// the kind uses).
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub mod keys {
    pub const INSTANCES: &str = "instance/";
    pub const DISKS: &str = "disk/";
    pub const SNAPSHOTS: &str = "snapshot/";
    /// Every region's images (scan); [`images`] gives one region's.
    pub const ALL_IMAGES: &str = "image/";
    pub const GROUPS: &str = "ssg/";
    pub const TASKS: &str = "task/";
    pub const UPLOADS: &str = "upload/";
    pub const POLICIES: &str = "policy/";
    pub const SETTINGS: &str = "settings";

    pub fn instance(id: &str) -> String {
        format!("{INSTANCES}{id}")
    }
    pub fn disk(id: &str) -> String {
        format!("{DISKS}{id}")
    }
    pub fn snapshot(id: &str) -> String {
        format!("{SNAPSHOTS}{id}")
    }
    pub fn images(region: &str) -> String {
        format!("{ALL_IMAGES}{region}/")
    }
    pub fn image(region: &str, id: &str) -> String {
        format!("{ALL_IMAGES}{region}/{id}")
    }
    pub fn group(id: &str) -> String {
        format!("{GROUPS}{id}")
    }
    pub fn task(id: &str) -> String {
        format!("{TASKS}{id}")
    }
    pub fn upload(snapshot_id: &str) -> String {
        format!("{UPLOADS}{snapshot_id}")
    }
    pub fn policy(id: &str) -> String {
        format!("{POLICIES}{id}")
    }
    pub fn token(region: &str, action: &str, token: &str) -> String {
        format!("token/{region}/{action}/{token}")
    }
}

/// A record that knows its own key (`Cx::put` saves it there).
pub trait Record: Serialize + DeserializeOwned {
    fn key(&self) -> String;
}

macro_rules! record {
    ($t:ty, |$r:ident| $key:expr) => {
        impl Record for $t {
            fn key(&self) -> String {
                let $r = self;
                $key
            }
        }
    };
}

record!(Instance, |r| keys::instance(&r.id));
record!(Disk, |r| keys::disk(&r.id));
record!(Snapshot, |r| keys::snapshot(&r.id));
record!(Image, |r| keys::image(&r.region, &r.id));
record!(SnapshotGroup, |r| keys::group(&r.id));

/// `Option<id>` stored as a number, 0 meaning none (as records always had it).
pub mod zero_is_none {
    use super::*;

    pub fn serialize<T: Copy + Into<u64>, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.map_or(0, Into::into))
    }
    pub fn deserialize<'de, T: From<u64>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
        let n = u64::deserialize(d)?;
        Ok((n != 0).then(|| T::from(n)))
    }
}

/// A status that changes by itself later: `(due at ms, status)` steps.
pub type Plan<T> = Vec<(u64, T)>;

/// Applies the steps of `plan` that are due at `now`; true when `status` changed.
pub fn settle<T>(status: &mut T, plan: &mut Plan<T>, now: u64) -> bool {
    let mut changed = false;
    while let Some((at, _)) = plan.first() {
        if *at > now {
            break;
        }
        *status = plan.remove(0).1;
        changed = true;
    }
    changed
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Instance {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub zone: String,
    pub name: String,
    pub host_name: String,
    pub description: String,
    pub image_id: String,
    pub instance_type: String,
    pub status: InstanceStatus,
    pub plan: Plan<InstanceStatus>,
    pub created: u64,
    pub resource_group: String,
    pub tags: Vec<(String, String)>,
    /// Its image boots in the page: a machine runs it (see `guest`).
    #[serde(skip_serializing_if = "is_false")]
    pub vm: bool,
    /// StopInstance with ForceStop: the machine is dropped at once.
    #[serde(skip_serializing_if = "is_false")]
    pub force_stop: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Disk {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub zone: String,
    pub name: String,
    pub description: String,
    /// cloud_essd, cloud_ssd, cloud_efficiency, cloud.
    pub category: DiskCategory,
    /// PL0..PL3 for ESSDs, else empty.
    pub performance_level: PerformanceLevel,
    pub size_gib: u64,
    /// "system" or "data".
    pub disk_type: DiskType,
    pub status: DiskStatus,
    pub plan: Plan<DiskStatus>,
    pub instance_id: String,
    pub device: String,
    /// The engine volume holding its data.
    pub volume: VolumeId,
    pub encrypted: bool,
    /// Encrypted disks: the KMS key that protects its data key, and the data key (`kms`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kms_key_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub data_key: u64,
    pub delete_auto_snapshot: bool,
    /// The automatic snapshot policy applied to it (empty: none).
    pub auto_snapshot_policy_id: String,
    pub delete_with_instance: bool,
    /// Attached to an instance at least once.
    pub attached_once: bool,
    pub source_snapshot_id: String,
    pub image_id: String,
    pub created: u64,
    pub resource_group: String,
    pub tags: Vec<(String, String)>,
    /// Set while its content is still being copied from OSS.
    pub hydration: Option<Hydration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Snapshot {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub name: String,
    pub description: String,
    /// The engine snapshot holding its content.
    pub engine: SnapshotId,
    pub source_disk_id: String,
    pub source_disk_size: u64,
    /// "system" or "data".
    pub source_disk_type: DiskType,
    pub source_disk_category: DiskCategory,
    /// The instance the source disk was attached to when it was taken.
    pub instance_id: String,
    /// "user" or "auto".
    pub snapshot_type: SnapshotType,
    /// "standard" (normal) or "flash" (local).
    pub category: SnapshotCategory,
    pub instant_access: bool,
    pub instant_access_retention_days: Option<u64>,
    pub retention_days: Option<u64>,
    /// progressing, accomplished, failed.
    pub status: SnapshotStatus,
    pub progress: u32,
    pub encrypted: bool,
    /// Encrypted snapshots: the KMS key and the data key (its disk's).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kms_key_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub data_key: u64,
    pub created: u64,
    pub last_modified: u64,
    pub resource_group: String,
    pub tags: Vec<(String, String)>,
    /// Disks created from it (SnapshotCreatedDisk).
    pub disks_created: Vec<String>,
    /// Images that use it (SnapshotCreatedImage).
    pub images: Vec<String>,
    pub group_id: String,
    /// Incremental and referenced bytes, fixed when it was taken.
    pub incremental_bytes: u64,
    pub referenced_bytes: u64,
    /// Bytes its upload put into OSS (new blocks, pages, manifest).
    pub uploaded_bytes: u64,
    /// Its local (engine) copy was released: its content is only in OSS.
    pub local_released: bool,
    /// Where its uploaded data is: "" (the embedded store) or a bucket
    /// (`s3:<store id>:<owner>`, see `snapstore::Place`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub store: String,
    /// A copy (CopySnapshot, CopyImage): the snapshot and region it was copied from.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_snapshot_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_region_id: String,
}

/// A disk restored from a snapshot that lives only in OSS: what is left to copy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Hydration {
    pub snapshot_id: String,
    /// Where the snapshot's data is (`Snapshot::store`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub store: String,
    pub block_shift: u8,
    /// Manifest pages still to copy (page -> page hash).
    pub pages: std::collections::BTreeMap<u64, String>,
    /// Blocks of those pages the user wrote since: not copied over.
    pub dirty: std::collections::BTreeSet<u64>,
    pub total_pages: u64,
    /// It holds a reference on each page still to copy (so deleting the
    /// snapshot meanwhile cannot drop them); false in hydrations from before.
    pub holds_pages: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Mapping {
    pub snapshot_id: String,
    /// For public images, the engine snapshot of their content.
    pub engine: SnapshotId,
    pub size_gib: u64,
    pub device: String,
    /// "system" or "data".
    pub disk_type: DiskType,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Image {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub name: String,
    pub description: String,
    /// "system" (public) or "self" (custom).
    pub owner_alias: ImageOwner,
    pub status: ImageStatus,
    pub plan: Plan<ImageStatus>,
    pub os_type: String,
    pub os_name: String,
    pub platform: String,
    pub architecture: String,
    pub size_gib: u64,
    /// Made of encrypted snapshots (its system disk's): disks from it are encrypted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kms_key_id: String,
    pub mappings: Vec<Mapping>,
    pub created: u64,
    pub resource_group: String,
    pub tags: Vec<(String, String)>,
    /// The ImportImage task filling it ("" for other images).
    pub task_id: String,
    /// Import progress, percent.
    pub progress: u32,
    /// Why the import failed (CreateFailed).
    pub failure: String,
    /// How it boots in the page (`guest::BOOT_V86`); empty: it does not.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub boot: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct SnapshotGroup {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub name: String,
    pub description: String,
    pub instance_id: String,
    pub snapshots: Vec<String>,
    pub status: SnapshotStatus,
    pub created: u64,
    pub resource_group: String,
    pub tags: Vec<(String, String)>,
}

/// What a ClientToken gave the first time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Token {
    pub fingerprint: String,
    pub response: String,
}

/// Console-wide settings that survive reloads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Settings {
    /// Milliseconds the simulated clock is ahead of the real one.
    pub clock_offset_ms: u64,
    /// Upload cap in bytes per second (used by the OSS uploads).
    pub upload_rate: Option<u64>,
    /// Orders records created at the same millisecond.
    pub next_seq: u64,
    /// Public images were created.
    pub seeded: bool,
    /// The guest build whose system disk the Linux image holds.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub guest_build: String,
    /// Most machines alive at once (None: `guest::DEFAULT_MAX_VMS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_vms: Option<u32>,
    /// A machine's memory in MiB (None: `guest::DEFAULT_VM_MIB`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vm_memory_mib: Option<u32>,
    /// This database's prefix in remote buckets (`rowsnap/<owner>/`), made
    /// on first use: it deletes objects only under it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub s3_owner: String,
    /// A remote object store remembered on this device (credentials included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_store: Option<crate::s3::S3Config>,
}

impl Snapshot {
    /// Usable now: accomplished, or progressing with instant access.
    pub fn available(&self) -> bool {
        self.status == SnapshotStatus::Accomplished || (self.status == SnapshotStatus::Progressing && self.instant_access)
    }

    /// ECS's Usage: what was made from it.
    pub fn usage(&self) -> &'static str {
        match (self.images.is_empty(), self.disks_created.is_empty()) {
            (false, false) => "image_disk",
            (false, true) => "image",
            (true, false) => "disk",
            (true, true) => "none",
        }
    }
}

ecs_enum! {
    /// What TagResources, UntagResources and ListTagResources tag.
    pub enum ResourceType {
        #[default]
        Instance = "instance",
        Disk = "disk",
        Snapshot = "snapshot",
        Image = "image",
        SnapshotGroup = "snapshotgroup",
    }
}
