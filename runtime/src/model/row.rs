//! Rows, and how the changes of effective ops fold into them: the merge semantics of each field
//! type (docs/semantics.md §2). The reference evaluator and the engine both fold through this
//! module, so they cannot disagree on what a set of effective ops means.
//!
//! Folding ops in any topological order gives the same row: registers and map keys keep the
//! greatest version, counters add, a delete is final, and a set remove only undoes the adds in
//! its causal past (which a topological order has already applied).

use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::error::StorageError;
use crate::ids::{OpHash, RowId};
use crate::op::{self, Change, Edit};
use crate::plan::{ReadFields, Use};
use schemac::ir::{self, Type};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A version of a register or map key: later (depth, op hash) wins; within one op, the later
/// change and edit.
pub type Version = (u64, OpHash, u32, u32);

/// One field's merged state.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldState {
    Register {
        value: Value,
        version: Version,
    },
    /// An observed-remove set: each element with the tags (op numbers) of the ops that added it.
    Set(Vec<(Value, Vec<u64>)>),
    /// Per-key registers; a `None` value is a removed key.
    Map(BTreeMap<String, (Option<Value>, Version)>),
    /// A wrapping sum.
    Counter(i64),
}

impl FieldState {
    /// The field's value as rules, queries and the digest see it.
    pub fn value(&self) -> Value {
        match self {
            FieldState::Register { value, .. } => value.clone(),
            FieldState::Set(elements) => {
                let mut values: Vec<Value> = elements.iter().map(|(value, _)| value.clone()).collect();
                crate::cbor::canonical_set(&mut values);
                Value::Array(values)
            }
            FieldState::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter_map(|(key, (value, _))| value.clone().map(|value| (key.clone(), value)))
                    .collect(),
            ),
            FieldState::Counter(total) => Value::Int(*total),
        }
    }
}

/// A row as a set of effective ops leaves it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowState {
    pub collection: String,
    /// The parent row, for a row of a nested collection.
    pub parent: Option<RowId>,
    pub fields: BTreeMap<String, FieldState>,
    pub deleted: bool,
    /// The greatest (depth, hash) of the ops folded into the row that inserted it, deleted it or
    /// wrote a field an `exists` reads: the row's version, which attestations name.
    pub version: (u64, OpHash),
}

/// The op whose change is being folded.
pub struct Folding<'a> {
    pub hash: OpHash,
    pub depth: u64,
    /// The op's tag in set fields (its number in the replica, or its position in a history).
    pub tag: u64,
    /// Whether an op, by tag, is in this op's causal past or is this op: the adds a set remove
    /// has seen.
    pub seen: &'a dyn Fn(u64) -> Result<bool, StorageError>,
    /// The fields rules read (see [`ReadFields`]): only changes an `exists` can
    /// see advance a row's version.
    pub read: &'a ReadFields,
    /// The suite, for the ids of rows the op inserts (which its `[k]` references name).
    pub suite: &'a dyn CryptoSuite,
}

impl RowState {
    pub fn field(&self, name: &str) -> Value {
        self.fields.get(name).map_or(Value::Null, FieldState::value)
    }

