//! The snapshot table (search, filters, dates, order, paging) with its row
//! actions and their dialogs: Roll Back Disk, Create Disk, Create Custom
//! Image, Modify, Delete. The snapshot page shows the same actions.

use serde_json::{json, Value};
use yew::prelude::*;

use super::*;
use crate::error::Error;
use crate::ui::context::*;
use crate::ui::model::copies::Copying;
use crate::ui::model::dialogs::{DiskAction, DiskForm, ModifyAction, ModifyForm, Rollback, DISK_CATEGORIES};
use crate::ui::model::images::{ImageAction, ImageForm};
use crate::ui::model::list::{ListAction, ListState, SNAPSHOT_FILTERS};
use crate::ui::model::rows::{encrypted_text, first, rows, Created, DiskRow, InstanceRow, SnapshotRow, ENCRYPTED_NOTE};
use crate::ui::Route;

#[derive(Properties, PartialEq)]
pub struct ActionsProps {
    pub snap: SnapshotRow,
}

/// A snapshot's actions (the table's row actions, and the snapshot page's
/// buttons) with their dialogs.
#[function_component(SnapshotActions)]
pub fn snapshot_actions(p: &ActionsProps) -> Html {
    let action = use_state(|| None::<RowAction>);
    let close = {
        let a = action.clone();
        Callback::from(move |_| a.set(None))
    };
    let open = |a: RowAction| {
        let h = action.clone();
        Callback::from(move |_: MouseEvent| h.set(Some(a.clone())))
    };
    let r = &p.snap;
    html! {
        <>
        <button class="link" onclick={open(RowAction::Rollback(r.clone()))}>{"Roll Back Disk"}</button>
        <button class="link" onclick={open(RowAction::CreateDisk(r.clone()))}>{"Create Disk"}</button>
        <button class="link" onclick={open(RowAction::CreateImage(r.clone()))}>{"Create Custom Image"}</button>
        <button class="link" onclick={open(RowAction::Copy(r.clone()))} disabled={r.is_local() || r.status != "accomplished"}
            title="Copy this normal snapshot to another region (accomplished snapshots only)">{"Copy Snapshot"}</button>
        <button class="link" onclick={open(RowAction::Modify(r.clone()))}>{"Modify"}</button>
        <button class="link danger" onclick={open(RowAction::Delete(r.clone()))}>{"Delete"}</button>
        { match (*action).clone() {
            Some(RowAction::Rollback(r)) => html! { <RollbackDialog snap={r} on_close={close.clone()} /> },
            Some(RowAction::CreateDisk(r)) => html! { <CreateDiskDialog snap={r} on_close={close.clone()} /> },
            Some(RowAction::CreateImage(r)) => html! { <CreateImageDialog snap={Some(r)} on_close={close.clone()} /> },
            Some(RowAction::Copy(r)) => html! { <super::copy::CopyDialog what={Copying::Snapshot} id={r.snapshot_id} on_close={close.clone()} /> },
            Some(RowAction::Modify(r)) => html! { <ModifyDialog snap={r} on_close={close.clone()} /> },
            Some(RowAction::Delete(r)) => html! { <DeleteDialog snap={r} on_close={close.clone()} /> },
            None => html! {},
        } }
        </>
    }
}

/// A row action's dialog.
#[derive(Clone, PartialEq)]
enum RowAction {
    Rollback(SnapshotRow),
    CreateDisk(SnapshotRow),
    CreateImage(SnapshotRow),
    Copy(SnapshotRow),
    Modify(SnapshotRow),
    Delete(SnapshotRow),
}

#[derive(Properties, PartialEq)]
pub struct SnapshotTableProps {
    /// DescribeSnapshots filters.
    pub filter: Value,
}

