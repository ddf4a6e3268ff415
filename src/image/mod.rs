//! Disk image formats for importing and exporting virtual disks (plain Rust, any target).
//!
//! - [`qcow2`]: a streaming qcow2 (v2/v3) reader over any random-access source, and a
//!   front-to-back qcow2 v3 writer whose output `qemu-img check` accepts.
//! - [`prefetch`]: a source filled asynchronously in chunks (an OSS object read inside
//!   IndexedDB transactions) for the synchronous reader.

pub mod prefetch;
pub mod qcow2;
