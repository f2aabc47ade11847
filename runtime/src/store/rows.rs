//! The state's records: rows by number in `rows` (with their ids and materialized state), a
//! row's number from its id in `row_ids`, the ops that write a row, and the index lookups that
//! list a collection's rows.

use super::prefix_index::{PrefixIndex, PrefixKey};
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

/// A `rows` value: the row's id (32 bytes), then the row's encoding if it exists.
pub(crate) fn encode_row_record(id: &RowId, row: Option<&RowState>) -> Vec<u8> {
    match row {
        Some(row) => {
            let mut bytes = Vec::with_capacity(160);
            bytes.extend_from_slice(&id.0);
            row.encode_after(bytes)
        }
        None => id.0.to_vec(),
    }
}

/// The id a `rows` value starts with.
pub(crate) fn record_id(number: u64, bytes: &[u8]) -> Result<RowId, StorageError> {
    let id = bytes.get(..32).and_then(|id| id.try_into().ok());
    id.map(RowId).ok_or_else(|| corrupt(format!("row record {number} is too short")))
}

pub(crate) fn decode_row_record(number: u64, bytes: &[u8]) -> Result<(RowId, Option<RowState>), StorageError> {
    let id = record_id(number, bytes)?;
    let row = &bytes[32..];
    if row.is_empty() {
        return Ok((id, None));
    }
    let row = RowState::decode(row).map_err(|error| corrupt(format!("row record {number}: {error}")))?;
    Ok((id, Some(row)))
}

/// The `row_ids` key prefix of a row id.
fn id_prefix(id: &RowId) -> u64 {
    u64::from_be_bytes([id.0[0], id.0[1], id.0[2], id.0[3], id.0[4], id.0[5], id.0[6], id.0[7]])
}

/// The tables of rows, from a read or a write transaction.
pub(crate) trait RowsTable: ReadableTable<u64, &'static [u8]> {}
impl<T: ReadableTable<u64, &'static [u8]>> RowsTable for T {}
/// The row-id index's tables, from a read or a write transaction.
pub(crate) trait RowIdsTable: ReadableTable<PrefixKey, ()> {}
impl<T: ReadableTable<PrefixKey, ()>> RowIdsTable for T {}
pub(crate) trait RecentRowIdsTable: ReadableTable<u64, u64> {}
impl<T: ReadableTable<u64, u64>> RecentRowIdsTable for T {}

