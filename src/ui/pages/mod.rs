//! The console's pages, one module each (the `Route`s of `app`), and the
//! parts only pages use.

pub mod disk;
pub mod disks;
pub mod image_tasks;
pub mod images;
pub mod instance;
pub mod instances;
pub mod machine_limits;
pub mod object_storage;
pub mod oss;
pub mod policies;
pub mod settings;
pub mod snapshot;
pub mod snapshots;
