//! The region's snapshot capacity (DescribeSnapshotsUsage), as the Snapshots
//! page shows it: seeds 000 and 002 bill snapshots by the bytes they occupy.

use serde_json::json;
use yew::prelude::*;

use super::bytes;
use crate::ui::context::*;

#[function_component(SnapshotUsage)]
pub fn snapshot_usage() -> Html {
    let ctx = use_ctx();
    let Some(Ok(u)) = use_query("DescribeSnapshotsUsage", json!({})) else { return html! {} };
    let n = |k: &str| u[k].as_u64().unwrap_or_default();
    html! {
        <p class="usage" data-testid="snapshot-usage" title="Each block is counted once, however many snapshots share it: local copies in this browser's storage, normal snapshots' data in OSS.">
            {format!("Snapshot capacity in {}: ", ctx.scope.region)}
            <strong>{bytes(n("SnapshotSize"))}</strong>
            {format!(" in {} snapshots (local copies {}, in OSS {})", n("SnapshotCount"), bytes(n("LocalSnapshotSize")), bytes(n("NormalSnapshotSize")))}
        </p>
    }
}
