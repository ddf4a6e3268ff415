//! The OSS page: buckets and objects of the embedded OSS; upload a local
//! file (with a progress bar), download an object (read in 4 MiB ranges),
//! delete. Snapshot data lives in a hidden bucket that is not listed.

use yew::prelude::*;

use crate::error::Error;
use crate::oss::Listed;
use crate::service;
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::list::{ListState, Row};

const PART: u64 = 4 << 20;
/// Objects larger than this are streamed to a file the person picks, where
/// the browser can (`showSaveFilePicker`): they never sit in memory.
const STREAM_ABOVE: u64 = 64 << 20;

/// Downloads an object to a local file, read in 4 MiB ranges: streamed into
/// the file for large objects where the browser can, else as Blob parts.
async fn download(bucket: String, key: String, size: u64) -> Result<(), Error> {
    let name = key.rsplit('/').next().unwrap_or(&key).to_string();
    if size > STREAM_ABOVE {
        let fail = |m: String| Error::new(400, "DownloadFailed", format!("The file was not saved: {m}"));
        if let Some(file) = crate::browser::FileStream::open(&name).await.map_err(fail)? {
            let mut offset = 0;
            while offset < size {
                let data = service::with(async |ecs| ecs.oss_get(&bucket, &key, Some((offset, PART))).await).await?;
                file.write(&data).await.map_err(fail)?;
                offset += PART;
            }
            return file.close().await.map_err(fail);
        }
    }
    let parts = js_sys::Array::new();
    let mut offset = 0;
    while offset < size.max(1) {
        let data = service::with(async |ecs| ecs.oss_get(&bucket, &key, Some((offset, PART))).await).await?;
        parts.push(&js_sys::Uint8Array::from(&data[..]));
        offset += PART;
        if size == 0 {
            break;
        }
    }
    save_file(&parts, &name)
}

impl Row for Listed {
    fn search_text(&self) -> Vec<&str> {
        vec![&self.key]
    }
}

