//! The Create Snapshot dialog of seed 001 (from a disk) and seed 004
//! (Create Disk Snapshot on the Snapshots page).

use serde_json::json;
use yew::prelude::*;

use super::{checked_of, error_line, value_of, Dialog};
use crate::ecs::EcsError;
use crate::ui::context::*;

/// Which procedure opened the dialog.
#[derive(Clone, PartialEq)]
pub enum SnapshotFrom {
    /// Seed 001: the Create Snapshot action of one disk row.
    Disk { disk_id: String, essd: bool },
    /// Seed 004: Create Disk Snapshot on the Snapshots page.
    Page,
}

#[derive(Properties, PartialEq)]
pub struct SnapshotFormProps {
    pub from: SnapshotFrom,
    pub on_close: Callback<()>,
}

/// The Create Snapshot dialog.
#[function_component(SnapshotForm)]
pub fn snapshot_form(p: &SnapshotFormProps) -> Html {
    let ctx = use_ctx();
    let name = use_state(String::new);
    let local = use_state(|| false);
    let permanent = use_state(|| true);
    let days = use_state(|| "30".to_string());
    let tag_key = use_state(String::new);
    let tag_value = use_state(String::new);
    let instant = use_state(|| true);
    let group = use_state(String::new);
    let resource_type = use_state(|| "disk".to_string());
    let target = use_state(|| match &p.from {
        SnapshotFrom::Disk { disk_id, .. } => disk_id.clone(),
        SnapshotFrom::Page => String::new(),
    });
    let error = use_state(|| None::<EcsError>);
    let page = p.from == SnapshotFrom::Page;
    let disks = use_query("DescribeDisks", json!({"PageSize": 100}));
    let instances = use_query("DescribeInstances", json!({"PageSize": 100}));

    let submit = {
        let (name, local, permanent, days, tag_key, tag_value, instant, group, resource_type, target, error) =
            (name.clone(), local.clone(), permanent.clone(), days.clone(), tag_key.clone(), tag_value.clone(), instant.clone(), group.clone(), resource_type.clone(), target.clone(), error.clone());
        let ctx = ctx.clone();
        let on_close = p.on_close.clone();
        let page = page;
        Callback::from(move |_: MouseEvent| {
            let mut params = json!({});
            let group_snapshot = page && *resource_type == "instance";
            if group_snapshot {
                params["InstanceId"] = json!(*target);
                if !name.is_empty() {
                    params["Name"] = json!(*name);
                }
                params["InstantAccess"] = json!(*instant);
            } else {
                params["DiskId"] = json!(*target);
                if !name.is_empty() {
                    params["SnapshotName"] = json!(*name);
                }
                if *local {
                    params["Category"] = json!("flash");
                }
                if !*permanent {
                    params["RetentionDays"] = json!(*days);
                }
                if page && !*instant {
                    params["InstantAccess"] = json!(false);
                }
            }
            if !tag_key.is_empty() {
                params["Tag"] = json!([{"Key": *tag_key, "Value": *tag_value}]);
            }
            if !group.is_empty() {
                params["ResourceGroupId"] = json!(*group);
            }
            let (ctx, error, on_close) = (ctx.clone(), error.clone(), on_close.clone());
            let action = if group_snapshot { "CreateSnapshotGroup" } else { "CreateSnapshot" };
            wasm_bindgen_futures::spawn_local(async move {
                match call(&ctx.scope, action, params).await {
                    Ok(v) => {
                        let id = v["SnapshotId"].as_str().or(v["SnapshotGroupId"].as_str()).unwrap_or("").to_string();
                        ctx.toast.emit(Toast::Ok(format!("Snapshot {id} is being created.")));
                        ctx.refresh.emit(());
                        on_close.emit(());
                    }
                    Err(e) => error.set(Some(e)),
                }
            });
        })
    };

    let essd_target = match &p.from {
        SnapshotFrom::Disk { essd, .. } => *essd,
        SnapshotFrom::Page => disks
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(|v| list(v, "Disks", "Disk").iter().any(|d| s(d, "DiskId") == *target && s(d, "Category") == "cloud_essd"))
            .unwrap_or(false),
    };
    let set = |h: &UseStateHandle<String>| {
        let h = h.clone();
        Callback::from(move |e: Event| h.set(value_of(&e)))
    };
    let set_input = |h: &UseStateHandle<String>| {
        let h = h.clone();
        Callback::from(move |e: InputEvent| h.set(value_of(&e.into())))
    };
    let title = if page { "Create Snapshot" } else { "Create Snapshot" };
    html! {
        <Dialog title={title} on_close={p.on_close.clone()}>
            <div class="form">
                if page {
                    <fieldset>
                        <legend>{"Resource Type"}</legend>
                        <label><input type="radio" name="rtype" checked={*resource_type == "disk"}
                            onchange={let r = resource_type.clone(); let t = target.clone(); Callback::from(move |_| { r.set("disk".into()); t.set(String::new()); })} />{" Cloud Disk"}</label>
                        <label><input type="radio" name="rtype" checked={*resource_type == "instance"}
                            onchange={let r = resource_type.clone(); let t = target.clone(); Callback::from(move |_| { r.set("instance".into()); t.set(String::new()); })} />{" Instance"}</label>
                    </fieldset>
                    if *resource_type == "disk" {
                        <label>{"Select Cloud Disk"}
                            <select aria-label="Select Cloud Disk" onchange={set(&target)}>
                                <option value="" selected={target.is_empty()}>{"Select a disk"}</option>
                                { for disks.iter().flatten().flat_map(|v| list(v, "Disks", "Disk")).map(|d| {
                                    let id = s(&d, "DiskId").to_string();
                                    let label = format!("{} / {} ({} GiB, {}, {})", id, s(&d, "DiskName"), d["Size"], s(&d, "Category"), if s(&d, "Type") == "system" { "system disk" } else { "data disk" });
                                    html! { <option value={id.clone()} selected={*target == id}>{label}</option> }
                                }) }
                            </select>
                        </label>
                    } else {
                        <label>{"Select Instance"}
                            <select aria-label="Select Instance" onchange={set(&target)}>
                                <option value="" selected={target.is_empty()}>{"Select an instance"}</option>
                                { for instances.iter().flatten().flat_map(|v| list(v, "Instances", "Instance")).map(|i| {
                                    let id = s(&i, "InstanceId").to_string();
                                    html! { <option value={id.clone()} selected={*target == id}>{format!("{} / {}", id, s(&i, "InstanceName"))}</option> }
                                }) }
                            </select>
                        </label>
                        <p class="hint">{"A snapshot-consistent group: one point in time across the instance's ESSDs."}</p>
                    }
                }
                <label>{"Snapshot Name"}
                    <input type="text" aria-label="Snapshot Name" value={(*name).clone()} oninput={set_input(&name)}
                        placeholder="2-128 characters, starting with a letter" />
                </label>
                if !page {
                    <label class="check">
                        <input type="checkbox" aria-label="Create Local Snapshot" checked={*local} disabled={!essd_target}
                            onchange={let l = local.clone(); Callback::from(move |e: Event| l.set(checked_of(&e)))} />
                        {" Create Local Snapshot"}
                    </label>
                    if !essd_target {
                        <p class="hint">{"Local snapshots are for unencrypted ESSDs only."}</p>
                    }
                }
                <fieldset>
                    <legend>{"Retention Period"}</legend>
                    <label><input type="radio" name="retention" aria-label="Permanent Retention" checked={*permanent}
                        onchange={let pm = permanent.clone(); Callback::from(move |_| pm.set(true))} />{" Permanent Retention"}</label>
                    <label><input type="radio" name="retention" aria-label="Retained for" checked={!*permanent}
                        onchange={let pm = permanent.clone(); Callback::from(move |_| pm.set(false))} />{" Retained for "}
                        <input type="number" class="days" aria-label="Retention Days" min="1" max="65536" value={(*days).clone()} oninput={set_input(&days)} disabled={*permanent} />{" days"}</label>
                </fieldset>
                if page {
                    <details>
                        <summary>{"Advanced Configuration"}</summary>
                        <label class="check"><input type="checkbox" aria-label="Instant Access" checked={*instant}
                            onchange={let i = instant.clone(); Callback::from(move |e: Event| i.set(checked_of(&e)))} />{" Instant Access"}</label>
                        <label>{"Resource Group"}<input type="text" aria-label="Resource Group" value={(*group).clone()} oninput={set_input(&group)} /></label>
                    </details>
                }
                <div class="tagrow">
                    <label>{"Tag Key"}<input type="text" aria-label="Tag Key" value={(*tag_key).clone()} oninput={set_input(&tag_key)} /></label>
                    <label>{"Tag Value"}<input type="text" aria-label="Tag Value" value={(*tag_value).clone()} oninput={set_input(&tag_value)} /></label>
                </div>
                {error_line(&error)}
                <div class="buttons">
                    <button class="primary" onclick={submit}>{if page { "OK" } else { "Create" }}</button>
                    <button onclick={p.on_close.reform(|_: MouseEvent| ())}>{"Cancel"}</button>
                </div>
            </div>
        </Dialog>
    }
}
