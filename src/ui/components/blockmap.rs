//! The block map: a volume's blocks as a grid, coloured by the snapshot that
//! first captured them, written since the last snapshot, or never written;
//! hover a cell for its offsets and sharing. Used by the disk and snapshot pages.

use serde_json::Value;
use yew::prelude::*;

use super::format::bytes;
use crate::ui::context::{list, s};

/// Colours for snapshots in the block map, by their position.
pub const PALETTE: &[&str] = &["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#e15759", "#bab0ac"];

#[derive(Properties, PartialEq)]
pub struct BlockMapProps {
    /// A DescribeBlockMap response.
    pub map: Value,
    /// Snapshot ids, oldest first: the colour order.
    pub order: Vec<String>,
}

#[function_component(BlockMap)]
pub fn block_map(p: &BlockMapProps) -> Html {
    let (m, order) = (&p.map, &p.order);
    let colour = |id: &str| order.iter().position(|x| x == id).map(|i| PALETTE[i % PALETTE.len()]).unwrap_or("#79706e");

    let blocks = m["Blocks"].as_u64().unwrap_or(0);
    let bs = m["BlockSize"].as_u64().unwrap_or(32768);
    let runs = list(m, "Runs", "Run");
    // Draw up to the last written block (at least 512 blocks): the rest is never written.
    let written_end = runs
        .iter()
        .filter(|r| s(r, "State") != "unwritten")
        .map(|r| r["Start"].as_u64().unwrap_or(0) + r["Length"].as_u64().unwrap_or(0))
        .max()
        .unwrap_or(0);
    let extent = written_end.max(512).min(blocks).max(1);
    let cells = extent.clamp(1, 512);
    let per = extent.div_ceil(cells).max(1);
    let rank = |r: &Value| -> i64 {
        match s(r, "State") {
            "unwritten" => -2,
            _ if s(r, "FirstSnapshotId").is_empty() => i64::MAX, // written since the last snapshot
            _ => order.iter().position(|x| x == s(r, "FirstSnapshotId")).map(|i| i as i64).unwrap_or(-1),
        }
    };
    let mut html_cells = Vec::new();
    let mut ri = 0usize;
    for c in 0..cells {
        let (lo, hi) = (c * per, ((c + 1) * per).min(extent));
        // The newest content in this cell tells the most.
        let mut best: Option<&Value> = None;
        while ri < runs.len() && runs[ri]["Start"].as_u64().unwrap_or(0) + runs[ri]["Length"].as_u64().unwrap_or(0) <= lo {
            ri += 1;
        }
        let mut j = ri;
        while j < runs.len() && runs[j]["Start"].as_u64().unwrap_or(0) < hi {
            if best.is_none_or(|b| rank(&runs[j]) > rank(b)) {
                best = Some(&runs[j]);
            }
            j += 1;
        }
        let (fill, label) = match best {
            Some(r) if s(r, "State") != "unwritten" && s(r, "FirstSnapshotId").is_empty() => ("#222831".to_string(), "written since the last snapshot (this disk only)".to_string()),
            Some(r) if s(r, "State") != "unwritten" => {
                let first = s(r, "FirstSnapshotId");
                let shared: Vec<String> = r["SharedWithSnapshots"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
                (colour(first).to_string(), format!("first captured by {first}; shared with {}", if shared.is_empty() { "no snapshot".into() } else { shared.join(", ") }))
            }
            _ => ("#e8eaed".to_string(), "never written".to_string()),
        };
        let title = format!("blocks {lo}..{hi} (bytes {}..{}): {label}", lo * bs, hi * bs);
        html_cells.push(html! { <span class="cell" style={format!("background:{fill}")} title={title}></span> });
    }
    html! {
        <>
        <div class="blockmap" role="img" aria-label={format!("Block map of {} blocks of {}", blocks, bytes(bs))}>{ for html_cells }</div>
        <p class="legend">
            <span><span class="cell" style="background:#e8eaed"></span>{" never written"}</span>
            <span><span class="cell" style="background:#222831"></span>{" written since the last snapshot"}</span>
            { for order.iter().map(|id| html! { <span><span class="cell" style={format!("background:{}", colour(id))}></span>{format!(" first captured by {id}")}</span> }) }
            <span><span class="cell" style="background:#79706e"></span>{" from an image or another disk's snapshot (hover for its name)"}</span>
            <span class="sub">{format!(" Each cell is {} blocks ({}); hover a cell for its offset and owner.{}", per, bytes(per * bs),
                if extent < blocks { format!(" Shown: the first {} of {}; the rest was never written.", bytes(extent * bs), bytes(blocks * bs)) } else { String::new() })}</span>
        </p>
        </>
    }
}
