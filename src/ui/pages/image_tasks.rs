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
use crate::ui::model::rows::{rows, Created, ImageRow, TaskRow};

/// The buckets, and the objects of the chosen one (re-read every few
/// ticks); chooses the first bucket while none is chosen.
#[hook]
fn use_bucket_objects(chosen: &UseStateHandle<String>) -> (Vec<String>, Vec<Listed>) {
    let bucket = (**chosen).clone();
    let ctx = use_ctx();
    let buckets = use_state(Vec::<String>::new);
    // The listing and the bucket it is of: another bucket's objects are never offered.
    let objects = use_state(|| (String::new(), Vec::<Listed>::new()));
    {
        let (buckets, objects) = (buckets.clone(), objects.clone());
        use_effect_with((ctx.tick / 5, bucket.clone()), move |(_, chosen)| {
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
        let (chosen, first) = (chosen.clone(), buckets.first().cloned());
        use_effect_with(first, move |first| {
            if chosen.is_empty() {
                if let Some(f) = first {
                    chosen.set(f.clone());
                }
            }
        });
    }
    let listed = if objects.0 == bucket { objects.1.clone() } else { Vec::new() };
    ((*buckets).clone(), listed)
}

fn input(h: &UseStateHandle<String>) -> Callback<InputEvent> {
    let h = h.clone();
    Callback::from(move |e: InputEvent| h.set(value_of(&e.into())))
}

fn change(h: &UseStateHandle<String>) -> Callback<Event> {
    let h = h.clone();
    Callback::from(move |e: Event| h.set(value_of(&e)))
}

#[derive(Properties, PartialEq)]
pub struct CloseProps {
    pub on_close: Callback<()>,
}

#[function_component(ImportImageDialog)]
pub fn import_image_dialog(p: &CloseProps) -> Html {
    let ctx = use_ctx();
    let name = use_state(String::new);
    let bucket = use_state(String::new);
    let object = use_state(String::new);
    // Empty: detected from the file (a qcow2 starts with its magic).
    let format = use_state(String::new);
    let size = use_state(String::new);
    let os_type = use_state(|| "linux".to_string());
    let platform = use_state(|| "Ubuntu".to_string());
    let arch = use_state(|| "x86_64".to_string());
    let error = use_state(|| None::<Error>);
    let (buckets, objects) = use_bucket_objects(&bucket);
    let pick_object = {
        let (object, format) = (object.clone(), format.clone());
        Callback::from(move |e: Event| {
            let v = value_of(&e);
            let lower = v.to_ascii_lowercase();
            if lower.ends_with(".raw") || lower.ends_with(".img") {
                format.set("RAW".into());
            } else if lower.ends_with(".qcow2") {
                format.set("QCOW2".into());
            } else {
                format.set(String::new());
            }
            object.set(v);
        })
    };
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (name, bucket, object, format, size, os_type, platform, arch) =
            (name.clone(), bucket.clone(), object.clone(), format.clone(), size.clone(), os_type.clone(), platform.clone(), arch.clone());
        Callback::from(move |_: MouseEvent| {
            let mut params = json!({
                "OSType": *os_type,
                "Platform": *platform,
                "Architecture": *arch,
                "DiskDeviceMapping.1.OSSBucket": *bucket,
                "DiskDeviceMapping.1.OSSObject": *object,
            });
            if !format.is_empty() {
                params["DiskDeviceMapping.1.Format"] = json!(*format);
            }
            if !name.is_empty() {
                params["ImageName"] = json!(*name);
            }
            if !size.is_empty() {
                params["DiskDeviceMapping.1.DiskImageSize"] = json!(*size);
            }
            submit(&ctx, "ImportImage", params, error.clone(), on_close.clone(), |v: &Value| {
                let c = Created::of(v);
                format!("Importing image {} (task {}).", c.image_id, c.task_id)
            });
        })
    };
    html! {
        <Dialog title="Import Image" on_close={p.on_close.clone()}>
            <div class="form">
                <p class="hint">{"Import a disk image file from OSS as a custom image: upload the file on the OSS page first. RAW (any length) and QCOW2 (versions 2 and 3, any cluster size, compressed clusters; images with a backing file or encryption are refused) are supported."}</p>
                <label>{"Image Name"}<input type="text" aria-label="Image Name" placeholder="2-128 characters, starting with a letter" value={(*name).clone()} oninput={input(&name)} /></label>
                <label>{"OSS Bucket"}
                    <select aria-label="OSS Bucket" onchange={{ let (b, o) = (bucket.clone(), object.clone()); Callback::from(move |e: Event| { b.set(value_of(&e)); o.set(String::new()); }) }}>
                        <option value="" selected={bucket.is_empty()}>{"Choose a bucket"}</option>
                        { for buckets.iter().map(|b| html! { <option value={b.clone()} selected={*b == *bucket}>{b.clone()}</option> }) }
                    </select>
                </label>
                <label>{"OSS Object"}
                    <select aria-label="OSS Object" onchange={pick_object}>
                        <option value="" selected={object.is_empty()}>{"Choose an object"}</option>
                        { for objects.iter().map(|o| html! { <option key={o.key.clone()} value={o.key.clone()} selected={o.key == *object}>{format!("{} ({})", o.key, bytes(o.size))}</option> }) }
                    </select>
                </label>
                <label>{"Image Format"}
                    <select aria-label="Image Format" onchange={change(&format)}>
                        { for [("", "Detect from the file"), ("QCOW2", "QCOW2"), ("RAW", "RAW")].iter().map(|(v, t)| html! { <option value={*v} selected={*v == *format}>{*t}</option> }) }
                    </select>
                </label>
                <label>{"System Disk Size (GiB; empty: the image's own size)"}<input type="number" aria-label="Disk Image Size" min="1" max="2048" value={(*size).clone()} oninput={input(&size)} /></label>
                <label>{"Operating System"}
                    <select aria-label="Operating System" onchange={change(&os_type)}>
                        { for ["linux", "windows"].iter().map(|f| html! { <option value={*f} selected={*f == *os_type}>{if *f == "linux" { "Linux" } else { "Windows" }}</option> }) }
                    </select>
                </label>
                <label>{"Platform"}<input type="text" aria-label="Platform" value={(*platform).clone()} oninput={input(&platform)} /></label>
                <label>{"Architecture"}
                    <select aria-label="Architecture" onchange={change(&arch)}>
                        { for ["x86_64", "arm64", "i386"].iter().map(|f| html! { <option value={*f} selected={*f == *arch}>{*f}</option> }) }
                    </select>
                </label>
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
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
    let bucket = use_state(String::new);
    let prefix = use_state(|| "exports/".to_string());
    let format = use_state(|| "qcow2".to_string());
    let error = use_state(|| None::<Error>);
    let (buckets, _) = use_bucket_objects(&bucket);
    let id = p.image.image_id.clone();
    let ok = {
        let (ctx, error, on_close) = (ctx.clone(), error.clone(), p.on_close.clone());
        let (bucket, prefix, format, id) = (bucket.clone(), prefix.clone(), format.clone(), id.clone());
        Callback::from(move |_: MouseEvent| {
            let params = json!({"ImageId": id, "OSSBucket": *bucket, "OSSPrefix": *prefix, "ImageFormat": *format});
            submit(&ctx, "ExportImage", params, error.clone(), on_close.clone(), |v: &Value| {
                let c = Created::of(v);
                format!("Exporting to {} (task {}).", c.oss_object, c.task_id)
            });
        })
    };
    html! {
        <Dialog title="Export Image" on_close={p.on_close.clone()}>
            <div class="form">
                <p>{format!("Export the system disk of image {} ({}) to OSS. The object's name is the prefix, the image ID and _system.<format>; it appears when the task finishes.", id, p.image.image_name)}</p>
                <label>{"OSS Bucket"}
                    <select aria-label="OSS Bucket" onchange={change(&bucket)}>
                        <option value="" selected={bucket.is_empty()}>{"Choose a bucket"}</option>
                        { for buckets.iter().map(|b| html! { <option value={b.clone()} selected={*b == *bucket}>{b.clone()}</option> }) }
                    </select>
                </label>
                <label>{"OSS Prefix"}<input type="text" aria-label="OSS Prefix" value={(*prefix).clone()} oninput={input(&prefix)} /></label>
                <label>{"Image Format"}
                    <select aria-label="Image Format" onchange={change(&format)}>
                        { for ["qcow2", "raw"].iter().map(|f| html! { <option value={*f} selected={*f == *format}>{f.to_uppercase()}</option> }) }
                    </select>
                </label>
                <p class="hint">{"QCOW2: version 3, sparse (never-written clusters are not stored). RAW: the full disk size, stored sparse."}</p>
                {error_line(&error)}
                <DialogButtons ok="OK" on_ok={ok} on_cancel={p.on_close.clone()} />
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
