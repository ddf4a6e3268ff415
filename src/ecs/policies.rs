//! Automatic snapshot policies: CreateAutoSnapshotPolicy,
//! DescribeAutoSnapshotPolicyEx, ModifyAutoSnapshotPolicyEx,
//! DeleteAutoSnapshotPolicy, ApplyAutoSnapshotPolicy, CancelAutoSnapshotPolicy,
//! and the scheduler that takes their snapshots on the console clock.
//!
//! A policy (record `policy/<id>`) names hours of the day (0-23, UTC+8 as
//! ECS counts them) and weekdays (1 Monday .. 7 Sunday); at each such hour
//! every disk it is applied to (in the policy's region) gets an automatic normal snapshot
//! (`SnapshotType` auto, named `auto_YYYYMMDD_N` as ECS names them), kept for the policy's
//! RetentionDays at that moment (-1: until deleted). The scheduler runs with
//! every request, every background tick and every `advanceClock`; when the
//! clock passed several of a policy's hours at once (the console was closed,
//! or the clock jumped) only the latest one is taken, as a machine that was
//! off misses its runs. A disk that cannot be snapshotted then (a snapshot
//! still uploading, the instance not Running or Stopped, ...) skips that run,
//! as ECS skips overlapping runs. When the disk already has its 64
//! snapshots, its oldest automatic snapshot that no image uses is deleted
//! first (ECS's auto quota rule); failing that the run is skipped.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, Disk, Record, Snapshot, SnapshotType};
use super::params::{check_name, Params};
use super::snapshot_ops::{self, SNAPSHOTS_PER_DISK};
use super::time::iso;
use crate::engine::Store;
use crate::error::{Error, Result};

/// Policies per region (ECS: 100).
pub const POLICIES_PER_REGION: usize = 100;
const HOUR_MS: u64 = 3_600_000;
/// ECS counts policy hours in UTC+8.
const UTC8_MS: u64 = 8 * HOUR_MS;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default)]
pub struct Policy {
    pub id: String,
    pub seq: u64,
    pub region: String,
    pub name: String,
    /// Hours of the day, UTC+8, ascending.
    pub time_points: Vec<u8>,
    /// 1 Monday .. 7 Sunday, ascending.
    pub weekdays: Vec<u8>,
    /// -1: kept until deleted.
    pub retention_days: i64,
    pub created: u64,
    /// The console-clock hour (ms, UTC) up to which runs are done.
    pub done_until: u64,
}

impl Record for Policy {
    fn key(&self) -> String {
        keys::policy(&self.id)
    }
}

fn key(id: &str) -> String {
    keys::policy(id)
}

fn list_param(p: &Params, name: &str, code: &str, lo: u8, hi: u8, what: &str) -> Result<Option<Vec<u8>>, Error> {
    if p.str(name).is_none() && p.json_list(name).map(|l| l.is_empty()).unwrap_or(true) {
        return Ok(None);
    }
    let bad = || Error::bad(code, format!("{name} is a JSON array of {what} ({lo} to {hi}), at least one, e.g. [\"{lo}\", \"{hi}\"]."));
    let items = p.json_list(name).map_err(|_| bad())?;
    let mut out = Vec::with_capacity(items.len());
    for i in items {
        let n: u8 = i.trim().parse().map_err(|_| bad())?;
        if !(lo..=hi).contains(&n) {
            return Err(bad());
        }
        out.push(n);
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(bad());
    }
    Ok(Some(out))
}

fn retention_param(p: &Params) -> Result<Option<i64>> {
    match p.int("retentionDays", "InvalidRetentionDays.Malformed")? {
        Some(d) if d == -1 || (1..=65_535).contains(&d) => Ok(Some(d)),
        Some(_) => Err(Error::bad("InvalidRetentionDays.Malformed", "retentionDays is -1 (kept until deleted) or 1 to 65535.")),
        None => Ok(None),
    }
}

fn name_param(p: &Params) -> Result<Option<String>> {
    match p.str("autoSnapshotPolicyName") {
        Some(n) if !n.is_empty() => {
            check_name(&n, "InvalidAutoSnapshotPolicyName.Malformed", "policy name", &[])?;
            Ok(Some(n))
        }
        _ => Ok(None),
    }
}

