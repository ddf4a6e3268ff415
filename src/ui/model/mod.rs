//! The console's plain data, as in Yew's `function_todomvc` (`state.rs`):
//! typed rows read from ECS responses (`rows`), a list's state (`list`) and
//! the Create Snapshot form (`forms`), each state with an action enum and a
//! pure reducer. Nothing here knows Yew or the browser (only serde): it
//! compiles and is unit-tested natively, and components hold these states
//! with `use_reducer` (their `Reducible` impls are in `components`).

pub mod forms;
pub mod list;
pub mod rows;
