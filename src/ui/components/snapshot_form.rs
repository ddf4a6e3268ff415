//! The Create Snapshot dialog of seed 001 (from a disk) and seed 004
//! (Create Disk Snapshot on the Snapshots page). Its fields are one
//! `SnapshotForm` (model::forms) held with `use_reducer`. Resource Type
//! Instance lists the instance's disks to tick for a snapshot-consistent
//! group (those it cannot include disabled, with the reason); once the group
//! is made, its snapshots get the name and retention chosen.

use serde_json::json;
use yew::prelude::*;

use super::{dialog_buttons, error_line, field, on_input, reducible, Dialog};
use crate::error::Error;
use crate::ui::context::*;
pub use crate::ui::model::forms::SnapshotFrom;
use crate::ui::model::forms::{group_refusal, ResourceType, SnapshotForm as Form, SnapshotFormAction as A, MAX_TAGS};
use crate::ui::model::rows::{rows, Created, DiskRow, InstanceRow, SnapshotRow};

reducible!(Form => A);

#[derive(Properties, PartialEq)]
pub struct SnapshotFormProps {
    pub from: SnapshotFrom,
    pub on_close: Callback<()>,
}

/// The Create Snapshot dialog.
#[function_component(SnapshotForm)]
pub fn snapshot_form(p: &SnapshotFormProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(|| Form::new(p.from.clone()));
    let error = use_state(|| None::<Error>);
    let page = form.on_page();
    let disks = use_query("DescribeDisks", json!({"PageSize": 100}));
    let instances = use_query("DescribeInstances", json!({"PageSize": 100}));
    // Snapshots still being created: a group cannot include their disks.
    let creating = use_query("DescribeSnapshots", json!({"Status": "progressing", "PageSize": 100}));
    let disks: Vec<DiskRow> = disks.iter().flatten().flat_map(|v| rows(v, "Disks", "Disk")).collect();
    let instances: Vec<InstanceRow> = instances.iter().flatten().flat_map(|v| rows(v, "Instances", "Instance")).collect();
    let creating: Vec<SnapshotRow> = creating.iter().flatten().flat_map(|v| rows(v, "Snapshots", "Snapshot")).collect();
    // The chosen instance's disks, oldest (the system disk) first, each with
    // why a group refuses it, and those ticked.
    let members: Vec<(&DiskRow, Option<String>)> = disks
        .iter()
        .rev()
        .filter(|d| form.group_snapshot() && !form.target.is_empty() && d.instance_id == form.target)
        .map(|d| (d, group_refusal(d, creating.iter().any(|s| s.source_disk_id == d.disk_id))))
        .collect();
    let ticked: Vec<String> = members.iter().filter(|(d, r)| form.ticked(&d.disk_id, r.is_some())).map(|(d, _)| d.disk_id.clone()).collect();

    // The page's chosen disk is an ESSD (Instant Access follows it, seed 004);
    // before a disk is chosen the box shows the ESSD default.
    let essd_page = form.target.is_empty() || disks.iter().any(|d| d.disk_id == form.target && d.category == "cloud_essd");
    let submit = {
        let (form, ctx, error, on_close) = (form.clone(), ctx.clone(), error.clone(), p.on_close.clone());
        let ticked = ticked.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(p) = form.problem(&ticked) {
                return error.set(Some(Error::invalid("DiskId", p)));
            }
            let (action, params) = form.request(essd_page, &ticked);
            let attributes = form.group_snapshot_attributes();
            let (ctx, error, on_close) = (ctx.clone(), error.clone(), on_close.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let c = match call(&ctx.scope, action, params).await {
                    Ok(v) => Created::of(&v),
                    Err(e) => return error.set(Some(e)),
                };
                let id = if c.snapshot_id.is_empty() { c.snapshot_group_id } else { c.snapshot_id };
                let mut toast = Toast::Ok(format!("Snapshot {id} is being created."));
                // A group's snapshots take the name and retention CreateSnapshotGroup has no parameter for.
                if let Some(attributes) = attributes {
                    let set = async {
                        let v = call(&ctx.scope, "DescribeSnapshotGroups", json!({"SnapshotGroupId": [id.clone()]})).await?;
                        for s in rows::<SnapshotRow>(&v["SnapshotGroups"]["SnapshotGroup"][0], "Snapshots", "Snapshot") {
                            let mut p = attributes.clone();
                            p["SnapshotId"] = json!(s.snapshot_id);
                            call(&ctx.scope, "ModifySnapshotAttribute", p).await?;
                        }
                        Ok::<(), Error>(())
                    };
                    if let Err(e) = set.await {
                        toast = Toast::Err(e);
                    }
                }
                ctx.toast.emit(toast);
                ctx.refresh.emit(());
                on_close.emit(());
            });
        })
    };

    let essd_target = match &form.from {
        SnapshotFrom::Disk { essd, .. } => *essd,
        SnapshotFrom::Page => essd_page && !form.target.is_empty(),
    };
    let d = form.dispatcher().to_callback();
    let kind = |t: ResourceType| d.reform(move |_: Event| A::ResourceType(t));
    html! {
        <Dialog title="Create Snapshot" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(d.clone(), A::of)}>
                if page {
                    <fieldset>
                        <legend>{"Resource Type"}</legend>
                        <label><input type="radio" name="rtype" checked={form.resource_type == ResourceType::Disk}
                            onchange={kind(ResourceType::Disk)} />{" Cloud Disk"}</label>
                        <label><input type="radio" name="rtype" checked={form.resource_type == ResourceType::Instance}
                            onchange={kind(ResourceType::Instance)} />{" Instance"}</label>
                    </fieldset>
                    if form.resource_type == ResourceType::Disk {
                        <label>{"Select Cloud Disk"}
                            <select aria-label="Select Cloud Disk">
                                <option value="" selected={form.target.is_empty()}>{"Select a disk"}</option>
                                { for disks.iter().map(|d| {
                                    let label = format!("{} / {} ({} GiB, {}, {})", d.disk_id, d.disk_name, d.size, d.category, if d.is_system() { "system disk" } else { "data disk" });
                                    html! { <option value={d.disk_id.clone()} selected={form.target == d.disk_id}>{label}</option> }
                                }) }
                            </select>
                        </label>
                    } else {
                        <label>{"Select Instance"}
                            <select aria-label="Select Instance">
                                <option value="" selected={form.target.is_empty()}>{"Select an instance"}</option>
                                { for instances.iter().map(|i| html! {
                                    <option value={i.instance_id.clone()} selected={form.target == i.instance_id}>{format!("{} / {}", i.instance_id, i.instance_name)}</option>
                                }) }
                            </select>
                        </label>
                        <p class="hint">{"A snapshot-consistent group: one point in time across the instance's ESSDs (at most 10 disks, 32 TiB)."}</p>
                        if !members.is_empty() {
                            <fieldset class="checks"><legend>{"Disks"}</legend>
                            { for members.iter().map(|(d, refused)| html! {
                                <label class="check"><input type="checkbox" aria-label={d.disk_id.clone()} checked={ticked.contains(&d.disk_id)} disabled={refused.is_some()} />
                                    {format!(" {} / {} ({}, {} GiB, {}){}", d.disk_id, d.disk_name, if d.is_system() { "system disk" } else { "data disk" }, d.size, d.category,
                                        refused.as_ref().map(|r| format!(". Not included: {r}.")).unwrap_or_default())}
                                </label>
                            }) }
                            </fieldset>
                        }
                    }
                }
                <label>{"Snapshot Name"}
                    <input type="text" aria-label="Snapshot Name" value={form.name.clone()}
                        placeholder="2-128 characters, starting with a letter" />
                </label>
                if !page {
                    <label class="check">
                        <input type="checkbox" aria-label="Create Local Snapshot" checked={form.local} disabled={!essd_target} />
                        {" Create Local Snapshot"}
                    </label>
                    if !essd_target {
                        <p class="hint">{"Local snapshots are for unencrypted ESSDs only."}</p>
                    }
                }
                <fieldset>
                    <legend>{"Retention Period"}</legend>
                    <label><input type="radio" name="retention" aria-label="Permanent Retention" checked={form.permanent} />{" Permanent Retention"}</label>
                    <label><input type="radio" name="retention" aria-label="Retained for" checked={!form.permanent} />{" Retained for "}
                        <input type="number" class="days" aria-label="Retention Days" min="1" max="65536" value={form.days.clone()} disabled={form.permanent} />{" days"}</label>
                </fieldset>
                if page {
                    <details>
                        <summary>{"Advanced Configuration"}</summary>
                        <label class="check"><input type="checkbox" aria-label="Instant Access" checked={form.instant_access(essd_page)} disabled={!essd_page && !form.group_snapshot()} />{" Instant Access"}</label>
                        if !essd_page && !form.group_snapshot() {
                            <p class="hint">{"Instant access is for ESSDs (cloud_essd); a snapshot of this disk is usable once uploaded."}</p>
                        }
                        {field("Resource Group", "Resource Group", "text", &form.group)}
                    </details>
                }
                { for form.tags.iter().enumerate().map(|(i, (k, v))| html! {
                    <div class="tagrow">
                        <label>{"Tag Key"}<input type="text" aria-label={format!("Tag Key {}", i + 1)} value={k.clone()} /></label>
                        <label>{"Tag Value"}<input type="text" aria-label={format!("Tag Value {}", i + 1)} value={v.clone()} /></label>
                        <button class="link" aria-label={format!("Remove Tag {}", i + 1)} onclick={d.reform(move |_: MouseEvent| A::RemoveTag(i))}>{"Remove"}</button>
                    </div>
                }) }
                if form.tags.len() < MAX_TAGS {
                    <button class="link" onclick={d.reform(|_: MouseEvent| A::AddTag)}>{"Add Tag"}</button>
                }
                {error_line(&error)}
                {dialog_buttons(if page { "OK" } else { "Create" }, submit, &p.on_close, false)}
            </div>
        </Dialog>
    }
}
