//! The tables of one read or write transaction, and the op lookups both kinds share.
//!
//! Ops are stored by a *local sequence number* (the order this replica accepted them, always
//! parents first), so the hot tables are appended to in key order. Only the hash index is keyed
//! by op hash: it is small (the first 8 bytes of the hash and the local number, 16 bytes a
//! row), batched (a transaction's new entries are inserted together when it ends), and kept as
//! a prefix index (see `prefix_index`), because random keys are what a B-tree writes slowest.

use super::chains::Chains;
use super::digests::{Items, PendingSums};
use super::events::OpenEvents;
use super::prefix_index::{PrefixIndex, PrefixKey, Recent};
use super::readers::ReaderRuns;
use super::records::{
    chunk_records, compact, compactable, encode_record, find_record, hash_prefix, parse_record, ElidedKeys,
    ElidedLookup, OpenChunk, Record, RECORD_HEADER,
};
use super::tables::*;
use crate::dag::{Causality, Clock, OpInfo};
use crate::error::{corrupt, StorageError};
use crate::ids::{Identity, OpHash};
use crate::op::Op;
use redb::{ReadableTable, ReadableTableMetadata};

/// Reading ops, from a read or a write transaction.
pub(crate) trait InfoLookup: Causality + ElidedLookup {
    /// Calls `read` with an op's record (see [`encode_record`]), read in place in its chunk.
    fn with_record<T>(
        &self,
        local: u64,
        read: impl FnOnce(Record) -> Result<T, StorageError>,
    ) -> Result<Option<T>, StorageError>;

    /// An op's metadata, version vector and decoded op.
    fn load(&self, local: u64) -> Result<Option<(OpInfo, Clock, Op)>, StorageError> {
        self.with_record(local, |record| {
            let op =
                Op::decode_stored(&record.op_bytes(self)?).map_err(|error| corrupt(format!("op #{local}: {error}")))?;
            Ok((record.info, Clock::decode(record.clock)?, op))
        })
    }

    /// An op's metadata and canonical bytes, without decoding it.
    fn op_record(&self, local: u64) -> Result<Option<(OpInfo, Vec<u8>)>, StorageError> {
        self.with_record(local, |record| Ok((record.info, record.op_bytes(self)?.into_owned())))
    }

    /// An op's metadata and version vector, without decoding the op.
    fn stamp(&self, local: u64) -> Result<Option<(OpInfo, Clock)>, StorageError> {
        self.with_record(local, |record| Ok((record.info, Clock::decode(record.clock)?)))
    }
}

/// Where a move of a prefix index's middle table into its large one is (see
/// `prefix_index`), as `meta` keeps it under `key`: `None` when no move is under way.
fn read_slice(meta: &redb::Table<&'static str, &'static [u8]>, key: &str) -> Result<Option<u64>, StorageError> {
    meta.get(key)?.map(|bytes| super::read_u64(bytes.value())).transpose()
}

/// Stores where a move is now, if that changed.
fn write_slice(
    meta: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    was: Option<u64>,
    now: Option<u64>,
) -> Result<(), StorageError> {
    match now {
        _ if now == was => {}
        Some(slice) => {
            meta.insert(key, slice.to_be_bytes().as_slice())?;
        }
        None => {
            meta.remove(key)?;
        }
    }
    Ok(())
}

/// The keys compact records leave out, as a transaction read them: the database id, and the
/// last author key and schema hash (records in a row mostly share them).
#[derive(Default)]
struct ElidedMemo {
    database: std::cell::Cell<Option<[u8; 32]>>,
    last_author: std::cell::Cell<Option<(u32, [u8; 32])>>,
    last_schema: std::cell::Cell<Option<(u32, [u8; 32])>>,
}

/// A key by its number in `table` (`author_keys`, `schema_numbers`), remembering the last one
/// in `last`: records in a row mostly share their author and schema.
fn key_by_number(
    last: &std::cell::Cell<Option<(u32, [u8; 32])>>,
    table: &impl ReadableTable<u32, &'static [u8; 32]>,
    number: u32,
    what: &str,
) -> Result<[u8; 32], StorageError> {
    if let Some((known, key)) = last.get() {
        if known == number {
            return Ok(key);
        }
    }
    let key = *table.get(number)?.ok_or_else(|| corrupt(format!("{what} number {number} is missing")))?.value();
    last.set(Some((number, key)));
    Ok(key)
}

