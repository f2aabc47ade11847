//! The redb tables of a replica and the transactions over them.
//!
//! Ops are stored by a *local sequence number* (the order this replica accepted them, always
//! parents-first), so the hot tables are appended to in key order. Op records are packed into
//! chunks of about one page: redb splits a full leaf in two halves, so a table that only
//! appends small values ends up half empty, while one value of nearly a page fills its page. Only the hash index is keyed
//! by op hash, and it is kept small (the first 8 bytes of the hash and the local number, 16
//! bytes a row) and batched (a transaction's new entries are inserted together, sorted, when it
//! ends), because random keys are what a B-tree writes slowest. Every change to the log is one
//! redb write transaction: a crash keeps every committed op and nothing half-written.
//!
//! Tables (keys → values):
//!
//! | table | contents |
//! | --- | --- |
//! | `meta` | database id, suite name, next local number |
//! | `schemas` | schema hash → IR (JSON) |
//! | `ops` | local of a chunk's first op → the chunk: records of consecutive ops (op hash, depth, author number, seq, version vector, canonical bytes) |
//! | `hashes` | (first 8 bytes of the op hash, local) → () |
//! | `heads` | local → () for ops without children |
//! | `children` | (parent local, child local) → () |
//! | `authors`, `author_keys` | identity ↔ author number |
//! | `chains` | (author number, seq, local) → () (two locals for one seq: equivocation) |
//! | `depths` | (depth, local) → () |
//! | `equivocators` | author number → lowest seq it equivocated at |
//! | `rejected` | op hash → reason, for ops whose signed content is invalid |
//! | `parked`, `parked_queue`, `waiting` | ops whose parents have not arrived (arrival number, bytes), their arrival order (the oldest is evicted when full), and what they wait for |

