//! Payload checks against the schema's IR: collections and fields exist, values have the
//! field's type, `readonly` fields are not updated, edits fit the field's kind, sizes are within
//! limits, and `check` constraints hold where the op alone determines the row.
//!
//! Rules (`allow … if …`) need the database state and are the state engine's; so are `check`
//! constraints on updates that leave some of the fields the check reads unchanged.

use super::refs;
use crate::cbor::Value;
use crate::error::{suggest, PayloadError};
use crate::ids::Identity;
use crate::op::{Change, Edit, Limits};
use schemac::ir::{self, Type};
use std::collections::BTreeMap;

/// Fills in the fields each insert leaves out that have a `default` in the schema: a constant,
/// or the writing author for `default op.author`. Every local write goes through here, so a
/// default applies however the change was built.
pub fn with_defaults(schema: &ir::Schema, mut changes: Vec<Change>, author: &Identity) -> Vec<Change> {
    for change in &mut changes {
        let Change::Insert { collection, fields } = change else { continue };
        let Some(definition) = schema.collections.get(collection.as_str()) else { continue };
        for field in &definition.fields {
            let Some(default) = &field.default else { continue };
            if !fields.iter().any(|(name, _)| *name == field.name) {
                let value = match default {
                    ir::Default::OpAuthor => Value::from(*author),
                    ir::Default::Value(value) => super::check::literal(value),
                };
                fields.push((field.name.clone(), value));
            }
        }
    }
    changes
}

/// Checks every change of a batch.
pub fn validate_changes(schema: &ir::Schema, changes: &[Change], limits: &Limits) -> Result<(), PayloadError> {
    if changes.is_empty() {
        return Err(PayloadError::Empty);
    }
    if changes.len() > limits.max_changes {
        return Err(PayloadError::TooManyChanges { count: changes.len(), limit: limits.max_changes });
    }
    for (index, change) in changes.iter().enumerate() {
        validate_change(schema, index, change, limits)?;
        check_change_references(schema, changes, index)?;
    }
    Ok(())
}

/// Every `[k]` reference a change holds names an earlier change of the op that inserts into the
/// collection the field refers to.
fn check_change_references(schema: &ir::Schema, changes: &[Change], index: usize) -> Result<(), PayloadError> {
    let change = &changes[index];
    for (name, ty, value) in refs::written_values(schema, change, true) {
        for (expected, target) in refs::change_references(schema, ty, value) {
            let earlier_insert = (target as usize) < index
                && matches!(&changes[target as usize], Change::Insert { collection, .. } if *collection == expected);
            if !earlier_insert {
                return Err(PayloadError::ChangeReference {
                    change: index,
                    collection: change.collection().to_owned(),
                    field: name.to_owned(),
                    target,
                    expected,
                });
            }
        }
    }
    Ok(())
}

