//! Automatic snapshot policies: how the tab shows a policy's time points and
//! weekdays, the Create Policy form (Modify reuses it, prefilled), and Apply
//! to Disks' choice and requests.

use serde_json::{json, Value};

use super::dialogs::Input;
use super::rows::{DiskRow, PolicyRow};

pub const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// `["1","3"]` (a JSON array in a string, as ECS returns it) as numbers.
pub fn numbers(v: &str) -> Vec<u8> {
    serde_json::from_str::<Vec<String>>(v).unwrap_or_default().iter().filter_map(|n| n.parse().ok()).collect()
}

/// An hour as the tab and the dialog show it: `02:00`.
pub fn hour_text(h: u8) -> String {
    format!("{h:02}:00")
}

/// Time points as `02:00, 14:00`.
pub fn hours_text(v: &str) -> String {
    numbers(v).into_iter().map(hour_text).collect::<Vec<_>>().join(", ")
}

/// Weekdays as `Mon, Wed`, or `Every day`.
pub fn days_text(v: &str) -> String {
    let d = numbers(v);
    if d.len() == 7 {
        return "Every day".into();
    }
    d.iter().filter_map(|n| WEEKDAYS.get((*n as usize).wrapping_sub(1))).map(|w| &w[..3]).collect::<Vec<_>>().join(", ")
}

/// Numbers as ECS takes them: a JSON array of strings, in a string.
fn strings(v: &[u8]) -> String {
    serde_json::to_string(&v.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap_or_default()
}

/// Create Automatic Snapshot Policy, or Modify one (its fields prefilled).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyForm {
    /// The policy modified (empty: a new one).
    pub id: String,
    pub name: String,
    /// Hours (0-23), sorted.
    pub hours: Vec<u8>,
    /// Weekdays (1 is Monday), sorted.
    pub days: Vec<u8>,
    pub permanent: bool,
    /// Retention days when not permanent, as typed.
    pub retention: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PolicyAction {
    Name(String),
    Hour(u8, bool),
    Day(u8, bool),
    Permanent(bool),
    Retention(String),
}

impl PolicyAction {
    /// Hours are named `02:00`, weekdays `Monday`; the radios `Retained for
    /// days` and `Permanent Retention`.
    pub fn of(i: Input) -> Option<PolicyAction> {
        use PolicyAction as A;
        Some(match i.label.as_str() {
            "Policy Name" => A::Name(i.value),
            "Retention Days" => A::Retention(i.value),
            "Retained for days" => A::Permanent(!i.checked),
            "Permanent Retention" => A::Permanent(i.checked),
            l => match WEEKDAYS.iter().position(|d| *d == l) {
                Some(d) => A::Day(d as u8 + 1, i.checked),
                None => A::Hour(l.strip_suffix(":00")?.parse().ok().filter(|h| *h < 24)?, i.checked),
            },
        })
    }
}

/// Puts `n` in or out of a sorted set.
fn toggle(set: &mut Vec<u8>, n: u8, on: bool) {
    set.retain(|x| *x != n);
    if on {
        set.push(n);
        set.sort_unstable();
    }
}

impl Default for PolicyForm {
    /// At 02:00 every day, kept 7 days.
    fn default() -> Self {
        PolicyForm { id: String::new(), name: String::new(), hours: vec![2], days: (1..=7).collect(), permanent: false, retention: "7".into() }
    }
}

impl PolicyForm {
    /// Modify: the policy as it is (a permanent one offers 7 days if switched to days).
    pub fn of(p: &PolicyRow) -> Self {
        let days = p.retention_days.unwrap_or(-1);
        PolicyForm {
            id: p.auto_snapshot_policy_id.clone(),
            name: p.auto_snapshot_policy_name.clone(),
            hours: numbers(&p.time_points),
            days: numbers(&p.repeat_weekdays),
            permanent: days < 0,
            retention: if days < 0 { "7".into() } else { days.to_string() },
        }
    }

    pub fn reduce(mut self, action: PolicyAction) -> Self {
        use PolicyAction as A;
        match action {
            A::Name(v) => self.name = v,
            A::Hour(h, on) => toggle(&mut self.hours, h, on),
            A::Day(d, on) => toggle(&mut self.days, d, on),
            A::Permanent(v) => self.permanent = v,
            A::Retention(v) => self.retention = v,
        }
        self
    }

    /// CreateAutoSnapshotPolicy, or ModifyAutoSnapshotPolicyEx of the policy
    /// (every field sent: ECS keeps the name when it is left empty).
    pub fn request(&self) -> (&'static str, Value) {
        let retention = if self.permanent { "-1" } else { &self.retention };
        let mut params = json!({"timePoints": strings(&self.hours), "repeatWeekdays": strings(&self.days), "retentionDays": retention});
        if !self.name.is_empty() {
            params["autoSnapshotPolicyName"] = json!(self.name);
        }
        if self.id.is_empty() {
            return ("CreateAutoSnapshotPolicy", params);
        }
        params["autoSnapshotPolicyId"] = json!(self.id);
        ("ModifyAutoSnapshotPolicyEx", params)
    }
}

/// Apply Policy to Disks: the disks checked (None until the disks are read).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyForm {
    pub chosen: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ApplyAction {
    /// The disks that follow the policy now, once read: the first choice
    /// (ignored once there is one).
    Start(Vec<String>),
    /// A disk (un)checked.
    Disk(String, bool),
}

impl ApplyAction {
    /// Each disk's checkbox is named by the disk's ID.
    pub fn of(i: Input) -> Option<ApplyAction> {
        Some(ApplyAction::Disk(i.label, i.checked))
    }
}

impl ApplyForm {
    pub fn reduce(mut self, action: ApplyAction) -> Self {
        match action {
            ApplyAction::Start(v) => {
                self.chosen.get_or_insert(v);
            }
            ApplyAction::Disk(id, on) => {
                let v = self.chosen.get_or_insert_with(Vec::new);
                v.retain(|x| *x != id);
                if on {
                    v.push(id);
                }
            }
        }
        self
    }

    pub fn checked(&self) -> &[String] {
        self.chosen.as_deref().unwrap_or_default()
    }

    /// The calls OK makes, in order: apply the policy to the checked disks,
    /// then cancel it on those that followed it and are unchecked.
    pub fn requests(&self, policy_id: &str, before: &[String]) -> Vec<(&'static str, Value)> {
        let now = self.checked();
        let dropped: Vec<&String> = before.iter().filter(|d| !now.contains(d)).collect();
        let mut calls = Vec::new();
        if !now.is_empty() {
            calls.push(("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": policy_id, "diskIds": now})));
        }
        if !dropped.is_empty() {
            calls.push(("CancelAutoSnapshotPolicy", json!({"diskIds": dropped})));
        }
        calls
    }
}

