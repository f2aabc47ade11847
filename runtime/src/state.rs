//! Rows, and how the changes of effective ops fold into them: the merge semantics of each field
//! type (DESIGN §3, docs/semantics.md §2). The reference evaluator and the engine both fold
//! through this module, so they cannot disagree on what a set of effective ops means.
//!
//! Folding ops in any topological order gives the same row: registers and map keys keep the
//! greatest version, counters add, a delete is final, and a set remove only undoes the adds in
//! its causal past (which a topological order has already applied).

use crate::cbor::{DecodeError, Reader, Value, Writer};
use crate::crypto::CryptoSuite;
use crate::ids::{OpHash, RowId};
use crate::op::{self, Change, Edit};
use schemac::ir::{self, Type};
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
                crate::json::canonical_set(&mut values);
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

/// A row's field values, by field name.
pub type FieldValues = BTreeMap<String, Value>;

/// A row as a set of effective ops leaves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
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
    pub seen: &'a dyn Fn(u64) -> Result<bool, crate::store::StorageError>,
    /// The fields rules read (see [`crate::rules::ReadFields`]): only changes an `exists` can
    /// see advance a row's version.
    pub read: &'a crate::rules::ReadFields,
}

impl Row {
    pub fn field(&self, name: &str) -> Value {
        self.fields.get(name).map_or(Value::Null, FieldState::value)
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
    ) -> Row {
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
        Row {
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

    fn apply_edit(
        &mut self,
        edit: &Edit,
        version: Version,
        folding: &Folding,
    ) -> Result<(), crate::store::StorageError> {
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

    /// The bytes of the row as the store keeps it, merge metadata included:
    /// `[collection, parent, deleted, writers, fields]`, where `writers` lists each distinct
    /// (depth, op hash) the row's versions name (the row's own version first) and a field's
    /// version is `[writer index, change, edit]`, so a row written by one op names it once.
    pub fn encode(&self) -> Vec<u8> {
        let mut writers: Vec<(u64, OpHash)> = vec![self.version];
        for state in self.fields.values() {
            let versions: Vec<&Version> = match state {
                FieldState::Register { version, .. } => vec![version],
                FieldState::Map(entries) => entries.values().map(|(_, version)| version).collect(),
                FieldState::Set(_) | FieldState::Counter(_) => Vec::new(),
            };
            for version in versions {
                if !writers.contains(&(version.0, version.1)) {
                    writers.push((version.0, version.1));
                }
            }
        }
        let mut writer = Writer::new();
        writer.array(5).text(&self.collection);
        match &self.parent {
            Some(parent) => writer.bytes(&parent.0),
            None => writer.null(),
        };
        writer.bool(self.deleted).array(writers.len());
        for (depth, hash) in &writers {
            writer.array(2).unsigned(*depth).bytes(&hash.0);
        }
        let write_version = |writer: &mut Writer, version: &Version| {
            let index = writers.iter().position(|known| *known == (version.0, version.1)).unwrap_or_default();
            writer.array(3).unsigned(index as u64).unsigned(version.2.into()).unsigned(version.3.into());
        };
        writer.array(self.fields.len());
        for (name, state) in &self.fields {
            writer.array(2).text(name);
            match state {
                FieldState::Register { value, version } => {
                    writer.array(3).unsigned(0).value(value);
                    write_version(&mut writer, version);
                }
                FieldState::Set(members) => {
                    writer.array(2).unsigned(1).array(members.len());
                    for (value, tags) in members {
                        writer.array(2).value(value).array(tags.len());
                        for tag in tags {
                            writer.unsigned(*tag);
                        }
                    }
                }
                FieldState::Map(entries) => {
                    writer.array(2).unsigned(2).array(entries.len());
                    for (key, (value, version)) in entries {
                        writer.array(3).text(key);
                        match value {
                            Some(value) => writer.value(value),
                            None => writer.null(),
                        };
                        write_version(&mut writer, version);
                    }
                }
                FieldState::Counter(total) => {
                    writer.array(2).unsigned(3).int(*total);
                }
            }
        }
        writer.bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Row, DecodeError> {
        let mut reader = Reader::new(bytes);
        expect_array(&mut reader, 5)?;
        let collection = reader.text()?.to_owned();
        let parent = if reader.null()? { None } else { Some(RowId(reader.fixed_bytes()?)) };
        let deleted = matches!(reader.value(0)?, Value::Bool(true));
        let writer_count = reader.array()?;
        let mut writers = Vec::with_capacity(writer_count.min(1024));
        for _ in 0..writer_count {
            expect_array(&mut reader, 2)?;
            writers.push((reader.unsigned()?, OpHash(reader.fixed_bytes()?)));
        }
        let version = *writers.first().ok_or_else(|| malformed_row(&reader))?;
        let read_version = |reader: &mut Reader| -> Result<Version, DecodeError> {
            expect_array(reader, 3)?;
            let index = usize::try_from(reader.unsigned()?).map_err(|_| malformed_row(reader))?;
            let (depth, hash) = *writers.get(index).ok_or_else(|| malformed_row(reader))?;
            let change = u32::try_from(reader.unsigned()?).map_err(|_| malformed_row(reader))?;
            let edit = u32::try_from(reader.unsigned()?).map_err(|_| malformed_row(reader))?;
            Ok((depth, hash, change, edit))
        };
        let field_count = reader.array()?;
        let mut fields = BTreeMap::new();
        for _ in 0..field_count {
            expect_array(&mut reader, 2)?;
            let name = reader.text()?.to_owned();
            let length = reader.array()?;
            let state = match reader.unsigned()? {
                0 if length == 3 => {
                    let value = reader.value(1)?;
                    FieldState::Register { value, version: read_version(&mut reader)? }
                }
                1 if length == 2 => {
                    let count = reader.array()?;
                    let mut members = Vec::with_capacity(count.min(1024));
                    for _ in 0..count {
                        expect_array(&mut reader, 2)?;
                        let value = reader.value(1)?;
                        let tag_count = reader.array()?;
                        let mut tags = Vec::with_capacity(tag_count.min(1024));
                        for _ in 0..tag_count {
                            tags.push(reader.unsigned()?);
                        }
                        members.push((value, tags));
                    }
                    FieldState::Set(members)
                }
                2 if length == 2 => {
                    let count = reader.array()?;
                    let mut entries = BTreeMap::new();
                    for _ in 0..count {
                        expect_array(&mut reader, 3)?;
                        let key = reader.text()?.to_owned();
                        let value = if reader.null()? { None } else { Some(reader.value(1)?) };
                        entries.insert(key, (value, read_version(&mut reader)?));
                    }
                    FieldState::Map(entries)
                }
                3 if length == 2 => match reader.value(1)? {
                    Value::Int(total) => FieldState::Counter(total),
                    _ => return Err(malformed_row(&reader)),
                },
                _ => return Err(malformed_row(&reader)),
            };
            fields.insert(name, state);
        }
        reader.finish()?;
        Ok(Row { collection, parent, fields, deleted, version })
    }
}

fn malformed_row(reader: &Reader) -> DecodeError {
    DecodeError::Malformed { position: reader.position(), reason: "not a stored row".into() }
}

fn expect_array(reader: &mut Reader, length: usize) -> Result<(), DecodeError> {
    if reader.array()? == length {
        Ok(())
    } else {
        Err(malformed_row(reader))
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
    current: Option<&Row>,
    folding: &Folding,
    index: u32,
    change: &Change,
) -> Result<Option<Row>, crate::store::StorageError> {
    match change {
        Change::Insert { collection, fields } => Ok(schema
            .collections
            .get(collection)
            .map(|definition| Row::inserted(definition, collection, fields, folding, index))),
        Change::Update { collection, edits, .. } => {
            let Some(row) = current.filter(|row| !row.deleted && row.collection == *collection) else {
                return Ok(None);
            };
            let mut row = row.clone();
            for (edit_index, edit) in edits.iter().enumerate() {
                row.apply_edit(edit, (folding.depth, folding.hash, index, edit_index as u32), folding)?;
            }
            if folding.read.relevant(change, crate::rules::Use::Bound) {
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

/// The digest of a state: blake3 over the canonical encodings of its visible rows, in id
/// order, each `[collection, id, {field: value}]` (docs/SPEC.md §3). Rows stream in, so a
/// large state is never held whole.
#[derive(Default)]
pub struct Digest {
    hasher: blake3::Hasher,
}

impl Digest {
    pub fn add(&mut self, id: &RowId, row: &Row) {
        let mut writer = Writer::new();
        let fields = row.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect();
        writer.array(3).text(&row.collection).bytes(&id.0).value(&Value::Map(fields));
        self.hasher.update(&writer.bytes);
    }

    pub fn finish(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }
}
