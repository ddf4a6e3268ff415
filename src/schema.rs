//! The rowsnap database: its tables and since which schema version each
//! exists. The engine declares its own tables (`engine::ENGINE_TABLES`),
//! the embedded OSS its own (`oss::OBJECTS`, `oss::CHUNKS`); the records of
//! the layers above the engine (ECS resources, the snapshot store's counts)
//! live in [`RECORDS`]. The IndexedDB store creates and migrates exactly
//! this schema; the memory store needs none.

use crate::engine::{Table, ENGINE_TABLES};
use crate::oss;

/// Records of the layers above the engine, by string key: ECS resources
/// (`instance/<id>`, `disk/<id>`, ...), tasks, settings, and the snapshot
/// store's counts (`oss/block/<hash>`, ...).
pub const RECORDS: Table = Table("records");

/// The schema version: the highest `since` in [`TABLES`].
pub const VERSION: u32 = 2;

/// Every table with the schema version that introduced it, in schema order.
pub const TABLES: [(Table, u32); 9] = [
    (ENGINE_TABLES[0], 1),
    (ENGINE_TABLES[1], 1),
    (ENGINE_TABLES[2], 1),
    (ENGINE_TABLES[3], 1),
    (ENGINE_TABLES[4], 1),
    (ENGINE_TABLES[5], 1),
    (RECORDS, 1),
    (oss::OBJECTS, 2),
    (oss::CHUNKS, 2),
];

/// The tables of the layers above the engine (a transaction over them runs
/// beside an engine read).
pub const UPPER_TABLES: [Table; 3] = [RECORDS, oss::OBJECTS, oss::CHUNKS];

/// Every table, in schema order.
pub fn all() -> impl Iterator<Item = Table> {
    TABLES.iter().map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_each_table_once_and_its_version_is_the_newest() {
        let mut names: Vec<&str> = all().map(|t| t.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
        assert_eq!(VERSION, TABLES.iter().map(|(_, v)| *v).max().unwrap());
        // The names IndexedDB already holds in users' browsers.
        assert_eq!(
            all().map(|t| t.name()).collect::<Vec<_>>(),
            ["meta", "volumes", "snapshots", "nodes", "blocks", "refcounts", "records", "oss_objects", "oss_chunks"]
        );
        assert!(ENGINE_TABLES.iter().all(|t| t.is_engine()) && !RECORDS.is_engine() && !oss::CHUNKS.is_engine());
    }
}