/// The snapshot list with the seeds' columns and row actions.
#[function_component(SnapshotTable)]
pub fn snapshot_table(p: &SnapshotTableProps) -> Html {
    let mut params = p.filter.clone();
    params["PageSize"] = json!(100);
    let data = use_query("DescribeSnapshots", params);
    let list = use_reducer(ListState::newest_first);
    let all: Vec<SnapshotRow> = match &data {
        None => return html! { <p class="loading" aria-busy="true">{"Loading snapshots…"}</p> },
        Some(Err(e)) => return error_line(&Some(e.clone())),
        Some(Ok(v)) => rows(v, "Snapshots", "Snapshot"),
    };
    if all.is_empty() {
        return html! { <p class="empty">{"No snapshots yet. Create one from a disk: Create Snapshot."}</p> };
    }
    let shown = list.show(&all);
    let d = list.dispatcher().to_callback();
    let set_date = |f: fn(String) -> ListAction| d.reform(move |e: Event| f(value_of(&e)));
    html! {
        <>
        <div class="toolbar">
            {search_box("Search snapshots", "Search by snapshot ID, name or disk ID", &list)}
            { for SNAPSHOT_FILTERS.iter().map(|f| filter_select(f, f.options, &list)) }
            {sort_toggle(&list)}
        </div>
        <div class="toolbar">
            <label class="inline" title="Dates in UTC, as the Created At column shows them">{"Created from "}
                <input type="date" aria-label="Created from" value={list.created_from.clone()} max={(!list.created_to.is_empty()).then(|| list.created_to.clone())} onchange={set_date(ListAction::CreatedFrom)} /></label>
            <label class="inline">{"to "}
                <input type="date" aria-label="Created to" value={list.created_to.clone()} min={(!list.created_from.is_empty()).then(|| list.created_from.clone())} onchange={set_date(ListAction::CreatedTo)} /></label>
            <span class="sub">{"(UTC)"}</span>
            if list.dated() {
                <button onclick={d.reform(|_: MouseEvent| ListAction::ClearDates)}>{"Clear dates"}</button>
            }
            if list.backwards() { <span class="warn">{"The start date is after the end date."}</span> }
            <span class="sub">{format!("{} of {} snapshots", shown.matched, shown.total)}</span>
            {pager(shown.page, shown.pages, &list)}
        </div>
        <div class="table-scroll">
        <table class="grid">
            <thead><tr role="row">
                <th>{"Snapshot ID/Name"}</th><th>{"Source Disk"}</th><th title="Incremental: bytes written since the previous snapshot of the disk. Exclusive: bytes only this snapshot holds (freed when it is deleted).">{"Size"}</th>
                <th>{"Type"}</th><th title={ENCRYPTED_NOTE}>{"Encrypted"}</th><th>{"Status/Progress"}</th><th>{"Retention Period"}</th>
                <th>{"Created At"}</th><th>{"Actions"}</th>
            </tr></thead>
            <tbody>
            { for shown.rows.iter().map(|r| {
                // Under the status (one column, so the table with Encrypted fits a 1440 px window).
                let progress = if r.status == "progressing" && r.category == "standard" {
                    html! { <span title={format!("Estimated remaining time: {} s", r.remain_time)}>{format!("Upload to OSS: {}", r.progress)}</span> }
                } else if r.is_local() {
                    html! { <span>{"Local: 100%"}</span> }
                } else {
                    html! { <span>{"Upload to OSS: 100%"}</span> }
                };
                // Released within 3 days: highlighted (not one an image keeps).
                let soon = r.retention_days.is_some() && r.remaining_retention_days <= 3 && r.image_ids.is_empty();
                let retention = html! { <span class={classes!(soon.then_some("soon"))}>{r.retention_text()}</span> };
                html! {
                    <tr role="row" key={r.snapshot_id.clone()} data-snapshot={r.snapshot_id.clone()}>
                        <td><a href={Route::Snapshot { id: r.snapshot_id.clone() }.href()} class="mono">{r.snapshot_id.clone()}</a><div class="sub">{r.snapshot_name.clone()}</div></td>
                        <td><a href={Route::Disk { id: r.source_disk_id.clone() }.href()} class="mono">{r.source_disk_id.clone()}</a><div class="sub">{format!("{} GiB, {} disk", r.source_disk_size, r.source_disk_type)}</div></td>
                        <td class="nowrap">{format!("{} incremental", bytes(r.incremental_bytes))}<div class="sub">{format!("{} exclusive", bytes(r.exclusive_bytes))}</div></td>
                        <td>{r.category_text()}<div class="sub">{r.type_text()}</div></td>
                        <td>{encrypted_text(r.encrypted)}</td>
                        <td>{status_badge(&r.status)}<div class="sub">{progress}</div></td>
                        <td>{retention}</td>
                        <td>{when(&r.creation_time)}</td>
                        <td class="actions wrap"><SnapshotActions snap={(*r).clone()} /></td>
                    </tr>
                }
            }) }
            </tbody>
        </table>
        </div>
        </>
    }
}

#[derive(Properties, PartialEq)]
struct SnapProps {
    snap: SnapshotRow,
    on_close: Callback<()>,
}

