//! The console: a Yew single-page app, laid out like Yew's `function_router`
//! example.
//!
//! - `app`: the shell: routes, navigation, the session (lock, open, lost or
//!   taken over), the refresh tick, toasts and the region in the top bar.
//! - `context`: what pages get from the shell (`Ctx`: tick, scope, toasts) and
//!   how they call the ECS service (`call`, `use_query`, `run`, `submit`).
//! - `pages`: one module per page; pages compose components.
//! - `components`: dialogs, tabs, the block map, list toolbars, formatting.
//! - `model`: plain data (typed rows, list and form states with pure
//!   reducers); no Yew, no browser: compiles and is tested natively.
//!
//! The UI owns presentation only. It reaches data only through the ECS
//! service (`crate::service`); the lock and storage figures come from
//! `crate::browser`. Text from users is always rendered as text (Yew escapes it).

mod app;
mod components;
mod context;
mod model;
mod pages;

pub use app::{App, Route};
