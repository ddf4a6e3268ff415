//! The ECS layer's records, stored as JSON in the engine's `records` table
//! under `<kind>/<id>` keys, in the same transaction as the engine's blocks.
//! Every struct takes `#[serde(default)]`: records written before a field
//! existed still load.

use serde::{Deserialize, Serialize};

/// A status that changes by itself later: `(due at ms, status)` steps.
pub type Plan = Vec<(u64, String)>;

/// Applies the steps of `plan` that are due at `now`; true when `status` changed.
pub fn settle(status: &mut String, plan: &mut Plan, now: u64) -> bool {
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
    pub status: String,
    pub plan: Plan,
    pub created: u64,
    pub resource_group: String,
    pub tags: Vec<(String, String)>,
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
    pub category: String,
    /// PL0..PL3 for ESSDs, else empty.
    pub performance_level: String,
    pub size_gib: u64,
    /// "system" or "data".
    pub disk_type: String,
    pub status: String,
    pub plan: Plan,
    pub instance_id: String,
    pub device: String,
    /// The engine volume holding its data.
    pub volume: u64,
    pub encrypted: bool,
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
    pub engine: u64,
    pub source_disk_id: String,
    pub source_disk_size: u64,
    /// "system" or "data".
    pub source_disk_type: String,
    pub source_disk_category: String,
    /// The instance the source disk was attached to when it was taken.
    pub instance_id: String,
    /// "user" or "auto".
    pub snapshot_type: String,
    /// "standard" (normal) or "flash" (local).
    pub category: String,
    pub instant_access: bool,
    pub instant_access_retention_days: Option<u64>,
    pub retention_days: Option<u64>,
    /// progressing, accomplished, failed.
    pub status: String,
    pub progress: u32,
    pub encrypted: bool,
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
}

/// A disk restored from a snapshot that lives only in OSS: what is left to copy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Hydration {
    pub snapshot_id: String,
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
    pub engine: u64,
    pub size_gib: u64,
    pub device: String,
    /// "system" or "data".
    pub disk_type: String,
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
    pub owner_alias: String,
    pub status: String,
    pub plan: Plan,
    pub os_type: String,
    pub os_name: String,
    pub platform: String,
    pub architecture: String,
    pub size_gib: u64,
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
    pub status: String,
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
}