use crate::ids::{DatabaseId, Identity, OpHash};
use redb::{Database, MultimapTableDefinition, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SCHEMAS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("schemas");
pub(crate) const OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("ops");
pub(crate) const HASHES: TableDefinition<(u64, u64), ()> = TableDefinition::new("hashes");
pub(crate) const HEADS: TableDefinition<u64, ()> = TableDefinition::new("heads");
pub(crate) const CHILDREN: TableDefinition<(u64, u64), ()> = TableDefinition::new("children");
pub(crate) const AUTHORS: TableDefinition<&[u8; 32], u32> = TableDefinition::new("authors");
pub(crate) const AUTHOR_KEYS: TableDefinition<u32, &[u8; 32]> = TableDefinition::new("author_keys");
pub(crate) const CHAINS: TableDefinition<(u32, u64, u64), ()> = TableDefinition::new("chains");
pub(crate) const DEPTHS: TableDefinition<(u64, u64), ()> = TableDefinition::new("depths");
pub(crate) const EQUIVOCATORS: TableDefinition<u32, u64> = TableDefinition::new("equivocators");
pub(crate) const REJECTED: TableDefinition<&[u8; 32], &str> = TableDefinition::new("rejected");
pub(crate) const PARKED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("parked");
pub(crate) const PARKED_QUEUE: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("parked_queue");
pub(crate) const WAITING: MultimapTableDefinition<&[u8; 32], &[u8; 32]> = MultimapTableDefinition::new("waiting");

/// Every row any op inserted (docs/semantics.md §6): its row number and, when effective ops
/// make it exist, the row as they leave it, with merge metadata (see [`encode_row_record`]).
pub(crate) const ROWS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("rows");
/// The ops that update or delete a row, effective or not: (row, op local). (A row's insert is
/// named by its row number.)
pub(crate) const ROW_WRITERS: TableDefinition<(&[u8; 32], u64), ()> = TableDefinition::new("row_writers");
/// Rule indexes: (key, row number) → row. A key is a collection (every row ever inserted into
/// it) or a collection, readonly fields and their values (see `engine::index_key`). Row
/// numbers grow with the log, so each key's entries are appended at its end.
pub(crate) const ROW_INDEX: TableDefinition<(&[u8; 32], u64), &[u8; 32]> = TableDefinition::new("row_index");
/// Query indexes over the current state: ((collection, field, value) key, row number) → row.
pub(crate) const FIELD_INDEX: TableDefinition<(&[u8; 32], u64), &[u8; 32]> = TableDefinition::new("field_index");

/// Calls `visit` with the rows of an index key, in row-number order, until it returns true.
pub(crate) fn visit_index(
    table: &impl ReadableTable<(&'static [u8; 32], u64), &'static [u8; 32]>,
    key: &[u8; 32],
    visit: &mut dyn FnMut(crate::ids::RowId) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    for entry in table.range((key, 0)..=(key, u64::MAX))? {
        if visit(crate::ids::RowId(*entry?.1.value()))? {
            break;
        }
    }
    Ok(())
}

/// A row's number: the local number of the op that inserted it and the insert's index in it.
/// Ops hold at most [`crate::op::Limits::max_changes`] (10,000) changes, under 2^16.
pub(crate) fn row_number(local: u64, change: u32) -> u64 {
    local << 16 | u64::from(change & 0xffff)
}

/// A [`ROWS`] value: the row number (8 bytes, big-endian), then the row's encoding if it exists.
pub(crate) fn encode_row_record(number: u64, row: Option<&crate::state::Row>) -> Vec<u8> {
    let mut bytes = number.to_be_bytes().to_vec();
    if let Some(row) = row {
        bytes.extend_from_slice(&row.encode());
    }
    bytes
}

pub(crate) fn decode_row_record(bytes: &[u8]) -> Result<(u64, Option<crate::state::Row>), StorageError> {
    let (number, row) = bytes.split_at_checked(8).ok_or_else(|| corrupt("a row record is too short"))?;
    let number = read_u64(number)?;
    if row.is_empty() {
        return Ok((number, None));
    }
    let row = crate::state::Row::decode(row).map_err(|error| corrupt(format!("row record {number}: {error}")))?;
    Ok((number, Some(row)))
}
/// The ops that are not effective now (by local); every other op is. Most ops are effective,
/// so the exceptions are what is stored.
pub(crate) const INEFFECTIVE: TableDefinition<u64, ()> = TableDefinition::new("ineffective");
/// The event stream: sequence number → encoded event.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Named consumers' checkpoints: the last sequence number each has processed.
pub(crate) const CONSUMERS: TableDefinition<&str, u64> = TableDefinition::new("consumers");

pub(crate) const META_DATABASE: &str = "database";
pub(crate) const META_SUITE: &str = "suite";
pub(crate) const META_NEXT_LOCAL: &str = "next_local";
pub(crate) const META_FORMAT: &str = "format";
/// The store layout version; bump on incompatible table changes.
pub(crate) const STORE_FORMAT: u64 = 2;

/// A failure of the storage layer (IO, a full disk, corruption), with redb's error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("storage error: {0}")]
    Redb(Box<redb::Error>),
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// The transaction holding this op failed (the error is reported for each op in it).
    #[error("the transaction failed, nothing in it was stored: {0}")]
    Transaction(String),
    /// redb lets one process at a time open a store; another process holds this one.
    #[error("the store is open in another process")]
    InUse,
}

macro_rules! storage_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StorageError {
            fn from(error: $error) -> StorageError {
                StorageError::Redb(Box::new(error.into()))
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Where a replica keeps its tables.
#[derive(Debug, Clone)]
pub enum Storage<'a> {
    File(&'a Path),
    /// A store that lives in memory and vanishes with the replica (tests, caches).
    Memory,
}

pub(crate) fn open_database(storage: &Storage, create: bool) -> Result<Database, StorageError> {
    let opened = match storage {
        Storage::File(path) if create => Database::create(path),
        Storage::File(path) => Database::open(path),
        Storage::Memory => Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()),
    };
    match opened {
        Ok(database) => Ok(database),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StorageError::InUse),
        Err(error) => Err(error.into()),
    }
}

/// What the log keeps about each op besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpInfo {
    pub local: u64,
    pub depth: u64,
    pub author: u32,
    pub seq: u64,
    pub hash: OpHash,
}

/// A version vector: for each author number, the highest sequence number in a causal past.
/// Sorted by author number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clock(pub Vec<(u32, u64)>);

impl Clock {
    pub fn get(&self, author: u32) -> u64 {
        self.0.binary_search_by_key(&author, |(key, _)| *key).map_or(0, |index| self.0[index].1)
    }

    /// The pointwise maximum of two clocks.
    pub fn merge(&mut self, other: &Clock) {
        for &(author, seq) in &other.0 {
            self.set(author, seq);
        }
    }