/// Implements the lookups both kinds of transaction share.
macro_rules! impl_lookups {
    ($type:ty) => {
        impl Causality for $type {
            fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                self.local_of_hash(hash)
            }

            fn info(&self, local: u64) -> Result<Option<OpInfo>, StorageError> {
                self.with_record(local, |record| Ok(record.info))
            }

            fn clock(&self, local: u64) -> Result<Clock, StorageError> {
                self.with_record(local, |record| Clock::decode(record.clock))?
                    .ok_or_else(|| corrupt(format!("op #{local} is missing")))
            }

            fn parents(&self, local: u64) -> Result<Vec<u64>, StorageError> {
                let op = self
                    .with_record(local, |record| {
                        Op::decode(&record.op_bytes(self)?).map_err(|error| corrupt(format!("op #{local}: {error}")))
                    })?
                    .ok_or_else(|| corrupt(format!("op #{local} is missing")))?;
                let mut locals = Vec::with_capacity(op.parents.len());
                for parent in &op.parents {
                    let parent_local =
                        self.local_of(parent)?.ok_or_else(|| corrupt(format!("a parent of op #{local} is missing")))?;
                    locals.push(parent_local);
                }
                Ok(locals)
            }

            fn equivocated_from(&self, author: u32) -> Result<Option<u64>, StorageError> {
                Ok(self.equivocators.get(author)?.map(|seq| seq.value()))
            }
        }

        impl ElidedLookup for $type {
            fn elided_keys(&self, schema: u32, author: u32) -> Result<ElidedKeys, StorageError> {
                Ok(ElidedKeys {
                    database: self.database_id()?,
                    schema: key_by_number(&self.elided.last_schema, &self.schema_numbers, schema, "schema")?,
                    author: self.author_key(author)?,
                })
            }
        }

        impl $type {
            /// The store's database id, read once.
            fn database_id(&self) -> Result<[u8; 32], StorageError> {
                if let Some(database) = self.elided.database.get() {
                    return Ok(database);
                }
                let database = super::read_database_id(&self.meta)?;
                self.elided.database.set(Some(database));
                Ok(database)
            }

            fn author_key(&self, author: u32) -> Result<[u8; 32], StorageError> {
                key_by_number(&self.elided.last_author, &self.author_keys, author, "author")
            }
        }

        impl InfoLookup for $type {
            fn with_record<T>(
                &self,
                local: u64,
                read: impl FnOnce(Record) -> Result<T, StorageError>,
            ) -> Result<Option<T>, StorageError> {
                if let Some((start, chunk)) = self.open_chunk_holding(local) {
                    return match find_record(chunk, start, local)? {
                        Some(record) => Ok(Some(read(parse_record(local, record)?)?)),
                        None => Ok(None),
                    };
                }
                let mut range = self.ops.range(..=local)?;
                match range.next_back() {
                    Some(entry) => {
                        let (start, chunk) = entry?;
                        match find_record(chunk.value(), start.value(), local)? {
                            Some(record) => Ok(Some(read(parse_record(local, record)?)?)),
                            None => Ok(None),
                        }
                    }
                    None => Ok(None),
                }
            }
        }

        impl $type {
            /// Looks a hash up in the index, confirming the full hash in the op's record.
            fn indexed_local(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                for local in self.hashes.numbers(hash_prefix(hash))? {
                    if self.info(local)?.is_some_and(|info| info.hash == *hash) {
                        return Ok(Some(local));
                    }
                }
                Ok(None)
            }
        }
    };
}
/// The op order of a read transaction (see [`Items`]).
pub(crate) type ReadItems<'t> =
    Items<'t, redb::ReadOnlyTable<(u64, u64), &'static [u8; 32]>, redb::ReadOnlyTable<(u8, u64), &'static [u8]>>;