#[function_component(OssPage)]
pub fn oss_page() -> Html {
    let ctx = use_ctx();
    let buckets = use_state(Vec::<String>::new);
    let bucket = use_state(String::new);
    // The listing and the bucket it is of: rows of another bucket are never shown.
    let objects = use_state(|| None::<(String, Result<Vec<Listed>, Error>)>);
    let new_bucket = use_state(String::new);
    let progress = use_state(|| None::<(String, f64, f64)>);
    let error = use_state(|| None::<Error>);
    let search = use_reducer(ListState::unordered);
    let deleting = use_state(|| None::<Listed>);
    {
        let (buckets, bucket, objects) = (buckets.clone(), bucket.clone(), objects.clone());
        use_effect_with((ctx.tick, (*bucket).clone()), move |(_, chosen)| {
            let chosen = chosen.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(b) = service::with(async |ecs| ecs.oss_list_buckets().await).await {
                    if chosen.is_empty() {
                        if let Some(first) = b.first() {
                            bucket.set(first.clone());
                        }
                    }
                    buckets.set(b);
                }
                if !chosen.is_empty() {
                    let listed = service::with(async |ecs| ecs.oss_list(&chosen, "").await).await;
                    objects.set(Some((chosen, listed)));
                }
            });
        });
    }
    let create = {
        let (ctx, new_bucket, bucket, error) = (ctx.clone(), new_bucket.clone(), bucket.clone(), error.clone());
        Callback::from(move |_: MouseEvent| {
            let name = (*new_bucket).clone();
            let (ctx, bucket, error) = (ctx.clone(), bucket.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match service::with(async |ecs| ecs.oss_create_bucket(&name).await).await {
                    Ok(()) => {
                        ctx.toast.emit(Toast::Ok(format!("Bucket {name} created.")));
                        bucket.set(name);
                        error.set(None);
                    }
                    Err(e) => error.set(Some(e)),
                }
                ctx.refresh.emit(());
            });
        })
    };
    let upload = {
        let (ctx, bucket, progress, error) = (ctx.clone(), bucket.clone(), progress.clone(), error.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            input.set_value("");
            let (ctx, b, progress, error) = (ctx.clone(), (*bucket).clone(), progress.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let name = file.name();
                let size = file.size();
                progress.set(Some((name.clone(), 0.0, size)));
                let p2 = progress.clone();
                let n2 = name.clone();
                let blob: &web_sys::Blob = file.as_ref();
                match service::put_blob(&b, &name, blob, move |done| p2.set(Some((n2.clone(), done, size)))).await {
                    Ok(()) => ctx.toast.emit(Toast::Ok(format!("Uploaded {name} ({}).", bytes(size as u64)))),
                    Err(e) => error.set(Some(e)),
                }
                progress.set(None);
                ctx.refresh.emit(());
            });
        })
    };
    let listing = (*objects).as_ref().filter(|(b, _)| *b == *bucket).map(|(_, r)| r);
    let rows = match listing {
        None => html! { <p class="loading">{if bucket.is_empty() { "Create a bucket to start." } else { "Loading objects…" }}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(list)) if list.is_empty() => html! { <p class="empty">{"No objects in this bucket. Upload File puts a local file here."}</p> },
        Some(Ok(list)) => {
            let shown = search.show(list);
            html! {
            <>
            <div class="toolbar">
                {search_box("Search objects", "Object key (or part of it)", &search)}
                <span class="sub">{format!("{} of {} objects", shown.matched, shown.total)}</span>
                {pager(shown.page, shown.pages, &search)}
            </div>
            <table class="grid">
                <thead><tr role="row"><th>{"Key"}</th><th>{"Size"}</th><th>{"Last Modified"}</th><th>{"Actions"}</th></tr></thead>
                <tbody>
                if shown.rows.is_empty() { <tr><td colspan="4" class="empty">{"No object matches the search."}</td></tr> }
                { for shown.rows.into_iter().map(|o| {
                    let dl = { let (b, k, size, ctx) = ((*bucket).clone(), o.key.clone(), o.size, ctx.clone()); Callback::from(move |_: MouseEvent| {
                        let (b, k, ctx) = (b.clone(), k.clone(), ctx.clone());
                        wasm_bindgen_futures::spawn_local(async move { if let Err(e) = download(b, k, size).await { ctx.toast.emit(Toast::Err(e)) } });
                    }) };
                    let del = { let (d, o) = (deleting.clone(), o.clone()); Callback::from(move |_: MouseEvent| d.set(Some(o.clone()))) };
                    html! {
                        <tr role="row"><td class="mono">{o.key.clone()}</td><td>{bytes(o.size)}</td><td>{when(&o.last_modified)}</td>
                            <td class="actions"><button class="link" onclick={dl}>{"Download"}</button><button class="link danger" onclick={del}>{"Delete"}</button></td></tr>
                    }
                }) }
                </tbody>
            </table>
            </>
            }
        }
    };
    // Deleting an object asks first and says what goes.
    let confirm = (*deleting).clone().map(|o| {
        let close = { let d = deleting.clone(); Callback::from(move |_| d.set(None)) };
        let ok = {
            let (b, k, ctx, close) = ((*bucket).clone(), o.key.clone(), ctx.clone(), close.clone());
            Callback::from(move |_: MouseEvent| {
                let (b, k, ctx) = (b.clone(), k.clone(), ctx.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    match service::with(async |ecs| ecs.oss_delete(&b, &k).await).await {
                        Ok(()) => ctx.toast.emit(Toast::Ok(format!("Deleted {k}."))),
                        Err(e) => ctx.toast.emit(Toast::Err(e)),
                    }
                    ctx.refresh.emit(());
                });
                close.emit(());
            })
        };
        html! {
            <Dialog title="Delete Object" on_close={close.clone()}>
                <div class="form">
                    <p>{format!("Delete {} ({}) from bucket {}? Its data is gone for good; images imported from it keep their own copy.", o.key, bytes(o.size), *bucket)}</p>
                    {dialog_buttons("Delete", ok, &close, true)}
                </div>
            </Dialog>
        }
    });
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"OSS"}</h1>
            <div class="toolbar">
                <label>{"Bucket "}<select aria-label="Bucket" onchange={let b = bucket.clone(); Callback::from(move |e: Event| b.set(value_of(&e)))}>
                    { for buckets.iter().map(|n| html! { <option value={n.clone()} selected={*bucket == *n}>{n.clone()}</option> }) }
                </select></label>
                <input type="text" aria-label="New bucket name" placeholder="new-bucket-name" value={(*new_bucket).clone()}
                    oninput={let n = new_bucket.clone(); Callback::from(move |e: InputEvent| n.set(value_of(&e.into())))} />
                <button onclick={create}>{"Create Bucket"}</button>
                if !bucket.is_empty() {
                    <label class="button-like">{"Upload File"}<input type="file" aria-label="Upload File" onchange={upload} /></label>
                }
            </div>
            if let Some((name, done, total)) = (*progress).clone() {
                <div class="progress"><span>{format!("Uploading {name}: {} of {}", bytes(done as u64), bytes(total as u64))}</span>
                    <progress aria-label="Upload progress" max={total.max(1.0).to_string()} value={done.to_string()}></progress></div>
            }
            {error_line(&error)}
            {rows}
            {confirm.unwrap_or_default()}
        </section>
    }
}