    pub fn set(&mut self, author: u32, seq: u64) {
        match self.0.binary_search_by_key(&author, |(key, _)| *key) {
            Ok(index) => self.0[index].1 = self.0[index].1.max(seq),
            Err(index) => self.0.insert(index, (author, seq)),
        }
    }

    /// Pairs of LEB128 varints (author number, seq): small numbers take one or two bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.0.len() * 4);
        for (author, seq) in &self.0 {
            write_varint(&mut bytes, u64::from(*author));
            write_varint(&mut bytes, *seq);
        }
        bytes
    }

    pub fn decode(mut bytes: &[u8]) -> Result<Clock, StorageError> {
        let mut entries = Vec::new();
        while !bytes.is_empty() {
            let author = read_varint(&mut bytes)?;
            let seq = read_varint(&mut bytes)?;
            let author = u32::try_from(author).map_err(|_| corrupt("a clock names an author number over 2^32"))?;
            entries.push((author, seq));
        }
        Ok(Clock(entries))
    }
}

fn write_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

fn read_varint(bytes: &mut &[u8]) -> Result<u64, StorageError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or_else(|| corrupt("a clock ends inside a number"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("a clock number is longer than 64 bits"))
}

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

pub(crate) fn read_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| corrupt("a counter is not 8 bytes"))?;
    Ok(u64::from_be_bytes(array))
}

/// Reading op metadata, from a read or a write transaction.
pub(crate) trait InfoLookup {
    fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError>;
    /// The record of an op (see [`encode_record`]), copied out of its chunk.
    fn record_bytes(&self, local: u64) -> Result<Option<Vec<u8>>, StorageError>;
    fn equivocated_from(&self, author: u32) -> Result<Option<u64>, StorageError>;

    fn info(&self, local: u64) -> Result<Option<OpInfo>, StorageError> {
        match self.record_bytes(local)? {
            Some(record) => Ok(Some(parse_record(local, &record)?.info)),
            None => Ok(None),
        }
    }

    /// An op's metadata, version vector and decoded op.
    fn load(&self, local: u64) -> Result<Option<(OpInfo, Clock, crate::op::Op)>, StorageError> {
        let Some(record) = self.record_bytes(local)? else { return Ok(None) };
        let record = parse_record(local, &record)?;
        let op =
            crate::op::Op::decode_stored(record.bytes).map_err(|error| corrupt(format!("op #{local}: {error}")))?;
        Ok(Some((record.info, Clock::decode(record.clock)?, op)))
    }

    /// An op's metadata and version vector, without decoding the op.
    fn stamp(&self, local: u64) -> Result<Option<(OpInfo, Clock)>, StorageError> {
        let Some(record) = self.record_bytes(local)? else { return Ok(None) };
        let record = parse_record(local, &record)?;
        Ok(Some((record.info, Clock::decode(record.clock)?)))
    }

    fn clock(&self, local: u64) -> Result<Clock, StorageError> {
        let record = self.record_bytes(local)?.ok_or_else(|| corrupt(format!("op #{local} is missing")))?;
        Clock::decode(parse_record(local, &record)?.clock)
    }

    fn parents(&self, local: u64) -> Result<Vec<u64>, StorageError> {
        let record = self.record_bytes(local)?.ok_or_else(|| corrupt(format!("op #{local} is missing")))?;
        let bytes = parse_record(local, &record)?.bytes;
        let op = crate::op::Op::decode(bytes).map_err(|error| corrupt(format!("op #{local}: {error}")))?;
        let mut locals = Vec::with_capacity(op.parents.len());
        for parent in &op.parents {
            locals.push(self.local_of(parent)?.ok_or_else(|| corrupt(format!("a parent of op #{local} is missing")))?);
        }
        Ok(locals)
    }

