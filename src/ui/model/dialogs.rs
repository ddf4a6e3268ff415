//! The forms of the console's dialogs (and of the Settings page), like the
//! Create Snapshot form (`forms`): each a plain state, an action enum, a pure
//! reducer and the request OK submits.
//!
//! A dialog listens once, on its form, for the `input` events of all its
//! controls (they bubble): it reads the control's accessible name (its
//! `aria-label`, the name the end-to-end tests use too), value and checked
//! state as an `Input`, and each form's `Action::of` tells which action that
//! is. So a dialog holds one callback, not one closure per field.

use serde_json::{json, Value};

use super::keys::encryption;
use super::list::INSTANCE_TYPES;
use super::rows::{ImageRow, SnapshotRow};

/// The control that changed: its accessible name, value and checked state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Input {
    pub label: String,
    pub value: String,
    pub checked: bool,
}

#[cfg(test)]
impl Input {
    /// A text field or select set to `value`.
    pub fn text(label: &str, value: &str) -> Input {
        Input { label: label.into(), value: value.into(), checked: false }
    }

    /// A checkbox or radio button (un)checked.
    pub fn check(label: &str, checked: bool) -> Input {
        Input { label: label.into(), value: "on".into(), checked }
    }
}

/// `Some(value)` when `value` is not empty.
fn some(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

// ---------------------------------------------------------------- Create Instance

pub const SYSTEM_DISK_CATEGORIES: [&str; 3] = ["cloud_essd", "cloud_ssd", "cloud_efficiency"];
pub const DISK_CATEGORIES: [&str; 4] = ["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud"];

/// Create Instance (RunInstances).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceForm {
    /// Empty: the default image (`default_image`).
    pub image: String,
    pub name: String,
    pub instance_type: String,
    pub zone: String,
    pub system_category: String,
    /// GiB, as typed.
    pub system_size: String,
    pub data_category: String,
    /// GiB, as typed; empty or 0: no data disk.
    pub data_size: String,
    /// Its disks encrypted, under `kms_key` ("": the region's default key).
    pub encrypted: bool,
    pub kms_key: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InstanceAction {
    Image(String),
    Name(String),
    InstanceType(String),
    Zone(String),
    SystemCategory(String),
    SystemSize(String),
    DataCategory(String),
    DataSize(String),
    Encrypted(bool),
    Key(String),
}

impl InstanceAction {
    pub fn of(i: Input) -> Option<InstanceAction> {
        use InstanceAction as A;
        let f = match i.label.as_str() {
            "Image" => A::Image,
            "Instance Name" => A::Name,
            "Instance Type" => A::InstanceType,
            "Zone" => A::Zone,
            "System Disk Category" => A::SystemCategory,
            "System Disk Size (GiB)" => A::SystemSize,
            "Data Disk Category" => A::DataCategory,
            "Data Disk Size (GiB)" => A::DataSize,
            "Encrypted" => return Some(A::Encrypted(i.checked)),
            "Encryption key" => A::Key,
            _ => return None,
        };
        Some(f(i.value))
    }
}

impl InstanceForm {
    /// `image`: the image to start from (None: the default); `zone`: the region's first.
    pub fn new(image: Option<String>, zone: &str) -> Self {
        InstanceForm {
            image: image.unwrap_or_default(),
            name: String::new(),
            instance_type: INSTANCE_TYPES[0].into(),
            zone: zone.into(),
            system_category: "cloud_essd".into(),
            system_size: "40".into(),
            data_category: "cloud_essd".into(),
            data_size: "20".into(),
            encrypted: false,
            kms_key: String::new(),
        }
    }

    pub fn reduce(mut self, action: InstanceAction) -> Self {
        use InstanceAction as A;
        match action {
            A::Image(v) => self.image = v,
            A::Name(v) => self.name = v,
            A::InstanceType(v) => self.instance_type = v,
            A::Zone(v) => self.zone = v,
            A::SystemCategory(v) => self.system_category = v,
            A::SystemSize(v) => self.system_size = v,
            A::DataCategory(v) => self.data_category = v,
            A::DataSize(v) => self.data_size = v,
            A::Encrypted(v) => self.encrypted = v,
            A::Key(v) => self.kms_key = v,
        }
        self
    }

    /// The image chosen, or while none is: Alibaba Cloud Linux, as the ECS
    /// console offers first (else the first image).
    pub fn chosen_image(&self, images: &[ImageRow]) -> String {
        if !self.image.is_empty() {
            return self.image.clone();
        }
        images.iter().find(|i| i.image_id.starts_with("aliyun")).or(images.first()).map(|i| i.image_id.clone()).unwrap_or_default()
    }

    /// RunInstances' parameters.
    pub fn request(&self, image: &str) -> Value {
        let mut params = json!({
            "ImageId": image, "InstanceType": self.instance_type, "ZoneId": self.zone,
            "SystemDisk": {"Category": self.system_category, "Size": self.system_size},
        });
        if !self.data_size.is_empty() && self.data_size != "0" {
            params["DataDisk"] = json!([{"Size": self.data_size, "Category": self.data_category}]);
            encryption(&mut params["DataDisk"][0], self.encrypted, &self.kms_key);
        }
        encryption(&mut params["SystemDisk"], self.encrypted, &self.kms_key);
        if let Some(n) = some(&self.name) {
            params["InstanceName"] = json!(n);
        }
        params
    }
}

/// An image's entry in Create Instance's Image select.
pub fn image_choice(i: &ImageRow) -> String {
    if i.is_custom() {
        format!("{} (custom: {}){}", i.image_name, i.os_name, if i.is_ready() { "" } else { ", creating…" })
    } else {
        format!("{} (public)", i.os_name)
    }
}

// ---------------------------------------------------------------- Create Disk

/// Create Disk from a snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskForm {
    pub snapshot_id: String,
    pub zone: String,
    pub category: String,
    /// GiB, as typed.
    pub size: String,
    /// As the snapshot is (a disk follows its snapshot); the KMS key, at
    /// first the snapshot's (another one wraps the same data key too).
    pub encrypted: bool,
    pub kms_key: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiskAction {
    Zone(String),
    Category(String),
    Size(String),
    Key(String),
}

impl DiskAction {
    pub fn of(i: Input) -> Option<DiskAction> {
        let f = match i.label.as_str() {
            "Zone" => DiskAction::Zone,
            "Disk Category" => DiskAction::Category,
            "Size (GiB)" => DiskAction::Size,
            "Encryption key" => DiskAction::Key,
            _ => return None,
        };
        Some(f(i.value))
    }
}

impl DiskForm {
    /// The snapshot's size, an ESSD, in `zone` (the region's first).
    pub fn new(snap: &SnapshotRow, zone: &str) -> Self {
        DiskForm {
            snapshot_id: snap.snapshot_id.clone(),
            zone: zone.into(),
            category: "cloud_essd".into(),
            size: snap.source_disk_size.to_string(),
            encrypted: snap.encrypted,
            kms_key: snap.kms_key_id.clone(),
        }
    }

    pub fn reduce(mut self, action: DiskAction) -> Self {
        match action {
            DiskAction::Zone(v) => self.zone = v,
            DiskAction::Category(v) => self.category = v,
            DiskAction::Size(v) => self.size = v,
            DiskAction::Key(v) => self.kms_key = v,
        }
        self
    }

    /// CreateDisk's parameters.
    pub fn request(&self) -> Value {
        let mut params = json!({"ZoneId": self.zone, "DiskCategory": self.category, "Size": self.size, "SnapshotId": self.snapshot_id});
        encryption(&mut params, self.encrypted, &self.kms_key);
        params
    }
}

// ---------------------------------------------------------------- Roll Back Disk

/// Roll Back Disk: ResetDisk, then, with Start Instance After Rollback (the
/// ECS console's checkbox), StartInstance of the disk's instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollback {
    pub disk_id: String,
    pub snapshot_id: String,
    /// The disk's instance (empty: not attached).
    pub instance_id: String,
    pub start_after: bool,
}

