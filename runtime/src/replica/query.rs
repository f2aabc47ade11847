//! Reading the state: rows by id, scans filtered by field values, the state digest, why an op
//! is or is not effective, and the event stream with named consumers and their checkpoints.

use super::Replica;
use crate::cbor::Value;
use crate::engine::{self, Engine, Event};
use crate::ids::{Identity, OpHash, RowId, StateDigest};
use crate::op::Attestation;
use crate::rules::{self, Denial, Probe, World};
use crate::state::{Digest, FieldValues, Row};
use crate::store::{self, InfoLookup, ReadTables, StorageError, WriteTables};
use redb::ReadableTable;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Why an op is or is not effective (see [`Replica::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub op: OpHash,
    pub author: Identity,
    pub effective: bool,
    /// Whether the author signed another op with a sequence number at or before this one's.
    pub equivocated: bool,
    /// Judged in everything this replica holds except the op and its future: for each change,
    /// the rule that allows it and the rows that witnessed it.
    pub allowed_by: Vec<Attestation>,
    /// Or the first change that no rule allows there, with the failing rules and clauses.
    pub denial: Option<Denial>,
    /// The concurrent ops that defeated it, with their authors: each op whose absence (with its
    /// future) would let the rules hold; all concurrent ops if no single one would.
    pub defeated_by: Vec<(OpHash, Identity)>,
}

/// The materialized state, as a read transaction sees it.
struct Materialized<'t> {
    tables: &'t ReadTables,
    plan: &'t crate::engine::Plan,
}

impl World for Materialized<'_> {
    /// Materialized rows fold every effective writer: exact for every use.
    fn row(&self, id: &RowId, _: rules::Use) -> Result<Option<Rc<Row>>, StorageError> {
        match self.tables.rows.get(&id.0)? {
            Some(bytes) => Ok(store::decode_row_record(bytes.value())?.1.map(Rc::new)),
            None => Ok(None),
        }
    }

    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let key = match probe {
            // A single queryable field is indexed over the current state.
            Probe::Equal(equal) if equal.len() == 1 && self.plan.is_queryable(collection, &equal[0].0) => {
                let (name, value) = &equal[0];
                let key = engine::index_key(collection, [(name.as_str(), value)]);
                return store::visit_index(&self.tables.field_index, &key, visit);
            }
            _ => engine::collection_key(collection),
        };
        store::visit_index(&self.tables.row_index, &key, visit)
    }
}

impl Replica {
    /// One visible row of a collection: its field values.
    pub fn get(&self, collection: &str, id: &RowId) -> Result<Option<BTreeMap<String, Value>>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        Ok(rules::visible_row(&world, id, rules::Use::Bound)?
            .filter(|row| row.collection == collection)
            .map(|row| row.values()))
    }

    /// The visible rows of a collection whose fields equal the given values (all rows with no
    /// filter), in id order. A filter on a scalar field is looked up in its index; other
    /// filters are checked on each row.
    pub fn rows(
        &self,
        collection: &str,
        filter: &[(String, Value)],
    ) -> Result<Vec<(RowId, FieldValues)>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let probe = match filter.iter().find(|(name, _)| self.plan.is_queryable(collection, name)) {
            Some(indexed) => Probe::Equal(vec![indexed.clone()]),
            None => Probe::All,
        };
        let mut found = Vec::new();
        world.scan(collection, &probe, &mut |id| {
            if let Some(row) =
                rules::visible_row(&world, &id, rules::Use::Bound)?.filter(|row| row.collection == collection)
            {
                let values = row.values();
                if filter.iter().all(|(name, value)| values.get(name) == Some(value)) {
                    found.push((id, values));
                }
            }
            Ok(false)
        })?;
        found.sort_by_key(|(id, _)| *id);
        Ok(found)
    }

    /// A hash of the visible state, equal on every replica that holds the same ops
    /// (docs/SPEC.md §3).
    pub fn digest(&self) -> Result<StateDigest, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let mut digest = Digest::default();
        for entry in tables.rows.iter()? {
            let (id, _) = entry?;
            let id = RowId(*id.value());
            if let Some(row) = rules::visible_row(&world, &id, rules::Use::Bound)? {
                digest.add(&id, &row);
            }
        }
        Ok(StateDigest(digest.finish()))
    }

    /// Whether an op is effective now; `None` if the log does not hold it.
    pub fn is_effective(&self, op: &OpHash) -> Result<Option<bool>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let Some(local) = tables.local_of(op)? else { return Ok(None) };
        if *op == OpHash(self.id.0) {
            return Ok(Some(true));
        }
        Ok(Some(tables.ineffective.get(local)?.is_none()))
    }

    /// Why an op is or is not effective; `None` if the log does not hold it. Judging needs the
    /// engine's write-side view, so this takes (and abandons) a write transaction.
    pub fn explain(&self, op: &OpHash) -> Result<Option<Explanation>, StorageError> {
        let transaction = self.database.begin_write()?;
        let explanation = {
            let tables = WriteTables::open(&transaction)?;
            let Some(local) = tables.local_of(op)? else { return Ok(None) };
            let founder =
                self.founder(&tables)?.ok_or_else(|| StorageError::Corrupt("an op without a genesis".into()))?;
            let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
            let explained = engine.explain(&tables, local)?;
            let author = tables.load(local)?.map(|(_, _, op)| op.author).unwrap_or(founder);
            let mut defeated_by = Vec::new();
            for hash in explained.defeated_by {
                let other = match tables.local_of(&hash)? {
                    Some(other) => tables.load(other)?.map(|(_, _, op)| op.author),
                    None => None,
                };
                defeated_by.push((hash, other.unwrap_or(author)));
            }
            let (allowed_by, denial) = match explained.verdict {
                Ok(attestations) => (attestations, None),
                Err(denial) => (Vec::new(), Some(denial)),
            };
            Explanation {
                op: *op,
                author,
                effective: explained.effective,
                equivocated: explained.equivocated,
                allowed_by,
                denial,
                defeated_by,
            }
        };
        transaction.abort()?;
        Ok(Some(explanation))
    }

    /// Up to `limit` events after sequence number `after`, in order.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<Event>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let mut events = Vec::new();
        for entry in tables.events.range(after.saturating_add(1)..)?.take(limit) {
            let (seq, bytes) = entry?;
            events.push(Event::decode(seq.value(), bytes.value())?);
        }
        Ok(events)
    }

    /// The sequence number of the latest event (0 before the first).
    pub fn last_event(&self) -> Result<u64, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let last = tables.events.last()?.map_or(0, |(seq, _)| seq.value());
        Ok(last)
    }

    /// A blocking iterator over the events after `after`: it yields each event in order and,
    /// at the end of the stream, waits (checking every `interval`) for the next one.
    pub fn follow(&self, after: u64, interval: std::time::Duration) -> Follow<'_> {
        Follow { replica: self, after, interval, buffered: std::collections::VecDeque::new() }
    }

    /// A named consumer of the event stream, resuming after its stored checkpoint.
    pub fn consumer(&self, name: &str) -> Result<Consumer<'_>, StorageError> {
        let transaction = self.database.begin_read()?;
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
        let transaction = self.replica.database.begin_write()?;
        {
            let last = transaction.open_table(store::EVENTS)?.last()?.map_or(0, |(seq, _)| seq.value());
            let mut table = transaction.open_table(store::CONSUMERS)?;
            let stored = table.get(self.name.as_str())?.map_or(0, |seq| seq.value());
            let next = seq.min(last).max(stored);
            table.insert(self.name.as_str(), next)?;
            self.checkpoint = next;
        }
        transaction.commit()?;
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
