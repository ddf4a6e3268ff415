//! A snapshot's page: what it is and holds (attributes, space, what depends
//! on it), its block map, and its actions.

use serde_json::json;
use yew::prelude::*;

use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::keys::encrypted_with;
use crate::ui::model::rows::{first, rows, BlockMapReply, SnapshotRow};
use crate::ui::Route;

#[derive(Properties, PartialEq)]
pub struct SnapshotProps {
    pub id: String,
}

fn row(label: &'static str, value: Html) -> Html {
    html! { <tr role="row"><th scope="row">{label}</th><td>{value}</td></tr> }
}

fn text(v: impl Into<String>) -> Html {
    let v: String = v.into();
    html! { {if v.is_empty() { "-".to_string() } else { v }} }
}

#[function_component(SnapshotDetails)]
pub fn snapshot_details(p: &SnapshotProps) -> Html {
    let snap = use_query("DescribeSnapshots", json!({"SnapshotIds": [p.id.clone()]}));
    let keys = use_keys();
    let snap = match &snap {
        None => return html! { <section class="page"><h1 id="page-title">{p.id.clone()}</h1><p class="loading">{"Loading the snapshot…"}</p></section> },
        Some(Err(e)) => return html! { <section class="page"><h1 id="page-title">{p.id.clone()}</h1>{error_line(&Some(e.clone()))}</section> },
        Some(Ok(v)) => first::<SnapshotRow>(v, "Snapshots", "Snapshot"),
    };
    let Some(sn) = snap else {
        return html! {
            <section class="page">
                <p class="crumbs"><a href={Route::Snapshots.href()}>{"Snapshots"}</a>{" / "}{p.id.clone()}</p>
                <h1 id="page-title">{p.id.clone()}</h1>
                <p class="empty">{"This snapshot does not exist (it may have been deleted or released by its retention)."}</p>
            </section>
        };
    };
    let disk = sn.source_disk_id.clone();
    let local = sn.category == "flash";
    let progress = if sn.status == "progressing" && !local {
        format!("Upload to OSS: {} (about {} s left)", sn.progress, sn.remain_time)
    } else if local {
        "Local: 100%".to_string()
    } else {
        "Upload to OSS: 100%".to_string()
    };
    let retention = match sn.retention_days {
        Some(d) => format!("{d} days ({})", sn.retention_text()),
        None => "Permanent Retention".to_string(),
    };
    let tags: Vec<String> = sn.tags.tag.iter().map(|t| format!("{}={}", t.tag_key, t.tag_value)).collect();
    html! {
        <section class="page" aria-labelledby="page-title">
            <p class="crumbs"><a href={Route::Snapshots.href()}>{"Snapshots"}</a>{" / "}{p.id.clone()}</p>
            <h1 id="page-title">{format!("{} ", sn.snapshot_name)}<span class="mono sub">{p.id.clone()}</span></h1>
            <div class="toolbar actions"><crate::ui::components::snapshot_table::SnapshotActions snap={sn.clone()} /></div>
            <h2>{"Snapshot Details"}</h2>
            <table class="grid details" aria-label="Snapshot Details">
                <tbody>
                {row("Snapshot ID", html! { <span class="mono">{p.id.clone()}</span> })}
                {row("Snapshot Name", text(&sn.snapshot_name))}
                {row("Description", text(&sn.description))}
                {row("Status", status_badge(&sn.status))}
                {row("Progress", text(progress))}
                {row("Category", text(if local { "Local Snapshot" } else { "Normal Snapshot" }))}
                {row("Type", text(if sn.snapshot_type == "auto" { "Automatic" } else { "Manual" }))}
                {row("Source Disk", html! { <><a href={Route::Disk { id: disk.clone() }.href()} class="mono">{disk.clone()}</a>{format!(" ({} GiB, {} disk)", sn.source_disk_size, sn.source_disk_type)}</> })}
                {row("Incremental Size", text(bytes(sn.incremental_bytes)))}
                {row("Exclusive Size (freed by deleting it)", text(bytes(sn.exclusive_bytes)))}
                {row("Referenced Size", text(bytes(sn.referenced_bytes)))}
                {row("Instant Access", text(if sn.instant_access { format!("On ({} days)", sn.instant_access_retention_days.map_or("null".to_string(), |d| d.to_string())) } else { "Off".to_string() }))}
                {row("Encrypted", text(encrypted_with(&keys, sn.encrypted, &sn.kms_key_id)))}
                {row("Local Copy", text(if sn.local_copy_released { "Released: read from OSS" } else { "Kept" }))}
                {row("Object Storage", text(storage_text(&sn)))}
                {row("Retention Period", text(retention))}
                {row("Usage", text(match sn.usage.as_str() {
                    "image" => "Used by a custom image",
                    "disk" => "Disks were created from it",
                    "image_disk" => "Used by a custom image; disks were created from it",
                    _ => "Not used",
                }))}
                {row("Tags", text(tags.join(", ")))}
                {row("Created At", text(when(&sn.creation_time)))}
                </tbody>
            </table>
            <h2>{"Block Map"}</h2>
            <p class="hint">{"The blocks this snapshot sees, coloured by the snapshot of its disk that first captured them."}</p>
            <SnapshotBlockMap id={p.id.clone()} disk={disk.clone()} />
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct MapProps {
    id: String,
    disk: String,
}

/// The snapshot's block map, coloured like its disk's (by the disk's snapshots, oldest first).
#[function_component(SnapshotBlockMap)]
fn snapshot_block_map(p: &MapProps) -> Html {
    let map = use_query("DescribeBlockMap", json!({"SnapshotId": p.id.clone()}));
    let siblings = use_query("DescribeSnapshots", json!({"DiskId": p.disk.clone(), "PageSize": 100}));
    let mut order: Vec<String> = siblings.iter().flatten().flat_map(|v| rows::<SnapshotRow>(v, "Snapshots", "Snapshot")).map(|x| x.snapshot_id).collect();
    order.reverse();
    if !order.contains(&p.id) {
        order.push(p.id.clone());
    }
    match &map {
        None => html! { <p class="loading">{"Reading the block map…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(m)) => crate::ui::components::blockmap::block_map(&BlockMapReply::of(m), &order),
    }
}

/// Where a normal snapshot's uploaded data is, as its page says it.
fn storage_text(sn: &crate::ui::model::rows::SnapshotRow) -> String {
    let mut s = String::from(if sn.storage_location == "s3" { "S3-compatible bucket" } else { "Embedded (this browser)" });
    if !sn.object_storage_connected {
        s.push_str(": object storage not connected");
    } else if sn.read_only_in_object_storage {
        s.push_str(" (recovered: read-only, deleting it leaves the bucket's objects)");
    }
    if !sn.upload_paused.is_empty() {
        s.push_str(&format!("; upload waits: {}", sn.upload_paused));
    }
    s
}