    /// A field's value, borrowed when the row holds it as it is (a register), null when the row
    /// does not have it.
    pub fn field_value(&self, name: &str) -> Cow<'_, Value> {
        match self.fields.get(name) {
            Some(FieldState::Register { value, .. }) => Cow::Borrowed(value),
            Some(state) => Cow::Owned(state.value()),
            None => Cow::Owned(Value::Null),
        }
    }

    /// Whether the field `name` holds `value` (false for a field the row does not have), without
    /// copying a register's value.
    pub fn field_equals(&self, name: &str, value: &Value) -> bool {
        match self.fields.get(name) {
            Some(FieldState::Register { value: held, .. }) => held == value,
            Some(state) => state.value() == *value,
            None => false,
        }
    }

    /// Every field's value, by name.
    pub fn values(&self) -> BTreeMap<String, Value> {
        self.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect()
    }

    /// The row an insert creates. Fields the insert leaves out start empty (validation has
    /// already filled in defaults and refused missing required fields).
    fn inserted(
        definition: &ir::Collection,
        collection: &str,
        fields: &[(String, Value)],
        folding: &Folding,
        change: u32,
    ) -> RowState {
        let given: BTreeMap<&str, &Value> = fields.iter().map(|(name, value)| (name.as_str(), value)).collect();
        let version = (folding.depth, folding.hash, change, 0);
        let mut row_fields = BTreeMap::new();
        for field in &definition.fields {
            let value = given.get(field.name.as_str()).map(|value| (*value).clone());
            let state = match &field.ty {
                Type::Set(_) => FieldState::Set(match value {
                    Some(Value::Array(items)) => items.into_iter().map(|item| (item, vec![folding.tag])).collect(),
                    _ => Vec::new(),
                }),
                Type::Map(_) => FieldState::Map(match value {
                    Some(Value::Map(entries)) => {
                        entries.into_iter().map(|(key, value)| (key, (Some(value), version))).collect()
                    }
                    _ => BTreeMap::new(),
                }),
                Type::Counter => FieldState::Counter(match value {
                    Some(Value::Int(start)) => start,
                    _ => 0,
                }),
                Type::List(_) => FieldState::Register { value: value.unwrap_or(Value::Array(Vec::new())), version },
                _ => FieldState::Register { value: value.unwrap_or(Value::Null), version },
            };
            row_fields.insert(field.name.clone(), state);
        }
        let parent = definition.parent.as_ref().and_then(|_| match given.get("parent") {
            Some(Value::Bytes(bytes)) => <[u8; 32]>::try_from(bytes.as_slice()).ok().map(RowId),
            _ => None,
        });
        RowState {
            collection: collection.to_owned(),
            parent,
            fields: row_fields,
            deleted: false,
            version: (folding.depth, folding.hash),
        }
    }

    fn touch(&mut self, folding: &Folding) {
        self.version = self.version.max((folding.depth, folding.hash));
    }

    fn apply_edit(&mut self, edit: &Edit, version: Version, folding: &Folding) -> Result<(), StorageError> {
        let Some(field) = self.fields.get_mut(edit.field()) else { return Ok(()) };
        match (edit, field) {
            (Edit::Set { value, .. }, FieldState::Register { value: current, version: current_version })
                if version > *current_version =>
            {
                *current = value.clone();
                *current_version = version;
            }
            (Edit::Add { elements, .. }, FieldState::Set(members)) => {
                for element in elements {
                    match members.iter_mut().find(|(existing, _)| existing == element) {
                        Some((_, tags)) => tags.push(folding.tag),
                        None => members.push((element.clone(), vec![folding.tag])),
                    }
                }
            }
            (Edit::Remove { elements, .. }, FieldState::Set(members)) => {
                for element in elements {
                    if let Some((_, tags)) = members.iter_mut().find(|(existing, _)| existing == element) {
                        let mut kept = Vec::with_capacity(tags.len());
                        for tag in tags.iter() {
                            if !(folding.seen)(*tag)? {
                                kept.push(*tag);
                            }
                        }
                        *tags = kept;
                    }
                }
                members.retain(|(_, tags)| !tags.is_empty());
            }
            (Edit::Put { key, value, .. }, FieldState::Map(entries))
                if entries.get(key).is_none_or(|(_, existing)| version > *existing) =>
            {
                entries.insert(key.clone(), (Some(value.clone()), version));
            }
            (Edit::Unset { key, .. }, FieldState::Map(entries))
                if entries.get(key).is_none_or(|(_, existing)| version > *existing) =>
            {
                entries.insert(key.clone(), (None, version));
            }
            (Edit::Increment { amount, .. }, FieldState::Counter(total)) => *total = total.wrapping_add(*amount),
            _ => {}
        }
        Ok(())
    }
}

/// The row a change writes: the new row's id for an insert, the named row otherwise.
pub fn target(suite: &dyn CryptoSuite, hash: &OpHash, index: u32, change: &Change) -> RowId {
    match change {
        Change::Insert { .. } => op::row_id(suite, hash, index),
        Change::Update { row, .. } | Change::Delete { row, .. } => *row,
    }
}

/// Folds one change into the row it targets (`current`, as the state holds it). Returns the
/// row after the change, or `None` when the change has no effect: an update or delete of a
/// row that is missing, deleted or of another collection, or an insert into an unknown
/// collection.
pub fn fold_change(
    schema: &ir::Schema,
    current: Option<&RowState>,
    folding: &Folding,
    index: u32,
    change: &Change,
) -> Result<Option<RowState>, StorageError> {
    let change = &*super::refs::resolve(schema, change, &|index| op::row_id(folding.suite, &folding.hash, index));
    match change {
        Change::Insert { collection, fields } => Ok(schema
            .collections
            .get(collection)
            .map(|definition| RowState::inserted(definition, collection, fields, folding, index))),
        Change::Update { collection, edits, .. } => {
            let Some(row) = current.filter(|row| !row.deleted && row.collection == *collection) else {
                return Ok(None);
            };
            let mut row = row.clone();
            for (edit_index, edit) in edits.iter().enumerate() {
                row.apply_edit(edit, (folding.depth, folding.hash, index, edit_index as u32), folding)?;
            }
            if folding.read.relevant(change, Use::Bound) {
                row.touch(folding);
            }
            Ok(Some(row))
        }
        Change::Delete { collection, .. } => {
            let Some(row) = current.filter(|row| row.collection == *collection) else { return Ok(None) };
            let mut row = row.clone();
            row.deleted = true;
            row.touch(folding);
            Ok(Some(row))
        }
    }
}
