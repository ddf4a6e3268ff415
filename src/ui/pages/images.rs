//! The Images page: custom and public images (search, type filter), Create
//! Instance from an image, Import Image, Export Image, Delete, and the tasks.

use serde_json::{json, Value};
use yew::prelude::*;

use crate::ui::components::*;
use crate::ui::context::*;

#[function_component(ImagesPage)]
pub fn images_page() -> Html {
    let ctx = use_ctx();
    let data = use_query("DescribeImages", json!({"PageSize": 100}));
    let deleting = use_state(|| None::<Value>);
    let launching = use_state(|| None::<String>);
    let importing = use_state(|| false);
    let exporting = use_state(|| None::<Value>);
    let search = use_state(String::new);
    let owner = use_state(String::new);
    let page = use_state(|| 0usize);
    let body = match &data {
        None => html! { <p class="loading">{"Loading images…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(v)) => {
            let q = search.trim().to_lowercase();
            let rows: Vec<Value> = list(v, "Images", "Image")
                .into_iter()
                .filter(|i| owner.is_empty() || s(i, "ImageOwnerAlias") == owner.as_str())
                .filter(|i| q.is_empty() || s(i, "ImageId").to_lowercase().contains(&q) || s(i, "ImageName").to_lowercase().contains(&q))
                .collect();
            let (total, shown) = (list(v, "Images", "Image").len(), rows.len());
            let (rows, current, pages) = paginate(rows, *page);
            html! {
            <>
            <div class="toolbar"><span class="sub">{format!("{shown} of {total} images")}</span>{pager(current, pages, &page)}</div>
            <table class="grid">
                <thead><tr role="row"><th>{"Image ID/Name"}</th><th>{"Owner"}</th><th>{"OS"}</th><th>{"Size"}</th><th>{"Disks"}</th><th>{"Status"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                <tbody>
                if rows.is_empty() { <tr><td colspan="8" class="empty">{"No images match."}</td></tr> }
                { for rows.iter().map(|i| {
                    let custom = s(i, "ImageOwnerAlias") == "self";
                    let del = { let d = deleting.clone(); let i = i.clone(); Callback::from(move |_: MouseEvent| d.set(Some(i.clone()))) };
                    let launch = { let l = launching.clone(); let id = s(i, "ImageId").to_string(); Callback::from(move |_: MouseEvent| l.set(Some(id.clone()))) };
                    let export = { let x = exporting.clone(); let i = i.clone(); Callback::from(move |_: MouseEvent| x.set(Some(i.clone()))) };
                    let ready = s(i, "Status") == "Available";
                    let status = s(i, "Status");
                    html! {
                        <tr role="row">
                            <td><div class="mono">{s(i, "ImageId").to_string()}</div><div class="sub">{s(i, "ImageName").to_string()}</div></td>
                            <td>{if custom { "Custom Image" } else { "Public Image" }}</td>
                            <td>{s(i, "OSName").to_string()}</td>
                            <td>{format!("{} GiB", i["Size"])}</td>
                            <td>{list(i, "DiskDeviceMappings", "DiskDeviceMapping").len()}</td>
                            <td>
                                {status_badge(status)}
                                if status == "Creating" { <div class="sub">{format!("Progress: {}", s(i, "Progress"))}</div> }
                                if status == "CreateFailed" { <div class="sub" style="color: #b3261e">{s(i, "FailureReason").to_string()}</div> }
                            </td>
                            <td>{if custom { when(s(i, "CreationTime")) } else { String::new() }}</td>
                            <td class="actions">
                                <button class="link" onclick={launch} disabled={!ready}>{"Create Instance"}</button>
                                if custom { <button class="link" onclick={export} disabled={!ready}>{"Export Image"}</button> }
                                if custom { <button class="link danger" onclick={del}>{"Delete"}</button> }
                            </td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
            </>
            }
        }
    };
    let toolbar = html! {
        <div class="toolbar">
            <button class="primary" onclick={{ let i = importing.clone(); Callback::from(move |_: MouseEvent| i.set(true)) }}>{"Import Image"}</button>
            {search_box("Search images", "Image ID or name", &search, &page)}
            <select aria-label="Image Type" onchange={{ let (o, pg) = (owner.clone(), page.clone()); Callback::from(move |e: Event| { o.set(value_of(&e)); pg.set(0); }) }}>
                <option value="" selected={owner.is_empty()}>{"All Images"}</option>
                <option value="self" selected={*owner == "self"}>{"Custom Images"}</option>
                <option value="system" selected={*owner == "system"}>{"Public Images"}</option>
            </select>
        </div>
    };
    let confirm = (*deleting).clone().map(|img| {
        let close = { let d = deleting.clone(); Callback::from(move |_| d.set(None)) };
        let ok = {
            let (ctx, close) = (ctx.clone(), close.clone());
            let id = s(&img, "ImageId").to_string();
            Callback::from(move |_: MouseEvent| {
                run(&ctx, "DeleteImage", json!({"ImageId": id, "Force": true}), format!("Image {id} deleted."), None);
                close.emit(());
            })
        };
        html! {
            <Dialog title="Delete Image" on_close={close.clone()}>
                <div class="form">
                    <p>{format!("Delete image {} ({}). Its snapshots stay; instances and disks created from it keep running with their data. An imported image's own content goes with it, and an import still in progress is cancelled.", s(&img, "ImageId"), s(&img, "ImageName"))}</p>
                    <div class="buttons"><button class="primary danger" onclick={ok}>{"Delete"}</button><button onclick={close.reform(|_: MouseEvent| ())}>{"Cancel"}</button></div>
                </div>
            </Dialog>
        }
    });
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Images"}</h1>
            <p class="hint">{"Create Custom Image is a row action on the Snapshots page; Create Instance (Instances page) boots any image here. Import Image brings a RAW or QCOW2 file from OSS; Export Image writes a custom image to OSS."}</p>
            {toolbar}
            {body}
            <super::image_tasks::TaskList />
            {confirm.unwrap_or_default()}
            if *importing {
                <super::image_tasks::ImportImageDialog on_close={let i = importing.clone(); Callback::from(move |_| i.set(false))} />
            }
            if let Some(image) = (*exporting).clone() {
                <super::image_tasks::ExportImageDialog image={image} on_close={let x = exporting.clone(); Callback::from(move |_| x.set(None))} />
            }
            if let Some(image) = (*launching).clone() {
                <super::instances::CreateInstanceDialog image={Some(image)} on_close={let l = launching.clone(); Callback::from(move |_| l.set(None))} />
            }
        </section>
    }
}
