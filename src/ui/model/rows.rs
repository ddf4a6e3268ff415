//! Typed rows: the fields of ECS responses the console shows, read once with
//! serde instead of looked up by name where they are shown (where a typo
//! would be a silently empty cell). Each struct names only what the UI uses;
//! a missing field takes its default, as ECS leaves out what does not apply.
//! `rows::<DiskRow>(&response, "Disks", "Disk")` reads a Describe list.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

/// The items of a Describe response's double-wrapped list
/// (`{"Disks": {"Disk": [...]}}`). An item whose fields have other types than
/// declared here is left out (the unit tests read the ECS layer's shapes).
pub fn rows<T: DeserializeOwned>(v: &Value, list: &str, item: &str) -> Vec<T> {
    v[list][item].as_array().map(|a| a.iter().filter_map(|x| T::deserialize(x).ok()).collect()).unwrap_or_default()
}

/// The first item of a Describe response's list (a details page's resource).
pub fn first<T: DeserializeOwned>(v: &Value, list: &str, item: &str) -> Option<T> {
    T::deserialize(v[list][item].get(0)?).ok()
}

/// A wrapped list whose items the console only counts
/// (`"DiskDeviceMappings": {"DiskDeviceMapping": [...]}`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Count(#[serde(deserialize_with = "count")] pub usize);

fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    // The one key of the wrapper, and the length of its array.
    let v = Value::deserialize(d)?;
    Ok(v.as_object().map(|o| o.values().filter_map(Value::as_array).map(Vec::len).sum()).unwrap_or(0))
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct InstanceRow {
    pub instance_id: String,
    pub instance_name: String,
    pub status: String,
    pub zone_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub cpu: u64,
    pub memory: u64,
    pub creation_time: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiskRow {
    pub disk_id: String,
    pub disk_name: String,
    pub category: String,
    pub performance_level: String,
    /// GiB.
    pub size: u64,
    /// system or data.
    #[serde(rename = "Type")]
    pub kind: String,
    pub status: String,
    pub instance_id: String,
    pub zone_id: String,
    pub device: String,
    pub encrypted: bool,
    pub source_snapshot_id: String,
    pub auto_snapshot_policy_id: String,
    pub referenced_bytes: u64,
    pub written_since_snapshot_bytes: u64,
    /// `100%` once the disk no longer reads from OSS.
    pub hydration_progress: String,
    pub creation_time: String,
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

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Tags {
    pub tag: Vec<Tag>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct SnapshotRow {
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub description: String,
    pub source_disk_id: String,
    /// GiB.
    pub source_disk_size: u64,
    pub source_disk_type: String,
    /// standard or flash (local).
    pub category: String,
    /// user or auto.
    pub snapshot_type: String,
    pub status: String,
    pub progress: String,
    /// Seconds.
    pub remain_time: u64,
    /// None: kept permanently.
    pub retention_days: Option<u64>,
    pub remaining_retention_days: u64,
    pub incremental_bytes: u64,
    pub exclusive_bytes: u64,
    pub referenced_bytes: u64,
    pub instant_access: bool,
    pub instant_access_retention_days: Option<u64>,
    pub local_copy_released: bool,
    /// none, image, disk or image_disk.
    pub usage: String,
    pub tags: Tags,
    pub creation_time: String,
}

impl SnapshotRow {
    pub fn is_local(&self) -> bool {
        self.category == "flash"
    }

    pub fn category_text(&self) -> &'static str {
        if self.is_local() { "Local Snapshot" } else { "Normal Snapshot" }
    }

    pub fn type_text(&self) -> &'static str {
        if self.snapshot_type == "auto" { "Automatic" } else { "Manual" }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct GroupRow {
    pub snapshot_group_id: String,
    pub name: String,
    pub instance_id: String,
    pub status: String,
    pub snapshots: Count,
    pub creation_time: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageRow {
    pub image_id: String,
    pub image_name: String,
    /// self (custom) or system (public).
    pub image_owner_alias: String,
    pub status: String,
    #[serde(rename = "OSName")]
    pub os_name: String,
    /// GiB.
    pub size: u64,
    pub progress: String,
    pub failure_reason: String,
    pub disk_device_mappings: Count,
    pub creation_time: String,
}

impl ImageRow {
    pub fn is_custom(&self) -> bool {
        self.image_owner_alias == "self"
    }

    pub fn is_ready(&self) -> bool {
        self.status == "Available"
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskRow {
    pub task_id: String,
    pub task_action: String,
    pub task_status: String,
    /// `42%`.
    pub task_process: String,
    pub resource_id: String,
    pub error_code: String,
    pub error_msg: String,
    #[serde(rename = "OSSObject")]
    pub oss_object: String,
    pub creation_time: String,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct PolicyRow {
    pub auto_snapshot_policy_id: String,
    pub auto_snapshot_policy_name: String,
    /// Hours as ECS returns them: a JSON array of strings in a string.
    pub time_points: String,
    /// Weekdays (1 is Monday), as `time_points`.
    pub repeat_weekdays: String,
    /// -1: kept permanently.
    pub retention_days: Option<i64>,
    pub disk_nums: u64,
    pub creation_time: String,
}

/// DescribeBlockMap: runs of blocks in the same state.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct BlockMapReply {
    pub blocks: u64,
    pub block_size: u64,
    pub runs: Runs,
}

impl BlockMapReply {
    pub fn of(v: &Value) -> BlockMapReply {
        BlockMapReply::deserialize(v).unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Runs {
    pub run: Vec<Run>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Run {
    pub start: u64,
    pub length: u64,
    /// unwritten, exclusive or shared.
    pub state: String,
    /// Empty: written since the volume's last snapshot.
    pub first_snapshot_id: String,
    pub shared_with_snapshots: Vec<String>,
}

impl Run {
    pub fn written(&self) -> bool {
        self.state != "unwritten"
    }

    pub fn end(&self) -> u64 {
        self.start + self.length
    }
}

/// The ids a Create action answers with (the toasts name them).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Created {
    pub snapshot_id: String,
    pub snapshot_group_id: String,
    pub disk_id: String,
    pub image_id: String,
    pub task_id: String,
    pub auto_snapshot_policy_id: String,
    #[serde(rename = "OSSObject")]
    pub oss_object: String,
}

impl Created {
    pub fn of(v: &Value) -> Created {
        Created::deserialize(v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A DescribeSnapshots item as `ecs::actions::snapshot_json` writes it.
    fn snapshot_json() -> Value {
        json!({
            "SnapshotId": "s-1", "SnapshotName": "nightly", "Description": "", "SourceDiskId": "d-1",
            "SourceDiskSize": 40, "SourceDiskType": "system", "SourceStorageType": "disk", "Progress": "42%",
            "RemainTime": 7, "Status": "progressing", "SnapshotType": "auto", "Usage": "image", "Category": "standard",
            "InstantAccess": false, "Available": true, "Encrypted": false, "KMSKeyId": "", "CreationTime": "2026-11-21T10:00:00Z",
            "LastModifiedTime": "2026-11-21T10:00:00Z", "ResourceGroupId": "", "Tags": {"Tag": [{"TagKey": "k", "TagValue": "v"}]},
            "SnapshotGroupId": "", "InstanceId": "i-1", "IncrementalBytes": 1, "ExclusiveBytes": 2, "ReferencedBytes": 3,
            "UploadedBytes": 0, "LocalCopyReleased": false, "RetentionDays": 30, "RemainingRetentionDays": 29,
        })
    }

    #[test]
    fn snapshot_rows_read_every_shown_field() {
        let v = json!({"Snapshots": {"Snapshot": [snapshot_json()]}, "TotalCount": 1});
        let r: Vec<SnapshotRow> = rows(&v, "Snapshots", "Snapshot");
        assert_eq!(r.len(), 1);
        let s = &r[0];
        assert_eq!((s.snapshot_id.as_str(), s.source_disk_size, s.remain_time), ("s-1", 40, 7));
        assert_eq!((s.retention_days, s.remaining_retention_days), (Some(30), 29));
        assert_eq!((s.incremental_bytes, s.exclusive_bytes, s.referenced_bytes), (1, 2, 3));
        assert_eq!(s.tags.tag, vec![Tag { tag_key: "k".into(), tag_value: "v".into() }]);
        assert_eq!((s.type_text(), s.category_text()), ("Automatic", "Normal Snapshot"));
    }

    #[test]
    fn missing_fields_take_defaults() {
        let mut v = snapshot_json();
        for k in ["RetentionDays", "RemainingRetentionDays", "Tags", "RemainTime"] {
            v.as_object_mut().unwrap().remove(k);
        }
        let s = SnapshotRow::deserialize(&v).unwrap();
        assert_eq!((s.retention_days, s.remaining_retention_days, s.remain_time), (None, 0, 0));
        assert!(s.tags.tag.is_empty());
        assert_eq!(first::<SnapshotRow>(&json!({}), "Snapshots", "Snapshot"), None);
    }

    #[test]
    fn disk_instance_image_task_policy_group_rows() {
        let v = json!({"Disks": {"Disk": [{"DiskId": "d-1", "DiskName": "n", "Category": "cloud_essd", "PerformanceLevel": "PL1",
            "Size": 40, "Type": "system", "Status": "In_use", "InstanceId": "i-1", "Device": "/dev/xvda", "Encrypted": false,
            "AutoSnapshotPolicyId": "sp-1", "ReferencedBytes": 5, "WrittenSinceSnapshotBytes": 4, "HydrationProgress": "100%",
            "SourceSnapshotId": "", "ZoneId": "cn-hangzhou-i", "CreationTime": "t", "Tags": {"Tag": []}}]}});
        let d: DiskRow = first(&v, "Disks", "Disk").unwrap();
        assert!(d.is_system() && d.local_snapshots());
        assert_eq!((d.size, d.referenced_bytes, d.written_since_snapshot_bytes), (40, 5, 4));
        assert_eq!(d.auto_snapshot_policy_id, "sp-1");

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
        assert_eq!((g.name.as_str(), g.snapshots.0), ("g", 1));
    }

    #[test]
    fn block_map_and_created_replies() {
        let v = json!({"BlockSize": 32768, "Blocks": 100, "Runs": {"Run": [
            {"Start": 0, "Length": 2, "State": "shared", "FirstSnapshotId": "s-1", "SharedWithSnapshots": ["s-2"], "SharedWithDisks": 0},
            {"Start": 2, "Length": 98, "State": "unwritten"}]}});
        let m = BlockMapReply::deserialize(&v).unwrap();
        assert_eq!((m.blocks, m.block_size, m.runs.run.len()), (100, 32768, 2));
        assert!(m.runs.run[0].written() && !m.runs.run[1].written());
        assert_eq!((m.runs.run[0].end(), m.runs.run[0].shared_with_snapshots.clone()), (2, vec!["s-2".to_string()]));

        assert_eq!(Created::of(&json!({"SnapshotGroupId": "ssg-1"})).snapshot_group_id, "ssg-1");
        assert_eq!(Created::of(&json!({"OSSObject": "exports/m-1_system.qcow2", "TaskId": "t-1"})).oss_object, "exports/m-1_system.qcow2");
        assert_eq!(Created::of(&Value::Null), Created::default());
    }

    #[test]
    fn an_item_of_the_wrong_shape_is_left_out() {
        let v = json!({"Disks": {"Disk": [{"DiskId": "d-1"}, {"DiskId": 7}, "x"]}});
        let d: Vec<DiskRow> = rows(&v, "Disks", "Disk");
        assert_eq!(d.len(), 1);
    }
}
