//! The event stream: events after a sequence number, a blocking follower, and named
//! consumers whose checkpoints are durable.

use super::Replica;
use crate::dag::Causality;
use crate::error::{corrupt, StorageError};
use crate::ids::{OpHash, RowId};
use crate::model::event::{Event, StoredEvent};
use crate::store::{self, ReadTables};
use redb::ReadableTable;
use std::collections::{BTreeMap, BTreeSet};

/// Whether numbers spread over `span` are close enough together to read the whole span in
/// order rather than each one on its own.
fn dense(count: usize, span: u64) -> bool {
    span <= 2 * count as u64 + 64
}

/// The hashes of ops by local number: read in one pass over their records when the numbers lie
/// close together (events name ops in the order they were stored, mostly), one by one if not.
fn op_hashes(tables: &ReadTables, locals: BTreeSet<u64>) -> Result<BTreeMap<u64, OpHash>, StorageError> {
    let mut hashes = BTreeMap::new();
    let (Some(&first), Some(&last)) = (locals.first(), locals.last()) else { return Ok(hashes) };
    if dense(locals.len(), last - first) {
        tables.for_each_record_in(first..=last, |record| {
            if locals.contains(&record.info.local) {
                hashes.insert(record.info.local, record.info.hash);
            }
            Ok(())
        })?;
    } else {
        for local in locals {
            if let Some(info) = tables.info(local)? {
                hashes.insert(local, info.hash);
            }
        }
    }
    Ok(hashes)
}

/// The ids of rows by row number, read as [`op_hashes`] reads hashes. Either leaves out what
/// the store does not have.
fn row_ids(tables: &ReadTables, numbers: BTreeSet<u64>) -> Result<BTreeMap<u64, RowId>, StorageError> {
    let mut ids = BTreeMap::new();
    let (Some(&first), Some(&last)) = (numbers.first(), numbers.last()) else { return Ok(ids) };
    // Row numbers are an op's local number and a change index: the span counts ops.
    if dense(numbers.len(), (last >> 16) - (first >> 16)) {
        for entry in tables.rows.range(first..=last)? {
            let (number, record) = entry?;
            if numbers.contains(&number.value()) {
                ids.insert(number.value(), store::record_id(number.value(), record.value())?);
            }
        }
    } else {
        for number in numbers {
            if let Some(record) = tables.rows.get(number)? {
                ids.insert(number, store::record_id(number, record.value())?);
            }
        }
    }
    Ok(ids)
}

impl Replica {
    /// Up to `limit` events after sequence number `after`, in order. Deferred writes are
    /// flushed first: a reader is never given an event that a crash may take back.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StorageError> {
        self.flush()?;
        let transaction = self.begin_read()?;
        let bound = self.deferred.event_bound().unwrap_or(u64::MAX);
        let tables = ReadTables::open(&transaction, &self.recent)?;
        if bound <= after {
            return Ok(Vec::new());
        }
        let mut stored = Vec::new();
        store::visit_events(&tables.events, after.saturating_add(1), &mut |seq, bytes| {
            if seq > bound || stored.len() >= limit {
                return Ok(false);
            }
            stored.push((seq, StoredEvent::decode(seq, bytes)?));
            Ok(true)
        })?;
        // Stored events name ops and rows by number: look the numbers up together, in order.
        let locals = stored.iter().flat_map(|(_, event)| [Some(event.op), event.by]).flatten();
        let hashes = op_hashes(&tables, locals.collect())?;
        let row_ids = row_ids(&tables, stored.iter().filter_map(|(_, event)| event.row).collect())?;
        let op_hash = |local: u64| {
            hashes.get(&local).copied().ok_or_else(|| corrupt(format!("an event names op #{local}, missing")))
        };
        let row_id = |number: u64| {
            row_ids.get(&number).copied().ok_or_else(|| corrupt(format!("an event names row {number}, missing")))
        };
        stored.into_iter().map(|(seq, event)| event.resolve(seq, &op_hash, &row_id)).collect()
    }

    /// The sequence number of the latest durable event (0 before the first): while deferred
    /// writes wait for their flush, their events are not counted.
    pub fn last_event(&self) -> Result<u64, StorageError> {
        let transaction = self.begin_read()?;
        let bound = self.deferred.event_bound().unwrap_or(u64::MAX);
        let tables = ReadTables::open(&transaction, &self.recent)?;
        Ok(store::last_event(&tables.events)?.min(bound))
    }

    /// A blocking iterator over the events after `after`: it yields each event in order and,
    /// at the end of the stream, waits (checking every `interval`) for the next one.
    pub fn follow(&self, after: u64, interval: std::time::Duration) -> Follow<'_> {
        Follow { replica: self, after, interval, buffered: std::collections::VecDeque::new() }
    }

    /// A named consumer of the event stream, resuming after its stored checkpoint.
    pub fn consumer(&self, name: &str) -> Result<Consumer<'_>, StorageError> {
        let transaction = self.begin_read()?;
        let table = transaction.open_table(store::CONSUMERS)?;
        let checkpoint = table.get(name)?.map_or(0, |seq| seq.value());
        Ok(Consumer { replica: self, name: name.to_owned(), checkpoint })
    }
}

