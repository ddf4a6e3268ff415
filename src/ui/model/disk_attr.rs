//! The disk's Modify dialog (ModifyDiskAttribute): its name and description,
//! and what happens with it: released with its instance, its automatic
//! snapshots released with it, automatic snapshots on or off.

use serde_json::{json, Value};

use super::dialogs::Input;

#[derive(Clone, Debug, PartialEq)]
pub struct DiskAttrForm {
    pub id: String,
    pub name: String,
    pub description: String,
    pub delete_with_instance: bool,
    pub delete_auto_snapshot: bool,
    /// Off takes the disk out of its automatic snapshot policy.
    pub enable_auto_snapshot: bool,
    /// Whether the disk has a policy (automatic snapshots can only be turned off).
    pub has_policy: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DiskAttrAction {
    Name(String),
    Description(String),
    DeleteWithInstance(bool),
    DeleteAutoSnapshot(bool),
    EnableAutoSnapshot(bool),
}

impl DiskAttrAction {
    pub fn of(i: Input) -> Option<DiskAttrAction> {
        use DiskAttrAction as A;
        Some(match i.label.as_str() {
            "Disk Name" => A::Name(i.value),
            "Description" => A::Description(i.value),
            "Release with Instance" => A::DeleteWithInstance(i.checked),
            "Release Automatic Snapshots with Disk" => A::DeleteAutoSnapshot(i.checked),
            "Automatic Snapshots" => A::EnableAutoSnapshot(i.checked),
            _ => return None,
        })
    }
}

impl DiskAttrForm {
    /// The form for a disk as DescribeDisks shows it.
    pub fn of(disk: &Value) -> Self {
        let s = |k: &str| disk[k].as_str().unwrap_or_default().to_string();
        let b = |k: &str| disk[k].as_bool().unwrap_or_default();
        DiskAttrForm {
            id: s("DiskId"),
            name: s("DiskName"),
            description: s("Description"),
            delete_with_instance: b("DeleteWithInstance"),
            delete_auto_snapshot: b("DeleteAutoSnapshot"),
            enable_auto_snapshot: b("EnableAutoSnapshot"),
            has_policy: b("EnableAutoSnapshot"),
        }
    }

    pub fn reduce(mut self, action: DiskAttrAction) -> Self {
        use DiskAttrAction as A;
        match action {
            A::Name(v) => self.name = v,
            A::Description(v) => self.description = v,
            A::DeleteWithInstance(v) => self.delete_with_instance = v,
            A::DeleteAutoSnapshot(v) => self.delete_auto_snapshot = v,
            A::EnableAutoSnapshot(v) => self.enable_auto_snapshot = v && self.has_policy,
        }
        self
    }

    pub fn request(&self) -> Value {
        let mut p = json!({
            "DiskId": self.id,
            "DeleteWithInstance": self.delete_with_instance,
            "DeleteAutoSnapshot": self.delete_auto_snapshot,
        });
        if !self.name.is_empty() {
            p["DiskName"] = json!(self.name);
        }
        if !self.description.is_empty() {
            p["Description"] = json!(self.description);
        }
        if self.has_policy && !self.enable_auto_snapshot {
            p["EnableAutoSnapshot"] = json!(false);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_modify_dialog_starts_from_the_disk_and_sends_its_flags() {
        let d =
            json!({"DiskId": "d-1", "DiskName": "data", "Description": "", "DeleteWithInstance": true, "DeleteAutoSnapshot": true, "EnableAutoSnapshot": true});
        let f = DiskAttrForm::of(&d);
        assert_eq!(f.request(), json!({"DiskId": "d-1", "DiskName": "data", "DeleteWithInstance": true, "DeleteAutoSnapshot": true}));
        let f = [
            Input::text("Disk Name", "archive"),
            Input::text("Description", "kept"),
            Input::check("Release with Instance", false),
            Input::check("Release Automatic Snapshots with Disk", false),
            Input::check("Automatic Snapshots", false),
            Input::text("Something Else", "x"),
        ]
        .into_iter()
        .filter_map(DiskAttrAction::of)
        .fold(f, DiskAttrForm::reduce);
        assert_eq!(
            f.request(),
            json!({"DiskId": "d-1", "DiskName": "archive", "Description": "kept", "DeleteWithInstance": false, "DeleteAutoSnapshot": false, "EnableAutoSnapshot": false})
        );
    }

    #[test]
    fn automatic_snapshots_cannot_be_turned_on_without_a_policy() {
        let f = DiskAttrForm::of(&json!({"DiskId": "d-1", "EnableAutoSnapshot": false}));
        let f = f.reduce(DiskAttrAction::EnableAutoSnapshot(true));
        assert!(!f.enable_auto_snapshot);
        assert_eq!(f.request().get("EnableAutoSnapshot"), None);
    }
}
