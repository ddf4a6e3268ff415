//! Typed rows: the fields of ECS responses the console shows, each read in
//! one place (its struct, below) instead of looked up by name where it is
//! shown, where a typo would be a silently empty cell. Each struct names only
//! what the UI uses; a missing field, or one of another type, reads as its
//! default (ECS leaves out what does not apply). The tests read every field
//! from the shapes the ECS layer writes, so a misspelt key fails them.
//!
//! `rows::<DiskRow>(&response, "Disks", "Disk")` reads a Describe list.
//!
//! Why not `#[derive(Deserialize)]`: measured on the release bundle, serde's
//! derive for these dozen structs (a `visit_map` and a `visit_seq` per struct,
//! inlined into every `rows::<T>`) added about 85 KB of wasm (24 KB gzipped),
//! more than all the console's pages; `row!` reads each field with one call
//! to a shared `Read` impl per field type.

use serde_json::Value;

/// A value read from ECS JSON: its default when absent or of another type.
pub trait Read: Sized {
    fn read(v: &Value) -> Self;
}

impl Read for String {
    fn read(v: &Value) -> Self {
        v.as_str().unwrap_or_default().to_string()
    }
}

impl Read for u64 {
    fn read(v: &Value) -> Self {
        v.as_u64().unwrap_or_default()
    }
}

impl Read for bool {
    fn read(v: &Value) -> Self {
        v.as_bool().unwrap_or_default()
    }
}

impl Read for Option<u64> {
    fn read(v: &Value) -> Self {
        v.as_u64()
    }
}

impl Read for Option<i64> {
    fn read(v: &Value) -> Self {
        v.as_i64()
    }
}

impl<T: Read> Read for Vec<T> {
    fn read(v: &Value) -> Self {
        v.as_array().map(|a| a.iter().map(T::read).collect()).unwrap_or_default()
    }
}

/// A struct of fields read from a JSON object: `field: Type = "EcsKey"`.
macro_rules! row {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $field:ident: $ty:ty = $key:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[$fm])* pub $field: $ty,)*
        }

        impl Read for $name {
            fn read(v: &Value) -> Self {
                $name { $($field: Read::read(&v[$key]),)* }
            }
        }
    };
}

/// The items of a Describe response's double-wrapped list
/// (`{"Disks": {"Disk": [...]}}`).
pub fn rows<T: Read>(v: &Value, list: &str, item: &str) -> Vec<T> {
    Vec::read(&v[list][item])
}

/// The first item of a Describe response's list (a details page's resource).
pub fn first<T: Read>(v: &Value, list: &str, item: &str) -> Option<T> {
    v[list][item].get(0).map(T::read)
}

/// A wrapped list whose items the console only counts
/// (`"DiskDeviceMappings": {"DiskDeviceMapping": [...]}`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Count(pub usize);

impl Read for Count {
    fn read(v: &Value) -> Self {
        // The one key of the wrapper, and the length of its array.
        Count(v.as_object().map(|o| o.values().filter_map(Value::as_array).map(Vec::len).sum()).unwrap_or(0))
    }
}

row! {
    pub struct InstanceRow {
        pub instance_id: String = "InstanceId",
        pub instance_name: String = "InstanceName",
        pub status: String = "Status",
        pub zone_id: String = "ZoneId",
        pub image_id: String = "ImageId",
        pub instance_type: String = "InstanceType",
        pub cpu: u64 = "Cpu",
        pub memory: u64 = "Memory",
        pub vm_memory_mib: u64 = "VmMemoryMiB",
        pub creation_time: String = "CreationTime",
        /// none (its image does not boot in the browser), off, key_locked, live (a machine runs it
        /// in this tab) or paused (its machine waits on a failed read or write).
        pub vm_status: String = "VmStatus",
        /// Why its machine is paused (StorageFull, KeyLocked, DatabaseTaken, ReadError, WriteError).
        pub vm_pause_reason: String = "VmPauseReason",
    }
}

