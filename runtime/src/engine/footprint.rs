//! Footprints: which concurrent ops a new op may flip. An op's footprint is static (the rows
//! its changes update or delete, the collections its rules' `exists` read, the collections of
//! its rows' ancestors); an op is touched when its footprint meets what the new op, or another
//! touched op, writes.

use super::{Engine, Loaded};
use crate::error::StorageError;
use crate::ids::RowId;
use crate::op::Change;
use crate::store::WriteTables;
use redb::ReadableTable;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// What the engine must know about a row change to footprint it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Key {
    Row(RowId),
    Collection(String),
}

impl Engine<'_> {
    /// The concurrent ops whose verdict the new op may change: those whose footprint meets
    /// what the new op writes, or what another touched op writes (to a fixed point). When the
    /// new op forks its author's chain, every op of that author from the fork on.
    pub(super) fn touched(
        &self,
        tables: &WriteTables,
        new: &Loaded,
        concurrent: &[Rc<Loaded>],
        author_forked: bool,
    ) -> Result<Vec<Rc<Loaded>>, StorageError> {
        if concurrent.is_empty() && !author_forked {
            return Ok(Vec::new());
        }
        let mut dirty: BTreeSet<Key> = BTreeSet::new();
        self.add_writes(&mut dirty, new);
        let mut touched: BTreeSet<u64> = BTreeSet::new();
        // Every op of a forked author from the fork on: in the log's past or not, the set it is
        // judged in now holds both forks.
        let mut forked_ops = Vec::new();
        if author_forked {
            let from = self.forked_from(tables, new.info.author)?.unwrap_or(0);
            let range = (new.info.author, from, 0)..=(new.info.author, u64::MAX, u64::MAX);
            for entry in tables.chains.range(range)? {
                let local = entry?.0.value().2;
                if local != new.info.local && touched.insert(local) {
                    let op = self.load(tables, local)?;
                    self.add_writes(&mut dirty, &op);
                    forked_ops.push(op);
                }
            }
        }
        let mut footprints: HashMap<u64, BTreeSet<Key>> = HashMap::new();
        loop {
            let mut grew = false;
            for op in concurrent {
                if touched.contains(&op.info.local) {
                    continue;
                }
                let footprint = match footprints.get(&op.info.local) {
                    Some(footprint) => footprint,
                    None => footprints.entry(op.info.local).or_insert(self.footprint(op)),
                };
                if footprint.iter().any(|key| dirty.contains(key)) {
                    touched.insert(op.info.local);
                    self.add_writes(&mut dirty, op);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let mut touched_ops: Vec<Rc<Loaded>> =
            concurrent.iter().filter(|op| touched.contains(&op.info.local)).cloned().collect();
        for op in forked_ops {
            if !touched_ops.iter().any(|other| other.info.local == op.info.local) {
                touched_ops.push(op);
            }
        }
        touched_ops.sort_by_key(|op| op.info.local);
        Ok(touched_ops)
    }

    /// What an op's writes can change: the rows it targets, and the collections (with their
    /// nested collections) those rows belong to. Updates of fields no rule reads change nothing
    /// a verdict depends on.
    pub(super) fn add_writes(&self, dirty: &mut BTreeSet<Key>, op: &Loaded) {
        for (index, change) in op.changes().iter().enumerate() {
            if !self.plan.read.affects_verdicts(change) {
                continue;
            }
            dirty.insert(Key::Row(crate::model::row::target(self.suite, &op.info.hash, index as u32, change)));
            match self.plan.scope.get(change.collection()) {
                Some(collections) => dirty.extend(collections.iter().cloned().map(Key::Collection)),
                None => {
                    dirty.insert(Key::Collection(change.collection().to_owned()));
                }
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