/// A policy of this request's region.
async fn policy<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Policy> {
    cx.load::<Policy>(&key(id))
        .await?
        .filter(|x| x.region == cx.region)
        .ok_or_else(|| Error::not_found("InvalidAutoSnapshotPolicyId.NotFound", format!("The automatic snapshot policy \"{id}\" does not exist.")))
}

/// The next full hour at or after `ms`.
fn hour_ceil(ms: u64) -> u64 {
    ms.div_ceil(HOUR_MS) * HOUR_MS
}

/// Whether the policy runs at the UTC hour starting at `at` (ms).
fn runs_at(p: &Policy, at: u64) -> bool {
    let local = at + UTC8_MS;
    let hour = ((local / HOUR_MS) % 24) as u8;
    let day = local / (24 * HOUR_MS);
    // 1970-01-01 was a Thursday (ISO weekday 4).
    let weekday = ((day + 3) % 7 + 1) as u8;
    p.time_points.contains(&hour) && p.weekdays.contains(&weekday)
}

/// The latest hour in (`after`, `now`] at which the policy runs, looking
/// back at most a week (every policy runs at least once a week).
fn latest_run(p: &Policy, after: u64, now: u64) -> Option<u64> {
    let mut at = now / HOUR_MS * HOUR_MS;
    for _ in 0..=7 * 24 {
        if at <= after {
            return None;
        }
        if runs_at(p, at) {
            return Some(at);
        }
        at = at.checked_sub(HOUR_MS)?;
    }
    None
}

fn policy_json(p: &Policy, disks: usize) -> Value {
    let strs = |v: &[u8]| serde_json::to_string(&v.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    json!({
        "AutoSnapshotPolicyId": p.id,
        "AutoSnapshotPolicyName": p.name,
        "RegionId": p.region,
        "TimePoints": strs(&p.time_points),
        "RepeatWeekdays": strs(&p.weekdays),
        "RetentionDays": p.retention_days,
        "DiskNums": disks,
        "VolumeNums": 0,
        "Status": "Normal",
        "CreationTime": iso(p.created),
        "EnableCrossRegionCopy": false,
        "TargetCopyRegions": "[]",
        "CopiedSnapshotsRetentionDays": -1,
        "Tags": {"Tag": []},
        "ResourceGroupId": "",
    })
}

async fn disks_of<S: Store>(cx: &mut Cx<'_, S>, id: &str) -> Result<Vec<Disk>> {
    let disks: Vec<Disk> = cx.scan(keys::DISKS).await?;
    Ok(disks.into_iter().filter(|d| d.auto_snapshot_policy_id == id).collect())
}

pub(super) async fn create<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let time_points = list_param(p, "timePoints", "InvalidTimePoints.Malformed", 0, 23, "hours of the day, UTC+8")?
        .ok_or_else(|| Error::bad("MissingParameter", "timePoints is required: a JSON array of hours (0 to 23, UTC+8)."))?;
    let weekdays = list_param(p, "repeatWeekdays", "InvalidRepeatWeekdays.Malformed", 1, 7, "weekdays, 1 Monday to 7 Sunday")?
        .ok_or_else(|| Error::bad("MissingParameter", "repeatWeekdays is required: a JSON array of weekdays (1 Monday to 7 Sunday)."))?;
    let retention_days =
        retention_param(p)?.ok_or_else(|| Error::bad("MissingParameter", "retentionDays is required: -1 (kept until deleted) or 1 to 65535."))?;
    let name = name_param(p)?;
    let all: Vec<Policy> = cx.scan(keys::POLICIES).await?;
    if all.iter().filter(|x| x.region == cx.region).count() >= POLICIES_PER_REGION {
        return Err(Error::forbidden(
            "QuotaExceed.AutoSnapshotPolicy",
            format!("A region holds at most {POLICIES_PER_REGION} automatic snapshot policies. Delete one first."),
        ));
    }
    let id = cx.new_id("sp-");
    let pol = Policy {
        name: name.unwrap_or_else(|| id.clone()),
        id: id.clone(),
        seq: cx.next_seq(),
        region: cx.region.clone(),
        time_points,
        weekdays,
        retention_days,
        created: cx.now,
        done_until: cx.now,
    };
    cx.put(&pol);
    Ok(json!({"AutoSnapshotPolicyId": id}))
}