/// The tables a read transaction looks at.
pub(crate) struct ReadTables<'m> {
    meta: redb::ReadOnlyTable<&'static str, &'static [u8]>,
    schema_numbers: redb::ReadOnlyTable<u32, &'static [u8; 32]>,
    pub ops: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub hashes: PrefixIndex<'m, redb::ReadOnlyTable<PrefixKey, ()>, redb::ReadOnlyTable<u64, u64>>,
    pub equivocators: redb::ReadOnlyTable<u32, u64>,
    pub heads: redb::ReadOnlyTable<u64, ()>,
    pub author_keys: redb::ReadOnlyTable<u32, &'static [u8; 32]>,
    pub rows: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub row_ids: PrefixIndex<'m, redb::ReadOnlyTable<PrefixKey, ()>, redb::ReadOnlyTable<u64, u64>>,
    pub field_index: redb::ReadOnlyTable<(&'static [u8; 32], u64), &'static [u8; 32]>,
    pub row_index: redb::ReadOnlyTable<(&'static [u8; 32], u64), &'static [u8; 32]>,
    pub ineffective: redb::ReadOnlyTable<u64, ()>,
    pub events: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub depths: redb::ReadOnlyTable<(u64, u64), &'static [u8; 32]>,
    pub depth_sums: redb::ReadOnlyTable<(u8, u64), &'static [u8]>,
    /// What compact records leave out, as far as read (see [`ElidedLookup`]).
    elided: ElidedMemo,
}

impl<'m> ReadTables<'m> {
    pub fn open(transaction: &redb::ReadTransaction, recent: &'m Recent) -> Result<ReadTables<'m>, StorageError> {
        Ok(ReadTables {
            meta: transaction.open_table(META)?,
            schema_numbers: transaction.open_table(SCHEMA_NUMBERS)?,
            ops: transaction.open_table(OPS)?,
            hashes: PrefixIndex::new(
                transaction.open_table(HASHES)?,
                transaction.open_table(HASHES_MIDDLE)?,
                transaction.open_table(HASHES_RECENT)?,
                &recent.hashes,
            ),
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            heads: transaction.open_table(HEADS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
            rows: transaction.open_table(ROWS)?,
            row_ids: PrefixIndex::new(
                transaction.open_table(ROW_IDS)?,
                transaction.open_table(ROW_IDS_MIDDLE)?,
                transaction.open_table(ROW_IDS_RECENT)?,
                &recent.row_ids,
            ),
            field_index: transaction.open_table(FIELD_INDEX)?,
            row_index: transaction.open_table(ROW_INDEX)?,
            ineffective: transaction.open_table(INEFFECTIVE)?,
            events: transaction.open_table(EVENTS)?,
            depths: transaction.open_table(DEPTHS)?,
            depth_sums: transaction.open_table(DEPTH_SUMS)?,
            elided: ElidedMemo::default(),
        })
    }

    /// The ops in the order sync reconciles them.
    pub fn items(&self) -> ReadItems<'_> {
        Items { depths: &self.depths, sums: &self.depth_sums }
    }

    pub fn op_count(&self) -> Result<u64, StorageError> {
        self.hashes.len()
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

    /// Calls `visit` with the records of the ops whose local numbers are in `range`, in order.
    pub fn for_each_record_in(
        &self,
        range: std::ops::RangeInclusive<u64>,
        mut visit: impl FnMut(Record) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let (first, last) = (*range.start(), *range.end());
        // The chunk holding `first` starts at or before it.
        let start = self.ops.range(..=first)?.next_back().transpose()?.map_or(first, |(start, _)| start.value());
        for entry in self.ops.range(start..=last)? {
            let (start, chunk) = entry?;
            for (local, record) in chunk_records(chunk.value(), start.value())? {
                if local > last {
                    return Ok(());
                }
                if local >= first {
                    visit(parse_record(local, record)?)?;
                }
            }
        }
        Ok(())
    }

    fn open_chunk_holding(&self, _local: u64) -> Option<(u64, &[u8])> {
        None
    }
}

impl ReadTables<'_> {
    fn local_of_hash(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
        self.indexed_local(hash)
    }
}

impl_lookups!(ReadTables<'_>);

/// The tables a write transaction changes.
pub(crate) struct WriteTables<'txn> {
    pub meta: redb::Table<'txn, &'static str, &'static [u8]>,
    pub schemas: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    schema_numbers: redb::Table<'txn, u32, &'static [u8; 32]>,
    pub ops: redb::Table<'txn, u64, &'static [u8]>,
    pub hashes: PrefixIndex<'txn, redb::Table<'txn, PrefixKey, ()>, redb::Table<'txn, u64, u64>>,
    heads: redb::Table<'txn, u64, ()>,
    pub authors: redb::Table<'txn, &'static [u8; 32], u32>,
    pub author_keys: redb::Table<'txn, u32, &'static [u8; 32]>,
    pub chains: Chains<'txn>,
    pub depths: redb::Table<'txn, (u64, u64), &'static [u8; 32]>,
    pub depth_sums: redb::Table<'txn, (u8, u64), &'static [u8]>,
    pub equivocators: redb::Table<'txn, u32, u64>,
    pub rejected: redb::Table<'txn, &'static [u8; 32], &'static str>,
    pub parked: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub parked_queue: redb::Table<'txn, u64, &'static [u8; 32]>,
    pub waiting: redb::MultimapTable<'txn, &'static [u8; 32], &'static [u8; 32]>,
    pub rows: redb::Table<'txn, u64, &'static [u8]>,
    pub row_ids: PrefixIndex<'txn, redb::Table<'txn, PrefixKey, ()>, redb::Table<'txn, u64, u64>>,
    pub row_writers: redb::Table<'txn, (&'static [u8; 32], u64), ()>,
    pub readers: ReaderRuns<'txn>,
    pub row_index: redb::Table<'txn, (&'static [u8; 32], u64), &'static [u8; 32]>,
    pub field_index: redb::Table<'txn, (&'static [u8; 32], u64), &'static [u8; 32]>,
    pub ineffective: redb::Table<'txn, u64, ()>,
    pub events: redb::Table<'txn, u64, &'static [u8]>,
    /// This transaction's new hash-index entries, inserted sorted by [`WriteTables::finish`].
    pending_hashes: std::collections::HashMap<OpHash, u64>,
    /// This transaction's additions to the depth sums, written by [`WriteTables::finish`].
    pending_sums: PendingSums,
    /// The next local number, once this transaction has read it.
    next_local: Option<u64>,
    /// The chunk new records go into, written by [`WriteTables::finish`] (or when it fills up).
    open_chunk: OpenChunk,
    /// The heads as this transaction leaves them, and as it found them: a batch's ops mostly
    /// replace the head the op before added, so only the difference is written, by
    /// [`WriteTables::finish`].
    heads_now: std::collections::BTreeSet<u64>,
    heads_found: std::collections::BTreeSet<u64>,
    /// The events this transaction adds, in their open chunk.
    open_events: OpenEvents,
    /// What compact records leave out, as far as read (see [`ElidedLookup`]).
    elided: ElidedMemo,
    /// The numbered schemas by number, once read: compact records name their schema by it.
    numbered_schemas: Option<Vec<[u8; 32]>>,
}

