//! Footprints: which concurrent ops a new op may flip. An op's footprint is static (the rows
//! its changes update or delete, the collections its rules' `exists` read, the collections of
//! its rows' ancestors); an op is touched when its footprint meets what the new op, or another
//! touched op, writes.
//!
//! Touched ops are found from indexes, never by listing every concurrent op: the ops whose
//! footprint holds a row are its writers (`row_writers`), and those whose footprint holds a
//! collection are in `readers`, per author and in chain order, so that only the ones past the
//! new op's version vector are read. A new op written in the deep past of a large log costs what
//! it touches, not what it is concurrent with.

use super::{Engine, Loaded};
use crate::error::StorageError;
use crate::ids::RowId;
use crate::op::Change;
use crate::store::WriteTables;
use redb::{ReadableTable, ReadableTableMetadata};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// What the engine must know about a row change to footprint it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    Row(RowId),
    Collection(String),
}

/// The keys written so far in a round, and those whose readers are still to be found.
#[derive(Default)]
struct Dirty {
    seen: BTreeSet<Key>,
    queue: Vec<Key>,
}

impl Dirty {
    fn add(&mut self, key: Key) {
        if self.seen.insert(key.clone()) {
            self.queue.push(key);
        }
    }
}

impl Engine<'_> {
    /// The concurrent ops whose verdict the new op may change: those whose footprint meets
    /// what the new op writes, or what another touched op writes (to a fixed point). When the
    /// new op forks its author's chain, every op of that author from the fork on. `concurrent`
    /// says whether the log held ops outside the new op's past when it arrived.
    pub(super) fn touched(
        &self,
        tables: &WriteTables,
        new: &Loaded,
        concurrent: bool,
        author_forked: bool,
    ) -> Result<Vec<Rc<Loaded>>, StorageError> {
        if !concurrent && !author_forked {
            return Ok(Vec::new());
        }
        let mut dirty = Dirty::default();
        self.add_writes(&mut dirty, new);
        let mut touched: BTreeMap<u64, Rc<Loaded>> = BTreeMap::new();
        // Every op of a forked author from the fork on: in the log's past or not, the set it is
        // judged in now holds both forks.
        if author_forked {
            let from = self.forked_from(tables, new.info.author)?.unwrap_or(0);
            for (_, local) in tables.chains.from(new.info.author, from)? {
                if local != new.info.local && !touched.contains_key(&local) {
                    let op = self.load(tables, local)?;
                    self.add_writes(&mut dirty, &op);
                    touched.insert(local, op);
                }
            }
        }
        if concurrent {
            while let Some(key) = dirty.queue.pop() {
                for local in self.concurrent_readers(tables, new, &key)? {
                    if touched.contains_key(&local) {
                        continue;
                    }
                    let op = self.load(tables, local)?;
                    self.add_writes(&mut dirty, &op);
                    touched.insert(local, op);
                }
            }
        }
        Ok(touched.into_values().collect())
    }

    /// The ops concurrent with `new` (just appended) whose footprint holds `key`.
    fn concurrent_readers(&self, tables: &WriteTables, new: &Loaded, key: &Key) -> Result<Vec<u64>, StorageError> {
        let mut found = Vec::new();
        match key {
            Key::Row(id) => {
                for entry in tables.row_writers.range((&id.0, 0)..=(&id.0, u64::MAX))? {
                    let local = entry?.0.value().1;
                    let info = self.stamp(tables, local)?.0;
                    if local != new.info.local && !self.precedes(tables, &info, new)? {
                        found.push(local);
                    }
                }
            }
            Key::Collection(collection) => {
                let key = self.plan.collection_key(collection);
                for (author, from) in self.authors_past(tables, new)? {
                    for (first, last) in tables.readers.runs_from(&key, author, from)? {
                        for seq in first.max(from)..=last {
                            for local in tables.chain_entries(author, seq)? {
                                if local == new.info.local {
                                    continue;
                                }
                                // Past the clock, an op of an author that did not fork is
                                // concurrent; a forked author's may be on the branch the new op
                                // descends from.
                                let info = self.stamp(tables, local)?.0;
                                if !self.precedes(tables, &info, new)? {
                                    found.push(local);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    /// The authors with ops outside `new`'s past, each with the first sequence number that may
    /// be outside it: past the new op's version vector, or from the fork of an author that
    /// forked.
    fn authors_past(&self, tables: &WriteTables, new: &Loaded) -> Result<Vec<(u32, u64)>, StorageError> {
        if self.latest.borrow().is_none() {
            let mut latest = HashMap::new();
            let authors = u32::try_from(tables.authors.len()?).unwrap_or(u32::MAX);
            for author in 0..authors {
                if let Some((seq, _)) = tables.latest_by(author)? {
                    latest.insert(author, seq);
                }
            }
            *self.latest.borrow_mut() = Some(latest);
        }
        let latest: Vec<(u32, u64)> =
            self.latest.borrow().iter().flatten().map(|(author, seq)| (*author, *seq)).collect();
        let mut past = Vec::new();
        for (author, seq) in latest {
            let beyond = new.clock.get(author).saturating_add(1);
            let from = match self.forked_from(tables, author)? {
                Some(fork) => fork.min(beyond),
                None => beyond,
            };
            if from <= seq {
                past.push((author, from));
            }
        }
        past.sort_unstable();
        Ok(past)
    }

    /// Notes an op just appended: its author's latest sequence number, and its footprint's
    /// collections in `readers`.
    pub(super) fn note_appended(&self, tables: &mut WriteTables, op: &Loaded) -> Result<(), StorageError> {
        if let Some(latest) = self.latest.borrow_mut().as_mut() {
            let seq = latest.entry(op.info.author).or_insert(op.info.seq);
            *seq = (*seq).max(op.info.seq);
        }
        // The collections of the op's footprint (see `footprint`), without collecting them:
        // noting a collection twice is harmless.
        for change in op.changes() {
            for key in self.plan.footprint_keys(change.collection()) {
                tables.readers.note(key, op.info.author, op.info.seq)?;
            }
        }
        Ok(())
    }

    /// What an op's writes can change (see [`Engine::add_writes`]).
    pub(super) fn writes(&self, op: &Loaded) -> BTreeSet<Key> {
        let mut dirty = Dirty::default();
        self.add_writes(&mut dirty, op);
        dirty.seen
    }

    /// What an op's writes can change: the rows it targets, and the collections (with their
    /// nested collections) those rows belong to. Updates of fields no rule reads change nothing
    /// a verdict depends on.
    fn add_writes(&self, dirty: &mut Dirty, op: &Loaded) {
        for (index, change) in op.changes().iter().enumerate() {
            if !self.plan.read.affects_verdicts(change) {
                continue;
            }
            dirty.add(Key::Row(crate::model::row::target(self.suite, &op.info.hash, index as u32, change)));
            match self.plan.scope.get(change.collection()) {
                Some(collections) => collections.iter().cloned().for_each(|name| dirty.add(Key::Collection(name))),
                None => dirty.add(Key::Collection(change.collection().to_owned())),
            }
        }
    }

    /// What an op's verdict can depend on: the rows its changes name, the collections its rules
    /// look into, and the collections of the ancestors of the rows it names.
    pub(super) fn footprint(&self, op: &Loaded) -> BTreeSet<Key> {
        let mut footprint = BTreeSet::new();
        for (index, change) in op.changes().iter().enumerate() {
            let collection = change.collection();
            if let Some(read) = self.plan.reads.get(collection) {
                footprint.extend(read.iter().cloned().map(Key::Collection));
            }
            if let Some(ancestors) = self.plan.ancestors.get(collection) {
                footprint.extend(ancestors.iter().cloned().map(Key::Collection));
            }
            if !matches!(change, Change::Insert { .. }) {
                footprint.insert(Key::Row(crate::model::row::target(self.suite, &op.info.hash, index as u32, change)));
            }
        }
        footprint
    }
}
