//! The Copy Snapshot and Copy Image dialogs (seed 002's geo-disaster
//! recovery, seed 000's migration to another region): the destination region,
//! the copy's name and description (and a snapshot copy's retention), and the
//! request OK submits.

use serde_json::{json, Value};

use super::dialogs::Input;

/// What is copied.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Copying {
    Snapshot,
    Image,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CopyForm {
    pub what: Copying,
    /// The source's id.
    pub id: String,
    pub region: String,
    pub name: String,
    pub description: String,
    /// Days, as typed; empty: kept until deleted.
    pub days: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CopyAction {
    Region(String),
    Name(String),
    Description(String),
    Days(String),
}

impl CopyAction {
    pub fn of(i: Input) -> Option<CopyAction> {
        use CopyAction as A;
        let f = match i.label.as_str() {
            "Destination Region" => A::Region,
            "Name" => A::Name,
            "Description" => A::Description,
            "Retention Days" => A::Days,
            _ => return None,
        };
        Some(f(i.value))
    }
}

/// The regions a copy may go to: every region but `here`.
pub fn destinations<'a>(regions: &[&'a str], here: &str) -> Vec<&'a str> {
    regions.iter().copied().filter(|r| *r != here).collect()
}

impl CopyForm {
    /// `region`: the first destination offered.
    pub fn new(what: Copying, id: &str, region: &str) -> Self {
        CopyForm { what, id: id.into(), region: region.into(), name: String::new(), description: String::new(), days: String::new() }
    }

    pub fn reduce(mut self, action: CopyAction) -> Self {
        match action {
            CopyAction::Region(v) => self.region = v,
            CopyAction::Name(v) => self.name = v,
            CopyAction::Description(v) => self.description = v,
            CopyAction::Days(v) => self.days = v,
        }
        self
    }

    /// The action and its parameters (empty fields are left out).
    pub fn request(&self) -> (&'static str, Value) {
        let (action, id, name, description) = match self.what {
            Copying::Snapshot => ("CopySnapshot", "SnapshotId", "DestinationSnapshotName", "DestinationSnapshotDescription"),
            Copying::Image => ("CopyImage", "ImageId", "DestinationImageName", "DestinationDescription"),
        };
        let mut p = json!({id: self.id, "DestinationRegionId": self.region});
        for (k, v) in [(name, &self.name), (description, &self.description)] {
            if !v.is_empty() {
                p[k] = json!(v);
            }
        }
        if self.what == Copying::Snapshot && !self.days.is_empty() {
            p["RetentionDays"] = json!(self.days);
        }
        (action, p)
    }

    /// The Describe call that follows the copy `id` in its region, and where its status and progress are.
    pub fn follow(&self, id: &str) -> (&'static str, Value) {
        match self.what {
            Copying::Snapshot => ("DescribeSnapshots", json!({"RegionId": self.region, "SnapshotIds": [id]})),
            Copying::Image => ("DescribeImages", json!({"RegionId": self.region, "ImageId": id})),
        }
    }
}

/// The copy's status and progress from the Describe response `follow` asked for.
pub fn copy_state(v: &Value) -> Option<(String, String)> {
    let item = v.get("Snapshots").map(|s| &s["Snapshot"][0]).or_else(|| v.get("Images").map(|i| &i["Image"][0]))?;
    Some((item["Status"].as_str()?.to_string(), item["Progress"].as_str().unwrap_or_default().to_string()))
}

/// Whether the copy is done (accomplished, Available) or failed.
pub fn copy_done(status: &str) -> bool {
    matches!(status, "accomplished" | "Available" | "failed" | "CreateFailed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(what: Copying, inputs: &[(&str, &str)]) -> CopyForm {
        inputs.iter().filter_map(|(l, v)| CopyAction::of(Input::text(l, v))).fold(CopyForm::new(what, "x-1", "cn-shanghai"), CopyForm::reduce)
    }

    #[test]
    fn copy_snapshot_sends_what_was_filled() {
        assert_eq!(destinations(&["cn-hangzhou", "cn-shanghai", "cn-beijing"], "cn-hangzhou"), ["cn-shanghai", "cn-beijing"]);
        assert_eq!(form(Copying::Snapshot, &[]).request(), ("CopySnapshot", json!({"SnapshotId": "x-1", "DestinationRegionId": "cn-shanghai"})));
        let f = form(
            Copying::Snapshot,
            &[("Destination Region", "cn-beijing"), ("Name", "dr"), ("Description", "geo copy"), ("Retention Days", "30"), ("Other", "x")],
        );
        assert_eq!(
            f.request(),
            (
                "CopySnapshot",
                json!({"SnapshotId": "x-1", "DestinationRegionId": "cn-beijing", "DestinationSnapshotName": "dr", "DestinationSnapshotDescription": "geo copy", "RetentionDays": "30"})
            )
        );
        assert_eq!(f.follow("s-2"), ("DescribeSnapshots", json!({"RegionId": "cn-beijing", "SnapshotIds": ["s-2"]})));
    }

    #[test]
    fn copy_image_has_no_retention() {
        let f = form(Copying::Image, &[("Name", "golden"), ("Retention Days", "30")]);
        assert_eq!(f.request(), ("CopyImage", json!({"ImageId": "x-1", "DestinationRegionId": "cn-shanghai", "DestinationImageName": "golden"})));
        assert_eq!(f.follow("m-2").0, "DescribeImages");
    }

    #[test]
    fn the_copy_is_followed_until_done() {
        let s = json!({"Snapshots": {"Snapshot": [{"Status": "progressing", "Progress": "40%"}]}});
        assert_eq!(copy_state(&s), Some(("progressing".into(), "40%".into())));
        let i = json!({"Images": {"Image": [{"Status": "Available", "Progress": "100%"}]}});
        assert_eq!(copy_state(&i), Some(("Available".into(), "100%".into())));
        assert_eq!(copy_state(&json!({"Snapshots": {"Snapshot": []}})), None);
        assert!(copy_done("accomplished") && copy_done("Available") && !copy_done("progressing") && !copy_done("Creating"));
    }
}
