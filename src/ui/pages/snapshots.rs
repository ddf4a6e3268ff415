//! The Snapshots page with its tabs: Disk Snapshots, Snapshot-consistent
//! Groups (each with its snapshots; Roll Back the instance to a group,
//! Delete) and Automatic Snapshot Policies.

use serde_json::{json, Value};
use yew::prelude::*;

use crate::error::Error;
use crate::ui::components::snapshot_form::{SnapshotForm, SnapshotFrom};
use crate::ui::components::snapshot_table::SnapshotTable;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::rows::{first, rows, GroupRow, InstanceRow};

/// The dialog open on the page.
#[derive(Clone, PartialEq)]
enum Open {
    Create,
    Rollback(GroupRow),
    Delete(GroupRow),
}

/// The Snapshots page: Disk Snapshots, Snapshot-consistent Groups and
/// Automatic Snapshot Policies.
#[function_component(SnapshotsPage)]
pub fn snapshots_page() -> Html {
    let ctx = use_ctx();
    let tab = use_state(|| 0usize);
    let open = use_state(|| None::<Open>);
    // The group dialogs' state (plain functions, not components: a component each costs bundle).
    let error = use_state(|| None::<Error>);
    let force = use_state(|| false);
    let groups = use_query("DescribeSnapshotGroups", json!({}));
    let rolling = match &*open {
        Some(Open::Rollback(g)) => g.instance_id.clone(),
        _ => String::new(),
    };
    let inst = use_query("DescribeInstances", json!({"InstanceIds": [rolling]}));
    let status = inst.and_then(|r| r.ok()).and_then(|v| first::<InstanceRow>(&v, "Instances", "Instance")).map(|i| i.status).unwrap_or_else(|| "…".into());
    let show = |what: Open| {
        let (o, e, f) = (open.clone(), error.clone(), force.clone());
        Callback::from(move |_: MouseEvent| {
            e.set(None);
            f.set(false);
            o.set(Some(what.clone()))
        })
    };
    let close = {
        let o = open.clone();
        Callback::from(move |_| o.set(None))
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Snapshots"}</h1>
            {tabs(&["Disk Snapshots", "Snapshot-consistent Groups", "Automatic Snapshot Policies"], *tab, &{let t = tab.clone(); Callback::from(move |i| t.set(i))})}
            if *tab == 0 {
                <div class="toolbar"><button class="primary" onclick={show(Open::Create)}>{"Create Disk Snapshot"}</button></div>
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
                                <table class="grid"><thead><tr role="row"><th>{"Group ID/Name"}</th><th>{"Instance"}</th><th>{"Snapshots"}</th><th>{"Status"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                                <tbody>{ for gs.iter().map(|g| html! {
                                    <tr role="row" key={g.snapshot_group_id.clone()} data-group={g.snapshot_group_id.clone()}><td><div class="mono">{g.snapshot_group_id.clone()}</div><div class="sub">{g.name.clone()}</div></td>
                                    <td class="mono">{g.instance_id.clone()}</td>
                                    <td>{ for g.snapshots.snapshot.iter().map(|s| html! {
                                        <div class="sub" data-snapshot={s.snapshot_id.clone()}>{format!("{} of {}: {}, {}", s.snapshot_id, s.source_disk_id, s.status,
                                            match s.retention_days { Some(_) => format!("Released After {} Days", s.remaining_retention_days), None => "Permanent".into() })}</div>
                                    }) }</td>
                                    <td>{status_badge(&g.status)}</td><td>{when(&g.creation_time)}</td>
                                    <td class="actions">
                                        <button class="link" onclick={show(Open::Rollback(g.clone()))}>{"Roll Back"}</button>
                                        <button class="link danger" onclick={show(Open::Delete(g.clone()))}>{"Delete Group"}</button>
                                    </td></tr>
                                }) }</tbody></table>
                            }
                        }
                    }
                } }
            }
            { match (*open).clone() {
                Some(Open::Create) => html! { <SnapshotForm from={SnapshotFrom::Page} on_close={close} /> },
                Some(Open::Rollback(g)) => group_dialog(&ctx, &g, Some(&status), &force, &error, &close),
                Some(Open::Delete(g)) => group_dialog(&ctx, &g, None, &force, &error, &close),
                None => html! {},
            } }
        </section>
    }
}