row! {
    pub struct DiskRow {
        pub disk_id: String = "DiskId",
        pub disk_name: String = "DiskName",
        pub category: String = "Category",
        pub performance_level: String = "PerformanceLevel",
        /// GiB.
        pub size: u64 = "Size",
        /// system or data.
        pub kind: String = "Type",
        pub status: String = "Status",
        pub instance_id: String = "InstanceId",
        pub zone_id: String = "ZoneId",
        pub device: String = "Device",
        pub encrypted: bool = "Encrypted",
        pub kms_key_id: String = "KMSKeyId",
        pub source_snapshot_id: String = "SourceSnapshotId",
        pub auto_snapshot_policy_id: String = "AutoSnapshotPolicyId",
        pub referenced_bytes: u64 = "ReferencedBytes",
        pub written_since_snapshot_bytes: u64 = "WrittenSinceSnapshotBytes",
        /// `100%` once the disk no longer reads from OSS.
        pub hydration_progress: String = "HydrationProgress",
        pub creation_time: String = "CreationTime",
    }
}

impl DiskRow {
    pub fn is_system(&self) -> bool {
        self.kind == "system"
    }

    /// Whether a local snapshot can be made of it (unencrypted ESSDs only).
    pub fn local_snapshots(&self) -> bool {
        self.category == "cloud_essd" && !self.encrypted
    }
}

row! {
    pub struct Tag {
        pub tag_key: String = "TagKey",
        pub tag_value: String = "TagValue",
    }
}

row! {
    pub struct Tags {
        pub tag: Vec<Tag> = "Tag",
    }
}

row! {
    pub struct SnapshotRow {
        pub snapshot_id: String = "SnapshotId",
        pub snapshot_name: String = "SnapshotName",
        pub description: String = "Description",
        pub source_disk_id: String = "SourceDiskId",
        /// GiB.
        pub source_disk_size: u64 = "SourceDiskSize",
        pub source_disk_type: String = "SourceDiskType",
        /// standard or flash (local).
        pub category: String = "Category",
        /// user or auto.
        pub snapshot_type: String = "SnapshotType",
        pub status: String = "Status",
        pub progress: String = "Progress",
        /// Seconds.
        pub remain_time: u64 = "RemainTime",
        /// None: kept permanently.
        pub retention_days: Option<u64> = "RetentionDays",
        pub remaining_retention_days: u64 = "RemainingRetentionDays",
        pub incremental_bytes: u64 = "IncrementalBytes",
        pub exclusive_bytes: u64 = "ExclusiveBytes",
        pub referenced_bytes: u64 = "ReferencedBytes",
        pub instant_access: bool = "InstantAccess",
        pub instant_access_retention_days: Option<u64> = "InstantAccessRetentionDays",
        pub local_copy_released: bool = "LocalCopyReleased",
        /// Extensions: "embedded" or "s3", whether that store is connected,
        /// read-only there (another database's), and why an upload waits.
        pub storage_location: String = "StorageLocation",
        pub object_storage_connected: bool = "ObjectStorageConnected",
        pub read_only_in_object_storage: bool = "ReadOnlyInObjectStorage",
        pub upload_paused: String = "UploadPaused",
        pub encrypted: bool = "Encrypted",
        pub kms_key_id: String = "KMSKeyId",
        /// none, image, disk or image_disk.
        pub usage: String = "Usage",
        /// The custom images that use it (an extension of DescribeSnapshots).
        pub image_ids: Vec<String> = "ImageIds",
        pub tags: Tags = "Tags",
        pub creation_time: String = "CreationTime",
    }
}

impl SnapshotRow {
    pub fn is_local(&self) -> bool {
        self.category == "flash"
    }

    pub fn category_text(&self) -> &'static str {
        if self.is_local() {
            "Local Snapshot"
        } else {
            "Normal Snapshot"
        }
    }

    pub fn type_text(&self) -> &'static str {
        if self.snapshot_type == "auto" {
            "Automatic"
        } else {
            "Manual"
        }
    }

    /// The Retention Period as the lists show it: `Permanent`, `Released
    /// After N Days`, or past its retention while custom images use it (ECS
    /// keeps it for them) `Kept: used by image m-1`.
    pub fn retention_text(&self) -> String {
        match self.retention_days {
            None => "Permanent".into(),
            Some(_) if self.remaining_retention_days == 0 && !self.image_ids.is_empty() => format!("Kept: used by image {}", self.image_ids.join(", ")),
            Some(_) => format!("Released After {} Days", self.remaining_retention_days),
        }
    }
}

/// A disk's or snapshot's Encrypted column (`ENCRYPTED_NOTE` its header's title).
pub fn encrypted_text(encrypted: bool) -> &'static str {
    if encrypted {
        "Yes"
    } else {
        "No"
    }
}