/// A named reader of the event stream. It reads events after its checkpoint and advances the
/// checkpoint with [`Consumer::commit`]; the checkpoint is durable, so a consumer that stops or
/// crashes resumes exactly after the last event it committed. Sinks that must see every event
/// exactly once commit after applying each batch and, on restart, skip events at or below the
/// sequence number they last applied.
pub struct Consumer<'r> {
    replica: &'r Replica,
    name: String,
    checkpoint: u64,
}

impl Consumer<'_> {
    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last event this consumer committed.
    pub fn checkpoint(&self) -> u64 {
        self.checkpoint
    }

    /// Up to `limit` events after the checkpoint; does not advance it.
    pub fn poll(&self, limit: usize) -> Result<Vec<Event>, StorageError> {
        self.replica.events_after(self.checkpoint, limit)
    }

    /// Like [`Consumer::poll`], but waits (checking every `interval`) until there is at least
    /// one event or `timeout` has passed.
    pub fn wait(
        &self,
        limit: usize,
        timeout: std::time::Duration,
        interval: std::time::Duration,
    ) -> Result<Vec<Event>, StorageError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let events = self.poll(limit)?;
            if !events.is_empty() || std::time::Instant::now() >= deadline {
                return Ok(events);
            }
            std::thread::sleep(interval);
        }
    }

    /// Durably records that every event up to `seq` is processed. A checkpoint never moves
    /// back, nor past the last event.
    pub fn commit(&mut self, seq: u64) -> Result<(), StorageError> {
        let transaction = self.replica.begin_write()?;
        {
            let last = store::last_event(&transaction.open_table(store::EVENTS)?)?;
            let mut table = transaction.open_table(store::CONSUMERS)?;
            let stored = table.get(self.name.as_str())?.map_or(0, |seq| seq.value());
            let next = seq.min(last).max(stored);
            table.insert(self.name.as_str(), next)?;
            self.checkpoint = next;
        }
        self.replica.commit(transaction)?;
        Ok(())
    }
}

/// See [`Replica::follow`]. Ends only on a storage error (after yielding it).
pub struct Follow<'r> {
    replica: &'r Replica,
    after: u64,
    interval: std::time::Duration,
    buffered: std::collections::VecDeque<Event>,
}

impl Iterator for Follow<'_> {
    type Item = Result<Event, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.after = event.seq;
                return Some(Ok(event));
            }
            match self.replica.events_after(self.after, 256) {
                Ok(events) if events.is_empty() => std::thread::sleep(self.interval),
                Ok(events) => self.buffered.extend(events),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Change;
    use crate::{Ed25519Blake3, Keypair, Storage, Value};

    /// Numbers looked up together, close together and far apart, give what one-by-one lookups do.
    #[test]
    fn numbers_resolve_the_same_read_together_or_one_by_one() {
        let text = "schema s;\ncollection Note { text: string, allow insert if true; }\n";
        let schema = schemac::check_source(text, None).ir.expect("the schema checks");
        let founder = Keypair::generate(&Ed25519Blake3);
        let replica = Replica::create(Storage::Memory, &founder, schema).expect("create");
        let note = |index: usize| {
            vec![Change::Insert {
                collection: "Note".into(),
                fields: vec![("text".into(), Value::Text(index.to_string()))],
            }]
        };
        replica.write_ops(&founder, (0..300).map(note).collect()).expect("write");
        let transaction = replica.begin_read().expect("read");
        let tables = ReadTables::open(&transaction, &replica.recent).expect("tables");
        for locals in [BTreeSet::from([1, 2, 3, 5, 8]), BTreeSet::from([1, 300]), (1..=300).collect()] {
            let hashes = op_hashes(&tables, locals.clone()).expect("hashes");
            let one_by_one: BTreeMap<u64, OpHash> =
                locals.iter().map(|local| (*local, tables.info(*local).expect("info").expect("an op").hash)).collect();
            assert_eq!(hashes, one_by_one);
            // Each of these ops inserted one row, change 0.
            let numbers: BTreeSet<u64> = locals.iter().map(|local| store::RowNumber::new(*local, 0).0).collect();
            let ids = row_ids(&tables, numbers.clone()).expect("ids");
            let expected: BTreeMap<u64, RowId> =
                numbers.iter().map(|number| (*number, replica.row_id(&one_by_one[&(number >> 16)], 0))).collect();
            assert_eq!(ids, expected);
        }
        // What the store does not have is left out, read together or not.
        let (early, missing) = (store::RowNumber::new(1, 0).0, store::RowNumber::new(400, 0).0);
        assert_eq!(row_ids(&tables, BTreeSet::from([missing])).expect("ids"), BTreeMap::new());
        assert_eq!(row_ids(&tables, BTreeSet::from([early, missing])).expect("ids").len(), 1);
        assert_eq!(op_hashes(&tables, BTreeSet::from([1, 400])).expect("hashes").len(), 1);
    }
}