fn validate_change(schema: &ir::Schema, index: usize, change: &Change, limits: &Limits) -> Result<(), PayloadError> {
    let collection_name = change.collection();
    let collection = schema.collections.get(collection_name).ok_or_else(|| PayloadError::UnknownCollection {
        change: index,
        collection: collection_name.to_owned(),
        suggestion: suggest(collection_name, schema.collections.keys()),
    })?;
    let unknown = |field: &str| PayloadError::UnknownField {
        change: index,
        collection: collection_name.to_owned(),
        field: field.to_owned(),
        suggestion: suggest(field, collection.fields.iter().map(|field| &field.name)),
    };
    let wrong_type = |field: &ir::Field, problem: String| PayloadError::WrongType {
        change: index,
        collection: collection_name.to_owned(),
        field: field.name.clone(),
        expected: field.ty.display(),
        problem,
    };
    let check_value = |field: &ir::Field, ty: &Type, value: &Value| -> Result<(), PayloadError> {
        check_type(schema, ty, value, limits).map_err(|problem| match problem {
            TypeProblem::TooLarge(size) => PayloadError::TooLarge {
                change: index,
                collection: collection_name.to_owned(),
                field: field.name.clone(),
                size,
                limit: limits.max_value_bytes,
            },
            TypeProblem::Mismatch(problem) => wrong_type(field, problem),
        })
    };
    match change {
        Change::Insert { fields, .. } => {
            let given: BTreeMap<&str, &Value> = fields.iter().map(|(name, value)| (name.as_str(), value)).collect();
            for name in given.keys() {
                if collection.field(name).is_none() {
                    return Err(unknown(name));
                }
            }
            for field in &collection.fields {
                match given.get(field.name.as_str()) {
                    Some(value) => check_value(field, &field.ty, value)?,
                    None if starts_empty(&field.ty) => {}
                    None => {
                        return Err(PayloadError::MissingField {
                            change: index,
                            collection: collection_name.to_owned(),
                            field: field.name.clone(),
                        })
                    }
                }
            }
            // The row after the insert: fields left out start null, empty or at zero.
            let empty_values: Vec<(&str, Value)> = collection
                .fields
                .iter()
                .filter(|field| !given.contains_key(field.name.as_str()))
                .filter_map(|field| empty_value(&field.ty).map(|value| (field.name.as_str(), value)))
                .collect();
            let mut row = given.clone();
            row.extend(empty_values.iter().map(|(name, value)| (*name, value)));
            check_constraints(schema, collection, collection_name, index, &row)
        }
        Change::Update { edits, .. } => {
            let mut assigned: BTreeMap<&str, &Value> = BTreeMap::new();
            for edit in edits {
                let field = collection.field(edit.field()).ok_or_else(|| unknown(edit.field()))?;
                if field.readonly {
                    return Err(PayloadError::Readonly {
                        change: index,
                        collection: collection_name.to_owned(),
                        field: field.name.clone(),
                    });
                }
                let wrong_edit = |edit: &'static str| PayloadError::WrongEdit {
                    change: index,
                    collection: collection_name.to_owned(),
                    field: field.name.clone(),
                    edit,
                    ty: field.ty.display(),
                };
                match (edit, &field.ty) {
                    (Edit::Set { value, .. }, ty) if is_register(ty) => {
                        check_value(field, ty, value)?;
                        assigned.insert(&field.name, value);
                    }
                    (Edit::Set { .. }, _) => return Err(wrong_edit("set")),
                    (Edit::Add { elements, .. } | Edit::Remove { elements, .. }, Type::Set(element)) => {
                        for value in elements {
                            check_value(field, element, value)?;
                        }
                    }
                    (Edit::Add { .. }, _) => return Err(wrong_edit("add")),
                    (Edit::Remove { .. }, _) => return Err(wrong_edit("remove")),
                    (Edit::Put { key, value, .. }, Type::Map(value_type)) => {
                        if key.len() > limits.max_value_bytes {
                            return Err(PayloadError::TooLarge {
                                change: index,
                                collection: collection_name.to_owned(),
                                field: field.name.clone(),
                                size: key.len(),
                                limit: limits.max_value_bytes,
                            });
                        }
                        check_value(field, value_type, value)?;
                    }
                    (Edit::Put { .. }, _) => return Err(wrong_edit("put")),
                    (Edit::Unset { .. }, Type::Map(_)) => {}
                    (Edit::Unset { .. }, _) => return Err(wrong_edit("unset")),
                    (Edit::Increment { .. }, Type::Counter) => {}
                    (Edit::Increment { .. }, _) => return Err(wrong_edit("increment")),
                }
            }
            // A check can be decided here when the update sets every field it reads.
            check_constraints(schema, collection, collection_name, index, &assigned)
        }
        Change::Delete { .. } => Ok(()),
    }
}