    /// Whether `ancestor` is in the causal past of `descendant` (strictly).
    fn is_ancestor(&self, ancestor: &OpInfo, descendant: &OpInfo) -> Result<bool, StorageError> {
        if ancestor.depth >= descendant.depth {
            return Ok(false);
        }
        // An author's ops form a chain (each op has its author's previous op as a parent), so
        // the version vector answers directly, unless the author forked its chain.
        let forked = self.equivocated_from(ancestor.author)?.is_some_and(|from| ancestor.seq >= from);
        if !forked {
            return Ok(self.clock(descendant.local)?.get(ancestor.author) >= ancestor.seq);
        }
        // Walk back from the descendant, never below the ancestor's depth.
        let mut stack = vec![descendant.local];
        let mut seen = std::collections::HashSet::new();
        while let Some(local) = stack.pop() {
            for parent in self.parents(local)? {
                if parent == ancestor.local {
                    return Ok(true);
                }
                let Some(info) = self.info(parent)? else {
                    continue;
                };
                if info.depth > ancestor.depth && seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        Ok(false)
    }
}

/// The fixed part of a record: hash, depth, author number, seq, length of the clock (u32: a
/// clock holds one entry per author in the op's past, which peers control).
const RECORD_HEADER: usize = 32 + 8 + 4 + 8 + 4;

/// How many bytes of records a chunk holds before a new one starts: a chunk and its leaf's
/// bookkeeping fit one 4 KiB page.
const CHUNK_BUDGET: usize = 3_900;

/// One op as the log keeps it.
pub(crate) struct Record<'a> {
    pub info: OpInfo,
    /// The encoded version vector of the op's causal past.
    pub clock: &'a [u8],
    /// The op's canonical bytes.
    pub bytes: &'a [u8],
}

/// Appends a length-prefixed record to a chunk.
pub(crate) fn encode_record(
    chunk: &mut Vec<u8>,
    hash: &OpHash,
    depth: u64,
    author: u32,
    seq: u64,
    clock: &[u8],
    bytes: &[u8],
) {
    let length = RECORD_HEADER + clock.len() + bytes.len();
    chunk.extend_from_slice(&(length as u32).to_be_bytes());
    chunk.extend_from_slice(&hash.0);
    chunk.extend_from_slice(&depth.to_be_bytes());
    chunk.extend_from_slice(&author.to_be_bytes());
    chunk.extend_from_slice(&seq.to_be_bytes());
    chunk.extend_from_slice(&(clock.len() as u32).to_be_bytes());
    chunk.extend_from_slice(clock);
    chunk.extend_from_slice(bytes);
}

/// Reads a record (without its length prefix).
pub(crate) fn parse_record(local: u64, record: &[u8]) -> Result<Record<'_>, StorageError> {
    if record.len() < RECORD_HEADER {
        return Err(corrupt(format!("op #{local} has a truncated record")));
    }
    let number =
        |range: std::ops::Range<usize>| record[range].iter().fold(0u64, |value, byte| value << 8 | u64::from(*byte));
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&record[..32]);
    let clock_length = number(52..56) as usize;
    if record.len() < RECORD_HEADER + clock_length {
        return Err(corrupt(format!("op #{local} has a truncated clock")));
    }
    let info =
        OpInfo { local, hash: OpHash(hash), depth: number(32..40), author: number(40..44) as u32, seq: number(44..52) };
    Ok(Record {
        info,
        clock: &record[RECORD_HEADER..RECORD_HEADER + clock_length],
        bytes: &record[RECORD_HEADER + clock_length..],
    })
}

/// The records of a chunk whose first op has local number `start`, in order.
pub(crate) fn chunk_records(chunk: &[u8], start: u64) -> Result<Vec<(u64, &[u8])>, StorageError> {
    let mut records = Vec::new();
    let mut rest = chunk;
    let mut local = start;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt(format!("the chunk at #{start} ends inside a length")));
        }
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let record =
            rest.get(4..4 + length).ok_or_else(|| corrupt(format!("the chunk at #{start} ends inside op #{local}")))?;
        records.push((local, record));
        rest = &rest[4 + length..];
        local += 1;
    }
    Ok(records)
}

/// The record of `local` in a chunk starting at `start`, if the chunk holds it.
fn find_record(chunk: &[u8], start: u64, local: u64) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(index) = local.checked_sub(start) else { return Ok(None) };
    let mut rest = chunk;
    for _ in 0..index {
        let Some(prefix) = rest.get(..4) else { return Ok(None) };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        rest = rest.get(4 + length..).ok_or_else(|| corrupt(format!("the chunk at #{start} is truncated")))?;
    }
    let Some(prefix) = rest.get(..4) else { return Ok(None) };
    let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    Ok(Some(rest.get(4..4 + length).ok_or_else(|| corrupt(format!("the chunk at #{start} is truncated")))?.to_vec()))
}

