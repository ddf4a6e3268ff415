//! Components and helpers the pages share.

pub mod blockmap;
pub mod copy;
pub mod dialog;
pub mod disk_modify;
pub mod format;
pub mod list;
pub mod snapshot_form;
pub mod snapshot_table;
pub mod tabs;
pub mod terminal;
pub mod usage;

pub use dialog::{dialog_buttons, Dialog};
pub use format::*;
pub use list::*;
pub use tabs::tabs;