/// Evaluates each field's `check` on the fields known; a check that reads an unknown field, or a
/// reference to a row of this op (whose id depends on the op's hash), is left to the state
/// engine, which sees the whole row.
fn check_constraints(
    schema: &ir::Schema,
    collection: &ir::Collection,
    collection_name: &str,
    change: usize,
    known: &BTreeMap<&str, &Value>,
) -> Result<(), PayloadError> {
    for field in &collection.fields {
        if let Some(check) = &field.check {
            let row = |name: &str| {
                let value = known.get(name).copied()?;
                let resolved_later =
                    collection.field(name).is_some_and(|field| refs::holds_change_reference(schema, &field.ty, value));
                (!resolved_later).then_some(value)
            };
            if super::check::evaluate_check(check, &row) == Some(false) {
                return Err(PayloadError::CheckFailed {
                    change,
                    collection: collection_name.to_owned(),
                    field: field.name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The value a field left out of an insert starts with, for the types that may be left out.
fn empty_value(ty: &Type) -> Option<Value> {
    match ty {
        Type::Optional(_) => Some(Value::Null),
        Type::Set(_) | Type::List(_) => Some(Value::Array(Vec::new())),
        Type::Map(_) => Some(Value::Map(Vec::new())),
        Type::Counter => Some(Value::Int(0)),
        _ => None,
    }
}

/// Fields that an insert may leave out: they start null, empty or at zero.
pub fn starts_empty(ty: &Type) -> bool {
    matches!(ty, Type::Optional(_) | Type::Set(_) | Type::Map(_) | Type::List(_) | Type::Counter)
}

/// Fields whose whole value an update replaces.
fn is_register(ty: &Type) -> bool {
    !matches!(ty, Type::Set(_) | Type::Map(_) | Type::Counter)
}

enum TypeProblem {
    Mismatch(String),
    TooLarge(usize),
}

fn mismatch(problem: impl Into<String>) -> TypeProblem {
    TypeProblem::Mismatch(problem.into())
}

/// Whether `value` is a value of `ty` in its canonical shape.
fn check_type(schema: &ir::Schema, ty: &Type, value: &Value, limits: &Limits) -> Result<(), TypeProblem> {
    let found = || describe(value);
    match (ty, value) {
        (Type::Optional(_), Value::Null) => Ok(()),
        (Type::Optional(inner), value) => check_type(schema, inner, value, limits),
        (Type::Bool, Value::Bool(_)) | (Type::Int | Type::Timestamp | Type::Counter, Value::Int(_)) => Ok(()),
        (Type::Float, Value::Float(value)) if value.is_finite() => Ok(()),
        (Type::Float, Value::Float(_)) => Err(mismatch("a float that is not finite")),
        (Type::String, Value::Text(text)) => within(text.len(), limits),
        (Type::Bytes, Value::Bytes(bytes)) => within(bytes.len(), limits),
        (Type::Identity | Type::Ref(_), Value::Bytes(bytes)) if bytes.len() == 32 => Ok(()),
        // The row inserted by an earlier change of the same op (checked by
        // `check_change_references`, which sees the whole batch).
        (Type::Ref(_), value) if refs::change_reference(value).is_some() => Ok(()),
        (Type::Identity | Type::Ref(_), Value::Bytes(bytes)) => {
            Err(mismatch(format!("{} bytes instead of 32", bytes.len())))
        }
        (Type::Enum(name), Value::Text(variant)) => {
            let known = schema.enums.get(name).is_some_and(|definition| definition.variants.contains(variant));
            if known {
                Ok(())
            } else {
                Err(mismatch(format!("`{variant}` is not a variant of `{name}`")))
            }
        }
        (Type::List(element), Value::Array(items)) => {
            items.iter().try_for_each(|item| check_type(schema, element, item, limits))
        }
        (Type::Set(element), Value::Array(items)) => {
            items.iter().try_for_each(|item| check_type(schema, element, item, limits))?;
            // A set's elements are written sorted by encoding, once each: one canonical form.
            let encoded: Vec<Vec<u8>> = items.iter().map(Value::encode).collect();
            if encoded.windows(2).all(|pair| pair[0] < pair[1]) {
                Ok(())
            } else {
                Err(mismatch("set elements must be sorted by their encoding, without duplicates"))
            }
        }
        (Type::Map(inner), Value::Map(entries)) => entries.iter().try_for_each(|(key, entry)| {
            within(key.len(), limits)?;
            check_type(schema, inner, entry, limits)
        }),
        (Type::Record(name), Value::Map(entries)) => {
            let Some(record) = schema.records.get(name) else {
                return Err(mismatch(format!("unknown record type `{name}`")));
            };
            for (key, _) in entries {
                if !record.fields.iter().any(|field| field.name == *key) {
                    return Err(mismatch(format!("record `{name}` has no field `{key}`")));
                }
            }
            for field in &record.fields {
                match entries.iter().find(|(key, _)| *key == field.name) {
                    Some((_, entry)) => check_type(schema, &field.ty, entry, limits)?,
                    None if matches!(field.ty, Type::Optional(_) | Type::List(_)) => {}
                    None => return Err(mismatch(format!("record field `{}` is missing", field.name))),
                }
            }
            Ok(())
        }
        _ => Err(mismatch(format!("found {}", found()))),
    }
}

fn within(size: usize, limits: &Limits) -> Result<(), TypeProblem> {
    if size > limits.max_value_bytes {
        Err(TypeProblem::TooLarge(size))
    } else {
        Ok(())
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Text(_) => "text",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
    }
}
