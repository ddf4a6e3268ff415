//! The Create Snapshot dialog's form (seeds 001 and 004): its fields, the
//! actions that change them, and the request it submits.

use serde_json::{json, Value};

use super::dialogs::Input;

/// Which procedure opened the dialog.
#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotFrom {
    /// Seed 001: the Create Snapshot action of one disk row.
    Disk { disk_id: String, essd: bool },
    /// Seed 004: Create Disk Snapshot on the Snapshots page.
    Page,
}

/// What the page's dialog snapshots: one disk, or an instance's disks together (a group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Disk,
    Instance,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SnapshotForm {
    pub from: SnapshotFrom,
    pub name: String,
    /// A local snapshot (category flash), for ESSDs.
    pub local: bool,
    pub permanent: bool,
    /// Retention days when not permanent, as typed.
    pub days: String,
    pub tag_key: String,
    pub tag_value: String,
    /// Instant Access as chosen (None: the disk's default, seed 004: on for
    /// ESSDs, off for other categories, which cannot have it).
    pub instant: Option<bool>,
    pub group: String,
    pub resource_type: ResourceType,
    /// The disk or instance chosen.
    pub target: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotFormAction {
    Name(String),
    Local(bool),
    Permanent(bool),
    Days(String),
    TagKey(String),
    TagValue(String),
    Instant(bool),
    Group(String),
    /// Also clears the target (a disk is not an instance).
    ResourceType(ResourceType),
    Target(String),
}

impl SnapshotFormAction {
    /// The action of the control that changed (the Resource Type radios
    /// have their own listeners).
    pub fn of(i: Input) -> Option<SnapshotFormAction> {
        use SnapshotFormAction as A;
        Some(match i.label.as_str() {
            "Select Cloud Disk" | "Select Instance" => A::Target(i.value),
            "Snapshot Name" => A::Name(i.value),
            "Create Local Snapshot" => A::Local(i.checked),
            "Permanent Retention" => A::Permanent(i.checked),
            "Retained for" => A::Permanent(!i.checked),
            "Retention Days" => A::Days(i.value),
            "Instant Access" => A::Instant(i.checked),
            "Resource Group" => A::Group(i.value),
            "Tag Key" => A::TagKey(i.value),
            "Tag Value" => A::TagValue(i.value),
            _ => return None,
        })
    }
}

impl SnapshotForm {
    pub fn new(from: SnapshotFrom) -> Self {
        let target = match &from {
            SnapshotFrom::Disk { disk_id, .. } => disk_id.clone(),
            SnapshotFrom::Page => String::new(),
        };
        SnapshotForm {
            from,
            name: String::new(),
            local: false,
            permanent: true,
            days: "30".into(),
            tag_key: String::new(),
            tag_value: String::new(),
            instant: None,
            group: String::new(),
            resource_type: ResourceType::Disk,
            target,
        }
    }

    /// The reducer.
    pub fn reduce(mut self, action: SnapshotFormAction) -> Self {
        use SnapshotFormAction as A;
        match action {
            A::Name(v) => self.name = v,
            A::Local(v) => self.local = v,
            A::Permanent(v) => self.permanent = v,
            A::Days(v) => self.days = v,
            A::TagKey(v) => self.tag_key = v,
            A::TagValue(v) => self.tag_value = v,
            A::Instant(v) => self.instant = Some(v),
            A::Group(v) => self.group = v,
            A::ResourceType(t) => (self.resource_type, self.target, self.instant) = (t, String::new(), None),
            // Another disk: Instant Access follows its category again.
            A::Target(v) => (self.target, self.instant) = (v, None),
        }
        self
    }

    /// Opened from the Snapshots page (seed 004).
    pub fn on_page(&self) -> bool {
        self.from == SnapshotFrom::Page
    }

    /// A snapshot-consistent group of an instance's disks.
    pub fn group_snapshot(&self) -> bool {
        self.on_page() && self.resource_type == ResourceType::Instance
    }

    /// Whether Instant Access is on, for a target that is (`essd`) or is not
    /// an ESSD. A group covers ESSDs only.
    pub fn instant_access(&self, essd: bool) -> bool {
        (essd || self.group_snapshot()) && self.instant.unwrap_or(true)
    }

    /// The action and parameters OK submits; `essd`: the target disk is an ESSD.
    pub fn request(&self, essd: bool) -> (&'static str, Value) {
        let mut params = json!({});
        let named = !self.name.is_empty();
        if self.group_snapshot() {
            params["InstanceId"] = json!(self.target);
            if named {
                params["Name"] = json!(self.name);
            }
            params["InstantAccess"] = json!(self.instant_access(true));
        } else {
            params["DiskId"] = json!(self.target);
            if named {
                params["SnapshotName"] = json!(self.name);
            }
            if self.local {
                params["Category"] = json!("flash");
            }
            if !self.permanent {
                params["RetentionDays"] = json!(self.days);
            }
            // Off for an ESSD is said; other categories have no instant access.
            if self.on_page() && essd && !self.instant_access(essd) {
                params["InstantAccess"] = json!(false);
            }
        }
        if !self.tag_key.is_empty() {
            params["Tag"] = json!([{"Key": self.tag_key, "Value": self.tag_value}]);
        }
        if !self.group.is_empty() {
            params["ResourceGroupId"] = json!(self.group);
        }
        (if self.group_snapshot() { "CreateSnapshotGroup" } else { "CreateSnapshot" }, params)
    }
}

#[cfg(test)]
mod tests {
    use super::SnapshotFormAction as A;
    use super::*;

    fn form(from: SnapshotFrom, actions: Vec<A>) -> SnapshotForm {
        actions.into_iter().fold(SnapshotForm::new(from), SnapshotForm::reduce)
    }

    fn disk() -> SnapshotFrom {
        SnapshotFrom::Disk { disk_id: "d-1".into(), essd: true }
    }

    #[test]
    fn inputs_name_their_actions() {
        assert_eq!(A::of(Input::text("Select Instance", "i-1")), Some(A::Target("i-1".into())));
        assert_eq!(A::of(Input::check("Retained for", true)), Some(A::Permanent(false)));
        assert_eq!(A::of(Input::check("Permanent Retention", true)), Some(A::Permanent(true)));
        assert_eq!(A::of(Input::check("Create Local Snapshot", true)), Some(A::Local(true)));
        assert_eq!(A::of(Input::text("Tag Value", "v")), Some(A::TagValue("v".into())));
        assert_eq!(A::of(Input::check("", true)), None);
    }

    #[test]
    fn from_a_disk_the_disk_is_the_target_and_defaults_ask_for_little() {
        let f = SnapshotForm::new(disk());
        assert_eq!(f.target, "d-1");
        assert!(!f.on_page() && f.permanent && f.instant_access(true) && !f.local);
        assert_eq!(f.request(true), ("CreateSnapshot", json!({"DiskId": "d-1"})));
    }

    #[test]
    fn a_disk_snapshot_sends_what_was_chosen() {
        let f = form(
            disk(),
            vec![A::Name("nightly".into()), A::Local(true), A::Permanent(false), A::Days("7".into()), A::TagKey("k".into()), A::TagValue("v".into())],
        );
        assert_eq!(
            f.request(true),
            (
                "CreateSnapshot",
                json!({"DiskId": "d-1", "SnapshotName": "nightly", "Category": "flash", "RetentionDays": "7", "Tag": [{"Key": "k", "Value": "v"}]})
            )
        );
        // Days typed while permanent are not sent; a tag value alone is no tag.
        let f = form(disk(), vec![A::Days("7".into()), A::TagValue("v".into()), A::Permanent(false), A::Permanent(true)]);
        assert_eq!(f.request(true).1, json!({"DiskId": "d-1"}));
    }

    #[test]
    fn instant_access_is_the_pages_choice_only() {
        // From a disk the Instant Access box is not shown: nothing is sent.
        assert_eq!(form(disk(), vec![A::Instant(false)]).request(true).1, json!({"DiskId": "d-1"}));
        let f = form(SnapshotFrom::Page, vec![A::Target("d-2".into()), A::Instant(false), A::Group("rg-1".into())]);
        assert_eq!(f.request(true), ("CreateSnapshot", json!({"DiskId": "d-2", "InstantAccess": false, "ResourceGroupId": "rg-1"})));
        assert_eq!(form(SnapshotFrom::Page, vec![A::Target("d-2".into())]).request(true).1, json!({"DiskId": "d-2"}));
    }

    #[test]
    fn instant_access_defaults_follow_the_disk_category_as_seed_004_says() {
        // An ESSD: on unless turned off; another category: off, and nothing is sent.
        let essd = form(SnapshotFrom::Page, vec![A::Target("d-essd".into())]);
        assert!(essd.instant_access(true));
        let other = form(SnapshotFrom::Page, vec![A::Target("d-ssd".into())]);
        assert!(!other.instant_access(false));
        assert_eq!(other.request(false).1, json!({"DiskId": "d-ssd"}));
        // Turned off on one disk, then another disk is chosen: its default again.
        let f = form(SnapshotFrom::Page, vec![A::Target("d-1".into()), A::Instant(false)]);
        assert!(!f.instant_access(true));
        let f = f.reduce(A::Target("d-2".into()));
        assert!(f.instant_access(true));
        assert_eq!(f.request(true).1, json!({"DiskId": "d-2"}));
    }

    #[test]
    fn an_instance_makes_a_group_and_choosing_the_type_clears_the_target() {
        let f = form(SnapshotFrom::Page, vec![A::Target("d-2".into()), A::ResourceType(ResourceType::Instance)]);
        assert_eq!((f.target.as_str(), f.group_snapshot()), ("", true));
        let f = f.reduce(A::Target("i-1".into())).reduce(A::Name("g".into())).reduce(A::Local(true)).reduce(A::Permanent(false));
        assert_eq!(f.request(false), ("CreateSnapshotGroup", json!({"InstanceId": "i-1", "Name": "g", "InstantAccess": true})));
        let back = f.reduce(A::ResourceType(ResourceType::Disk));
        assert_eq!((back.target.as_str(), back.group_snapshot()), ("", false));
        // Only the page offers groups.
        assert!(!form(disk(), vec![A::ResourceType(ResourceType::Instance)]).group_snapshot());
    }
}