/// What Encrypted means here.
pub const ENCRYPTED_NOTE: &str = "Encrypted at rest: every block sealed with the disk's data key, which its KMS key wraps (Settings: Keys)";

row! {
    /// A KMS key (ListKeys).
    pub struct KeyRow {
        pub key_id: String = "KeyId",
        pub alias: String = "Alias",
        /// Default or Passphrase.
        pub origin: String = "Origin",
        pub locked: bool = "Locked",
        pub creation_time: String = "CreationTime",
    }
}

impl KeyRow {
    pub fn is_default(&self) -> bool {
        self.origin == "Default"
    }
}

row! {
    pub struct GroupRow {
        pub snapshot_group_id: String = "SnapshotGroupId",
        pub name: String = "Name",
        pub instance_id: String = "InstanceId",
        pub status: String = "Status",
        pub snapshots: GroupSnapshots = "Snapshots",
        pub creation_time: String = "CreationTime",
    }
}

row! {
    pub struct GroupSnapshots {
        pub snapshot: Vec<SnapshotRow> = "Snapshot",
    }
}

row! {
    pub struct ImageRow {
        pub image_id: String = "ImageId",
        pub image_name: String = "ImageName",
        /// self (custom) or system (public).
        pub image_owner_alias: String = "ImageOwnerAlias",
        pub status: String = "Status",
        pub os_name: String = "OSName",
        /// GiB.
        pub size: u64 = "Size",
        pub progress: String = "Progress",
        pub failure_reason: String = "FailureReason",
        pub disk_device_mappings: Count = "DiskDeviceMappings",
        pub creation_time: String = "CreationTime",
        /// Its system disk boots in the browser (v86): the Linux image and images of its disks.
        pub boots_in_browser: bool = "BootsInBrowser",
    }
}

impl ImageRow {
    pub fn is_custom(&self) -> bool {
        self.image_owner_alias == "self"
    }

    pub fn is_ready(&self) -> bool {
        self.status == "Available"
    }
}

row! {
    pub struct TaskRow {
        pub task_id: String = "TaskId",
        pub task_action: String = "TaskAction",
        pub task_status: String = "TaskStatus",
        /// `42%`.
        pub task_process: String = "TaskProcess",
        pub resource_id: String = "ResourceId",
        pub error_code: String = "ErrorCode",
        pub error_msg: String = "ErrorMsg",
        pub oss_object: String = "OSSObject",
        pub creation_time: String = "CreationTime",
    }
}

row! {
    pub struct PolicyRow {
        pub auto_snapshot_policy_id: String = "AutoSnapshotPolicyId",
        pub auto_snapshot_policy_name: String = "AutoSnapshotPolicyName",
        /// Hours as ECS returns them: a JSON array of strings in a string.
        pub time_points: String = "TimePoints",
        /// Weekdays (1 is Monday), as `time_points`.
        pub repeat_weekdays: String = "RepeatWeekdays",
        /// -1: kept permanently.
        pub retention_days: Option<i64> = "RetentionDays",
        pub disk_nums: u64 = "DiskNums",
        pub creation_time: String = "CreationTime",
    }
}

row! {
    /// DescribeBlockMap: runs of blocks in the same state.
    pub struct BlockMapReply {
        pub blocks: u64 = "Blocks",
        pub block_size: u64 = "BlockSize",
        pub runs: Runs = "Runs",
    }
}

impl BlockMapReply {
    pub fn of(v: &Value) -> BlockMapReply {
        BlockMapReply::read(v)
    }
}

row! {
    pub struct Runs {
        pub run: Vec<Run> = "Run",
    }
}

row! {
    pub struct Run {
        pub start: u64 = "Start",
        pub length: u64 = "Length",
        /// unwritten, exclusive or shared.
        pub state: String = "State",
        /// Empty: written since the volume's last snapshot.
        pub first_snapshot_id: String = "FirstSnapshotId",
        pub shared_with_snapshots: Vec<String> = "SharedWithSnapshots",
    }
}

impl Run {
    pub fn written(&self) -> bool {
        self.state != "unwritten"
    }

    pub fn end(&self) -> u64 {
        self.start + self.length
    }
}

row! {
    /// The ids a Create action answers with (the toasts name them).
    pub struct Created {
        pub snapshot_id: String = "SnapshotId",
        pub snapshot_group_id: String = "SnapshotGroupId",
        pub disk_id: String = "DiskId",
        pub image_id: String = "ImageId",
        pub task_id: String = "TaskId",
        pub auto_snapshot_policy_id: String = "AutoSnapshotPolicyId",
        pub oss_object: String = "OSSObject",
    }
}