/// An index table (rule or query index), from a read or a write transaction.
pub(crate) trait IndexTable: ReadableTable<(&'static [u8; 32], u64), &'static [u8; 32]> {}
impl<T: ReadableTable<(&'static [u8; 32], u64), &'static [u8; 32]>> IndexTable for T {}

/// Records a new row: its number under its id and, with `record`, its record without state
/// (a caller that leaves it out writes the record before anything reads the row).
pub(crate) fn insert_row(
    rows: &mut redb::Table<u64, &'static [u8]>,
    row_ids: &mut PrefixIndex<'_, redb::Table<PrefixKey, ()>, redb::Table<u64, u64>>,
    id: &RowId,
    number: RowNumber,
    record: bool,
) -> Result<(), StorageError> {
    row_ids.insert((id_prefix(id), number.0))?;
    if record {
        rows.insert(number.0, encode_row_record(id, None).as_slice())?;
    }
    Ok(())
}

/// A row's number from its id, if any op inserted it, with what `read` makes of its stored
/// record (read in place, not copied). Ids that share their first 8 bytes are told apart by
/// the id each record holds.
fn find_row<T>(
    rows: &impl RowsTable,
    row_ids: &PrefixIndex<'_, impl RowIdsTable, impl RecentRowIdsTable>,
    id: &RowId,
    read: impl FnOnce(u64, &[u8]) -> Result<T, StorageError>,
) -> Result<Option<(RowNumber, T)>, StorageError> {
    for number in row_ids.numbers(id_prefix(id))? {
        // A recent number may be one this transaction cannot see (see `prefix_index`).
        let Some(record) = rows.get(number)? else { continue };
        if record_id(number, record.value())? == *id {
            return Ok(Some((RowNumber(number), read(number, record.value())?)));
        }
    }
    Ok(None)
}

/// A row's number from its id, if any op inserted it.
pub(crate) fn row_number(
    rows: &impl RowsTable,
    row_ids: &PrefixIndex<'_, impl RowIdsTable, impl RecentRowIdsTable>,
    id: &RowId,
) -> Result<Option<RowNumber>, StorageError> {
    Ok(find_row(rows, row_ids, id, |_, _| Ok(()))?.map(|(number, ())| number))
}

/// A row's number and materialized state, if any op inserted it.
pub(crate) fn read_record(
    rows: &impl RowsTable,
    row_ids: &PrefixIndex<'_, impl RowIdsTable, impl RecentRowIdsTable>,
    id: &RowId,
) -> Result<Option<(RowNumber, Option<RowState>)>, StorageError> {
    find_row(rows, row_ids, id, |number, record| Ok(decode_row_record(number, record)?.1))
}

/// Calls `visit` with the id of every row any op inserted, in id order.
pub(crate) fn for_each_row_id(
    rows: &impl RowsTable,
    row_ids: &PrefixIndex<'_, impl RowIdsTable, impl RecentRowIdsTable>,
    visit: &mut dyn FnMut(RowId) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    // `row_ids` is in order of the ids' first 8 bytes; ids that share them are sorted apart.
    let mut group: Vec<RowId> = Vec::new();
    let mut group_prefix = None;
    row_ids.for_each(&mut |(prefix, number)| {
        if group_prefix != Some(prefix) {
            group.sort();
            group.drain(..).try_for_each(&mut *visit)?;
            group_prefix = Some(prefix);
        }
        let record = rows.get(number)?.ok_or_else(|| corrupt(format!("row number {number} has no record")))?;
        group.push(record_id(number, record.value())?);
        Ok(())
    })?;
    group.sort();
    group.into_iter().try_for_each(visit)
}

/// The ops that write a row, in log order: its insert, then its updates and deletes.
pub(crate) fn row_writers(
    rows: &impl RowsTable,
    row_ids: &PrefixIndex<'_, impl RowIdsTable, impl RecentRowIdsTable>,
    writers: &impl ReadableTable<(&'static [u8; 32], u64), ()>,
    id: &RowId,
) -> Result<Vec<u64>, StorageError> {
    let mut locals = Vec::new();
    if let Some(number) = row_number(rows, row_ids, id)? {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ROWS, ROW_IDS, ROW_IDS_MIDDLE, ROW_IDS_RECENT};

    #[test]
    fn ids_that_share_their_first_bytes_are_told_apart_and_listed_in_order() {
        let database = crate::store::in_memory();
        let transaction = database.begin_write().expect("write");
        let mut rows = transaction.open_table(ROWS).expect("rows");
        let recent = crate::store::prefix_index::RecentEntries::default();
        let mut row_ids = PrefixIndex::new(
            transaction.open_table(ROW_IDS).expect("row ids"),
            transaction.open_table(ROW_IDS_MIDDLE).expect("middle row ids"),
            transaction.open_table(ROW_IDS_RECENT).expect("recent row ids"),
            &recent,
        );
        let mut late = [7u8; 32];
        late[31] = 1;
        let (early, other, missing) = (RowId([7; 32]), RowId([3; 32]), RowId([7; 32].map(|byte| byte ^ 1)));
        let mut shares_prefix = [7u8; 32];
        shares_prefix[31] = 0;
        for (id, number) in
            [(RowId(late), 1 << 16), (early, 2 << 16), (other, 3 << 16), (RowId(shares_prefix), 4 << 16)]
        {
            insert_row(&mut rows, &mut row_ids, &id, RowNumber(number), true).expect("insert");
        }
        assert_eq!(row_number(&rows, &row_ids, &RowId(late)).expect("read"), Some(RowNumber(1 << 16)));
        assert_eq!(row_number(&rows, &row_ids, &early).expect("read"), Some(RowNumber(2 << 16)));
        assert_eq!(row_number(&rows, &row_ids, &RowId(shares_prefix)).expect("read"), Some(RowNumber(4 << 16)));
        assert_eq!(row_number(&rows, &row_ids, &missing).expect("read"), None);
        let mut listed = Vec::new();
        for_each_row_id(&rows, &row_ids, &mut |id| {
            listed.push(id);
            Ok(())
        })
        .expect("list");
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!((listed.len(), listed), (4, sorted));
    }
}
