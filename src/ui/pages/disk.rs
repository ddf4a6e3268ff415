//! A disk's page: its block map, space chart and data panel (write a test
//! pattern, view any offset as hex, upload a file at an offset, download a range).

use serde_json::json;
use yew::prelude::*;

use crate::error::Error;
use crate::service;
use crate::ui::components::snapshot_form::{SnapshotForm, SnapshotFrom};
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::keys::encrypted_with;
use crate::ui::model::rows::{first, rows, BlockMapReply, DiskRow, SnapshotRow, ENCRYPTED_NOTE};
use crate::ui::Route;

#[derive(Properties, PartialEq)]
pub struct DiskProps {
    pub id: String,
}

#[function_component(DiskDetails)]
pub fn disk_details(p: &DiskProps) -> Html {
    let ctx = use_ctx();
    let disk = use_query("DescribeDisks", json!({"DiskIds": [p.id.clone()]}));
    let map = use_query("DescribeBlockMap", json!({"DiskId": p.id.clone()}));
    let snaps = use_query("DescribeSnapshots", json!({"DiskId": p.id.clone(), "PageSize": 100}));
    let offset = use_state(|| "0".to_string());
    let length = use_state(|| "1048576".to_string());
    let progress = use_state(|| None::<(f64, f64)>);
    let hex = use_state(|| None::<Result<Vec<u8>, Error>>);
    let snapshotting = use_state(|| false);
    let modifying = use_state(|| false);
    let keys = use_keys();
    let raw = disk.as_ref().and_then(|r| r.as_ref().ok()).map(|v| v["Disks"]["Disk"][0].clone());
    let d = disk.and_then(|r| r.ok()).and_then(|v| first::<DiskRow>(&v, "Disks", "Disk"));
    let Some(d) = d else {
        return html! { <section class="page"><h1 id="page-title">{p.id.clone()}</h1><p class="loading">{"Loading the disk…"}</p></section> };
    };
    let snap_list: Vec<SnapshotRow> = snaps.iter().flatten().flat_map(|v| rows(v, "Snapshots", "Snapshot")).collect();
    // Oldest first: colours follow the order snapshots were taken.
    let mut order: Vec<String> = snap_list.iter().map(|s| s.snapshot_id.clone()).collect();
    order.reverse();

    let grid = match &map {
        None => html! { <p class="loading">{"Reading the block map…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(m)) => crate::ui::components::blockmap::block_map(&BlockMapReply::of(m), &order),
    };
    // Space chart: the disk and each snapshot, exclusive vs shared.
    let max = snap_list.iter().map(|s| s.referenced_bytes).chain([d.referenced_bytes]).max().unwrap_or(1).max(1);
    let bar = |label: String, referenced: u64, exclusive: u64| {
        let w = |n: u64| format!("width:{:.2}%", n as f64 * 100.0 / max as f64);
        html! {
            <div class="bar-row">
                <span class="bar-label mono">{label}</span>
                <span class="bar"><span class="excl" style={w(exclusive)}></span><span class="shared" style={w(referenced.saturating_sub(exclusive))}></span></span>
                <span class="sub">{format!("{} referenced, {} exclusive", bytes(referenced), bytes(exclusive))}</span>
            </div>
        }
    };
    let write_pattern = {
        let (ctx, id) = (ctx.clone(), p.id.clone());
        let offset = offset.clone();
        Callback::from(move |_: MouseEvent| {
            let (ctx, id) = (ctx.clone(), id.clone());
            let off: u64 = offset.parse().unwrap_or(0);
            wasm_bindgen_futures::spawn_local(async move {
                let pattern: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
                match service::with(async |ecs| ecs.write_disk(&id, off, &pattern).await).await {
                    Ok(()) => ctx.toast.emit(Toast::Ok(format!("Wrote a 64 KiB test pattern at offset {off}."))),
                    Err(e) => ctx.toast.emit(Toast::Err(e)),
                }
                ctx.refresh.emit(());
            });
        })
    };
    let view = {
        let (id, offset, hex) = (p.id.clone(), offset.clone(), hex.clone());
        Callback::from(move |_: MouseEvent| {
            let (id, hex) = (id.clone(), hex.clone());
            let off: u64 = offset.parse().unwrap_or(0);
            wasm_bindgen_futures::spawn_local(async move {
                hex.set(Some(service::with(async |ecs| ecs.read_disk(&id, off, 256).await).await));
            });
        })
    };
    let upload = {
        let (ctx, id, offset, progress) = (ctx.clone(), p.id.clone(), offset.clone(), progress.clone());
        Callback::from(move |e: Event| {
            let input: web_sys::HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|f| f.get(0)) else { return };
            input.set_value("");
            let (ctx, id, progress) = (ctx.clone(), id.clone(), progress.clone());
            let start: u64 = offset.parse().unwrap_or(0);
            wasm_bindgen_futures::spawn_local(async move {
                match write_file(&id, start, file.as_ref(), |done, total| progress.set(Some((done, total)))).await {
                    Ok(n) => ctx.toast.emit(Toast::Ok(format!("Wrote {} at offset {start}.", bytes(n)))),
                    Err(e) => ctx.toast.emit(Toast::Err(e)),
                }
                progress.set(None);
                ctx.refresh.emit(());
            });
        })
    };
    let download_range = {
        let (ctx, id, offset, length) = (ctx.clone(), p.id.clone(), offset.clone(), length.clone());
        Callback::from(move |_: MouseEvent| {
            let (ctx, id) = (ctx.clone(), id.clone());
            let (start, len): (u64, u64) = (offset.parse().unwrap_or(0), length.parse().unwrap_or(0));
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = download_range_of(&id, start, len).await {
                    ctx.toast.emit(Toast::Err(e));
                }
            });
        })
    };
    let dump = match &*hex {
        None => html! {},
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(b)) => {
            let base: u64 = offset.parse().unwrap_or(0);
            html! { <pre class="hex" aria-label="Hex view">{ b.chunks(16).enumerate().map(|(i, row)| {
                let hexs: Vec<String> = row.iter().map(|x| format!("{x:02x}")).collect();
                let text: String = row.iter().map(|&x| if (32..127).contains(&x) { x as char } else { '.' }).collect();
                format!("{:012x}  {:<48} {}\n", base + i as u64 * 16, hexs.join(" "), text)
            }).collect::<String>() }</pre> }
        }
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <p class="crumbs"><a href={Route::Disks.href()}>{"Disks"}</a>{" / "}{p.id.clone()}</p>
            <h1 id="page-title">{format!("{} ({} GiB {} {})", p.id, d.size, d.category, if d.is_system() { "system disk" } else { "data disk" })}</h1>
            <div class="toolbar">
                <button class="primary" onclick={let h = snapshotting.clone(); Callback::from(move |_| h.set(true))}>{"Create Snapshot"}</button>
                <button onclick={let h = modifying.clone(); Callback::from(move |_| h.set(true))}>{"Modify"}</button>
                {status_badge(&d.status)}
                <span class="sub" title={ENCRYPTED_NOTE}>{format!("Encrypted: {}", encrypted_with(&keys, d.encrypted, &d.kms_key_id))}</span>
                if d.hydration_progress != "100%" { <span class="sub">{format!("Restoring from OSS: {}", d.hydration_progress)}</span> }
            </div>
            <h2>{"Block map"}</h2>
            {grid}
            <h2>{"Space"}</h2>
            <div class="space">
                {bar(format!("{} (disk)", p.id), d.referenced_bytes, d.written_since_snapshot_bytes)}
                { for snap_list.iter().map(|sn| bar(sn.snapshot_id.clone(), sn.referenced_bytes, sn.exclusive_bytes)) }
                <p class="legend"><span><span class="cell excl"></span>{" exclusive (freed by deleting it)"}</span><span><span class="cell shared"></span>{" shared"}</span></p>
            </div>
            <h2>{"Data"}</h2>
            <div class="toolbar">
                <label>{"Offset "}<input type="number" aria-label="Offset" min="0" value={(*offset).clone()}
                    oninput={let o = offset.clone(); Callback::from(move |e: InputEvent| o.set(value_of(&e.into())))} /></label>
                <button onclick={view}>{"View as Hex"}</button>
                <button onclick={write_pattern}>{"Write Test Pattern"}</button>
                <label class="button-like">{"Upload File at Offset"}<input type="file" aria-label="Upload File at Offset" onchange={upload} /></label>
                <label>{"Length "}<input type="number" aria-label="Length" min="1" value={(*length).clone()}
                    oninput={let l = length.clone(); Callback::from(move |e: InputEvent| l.set(value_of(&e.into())))} /></label>
                <button onclick={download_range}>{"Download Range"}</button>
            </div>
            <p class="sub">{"Reading and writing need the disk attached to a Running instance, as the instance's operating system would use it."}</p>
            if let Some((done, total)) = *progress {
                <div class="progress"><span>{format!("Writing: {} of {}", bytes(done as u64), bytes(total as u64))}</span>
                    <progress aria-label="Write progress" max={total.max(1.0).to_string()} value={done.to_string()}></progress></div>
            }
            {dump}
            if let (true, Some(disk)) = (*modifying, raw) {
                <crate::ui::components::disk_modify::ModifyDiskDialog {disk} on_close={let h = modifying.clone(); Callback::from(move |_| h.set(false))} />
            }
            if *snapshotting {
                <SnapshotForm from={SnapshotFrom::Disk { disk_id: p.id.clone(), essd: d.local_snapshots() }}
                    on_close={let h = snapshotting.clone(); Callback::from(move |_| h.set(false))} />
            }
        </section>
    }
}

/// Writes a local file into a disk at `start`, 4 MiB at a time (each one
/// transaction); the file is read in slices, never whole.
async fn write_file(disk: &str, start: u64, blob: &web_sys::Blob, progress: impl Fn(f64, f64)) -> Result<u64, Error> {
    let size = blob.size();
    service::for_each_slice(blob, service::SLICE, async |at, data| {
        let n = data.len() as u64;
        service::with(async |ecs| ecs.write_disk(disk, start + at, &data).await).await?;
        progress((at + n) as f64, size);
        Ok(())
    })
    .await?;
    Ok(size as u64)
}

/// Downloads `len` bytes of a disk from `start` to a local file, read in 4 MiB parts.
async fn download_range_of(disk: &str, start: u64, len: u64) -> Result<(), Error> {
    const PART: u64 = 4 << 20;
    let parts = js_sys::Array::new();
    let mut done = 0;
    while done < len {
        let n = PART.min(len - done);
        let data = service::with(async |ecs| ecs.read_disk(disk, start + done, n).await).await?;
        parts.push(&js_sys::Uint8Array::from(&data[..]));
        done += n;
    }
    save_file(&parts, &format!("{disk}-{start}-{len}.bin"))
}
