//! The Instances page: the list (with Create Instance, Start, Stop, Delete,
//! Manage) and the Create Instance dialog (the Images page opens it too).

use serde_json::{json, Value};
use yew::prelude::*;

use crate::error::Error;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::dialogs::{image_choice, InstanceAction, InstanceForm, DISK_CATEGORIES, SYSTEM_DISK_CATEGORIES};
use crate::ui::model::list::{ListState, INSTANCE_FILTERS, INSTANCE_TYPES};
use crate::ui::model::rows::{rows, ImageRow, InstanceRow};
use crate::ui::Route;

/// The Instances list: search by ID, name or status; filters by status, zone
/// and instance type; newest or oldest first; paged in the browser like the
/// Disks and Snapshots lists.
#[function_component(InstancesPage)]
pub fn instances_page() -> Html {
    let ctx = use_ctx();
    let data = use_query("DescribeInstances", json!({"PageSize": 100}));
    let dialog = use_state(|| None::<Open>);
    let list = use_reducer(ListState::newest_first);
    let region_zones = ctx.scope.zones();
    let mut tools = html! {};
    let close = {
        let d = dialog.clone();
        Callback::from(move |_| d.set(None))
    };
    let body = match &data {
        None => html! { <p class="loading" aria-busy="true">{"Loading instances…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(v)) => {
            let all: Vec<InstanceRow> = rows(v, "Instances", "Instance");
            // A zone of another region (the top bar's region changed) filters nothing.
            let shown = list.within("ZoneId", &region_zones).show(&all);
            let [status, zone, itype] = &INSTANCE_FILTERS;
            if shown.total > 0 {
                let zone_options: Vec<(&'static str, &'static str)> = region_zones.iter().map(|z| (*z, *z)).collect();
                tools = html! {
                    <>
                        {search_box("Search instances", "Search by instance ID, name or status", &list)}
                        {filter_select(status, status.options, &list)}
                        {filter_select(zone, &zone_options, &list)}
                        {filter_select(itype, itype.options, &list)}
                        {sort_toggle(&list)}
                        <span class="sub">{format!("{} of {} instances", shown.matched, shown.total)}</span>
                        {pager(shown.page, shown.pages, &list)}
                    </>
                };
            }
            if shown.total == 0 {
                html! { <p class="empty">{"No instances yet. Create Instance starts one from a public image; its disks can then be snapshotted."}</p> }
            } else if shown.matched == 0 {
                html! { <p class="empty">{"No instance matches the search and filters."}</p> }
            } else {
                html! {
                    <table class="grid">
                        <thead><tr role="row"><th>{"Instance ID/Name"}</th><th>{"Zone"}</th><th>{"Status"}</th><th>{"Image"}</th><th>{"Instance Type"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                        <tbody>
                        { for shown.rows.iter().map(|i| {
                            let id = i.instance_id.clone();
                            let status = i.status.clone();
                            let power = |action: &'static str, label: &'static str| {
                                let (ctx, id) = (ctx.clone(), id.clone());
                                Callback::from(move |_: MouseEvent| run(&ctx, action, json!({"InstanceId": id}), format!("{label}: {id}"), None))
                            };
                            let del = { let d = dialog.clone(); let i = (*i).clone(); Callback::from(move |_: MouseEvent| d.set(Some(Open::Delete(i.clone())))) };
                            html! {
                                <tr role="row" data-instance={id.clone()}>
                                    <td><a href={Route::Instance { id: id.clone() }.href()} class="mono">{id.clone()}</a><div class="sub">{i.instance_name.clone()}</div></td>
                                    <td>{i.zone_id.clone()}</td>
                                    <td>{status_badge(&status)}
                                        if i.vm_status == "live" { <div class="sub vm" title="A machine runs it in this browser tab: Manage, then Connect">{"VM live"}</div> }
                                        else if i.vm_status == "paused" { <div class="sub warn" data-testid="vm-paused" title={super::instance::machine_text(i)}>{format!("paused: {}", super::instance::pause_text(&i.vm_pause_reason).split(" (").next().unwrap_or(""))}</div> }
                                        else if i.vm_status == "key_locked" { <div class="sub" title={super::instance::vm_text("key_locked")}>{"key locked"}</div> }
                                        else if i.vm_status == "none" { <div class="sub" title={super::instance::vm_text("none")}>{"no VM"}</div> }</td>
                                    <td class="sub">{i.image_id.clone()}</td>
                                    <td>{i.instance_type.clone()}</td>
                                    <td>{when(&i.creation_time)}</td>
                                    <td class="actions">
                                        <a href={Route::Instance { id: id.clone() }.href()} class="link">{"Manage"}</a>
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
                <button class="primary" onclick={let d = dialog.clone(); Callback::from(move |_| d.set(Some(Open::Create)))}>{"Create Instance"}</button>
                {tools}
            </div>
            {body}
            { match (*dialog).clone() {
                Some(Open::Create) => html! { <CreateInstanceDialog on_close={close} /> },
                Some(Open::Delete(i)) => html! { <DeleteInstanceDialog instance={i} on_close={close} /> },
                None => html! {},
            } }
        </section>
    }
}

/// The Instances page's dialog.
#[derive(Clone, PartialEq)]
enum Open {
    Create,
    Delete(InstanceRow),
}

#[derive(Properties, PartialEq)]
pub struct CreateInstanceProps {
    pub on_close: Callback<()>,
    /// An image to start from (the Images page's Create Instance).
    #[prop_or_default]
    pub image: Option<String>,
}

reducible!(InstanceForm => InstanceAction);

#[function_component(CreateInstanceDialog)]
pub fn create_instance_dialog(p: &CreateInstanceProps) -> Html {
    let ctx = use_ctx();
    let images = use_query("DescribeImages", json!({"PageSize": 100}));
    let zones = ctx.scope.zones();
    let form = use_reducer(|| InstanceForm::new(p.image.clone(), zones.first().copied().unwrap_or_default()));
    let keys = use_keys();
    let error = use_state(|| None::<Error>);
    let image_list: Vec<ImageRow> = images.iter().flatten().flat_map(|v| rows(v, "Images", "Image")).collect();
    let chosen = form.chosen_image(&image_list);
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request(&chosen);
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "RunInstances", params.clone(), error.clone(), on_close.clone(), move |_v: &Value| "The instance is being created.".into());
        })
    };
    html! {
        <Dialog title="Create Instance" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(form.dispatcher().to_callback(), InstanceAction::of)}>
                <label>{"Image"}<select aria-label="Image">
                    { for image_list.iter().map(|i| {
                        let id = i.image_id.clone();
                        html! { <option value={id.clone()} selected={chosen == id} disabled={!i.is_ready()}>{image_choice(i)}</option> }
                    }) }
                </select></label>
                {field("Instance Name", "Instance Name", "text", &form.name)}
                {select_field("Instance Type", INSTANCE_TYPES, &form.instance_type)}
                {select_field("Zone", &zones, &form.zone)}
                <div class="tagrow">
                    {select_field("System Disk Category", &SYSTEM_DISK_CATEGORIES, &form.system_category)}
                    {field("System Disk Size (GiB)", "System Disk Size (GiB)", "number", &form.system_size)}
                </div>
                <div class="tagrow">
                    {select_field("Data Disk Category", &DISK_CATEGORIES, &form.data_category)}
                    {field("Data Disk Size (GiB, 0 for none)", "Data Disk Size (GiB)", "number", &form.data_size)}
                </div>
                <label class="check"><input type="checkbox" aria-label="Encrypted" checked={form.encrypted} />{" Encrypted (its disks)"}</label>
                if form.encrypted { {key_select(&keys, &form.kms_key)} }
                {error_line(&error)}
                {dialog_buttons("Create", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

#[derive(Properties, PartialEq)]
struct InstanceProps {
    instance: InstanceRow,
    on_close: Callback<()>,
}

#[function_component(DeleteInstanceDialog)]
fn delete_instance_dialog(p: &InstanceProps) -> Html {
    let ctx = use_ctx();
    let error = use_state(|| None::<Error>);
    let id = p.instance.instance_id.clone();
    let running = p.instance.status == "Running";
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
                {dialog_buttons("Delete", ok, &p.on_close, true)}
            </div>
        </Dialog>
    }
}