/// The hash index's key prefix for an op hash.
fn hash_prefix(hash: &OpHash) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash.0[..8]);
    u64::from_be_bytes(prefix)
}

/// Implements the lookups both kinds of transaction share.
macro_rules! impl_info_lookup {
    ($type:ty) => {
        impl InfoLookup for $type {
            fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                self.local_of_hash(hash)
            }

            fn record_bytes(&self, local: u64) -> Result<Option<Vec<u8>>, StorageError> {
                if let Some(found) = self.record_in_open_chunk(local)? {
                    return Ok(Some(found));
                }
                let mut range = self.ops.range(..=local)?;
                match range.next_back() {
                    Some(entry) => {
                        let (start, chunk) = entry?;
                        find_record(chunk.value(), start.value(), local)
                    }
                    None => Ok(None),
                }
            }

            fn equivocated_from(&self, author: u32) -> Result<Option<u64>, StorageError> {
                Ok(self.equivocators.get(author)?.map(|seq| seq.value()))
            }
        }

        impl $type {
            /// Looks a hash up in the index, confirming the full hash in the op's record.
            fn indexed_local(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                let prefix = hash_prefix(hash);
                for entry in self.hashes.range((prefix, 0)..=(prefix, u64::MAX))? {
                    let local = entry?.0.value().1;
                    if self.info(local)?.is_some_and(|info| info.hash == *hash) {
                        return Ok(Some(local));
                    }
                }
                Ok(None)
            }
        }
    };
}

/// The tables a read transaction looks at.
pub(crate) struct ReadTables {
    pub ops: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub hashes: redb::ReadOnlyTable<(u64, u64), ()>,
    pub equivocators: redb::ReadOnlyTable<u32, u64>,
    pub heads: redb::ReadOnlyTable<u64, ()>,
    pub author_keys: redb::ReadOnlyTable<u32, &'static [u8; 32]>,
    pub rows: redb::ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
    pub field_index: redb::ReadOnlyTable<(&'static [u8; 32], u64), &'static [u8; 32]>,
    pub row_index: redb::ReadOnlyTable<(&'static [u8; 32], u64), &'static [u8; 32]>,
    pub ineffective: redb::ReadOnlyTable<u64, ()>,
    pub events: redb::ReadOnlyTable<u64, &'static [u8]>,
}

impl ReadTables {
    pub fn open(transaction: &redb::ReadTransaction) -> Result<ReadTables, StorageError> {
        Ok(ReadTables {
            ops: transaction.open_table(OPS)?,
            hashes: transaction.open_table(HASHES)?,
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            heads: transaction.open_table(HEADS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
            rows: transaction.open_table(ROWS)?,
            field_index: transaction.open_table(FIELD_INDEX)?,
            row_index: transaction.open_table(ROW_INDEX)?,
            ineffective: transaction.open_table(INEFFECTIVE)?,
            events: transaction.open_table(EVENTS)?,
        })
    }

    pub fn op_count(&self) -> Result<u64, StorageError> {
        Ok(self.hashes.len()?)
    }

    /// Calls `visit` with every op's record, in local order (parents first).
    pub fn for_each_record(
        &self,
        mut visit: impl FnMut(Record) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        for entry in self.ops.iter()? {
            let (start, chunk) = entry?;
            for (local, record) in chunk_records(chunk.value(), start.value())? {
                visit(parse_record(local, record)?)?;
            }
        }
        Ok(())
    }

    fn record_in_open_chunk(&self, _local: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(None)
    }
}

impl ReadTables {
    fn local_of_hash(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
        self.indexed_local(hash)
    }
}

impl_info_lookup!(ReadTables);

/// The tables a write transaction changes.
pub(crate) struct WriteTables<'txn> {
    pub meta: redb::Table<'txn, &'static str, &'static [u8]>,
    pub schemas: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub ops: redb::Table<'txn, u64, &'static [u8]>,
    pub hashes: redb::Table<'txn, (u64, u64), ()>,
    pub heads: redb::Table<'txn, u64, ()>,
    pub children: redb::Table<'txn, (u64, u64), ()>,
    pub authors: redb::Table<'txn, &'static [u8; 32], u32>,
    pub author_keys: redb::Table<'txn, u32, &'static [u8; 32]>,
    pub chains: redb::Table<'txn, (u32, u64, u64), ()>,
    pub depths: redb::Table<'txn, (u64, u64), ()>,
    pub equivocators: redb::Table<'txn, u32, u64>,
    pub rejected: redb::Table<'txn, &'static [u8; 32], &'static str>,
    pub parked: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub parked_queue: redb::Table<'txn, u64, &'static [u8; 32]>,
    pub waiting: redb::MultimapTable<'txn, &'static [u8; 32], &'static [u8; 32]>,
    pub rows: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub row_writers: redb::Table<'txn, (&'static [u8; 32], u64), ()>,
    pub row_index: redb::Table<'txn, (&'static [u8; 32], u64), &'static [u8; 32]>,
    pub field_index: redb::Table<'txn, (&'static [u8; 32], u64), &'static [u8; 32]>,
    pub ineffective: redb::Table<'txn, u64, ()>,
    pub events: redb::Table<'txn, u64, &'static [u8]>,
    /// This transaction's new hash-index entries, inserted sorted by [`WriteTables::finish`].
    pending_hashes: std::collections::HashMap<OpHash, u64>,
    /// The next local number, once this transaction has read it.
    next_local: Option<u64>,
    /// The chunk new records go into: its first local and its bytes. Written by
    /// [`WriteTables::finish`] (or when it fills up).
    open_chunk: Option<(u64, Vec<u8>)>,
}

