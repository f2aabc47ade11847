//! The store: a replica's redb file, its tables, and the transactions over them.
//!
//! Every change to the log and its state is one redb write transaction: a crash keeps every op
//! of a durable commit and nothing half-written (deferred writes, see `replica::deferred`, share
//! a transaction committed without a disk sync, and may be lost). `tables` lists the tables,
//! `records` how ops are packed into them, `rows` how the state is kept, `transaction` the
//! tables of one transaction and the lookups on them, and `integrity` the check that they
//! agree with each other. What most ops add is appended, or packed, or kept as runs, rather
//! than inserted one B-tree entry per op: `prefix_index` (hash and row-id indexes), `chains`,
//! `readers` and `events`.

mod chains;
mod digests;
mod events;
mod integrity;
pub(crate) mod prefix_index;
mod readers;
mod records;
mod rows;
mod tables;
mod transaction;

pub use digests::Bound;
pub(crate) use digests::SetSum;
pub(crate) use events::{last_event, visit_events};
pub(crate) use integrity::{check_integrity, read_heads};
pub(crate) use prefix_index::Recent;
pub(crate) use records::{set_signature, Patched};
pub(crate) use rows::{
    decode_row_record, encode_row_record, for_each_row_id, insert_row, read_record, record_id, row_number, row_writers,
    visit_lookup, RowNumber,
};
pub(crate) use tables::*;
pub(crate) use transaction::{InfoLookup, ReadTables, WriteTables};

use crate::crypto::CryptoSuite;
use crate::error::{corrupt, StorageError};
use crate::ids::DatabaseId;
use redb::{Database, ReadableDatabase};
use std::path::Path;

/// Where a replica keeps its tables.
#[derive(Debug, Clone)]
pub enum Storage<'a> {
    /// A redb file at this path (created by `create` and `join`).
    File(&'a Path),
    /// A store that lives in memory and vanishes with the replica (tests, caches).
    Memory,
}

/// Opens (or creates) the store, with a page cache of at most `cache_bytes`.
pub(crate) fn open_database(storage: &Storage, create: bool, cache_bytes: usize) -> Result<Database, StorageError> {
    let mut builder = Database::builder();
    builder.set_cache_size(cache_bytes);
    let opened = match storage {
        Storage::File(path) if create => builder.create(path),
        Storage::File(path) => builder.open(path),
        Storage::Memory => builder.create_with_backend(redb::backends::InMemoryBackend::new()),
    };
    match opened {
        Ok(database) => Ok(database),
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(StorageError::InUse),
        Err(redb::DatabaseError::UpgradeRequired(file_format)) => Err(StorageError::OlderFile { file_format }),
        Err(error) => Err(error.into()),
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

/// Records a new store's database id, suite and layout version.
pub(crate) fn write_meta(
    tables: &mut WriteTables,
    id: &DatabaseId,
    suite: &dyn CryptoSuite,
) -> Result<(), StorageError> {
    tables.meta.insert(META_DATABASE, id.0.as_slice())?;
    tables.meta.insert(META_SUITE, suite.name().as_bytes())?;
    tables.meta.insert(META_FORMAT, STORE_FORMAT.to_be_bytes().as_slice())?;
    Ok(())
}

/// The database id, as the `meta` table records it.
pub(crate) fn read_database_id(
    meta: &impl redb::ReadableTable<&'static str, &'static [u8]>,
) -> Result<[u8; 32], StorageError> {
    let bytes = meta.get(META_DATABASE)?.ok_or_else(|| corrupt("the database id is missing"))?;
    bytes.value().try_into().map_err(|_| corrupt("the database id is not 32 bytes"))
}

/// The next local number, as the `meta` table records it (0 in a new store).
pub(crate) fn read_next_local(
    meta: &impl redb::ReadableTable<&'static str, &'static [u8]>,
) -> Result<u64, StorageError> {
    match meta.get(META_NEXT_LOCAL)? {
        Some(bytes) => read_u64(bytes.value()),
        None => Ok(0),
    }
}

pub(crate) fn read_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| corrupt("a counter is not 8 bytes"))?;
    Ok(u64::from_be_bytes(array))
}

/// A store in memory, for the tables' unit tests.
#[cfg(test)]
pub(crate) fn in_memory() -> Database {
    Database::builder().create_with_backend(redb::backends::InMemoryBackend::new()).expect("an in-memory store")
}
