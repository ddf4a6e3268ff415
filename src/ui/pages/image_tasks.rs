//! The Images page's import and export: "Import Image" and "Export Image"
//! dialogs (objects of the embedded OSS in and out, RAW or QCOW2) and the
//! task list with its progress (DescribeTasks, CancelTask).

use serde_json::{json, Value};
use yew::prelude::*;

use crate::error::Error;
use crate::oss::Listed;
use crate::service;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::images::{ExportAction, ExportForm, ImportAction, ImportForm};
use crate::ui::model::rows::{rows, Created, ImageRow, TaskRow};

/// The buckets, and the objects of the `chosen` one (re-read every few
/// ticks); `choose`s the first bucket while none is chosen.
#[hook]
fn use_bucket_objects(chosen: &str, choose: Callback<String>) -> (Vec<String>, Vec<Listed>) {
    let ctx = use_ctx();
    let buckets = use_state(Vec::<String>::new);
    // The listing and the bucket it is of: another bucket's objects are never offered.
    let objects = use_state(|| (String::new(), Vec::<Listed>::new()));
    {
        let (buckets, objects) = (buckets.clone(), objects.clone());
        use_effect_with((ctx.tick / 5, chosen.to_string()), move |(_, chosen)| {
            let chosen = chosen.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(b) = service::with(async |ecs| ecs.oss_list_buckets().await).await {
                    buckets.set(b);
                }
                if !chosen.is_empty() {
                    if let Ok(o) = service::with(async |ecs| ecs.oss_list(&chosen, "").await).await {
                        objects.set((chosen, o));
                    }
                }
            });
        });
    }
    {
        let (none, first) = (chosen.is_empty(), buckets.first().cloned());
        use_effect_with(first, move |first| {
            if let Some(f) = first.clone().filter(|_| none) {
                choose.emit(f);
            }
        });
    }
    let listed = if objects.0 == chosen { objects.1.clone() } else { Vec::new() };
    ((*buckets).clone(), listed)
}

/// A bucket select: "Choose a bucket", then the buckets.
fn bucket_select(buckets: &[String], chosen: &str) -> Html {
    html! {
        <label>{"OSS Bucket"}
            <select aria-label="OSS Bucket">
                <option value="" selected={chosen.is_empty()}>{"Choose a bucket"}</option>
                { for buckets.iter().map(|b| html! { <option value={b.clone()} selected={b == chosen}>{b.clone()}</option> }) }
            </select>
        </label>
    }
}

#[derive(Properties, PartialEq)]
pub struct CloseProps {
    pub on_close: Callback<()>,
}

reducible!(ImportForm => ImportAction, ExportForm => ExportAction);

#[function_component(ImportImageDialog)]
pub fn import_image_dialog(p: &CloseProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(ImportForm::default);
    let error = use_state(|| None::<Error>);
    let d = form.dispatcher().to_callback();
    let (buckets, objects) = use_bucket_objects(&form.bucket, d.reform(ImportAction::Bucket));
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request();
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "ImportImage", params.clone(), error.clone(), on_close.clone(), |v: &Value| {
                let c = Created::of(v);
                format!("Importing image {} (task {}).", c.image_id, c.task_id)
            });
        })
    };
    html! {
        <Dialog title="Import Image" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(d, ImportAction::of)}>
                <p class="hint">{"Import a disk image file from OSS as a custom image: upload the file on the OSS page first. RAW (any length) and QCOW2 (versions 2 and 3, any cluster size, compressed clusters; images with a backing file or encryption are refused) are supported."}</p>
                <label>{"Image Name"}<input type="text" aria-label="Image Name" placeholder="2-128 characters, starting with a letter" value={form.name.clone()} /></label>
                {bucket_select(&buckets, &form.bucket)}
                <label>{"OSS Object"}
                    <select aria-label="OSS Object">
                        <option value="" selected={form.object.is_empty()}>{"Choose an object"}</option>
                        { for objects.iter().map(|o| html! { <option key={o.key.clone()} value={o.key.clone()} selected={o.key == form.object}>{format!("{} ({})", o.key, bytes(o.size))}</option> }) }
                    </select>
                </label>
                <label>{"Image Format"}
                    <select aria-label="Image Format">
                        { for [("", "Detect from the file"), ("QCOW2", "QCOW2"), ("RAW", "RAW")].iter().map(|(v, t)| html! { <option value={*v} selected={*v == form.format}>{*t}</option> }) }
                    </select>
                </label>
                <label>{"System Disk Size (GiB; empty: the image's own size)"}<input type="number" aria-label="Disk Image Size" min="1" max="2048" value={form.size.clone()} /></label>
                <label>{"Operating System"}
                    <select aria-label="Operating System">
                        { for ["linux", "windows"].iter().map(|f| html! { <option value={*f} selected={*f == form.os_type}>{if *f == "linux" { "Linux" } else { "Windows" }}</option> }) }
                    </select>
                </label>
                {field("Platform", "Platform", "text", &form.platform)}
                <label>{"Architecture"}
                    <select aria-label="Architecture">
                        { for ["x86_64", "arm64", "i386"].iter().map(|f| html! { <option value={*f} selected={*f == form.architecture}>{*f}</option> }) }
                    </select>
                </label>
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

