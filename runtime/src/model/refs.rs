//! References between rows: the values of `ref C` fields (also inside optionals, lists, sets,
//! maps and records), the "row inserted by change k of this op" form that lets one op create
//! related rows (docs/SPEC.md §2.2), and the rows a change refers to, which must be visible rows
//! of their collections in the op's past.

use crate::cbor::Value;
use crate::ids::RowId;
use crate::op::{Change, Edit};
use schemac::ir::{self, Type};
use std::borrow::Cow;

/// The change index that a `[k]` value names, if the value has that form.
pub(crate) fn change_reference(value: &Value) -> Option<u32> {
    match value {
        Value::Array(items) => match items.as_slice() {
            [Value::Int(index)] => u32::try_from(*index).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// Calls `visit` with every reference a value of type `ty` holds: the collection it must name
/// and the value in the ref position (a row id, or the `[k]` form).
fn visit_references<'v>(schema: &ir::Schema, ty: &Type, value: &'v Value, visit: &mut dyn FnMut(&str, &'v Value)) {
    match (ty, value) {
        (_, Value::Null) => {}
        (Type::Ref(collection), value) => visit(collection, value),
        (Type::Optional(inner), value) => visit_references(schema, inner, value, visit),
        (Type::List(element) | Type::Set(element), Value::Array(items)) => {
            items.iter().for_each(|item| visit_references(schema, element, item, visit))
        }
        (Type::Map(inner), Value::Map(entries)) => {
            entries.iter().for_each(|(_, entry)| visit_references(schema, inner, entry, visit))
        }
        (Type::Record(name), Value::Map(entries)) => {
            let Some(record) = schema.records.get(name) else { return };
            for (key, entry) in entries {
                if let Some(field) = record.field(key) {
                    visit_references(schema, &field.ty, entry, visit);
                }
            }
        }
        _ => {}
    }
}

/// Whether a value of type `ty` holds a `[k]` reference anywhere.
pub(crate) fn holds_change_reference(schema: &ir::Schema, ty: &Type, value: &Value) -> bool {
    let mut found = false;
    visit_references(schema, ty, value, &mut |_, value| found |= change_reference(value).is_some());
    found
}

/// The `[k]` references a value holds, with the collection each must name.
pub(crate) fn change_references<'s>(schema: &'s ir::Schema, ty: &'s Type, value: &Value) -> Vec<(String, u32)> {
    let mut found = Vec::new();
    visit_references(schema, ty, value, &mut |collection, value| {
        if let Some(index) = change_reference(value) {
            found.push((collection.to_owned(), index));
        }
    });
    found
}

/// The value with every `[k]` in a ref position replaced by the id of the row change k inserts.
/// A set is put back in its canonical order, which depends on the ids.
fn resolve_value(schema: &ir::Schema, ty: &Type, value: &Value, new_row: &dyn Fn(u32) -> RowId) -> Value {
    match (ty, value) {
        (_, Value::Null) => Value::Null,
        (Type::Ref(_), value) => match change_reference(value) {
            Some(index) => Value::from(new_row(index)),
            None => value.clone(),
        },
        (Type::Optional(inner), value) => resolve_value(schema, inner, value, new_row),
        (Type::List(element), Value::Array(items)) => {
            Value::Array(items.iter().map(|item| resolve_value(schema, element, item, new_row)).collect())
        }
        (Type::Set(element), Value::Array(items)) => {
            Value::set(items.iter().map(|item| resolve_value(schema, element, item, new_row)))
        }
        (Type::Map(inner), Value::Map(entries)) => Value::Map(
            entries.iter().map(|(key, entry)| (key.clone(), resolve_value(schema, inner, entry, new_row))).collect(),
        ),
        (Type::Record(name), Value::Map(entries)) => match schema.records.get(name) {
            Some(record) => Value::Map(
                entries
                    .iter()
                    .map(|(key, entry)| match record.field(key) {
                        Some(field) => (key.clone(), resolve_value(schema, &field.ty, entry, new_row)),
                        None => (key.clone(), entry.clone()),
                    })
                    .collect(),
            ),
            None => value.clone(),
        },
        (_, value) => value.clone(),
    }
}

/// The type of the values an edit writes, or `None` for an edit that writes no value.
fn edit_value_type<'t>(field: &'t Type, edit: &Edit) -> Option<&'t Type> {
    match (edit, field) {
        (Edit::Set { .. }, ty) => Some(ty),
        (Edit::Add { .. } | Edit::Remove { .. }, Type::Set(element)) => Some(element),
        (Edit::Put { .. }, Type::Map(inner)) => Some(inner),
        _ => None,
    }
}

