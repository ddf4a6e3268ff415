//! The console's plain data, as in Yew's `function_todomvc` (`state.rs`):
//! typed rows read from ECS responses (`rows`), a list's state (`list`), the
//! Create Snapshot form (`forms`), the other dialogs' forms and the Settings
//! page's (`dialogs`; import and export in `images`, automatic snapshot
//! policies in `policies`), each state with an action enum, a pure reducer
//! and the request it submits. Nothing here knows Yew or the browser (only
//! serde): it compiles and is unit-tested natively, and components hold these
//! states with `use_reducer` (their `Reducible` impls are in `components`).

pub mod copies;
pub mod dialogs;
pub mod disk_attr;
pub mod forms;
pub mod images;
pub mod keys;
pub mod list;
pub mod object_store;
pub mod policies;
pub mod rows;
