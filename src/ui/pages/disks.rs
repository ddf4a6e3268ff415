//! The Disks page: search, filters by status, category and disk type,
//! newest or oldest first, paged in the browser.

use serde_json::{json, Value};
use yew::prelude::*;
use yew_router::prelude::*;

use crate::ui::components::*;
use crate::ui::context::*;
use crate::ui::Route;

/// ECS disk statuses, for the Status filter.
const DISK_STATUSES: &[(&str, &str)] = &[
    ("In_use", "In Use"),
    ("Available", "Available"),
    ("Attaching", "Attaching"),
    ("Detaching", "Detaching"),
    ("Creating", "Creating"),
    ("ReIniting", "Re-initializing"),
];

/// Disk categories, for the Category filter.
const DISK_CATEGORIES: &[(&str, &str)] = &[
    ("cloud_essd", "ESSD (cloud_essd)"),
    ("cloud_ssd", "Standard SSD (cloud_ssd)"),
    ("cloud_efficiency", "Ultra Disk (cloud_efficiency)"),
    ("cloud", "Basic Disk (cloud)"),
];

/// The Disks list: search by disk ID or name, filters by status, category
/// and disk type, newest or oldest first, paged in the browser like the
/// snapshot table.
#[function_component(DisksPage)]
pub fn disks_page() -> Html {
    let data = use_query("DescribeDisks", json!({"PageSize": 100}));
    let search = use_state(String::new);
    let status = use_state(String::new);
    let category = use_state(String::new);
    let kind = use_state(String::new);
    let oldest_first = use_state(|| false);
    let page = use_state(|| 0usize);
    let body = match &data {
        None => html! { <p class="loading" aria-busy="true">{"Loading disks…"}</p> },
        Some(Err(e)) => error_line(&Some(e.clone())),
        Some(Ok(v)) => {
            let rows = list(v, "Disks", "Disk");
            if rows.is_empty() {
                return html! { <section class="page"><h1 id="page-title">{"Disks"}</h1><p class="empty">{"No disks yet. Create Instance makes a system disk; Create Disk on a snapshot makes a data disk."}</p></section> };
            }
            let needle = search.trim().to_lowercase();
            let total = rows.len();
            let mut rows: Vec<Value> = rows
                .into_iter()
                .filter(|d| text_matches(&needle, &[s(d, "DiskId"), s(d, "DiskName")]))
                .filter(|d| admits(&status, s(d, "Status")))
                .filter(|d| admits(&category, s(d, "Category")))
                .filter(|d| admits(&kind, s(d, "Type")))
                .collect();
            sort_by_creation(&mut rows, *oldest_first);
            let shown = rows.len();
            let (rows, current, pages) = paginate(rows, *page);
            html! {
                <>
                <div class="toolbar">
                    {search_box("Search disks", "Search by disk ID or name", &search, &page)}
                    {filter_select("Status", "All statuses", DISK_STATUSES, &status, &page)}
                    {filter_select("Category", "All categories", DISK_CATEGORIES, &category, &page)}
                    {filter_select("Disk Type", "System and data disks", &[("system", "System Disk"), ("data", "Data Disk")], &kind, &page)}
                    {sort_toggle(&oldest_first, &page)}
                    <span class="sub">{format!("{shown} of {total} disks")}</span>
                    {pager(current, pages, &page)}
                </div>
                if shown == 0 {
                    <p class="empty">{"No disk matches the search and filters."}</p>
                } else {
                <table class="grid">
                    <thead><tr role="row"><th>{"Disk ID/Name"}</th><th>{"Type"}</th><th>{"Category"}</th><th>{"Size"}</th><th>{"Written"}</th><th>{"Status"}</th><th>{"Instance"}</th><th>{"Zone"}</th><th>{"Source Snapshot"}</th><th>{"Created At"}</th></tr></thead>
                    <tbody>
                    { for rows.iter().map(|d| {
                        let id = s(d, "DiskId").to_string();
                        html! {
                            <tr role="row" data-disk={id.clone()}>
                                <td><Link<Route> to={Route::Disk { id: id.clone() }} classes="mono">{id.clone()}</Link<Route>><div class="sub">{s(d, "DiskName").to_string()}</div></td>
                                <td>{if s(d, "Type") == "system" { "System Disk" } else { "Data Disk" }}</td>
                                <td>{format!("{} {}", s(d, "Category"), s(d, "PerformanceLevel"))}</td>
                                <td>{format!("{} GiB", d["Size"])}</td>
                                <td>{bytes(d["ReferencedBytes"].as_u64().unwrap_or(0))}</td>
                                <td>{status_badge(s(d, "Status"))}{if s(d, "HydrationProgress") != "100%" { format!(" restoring {}", s(d, "HydrationProgress")) } else { String::new() }}</td>
                                <td class="mono">{s(d, "InstanceId").to_string()}</td>
                                <td>{s(d, "ZoneId").to_string()}</td>
                                <td class="mono">{s(d, "SourceSnapshotId").to_string()}</td>
                                <td>{when(s(d, "CreationTime"))}</td>
                            </tr>
                        }
                    }) }
                    </tbody>
                </table>
                }
                </>
            }
        }
    };
    html! {
        <section class="page" aria-labelledby="page-title">
            <h1 id="page-title">{"Disks"}</h1>
            {body}
        </section>
    }
}
