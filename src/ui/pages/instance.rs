//! An instance's page: the Instance Details, Cloud Disk and Snapshots tabs (seed 001).

use serde_json::json;
use yew::prelude::*;

use crate::ui::components::snapshot_form::{SnapshotForm, SnapshotFrom};
use crate::ui::components::snapshot_table::SnapshotTable;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::rows::{encrypted_text, first, rows, DiskRow, InstanceRow, ENCRYPTED_NOTE};
use crate::ui::Route;

#[derive(Properties, PartialEq)]
pub struct DetailsProps {
    pub id: String,
}

/// An instance's details: Instance Details, Cloud Disk and Snapshots tabs.
#[function_component(InstanceDetails)]
pub fn instance_details(p: &DetailsProps) -> Html {
    let ctx = use_ctx();
    let tab = use_state(|| 0usize);
    let connect = use_state(|| false);
    let snapshot_for = use_state(|| None::<(String, bool)>);
    let inst = use_query("DescribeInstances", json!({"InstanceIds": [p.id.clone()]}));
    let disks = use_query("DescribeDisks", json!({"InstanceId": p.id.clone(), "PageSize": 100}));
    let i = inst.and_then(|r| r.ok()).and_then(|v| first::<InstanceRow>(&v, "Instances", "Instance"));
    let Some(i) = i else {
        return html! { <section class="page"><h1 id="page-title">{p.id.clone()}</h1><p class="loading">{"Loading the instance…"}</p></section> };
    };
    let content = match *tab {
        0 => html! {
            <dl class="details">
                <dt>{"Instance ID"}</dt><dd class="mono">{i.instance_id.clone()}</dd>
                <dt>{"Instance Name"}</dt><dd>{i.instance_name.clone()}</dd>
                <dt>{"Status"}</dt><dd>{status_badge(&i.status)}</dd>
                <dt>{"Zone"}</dt><dd>{i.zone_id.clone()}</dd>
                <dt>{"Instance Type"}</dt><dd>{format!("{} ({} vCPU, {} MiB)", i.instance_type, i.cpu, i.memory)}</dd>
                <dt>{"Image"}</dt><dd>{i.image_id.clone()}</dd>
                <dt>{"Machine"}</dt><dd>{machine_text(&i)}{if i.vm_memory_mib > 0 { format!(" ({} MiB of memory)", i.vm_memory_mib) } else { String::new() }}</dd>
                <dt>{"Created At"}</dt><dd>{when(&i.creation_time)}</dd>
            </dl>
        },
        1 => {
            let rows: Vec<DiskRow> = disks.iter().flatten().flat_map(|v| rows(v, "Disks", "Disk")).collect();
            html! {
                <table class="grid">
                    <thead><tr role="row"><th>{"Disk ID/Name"}</th><th>{"Disk Type"}</th><th>{"Category"}</th><th>{"Size"}</th><th>{"Status"}</th><th title={ENCRYPTED_NOTE}>{"Encrypted"}</th><th>{"Device"}</th><th>{"Actions"}</th></tr></thead>
                    <tbody>
                    { for rows.iter().map(|d| {
                        let id = d.disk_id.clone();
                        let essd = d.local_snapshots();
                        let open = { let h = snapshot_for.clone(); let id = id.clone(); Callback::from(move |_: MouseEvent| h.set(Some((id.clone(), essd)))) };
                        html! {
                            <tr role="row" data-disk={id.clone()}>
                                <td><div class="mono">{id.clone()}</div><div class="sub">{d.disk_name.clone()}</div></td>
                                <td>{if d.kind == "system" { "System Disk" } else { "Data Disk" }}</td>
                                <td>{format!("{} {}", d.category, d.performance_level)}</td>
                                <td>{format!("{} GiB", d.size)}</td>
                                <td>{status_badge(&d.status)}</td>
                                <td>{encrypted_text(d.encrypted)}</td>
                                <td class="mono">{d.device.clone()}</td>
                                <td class="actions"><button class="link" onclick={open}>{"Create Snapshot"}</button></td>
                            </tr>
                        }
                    }) }
                    </tbody>
                </table>
            }
        }
        _ => html! { <SnapshotTable filter={json!({"InstanceId": p.id.clone()})} /> },
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <p class="crumbs"><a href={Route::Instances.href()}>{"Instances"}</a>{" / "}{p.id.clone()}</p>
            <h1 id="page-title">{format!("{} ({})", i.instance_name, i.instance_id)}</h1>
            <div class="toolbar">
                <button class="primary" disabled={i.vm_status != "live" && i.vm_status != "paused"} onclick={let c = connect.clone(); Callback::from(move |_| c.set(true))}
                    title={vm_text(&i.vm_status)}>{"Connect"}</button>
                if i.vm_status == "paused" {
                    <button data-testid="resume" onclick={let (ctx, id) = (ctx.clone(), i.instance_id.clone());
                        Callback::from(move |_| run(&ctx, "ResumeInstance", json!({"InstanceId": id}), format!("Resume asked: {id} (it goes on if its disk answers now)"), None))}
                        title="Retry the read or write the machine waits on now (it is retried every few seconds anyway)">{"Resume"}</button>
                }
            </div>
            if i.vm_status == "paused" {
                <div class="notice warn" role="status" data-testid="paused"><p>{machine_text(&i)}</p></div>
            }
            if *connect {
                <crate::ui::components::terminal::TerminalDialog instance={i.instance_id.clone()} on_close={let c = connect.clone(); Callback::from(move |_| c.set(false))} />
            }
            {tabs(&["Instance Details", "Cloud Disk", "Snapshots"], *tab, &{let t = tab.clone(); Callback::from(move |x| t.set(x))})}
            {content}
            if let Some((disk_id, essd)) = (*snapshot_for).clone() {
                <SnapshotForm from={SnapshotFrom::Disk { disk_id, essd }} on_close={let h = snapshot_for.clone(); Callback::from(move |_| h.set(None))} />
            }
        </section>
    }
}

/// What a paused machine waits for, in words.
pub fn pause_text(reason: &str) -> &'static str {
    match reason {
        "StorageFull" => "browser storage is full (delete a snapshot, a disk or an instance to free space; it resumes by itself)",
        "KeyLocked" => "a disk's KMS key is locked (unlock it in Settings; it resumes by itself)",
        "DatabaseTaken" => "another tab took the database (that tab runs the instance now)",
        "ReadError" => "a read of its disk failed (Resume retries it)",
        _ => "a write to its disk could not be stored (Resume retries it)",
    }
}

/// The Machine line: `vm_text`, and for a paused machine why.
pub fn machine_text(i: &InstanceRow) -> String {
    if i.vm_status == "paused" {
        format!("Paused: {}. The guest does not notice: its clock stands still, and its request waits.", pause_text(&i.vm_pause_reason))
    } else {
        vm_text(&i.vm_status).to_string()
    }
}

/// What the Machine line says: whether the instance runs in this tab.
pub fn vm_text(status: &str) -> &'static str {
    match status {
        "live" => "Running in this browser tab (v86): Connect opens its serial console",
        "off" => "Boots in the browser when it is started",
        "key_locked" => "Waits: a disk's KMS key is locked (unlock it in Settings and it boots)",
        "paused" => "Paused: its machine waits on a read or write of its disk",
        _ => "No machine: this image does not boot in the browser (its states are simulated)",
    }
}
