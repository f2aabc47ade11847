//! The state's records: a row's number and materialized row in `rows`, the ops that write it,
//! and the index lookups that list a collection's rows.

use crate::error::{corrupt, StorageError};
use crate::ids::RowId;
use crate::model::row::RowState;
use crate::plan::Lookup;
use redb::ReadableTable;

/// A row's number: the local number of the op that inserted it and the insert's index in it.
/// Numbers grow with the log, so index entries are appended at the end of each key. Ops hold
/// at most [`crate::replica::MAX_CHANGES`] changes, so the index fits in 16 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RowNumber(pub u64);

impl RowNumber {
    pub fn new(local: u64, change: u32) -> RowNumber {
        RowNumber(local << 16 | u64::from(change & 0xffff))
    }

    /// The local number of the op whose insert created the row.
    pub fn inserter(self) -> u64 {
        self.0 >> 16
    }
}

/// A `rows` value: the row number (8 bytes, big-endian), then the row's encoding if it exists.
pub(crate) fn encode_row_record(number: RowNumber, row: Option<&RowState>) -> Vec<u8> {
    let mut bytes = number.0.to_be_bytes().to_vec();
    if let Some(row) = row {
        bytes.extend_from_slice(&row.encode());
    }
    bytes
}

pub(crate) fn decode_row_record(bytes: &[u8]) -> Result<(RowNumber, Option<RowState>), StorageError> {
    let (number, row) = bytes.split_at_checked(8).ok_or_else(|| corrupt("a row record is too short"))?;
    let number = super::read_u64(number)?;
    if row.is_empty() {
        return Ok((RowNumber(number), None));
    }
    let row = RowState::decode(row).map_err(|error| corrupt(format!("row record {number}: {error}")))?;
    Ok((RowNumber(number), Some(row)))
}

/// The table of rows, from a read or a write transaction.
pub(crate) trait RowsTable: ReadableTable<&'static [u8; 32], &'static [u8]> {}
impl<T: ReadableTable<&'static [u8; 32], &'static [u8]>> RowsTable for T {}

/// An index table (rule or query index), from a read or a write transaction.
pub(crate) trait IndexTable: ReadableTable<(&'static [u8; 32], u64), &'static [u8; 32]> {}
impl<T: ReadableTable<(&'static [u8; 32], u64), &'static [u8; 32]>> IndexTable for T {}

/// A row's number and materialized state, if any op inserted it.
pub(crate) fn read_record(
    rows: &impl RowsTable,
    id: &RowId,
) -> Result<Option<(RowNumber, Option<RowState>)>, StorageError> {
    match rows.get(&id.0)? {
        Some(bytes) => decode_row_record(bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// The ops that write a row, in log order: its insert, then its updates and deletes.
pub(crate) fn row_writers(
    rows: &impl RowsTable,
    writers: &impl ReadableTable<(&'static [u8; 32], u64), ()>,
    id: &RowId,
) -> Result<Vec<u64>, StorageError> {
    let mut locals = Vec::new();
    if let Some((number, _)) = read_record(rows, id)? {
        locals.push(number.inserter());
    }
    for entry in writers.range((&id.0, 0)..=(&id.0, u64::MAX))? {
        locals.push(entry?.0.value().1);
    }
    Ok(locals)
}

/// Calls `visit` with the rows of an index key, in row-number order, until it returns true.
fn visit_index(
    table: &impl IndexTable,
    key: &[u8; 32],
    visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    for entry in table.range((key, 0)..=(key, u64::MAX))? {
        if visit(RowId(*entry?.1.value()))? {
            break;
        }
    }
    Ok(())
}

/// Calls `visit` with the rows a [`Lookup`] lists, until it returns true.
pub(crate) fn visit_lookup(
    row_index: &impl IndexTable,
    field_index: &impl IndexTable,
    lookup: &Lookup,
    visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    match lookup {
        Lookup::Rows(rows) => {
            for row in rows {
                if visit(*row)? {
                    break;
                }
            }
            Ok(())
        }
        Lookup::RuleIndex(key) => visit_index(row_index, key, visit),
        Lookup::FieldIndex(key) => visit_index(field_index, key, visit),
    }
}
