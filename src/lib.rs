//! rowsnap: a snapshot console that runs in the browser.
//!
//! Layers, each knowing only the ones below it (ARCHITECTURE.md):
//! - [`engine`]: the redirect-on-write block snapshot engine over one narrow
//!   async store trait (plain Rust, any target).
//! - [`oss`]: the embedded object store (buckets, objects, chunks) and the
//!   object-store seam; [`snapstore`]: normal snapshots' content-addressed
//!   store (packs, pages, manifests, counts) over that seam.
//! - [`ecs`]: the ECS API over the engine: resources, states, preconditions,
//!   error codes (plain Rust). [`image`]: qcow2 reading and writing.
//! - [`schema`]: the database's tables and their versions.
//! - [`error`]: the one error of the layers above the engine; [`util`],
//!   [`pacing`]: small plain pieces.
//! - `service`, `api`: the tab's one ECS service and `window.ecs` (browser only).
//! - `idb`: the IndexedDB store, the only code that touches IndexedDB (browser only).
//! - `browser`: Web Locks, storage estimate and persistence (browser only).
//! - `ui`: the Yew console (browser only).

/// Calls a split point of the release bundle (`#[wasm_split]`, feature
/// `split`): awaits the fetching of its part, which the call's `Result`
/// reports when it fails. Without the feature a split point is a plain
/// function and this is the call itself.
#[cfg(target_arch = "wasm32")]
macro_rules! part {
    ($e:expr) => {{
        #[cfg(feature = "split")]
        let r = $e.await;
        #[cfg(not(feature = "split"))]
        let r = $e;
        r
    }};
}

pub mod ecs;
pub mod engine;
pub mod error;
pub mod image;
pub mod oss;
pub mod pacing;
pub mod s3;
pub mod schema;
pub mod snapstore;
pub mod util;
pub mod vault;

#[cfg(target_arch = "wasm32")]
pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod idb;
#[cfg(target_arch = "wasm32")]
pub mod service;
#[cfg(target_arch = "wasm32")]
pub mod ui;
/// The console's plain data (`ui::model`: typed rows, list and form states
/// with pure reducers), compiled natively so `cargo test` runs its tests.
#[cfg(not(target_arch = "wasm32"))]
#[path = "ui/model/mod.rs"]
pub mod ui_model;