impl WriteTables<'_> {
    fn record_in_open_chunk(&self, local: u64) -> Result<Option<Vec<u8>>, StorageError> {
        match &self.open_chunk {
            Some((start, chunk)) if local >= *start => find_record(chunk, *start, local),
            _ => Ok(None),
        }
    }

    /// Adds a record to the open chunk, starting a new chunk when it would overflow.
    fn push_record(&mut self, local: u64, record: &[u8]) -> Result<(), StorageError> {
        if self.open_chunk.is_none() {
            // Reopen the last chunk if it has room: chunks fill across transactions.
            let last = self.ops.last()?.map(|(start, chunk)| (start.value(), chunk.value().to_vec()));
            self.open_chunk = last.filter(|(_, chunk)| chunk.len() + record.len() <= CHUNK_BUDGET);
        }
        match &mut self.open_chunk {
            Some((_, chunk)) if chunk.len() + record.len() <= CHUNK_BUDGET => chunk.extend_from_slice(record),
            open => {
                if let Some((start, chunk)) = open.take() {
                    self.ops.insert(start, chunk.as_slice())?;
                }
                self.open_chunk = Some((local, record.to_vec()));
            }
        }
        Ok(())
    }

    fn local_of_hash(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
        match self.pending_hashes.get(hash) {
            Some(local) => Ok(Some(*local)),
            None => self.indexed_local(hash),
        }
    }
}