pub(super) async fn describe<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let wanted = p.str("AutoSnapshotPolicyId");
    let mut all: Vec<Policy> = cx.scan(keys::POLICIES).await?;
    all.retain(|x| x.region == cx.region && wanted.as_ref().is_none_or(|w| *w == x.id));
    super::params::newest_first(&mut all, |x| (x.seq, 0));
    let disks: Vec<Disk> = cx.scan(keys::DISKS).await?;
    let (total, number, size, items) = super::params::page(all, p)?;
    let items: Vec<Value> = items.iter().map(|x| policy_json(x, disks.iter().filter(|d| d.auto_snapshot_policy_id == x.id).count())).collect();
    Ok(json!({"AutoSnapshotPolicies": {"AutoSnapshotPolicy": items}, "TotalCount": total, "PageNumber": number, "PageSize": size}))
}

pub(super) async fn modify<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("autoSnapshotPolicyId")?;
    let time_points = list_param(p, "timePoints", "InvalidTimePoints.Malformed", 0, 23, "hours of the day, UTC+8")?;
    let weekdays = list_param(p, "repeatWeekdays", "InvalidRepeatWeekdays.Malformed", 1, 7, "weekdays, 1 Monday to 7 Sunday")?;
    let retention_days = retention_param(p)?;
    let name = name_param(p)?;
    let mut pol = policy(cx, &id).await?;
    // A new retention applies to snapshots taken from now on.
    if let Some(t) = time_points {
        pol.time_points = t;
    }
    if let Some(w) = weekdays {
        pol.weekdays = w;
    }
    if let Some(r) = retention_days {
        pol.retention_days = r;
    }
    if let Some(n) = name {
        pol.name = n;
    }
    cx.put(&pol);
    Ok(json!({}))
}

pub(super) async fn delete<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("autoSnapshotPolicyId")?;
    policy(cx, &id).await?;
    // Its disks keep their snapshots and have no policy any more.
    for mut d in disks_of(cx, &id).await? {
        d.auto_snapshot_policy_id.clear();
        cx.put(&d);
    }
    cx.delete(&key(&id));
    Ok(json!({}))
}

fn disk_ids(p: &Params) -> Result<Vec<String>> {
    let ids = p.json_list("diskIds")?;
    if ids.is_empty() {
        return Err(Error::bad("MissingParameter", "diskIds is required: a JSON array of disk IDs."));
    }
    if ids.len() > 1000 {
        return Err(Error::invalid("diskIds", "at most 1000 disk IDs"));
    }
    Ok(ids)
}

pub(super) async fn apply<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let id = p.required("autoSnapshotPolicyId")?;
    let ids = disk_ids(p)?;
    policy(cx, &id).await?;
    // Every disk must exist before any changes (one request, all or nothing).
    let mut disks = Vec::with_capacity(ids.len());
    for d in &ids {
        disks.push(cx.disk(d).await?);
    }
    for mut d in disks {
        // A disk follows one policy: applying another replaces it.
        d.auto_snapshot_policy_id = id.clone();
        cx.put(&d);
    }
    Ok(json!({}))
}

pub(super) async fn cancel<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let ids = disk_ids(p)?;
    let mut disks = Vec::with_capacity(ids.len());
    for d in &ids {
        disks.push(cx.disk(d).await?);
    }
    for mut d in disks {
        d.auto_snapshot_policy_id.clear();
        cx.put(&d);
    }
    Ok(json!({}))
}

/// Takes the automatic snapshots that became due (see the module docs).
pub(super) async fn run_due<S: Store>(cx: &mut Cx<'_, S>) -> Result<()> {
    let policies: Vec<Policy> = cx.scan(keys::POLICIES).await?;
    if policies.is_empty() {
        return Ok(());
    }
    let mut disks: Option<Vec<Disk>> = None; // read once some policy is due
    for mut pol in policies {
        let now = cx.now;
        if now < hour_ceil(pol.done_until.saturating_add(1)) {
            continue; // no new hour since the last look
        }
        let due = latest_run(&pol, pol.done_until, now);
        pol.done_until = now;
        cx.put(&pol);
        let Some(at) = due else { continue };
        if disks.is_none() {
            disks = Some(cx.scan(keys::DISKS).await?);
        }
        let ids: Vec<String> = disks.iter().flatten().filter(|d| d.auto_snapshot_policy_id == pol.id).map(|d| d.id.clone()).collect();
        // The policy's region, whatever region the request that noticed the hour.
        let region = std::mem::replace(&mut cx.region, pol.region.clone());
        let mut result = Ok(());
        for id in &ids {
            result = take(cx, &pol, id, at).await;
            if result.is_err() {
                break;
            }
        }
        cx.region = region;
        result?;
    }
    Ok(())
}

