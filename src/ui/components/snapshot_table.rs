//! The snapshot table (search, filters, dates, order, paging) with its row
//! actions and their dialogs: Roll Back Disk, Create Disk, Create Custom
//! Image, Modify, Delete. The snapshot page shows the same actions.

use serde_json::{json, Value};
use yew::prelude::*;
use yew_router::prelude::*;

use super::*;
use crate::ecs::EcsError;
use crate::ui::context::*;
use crate::ui::Route;

#[derive(Properties, PartialEq)]
pub struct ActionsProps {
    /// A DescribeSnapshots item.
    pub snap: Value,
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
        <button class="link" onclick={open(RowAction::Modify(r.clone()))}>{"Modify"}</button>
        <button class="link danger" onclick={open(RowAction::Delete(r.clone()))}>{"Delete"}</button>
        { match (*action).clone() {
            Some(RowAction::Rollback(r)) => html! { <RollbackDialog snap={r} on_close={close.clone()} /> },
            Some(RowAction::CreateDisk(r)) => html! { <CreateDiskDialog snap={r} on_close={close.clone()} /> },
            Some(RowAction::CreateImage(r)) => html! { <CreateImageDialog snap={r} on_close={close.clone()} /> },
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
    Rollback(Value),
    CreateDisk(Value),
    CreateImage(Value),
    Modify(Value),
    Delete(Value),
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
    let search = use_state(String::new);
    let category = use_state(String::new);
    let status = use_state(String::new);
    let kind = use_state(String::new);
    let source = use_state(String::new);
    // Creation dates (YYYY-MM-DD, UTC as the table shows them), "" for open-ended.
    let created_from = use_state(String::new);
    let created_to = use_state(String::new);
    let oldest_first = use_state(|| false);
    let page = use_state(|| 0usize);
    let rows = match &data {
        None => return html! { <p class="loading" aria-busy="true">{"Loading snapshots…"}</p> },
        Some(Err(e)) => return error_line(&Some(e.clone())),
        Some(Ok(v)) => list(v, "Snapshots", "Snapshot"),
    };
    if rows.is_empty() {
        return html! { <p class="empty">{"No snapshots yet. Create one from a disk: Create Snapshot."}</p> };
    }
    let needle = search.trim().to_lowercase();
    let total = rows.len();
    let mut rows: Vec<Value> = rows
        .into_iter()
        .filter(|r| text_matches(&needle, &[s(r, "SnapshotId"), s(r, "SnapshotName"), s(r, "SourceDiskId")]))
        .filter(|r| admits(&category, s(r, "Category")))
        .filter(|r| admits(&status, s(r, "Status")))
        .filter(|r| admits(&kind, s(r, "SnapshotType")))
        .filter(|r| admits(&source, s(r, "SourceDiskType")))
        .filter(|r| created_within(s(r, "CreationTime"), &created_from, &created_to))
        .collect();
    sort_by_creation(&mut rows, *oldest_first);
    let shown = rows.len();
    let (rows, current, pages) = paginate(rows, *page);
    let set_date = |h: &UseStateHandle<String>| {
        let (h, pg) = (h.clone(), page.clone());
        Callback::from(move |e: Event| {
            h.set(value_of(&e));
            pg.set(0);
        })
    };
    let dated = !created_from.is_empty() || !created_to.is_empty();
    let backwards = !created_from.is_empty() && !created_to.is_empty() && *created_from > *created_to;
    html! {
        <>
        <div class="toolbar">
            {search_box("Search snapshots", "Search by snapshot ID, name or disk ID", &search, &page)}
            {filter_select("Category", "All categories", &[("standard", "Normal Snapshot"), ("flash", "Local Snapshot")], &category, &page)}
            {filter_select("Status", "All statuses", &[("progressing", "Progressing"), ("accomplished", "Accomplished")], &status, &page)}
            {filter_select("Snapshot Type", "All types", &[("user", "Manual"), ("auto", "Automatic")], &kind, &page)}
            {filter_select("Source Disk Type", "System and data disks", &[("system", "System disks"), ("data", "Data disks")], &source, &page)}
            {sort_toggle(&oldest_first, &page)}
        </div>
        <div class="toolbar">
            <label class="inline" title="Dates in UTC, as the Created At column shows them">{"Created from "}
                <input type="date" aria-label="Created from" value={(*created_from).clone()} max={(!created_to.is_empty()).then(|| (*created_to).clone())} onchange={set_date(&created_from)} /></label>
            <label class="inline">{"to "}
                <input type="date" aria-label="Created to" value={(*created_to).clone()} min={(!created_from.is_empty()).then(|| (*created_from).clone())} onchange={set_date(&created_to)} /></label>
            <span class="sub">{"(UTC)"}</span>
            if dated {
                <button onclick={let (f, t, pg) = (created_from.clone(), created_to.clone(), page.clone()); Callback::from(move |_| { f.set(String::new()); t.set(String::new()); pg.set(0); })}>{"Clear dates"}</button>
            }
            if backwards { <span class="warn">{"The start date is after the end date."}</span> }
            <span class="sub">{format!("{shown} of {total} snapshots")}</span>
            {pager(current, pages, &page)}
        </div>
        <div class="table-scroll">
        <table class="grid">
            <thead><tr role="row">
                <th>{"Snapshot ID/Name"}</th><th>{"Source Disk"}</th><th title="Incremental: bytes written since the previous snapshot of the disk. Exclusive: bytes only this snapshot holds (freed when it is deleted).">{"Size"}</th>
                <th>{"Type"}</th><th>{"Status"}</th><th>{"Progress"}</th><th>{"Retention Period"}</th>
                <th>{"Created At"}</th><th>{"Actions"}</th>
            </tr></thead>
            <tbody>
            { for rows.iter().map(|r| {
                let progress = if s(r, "Status") == "progressing" && s(r, "Category") == "standard" {
                    html! { <span title={format!("Estimated remaining time: {} s", r["RemainTime"])}>{format!("Upload to OSS: {}", s(r, "Progress"))}</span> }
                } else if s(r, "Category") == "flash" {
                    html! { <span>{"Local: 100%"}</span> }
                } else {
                    html! { <span>{"Upload to OSS: 100%"}</span> }
                };
                let retention = match r["RetentionDays"].as_u64() {
                    Some(_) => {
                        let left = r["RemainingRetentionDays"].as_u64().unwrap_or(0);
                        html! { <span class={classes!((left <= 3).then_some("soon"))}>{format!("Released After {left} Days")}</span> }
                    }
                    None => html! { <span>{"Permanent"}</span> },
                };
                html! {
                    <tr role="row" key={s(r, "SnapshotId").to_string()} data-snapshot={s(r, "SnapshotId").to_string()}>
                        <td><Link<Route> to={Route::Snapshot { id: s(r, "SnapshotId").to_string() }} classes="mono">{s(r, "SnapshotId").to_string()}</Link<Route>><div class="sub">{s(r, "SnapshotName").to_string()}</div></td>
                        <td><Link<Route> to={Route::Disk { id: s(r, "SourceDiskId").to_string() }} classes="mono">{s(r, "SourceDiskId").to_string()}</Link<Route>><div class="sub">{format!("{} GiB, {} disk", r["SourceDiskSize"], s(r, "SourceDiskType"))}</div></td>
                        <td class="nowrap">{format!("{} incremental", bytes(r["IncrementalBytes"].as_u64().unwrap_or(0)))}<div class="sub">{format!("{} exclusive", bytes(r["ExclusiveBytes"].as_u64().unwrap_or(0)))}</div></td>
                        <td>{if s(r, "Category") == "flash" { "Local Snapshot" } else { "Normal Snapshot" }}<div class="sub">{if s(r, "SnapshotType") == "auto" { "Automatic" } else { "Manual" }}</div></td>
                        <td>{status_badge(s(r, "Status"))}</td>
                        <td>{progress}</td>
                        <td>{retention}</td>
                        <td>{when(s(r, "CreationTime"))}</td>
                        <td class="actions wrap"><SnapshotActions snap={r.clone()} /></td>
                    </tr>
                }
            }) }
            </tbody>
        </table>
        </div>
        </>
    }
}

/// Whether an ECS creation time (`2026-11-21T10:00:00Z`) falls on or
/// between the dates `from` and `to` (`YYYY-MM-DD`, UTC; `""` leaves that end
/// open). ISO dates compare as text.
fn created_within(time: &str, from: &str, to: &str) -> bool {
    let day = time.get(..10).unwrap_or(time);
    (from.is_empty() || day >= from) && (to.is_empty() || day <= to)
}

#[derive(Properties, PartialEq)]
struct SnapProps {
    snap: Value,
    on_close: Callback<()>,
}

#[function_component(RollbackDialog)]
fn rollback_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let disk_id = s(&p.snap, "SourceDiskId").to_string();
    let disk = use_query("DescribeDisks", json!({"DiskIds": [disk_id.clone()]}));
    let disk = disk.and_then(|r| r.ok()).and_then(|v| list(&v, "Disks", "Disk").into_iter().next());
    let instance_id = disk.as_ref().map(|d| s(d, "InstanceId").to_string()).unwrap_or_default();
    let inst = use_query("DescribeInstances", json!({"InstanceIds": [instance_id.clone()]}));
    let inst_status = inst
        .and_then(|r| r.ok())
        .and_then(|v| list(&v, "Instances", "Instance").into_iter().next())
        .map(|i| s(&i, "Status").to_string());
    let error = use_state(|| None::<EcsError>);
    let stop = {
        let ctx = ctx.clone();
        let id = instance_id.clone();
        Callback::from(move |_: MouseEvent| run(&ctx, "StopInstance", json!({"InstanceId": id}), "Stopping the instance…".into(), None))
    };
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = json!({"DiskId": disk_id.clone(), "SnapshotId": s(&p.snap, "SnapshotId")});
        Callback::from(move |_: MouseEvent| {
            let (ctx, error, on_close, params) = (ctx.clone(), error.clone(), on_close.clone(), params.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match call(&ctx.scope, "ResetDisk", params).await {
                    Ok(_) => {
                        ctx.toast.emit(Toast::Ok("The disk was rolled back.".into()));
                        ctx.refresh.emit(());
                        on_close.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };
    html! {
        <Dialog title="Roll Back Disk" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Roll disk {} back to snapshot {}.", disk_id, s(&p.snap, "SnapshotId"))}</p>
                <p class="warn">{"Everything written to the disk after this snapshot will be lost. This cannot be undone: take a snapshot of the disk first if you may need its current data."}</p>
                if !instance_id.is_empty() {
                    <p>{format!("The disk is attached to instance {instance_id}, which must be stopped ({}).", inst_status.clone().unwrap_or_else(|| "…".into()))}</p>
                    if inst_status.as_deref() == Some("Running") {
                        <button onclick={stop}>{"Stop Instance"}</button>
                    }
                }
                {error_line(&error)}
                <DialogButtons ok="Roll Back" on_ok={ok} on_cancel={p.on_close.clone()} danger=true />
            </div>
        </Dialog>
    }
}

#[function_component(CreateDiskDialog)]
fn create_disk_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let local = s(&p.snap, "Category") == "flash";
    let zone = use_state(|| ctx.scope.zones().first().map(|z| z.to_string()).unwrap_or_default());
    let category = use_state(|| "cloud_essd".to_string());
    let size = use_state(|| p.snap["SourceDiskSize"].to_string());
    let error = use_state(|| None::<EcsError>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (zone, category, size) = (zone.clone(), category.clone(), size.clone());
        let snap = s(&p.snap, "SnapshotId").to_string();
        Callback::from(move |_: MouseEvent| {
            let params = json!({"ZoneId": *zone, "DiskCategory": *category, "Size": *size, "SnapshotId": snap});
            submit(&ctx, "CreateDisk", params, error.clone(), on_close.clone(), move |v: &Value| format!("Disk {} is being created.", s(&v, "DiskId")));
        })
    };
    html! {
        <Dialog title="Create Disk" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("A new disk with the content of snapshot {}.", s(&p.snap, "SnapshotId"))}</p>
                <label>{"Zone"}<select aria-label="Zone" onchange={let z = zone.clone(); Callback::from(move |e: Event| z.set(value_of(&e)))}>
                    { for ctx.scope.zones().into_iter().map(|z| html! { <option value={z} selected={*zone == z}>{z}</option> }) }
                </select></label>
                <label>{"Disk Category"}<select aria-label="Disk Category" onchange={let c = category.clone(); Callback::from(move |e: Event| c.set(value_of(&e)))}>
                    { for ["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud"].iter().map(|c| html! { <option value={*c} selected={*category == *c}>{*c}</option> }) }
                </select></label>
                if local { <p class="hint">{"A local snapshot makes only ESSDs (cloud_essd)."}</p> }
                <label>{"Size (GiB)"}<input type="number" aria-label="Size (GiB)" value={(*size).clone()}
                    oninput={let sz = size.clone(); Callback::from(move |e: InputEvent| sz.set(value_of(&e.into())))} /></label>
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
            </div>
        </Dialog>
    }
}

#[function_component(CreateImageDialog)]
fn create_image_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let name = use_state(String::new);
    let error = use_state(|| None::<EcsError>);
    let system = s(&p.snap, "SourceDiskType") == "system";
    let ok = {
        let (ctx, error, on_close, name) = (ctx.clone(), error.clone(), p.on_close.clone(), name.clone());
        let snap = s(&p.snap, "SnapshotId").to_string();
        Callback::from(move |_: MouseEvent| {
            let mut params = json!({"SnapshotId": snap});
            if !name.is_empty() {
                params["ImageName"] = json!(*name);
            }
            submit(&ctx, "CreateImage", params, error.clone(), on_close.clone(), move |v: &Value| format!("Image {} is being created.", s(&v, "ImageId")));
        })
    };
    html! {
        <Dialog title="Create Custom Image" on_close={p.on_close.clone()}>
            <div class="form">
                if !system {
                    <p class="warn">{"This snapshot is of a data disk. A custom image is made from a system-disk snapshot; a data-disk snapshot (a local one too) joins one through DiskDeviceMapping in the API."}</p>
                }
                <label>{"Image Name"}<input type="text" aria-label="Image Name" value={(*name).clone()}
                    oninput={let n = name.clone(); Callback::from(move |e: InputEvent| n.set(value_of(&e.into())))} /></label>
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
            </div>
        </Dialog>
    }
}

#[function_component(ModifyDialog)]
fn modify_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let name = use_state(|| s(&p.snap, "SnapshotName").to_string());
    let desc = use_state(|| s(&p.snap, "Description").to_string());
    let days = use_state(|| p.snap["RetentionDays"].as_u64().map(|d| d.to_string()).unwrap_or_default());
    let error = use_state(|| None::<EcsError>);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (name, desc, days) = (name.clone(), desc.clone(), days.clone());
        let snap = p.snap.clone();
        Callback::from(move |_: MouseEvent| {
            let mut params = json!({"SnapshotId": s(&snap, "SnapshotId")});
            if *name != s(&snap, "SnapshotName") {
                params["SnapshotName"] = json!(*name);
            }
            if *desc != s(&snap, "Description") {
                params["Description"] = json!(*desc);
            }
            if !days.is_empty() && Some(days.as_str()) != snap["RetentionDays"].as_u64().map(|d| d.to_string()).as_deref() {
                params["RetentionDays"] = json!(*days);
            }
            submit(&ctx, "ModifySnapshotAttribute", params, error.clone(), on_close.clone(), move |_v: &Value| "The snapshot was modified.".into());
        })
    };
    let inp = |h: &UseStateHandle<String>| { let h = h.clone(); Callback::from(move |e: InputEvent| h.set(value_of(&e.into()))) };
    html! {
        <Dialog title="Modify Snapshot" on_close={p.on_close.clone()}>
            <div class="form">
                <label>{"Snapshot Name"}<input type="text" aria-label="Snapshot Name" value={(*name).clone()} oninput={inp(&name)} /></label>
                <label>{"Description"}<input type="text" aria-label="Description" value={(*desc).clone()} oninput={inp(&desc)} /></label>
                <label>{"Retention Period (days from creation; empty keeps it as it is)"}
                    <input type="number" aria-label="Retention Days" min="1" max="65536" value={(*days).clone()} oninput={inp(&days)} /></label>
                <p class="hint">{"Extending the retention keeps a snapshot longer; a snapshot kept permanently stays so unless you give a number of days."}</p>
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
            </div>
        </Dialog>
    }
}