impl Created {
    pub fn of(v: &Value) -> Created {
        Created::read(v)
    }
}

row! {
    /// A Describe reply's paging (a request's too: its `PageSize`).
    pub struct Paging {
        pub total_count: Option<u64> = "TotalCount",
        pub page_size: Option<u64> = "PageSize",
    }
}

impl Paging {
    pub fn of(v: &Value) -> Paging {
        Paging::read(v)
    }

    /// The pages after the first that hold the rest of the list (50 pages at
    /// most): none when the reply says no paging.
    pub fn more_pages(&self) -> std::ops::Range<u64> {
        let (Some(total), Some(size)) = (self.total_count, self.page_size) else { return 2..2 };
        let last = match (total, size) {
            (0, _) => 1,
            (_, 0) => 50,
            _ => total.div_ceil(size).min(50),
        };
        2..last + 1
    }
}

/// Where a Describe reply keeps its list: the top-level key whose value is
/// an object with exactly one key holding an array (`Disks`, `Disk`).
pub fn list_path(v: &Value) -> Option<(String, String)> {
    v.as_object()?.iter().find_map(|(k, o)| {
        let o = o.as_object().filter(|o| o.len() == 1)?;
        let (ik, a) = o.iter().next()?;
        a.is_array().then(|| (k.clone(), ik.clone()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A DescribeSnapshots item as `ecs::actions::snapshot_json` writes it.
    fn snapshot_json() -> Value {
        json!({
            "SnapshotId": "s-1", "SnapshotName": "nightly", "Description": "about", "SourceDiskId": "d-1",
            "SourceDiskSize": 40, "SourceDiskType": "system", "SourceStorageType": "disk", "Progress": "42%",
            "RemainTime": 7, "Status": "progressing", "SnapshotType": "auto", "Usage": "image", "Category": "standard",
            "InstantAccess": true, "InstantAccessRetentionDays": 5, "Available": true, "Encrypted": false, "KMSKeyId": "k-1", "CreationTime": "2026-11-21T10:00:00Z",
            "LastModifiedTime": "2026-11-21T10:00:00Z", "ResourceGroupId": "", "Tags": {"Tag": [{"TagKey": "k", "TagValue": "v"}]},
            "SnapshotGroupId": "", "InstanceId": "i-1", "IncrementalBytes": 1, "ExclusiveBytes": 2, "ReferencedBytes": 3,
            "UploadedBytes": 0, "LocalCopyReleased": true, "StorageLocation": "s3", "ObjectStorageConnected": true,
            "ReadOnlyInObjectStorage": true, "UploadPaused": "down", "RetentionDays": 30, "RemainingRetentionDays": 29, "ImageIds": ["m-1"],
        })
    }

    #[test]
    fn snapshot_rows_read_every_shown_field() {
        let v = json!({"Snapshots": {"Snapshot": [snapshot_json()]}, "TotalCount": 1});
        let r: Vec<SnapshotRow> = rows(&v, "Snapshots", "Snapshot");
        assert_eq!(r.len(), 1);
        // Every field, so a misspelt key fails here.
        let expected = SnapshotRow {
            snapshot_id: "s-1".into(),
            snapshot_name: "nightly".into(),
            description: "about".into(),
            source_disk_id: "d-1".into(),
            source_disk_size: 40,
            source_disk_type: "system".into(),
            category: "standard".into(),
            snapshot_type: "auto".into(),
            status: "progressing".into(),
            progress: "42%".into(),
            remain_time: 7,
            retention_days: Some(30),
            remaining_retention_days: 29,
            incremental_bytes: 1,
            exclusive_bytes: 2,
            referenced_bytes: 3,
            instant_access: true,
            instant_access_retention_days: Some(5),
            local_copy_released: true,
            storage_location: "s3".into(),
            object_storage_connected: true,
            read_only_in_object_storage: true,
            upload_paused: "down".into(),
            encrypted: false,
            kms_key_id: "k-1".into(),
            usage: "image".into(),
            image_ids: vec!["m-1".into()],
            tags: Tags { tag: vec![Tag { tag_key: "k".into(), tag_value: "v".into() }] },
            creation_time: "2026-11-21T10:00:00Z".into(),
        };
        assert_eq!(r[0], expected);
        assert_eq!((r[0].type_text(), r[0].category_text(), r[0].is_local()), ("Automatic", "Normal Snapshot", false));
    }

    #[test]
    fn retention_says_permanent_when_released_or_why_it_is_kept() {
        let s = SnapshotRow::read(&snapshot_json());
        assert_eq!(s.retention_text(), "Released After 29 Days");
        // Past its retention: kept while an image uses it, and says so.
        let past = SnapshotRow { remaining_retention_days: 0, image_ids: vec!["m-1".into(), "m-2".into()], ..s.clone() };
        assert_eq!(past.retention_text(), "Kept: used by image m-1, m-2");
        let unused = SnapshotRow { image_ids: vec![], ..past.clone() };
        assert_eq!(unused.retention_text(), "Released After 0 Days");
        assert_eq!(SnapshotRow { retention_days: None, ..past }.retention_text(), "Permanent");
        assert_eq!((encrypted_text(false), encrypted_text(true)), ("No", "Yes"));
        let mut v = snapshot_json();
        v["Encrypted"] = json!(true);
        assert!(SnapshotRow::read(&v).encrypted);
    }

    #[test]
    fn missing_fields_take_defaults() {
        let mut v = snapshot_json();
        for k in ["RetentionDays", "RemainingRetentionDays", "Tags", "RemainTime", "InstantAccessRetentionDays", "ImageIds"] {
            v.as_object_mut().unwrap().remove(k);
        }
        let s = SnapshotRow::read(&v);
        assert_eq!((s.retention_days, s.remaining_retention_days, s.remain_time, s.instant_access_retention_days), (None, 0, 0, None));
        assert!(s.tags.tag.is_empty() && s.image_ids.is_empty());
        assert_eq!(first::<SnapshotRow>(&json!({}), "Snapshots", "Snapshot"), None);
    }

    #[test]
    fn disk_instance_image_task_policy_group_rows() {
        let v = json!({"Disks": {"Disk": [{"DiskId": "d-1", "DiskName": "n", "Category": "cloud_essd", "PerformanceLevel": "PL1",
            "Size": 40, "Type": "system", "Status": "In_use", "InstanceId": "i-1", "Device": "/dev/xvda", "Encrypted": false, "KMSKeyId": "k-2",
            "AutoSnapshotPolicyId": "sp-1", "ReferencedBytes": 5, "WrittenSinceSnapshotBytes": 4, "HydrationProgress": "100%",
            "SourceSnapshotId": "", "ZoneId": "cn-hangzhou-i", "CreationTime": "t", "Tags": {"Tag": []}}]}});
        let d: DiskRow = first(&v, "Disks", "Disk").unwrap();
        assert!(d.is_system() && d.local_snapshots());
        assert_eq!((d.size, d.referenced_bytes, d.written_since_snapshot_bytes), (40, 5, 4));
        assert_eq!((d.auto_snapshot_policy_id.as_str(), d.kms_key_id.as_str()), ("sp-1", "k-2"));

        let v = json!({"Instances": {"Instance": [{"InstanceId": "i-1", "Cpu": 2, "Memory": 8192, "InstanceType": "ecs.g7.large"}]}});
        let i: InstanceRow = first(&v, "Instances", "Instance").unwrap();
        assert_eq!((i.cpu, i.memory, i.instance_type.as_str()), (2, 8192, "ecs.g7.large"));

        let v = json!({"Images": {"Image": [{"ImageId": "m-1", "ImageOwnerAlias": "self", "OSName": "Ubuntu", "Size": 20, "Status": "Available",
            "DiskDeviceMappings": {"DiskDeviceMapping": [{"SnapshotId": "s-1", "Size": 20}, {"SnapshotId": "s-2", "Size": 20}]}}]}});
        let m: ImageRow = first(&v, "Images", "Image").unwrap();
        assert!(m.is_custom() && m.is_ready());
        assert_eq!((m.os_name.as_str(), m.size, m.disk_device_mappings.0), ("Ubuntu", 20, 2));

        let v = json!({"TaskSet": {"Task": [{"TaskId": "t-1", "TaskStatus": "Failed", "TaskProcess": "10%", "OSSObject": "o", "ErrorCode": "E", "ErrorMsg": "m"}]}});
        let t: TaskRow = first(&v, "TaskSet", "Task").unwrap();
        assert_eq!((t.oss_object.as_str(), t.error_code.as_str(), t.task_process.as_str()), ("o", "E", "10%"));

        let v = json!({"AutoSnapshotPolicies": {"AutoSnapshotPolicy": [{"AutoSnapshotPolicyId": "sp-1", "TimePoints": "[\"2\"]",
            "RepeatWeekdays": "[\"1\"]", "RetentionDays": -1, "DiskNums": 3}]}});
        let p: PolicyRow = first(&v, "AutoSnapshotPolicies", "AutoSnapshotPolicy").unwrap();
        assert_eq!((p.retention_days, p.disk_nums, p.time_points.as_str()), (Some(-1), 3, "[\"2\"]"));

        let v = json!({"SnapshotGroups": {"SnapshotGroup": [{"SnapshotGroupId": "ssg-1", "Name": "g", "Snapshots": {"Snapshot": [snapshot_json()]}}]}});
        let g: GroupRow = first(&v, "SnapshotGroups", "SnapshotGroup").unwrap();
        assert_eq!((g.name.as_str(), g.snapshots.snapshot.len()), ("g", 1));
        assert_eq!(g.snapshots.snapshot[0].source_disk_id, "d-1");
    }

    #[test]
    fn block_map_and_created_replies() {
        let v = json!({"BlockSize": 32768, "Blocks": 100, "Runs": {"Run": [
            {"Start": 0, "Length": 2, "State": "shared", "FirstSnapshotId": "s-1", "SharedWithSnapshots": ["s-2"], "SharedWithDisks": 0},
            {"Start": 2, "Length": 98, "State": "unwritten"}]}});
        let m = BlockMapReply::of(&v);
        assert_eq!((m.blocks, m.block_size, m.runs.run.len()), (100, 32768, 2));
        assert!(m.runs.run[0].written() && !m.runs.run[1].written());
        assert_eq!((m.runs.run[0].end(), m.runs.run[0].shared_with_snapshots.clone()), (2, vec!["s-2".to_string()]));

        assert_eq!(Created::of(&json!({"SnapshotGroupId": "ssg-1"})).snapshot_group_id, "ssg-1");
        assert_eq!(Created::of(&json!({"OSSObject": "exports/m-1_system.qcow2", "TaskId": "t-1"})).oss_object, "exports/m-1_system.qcow2");
        assert_eq!(Created::of(&Value::Null), Created::default());
    }

    #[test]
    fn a_field_of_another_type_reads_as_its_default() {
        let v = json!({"Disks": {"Disk": [{"DiskId": "d-1", "Size": "40"}, {"DiskId": 7, "Size": 40}, "x"]}});
        let d: Vec<DiskRow> = rows(&v, "Disks", "Disk");
        let got: Vec<(&str, u64)> = d.iter().map(|d| (d.disk_id.as_str(), d.size)).collect();
        assert_eq!(got, [("d-1", 0), ("", 40), ("", 0)]);
        assert!(rows::<DiskRow>(&json!({"Disks": {}}), "Disks", "Disk").is_empty());
    }

    #[test]
    fn paging_tells_the_pages_left_and_where_the_list_is() {
        let v = json!({"TotalCount": 250, "PageSize": 100, "PageNumber": 1, "RequestId": "r", "Disks": {"Disk": []}});
        let p = Paging::of(&v);
        assert_eq!((p.total_count, p.page_size), (Some(250), Some(100)));
        assert_eq!(p.more_pages().collect::<Vec<_>>(), [2, 3]);
        assert_eq!(list_path(&v), Some(("Disks".to_string(), "Disk".to_string())));
        assert_eq!(Paging::of(&json!({"TotalCount": 100, "PageSize": 100})).more_pages().count(), 0);
        assert_eq!(Paging::of(&json!({"TotalCount": 100000, "PageSize": 10})).more_pages().last(), Some(50));
        assert_eq!(Paging::of(&json!({"BlockSize": 1})).more_pages().count(), 0);
        assert_eq!(Paging::of(&json!({"TotalCount": 0, "PageSize": 0})).more_pages().count(), 0);
        assert_eq!(Paging::of(&json!({"TotalCount": 1, "PageSize": 0})).more_pages().count(), 49);
        assert_eq!(list_path(&json!({"Runs": {"Run": [], "More": 1}, "Blocks": 3})), None);
    }
}
