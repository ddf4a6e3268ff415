//! The Create Snapshot dialog's form (seeds 001 and 004): its fields, the
//! actions that change them, and the request it submits. With Resource Type
//! Instance it makes a snapshot-consistent group of the disks ticked; what
//! CreateSnapshotGroup takes no part in (the snapshots' name and retention)
//! the console sets on each snapshot afterwards (`group_snapshot_attributes`).

use serde_json::{json, Value};

use super::dialogs::Input;
use super::rows::DiskRow;

/// Tags a resource can have (ECS).
pub const MAX_TAGS: usize = 20;

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
    /// Tag rows (key, value) as typed; rows without a key are not sent.
    pub tags: Vec<(String, String)>,
    /// Instant Access as chosen (None: the disk's default, seed 004: on for
    /// ESSDs, off for other categories, which cannot have it).
    pub instant: Option<bool>,
    pub group: String,
    pub resource_type: ResourceType,
    /// The disk or instance chosen.
    pub target: String,
    /// The chosen instance's disks unticked (a group takes every disk it can include but these).
    pub unticked: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SnapshotFormAction {
    Name(String),
    Local(bool),
    Permanent(bool),
    Days(String),
    /// Tag row n's key or value.
    TagKey(usize, String),
    TagValue(usize, String),
    AddTag,
    RemoveTag(usize),
    /// A disk of the chosen instance ticked or unticked.
    Disk(String, bool),
    Instant(bool),
    Group(String),
    /// Also clears the target (a disk is not an instance).
    ResourceType(ResourceType),
    /// Also ticks every disk again (another instance).
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
            l if l.starts_with("d-") => A::Disk(i.label, i.checked),
            l => {
                // "Tag Key 1", "Tag Value 1", ...: row 0, ...
                let row = |p: &str| l.strip_prefix(p)?.parse::<usize>().ok()?.checked_sub(1);
                match (row("Tag Key "), row("Tag Value ")) {
                    (Some(n), _) => A::TagKey(n, i.value),
                    (_, Some(n)) => A::TagValue(n, i.value),
                    _ => return None,
                }
            }
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
            tags: vec![(String::new(), String::new())],
            instant: None,
            group: String::new(),
            resource_type: ResourceType::Disk,
            target,
            unticked: Vec::new(),
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
            A::TagKey(n, v) => {
                if let Some(t) = self.tags.get_mut(n) {
                    t.0 = v
                }
            }
            A::TagValue(n, v) => {
                if let Some(t) = self.tags.get_mut(n) {
                    t.1 = v
                }
            }
            A::AddTag if self.tags.len() < MAX_TAGS => self.tags.push((String::new(), String::new())),
            A::AddTag => {}
            A::RemoveTag(n) => {
                if n < self.tags.len() {
                    self.tags.remove(n);
                }
            }
            A::Disk(id, on) => {
                self.unticked.retain(|d| *d != id);
                if !on {
                    self.unticked.push(id)
                }
            }
            A::Instant(v) => self.instant = Some(v),
            A::Group(v) => self.group = v,
            A::ResourceType(t) => (self.resource_type, self.target, self.instant, self.unticked) = (t, String::new(), None, Vec::new()),
            // Another disk: Instant Access follows its category again; another instance: all its disks ticked.
            A::Target(v) => (self.target, self.instant, self.unticked) = (v, None, Vec::new()),
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

    /// Whether a disk of the chosen instance is in the group: ticked (as it
    /// is by default) and not `refused` (see `group_refusal`).
    pub fn ticked(&self, disk_id: &str, refused: bool) -> bool {
        !refused && !self.unticked.iter().any(|d| d == disk_id)
    }

    /// What stops OK before anything is sent: a group with no disk (an
    /// empty DiskId.N would mean all of them).
    pub fn problem(&self, disks: &[String]) -> Option<&'static str> {
        (self.group_snapshot() && disks.is_empty()).then_some("Select an instance and tick at least one of its disks.")
    }

    /// The action and parameters OK submits; `essd`: the target disk is an
    /// ESSD; `disks`: a group's disks (those ticked).
    pub fn request(&self, essd: bool, disks: &[String]) -> (&'static str, Value) {
        let mut params = json!({});
        let named = !self.name.is_empty();
        if self.group_snapshot() {
            params["InstanceId"] = json!(self.target);
            params["DiskId"] = json!(disks);
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
        let tags: Vec<Value> = self.tags.iter().filter(|t| !t.0.is_empty()).map(|(k, v)| json!({"Key": k, "Value": v})).collect();
        if !tags.is_empty() {
            params["Tag"] = json!(tags);
        }
        if !self.group.is_empty() {
            params["ResourceGroupId"] = json!(self.group);
        }
        (if self.group_snapshot() { "CreateSnapshotGroup" } else { "CreateSnapshot" }, params)
    }

    /// What the console sets with ModifySnapshotAttribute on each snapshot of
    /// the group it just made (CreateSnapshotGroup names only the group and
    /// keeps its snapshots permanently): the name and the retention days.
    pub fn group_snapshot_attributes(&self) -> Option<Value> {
        let mut v = json!({});
        if !self.name.is_empty() {
            v["SnapshotName"] = json!(self.name);
        }
        if !self.permanent {
            v["RetentionDays"] = json!(self.days);
        }
        (self.group_snapshot() && v != json!({})).then_some(v)
    }
}

