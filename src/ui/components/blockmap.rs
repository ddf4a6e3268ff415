//! The block map: a volume's blocks as a grid, coloured by the snapshot that
//! first captured them, written since the last snapshot, or never written;
//! hover a cell for its offsets and sharing. Used by the disk and snapshot pages.

use yew::prelude::*;

use super::format::bytes;
use crate::ui::model::rows::{BlockMapReply, Run};

/// Colours for snapshots in the block map, by their position.
pub const PALETTE: &[&str] = &["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f", "#e15759", "#bab0ac"];

/// The block map of `m`; `order`: snapshot ids, oldest first (the colour order).
pub fn block_map(m: &BlockMapReply, order: &[String]) -> Html {
    let colour = |id: &str| order.iter().position(|x| x == id).map(|i| PALETTE[i % PALETTE.len()]).unwrap_or("#79706e");

    let (blocks, bs, runs) = (m.blocks, if m.block_size == 0 { 32768 } else { m.block_size }, &m.runs.run);
    // Draw up to the last written block (at least 512 blocks): the rest is never written.
    let written_end = runs.iter().filter(|r| r.written()).map(Run::end).max().unwrap_or(0);
    let extent = written_end.max(512).min(blocks).max(1);
    let cells = extent.clamp(1, 512);
    let per = extent.div_ceil(cells).max(1);
    let rank = |r: &Run| -> i64 {
        match r.state.as_str() {
            "unwritten" => -2,
            _ if r.first_snapshot_id.is_empty() => i64::MAX, // written since the last snapshot
            _ => order.iter().position(|x| *x == r.first_snapshot_id).map(|i| i as i64).unwrap_or(-1),
        }
    };
    let mut html_cells = Vec::new();
    let mut ri = 0usize;
    for c in 0..cells {
        let (lo, hi) = (c * per, ((c + 1) * per).min(extent));
        // The newest content in this cell tells the most.
        let mut best: Option<&Run> = None;
        while ri < runs.len() && runs[ri].end() <= lo {
            ri += 1;
        }
        let mut j = ri;
        while j < runs.len() && runs[j].start < hi {
            if best.is_none_or(|b| rank(&runs[j]) > rank(b)) {
                best = Some(&runs[j]);
            }
            j += 1;
        }
        let (fill, label) = match best {
            Some(r) if r.state != "unwritten" && r.first_snapshot_id.is_empty() => {
                ("#222831".to_string(), "written since the last snapshot (this disk only)".to_string())
            }
            Some(r) if r.state != "unwritten" => {
                let (first, shared) = (&r.first_snapshot_id, &r.shared_with_snapshots);
                (
                    colour(first).to_string(),
                    format!("first captured by {first}; shared with {}", if shared.is_empty() { "no snapshot".into() } else { shared.join(", ") }),
                )
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