/// A group's dialog: Roll Back (`status`: the instance's), every disk of
/// the group to its snapshot (ResetDisks), the instance stopped first, which
/// the dialog offers to do; or Delete Group (`None`), the group and every
/// snapshot of it (DeleteSnapshotGroup). One function for both: a dialog
/// each costs bundle.
fn group_dialog(
    ctx: &Ctx,
    g: &GroupRow,
    status: Option<&str>,
    force: &UseStateHandle<bool>,
    error: &UseStateHandle<Option<Error>>,
    close: &Callback<()>,
) -> Html {
    let snaps = &g.snapshots.snapshot;
    let used = |u: &str| snaps.iter().any(|s| s.usage.contains(u));
    let (title, ok, action, params, done, intro, warning) = match status {
        Some(_) => (
            "Roll Back to Snapshot-consistent Group",
            "Roll Back",
            "ResetDisks",
            json!({"Disk": snaps.iter().map(|s| json!({"DiskId": s.source_disk_id, "SnapshotId": s.snapshot_id})).collect::<Vec<_>>()}),
            "The instance's disks were rolled back to the group.",
            format!("Roll the disks of instance {} back to group {} ({}), taken at {}:", g.instance_id, g.snapshot_group_id, g.name, when(&g.creation_time)),
            "Everything written to these disks since the group was taken will be lost. This cannot be undone.".to_string(),
        ),
        None => (
            "Delete Snapshot-consistent Group",
            "Delete",
            "DeleteSnapshotGroup",
            json!({"SnapshotGroupId": g.snapshot_group_id, "Force": **force}),
            "The snapshot-consistent group was deleted.",
            format!("Delete group {} ({}) and its {} snapshots:", g.snapshot_group_id, g.name, snaps.len()),
            format!("Deleting it frees {} (the snapshots' exclusive sizes).", bytes(snaps.iter().map(|s| s.exclusive_bytes).sum())),
        ),
    };
    let stop = {
        let (ctx, id, error) = (ctx.clone(), g.instance_id.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            error.set(None);
            run(&ctx, "StopInstance", json!({"InstanceId": id}), "Stopping the instance…".into(), None)
        })
    };
    let on_ok = {
        let (ctx, error, close) = (ctx.clone(), error.clone(), close.clone());
        Callback::from(move |_: MouseEvent| submit(&ctx, action, params.clone(), error.clone(), close.clone(), move |_v: &Value| done.into()))
    };
    html! {
        <Dialog {title} on_close={close}>
            <div class="form">
                <p>{intro}</p>
                <ul>{ for snaps.iter().map(|s| html! { <li class="mono">{format!("{} of {} ({} exclusive)", s.snapshot_id, s.source_disk_id, bytes(s.exclusive_bytes))}</li> }) }</ul>
                <p class="warn">{warning}</p>
                if let Some(status) = status {
                    <p>{format!("The instance must be stopped ({status}).")}</p>
                    if status == "Running" {
                        <button onclick={stop}>{"Stop Instance"}</button>
                    }
                } else {
                    if used("image") { <p class="warn">{"Custom images use a snapshot of this group: delete them first."}</p> }
                    if used("disk") {
                        <label class="check"><input type="checkbox" aria-label="Force" checked={**force}
                            onchange={let f = force.clone(); Callback::from(move |e: Event| f.set(checked_of(&e)))} />{" Disks were created from a snapshot of this group: delete it anyway (Force)"}</label>
                    }
                }
                {error_line(error)}
                {dialog_buttons(ok, on_ok, close, true)}
            </div>
        </Dialog>
    }
}