/// Why CreateSnapshotGroup would refuse a disk of the instance, if it
/// would: not an ESSD, not in use, still restoring from OSS, or (`creating`)
/// another snapshot of it still being created.
pub fn group_refusal(d: &DiskRow, creating: bool) -> Option<String> {
    Some(if d.category != "cloud_essd" {
        format!("{}: a group covers ESSDs (cloud_essd) only", d.category)
    } else if d.status != "In_use" {
        format!("{}: the disk must be In Use", d.status)
    } else if !d.hydration_progress.is_empty() && d.hydration_progress != "100%" {
        format!("still being restored from OSS ({})", d.hydration_progress)
    } else if creating {
        "a snapshot of it is still being created".into()
    } else {
        return None;
    })
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
        assert_eq!(A::of(Input::text("Tag Value 1", "v")), Some(A::TagValue(0, "v".into())));
        assert_eq!(A::of(Input::text("Tag Key 20", "k")), Some(A::TagKey(19, "k".into())));
        assert_eq!(A::of(Input::check("d-7", false)), Some(A::Disk("d-7".into(), false)));
        for unknown in ["", "Tag Key", "Tag Key 0", "Tag Key x", "Tag Value -1"] {
            assert_eq!(A::of(Input::text(unknown, "v")), None, "{unknown}");
        }
    }

    #[test]
    fn from_a_disk_the_disk_is_the_target_and_defaults_ask_for_little() {
        let f = SnapshotForm::new(disk());
        assert_eq!(f.target, "d-1");
        assert!(!f.on_page() && f.permanent && f.instant_access(true) && !f.local);
        assert_eq!(f.request(true, &[]), ("CreateSnapshot", json!({"DiskId": "d-1"})));
    }

    #[test]
    fn a_disk_snapshot_sends_what_was_chosen() {
        let f = form(
            disk(),
            vec![A::Name("nightly".into()), A::Local(true), A::Permanent(false), A::Days("7".into()), A::TagKey(0, "k".into()), A::TagValue(0, "v".into())],
        );
        assert_eq!(
            f.request(true, &[]),
            (
                "CreateSnapshot",
                json!({"DiskId": "d-1", "SnapshotName": "nightly", "Category": "flash", "RetentionDays": "7", "Tag": [{"Key": "k", "Value": "v"}]})
            )
        );
        // Days typed while permanent are not sent; a tag value alone is no tag.
        let f = form(disk(), vec![A::Days("7".into()), A::TagValue(0, "v".into()), A::Permanent(false), A::Permanent(true)]);
        assert_eq!(f.request(true, &[]).1, json!({"DiskId": "d-1"}));
    }

    #[test]
    fn instant_access_is_the_pages_choice_only() {
        // From a disk the Instant Access box is not shown: nothing is sent.
        assert_eq!(form(disk(), vec![A::Instant(false)]).request(true, &[]).1, json!({"DiskId": "d-1"}));
        let f = form(SnapshotFrom::Page, vec![A::Target("d-2".into()), A::Instant(false), A::Group("rg-1".into())]);
        assert_eq!(f.request(true, &[]), ("CreateSnapshot", json!({"DiskId": "d-2", "InstantAccess": false, "ResourceGroupId": "rg-1"})));
        assert_eq!(form(SnapshotFrom::Page, vec![A::Target("d-2".into())]).request(true, &[]).1, json!({"DiskId": "d-2"}));
    }

    #[test]
    fn instant_access_defaults_follow_the_disk_category_as_seed_004_says() {
        // An ESSD: on unless turned off; another category: off, and nothing is sent.
        let essd = form(SnapshotFrom::Page, vec![A::Target("d-essd".into())]);
        assert!(essd.instant_access(true));
        let other = form(SnapshotFrom::Page, vec![A::Target("d-ssd".into())]);
        assert!(!other.instant_access(false));
        assert_eq!(other.request(false, &[]).1, json!({"DiskId": "d-ssd"}));
        // Turned off on one disk, then another disk is chosen: its default again.
        let f = form(SnapshotFrom::Page, vec![A::Target("d-1".into()), A::Instant(false)]);
        assert!(!f.instant_access(true));
        let f = f.reduce(A::Target("d-2".into()));
        assert!(f.instant_access(true));
        assert_eq!(f.request(true, &[]).1, json!({"DiskId": "d-2"}));
    }

    #[test]
    fn an_instance_makes_a_group_and_choosing_the_type_clears_the_target() {
        let f = form(SnapshotFrom::Page, vec![A::Target("d-2".into()), A::ResourceType(ResourceType::Instance)]);
        assert_eq!((f.target.as_str(), f.group_snapshot()), ("", true));
        let f = f.reduce(A::Target("i-1".into())).reduce(A::Name("g".into())).reduce(A::Local(true)).reduce(A::Permanent(false));
        let disks = ["d-1".to_string()];
        assert_eq!(f.request(false, &disks), ("CreateSnapshotGroup", json!({"InstanceId": "i-1", "DiskId": ["d-1"], "Name": "g", "InstantAccess": true})));
        let back = f.reduce(A::ResourceType(ResourceType::Disk));
        assert_eq!((back.target.as_str(), back.group_snapshot()), ("", false));
        // Only the page offers groups.
        assert!(!form(disk(), vec![A::ResourceType(ResourceType::Instance)]).group_snapshot());
    }

    fn essd(id: &str, status: &str) -> DiskRow {
        DiskRow { disk_id: id.into(), category: "cloud_essd".into(), status: status.into(), hydration_progress: "100%".into(), ..Default::default() }
    }

    #[test]
    fn a_group_sends_the_disks_ticked_all_it_can_include_by_default() {
        let f = form(SnapshotFrom::Page, vec![A::ResourceType(ResourceType::Instance), A::Target("i-1".into())]);
        // Every disk a group can include is ticked; a refused one never is.
        assert!(f.ticked("d-1", false) && f.ticked("d-2", false) && !f.ticked("d-3", true));
        let f = f.reduce(A::Disk("d-2".into(), false));
        assert!(f.ticked("d-1", false) && !f.ticked("d-2", false));
        let ticked: Vec<String> = ["d-1", "d-2", "d-3"].iter().zip([false, false, true]).filter(|(d, r)| f.ticked(d, *r)).map(|(d, _)| d.to_string()).collect();
        assert_eq!(ticked, ["d-1"]);
        assert_eq!(f.request(true, &ticked), ("CreateSnapshotGroup", json!({"InstanceId": "i-1", "DiskId": ["d-1"], "InstantAccess": true})));
        // Ticked again; unticking twice is once.
        let f = f.reduce(A::Disk("d-2".into(), true)).reduce(A::Disk("d-1".into(), false)).reduce(A::Disk("d-1".into(), false));
        assert_eq!(f.unticked, ["d-1"]);
        // Another instance: all its disks ticked again.
        assert!(f.clone().reduce(A::Target("i-2".into())).unticked.is_empty());
        assert!(f.reduce(A::ResourceType(ResourceType::Disk)).unticked.is_empty());
    }

    #[test]
    fn no_disk_ticked_stops_ok_before_an_empty_disk_list_means_all() {
        let f = form(SnapshotFrom::Page, vec![A::ResourceType(ResourceType::Instance)]);
        assert!(f.problem(&[]).is_some());
        assert_eq!(f.problem(&["d-1".into()]), None);
        // A disk snapshot has no such check.
        assert_eq!(form(SnapshotFrom::Page, vec![]).problem(&[]), None);
        assert_eq!(SnapshotForm::new(disk()).problem(&[]), None);
    }

    #[test]
    fn the_disks_a_group_refuses_say_why() {
        assert_eq!(group_refusal(&essd("d-1", "In_use"), false), None);
        let ssd = DiskRow { category: "cloud_ssd".into(), ..essd("d-2", "In_use") };
        assert_eq!(group_refusal(&ssd, false).unwrap(), "cloud_ssd: a group covers ESSDs (cloud_essd) only");
        assert_eq!(group_refusal(&essd("d-3", "ReIniting"), false).unwrap(), "ReIniting: the disk must be In Use");
        let restoring = DiskRow { hydration_progress: "40%".into(), ..essd("d-4", "In_use") };
        assert_eq!(group_refusal(&restoring, false).unwrap(), "still being restored from OSS (40%)");
        assert_eq!(group_refusal(&essd("d-5", "In_use"), true).unwrap(), "a snapshot of it is still being created");
    }

    #[test]
    fn a_groups_name_and_retention_go_on_its_snapshots_afterwards() {
        let group = |actions: Vec<A>| {
            let mut all = vec![A::ResourceType(ResourceType::Instance), A::Target("i-1".into())];
            all.extend(actions);
            form(SnapshotFrom::Page, all)
        };
        // Permanent and unnamed: nothing to set (CreateSnapshotGroup keeps its snapshots).
        assert_eq!(group(vec![]).group_snapshot_attributes(), None);
        let f = group(vec![A::Name("db-consistent".into()), A::Permanent(false), A::Days("7".into())]);
        assert_eq!(f.group_snapshot_attributes(), Some(json!({"SnapshotName": "db-consistent", "RetentionDays": "7"})));
        // The group request itself carries the name, never RetentionDays.
        assert_eq!(f.request(true, &["d-1".into()]).1, json!({"InstanceId": "i-1", "DiskId": ["d-1"], "Name": "db-consistent", "InstantAccess": true}));
        assert_eq!(group(vec![A::Permanent(false)]).group_snapshot_attributes(), Some(json!({"RetentionDays": "30"})));
        // A disk snapshot takes them in CreateSnapshot.
        assert_eq!(form(disk(), vec![A::Name("n".into()), A::Permanent(false)]).group_snapshot_attributes(), None);
    }

    #[test]
    fn several_tags_are_added_edited_removed_and_sent_in_order() {
        let f = form(
            disk(),
            vec![
                A::TagKey(0, "team".into()),
                A::TagValue(0, "db".into()),
                A::AddTag,
                A::TagKey(1, "env".into()),
                A::AddTag,
                A::TagValue(2, "no key".into()),
                A::AddTag,
                A::TagKey(3, "owner".into()),
                A::TagValue(3, "ops".into()),
            ],
        );
        assert_eq!(f.tags.len(), 4);
        // A row without a key is not sent; a key without a value is.
        assert_eq!(f.request(true, &[]).1["Tag"], json!([{"Key": "team", "Value": "db"}, {"Key": "env", "Value": ""}, {"Key": "owner", "Value": "ops"}]));
        let f = f.reduce(A::RemoveTag(1)).reduce(A::RemoveTag(9));
        assert_eq!(f.request(true, &[]).1["Tag"], json!([{"Key": "team", "Value": "db"}, {"Key": "owner", "Value": "ops"}]));
        // Removing every row sends no tag; a value typed into a row that is gone changes nothing.
        let f = f.reduce(A::RemoveTag(0)).reduce(A::RemoveTag(0)).reduce(A::RemoveTag(0)).reduce(A::TagKey(0, "k".into()));
        assert!(f.tags.is_empty());
        assert_eq!(f.request(true, &[]).1, json!({"DiskId": "d-1"}));
        // ECS allows 20 tags: Add Tag stops there.
        let f = (0..30).fold(f, |f, _| f.reduce(A::AddTag));
        assert_eq!(f.tags.len(), MAX_TAGS);
        // A group sends them too (on the group and each snapshot).
        let g = form(SnapshotFrom::Page, vec![A::ResourceType(ResourceType::Instance), A::Target("i-1".into()), A::TagKey(0, "k".into())]);
        assert_eq!(g.request(true, &["d-1".into()]).1["Tag"], json!([{"Key": "k", "Value": ""}]));
    }
}
