//! An instance's page: the Instance Details, Cloud Disk and Snapshots tabs (seed 001).

use serde_json::{json, Value};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::ui::components::snapshot_form::{SnapshotForm, SnapshotFrom};
use crate::ui::components::snapshot_table::SnapshotTable;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::Route;

#[derive(Properties, PartialEq)]
pub struct DetailsProps {
    pub id: String,
}

/// An instance's details: Instance Details, Cloud Disk and Snapshots tabs.
#[function_component(InstanceDetails)]
pub fn instance_details(p: &DetailsProps) -> Html {
    let tab = use_state(|| 0usize);
    let snapshot_for = use_state(|| None::<(String, bool)>);
    let inst = use_query("DescribeInstances", json!({"InstanceIds": [p.id.clone()]}));
    let disks = use_query("DescribeDisks", json!({"InstanceId": p.id.clone(), "PageSize": 100}));
    let i = inst.and_then(|r| r.ok()).and_then(|v| list(&v, "Instances", "Instance").into_iter().next());
    let Some(i) = i else {
        return html! { <section class="page"><h1 id="page-title">{p.id.clone()}</h1><p class="loading">{"Loading the instance…"}</p></section> };
    };
    let content = match *tab {
        0 => html! {
            <dl class="details">
                <dt>{"Instance ID"}</dt><dd class="mono">{s(&i, "InstanceId").to_string()}</dd>
                <dt>{"Instance Name"}</dt><dd>{s(&i, "InstanceName").to_string()}</dd>
                <dt>{"Status"}</dt><dd>{status_badge(s(&i, "Status"))}</dd>
                <dt>{"Zone"}</dt><dd>{s(&i, "ZoneId").to_string()}</dd>
                <dt>{"Instance Type"}</dt><dd>{format!("{} ({} vCPU, {} MiB)", s(&i, "InstanceType"), i["Cpu"], i["Memory"])}</dd>
                <dt>{"Image"}</dt><dd>{s(&i, "ImageId").to_string()}</dd>
                <dt>{"Created At"}</dt><dd>{when(s(&i, "CreationTime"))}</dd>
            </dl>
        },
        1 => {
            let rows: Vec<Value> = disks.iter().flatten().flat_map(|v| list(v, "Disks", "Disk")).collect();
            html! {
                <table class="grid">
                    <thead><tr role="row"><th>{"Disk ID/Name"}</th><th>{"Disk Type"}</th><th>{"Category"}</th><th>{"Size"}</th><th>{"Status"}</th><th>{"Encrypted"}</th><th>{"Device"}</th><th>{"Actions"}</th></tr></thead>
                    <tbody>
                    { for rows.iter().map(|d| {
                        let id = s(d, "DiskId").to_string();
                        let essd = s(d, "Category") == "cloud_essd" && d["Encrypted"] != json!(true);
                        let open = { let h = snapshot_for.clone(); let id = id.clone(); Callback::from(move |_: MouseEvent| h.set(Some((id.clone(), essd)))) };
                        html! {
                            <tr role="row" data-disk={id.clone()}>
                                <td><div class="mono">{id.clone()}</div><div class="sub">{s(d, "DiskName").to_string()}</div></td>
                                <td>{if s(d, "Type") == "system" { "System Disk" } else { "Data Disk" }}</td>
                                <td>{format!("{} {}", s(d, "Category"), s(d, "PerformanceLevel"))}</td>
                                <td>{format!("{} GiB", d["Size"])}</td>
                                <td>{status_badge(s(d, "Status"))}</td>
                                <td>{if d["Encrypted"] == json!(true) { "Yes (recorded; not encrypted at rest yet)" } else { "No" }}</td>
                                <td class="mono">{s(d, "Device").to_string()}</td>
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
            <p class="crumbs"><Link<Route> to={Route::Instances}>{"Instances"}</Link<Route>>{" / "}{p.id.clone()}</p>
            <h1 id="page-title">{format!("{} ({})", s(&i, "InstanceName"), s(&i, "InstanceId"))}</h1>
            <Tabs tabs={vec!["Instance Details", "Cloud Disk", "Snapshots"]} active={*tab} on_select={let t = tab.clone(); Callback::from(move |x| t.set(x))} />
            {content}
            if let Some((disk_id, essd)) = (*snapshot_for).clone() {
                <SnapshotForm from={SnapshotFrom::Disk { disk_id, essd }} on_close={let h = snapshot_for.clone(); Callback::from(move |_| h.set(None))} />
            }
        </section>
    }
}