/// One automatic snapshot of disk `id` for the run at `at`. A disk that
/// cannot take one now skips the run (ECS's 4xx checks, made before anything
/// is written); only a failure of the store itself fails the request.
async fn take<S: Store>(cx: &mut Cx<'_, S>, pol: &Policy, id: &str, at: u64) -> Result<()> {
    let skip = |e: Error| if e.http_status < 500 { Ok(()) } else { Err(e) };
    // The disk as it is now (its state may have moved on by itself).
    let disk = match cx.disk(id).await {
        Ok(d) => d,
        Err(e) => return skip(e),
    };
    // The state checks first: nothing is given up for a run that cannot happen.
    let snaps = cx.all_snapshots().await?;
    if let Err(e) = snapshot_ops::check_state(cx, &disk, &snaps).await {
        return skip(e);
    }
    // ECS's auto quota: when the disk is full, its oldest automatic snapshot goes.
    let mine: Vec<&Snapshot> = snaps.iter().filter(|s| s.source_disk_id == disk.id).collect();
    if mine.len() >= SNAPSHOTS_PER_DISK {
        let oldest = mine.iter().filter(|s| s.snapshot_type == SnapshotType::Auto && s.images.is_empty() && s.disks_created.is_empty()).min_by_key(|s| s.seq);
        match oldest {
            Some(s) => snapshot_ops::drop(cx, s).await?,
            None => return Ok(()),
        }
    }
    // Named as ECS names them: auto_<yyyyMMdd>_<n>, n counting the disk's
    // automatic snapshots of that day (UTC+8).
    let day = iso(at + UTC8_MS).get(..10).unwrap_or("").replace('-', "");
    let prefix = format!("auto_{day}_");
    let n = mine.iter().filter(|s| s.snapshot_type == SnapshotType::Auto && s.name.starts_with(&prefix)).count() + 1;
    let retention = (pol.retention_days > 0).then_some(pol.retention_days as u64);
    match snapshot_ops::take_auto(cx, &disk, format!("{prefix}{n}"), retention).await {
        Ok(_) => Ok(()),
        Err(e) => skip(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(hours: &[u8], days: &[u8]) -> Policy {
        Policy { time_points: hours.to_vec(), weekdays: days.to_vec(), ..Default::default() }
    }

    #[test]
    fn hours_and_weekdays_are_utc_plus_8() {
        // 2026-11-23 is a Monday; 01:00 UTC+8 that day is 2026-11-22 17:00 UTC.
        let monday_1am_utc8 = 1_795_366_800_000u64; // 2026-11-22T17:00:00Z
        assert_eq!(iso(monday_1am_utc8), "2026-11-22T17:00:00Z");
        assert!(runs_at(&pol(&[1], &[1]), monday_1am_utc8));
        assert!(!runs_at(&pol(&[1], &[7]), monday_1am_utc8), "not a Sunday in UTC+8");
        assert!(!runs_at(&pol(&[17], &[1]), monday_1am_utc8), "hours count in UTC+8, not UTC");
        let p = pol(&[1, 13], &[1]);
        assert_eq!(latest_run(&p, 0, monday_1am_utc8 + 30 * 60_000), Some(monday_1am_utc8));
        assert_eq!(latest_run(&p, monday_1am_utc8, monday_1am_utc8 + 11 * HOUR_MS), None, "nothing new since");
        assert_eq!(latest_run(&p, 0, monday_1am_utc8 + 12 * HOUR_MS), Some(monday_1am_utc8 + 12 * HOUR_MS));
        // A week later the latest Monday run is found, not an older one.
        assert_eq!(latest_run(&p, 0, monday_1am_utc8 + 7 * 24 * HOUR_MS + HOUR_MS), Some(monday_1am_utc8 + 7 * 24 * HOUR_MS));
    }
}
