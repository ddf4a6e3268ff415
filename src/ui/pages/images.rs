//! The Images page: custom and public images (search, type filter), Create
//! Custom Image from snapshots, Create Instance from an image, Import Image,
//! Export Image, Delete, and the tasks.

use serde_json::json;
use yew::prelude::*;

use super::image_tasks::{ExportImageDialog, ImportImageDialog, TaskList};
use super::instances::CreateInstanceDialog;
use crate::ui::components::copy::CopyDialog;
use crate::ui::components::snapshot_table::CreateImageDialog;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::copies::Copying;
use crate::ui::model::list::{ListState, IMAGE_FILTERS};
use crate::ui::model::rows::{rows, ImageRow};

/// The Images page's dialog.
#[derive(Clone, PartialEq)]
enum Open {
    /// Create Custom Image from snapshots.
    Create,
    Import,
    Export(ImageRow),
    Copy(String),
    /// Create Instance from this image.
    Launch(String),
    Delete(ImageRow),
}

#[function_component(ImagesPage)]
pub fn images_page() -> Html {
    let ctx = use_ctx();
    let data = use_query("DescribeImages", json!({"PageSize": 100}));
    let open = use_state(|| None::<Open>);
    let list = use_reducer(ListState::unordered);
    let show = |what: Open| {
        let o = open.clone();
        Callback::from(move |_: MouseEvent| o.set(Some(what.clone())))
    };
    let close = {
        let o = open.clone();
        Callback::from(move |_| o.set(None))
    };
    let body = match &data {
        None => html! { <p class="loading">{"Loading images…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(v)) => {
            let all: Vec<ImageRow> = rows(v, "Images", "Image");
            let shown = list.show(&all);
            html! {
            <>
            <div class="toolbar"><span class="sub">{format!("{} of {} images", shown.matched, shown.total)}</span>{pager(shown.page, shown.pages, &list)}</div>
            <table class="grid">
                <thead><tr role="row"><th>{"Image ID/Name"}</th><th>{"Owner"}</th><th>{"OS"}</th><th>{"Size"}</th><th>{"Disks"}</th><th>{"Status"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                <tbody>
                if shown.rows.is_empty() { <tr><td colspan="8" class="empty">{"No images match."}</td></tr> }
                { for shown.rows.iter().map(|i| {
                    let (custom, ready, status) = (i.is_custom(), i.is_ready(), i.status.as_str());
                    html! {
                        <tr role="row">
                            <td><div class="mono">{i.image_id.clone()}</div><div class="sub">{i.image_name.clone()}</div></td>
                            <td>{if custom { "Custom Image" } else { "Public Image" }}</td>
                            <td>{i.os_name.clone()}<div class="sub">{if i.boots_in_browser { "Boots in this browser" } else { "Does not boot in the browser" }}</div></td>
                            <td>{format!("{} GiB", i.size)}</td>
                            <td>{i.disk_device_mappings.0}</td>
                            <td>
                                {status_badge(status)}
                                if status == "Creating" { <div class="sub">{format!("Progress: {}", i.progress)}</div> }
                                if status == "CreateFailed" { <div class="sub" style="color: #b3261e">{i.failure_reason.clone()}</div> }
                            </td>
                            <td>{if custom { when(&i.creation_time) } else { String::new() }}</td>
                            <td class="actions">
                                <button class="link" onclick={show(Open::Launch(i.image_id.clone()))} disabled={!ready}>{"Create Instance"}</button>
                                if custom { <button class="link" onclick={show(Open::Export((*i).clone()))} disabled={!ready}>{"Export Image"}</button> }
                                if custom { <button class="link" onclick={show(Open::Copy(i.image_id.clone()))} disabled={!ready}>{"Copy Image"}</button> }
                                if custom { <button class="link danger" onclick={show(Open::Delete((*i).clone()))}>{"Delete"}</button> }
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
            <button class="primary" onclick={show(Open::Create)}>{"Create Custom Image"}</button>
            <button onclick={show(Open::Import)}>{"Import Image"}</button>
            {search_box("Search images", "Image ID or name", &list)}
            {filter_select(&IMAGE_FILTERS[0], IMAGE_FILTERS[0].options, &list)}
        </div>
    };
    let dialog = match (*open).clone() {
        None => html! {},
        Some(Open::Create) => html! { <CreateImageDialog snap={None} on_close={close} /> },
        Some(Open::Import) => html! { <ImportImageDialog on_close={close} /> },
        Some(Open::Export(image)) => html! { <ExportImageDialog {image} on_close={close} /> },
        Some(Open::Copy(id)) => html! { <CopyDialog what={Copying::Image} {id} on_close={close} /> },
        Some(Open::Launch(image)) => html! { <CreateInstanceDialog image={Some(image)} on_close={close} /> },
        Some(Open::Delete(img)) => {
            let ok = {
                let (ctx, close) = (ctx.clone(), close.clone());
                let id = img.image_id.clone();
                Callback::from(move |_: MouseEvent| {
                    run(&ctx, "DeleteImage", json!({"ImageId": id, "Force": true}), format!("Image {id} deleted."), None);
                    close.emit(());
                })
            };
            html! {
                <Dialog title="Delete Image" on_close={close.clone()}>
                    <div class="form">
                        <p>{format!("Delete image {} ({}). Its snapshots stay; instances and disks created from it keep running with their data. An imported image's own content goes with it, and an import still in progress is cancelled.", img.image_id, img.image_name)}</p>
                        <div class="buttons"><button class="primary danger" onclick={ok}>{"Delete"}</button><button onclick={close.reform(|_: MouseEvent| ())}>{"Cancel"}</button></div>
                    </div>
                </Dialog>
            }
        }
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Images"}</h1>
            <p class="hint">{"Create Custom Image makes an image of snapshots: a system-disk snapshot and any data-disk snapshots (also a row action of each snapshot). Create Instance (Instances page) boots any image here. Import Image brings a RAW or QCOW2 file from OSS; Export Image writes a custom image to OSS."}</p>
            {toolbar}
            {body}
            <TaskList />
            {dialog}
        </section>
    }
}