/// The disks that follow a policy.
pub fn following(disks: &[DiskRow], policy_id: &str) -> Vec<String> {
    disks.iter().filter(|d| d.auto_snapshot_policy_id == policy_id).map(|d| d.disk_id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::PolicyAction as A;
    use super::*;

    #[test]
    fn time_points_and_weekdays_read_as_ecs_writes_them() {
        assert_eq!(numbers("[\"1\",\"3\"]"), [1, 3]);
        assert_eq!(numbers("nonsense"), Vec::<u8>::new());
        assert_eq!(hours_text("[\"2\",\"14\"]"), "02:00, 14:00");
        assert_eq!(days_text("[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]"), "Every day");
        assert_eq!(days_text("[\"1\",\"3\",\"9\"]"), "Mon, Wed");
    }

    #[test]
    fn inputs_name_hours_days_and_the_retention() {
        let of = |l: &str, on: bool| PolicyAction::of(Input::check(l, on));
        assert_eq!(of("05:00", true), Some(A::Hour(5, true)));
        assert_eq!(of("Sunday", false), Some(A::Day(7, false)));
        assert_eq!(of("Permanent Retention", true), Some(A::Permanent(true)));
        assert_eq!(of("Retained for days", true), Some(A::Permanent(false)));
        assert_eq!((of("24:00", true), of("Close", true)), (None, None));
        assert_eq!(PolicyAction::of(Input::text("Retention Days", "9")), Some(A::Retention("9".into())));
    }

    #[test]
    fn create_policy_defaults_and_choices() {
        let f = PolicyForm::default();
        assert_eq!(
            f.request(),
            (
                "CreateAutoSnapshotPolicy",
                json!({"timePoints": "[\"2\"]", "repeatWeekdays": "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\"]", "retentionDays": "7"})
            )
        );
        let f =
            [A::Hour(14, true), A::Hour(0, true), A::Hour(2, false), A::Hour(14, true), A::Day(2, false), A::Name("nightly".into()), A::Retention("3".into())]
                .into_iter()
                .fold(f, PolicyForm::reduce);
        assert_eq!(f.hours, [0, 14]);
        assert_eq!(
            f.request().1,
            json!({"timePoints": "[\"0\",\"14\"]", "repeatWeekdays": "[\"1\",\"3\",\"4\",\"5\",\"6\",\"7\"]", "retentionDays": "3", "autoSnapshotPolicyName": "nightly"})
        );
        // Permanent sends -1, whatever days were typed.
        assert_eq!(f.reduce(A::Permanent(true)).request().1["retentionDays"], "-1");
    }

    #[test]
    fn modify_starts_from_the_policy_and_sends_its_id() {
        let row = PolicyRow {
            auto_snapshot_policy_id: "sp-1".into(),
            auto_snapshot_policy_name: "nightly".into(),
            time_points: "[\"2\",\"14\"]".into(),
            repeat_weekdays: "[\"1\",\"5\"]".into(),
            retention_days: Some(30),
            ..PolicyRow::default()
        };
        let f = PolicyForm::of(&row);
        assert_eq!((f.hours.clone(), f.days.clone(), f.permanent, f.retention.as_str()), (vec![2, 14], vec![1, 5], false, "30"));
        // Unchanged, it sends the policy as it is.
        assert_eq!(
            f.request(),
            (
                "ModifyAutoSnapshotPolicyEx",
                json!({"autoSnapshotPolicyId": "sp-1", "autoSnapshotPolicyName": "nightly", "timePoints": "[\"2\",\"14\"]",
                    "repeatWeekdays": "[\"1\",\"5\"]", "retentionDays": "30"})
            )
        );
        let f = f.reduce(A::Hour(14, false)).reduce(A::Hour(3, true)).reduce(A::Permanent(true));
        let (action, params) = f.request();
        assert_eq!((action, &params["timePoints"], &params["retentionDays"]), ("ModifyAutoSnapshotPolicyEx", &json!("[\"2\",\"3\"]"), &json!("-1")));
        // A permanent policy: the permanent radio, and 7 days should it be switched.
        let permanent = PolicyForm::of(&PolicyRow { retention_days: Some(-1), ..row });
        assert_eq!((permanent.permanent, permanent.retention.as_str()), (true, "7"));
        assert_eq!(permanent.reduce(A::Permanent(false)).request().1["retentionDays"], "7");
    }

    #[test]
    fn apply_starts_from_the_disks_that_follow_and_sends_the_difference() {
        let disk = |id: &str, p: &str| DiskRow { disk_id: id.into(), auto_snapshot_policy_id: p.into(), ..DiskRow::default() };
        let disks = [disk("d-1", "sp-1"), disk("d-2", ""), disk("d-3", "sp-1"), disk("d-4", "sp-2")];
        let before = following(&disks, "sp-1");
        assert_eq!(before, ["d-1", "d-3"]);
        let f = ApplyForm::default().reduce(ApplyAction::Start(before.clone()));
        // Read again later: the choice made is kept.
        let f = f.reduce(ApplyAction::Disk("d-3".into(), false)).reduce(ApplyAction::Start(before.clone()));
        assert_eq!(f.checked(), ["d-1"]);
        let f = ApplyAction::of(Input::check("d-4", true)).into_iter().fold(f, ApplyForm::reduce);
        assert_eq!(
            f.requests("sp-1", &before),
            vec![
                ("ApplyAutoSnapshotPolicy", json!({"autoSnapshotPolicyId": "sp-1", "diskIds": ["d-1", "d-4"]})),
                ("CancelAutoSnapshotPolicy", json!({"diskIds": ["d-3"]})),
            ]
        );
        // Nothing checked: only the cancel; nothing before and nothing checked: no call.
        let none = f.reduce(ApplyAction::Disk("d-1".into(), false)).reduce(ApplyAction::Disk("d-4".into(), false));
        assert_eq!(none.requests("sp-1", &before), vec![("CancelAutoSnapshotPolicy", json!({"diskIds": ["d-1", "d-3"]}))]);
        assert!(ApplyForm::default().requests("sp-1", &[]).is_empty());
    }
}
