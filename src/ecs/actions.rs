//! The ECS actions by name: one table maps each ECS action to its handler in
//! the module of its resource, so the list of actions (`ACTIONS`) and the
//! dispatcher are made from the same lines and cannot drift. ClientToken
//! idempotency wraps the handlers here.
//!
//! Every handler is `async fn(cx, params) -> Result<Value>` and checks, in
//! ECS's order, parameters (400), existence (404), state (403) and quota
//! (403) before it changes anything.

use serde_json::Value;

use super::cx::Cx;
use super::model::{keys, Token};
use super::params::Params;
use super::{blockmap, copies, disks, groups, images, instances, policies, regions, snapshots, tags, tasks};
use crate::engine::Store;
use crate::error::{Error, Result};

macro_rules! actions {
    ($($name:literal => $handler:path,)+) => {
        /// Every action this layer answers, by its ECS name.
        pub const ACTIONS: &[&str] = &[$($name,)+];

        async fn run<S: Store>(cx: &mut Cx<'_, S>, action: &str, p: &Params) -> Result<Value> {
            match action {
                $($name => $handler(cx, p).await,)+
                _ => Err(unknown(action)),
            }
        }
    };
}

actions! {
    "DescribeRegions" => regions::describe_regions,
    "DescribeZones" => regions::describe_zones,
    "RunInstances" => instances::run_instances,
    "DescribeInstances" => instances::describe_instances,
    "StartInstance" => instances::start_instance,
    "StopInstance" => instances::stop_instance,
    "RebootInstance" => instances::reboot_instance,
    "ResumeInstance" => instances::resume_instance,
    "DeleteInstance" => instances::delete_instance,
    "CreateDisk" => disks::create_disk,
    "DescribeDisks" => disks::describe_disks,
    "AttachDisk" => disks::attach_disk,
    "DetachDisk" => disks::detach_disk,
    "DeleteDisk" => disks::delete_disk,
    "ResizeDisk" => disks::resize_disk,
    "ModifyDiskAttribute" => disks::modify_disk_attribute,
    "CreateSnapshot" => snapshots::create_snapshot,
    "DescribeSnapshots" => snapshots::describe_snapshots,
    "DeleteSnapshot" => snapshots::delete_snapshot,
    "ModifySnapshotAttribute" => snapshots::modify_snapshot_attribute,
    "DescribeSnapshotsUsage" => snapshots::describe_snapshots_usage,
    "CopySnapshot" => copies::copy_snapshot,
    "ResetDisk" => snapshots::reset_disk,
    "ResetDisks" => snapshots::reset_disks,
    "CreateImage" => images::create_image,
    "DescribeImages" => images::describe_images,
    "DeleteImage" => images::delete_image,
    "CopyImage" => copies::copy_image,
    "CreateSnapshotGroup" => groups::create_snapshot_group,
    "DescribeSnapshotGroups" => groups::describe_snapshot_groups,
    "DeleteSnapshotGroup" => groups::delete_snapshot_group,
    "TagResources" => tags::tag_resources,
    "UntagResources" => tags::untag_resources,
    "ListTagResources" => tags::list_tag_resources,
    "ImportImage" => tasks::import_image,
    "ExportImage" => tasks::export_image,
    "DescribeTasks" => tasks::describe_tasks,
    "DescribeTaskAttribute" => tasks::describe_task_attribute,
    "CancelTask" => tasks::cancel_task,
    // Extensions (named and documented in README): export a snapshot or a disk like an image.
    "ExportSnapshot" => tasks::export_snapshot,
    "ExportDisk" => tasks::export_disk,
    // Extension (named and documented in README): the block map of a disk or snapshot.
    "DescribeBlockMap" => blockmap::describe_block_map,
    "CreateAutoSnapshotPolicy" => policies::create,
    "DescribeAutoSnapshotPolicyEx" => policies::describe,
    "ModifyAutoSnapshotPolicyEx" => policies::modify,
    "DeleteAutoSnapshotPolicy" => policies::delete,
    "ApplyAutoSnapshotPolicy" => policies::apply,
    "CancelAutoSnapshotPolicy" => policies::cancel,
}

/// Actions that take a ClientToken.
const IDEMPOTENT: &[&str] = &["RunInstances", "CreateDisk", "CreateSnapshot", "CreateImage", "CreateSnapshotGroup"];

/// `InvalidAction.NotFound` unless `action` is one of [`ACTIONS`].
pub fn check_exists(action: &str) -> Result<()> {
    if ACTIONS.contains(&action) {
        Ok(())
    } else {
        Err(unknown(action))
    }
}

fn unknown(action: &str) -> Error {
    Error::not_found("InvalidAction.NotFound", format!("The action \"{action}\" does not exist. Actions are case-sensitive and spelled as ECS spells them."))
}

/// Runs one action in the request's transaction, honouring ClientToken.
pub async fn dispatch<S: Store>(cx: &mut Cx<'_, S>, action: &str, p: &Params) -> Result<Value> {
    let token = if IDEMPOTENT.contains(&action) { p.str("ClientToken") } else { None };
    if let Some(token) = &token {
        if let Some(v) = token_replay(cx, action, token, p).await? {
            return Ok(v);
        }
    }
    let out = run(cx, action, p).await?;
    if let Some(token) = &token {
        let fingerprint = p.fingerprint(&["ClientToken", "RegionId"]);
        let key = keys::token(&cx.region, action, token);
        cx.save(&key, &Token { fingerprint, response: out.to_string() });
    }
    Ok(out)
}

/// ClientToken: the same token and parameters give the same result; other
/// parameters give IdempotentParameterMismatch.
async fn token_replay<S: Store>(cx: &mut Cx<'_, S>, action: &str, token: &str, p: &Params) -> Result<Option<Value>> {
    if token.len() > 64 || !token.is_ascii() {
        return Err(Error::invalid("ClientToken", "at most 64 ASCII characters"));
    }
    let fingerprint = p.fingerprint(&["ClientToken", "RegionId"]);
    match cx.load::<Token>(&keys::token(&cx.region, action, token)).await? {
        Some(t) if t.fingerprint != fingerprint => {
            Err(Error::forbidden("IdempotentParameterMismatch", "The ClientToken was used before with other parameters."))
        }
        Some(t) => Ok(Some(serde_json::from_str(&t.response)?)),
        None => Ok(None),
    }
}