/// The typed values a change writes: (field, type, value), elements of set edits one by one.
pub(crate) fn written_values<'c, 's>(
    schema: &'s ir::Schema,
    change: &'c Change,
    include_removals: bool,
) -> Vec<(&'c str, &'s Type, &'c Value)> {
    let Some(collection) = schema.collections.get(change.collection()) else { return Vec::new() };
    let mut values = Vec::new();
    match change {
        Change::Insert { fields, .. } => {
            for (name, value) in fields {
                if let Some(field) = collection.field(name) {
                    values.push((name.as_str(), &field.ty, value));
                }
            }
        }
        Change::Update { edits, .. } => {
            for edit in edits {
                let Some(field) = collection.field(edit.field()) else { continue };
                let Some(ty) = edit_value_type(&field.ty, edit) else { continue };
                match edit {
                    Edit::Set { value, .. } | Edit::Put { value, .. } => values.push((edit.field(), ty, value)),
                    Edit::Add { elements, .. } => {
                        values.extend(elements.iter().map(|element| (edit.field(), ty, element)))
                    }
                    Edit::Remove { elements, .. } if include_removals => {
                        values.extend(elements.iter().map(|element| (edit.field(), ty, element)))
                    }
                    Edit::Remove { .. } | Edit::Unset { .. } | Edit::Increment { .. } => {}
                }
            }
        }
        Change::Delete { .. } => {}
    }
    values
}

/// The change with its `[k]` references resolved (see [`resolve_value`]). Borrowed unchanged
/// when it holds none, which is the common case.
pub(crate) fn resolve<'c>(schema: &ir::Schema, change: &'c Change, new_row: &dyn Fn(u32) -> RowId) -> Cow<'c, Change> {
    // A `[k]` is an array: a change whose values hold none (most) needs no typed walk.
    fn holds_array(value: &Value) -> bool {
        match value {
            Value::Array(_) => true,
            Value::Map(entries) => entries.iter().any(|(_, entry)| holds_array(entry)),
            _ => false,
        }
    }
    let arrays = match change {
        Change::Insert { fields, .. } => fields.iter().any(|(_, value)| holds_array(value)),
        Change::Update { edits, .. } => edits.iter().any(|edit| match edit {
            Edit::Set { value, .. } | Edit::Put { value, .. } => holds_array(value),
            Edit::Add { elements, .. } | Edit::Remove { elements, .. } => elements.iter().any(holds_array),
            Edit::Unset { .. } | Edit::Increment { .. } => false,
        }),
        Change::Delete { .. } => false,
    };
    let needs = arrays
        && written_values(schema, change, true)
            .into_iter()
            .any(|(_, ty, value)| holds_change_reference(schema, ty, value));
    if !needs {
        return Cow::Borrowed(change);
    }
    let Some(collection) = schema.collections.get(change.collection()) else { return Cow::Borrowed(change) };
    let field_type = |name: &str| collection.field(name).map(|field| &field.ty);
    let resolved = match change {
        Change::Insert { collection: name, fields } => Change::Insert {
            collection: name.clone(),
            fields: fields
                .iter()
                .map(|(field, value)| match field_type(field) {
                    Some(ty) => (field.clone(), resolve_value(schema, ty, value, new_row)),
                    None => (field.clone(), value.clone()),
                })
                .collect(),
        },
        Change::Update { collection: name, row, edits } => Change::Update {
            collection: name.clone(),
            row: *row,
            edits: edits
                .iter()
                .map(|edit| {
                    let Some(ty) = field_type(edit.field()).and_then(|ty| edit_value_type(ty, edit)) else {
                        return edit.clone();
                    };
                    let resolve = |value: &Value| resolve_value(schema, ty, value, new_row);
                    match edit {
                        Edit::Set { field, value } => Edit::Set { field: field.clone(), value: resolve(value) },
                        Edit::Put { field, key, value } => {
                            Edit::Put { field: field.clone(), key: key.clone(), value: resolve(value) }
                        }
                        Edit::Add { field, elements } => {
                            Edit::Add { field: field.clone(), elements: set_of(elements.iter().map(resolve)) }
                        }
                        Edit::Remove { field, elements } => {
                            Edit::Remove { field: field.clone(), elements: set_of(elements.iter().map(resolve)) }
                        }
                        Edit::Unset { .. } | Edit::Increment { .. } => edit.clone(),
                    }
                })
                .collect(),
        },
        Change::Delete { .. } => change.clone(),
    };
    Cow::Owned(resolved)
}

fn set_of(values: impl Iterator<Item = Value>) -> Vec<Value> {
    match Value::set(values) {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// The rows a resolved change refers to, each with the field and the collection it must belong
/// to. A set removal names no row: removing a reference needs no target.
pub(crate) fn references(schema: &ir::Schema, change: &Change) -> Vec<(String, String, RowId)> {
    let mut found = Vec::new();
    for (field, ty, value) in written_values(schema, change, false) {
        visit_references(schema, ty, value, &mut |collection, value| {
            if let Some(row) = value.as_row_id() {
                found.push((field.to_owned(), collection.to_owned(), row));
            }
        });
    }
    found
}
