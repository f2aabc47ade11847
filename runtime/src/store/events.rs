//! The event stream's table: events in chunks of about one page, keyed by the sequence number
//! of a chunk's first event. An event is one entry of `[length (4 bytes, big-endian), encoded
//! event]`; its sequence number is the chunk's key plus its place in the chunk, so the numbers
//! have no gaps by construction.
//!
//! Events are written once, in order, and read in order, so a chunk of them costs one B-tree
//! insert where an entry per event cost one each (ingest writes an event per op). A write
//! transaction adds to the last chunk in memory and writes it when it ends, as op records are
//! (`records::OpenChunk`, whose budget applies: an event larger than it gets a chunk of its own).

use super::records::OpenChunk;
use crate::error::{corrupt, StorageError};
use redb::ReadableTable;

/// The entries of a chunk, in order: each event's bytes.
fn entries(chunk: &[u8]) -> impl Iterator<Item = Result<&[u8], StorageError>> {
    let mut rest = chunk;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some((length, tail)) = rest.split_first_chunk::<4>() else {
            rest = &[];
            return Some(Err(corrupt("an event chunk ends inside a length")));
        };
        let length = u32::from_be_bytes(*length) as usize;
        let Some((event, tail)) = tail.split_at_checked(length) else {
            rest = &[];
            return Some(Err(corrupt("an event chunk ends inside an event")));
        };
        rest = tail;
        Some(Ok(event))
    })
}

/// The sequence number of the last event (0 before the first).
pub(crate) fn last_event(table: &impl ReadableTable<u64, &'static [u8]>) -> Result<u64, StorageError> {
    match table.last()? {
        Some((first, chunk)) => {
            let mut count = 0u64;
            for entry in entries(chunk.value()) {
                entry?;
                count += 1;
            }
            Ok(first.value() + count.saturating_sub(1))
        }
        None => Ok(0),
    }
}

/// What [`visit_events`] calls with each event (its number and bytes): false stops the visit.
pub(crate) type EventVisitor<'v> = dyn FnMut(u64, &[u8]) -> Result<bool, StorageError> + 'v;

/// Calls `visit` with each event from sequence number `from` on, in order, until it returns
/// false.
pub(crate) fn visit_events(
    table: &impl ReadableTable<u64, &'static [u8]>,
    from: u64,
    visit: &mut EventVisitor,
) -> Result<(), StorageError> {
    // The chunk holding `from` starts at or before it.
    let start = table.range(..=from)?.next_back().transpose()?.map_or(0, |(first, _)| first.value());
    for chunk in table.range(start..)? {
        let (first, chunk) = chunk?;
        for (seq, event) in (first.value()..).zip(entries(chunk.value())) {
            if seq >= from && !visit(seq, event?)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// The events a write transaction adds, in the last chunk, open, and written by
/// [`OpenEvents::finish`].
#[derive(Default)]
pub(crate) struct OpenEvents {
    chunk: OpenChunk,
    /// The last event's number, once read.
    last: Option<u64>,
}

impl OpenEvents {
    /// Adds an event; returns its sequence number. `encode` writes it after the bytes it is given.
    pub fn push(
        &mut self,
        table: &mut redb::Table<u64, &'static [u8]>,
        encode: impl FnOnce(u64, &mut Vec<u8>),
    ) -> Result<u64, StorageError> {
        let seq = match self.last {
            Some(last) => last + 1,
            None => last_event(table)? + 1,
        };
        let mut event = Vec::with_capacity(160);
        encode(seq, &mut event);
        self.chunk.push(table, seq, 4 + event.len(), |chunk| {
            chunk.extend_from_slice(&(event.len() as u32).to_be_bytes());
            chunk.extend_from_slice(&event);
        })?;
        self.last = Some(seq);
        Ok(seq)
    }

    /// Writes the open chunk.
    pub fn finish(&mut self, table: &mut redb::Table<u64, &'static [u8]>) -> Result<(), StorageError> {
        self.chunk.finish(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

    const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

    fn listed(database: &redb::Database, from: u64) -> Vec<(u64, Vec<u8>)> {
        let transaction = database.begin_read().expect("read");
        let table = transaction.open_table(EVENTS).expect("events");
        let mut listed = Vec::new();
        visit_events(&table, from, &mut |seq, bytes| {
            listed.push((seq, bytes.to_vec()));
            Ok(true)
        })
        .expect("visit");
        listed
    }

    #[test]
    fn events_are_numbered_without_gaps_across_chunks_and_transactions() {
        let database = crate::store::in_memory();
        // Small and large events (one larger than a chunk), over transactions of various sizes.
        let event = |seq: u64| vec![seq as u8; if seq.is_multiple_of(97) { 5_000 } else { (seq % 300) as usize }];
        let mut expected = Vec::new();
        for size in [1usize, 7, 300, 1, 45] {
            let transaction = database.begin_write().expect("write");
            {
                let mut table = transaction.open_table(EVENTS).expect("events");
                let mut open = OpenEvents::default();
                for _ in 0..size {
                    let seq = open.push(&mut table, |seq, bytes| bytes.extend(event(seq))).expect("push");
                    assert_eq!(seq, expected.len() as u64 + 1);
                    expected.push((seq, event(seq)));
                }
                open.finish(&mut table).expect("finish");
            }
            transaction.commit().expect("commit");
        }
        assert_eq!(listed(&database, 0), expected);
        assert_eq!(listed(&database, 200), expected[199..].to_vec());
        assert_eq!(listed(&database, 355), expected[354..].to_vec());
        let transaction = database.begin_read().expect("read");
        let table = transaction.open_table(EVENTS).expect("events");
        assert_eq!(last_event(&table).expect("last"), expected.len() as u64);
        assert!(table.len().expect("len") < expected.len() as u64 / 4, "events share chunks");
    }
}