impl WriteTables<'_> {
    fn open_chunk_holding(&self, local: u64) -> Option<(u64, &[u8])> {
        self.open_chunk.holding(local)
    }

    fn local_of_hash(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
        match self.pending_hashes.get(hash) {
            Some(local) => Ok(Some(*local)),
            None => self.indexed_local(hash),
        }
    }
}

impl_lookups!(WriteTables<'_>);

impl<'txn> WriteTables<'txn> {
    pub fn open(
        transaction: &'txn redb::WriteTransaction,
        recent: &'txn Recent,
    ) -> Result<WriteTables<'txn>, StorageError> {
        let heads = transaction.open_table(HEADS)?;
        let mut heads_found = std::collections::BTreeSet::new();
        for entry in heads.iter()? {
            heads_found.insert(entry?.0.value());
        }
        Ok(WriteTables {
            meta: transaction.open_table(META)?,
            schemas: transaction.open_table(SCHEMAS)?,
            schema_numbers: transaction.open_table(SCHEMA_NUMBERS)?,
            ops: transaction.open_table(OPS)?,
            hashes: PrefixIndex::new(
                transaction.open_table(HASHES)?,
                transaction.open_table(HASHES_MIDDLE)?,
                transaction.open_table(HASHES_RECENT)?,
                &recent.hashes,
            ),
            heads,
            authors: transaction.open_table(AUTHORS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
            chains: Chains::open(transaction)?,
            depths: transaction.open_table(DEPTHS)?,
            depth_sums: transaction.open_table(DEPTH_SUMS)?,
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            rejected: transaction.open_table(REJECTED)?,
            parked: transaction.open_table(PARKED)?,
            parked_queue: transaction.open_table(PARKED_QUEUE)?,
            waiting: transaction.open_multimap_table(WAITING)?,
            rows: transaction.open_table(ROWS)?,
            row_ids: PrefixIndex::new(
                transaction.open_table(ROW_IDS)?,
                transaction.open_table(ROW_IDS_MIDDLE)?,
                transaction.open_table(ROW_IDS_RECENT)?,
                &recent.row_ids,
            ),
            row_writers: transaction.open_table(ROW_WRITERS)?,
            readers: ReaderRuns::open(transaction)?,
            row_index: transaction.open_table(ROW_INDEX)?,
            field_index: transaction.open_table(FIELD_INDEX)?,
            ineffective: transaction.open_table(INEFFECTIVE)?,
            events: transaction.open_table(EVENTS)?,
            pending_hashes: std::collections::HashMap::new(),
            pending_sums: PendingSums::default(),
            next_local: None,
            open_chunk: OpenChunk::default(),
            heads_now: heads_found.clone(),
            heads_found,
            open_events: OpenEvents::default(),
            elided: ElidedMemo::default(),
            numbered_schemas: None,
        })
    }

    /// The ops without children, in local order.
    pub fn heads(&self) -> impl Iterator<Item = u64> + '_ {
        self.heads_now.iter().copied()
    }

    /// Adds an event, which `encode` writes after the bytes it is given; returns its sequence
    /// number (one more than the last).
    pub fn push_event(&mut self, encode: impl FnOnce(u64, &mut Vec<u8>)) -> Result<u64, StorageError> {
        self.open_events.push(&mut self.events, encode)
    }

    /// Each table's name, whether it holds state (rows, their indexes, verdicts and events)
    /// rather than the log, and redb's figures for it.
    pub fn stats(&self) -> Result<Vec<(&'static str, bool, redb::TableStats)>, StorageError> {
        let [chain_runs, chain_forks] = self.chains.stats()?;
        Ok(vec![
            ("meta", false, self.meta.stats()?),
            ("schemas", false, self.schemas.stats()?),
            ("schema_numbers", false, self.schema_numbers.stats()?),
            ("ops", false, self.ops.stats()?),
            ("hashes", false, self.hashes.settled.stats()?),
            ("middle_hashes", false, self.hashes.middle.stats()?),
            ("recent_hashes", false, self.hashes.recent.stats()?),
            ("heads", false, self.heads.stats()?),
            ("authors", false, self.authors.stats()?),
            ("author_keys", false, self.author_keys.stats()?),
            ("chain_runs", false, chain_runs),
            ("chain_forks", false, chain_forks),
            ("depths", false, self.depths.stats()?),
            ("depth_sums", false, self.depth_sums.stats()?),
            ("equivocators", false, self.equivocators.stats()?),
            ("rejected", false, self.rejected.stats()?),
            ("parked", false, self.parked.stats()?),
            ("parked_queue", false, self.parked_queue.stats()?),
            ("waiting", false, self.waiting.stats()?),
            ("rows", true, self.rows.stats()?),
            ("row_ids", true, self.row_ids.settled.stats()?),
            ("middle_row_ids", true, self.row_ids.middle.stats()?),
            ("recent_row_ids", true, self.row_ids.recent.stats()?),
            ("row_writers", true, self.row_writers.stats()?),
            ("reader_runs", true, self.readers.table.stats()?),
            ("row_index", true, self.row_index.stats()?),
            ("field_index", true, self.field_index.stats()?),
            ("ineffective", true, self.ineffective.stats()?),
            ("events", true, self.events.stats()?),
        ])
    }

    /// Writes what the transaction buffered: the open chunk, the next local number, the heads
    /// that changed, the new hash-index entries and the reader runs. Call before commit.
    pub fn finish(mut self) -> Result<(), StorageError> {
        self.open_chunk.finish(&mut self.ops)?;
        if let Some(next) = self.next_local {
            self.meta.insert(META_NEXT_LOCAL, next.to_be_bytes().as_slice())?;
        }
        let mut entries: Vec<(u64, u64)> =
            self.pending_hashes.drain().map(|(hash, local)| (hash_prefix(&hash), local)).collect();
        // In local order: the small table of recent entries is keyed by it.
        entries.sort_unstable_by_key(|(_, local)| *local);
        for key in entries {
            self.hashes.insert(key)?;
        }
        let moving = read_slice(&self.meta, META_HASHES_SLICE)?;
        write_slice(&mut self.meta, META_HASHES_SLICE, moving, self.hashes.settle(moving)?)?;
        self.readers.finish()?;
        self.chains.finish()?;
        self.open_events.finish(&mut self.events)?;
        let moving = read_slice(&self.meta, META_ROW_IDS_SLICE)?;
        write_slice(&mut self.meta, META_ROW_IDS_SLICE, moving, self.row_ids.settle(moving)?)?;
        std::mem::take(&mut self.pending_sums).write(&mut self.depth_sums)?;
        for gone in self.heads_found.difference(&self.heads_now) {
            self.heads.remove(*gone)?;
        }
        for new in self.heads_now.difference(&self.heads_found) {
            self.heads.insert(*new, ())?;
        }
        Ok(())
    }

    /// The next local number; read once per transaction and written back by [`WriteTables::finish`].
    pub fn next_local(&mut self) -> Result<u64, StorageError> {
        let next = match self.next_local {
            Some(next) => next,
            None => super::read_next_local(&self.meta)?,
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
        self.chains.entries(author, seq)
    }

    /// The latest op an author has in this log: (seq, local).
    pub fn latest_by(&self, author: u32) -> Result<Option<(u64, u64)>, StorageError> {
        self.chains.latest(author)
    }

    /// The number of the schema of an op that a record can keep compact (its database id is
    /// the store's, its author key author `author`'s), numbering the schema on first sight;
    /// `None` for an op that must be kept whole (the genesis).
    fn compact_schema_number(&mut self, bytes: &[u8], author: u32) -> Result<Option<u32>, StorageError> {
        let Some(schema) = compactable(bytes, &self.database_id()?, &self.author_key(author)?) else { return Ok(None) };
        let numbered = match &mut self.numbered_schemas {
            Some(numbered) => numbered,
            None => {
                let mut numbered = Vec::new();
                for entry in self.schema_numbers.iter()? {
                    numbered.push(*entry?.1.value());
                }
                self.numbered_schemas.insert(numbered)
            }
        };
        if let Some(number) = numbered.iter().position(|known| known == schema) {
            return Ok(Some(number as u32));
        }
        let number = u32::try_from(numbered.len()).map_err(|_| corrupt("more than 2^32 schemas"))?;
        numbered.push(*schema);
        self.schema_numbers.insert(number, schema)?;
        Ok(Some(number))
    }

    /// Appends a verified op whose parents are all present. Updates heads, chains,
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
            self.heads_now.remove(parent);
        }
        clock.set(author, seq);
        let clock = clock.encode();
        let compacted = self.compact_schema_number(bytes, author)?.map(|schema| compact(bytes, schema));
        let (head, tail): (&[u8], &[u8]) = match &compacted {
            Some((head, tail)) => (head, tail),
            None => (&[], bytes),
        };
        let length = 4 + RECORD_HEADER + clock.len() + head.len() + tail.len();
        self.open_chunk.push(&mut self.ops, local, length, |chunk| {
            encode_record(chunk, hash, depth, author, seq, &clock, [head, tail])
        })?;
        self.pending_hashes.insert(*hash, local);
        self.heads_now.insert(local);
        self.chains.note(author, seq, local)?;
        self.depths.insert((depth, local), &hash.0)?;
        self.pending_sums.add(depth, hash);
        Ok(local)
    }
}