#[function_component(RollbackDialog)]
fn rollback_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let disk_id = p.snap.source_disk_id.clone();
    let disk = use_query("DescribeDisks", json!({"DiskIds": [disk_id.clone()]}));
    let disk = disk.and_then(|r| r.ok()).and_then(|v| first::<DiskRow>(&v, "Disks", "Disk"));
    let instance_id = disk.map(|d| d.instance_id).unwrap_or_default();
    let inst = use_query("DescribeInstances", json!({"InstanceIds": [instance_id.clone()]}));
    let inst_status = inst.and_then(|r| r.ok()).and_then(|v| first::<InstanceRow>(&v, "Instances", "Instance")).map(|i| i.status);
    let error = use_state(|| None::<Error>);
    let start_after = use_state(|| false);
    let stop = {
        let ctx = ctx.clone();
        let id = instance_id.clone();
        Callback::from(move |_: MouseEvent| run(&ctx, "StopInstance", json!({"InstanceId": id}), "Stopping the instance…".into(), None))
    };
    let ok = {
        let r = Rollback { disk_id: disk_id.clone(), snapshot_id: p.snap.snapshot_id.clone(), instance_id: instance_id.clone(), start_after: *start_after };
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let done = if r.requests().len() > 1 { "The disk was rolled back; the instance is starting." } else { "The disk was rolled back." };
        Callback::from(move |_: MouseEvent| submit_all(&ctx, r.requests(), error.clone(), on_close.clone(), done.into()))
    };
    html! {
        <Dialog title="Roll Back Disk" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Roll disk {} back to snapshot {}.", disk_id, p.snap.snapshot_id)}</p>
                <p class="warn">{"Everything written to the disk after this snapshot will be lost. This cannot be undone: take a snapshot of the disk first if you may need its current data."}</p>
                if !instance_id.is_empty() {
                    <p>{format!("The disk is attached to instance {instance_id}, which must be stopped ({}).", inst_status.clone().unwrap_or_else(|| "…".into()))}</p>
                    if inst_status.as_deref() == Some("Running") {
                        <button onclick={stop}>{"Stop Instance"}</button>
                    }
                    <label class="check"><input type="checkbox" aria-label="Start Instance After Rollback" checked={*start_after}
                        onchange={let s = start_after.clone(); Callback::from(move |e: Event| s.set(checked_of(&e)))} />{" Start Instance After Rollback"}</label>
                }
                {error_line(&error)}
                {dialog_buttons("Roll Back", ok, &p.on_close, true)}
            </div>
        </Dialog>
    }
}

reducible!(DiskForm => DiskAction, ModifyForm => ModifyAction, ImageForm => ImageAction);

#[function_component(CreateDiskDialog)]
fn create_disk_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let local = p.snap.category == "flash";
    let zones = ctx.scope.zones();
    let form = use_reducer(|| DiskForm::new(&p.snap, zones.first().copied().unwrap_or_default()));
    let keys = use_keys();
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request();
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "CreateDisk", params.clone(), error.clone(), on_close.clone(), move |v: &Value| {
                format!("Disk {} is being created.", Created::of(v).disk_id)
            });
        })
    };
    html! {
        <Dialog title="Create Disk" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), DiskAction::of)}>
                <p>{format!("A new disk with the content of snapshot {}.", p.snap.snapshot_id)}</p>
                {select_field("Zone", &zones, &form.zone)}
                {select_field("Disk Category", &DISK_CATEGORIES, &form.category)}
                if local { <p class="hint">{"A local snapshot makes only ESSDs (cloud_essd)."}</p> }
                {field("Size (GiB)", "Size (GiB)", "number", &form.size)}
                <label class="check"><input type="checkbox" aria-label="Encrypted" checked={form.encrypted} disabled=true />{" Encrypted"}</label>
                if form.encrypted {
                    {key_select(&keys, &form.kms_key)}
                    <p class="hint">{"The snapshot is encrypted: so is the disk. Another key wraps the same data key too (the data is not encrypted again)."}</p>
                } else {
                    <p class="hint">{"The snapshot is unencrypted: so is the disk (an unencrypted snapshot cannot make an encrypted disk)."}</p>
                }
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

#[derive(Properties, PartialEq)]
pub struct ImageProps {
    /// The snapshot whose row action opened it (None: the Images page's button).
    pub snap: Option<SnapshotRow>,
    pub on_close: Callback<()>,
}

