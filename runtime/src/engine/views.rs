//! Rows in a view: a row as the view's effective ops leave it, folded only from the writers the
//! reading rule can see, and the [`World`] the rule judge reads a view through.

use super::{Engine, Loaded};
use crate::dag::OpInfo;
use crate::error::StorageError;
use crate::ids::RowId;
use crate::model::row::{Folding, RowState};
use crate::model::world::World;
use crate::op::Change;
use crate::plan::{Lookup, Probe, Use};
use crate::store::{self, WriteTables};
use std::rc::Rc;

/// The most rows of one rule-index key the engine keeps for the rest of a transaction; a key
/// with more is read from the index each time, as far as the judge needs.
const CACHED_INDEX_ROWS: usize = 64;

impl Engine<'_> {
    /// Whether a view is the state before this round: it excludes nothing the log held then.
    pub(super) fn is_materialized(&self, view: &[OpInfo]) -> bool {
        match self.round.borrow().new {
            Some(new) => view.len() == 1 && view[0].local == new,
            None => view.is_empty(),
        }
    }

    /// A row as a view's effective ops leave it.
    pub(super) fn row_in(
        &self,
        tables: &WriteTables,
        view: &[OpInfo],
        id: &RowId,
        used: Use,
    ) -> Result<Option<Rc<RowState>>, StorageError> {
        // Nothing writes rows during a round (`apply` runs after it), so the materialized rows
        // are this view's rows for the whole round.
        if self.is_materialized(view) {
            return self.materialized_row(tables, id);
        }
        let key = (view.iter().map(|info| info.local).collect::<Vec<_>>(), *id, used);
        if let Some(known) = self.round.borrow().rows.get(&key) {
            return Ok(known.clone());
        }
        // Only the writers that `used` can see matter here: the insert, deletes, and updates of
        // fields that use reads. (Judging many concurrent writers of other fields, such as
        // reactions, in each other's views would grow exponentially with their number.) The row
        // returned is exact in what the use reads; its other fields may not be.
        let mut effective = Vec::new();
        let mut matches_stored = true;
        for (position, local) in
            store::row_writers(&tables.rows, &tables.row_ids, &tables.row_writers, id)?.into_iter().enumerate()
        {
            let writer = self.load(tables, local)?;
            if position > 0 && !self.writes_relevantly(&writer, id, used) {
                continue;
            }
            let counts = self.in_view(tables, view, &writer)? && self.effective_in(tables, local, view)?;
            if counts != self.stored_effective(tables, local)? {
                matches_stored = false;
            }
            if counts {
                effective.push(writer);
            }
        }
        let row = if matches_stored {
            // The same writers as the materialized row: no need to fold again.
            self.materialized_row(tables, id)?
        } else {
            self.fold(tables, id, &effective)?.map(Rc::new)
        };
        self.round.borrow_mut().rows.insert(key, row.clone());
        Ok(row)
    }

    /// A row of the materialized state, decoded once per transaction.
    fn materialized_row(&self, tables: &WriteTables, id: &RowId) -> Result<Option<Rc<RowState>>, StorageError> {
        if let Some(row) = self.materialized.borrow().get(id) {
            return Ok(row.clone());
        }
        let row = read_row(tables, id)?.map(Rc::new);
        self.materialized.borrow_mut().insert(*id, row.clone());
        Ok(row)
    }

    /// Forgets a row's decoded state: the engine is about to write it.
    pub(super) fn forget_materialized(&self, id: &RowId) {
        self.materialized.borrow_mut().remove(id);
    }

    /// Calls `visit` with the rows of a rule-index key, in order, until it returns true. A key
    /// with at most [`CACHED_INDEX_ROWS`] rows is read once per transaction: a batch of ops
    /// whose rules look up the same rows (one member's messages) reads the index once.
    fn visit_rule_index(
        &self,
        tables: &WriteTables,
        key: &[u8; 32],
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let lookup = Lookup::RuleIndex(*key);
        let cached = self.rule_index.borrow().get(key).cloned();
        let rows = match cached {
            Some(Some(rows)) => rows,
            // Known to have too many: read as far as the judge needs.
            Some(None) => return store::visit_lookup(&tables.row_index, &tables.field_index, &lookup, visit),
            None => {
                let mut rows = Vec::new();
                let mut few = true;
                store::visit_lookup(&tables.row_index, &tables.field_index, &lookup, &mut |id| {
                    few = rows.len() < CACHED_INDEX_ROWS;
                    rows.push(id);
                    Ok(!few)
                })?;
                if !few {
                    self.rule_index.borrow_mut().insert(*key, None);
                    return store::visit_lookup(&tables.row_index, &tables.field_index, &lookup, visit);
                }
                let rows: Rc<[RowId]> = rows.into();
                self.rule_index.borrow_mut().insert(*key, Some(rows.clone()));
                rows
            }
        };
        // The cache is not borrowed while `visit` runs: it may judge, and read rows.
        for id in rows.iter() {
            if visit(*id)? {
                break;
            }
        }
        Ok(())
    }

    /// Forgets a rule-index key's rows: the engine is inserting a row under it.
    pub(super) fn forget_rule_index(&self, key: &[u8; 32]) {
        self.rule_index.borrow_mut().remove(key);
    }

    /// Whether an op updates or deletes a row in a way that `used` reads.
    pub(super) fn writes_relevantly(&self, writer: &Loaded, id: &RowId, used: Use) -> bool {
        writer.changes().iter().any(|change| match change {
            Change::Insert { .. } => false,
            Change::Update { row, .. } | Change::Delete { row, .. } => {
                row == id && self.plan.read.relevant(change, used)
            }
        })
    }

    /// Folds a row from its effective writers, in log order (a topological order).
    pub(super) fn fold(
        &self,
        tables: &WriteTables,
        id: &RowId,
        writers: &[Rc<Loaded>],
    ) -> Result<Option<RowState>, StorageError> {
        let mut row: Option<RowState> = None;
        for writer in writers {
            row = self.fold_writer(tables, id, writer, row)?;
        }
        Ok(row)
    }

    /// Folds the changes of one op that target a row into it.
    pub(super) fn fold_writer(
        &self,
        tables: &WriteTables,
        id: &RowId,
        writer: &Loaded,
        mut row: Option<RowState>,
    ) -> Result<Option<RowState>, StorageError> {
        let seen = |tag: u64| self.seen_by(tables, writer, tag);
        let folding = Folding {
            hash: writer.info.hash,
            depth: writer.info.depth,
            tag: writer.info.local,
            seen: &seen,
            read: &self.plan.read,
            suite: self.suite,
        };
        for (index, change) in writer.changes().iter().enumerate() {
            if crate::model::row::target(self.suite, &writer.info.hash, index as u32, change) != *id {
                continue;
            }
            if let Some(next) =
                crate::model::row::fold_change(self.schema, row.as_ref(), &folding, index as u32, change)?
            {
                row = Some(next);
            }
        }
        Ok(row)
    }
}

/// The state of a view, for the rule judge.
pub(super) struct ViewWorld<'e, 't> {
    pub engine: &'e Engine<'e>,
    pub tables: &'e WriteTables<'t>,
    pub view: &'e [OpInfo],
}

impl World for ViewWorld<'_, '_> {
    fn row(&self, id: &RowId, used: Use) -> Result<Option<Rc<RowState>>, StorageError> {
        self.engine.row_in(self.tables, self.view, id, used)
    }

    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        // Views differ from the current state, so only the rule index (every row ever
        // inserted, keyed by readonly values) serves them.
        match self.engine.plan.lookup(collection, probe, false) {
            Lookup::RuleIndex(key) => self.engine.visit_rule_index(self.tables, &key, visit),
            lookup => store::visit_lookup(&self.tables.row_index, &self.tables.field_index, &lookup, visit),
        }
    }
}
/// A row's materialized state, if any op inserted it and effective ops make it exist.
pub(super) fn read_row(tables: &WriteTables, id: &RowId) -> Result<Option<RowState>, StorageError> {
    Ok(store::read_record(&tables.rows, &tables.row_ids, id)?.and_then(|(_, row)| row))
}
