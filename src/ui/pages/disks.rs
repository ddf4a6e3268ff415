//! The Disks page: search, filters by status, category and disk type,
//! newest or oldest first, paged in the browser; each disk's Create Snapshot
//! (seed 001 from Storage & Snapshots > Disks).

use serde_json::json;
use yew::prelude::*;

use crate::ui::components::snapshot_form::{SnapshotForm, SnapshotFrom};
use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::model::keys::key_name;
use crate::ui::model::list::{ListState, DISK_FILTERS};
use crate::ui::model::rows::{encrypted_text, rows, DiskRow, ENCRYPTED_NOTE};
use crate::ui::Route;

/// The Disks list: search by disk ID or name, filters by status, category
/// and disk type, newest or oldest first, paged in the browser like the
/// snapshot table.
#[function_component(DisksPage)]
pub fn disks_page() -> Html {
    let data = use_query("DescribeDisks", json!({"PageSize": 100}));
    let keys = use_keys();
    let list = use_reducer(ListState::newest_first);
    // The disk whose Create Snapshot dialog is open (and whether it takes local snapshots).
    let snapshot_for = use_state(|| None::<(String, bool)>);
    let body = match &data {
        None => html! { <p class="loading" aria-busy="true">{"Loading disks…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(v)) => {
            let all: Vec<DiskRow> = rows(v, "Disks", "Disk");
            if all.is_empty() {
                return html! { <section class="page"><h1 id="page-title">{"Disks"}</h1><p class="empty">{"No disks yet. Create Instance makes a system disk; Create Disk on a snapshot makes a data disk."}</p></section> };
            }
            let shown = list.show(&all);
            html! {
                <>
                <div class="toolbar">
                    {search_box("Search disks", "Search by disk ID or name", &list)}
                    { for DISK_FILTERS.iter().map(|f| filter_select(f, f.options, &list)) }
                    {sort_toggle(&list)}
                    <span class="sub">{format!("{} of {} disks", shown.matched, shown.total)}</span>
                    {pager(shown.page, shown.pages, &list)}
                </div>
                if shown.matched == 0 {
                    <p class="empty">{"No disk matches the search and filters."}</p>
                } else {
                <div class="table-scroll">
                <table class="grid">
                    <thead><tr role="row"><th>{"Disk ID/Name"}</th><th>{"Type"}</th><th>{"Category"}</th><th>{"Size"}</th><th>{"Status"}</th><th>{"Instance"}</th><th>{"Zone"}</th><th title={ENCRYPTED_NOTE}>{"Encrypted"}</th><th>{"Source Snapshot"}</th><th>{"Created At"}</th><th>{"Actions"}</th></tr></thead>
                    <tbody>
                    { for shown.rows.iter().map(|d| {
                        let id = d.disk_id.clone();
                        let open = { let h = snapshot_for.clone(); let v = (id.clone(), d.local_snapshots()); Callback::from(move |_: MouseEvent| h.set(Some(v.clone()))) };
                        html! {
                            <tr role="row" data-disk={id.clone()}>
                                <td><a href={Route::Disk { id: id.clone() }.href()} class="mono">{id.clone()}</a><div class="sub">{d.disk_name.clone()}</div></td>
                                <td>{if d.kind == "system" { "System Disk" } else { "Data Disk" }}</td>
                                <td>{format!("{} {}", d.category, d.performance_level)}</td>
                                // Written under the size: the list with Encrypted and Actions fits a 1440 px window.
                                <td class="nowrap">{format!("{} GiB", d.size)}<div class="sub">{format!("{} written", bytes(d.referenced_bytes))}</div></td>
                                <td>{status_badge(&d.status)}{if d.hydration_progress != "100%" { format!(" restoring {}", d.hydration_progress) } else { String::new() }}</td>
                                <td class="mono">{d.instance_id.clone()}</td>
                                <td>{d.zone_id.clone()}</td>
                                <td title={d.kms_key_id.clone()}>{encrypted_text(d.encrypted)}if d.encrypted { <div class="sub">{key_name(&keys, &d.kms_key_id)}</div> }</td>
                                <td class="mono">{d.source_snapshot_id.clone()}</td>
                                <td>{when(&d.creation_time)}</td>
                                <td class="actions"><button class="link" onclick={open}>{"Create Snapshot"}</button></td>
                            </tr>
                        }
                    }) }
                    </tbody>
                </table>
                </div>
                }
                </>
            }
        }
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Disks"}</h1>
            {body}
            if let Some((disk_id, essd)) = (*snapshot_for).clone() {
                <SnapshotForm from={SnapshotFrom::Disk { disk_id, essd }} on_close={let h = snapshot_for.clone(); Callback::from(move |_| h.set(None))} />
            }
        </section>
    }
}