/// Create Custom Image: a system-disk snapshot and any data-disk snapshots
/// (a data-disk one, local ones too, joins an image only so, seed 000).
#[function_component(CreateImageDialog)]
pub fn create_image_dialog(p: &ImageProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(|| p.snap.as_ref().map(ImageForm::new).unwrap_or_default());
    let error = use_state(|| None::<Error>);
    let snaps = use_query("DescribeSnapshots", json!({"PageSize": 100}));
    let snaps: Vec<SnapshotRow> = snaps.iter().flatten().flat_map(|v| rows(v, "Snapshots", "Snapshot")).collect();
    let (system, data): (Vec<&SnapshotRow>, Vec<&SnapshotRow>) = snaps.iter().partition(|s| s.source_disk_type == "system");
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request();
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "CreateImage", params.clone(), error.clone(), on_close.clone(), move |v: &Value| {
                format!("Image {} is being created.", Created::of(v).image_id)
            });
        })
    };
    let text = |s: &SnapshotRow| format!("{} {} ({}, {} GiB {})", s.snapshot_id, s.snapshot_name, s.category_text(), s.source_disk_size, s.source_disk_id);
    html! {
        <Dialog title="Create Custom Image" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), ImageAction::of)}>
                if p.snap.as_ref().is_some_and(|s| s.source_disk_type != "system") {
                    <p class="warn">{"This snapshot is of a data disk: it joins the image as a data disk (the only way a local snapshot makes one). Choose the image's system-disk snapshot."}</p>
                }
                {field("Image Name", "Image Name", "text", &form.name)}
                <label>{"System Disk Snapshot"}<select aria-label="System Disk Snapshot">
                    <option value="" selected={form.system.is_empty()}>{"Select a system-disk snapshot"}</option>
                    { for system.iter().map(|s| html! { <option value={s.snapshot_id.clone()} selected={form.system == s.snapshot_id}>{text(s)}</option> }) }
                </select></label>
                <fieldset class="checks"><legend>{"Data Disk Snapshots"}</legend>
                { for data.iter().map(|s| html! {
                    <label class="check"><input type="checkbox" aria-label={s.snapshot_id.clone()} checked={form.data.contains(&s.snapshot_id)} />{format!(" {}", text(s))}</label>
                }) }
                </fieldset>
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

#[function_component(ModifyDialog)]
fn modify_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(|| ModifyForm::new(&p.snap));
    let error = use_state(|| None::<Error>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request();
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "ModifySnapshotAttribute", params.clone(), error.clone(), on_close.clone(), move |_v: &Value| "The snapshot was modified.".into());
        })
    };
    html! {
        <Dialog title="Modify Snapshot" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), ModifyAction::of)}>
                {field("Snapshot Name", "Snapshot Name", "text", &form.name)}
                {field("Description", "Description", "text", &form.description)}
                <label>{"Retention Period (days from creation; empty keeps it as it is)"}
                    <input type="number" aria-label="Retention Days" min="1" max="65536" value={form.days.clone()} /></label>
                <p class="hint">{"Extending the retention keeps a snapshot longer; a snapshot kept permanently stays so unless you give a number of days."}</p>
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

#[function_component(DeleteDialog)]
fn delete_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let error = use_state(|| None::<Error>);
    let force = use_state(|| false);
    let usage = p.snap.usage.clone();
    let progressing = p.snap.status == "progressing";
    let ok = {
        let (ctx, error, on_close, force) = (ctx.clone(), error.clone(), p.on_close.clone(), force.clone());
        let snap = p.snap.snapshot_id.clone();
        Callback::from(move |_: MouseEvent| {
            let params = json!({"SnapshotId": snap, "Force": *force});
            submit(&ctx, "DeleteSnapshot", params, error.clone(), on_close.clone(), move |_v: &Value| "The snapshot was deleted.".into());
        })
    };
    html! {
        <Dialog title="Delete Snapshot" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Delete snapshot {} ({}).", p.snap.snapshot_id, p.snap.snapshot_name)}</p>
                <p>{format!("Deleting it frees {} (its exclusive size).", bytes(p.snap.exclusive_bytes))}</p>
                if progressing { <p class="warn">{"Its upload to OSS is in progress: deleting it cancels the upload."}</p> }
                if usage.contains("image") { <p class="warn">{"Custom images use this snapshot: delete them first."}</p> }
                if usage.contains("disk") {
                    <p class="warn">{"Disks were created from this snapshot."}</p>
                    <label class="check"><input type="checkbox" aria-label="Force" checked={*force}
                        onchange={let f = force.clone(); Callback::from(move |e: Event| f.set(checked_of(&e)))} />{" Delete it anyway (Force)"}</label>
                }
                {error_line(&error)}
                {dialog_buttons("Delete", ok, &p.on_close, true)}
            </div>
        </Dialog>
    }
}