#[derive(Properties, PartialEq)]
pub struct ExportProps {
    pub image: ImageRow,
    pub on_close: Callback<()>,
}

#[function_component(ExportImageDialog)]
pub fn export_image_dialog(p: &ExportProps) -> Html {
    let ctx = use_ctx();
    let form = use_reducer(|| ExportForm::new(&p.image.image_id));
    let error = use_state(|| None::<Error>);
    let d = form.dispatcher().to_callback();
    let (buckets, _) = use_bucket_objects(&form.bucket, d.reform(ExportAction::Bucket));
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let params = form.request();
        Callback::from(move |_: MouseEvent| {
            submit(&ctx, "ExportImage", params.clone(), error.clone(), on_close.clone(), |v: &Value| {
                let c = Created::of(v);
                format!("Exporting to {} (task {}).", c.oss_object, c.task_id)
            });
        })
    };
    html! {
        <Dialog title="Export Image" on_close={p.on_close.clone()}>
            <div class="form" oninput={on_input(d, ExportAction::of)}>
                <p>{format!("Export the system disk of image {} ({}) to OSS. The object's name is the prefix, the image ID and _system.<format>; it appears when the task finishes.", p.image.image_id, p.image.image_name)}</p>
                {bucket_select(&buckets, &form.bucket)}
                {field("OSS Prefix", "OSS Prefix", "text", &form.prefix)}
                <label>{"Image Format"}
                    <select aria-label="Image Format">
                        { for ["qcow2", "raw"].iter().map(|f| html! { <option value={*f} selected={*f == form.format}>{f.to_uppercase()}</option> }) }
                    </select>
                </label>
                <p class="hint">{"QCOW2: version 3, sparse (never-written clusters are not stored). RAW: the full disk size, stored sparse."}</p>
                {error_line(&error)}
                {dialog_buttons("OK", ok, &p.on_close, false)}
            </div>
        </Dialog>
    }
}

/// The import and export tasks of the region, newest first, with progress and Cancel.
#[function_component(TaskList)]
pub fn task_list() -> Html {
    let ctx = use_ctx();
    let data = use_query("DescribeTasks", json!({"PageSize": 20}));
    let tasks = match &data {
        Some(Ok(v)) => rows::<TaskRow>(v, "TaskSet", "Task"),
        _ => vec![],
    };
    if tasks.is_empty() {
        return html! {};
    }
    html! {
        <section aria-label="Tasks">
            <h2>{"Tasks"}</h2>
            <table class="grid tasks">
                <thead><tr role="row"><th>{"Task ID"}</th><th>{"Action"}</th><th>{"Resource"}</th><th>{"Status"}</th><th>{"Progress"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                <tbody>
                { for tasks.iter().map(|t| {
                    let id = t.task_id.clone();
                    let pct: f64 = t.task_process.trim_end_matches('%').parse().unwrap_or(0.0);
                    let cancel = { let ctx = ctx.clone(); let id = id.clone(); Callback::from(move |_: MouseEvent| run(&ctx, "CancelTask", json!({"TaskId": id}), "The task was cancelled.".into(), None)) };
                    let detail = match (t.task_status.as_str(), t.oss_object.as_str()) {
                        ("Failed", _) => format!("{}: {}", t.error_code, t.error_msg),
                        (_, o) if !o.is_empty() => format!("to {o}"),
                        _ => String::new(),
                    };
                    html! {
                        <tr role="row">
                            <td class="mono">{id.clone()}</td>
                            <td>{t.task_action.clone()}</td>
                            <td><div class="mono">{t.resource_id.clone()}</div><div class="sub">{detail}</div></td>
                            <td>{status_badge(&t.task_status)}</td>
                            <td><progress max="100" value={pct.to_string()} aria-label={format!("Task {id} progress")}></progress>{format!(" {}", t.task_process)}</td>
                            <td>{when(&t.creation_time)}</td>
                            <td class="actions">
                                if t.task_status == "Processing" { <button class="link danger" onclick={cancel}>{"Cancel"}</button> }
                            </td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        </section>
    }
}
