//! Writing a round's outcome: the rows an op inserts and their rule-index entries, the flags of
//! ops that flipped, rows folded forward or again from their effective writers, query-index
//! entries kept in step, and the events, numbered without gaps.

use super::{Engine, Loaded};
use crate::cbor::Value;
use crate::error::StorageError;
use crate::ids::RowId;
use crate::model::event::{Cause, EventKind, StoredEvent};
use crate::model::row::{Folding, RowState};
use crate::op::Change;
use crate::plan::index_key;
use crate::store::{self, RowNumber, WriteTables};
use std::collections::BTreeMap;
use std::rc::Rc;

impl Engine<'_> {
    /// Records which rows an op writes, and indexes the rows it inserts. With `record`, each
    /// inserted row also gets its record, without state; without it, [`Engine::apply`] must
    /// write them (it does for an effective op).
    pub(super) fn index_writers(
        &self,
        tables: &mut WriteTables,
        op: &Loaded,
        record: bool,
    ) -> Result<(), StorageError> {
        let unseen = |_: u64| Ok(false);
        let folding = Folding {
            hash: op.info.hash,
            depth: op.info.depth,
            tag: op.info.local,
            seen: &unseen,
            read: &self.plan.read,
            suite: self.suite,
        };
        for (index, change) in op.changes().iter().enumerate() {
            let target = crate::model::row::target(self.suite, &op.info.hash, index as u32, change);
            let Change::Insert { collection, .. } = change else {
                tables.row_writers.insert((&target.0, op.info.local), ())?;
                continue;
            };
            let number = RowNumber::new(op.info.local, index as u32);
            store::insert_row(&mut tables.rows, &mut tables.row_ids, &target, number, record)?;
            self.forget_materialized(&target);
            let key = self.plan.collection_key(collection);
            tables.row_index.insert((&key, number.0), &target.0)?;
            self.forget_rule_index(&key);
            let indexes = self.plan.indexes(collection);
            if indexes.is_empty() {
                continue;
            }
            let Some(row) = crate::model::row::fold_change(self.schema, None, &folding, index as u32, change)? else {
                continue;
            };
            for fields in indexes {
                let values: Vec<(String, Value)> = fields.iter().map(|name| (name.clone(), row.field(name))).collect();
                let key = index_key(collection, values.iter().map(|(name, value)| (name.as_str(), value)));
                tables.row_index.insert((&key, number.0), &target.0)?;
                self.forget_rule_index(&key);
            }
        }
        Ok(())
    }

    /// Writes the round's outcome: flags, rows, query indexes and events.
    pub(super) fn apply(
        &self,
        tables: &mut WriteTables,
        new: &Rc<Loaded>,
        new_effective: bool,
        flipped: &[(Rc<Loaded>, bool)],
    ) -> Result<(), StorageError> {
        let mut events = Vec::new();
        if !new_effective {
            tables.ineffective.insert(new.info.local, ())?;
        }
        // Rows to fold again from scratch, and the flip (the op's local number) each change is
        // blamed on.
        let mut refold: BTreeMap<RowId, (u64, Cause)> = BTreeMap::new();
        for (op, effective) in flipped {
            let (kind, cause) = if *effective {
                tables.ineffective.remove(op.info.local)?;
                (EventKind::OpReinstated, Cause::Reinstated)
            } else {
                tables.ineffective.insert(op.info.local, ())?;
                (EventKind::OpRolledBack, Cause::RolledBack)
            };
            let mut rows = Vec::new();
            for (index, change) in op.changes().iter().enumerate() {
                let target = crate::model::row::target(self.suite, &op.info.hash, index as u32, change);
                rows.push((change.collection().to_owned(), target));
                refold.entry(target).or_insert((op.info.local, cause));
            }
            events.push(StoredEvent {
                kind,
                collection: None,
                row: None,
                op: op.info.local,
                fields: BTreeMap::new(),
                cause: Cause::Written,
                rows,
                by: Some(new.info.local),
            });
        }
        // Rows the new op writes, folded forward from their stored state; a row it inserts has
        // no state yet, and its number is known without a lookup.
        let mut forward: BTreeMap<RowId, Option<RowNumber>> = BTreeMap::new();
        if new_effective {
            for (index, change) in new.changes().iter().enumerate() {
                let target = crate::model::row::target(self.suite, &new.info.hash, index as u32, change);
                if !refold.contains_key(&target) {
                    let inserted =
                        matches!(change, Change::Insert { .. }).then(|| RowNumber::new(new.info.local, index as u32));
                    forward.entry(target).or_insert(inserted);
                }
            }
        }
        for (id, inserted) in forward {
            let (number, before) = match inserted {
                Some(number) => (number, None),
                None => self.record(tables, &id)?,
            };
            let after = self.fold_writer(tables, &id, new, before.clone())?;
            let written =
                self.store_row(tables, &id, (number, before), after, (new.info.local, Cause::Written), &mut events)?;
            if !written && inserted.is_some() {
                // A row without state yet: its record, in case `index_writers` left it out.
                tables.rows.insert(number.0, store::encode_row_record(&id, None).as_slice())?;
            }
        }
        for (id, blamed) in refold {
            let (number, before) = self.record(tables, &id)?;
            let mut writers = Vec::new();
            for local in store::row_writers(&tables.rows, &tables.row_ids, &tables.row_writers, &id)? {
                if self.stored_effective(tables, local)? {
                    writers.push(self.load(tables, local)?);
                }
            }
            let after = self.fold(tables, &id, &writers)?;
            self.store_row(tables, &id, (number, before), after, blamed, &mut events)?;
        }
        for event in events {
            tables.push_event(|_, bytes| event.encode_into(bytes))?;
        }
        Ok(())
    }

    /// A row's number and materialized state; every row an op writes has a record.
    pub(super) fn record(
        &self,
        tables: &WriteTables,
        id: &RowId,
    ) -> Result<(RowNumber, Option<RowState>), StorageError> {
        store::read_record(&tables.rows, &tables.row_ids, id)?
            .ok_or_else(|| StorageError::Corrupt(format!("row {id} has no record")))
    }

    /// Writes a row's new state, keeps its query index entries in step, and notes the event.
    /// `before` is the row's record: its number and its state before the round. Returns whether
    /// the state changed (and so was written).
    pub(super) fn store_row(
        &self,
        tables: &mut WriteTables,
        id: &RowId,
        (number, before): (RowNumber, Option<RowState>),
        after: Option<RowState>,
        (op, cause): (u64, Cause),
        events: &mut Vec<StoredEvent>,
    ) -> Result<bool, StorageError> {
        if before == after {
            return Ok(false);
        }
        let live = |row: &Option<RowState>| row.as_ref().filter(|row| !row.deleted).map(RowState::values);
        let (old_values, new_values) = (live(&before), live(&after));
        let collection = after.as_ref().or(before.as_ref()).map(|row| row.collection.clone()).unwrap_or_default();
        for (values, insert) in [(&old_values, false), (&new_values, true)] {
            let Some(values) = values else { continue };
            for (name, value) in values {
                if !self.plan.is_queryable(&collection, name) {
                    continue;
                }
                if old_values.as_ref().and_then(|old| old.get(name))
                    == new_values.as_ref().and_then(|new| new.get(name))
                {
                    continue;
                }
                let key = index_key(&collection, [(name.as_str(), value)]);
                if insert {
                    tables.field_index.insert((&key, number.0), &id.0)?;
                } else {
                    tables.field_index.remove((&key, number.0))?;
                }
            }
        }
        tables.rows.insert(number.0, store::encode_row_record(id, after.as_ref()).as_slice())?;
        self.forget_materialized(id);
        let kind_and_fields = match (old_values, new_values) {
            (None, Some(new)) => Some((EventKind::RowInserted, new)),
            (Some(_), None) => Some((EventKind::RowDeleted, BTreeMap::new())),
            (Some(old), Some(new)) => {
                let changed: BTreeMap<String, Value> =
                    new.into_iter().filter(|(name, value)| old.get(name) != Some(value)).collect();
                (!changed.is_empty()).then_some((EventKind::RowUpdated, changed))
            }
            (None, None) => None,
        };
        if let Some((kind, fields)) = kind_and_fields {
            events.push(StoredEvent {
                kind,
                collection: Some(collection),
                row: Some(number.0),
                op,
                fields,
                cause,
                rows: Vec::new(),
                by: None,
            });
        }
        Ok(true)
    }
}