#[function_component(DeleteDialog)]
fn delete_dialog(p: &SnapProps) -> Html {
    let ctx = use_ctx();
    let error = use_state(|| None::<EcsError>);
    let force = use_state(|| false);
    let usage = s(&p.snap, "Usage").to_string();
    let progressing = s(&p.snap, "Status") == "progressing";
    let ok = {
        let (ctx, error, on_close, force) = (ctx.clone(), error.clone(), p.on_close.clone(), force.clone());
        let snap = s(&p.snap, "SnapshotId").to_string();
        Callback::from(move |_: MouseEvent| {
            let params = json!({"SnapshotId": snap, "Force": *force});
            submit(&ctx, "DeleteSnapshot", params, error.clone(), on_close.clone(), move |_v: &Value| "The snapshot was deleted.".into());
        })
    };
    html! {
        <Dialog title="Delete Snapshot" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Delete snapshot {} ({}).", s(&p.snap, "SnapshotId"), s(&p.snap, "SnapshotName"))}</p>
                <p>{format!("Deleting it frees {} (its exclusive size).", bytes(p.snap["ExclusiveBytes"].as_u64().unwrap_or(0)))}</p>
                if progressing { <p class="warn">{"Its upload to OSS is in progress: deleting it cancels the upload."}</p> }
                if usage.contains("image") { <p class="warn">{"Custom images use this snapshot: delete them first."}</p> }
                if usage.contains("disk") {
                    <p class="warn">{"Disks were created from this snapshot."}</p>
                    <label class="check"><input type="checkbox" aria-label="Force" checked={*force}
                        onchange={let f = force.clone(); Callback::from(move |e: Event| f.set(checked_of(&e)))} />{" Delete it anyway (Force)"}</label>
                }
                {error_line(&error)}
                <DialogButtons ok="Delete" on_ok={ok} on_cancel={p.on_close.clone()} danger=true />
            </div>
        </Dialog>
    }
}