impl_info_lookup!(WriteTables<'_>);

impl<'txn> WriteTables<'txn> {
    pub fn open(transaction: &'txn redb::WriteTransaction) -> Result<WriteTables<'txn>, StorageError> {
        Ok(WriteTables {
            meta: transaction.open_table(META)?,
            schemas: transaction.open_table(SCHEMAS)?,
            ops: transaction.open_table(OPS)?,
            hashes: transaction.open_table(HASHES)?,
            heads: transaction.open_table(HEADS)?,
            children: transaction.open_table(CHILDREN)?,
            authors: transaction.open_table(AUTHORS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
            chains: transaction.open_table(CHAINS)?,
            depths: transaction.open_table(DEPTHS)?,
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            rejected: transaction.open_table(REJECTED)?,
            parked: transaction.open_table(PARKED)?,
            parked_queue: transaction.open_table(PARKED_QUEUE)?,
            waiting: transaction.open_multimap_table(WAITING)?,
            rows: transaction.open_table(ROWS)?,
            row_writers: transaction.open_table(ROW_WRITERS)?,
            row_index: transaction.open_table(ROW_INDEX)?,
            field_index: transaction.open_table(FIELD_INDEX)?,
            ineffective: transaction.open_table(INEFFECTIVE)?,
            events: transaction.open_table(EVENTS)?,
            pending_hashes: std::collections::HashMap::new(),
            next_local: None,
            open_chunk: None,
        })
    }

    /// Inserts the transaction's new hash-index entries, in key order. Call before commit.
    pub fn finish(mut self) -> Result<(), StorageError> {
        if let Some((start, chunk)) = self.open_chunk.take() {
            self.ops.insert(start, chunk.as_slice())?;
        }
        if let Some(next) = self.next_local {
            self.meta.insert(META_NEXT_LOCAL, next.to_be_bytes().as_slice())?;
        }
        let mut entries: Vec<(u64, u64)> =
            self.pending_hashes.drain().map(|(hash, local)| (hash_prefix(&hash), local)).collect();
        entries.sort_unstable();
        for key in entries {
            self.hashes.insert(key, ())?;
        }
        Ok(())
    }

    /// The next local number; read once per transaction and written back by [`WriteTables::finish`].
    pub fn next_local(&mut self) -> Result<u64, StorageError> {
        let next = match self.next_local {
            Some(next) => next,
            None => match self.meta.get(META_NEXT_LOCAL)? {
                Some(bytes) => read_u64(bytes.value())?,
                None => 0,
            },
        };
        self.next_local = Some(next.saturating_add(1));
        Ok(next)
    }

    /// The number for an author, assigned on first sight.
    pub fn author_number(&mut self, identity: &Identity) -> Result<u32, StorageError> {
        if let Some(number) = self.authors.get(&identity.0)? {
            return Ok(number.value());
        }
        let number = u32::try_from(self.authors.len()?).map_err(|_| corrupt("more than 2^32 authors"))?;
        self.authors.insert(&identity.0, number)?;
        self.author_keys.insert(number, &identity.0)?;
        Ok(number)
    }

    pub fn known_author(&self, identity: &Identity) -> Result<Option<u32>, StorageError> {
        Ok(self.authors.get(&identity.0)?.map(|number| number.value()))
    }

    /// Locals of an author's ops with one sequence number (two or more: equivocation).
    pub fn chain_entries(&self, author: u32, seq: u64) -> Result<Vec<u64>, StorageError> {
        let mut locals = Vec::new();
        for entry in self.chains.range((author, seq, 0)..=(author, seq, u64::MAX))? {
            locals.push(entry?.0.value().2);
        }
        Ok(locals)
    }

    /// The latest op an author has in this log: (seq, local).
    pub fn latest_by(&self, author: u32) -> Result<Option<(u64, u64)>, StorageError> {
        let mut range = self.chains.range((author, 0, 0)..=(author, u64::MAX, u64::MAX))?;
        match range.next_back() {
            Some(entry) => {
                let (_, seq, local) = entry?.0.value();
                Ok(Some((seq, local)))
            }
            None => Ok(None),
        }
    }

    /// Appends a verified op whose parents are all present. Updates heads, children, chains,
    /// clocks and the hash index.
    pub fn append(
        &mut self,
        hash: &OpHash,
        bytes: &[u8],
        depth: u64,
        author: u32,
        seq: u64,
        parents: &[u64],
    ) -> Result<u64, StorageError> {
        let local = self.next_local()?;
        let mut clock = Clock::default();
        for parent in parents {
            clock.merge(&self.clock(*parent)?);
            self.children.insert((*parent, local), ())?;
            self.heads.remove(*parent)?;
        }
        clock.set(author, seq);
        let mut record = Vec::with_capacity(RECORD_HEADER + 4 + bytes.len() + clock.0.len() * 4);
        encode_record(&mut record, hash, depth, author, seq, &clock.encode(), bytes);
        self.push_record(local, &record)?;
        self.pending_hashes.insert(*hash, local);
        self.heads.insert(local, ())?;
        self.chains.insert((author, seq, local), ())?;
        self.depths.insert((depth, local), ())?;
        Ok(local)
    }
}

/// Reads the database id and suite name, if the store has been initialised.
pub(crate) fn read_meta(database: &Database) -> Result<(Option<DatabaseId>, Option<String>), StorageError> {
    let transaction = database.begin_read()?;
    let meta = match transaction.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, None)),
        Err(error) => return Err(error.into()),
    };
    let database_id = match meta.get(META_DATABASE)? {
        Some(bytes) => {
            let array: [u8; 32] = bytes.value().try_into().map_err(|_| corrupt("the database id is not 32 bytes"))?;
            Some(DatabaseId(array))
        }
        None => None,
    };
    let suite = match meta.get(META_SUITE)? {
        Some(bytes) => {
            Some(String::from_utf8(bytes.value().to_vec()).map_err(|_| corrupt("the suite name is not UTF-8"))?)
        }
        None => None,
    };
    Ok((database_id, suite))
}

