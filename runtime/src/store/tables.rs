//! The redb tables of a replica: one definition per table, each with its key and value.
//!
//! | table | key → value |
//! | --- | --- |
//! | `meta` | name → bytes: database id, suite name, layout version, next local number, where the prefix indexes' moves are |
//! | `schemas` | schema hash → IR (JSON) |
//! | `schema_numbers` | number → schema hash, for the schemas of the ops compact records hold (see `records`) |
//! | `ops` | local of a chunk's first op → the chunk: records of consecutive ops (see `records`) |
//! | `hashes`, `middle_hashes`, `recent_hashes` | (first 8 bytes of the op hash, local) → (); the recent ones local → first 8 bytes (see `prefix_index`) |
//! | `heads` | local → (), for the ops without children |
//! | `authors`, `author_keys` | identity ↔ author number |
//! | `chain_runs`, `chain_forks` | (author number, first seq) → (last seq, first local): runs of an author's ops; (author number, seq, local) → () for the others (see `chains`) |
//! | `depths` | (depth, local) → op hash: the items sync reconciles, in order (see `digests`) |
//! | `depth_sums` | (level, bucket) → count and hash sum of the ops of 64^level depths |
//! | `equivocators` | author number → lowest seq it equivocated at |
//! | `rejected` | op hash → reason, for ops whose signed content is invalid |
//! | `parked`, `parked_queue`, `waiting` | ops whose parents have not arrived (arrival number, bytes), their arrival order (the oldest is evicted when full), and what they wait for |
//! | `rows` | row number → row id and, while effective ops make it exist, the row (see `rows`) |
//! | `row_ids`, `middle_row_ids`, `recent_row_ids` | (first 8 bytes of the row id, row number) → (): finds a row's number from its id; the recent ones row number → first 8 bytes (see `prefix_index`) |
//! | `row_writers` | (row id, op local) → (), for the ops that update or delete the row |
//! | `reader_runs` | (collection key, author number, first seq) → last seq: runs of an author's ops whose verdict reads the collection (see `readers`) |
//! | `row_index` | (key, row number) → row id: the rule indexes |
//! | `field_index` | (key, row number) → row id: the query indexes (`indexed` fields, and those rules compare) |
//! | `ineffective` | local → (), for the ops that are not effective now |
//! | `events` | sequence number of a chunk's first event → the chunk: events in order (see `events`) |
//! | `consumers` | consumer name → the last sequence number it processed |
//! | `peers` | identity → the last sync with that peer |

use redb::{MultimapTableDefinition, TableDefinition};

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SCHEMAS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("schemas");
pub(crate) const SCHEMA_NUMBERS: TableDefinition<u32, &[u8; 32]> = TableDefinition::new("schema_numbers");
pub(crate) const OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("ops");
pub(crate) const HASHES: TableDefinition<(u64, u64), ()> = TableDefinition::new("hashes");
pub(crate) const HASHES_MIDDLE: TableDefinition<(u64, u64), ()> = TableDefinition::new("middle_hashes");
pub(crate) const HASHES_RECENT: TableDefinition<u64, u64> = TableDefinition::new("recent_hashes");
pub(crate) const HEADS: TableDefinition<u64, ()> = TableDefinition::new("heads");
pub(crate) const AUTHORS: TableDefinition<&[u8; 32], u32> = TableDefinition::new("authors");
pub(crate) const AUTHOR_KEYS: TableDefinition<u32, &[u8; 32]> = TableDefinition::new("author_keys");
pub(crate) const DEPTHS: TableDefinition<(u64, u64), &[u8; 32]> = TableDefinition::new("depths");
pub(crate) const DEPTH_SUMS: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("depth_sums");
pub(crate) const EQUIVOCATORS: TableDefinition<u32, u64> = TableDefinition::new("equivocators");
pub(crate) const REJECTED: TableDefinition<&[u8; 32], &str> = TableDefinition::new("rejected");
pub(crate) const PARKED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("parked");
pub(crate) const PARKED_QUEUE: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("parked_queue");
pub(crate) const WAITING: MultimapTableDefinition<&[u8; 32], &[u8; 32]> = MultimapTableDefinition::new("waiting");

/// Every row any op inserted (docs/semantics.md §6), by row number: its id and, when effective
/// ops make it exist, the row as they leave it, with merge metadata (see `super::rows`). Row
/// numbers grow with the log, so rows are appended at the table's end.
pub(crate) const ROWS: TableDefinition<u64, &[u8]> = TableDefinition::new("rows");
/// A row's number from its id: (first 8 bytes of the id, row number) → (). Row ids are
/// random, so this index is kept in three tables (see `super::prefix_index`), with the recent
/// entries in `ROW_IDS_RECENT`.
pub(crate) const ROW_IDS: TableDefinition<(u64, u64), ()> = TableDefinition::new("row_ids");
pub(crate) const ROW_IDS_MIDDLE: TableDefinition<(u64, u64), ()> = TableDefinition::new("middle_row_ids");
pub(crate) const ROW_IDS_RECENT: TableDefinition<u64, u64> = TableDefinition::new("recent_row_ids");
/// The ops that update or delete a row, effective or not: (row, op local). (A row's insert is
/// named by its row number.)
pub(crate) const ROW_WRITERS: TableDefinition<(&[u8; 32], u64), ()> = TableDefinition::new("row_writers");
/// Rule indexes: (key, row number) → row. A key is a collection (every row ever inserted into
/// it) or a collection, readonly fields and their values (see `crate::plan::index_key`). RowState
/// numbers grow with the log, so each key's entries are appended at its end.
pub(crate) const ROW_INDEX: TableDefinition<(&[u8; 32], u64), &[u8; 32]> = TableDefinition::new("row_index");
/// Query indexes over the current state: ((collection, field, value) key, row number) → row.
pub(crate) const FIELD_INDEX: TableDefinition<(&[u8; 32], u64), &[u8; 32]> = TableDefinition::new("field_index");
/// The ops that are not effective now (by local); every other op is. Most ops are effective,
/// so the exceptions are what is stored.
pub(crate) const INEFFECTIVE: TableDefinition<u64, ()> = TableDefinition::new("ineffective");
/// The event stream, in chunks: first sequence number → events (see `super::events`).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// The peers this replica synced with: identity → the last session (see `replica::peers`).
pub(crate) const PEERS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("peers");
/// Named consumers' checkpoints: the last sequence number each has processed.
pub(crate) const CONSUMERS: TableDefinition<&str, u64> = TableDefinition::new("consumers");

pub(crate) const META_DATABASE: &str = "database";
pub(crate) const META_SUITE: &str = "suite";
pub(crate) const META_NEXT_LOCAL: &str = "next_local";
pub(crate) const META_FORMAT: &str = "format";
/// Where a move of the hash index's middle table into its large one is (see `prefix_index`).
pub(crate) const META_HASHES_SLICE: &str = "hashes_slice";
/// The same for the row-id index.
pub(crate) const META_ROW_IDS_SLICE: &str = "row_ids_slice";
/// The store layout version; bump on incompatible table changes.
pub(crate) const STORE_FORMAT: u64 = 11;
