//! The Snapshots page with its tabs: Disk Snapshots, Snapshot-consistent
//! Groups and Automatic Snapshot Policies.

use serde_json::json;
use yew::prelude::*;

use crate::ui::components::snapshot_form::{SnapshotForm, SnapshotFrom};
use crate::ui::components::snapshot_table::SnapshotTable;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::rows::{rows, GroupRow};

/// The Snapshots page: Disk Snapshots, Snapshot-consistent Groups and
/// Automatic Snapshot Policies.
#[function_component(SnapshotsPage)]
pub fn snapshots_page() -> Html {
    let tab = use_state(|| 0usize);
    let creating = use_state(|| false);
    let groups = use_query("DescribeSnapshotGroups", json!({}));
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Snapshots"}</h1>
            {tabs(&["Disk Snapshots", "Snapshot-consistent Groups", "Automatic Snapshot Policies"], *tab, &{let t = tab.clone(); Callback::from(move |i| t.set(i))})}
            if *tab == 0 {
                <div class="toolbar"><button class="primary" onclick={let c = creating.clone(); Callback::from(move |_| c.set(true))}>{"Create Disk Snapshot"}</button></div>
                <crate::ui::components::usage::SnapshotUsage />
                <SnapshotTable filter={json!({})} />
            } else if *tab == 2 {
                <super::policies::PoliciesTab />
            } else {
                { match groups {
                    None => html! { <p class="loading">{"Loading…"}</p> },
                    Some(Err(e)) => error_line(&Some(e)),
                    Some(Ok(v)) => {
                        let gs: Vec<GroupRow> = rows(&v, "SnapshotGroups", "SnapshotGroup");
                        if gs.is_empty() {
                            html! { <p class="empty">{"No snapshot-consistent groups. Create Disk Snapshot with Resource Type: Instance makes one."}</p> }
                        } else {
                            html! {
                                <table class="grid"><thead><tr role="row"><th>{"Group ID/Name"}</th><th>{"Instance"}</th><th>{"Snapshots"}</th><th>{"Status"}</th><th>{"Created At"}</th></tr></thead>
                                <tbody>{ for gs.iter().map(|g| html! {
                                    <tr role="row"><td><div class="mono">{g.snapshot_group_id.clone()}</div><div class="sub">{g.name.clone()}</div></td>
                                    <td class="mono">{g.instance_id.clone()}</td>
                                    <td>{g.snapshots.0}</td>
                                    <td>{status_badge(&g.status)}</td><td>{when(&g.creation_time)}</td></tr>
                                }) }</tbody></table>
                            }
                        }
                    }
                } }
            }
            if *creating {
                <SnapshotForm from={SnapshotFrom::Page} on_close={let c = creating.clone(); Callback::from(move |_| c.set(false))} />
            }
        </section>
    }
}
