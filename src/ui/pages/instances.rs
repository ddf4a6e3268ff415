//! The Instances page: the list (with Create Instance, Start, Stop, Delete,
//! Manage) and the Create Instance dialog (the Images page opens it too).

use serde_json::{json, Value};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::ecs::EcsError;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::Route;

/// ECS instance statuses, for the Status filter.
const INSTANCE_STATUSES: &[(&str, &str)] = &[
    ("Running", "Running"),
    ("Stopped", "Stopped"),
    ("Pending", "Pending"),
    ("Starting", "Starting"),
    ("Stopping", "Stopping"),
];

/// The instance types RunInstances offers (the Create Instance dialog's list).
const INSTANCE_TYPES: &[&str] = &["ecs.g7.large", "ecs.g7.xlarge", "ecs.c7.large", "ecs.r7.large", "ecs.t6-c1m1.large"];

/// The Instances list: search by ID, name or status; filters by status, zone
/// and instance type; newest or oldest first; paged in the browser like the
/// Disks and Snapshots lists.
#[function_component(InstancesPage)]
pub fn instances_page() -> Html {
    let ctx = use_ctx();
    let data = use_query("DescribeInstances", json!({"PageSize": 100}));
    let creating = use_state(|| false);
    let deleting = use_state(|| None::<Value>);
    let search = use_state(String::new);
    let status = use_state(String::new);
    let zone = use_state(String::new);
    let itype = use_state(String::new);
    let oldest_first = use_state(|| false);
    let page = use_state(|| 0usize);
    let region_zones = ctx.scope.zones();
    // A zone of another region (the top bar's region changed) filters nothing.
    let zone_choice = if region_zones.contains(&zone.as_str()) { (*zone).clone() } else { String::new() };
    let mut tools = html! {};
    let body = match &data {
        None => html! { <p class="loading" aria-busy="true">{"Loading instances…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(v)) => {
            let rows = list(v, "Instances", "Instance");
            let total = rows.len();
            let needle = search.trim().to_lowercase();
            let mut rows: Vec<Value> = rows
                .into_iter()
                .filter(|i| text_matches(&needle, &[s(i, "InstanceId"), s(i, "InstanceName"), s(i, "Status")]))
                .filter(|i| admits(&status, s(i, "Status")))
                .filter(|i| admits(&zone_choice, s(i, "ZoneId")))
                .filter(|i| admits(&itype, s(i, "InstanceType")))
                .collect();
            sort_by_creation(&mut rows, *oldest_first);
            let shown = rows.len();
            let (rows, current, pages) = paginate(rows, *page);
            if total > 0 {
                let zone_options: Vec<(&'static str, &'static str)> = region_zones.iter().map(|z| (*z, *z)).collect();
                let type_options: Vec<(&'static str, &'static str)> = INSTANCE_TYPES.iter().map(|t| (*t, *t)).collect();
                tools = html! {
                    <>
                        {search_box("Search instances", "Search by instance ID, name or status", &search, &page)}
                        {filter_select("Status", "All statuses", INSTANCE_STATUSES, &status, &page)}
                        {filter_select("Zone", "All zones", &zone_options, &zone, &page)}
                        {filter_select("Instance Type", "All instance types", &type_options, &itype, &page)}
                        {sort_toggle(&oldest_first, &page)}
                        <span class="sub">{format!("{shown} of {total} instances")}</span>
                        {pager(current, pages, &page)}
                    </>
                };
            }
            if total == 0 {
                html! { <p class="empty">{"No instances yet. Create Instance starts one from a public image; its disks can then be snapshotted."}</p> }
            } else if shown == 0 {
                html! { <p class="empty">{"No instance matches the search and filters."}</p> }
            } else {
                html! {
                    <table class="grid">
                        <thead><tr role="row"><th>{"Instance ID/Name"}</th><th>{"Zone"}</th><th>{"Status"}</th><th>{"Image"}</th><th>{"Instance Type"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                        <tbody>
                        { for rows.iter().map(|i| {
                            let id = s(i, "InstanceId").to_string();
                            let status = s(i, "Status").to_string();
                            let power = |action: &'static str, label: &'static str| {
                                let (ctx, id) = (ctx.clone(), id.clone());
                                Callback::from(move |_: MouseEvent| run(&ctx, action, json!({"InstanceId": id}), format!("{label}: {id}"), None))
                            };
                            let del = { let d = deleting.clone(); let i = i.clone(); Callback::from(move |_: MouseEvent| d.set(Some(i.clone()))) };
                            html! {
                                <tr role="row" data-instance={id.clone()}>
                                    <td><Link<Route> to={Route::Instance { id: id.clone() }} classes="mono">{id.clone()}</Link<Route>><div class="sub">{s(i, "InstanceName").to_string()}</div></td>
                                    <td>{s(i, "ZoneId").to_string()}</td>
                                    <td>{status_badge(&status)}</td>
                                    <td class="sub">{s(i, "ImageId").to_string()}</td>
                                    <td>{s(i, "InstanceType").to_string()}</td>
                                    <td>{when(s(i, "CreationTime"))}</td>
                                    <td class="actions">
                                        <Link<Route> to={Route::Instance { id: id.clone() }} classes="link">{"Manage"}</Link<Route>>
                                        if status == "Stopped" { <button class="link" onclick={power("StartInstance", "Starting")}>{"Start"}</button> }
                                        if status == "Running" { <button class="link" onclick={power("StopInstance", "Stopping")}>{"Stop"}</button> }
                                        <button class="link danger" onclick={del}>{"Delete"}</button>
                                    </td>
                                </tr>
                            }
                        }) }
                        </tbody>
                    </table>
                }
            }
        }
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Instances"}</h1>
            <div class="toolbar">
                <button class="primary" onclick={let c = creating.clone(); Callback::from(move |_| c.set(true))}>{"Create Instance"}</button>
                {tools}
            </div>
            {body}
            if *creating { <CreateInstanceDialog on_close={let c = creating.clone(); Callback::from(move |_| c.set(false))} /> }
            if let Some(i) = (*deleting).clone() {
                <DeleteInstanceDialog instance={i} on_close={let d = deleting.clone(); Callback::from(move |_| d.set(None))} />
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
pub struct CreateInstanceProps {
    pub on_close: Callback<()>,
    /// An image to start from (the Images page's Create Instance).
    #[prop_or_default]
    pub image: Option<String>,
}

#[function_component(CreateInstanceDialog)]
pub fn create_instance_dialog(p: &CreateInstanceProps) -> Html {
    let ctx = use_ctx();
    let images = use_query("DescribeImages", json!({"PageSize": 100}));
    let image = use_state(|| p.image.clone().unwrap_or_default());
    let itype = use_state(|| "ecs.g7.large".to_string());
    let zone = use_state(|| ctx.scope.zones().first().map(|z| z.to_string()).unwrap_or_default());
    let sys_cat = use_state(|| "cloud_essd".to_string());
    let sys_size = use_state(|| "40".to_string());
    let data_size = use_state(|| "20".to_string());
    let data_cat = use_state(|| "cloud_essd".to_string());
    let name = use_state(String::new);
    let error = use_state(|| None::<EcsError>);
    let image_list: Vec<Value> = images.iter().flatten().flat_map(|v| list(v, "Images", "Image")).collect();
    let chosen = if image.is_empty() {
        // Alibaba Cloud Linux first, as the ECS console does.
        image_list
            .iter()
            .find(|i| s(i, "ImageId").starts_with("aliyun"))
            .or(image_list.first())
            .map(|i| s(i, "ImageId").to_string())
            .unwrap_or_default()
    } else {
        (*image).clone()
    };
    let sel = |h: &UseStateHandle<String>| { let h = h.clone(); Callback::from(move |e: Event| h.set(value_of(&e))) };
    let inp = |h: &UseStateHandle<String>| { let h = h.clone(); Callback::from(move |e: InputEvent| h.set(value_of(&e.into()))) };
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (itype, zone, sys_cat, sys_size, data_size, data_cat, name) = (itype.clone(), zone.clone(), sys_cat.clone(), sys_size.clone(), data_size.clone(), data_cat.clone(), name.clone());
        let chosen = chosen.clone();
        Callback::from(move |_: MouseEvent| {
            let mut params = json!({
                "ImageId": chosen, "InstanceType": *itype, "ZoneId": *zone,
                "SystemDisk": {"Category": *sys_cat, "Size": *sys_size},
            });
            if !data_size.is_empty() && *data_size != "0" {
                params["DataDisk"] = json!([{"Size": *data_size, "Category": *data_cat}]);
            }
            if !name.is_empty() {
                params["InstanceName"] = json!(*name);
            }
            submit(&ctx, "RunInstances", params, error.clone(), on_close.clone(), move |_v: &Value| "The instance is being created.".into());
        })
    };
    html! {
        <Dialog title="Create Instance" on_close={p.on_close.clone()}>
            <div class="form">
                <label>{"Image"}<select aria-label="Image" onchange={sel(&image)}>
                    { for image_list.iter().map(|i| {
                        let id = s(i, "ImageId").to_string();
                        let ready = s(i, "Status") == "Available";
                        let label = if s(i, "ImageOwnerAlias") == "self" {
                            format!("{} (custom: {}){}", s(i, "ImageName"), s(i, "OSName"), if ready { "" } else { ", creating…" })
                        } else {
                            format!("{} (public)", s(i, "OSName"))
                        };
                        html! { <option value={id.clone()} selected={chosen == id} disabled={!ready}>{label}</option> }
                    }) }
                </select></label>
                <label>{"Instance Name"}<input type="text" aria-label="Instance Name" value={(*name).clone()} oninput={inp(&name)} /></label>
                <label>{"Instance Type"}<select aria-label="Instance Type" onchange={sel(&itype)}>
                    { for INSTANCE_TYPES.iter().map(|t| html! { <option value={*t} selected={*itype == *t}>{*t}</option> }) }
                </select></label>
                <label>{"Zone"}<select aria-label="Zone" onchange={sel(&zone)}>
                    { for ctx.scope.zones().into_iter().map(|z| html! { <option value={z} selected={*zone == z}>{z}</option> }) }
                </select></label>
                <div class="tagrow">
                    <label>{"System Disk Category"}<select aria-label="System Disk Category" onchange={sel(&sys_cat)}>
                        { for ["cloud_essd", "cloud_ssd", "cloud_efficiency"].iter().map(|c| html! { <option value={*c} selected={*sys_cat == *c}>{*c}</option> }) }
                    </select></label>
                    <label>{"System Disk Size (GiB)"}<input type="number" aria-label="System Disk Size (GiB)" value={(*sys_size).clone()} oninput={inp(&sys_size)} /></label>
                </div>
                <div class="tagrow">
                    <label>{"Data Disk Category"}<select aria-label="Data Disk Category" onchange={sel(&data_cat)}>
                        { for ["cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud"].iter().map(|c| html! { <option value={*c} selected={*data_cat == *c}>{*c}</option> }) }
                    </select></label>
                    <label>{"Data Disk Size (GiB, 0 for none)"}<input type="number" aria-label="Data Disk Size (GiB)" value={(*data_size).clone()} oninput={inp(&data_size)} /></label>
                </div>
                {error_line(&error)}
                <DialogButtons ok="Create" on_ok={ok} on_cancel={p.on_close.clone()} />
            </div>
        </Dialog>
    }
}

#[derive(Properties, PartialEq)]
struct InstanceProps {
    instance: Value,
    on_close: Callback<()>,
}

#[function_component(DeleteInstanceDialog)]
fn delete_instance_dialog(p: &InstanceProps) -> Html {
    let ctx = use_ctx();
    let error = use_state(|| None::<EcsError>);
    let id = s(&p.instance, "InstanceId").to_string();
    let running = s(&p.instance, "Status") == "Running";
    let ok = {
        let (ctx, error, on_close, id) = (ctx.clone(), error.clone(), p.on_close.clone(), id.clone());
        Callback::from(move |_: MouseEvent| {
            let params = json!({"InstanceId": id, "Force": running});
            submit(&ctx, "DeleteInstance", params, error.clone(), on_close.clone(), move |_v: &Value| "The instance was deleted.".into());
        })
    };
    html! {
        <Dialog title="Delete Instance" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Delete instance {id}.")}</p>
                <p class="warn">{"Its system disk and the data disks released with it are deleted with their data. Manual snapshots of them are kept."}</p>
                if running { <p class="warn">{"The instance is Running: it is stopped and deleted at once."}</p> }
                {error_line(&error)}
                <DialogButtons ok="Delete" on_ok={ok} on_cancel={p.on_close.clone()} danger=true />
            </div>
        </Dialog>
    }
}