impl Rollback {
    /// The calls OK makes, in order (the instance is started only once the
    /// disk is rolled back, and only when the disk has one).
    pub fn requests(&self) -> Vec<(&'static str, Value)> {
        let mut calls = vec![("ResetDisk", json!({"DiskId": self.disk_id, "SnapshotId": self.snapshot_id}))];
        if self.start_after && !self.instance_id.is_empty() {
            calls.push(("StartInstance", json!({"InstanceId": self.instance_id})));
        }
        calls
    }
}

// ---------------------------------------------------------------- Modify Snapshot

/// Modify a snapshot's name, description and retention: only what changed is sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ModifyForm {
    pub snapshot_id: String,
    pub name: String,
    pub description: String,
    /// Days, as typed; empty: as it is.
    pub days: String,
    /// What the snapshot has now: (name, description, days).
    was: (String, String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModifyAction {
    Name(String),
    Description(String),
    Days(String),
}

impl ModifyAction {
    pub fn of(i: Input) -> Option<ModifyAction> {
        let f = match i.label.as_str() {
            "Snapshot Name" => ModifyAction::Name,
            "Description" => ModifyAction::Description,
            "Retention Days" => ModifyAction::Days,
            _ => return None,
        };
        Some(f(i.value))
    }
}

impl ModifyForm {
    pub fn new(snap: &SnapshotRow) -> Self {
        let days = snap.retention_days.map(|d| d.to_string()).unwrap_or_default();
        ModifyForm {
            snapshot_id: snap.snapshot_id.clone(),
            name: snap.snapshot_name.clone(),
            description: snap.description.clone(),
            days: days.clone(),
            was: (snap.snapshot_name.clone(), snap.description.clone(), days),
        }
    }

    pub fn reduce(mut self, action: ModifyAction) -> Self {
        match action {
            ModifyAction::Name(v) => self.name = v,
            ModifyAction::Description(v) => self.description = v,
            ModifyAction::Days(v) => self.days = v,
        }
        self
    }

    /// ModifySnapshotAttribute's parameters: the fields that changed.
    pub fn request(&self) -> Value {
        let mut params = json!({"SnapshotId": self.snapshot_id});
        if self.name != self.was.0 {
            params["SnapshotName"] = json!(self.name);
        }
        if self.description != self.was.1 {
            params["Description"] = json!(self.description);
        }
        if !self.days.is_empty() && self.days != self.was.2 {
            params["RetentionDays"] = json!(self.days);
        }
        params
    }
}

// ---------------------------------------------------------------- Settings

/// The Settings page: the clock and upload rate as read, what is typed, and
/// whether Delete all data is being confirmed.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingsForm {
    /// Days to advance the clock by, as typed.
    pub advance: String,
    /// KiB/s, as typed; empty: no cap.
    pub rate: String,
    pub confirming: bool,
    /// How far the console's clock is ahead of real time, in seconds.
    pub clock_offset: f64,
    /// The upload cap in bytes per second.
    pub upload_cap: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SettingsAction {
    Advance(String),
    Rate(String),
    Confirming(bool),
    /// The clock offset and upload cap, read again.
    Read(f64, Option<u64>),
}

impl SettingsAction {
    pub fn of(i: Input) -> Option<SettingsAction> {
        let f = match i.label.as_str() {
            "Days to advance" => SettingsAction::Advance,
            "Upload rate in KiB/s" => SettingsAction::Rate,
            _ => return None,
        };
        Some(f(i.value))
    }
}

impl Default for SettingsForm {
    fn default() -> Self {
        SettingsForm { advance: "1".into(), rate: String::new(), confirming: false, clock_offset: 0.0, upload_cap: None }
    }
}

impl SettingsForm {
    pub fn reduce(mut self, action: SettingsAction) -> Self {
        match action {
            SettingsAction::Advance(v) => self.advance = v,
            SettingsAction::Rate(v) => self.rate = v,
            SettingsAction::Confirming(v) => self.confirming = v,
            SettingsAction::Read(offset, cap) => (self.clock_offset, self.upload_cap) = (offset, cap),
        }
        self
    }

    /// The days Advance Clock moves (0 for what is not a number).
    pub fn advance_days(&self) -> f64 {
        self.advance.parse().unwrap_or(0.0)
    }

    /// The cap Set Upload Rate sets, in KiB/s: None (no cap) for empty, 0 or not a number.
    pub fn rate_kib(&self) -> Option<u64> {
        self.rate.trim().parse::<u64>().ok().filter(|&k| k > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, owner: &str, status: &str) -> ImageRow {
        ImageRow {
            image_id: id.into(),
            image_name: "mine".into(),
            image_owner_alias: owner.into(),
            status: status.into(),
            os_name: "Ubuntu".into(),
            ..ImageRow::default()
        }
    }

    #[test]
    fn inputs_name_their_actions_and_others_are_ignored() {
        assert_eq!(InstanceAction::of(Input::text("Instance Name", "web")), Some(InstanceAction::Name("web".into())));
        assert_eq!(InstanceAction::of(Input::text("Data Disk Size (GiB)", "0")), Some(InstanceAction::DataSize("0".into())));
        assert_eq!(InstanceAction::of(Input::text("Close", "")), None);
        assert_eq!(DiskAction::of(Input::text("Size (GiB)", "50")), Some(DiskAction::Size("50".into())));
        assert_eq!(ModifyAction::of(Input::text("Retention Days", "9")), Some(ModifyAction::Days("9".into())));
        assert_eq!(SettingsAction::of(Input::text("Upload rate in KiB/s", "64")), Some(SettingsAction::Rate("64".into())));
    }

    #[test]
    fn create_instance_defaults_and_choices() {
        let f = InstanceForm::new(None, "cn-hangzhou-i");
        let images = [image("ubuntu_22", "system", "Available"), image("aliyun_3", "system", "Available")];
        assert_eq!(f.chosen_image(&images), "aliyun_3");
        assert_eq!(f.chosen_image(&images[..1]), "ubuntu_22");
        assert_eq!(f.chosen_image(&[]), "");
        assert_eq!(
            f.request("aliyun_3"),
            json!({"ImageId": "aliyun_3", "InstanceType": "ecs.g7.large", "ZoneId": "cn-hangzhou-i",
                "SystemDisk": {"Category": "cloud_essd", "Size": "40"}, "DataDisk": [{"Size": "20", "Category": "cloud_essd"}]})
        );
        let actions = [
            "Image=m-1",
            "Instance Name=web",
            "Instance Type=ecs.c7.large",
            "Zone=cn-hangzhou-j",
            "System Disk Category=cloud_ssd",
            "System Disk Size (GiB)=60",
            "Data Disk Size (GiB)=0",
        ];
        let f = actions.iter().map(|a| a.split_once('=').unwrap()).filter_map(|(l, v)| InstanceAction::of(Input::text(l, v))).fold(f, InstanceForm::reduce);
        assert_eq!(f.chosen_image(&images), "m-1");
        // Size 0: no data disk.
        assert_eq!(
            f.request("m-1"),
            json!({"ImageId": "m-1", "InstanceType": "ecs.c7.large", "ZoneId": "cn-hangzhou-j",
                "SystemDisk": {"Category": "cloud_ssd", "Size": "60"}, "InstanceName": "web"})
        );
        let f = f.reduce(InstanceAction::DataSize(String::new()));
        assert!(f.request("m-1").get("DataDisk").is_none());
        let f = f.reduce(InstanceAction::DataSize("30".into())).reduce(InstanceAction::DataCategory("cloud".into()));
        assert_eq!(f.request("m-1")["DataDisk"], json!([{"Size": "30", "Category": "cloud"}]));
        // Encrypted: both disks, under the chosen key ("" leaves KMSKeyId out: the default key).
        assert_eq!(InstanceAction::of(Input::check("Encrypted", true)), Some(InstanceAction::Encrypted(true)));
        let f = f.reduce(InstanceAction::Encrypted(true));
        assert_eq!(f.request("m-1")["SystemDisk"], json!({"Category": "cloud_ssd", "Size": "60", "Encrypted": true}));
        let f = f.reduce(InstanceAction::of(Input::text("Encryption key", "k-1")).unwrap());
        let r = f.request("m-1");
        assert_eq!(r["SystemDisk"], json!({"Category": "cloud_ssd", "Size": "60", "Encrypted": true, "KMSKeyId": "k-1"}));
        assert_eq!(r["DataDisk"], json!([{"Size": "30", "Category": "cloud", "Encrypted": true, "KMSKeyId": "k-1"}]));
        assert!(f.reduce(InstanceAction::Encrypted(false)).request("m-1")["SystemDisk"].get("KMSKeyId").is_none());
        assert_eq!(InstanceForm::new(Some("m-2".into()), "z").chosen_image(&images), "m-2");
    }

    #[test]
    fn image_choices_say_what_an_image_is() {
        assert_eq!(image_choice(&image("ubuntu_22", "system", "Available")), "Ubuntu (public)");
        assert_eq!(image_choice(&image("m-1", "self", "Available")), "mine (custom: Ubuntu)");
        assert_eq!(image_choice(&image("m-1", "self", "Creating")), "mine (custom: Ubuntu), creating…");
    }

    fn snap() -> SnapshotRow {
        SnapshotRow {
            snapshot_id: "s-1".into(),
            snapshot_name: "nightly".into(),
            description: "about".into(),
            source_disk_size: 40,
            retention_days: Some(30),
            ..SnapshotRow::default()
        }
    }

    #[test]
    fn create_disk_starts_from_the_snapshot() {
        let f = DiskForm::new(&snap(), "z-1");
        assert_eq!(f.request(), json!({"ZoneId": "z-1", "DiskCategory": "cloud_essd", "Size": "40", "SnapshotId": "s-1"}));
        let f = f.reduce(DiskAction::Zone("z-2".into())).reduce(DiskAction::Category("cloud_ssd".into())).reduce(DiskAction::Size("80".into()));
        assert_eq!(f.request(), json!({"ZoneId": "z-2", "DiskCategory": "cloud_ssd", "Size": "80", "SnapshotId": "s-1"}));
        // From an encrypted snapshot: encrypted, under its key unless another is chosen.
        let sealed = DiskForm::new(&SnapshotRow { encrypted: true, kms_key_id: "k-1".into(), ..snap() }, "z-1");
        assert_eq!(
            sealed.request(),
            json!({"ZoneId": "z-1", "DiskCategory": "cloud_essd", "Size": "40", "SnapshotId": "s-1", "Encrypted": true, "KMSKeyId": "k-1"})
        );
        let other = sealed.reduce(DiskAction::of(Input::text("Encryption key", "k-2")).unwrap());
        assert_eq!(other.request()["KMSKeyId"], "k-2");
    }

    #[test]
    fn rollback_starts_the_instance_after_only_when_asked() {
        let r = Rollback { disk_id: "d-1".into(), snapshot_id: "s-1".into(), instance_id: "i-1".into(), start_after: false };
        let reset = ("ResetDisk", json!({"DiskId": "d-1", "SnapshotId": "s-1"}));
        assert_eq!(r.requests(), vec![reset.clone()]);
        let start = Rollback { start_after: true, ..r.clone() };
        assert_eq!(start.requests(), vec![reset.clone(), ("StartInstance", json!({"InstanceId": "i-1"}))]);
        // A disk on no instance: nothing to start.
        assert_eq!(Rollback { instance_id: String::new(), ..start }.requests(), vec![reset]);
    }

    #[test]
    fn modify_sends_only_what_changed() {
        let f = ModifyForm::new(&snap());
        assert_eq!((f.name.as_str(), f.description.as_str(), f.days.as_str()), ("nightly", "about", "30"));
        assert_eq!(f.request(), json!({"SnapshotId": "s-1"}));
        let f = f.reduce(ModifyAction::Name("weekly".into())).reduce(ModifyAction::Days("60".into()));
        assert_eq!(f.request(), json!({"SnapshotId": "s-1", "SnapshotName": "weekly", "RetentionDays": "60"}));
        // Emptied days keep the retention; an emptied description is sent.
        let f = f.reduce(ModifyAction::Days(String::new())).reduce(ModifyAction::Description(String::new()));
        assert_eq!(f.request(), json!({"SnapshotId": "s-1", "SnapshotName": "weekly", "Description": ""}));
        // A permanent snapshot gets days only when some are given.
        let permanent = ModifyForm::new(&SnapshotRow { retention_days: None, ..snap() });
        assert_eq!(permanent.days, "");
        assert_eq!(permanent.reduce(ModifyAction::Days("5".into())).request(), json!({"SnapshotId": "s-1", "RetentionDays": "5"}));
    }

    #[test]
    fn settings_parse_what_is_typed() {
        let f = SettingsForm::default();
        assert_eq!((f.advance_days(), f.rate_kib(), f.confirming), (1.0, None, false));
        let f = f.reduce(SettingsAction::Advance("2.5".into())).reduce(SettingsAction::Rate(" 64 ".into())).reduce(SettingsAction::Confirming(true));
        assert_eq!((f.advance_days(), f.rate_kib(), f.confirming), (2.5, Some(64), true));
        let f = f.reduce(SettingsAction::Advance("x".into())).reduce(SettingsAction::Rate("0".into())).reduce(SettingsAction::Read(86_400.0, Some(1024)));
        assert_eq!((f.advance_days(), f.rate_kib(), f.clock_offset, f.upload_cap), (0.0, None, 86_400.0, Some(1024)));
    }
}
