//! DescribeBlockMap (a rowsnap extension): which blocks of a disk or a
//! snapshot are unwritten, shared (with which snapshots) or exclusive, and
//! which snapshot first wrote each, as runs.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::cx::Cx;
use super::model::{keys, Image, Snapshot, TaskStatus};
use super::params::Params;
use super::tasks::Task;
use crate::engine::{BlockState, MapRef, Store};
use crate::error::{Error, Result};

/// DescribeBlockMap (a rowsnap extension): which blocks of a disk or a
/// snapshot are unwritten, written and shared (with which snapshots), or
/// exclusive, and which snapshot first captured each, as runs.
pub async fn describe_block_map<S: Store>(cx: &mut Cx<'_, S>, p: &Params) -> Result<Value> {
    let disk_id = p.str("DiskId");
    let snap_id = p.str("SnapshotId");
    let map = match (&disk_id, &snap_id) {
        (Some(d), None) => MapRef::Volume(cx.disk(d).await?.volume),
        (None, Some(s)) => {
            let snap = cx.snapshot(s).await?;
            if snap.local_released {
                return Err(Error::forbidden("OperationDenied.LocalCopyReleased", "This snapshot's local copy was released; its blocks are in OSS only."));
            }
            MapRef::Snapshot(snap.engine)
        }
        _ => return Err(Error::bad("MissingParameter", "Give DiskId or SnapshotId (one of them).")),
    };
    // Engine snapshots by what owns them: an ECS snapshot, an image's content
    // (public or imported), or a task (an export's copy).
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for t in cx.scan::<Task>(keys::TASKS).await? {
        if let (Some(engine), TaskStatus::Processing) = (t.export().and_then(|e| e.engine), t.status) {
            names.insert(engine.0, format!("{} (export task)", t.id));
        }
    }
    for i in cx.scan::<Image>(keys::ALL_IMAGES).await? {
        for m in i.mappings.iter().filter(|m| m.snapshot_id.is_empty()) {
            names.insert(m.engine.0, i.id.clone());
        }
    }
    for s in cx.scan::<Snapshot>(keys::SNAPSHOTS).await?.into_iter().filter(|s| !s.local_released) {
        names.insert(s.engine.0, s.id);
    }
    let name = |engine: u64| names.get(&engine).cloned().unwrap_or_else(|| "image".to_string());
    let m = cx.t.block_map(map).await?;
    let runs: Vec<Value> = m
        .runs
        .iter()
        .map(|r| match &r.state {
            BlockState::Unwritten => json!({"Start": r.start, "Length": r.len, "State": "unwritten"}),
            BlockState::Written { first_snapshot, shared_with, shared_with_volumes, exclusive } => json!({
                "Start": r.start,
                "Length": r.len,
                "State": if *exclusive { "exclusive" } else { "shared" },
                "FirstSnapshotId": first_snapshot.map(|s| name(s.0)).unwrap_or_default(),
                "SharedWithSnapshots": shared_with.iter().map(|s| name(s.0)).collect::<Vec<_>>(),
                "SharedWithDisks": shared_with_volumes.len(),
            }),
        })
        .collect();
    Ok(json!({"BlockSize": m.block_size, "Blocks": m.blocks, "Runs": {"Run": runs}}))
}