/// The layout version recorded when the store was created (0 when missing).
pub(crate) fn read_format(database: &Database) -> Result<u64, StorageError> {
    let transaction = database.begin_read()?;
    let meta = transaction.open_table(META)?;
    match meta.get(META_FORMAT)? {
        Some(bytes) => read_u64(bytes.value()),
        None => Ok(0),
    }
}

/// Checks that the tables agree with each other; returns a description of the first problem.
pub(crate) fn check_integrity(database: &Database) -> Result<(), StorageError> {
    let transaction = database.begin_read()?;
    let tables = ReadTables::open(&transaction)?;
    let mut expected_heads = std::collections::BTreeSet::new();
    let mut with_children = std::collections::BTreeSet::new();
    let mut next_local = 0;
    tables.for_each_record(|record| {
        let local = record.info.local;
        if local != next_local {
            return Err(corrupt(format!("op #{next_local} is missing from the chunks")));
        }
        next_local += 1;
        let op = crate::op::Op::decode(record.bytes)
            .map_err(|error| corrupt(format!("op #{local} does not decode: {error}")))?;
        if tables.local_of(&record.info.hash)? != Some(local) {
            return Err(corrupt(format!("op #{local} is missing from the hash index")));
        }
        for parent in &op.parents {
            let parent_local =
                tables.local_of(parent)?.ok_or_else(|| corrupt(format!("op #{local} has a missing parent")))?;
            if parent_local >= local {
                return Err(corrupt(format!("op #{local} was stored before its parent #{parent_local}")));
            }
            with_children.insert(parent_local);
        }
        Clock::decode(record.clock)?;
        expected_heads.insert(local);
        Ok(())
    })?;
    let expected_heads: std::collections::BTreeSet<u64> = expected_heads.difference(&with_children).copied().collect();
    let mut heads = std::collections::BTreeSet::new();
    for entry in tables.heads.iter()? {
        heads.insert(entry?.0.value());
    }
    if heads != expected_heads {
        return Err(corrupt(format!("heads {heads:?} do not match the ops without children {expected_heads:?}")));
    }
    if tables.hashes.len()? != next_local {
        return Err(corrupt("the hash index and the op chunks differ in size"));
    }
    Ok(())
}

pub(crate) fn read_heads(tables: &ReadTables) -> Result<Vec<OpInfo>, StorageError> {
    let mut heads = Vec::new();
    for entry in tables.heads.iter()? {
        let local = entry?.0.value();
        heads.push(tables.info(local)?.ok_or_else(|| corrupt(format!("head #{local} has no info")))?);
    }
    Ok(heads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_round_trip_and_reject_truncation() {
        let clock = Clock(vec![(0, 1), (7, 300), (u32::MAX, u64::MAX)]);
        let bytes = clock.encode();
        assert_eq!(Clock::decode(&bytes).expect("decodes"), clock);
        assert!(Clock::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut merged = Clock(vec![(1, 5)]);
        merged.merge(&Clock(vec![(0, 2), (1, 3), (4, 9)]));
        assert_eq!(merged, Clock(vec![(0, 2), (1, 5), (4, 9)]));
        assert_eq!(merged.get(4), 9);
        assert_eq!(merged.get(3), 0);
    }

    #[test]
    fn chunks_hold_consecutive_records() {
        let mut chunk = Vec::new();
        for index in 0..5u64 {
            encode_record(&mut chunk, &OpHash([index as u8; 32]), index + 1, 0, index + 1, &[1, 2], &[index as u8; 10]);
        }
        let records = chunk_records(&chunk, 10).expect("parses");
        assert_eq!(records.len(), 5);
        let third = parse_record(12, records[2].1).expect("record");
        assert_eq!((third.info.local, third.info.depth, third.info.hash), (12, 3, OpHash([2; 32])));
        assert_eq!(find_record(&chunk, 10, 14).expect("ok").map(|record| record.len()), Some(records[4].1.len()));
        assert_eq!(find_record(&chunk, 10, 15).expect("ok"), None);
        assert_eq!(find_record(&chunk, 10, 9).expect("ok"), None);
        assert!(chunk_records(&chunk[..chunk.len() - 3], 10).is_err());
    }
}
