//! The event stream: events after a sequence number, a blocking follower, and named
//! consumers whose checkpoints are durable.

use super::Replica;
use crate::error::StorageError;
use crate::model::event::Event;
use crate::store::{self, ReadTables};
use redb::ReadableTable;

impl Replica {
    /// Up to `limit` events after sequence number `after`, in order. Deferred writes are
    /// flushed first: a reader is never given an event that a crash may take back.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StorageError> {
        self.flush()?;
        let transaction = self.begin_read()?;
        let bound = self.deferred.event_bound().unwrap_or(u64::MAX);
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let mut events = Vec::new();
        if bound <= after {
            return Ok(events);
        }
        store::visit_events(&tables.events, after.saturating_add(1), &mut |seq, bytes| {
            if seq > bound || events.len() >= limit {
                return Ok(false);
            }
            events.push(Event::decode(seq, bytes)?);
            Ok(true)
        })?;
        Ok(events)
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
