//! rowsnap: a snapshot console that runs in the browser.
//!
//! - [`engine`]: the redirect-on-write block snapshot engine (plain Rust, any target).
//! - [`ecs`]: the ECS API over the engine: resources, states, error codes (plain Rust).
//! - `service`, `api`: the tab's one ECS service and `window.ecs` (browser only).
//! - `idb`: the IndexedDB store (browser only).
//! - `browser`: Web Locks, storage estimate and persistence (browser only).
//! - `ui`: the Yew console (browser only).

pub mod engine;
pub mod error;
pub mod pacing;
pub mod util;

#[cfg(target_arch = "wasm32")]
pub mod idb;
#[cfg(target_arch = "wasm32")]
pub mod browser;
#[cfg(target_arch = "wasm32")]
pub mod ui;
#[cfg(target_arch = "wasm32")]
pub mod service;
#[cfg(target_arch = "wasm32")]
pub mod api;
pub mod ecs;
pub mod oss;
pub mod image;
