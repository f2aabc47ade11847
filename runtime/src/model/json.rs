//! Field values as JSON, typed by the schema: how the `cairn` command line reads and prints
//! rows.
//!
//! Identities and row ids are their text forms (`ed25519:…`, `row:…`), enum variants are
//! strings, bytes are lowercase hex strings, timestamps are integers (milliseconds since the
//! Unix epoch), sets and lists are arrays, maps and records are objects, counters are
//! integers, and a missing optional is `null`.

use crate::cbor::Value;
use crate::error::{JsonError, RowJsonError};
use crate::ids::{from_hex, to_hex, Identity, RowId};
use schemac::ir::{self, Type};
use serde_json::Value as Json;

fn json_kind(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(_) => "a boolean".into(),
        Json::Number(number) => format!("the number {number}"),
        Json::String(text) => format!("the string {text:?}"),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

/// Converts JSON to the value of a field of type `ty`. Sets come out sorted and deduplicated,
/// in their canonical form.
pub fn from_json(schema: &ir::Schema, ty: &Type, json: &Json, path: &str) -> Result<Value, JsonError> {
    let error =
        |expected: &str| JsonError { path: path.to_owned(), expected: expected.to_owned(), found: json_kind(json) };
    Ok(match (ty, json) {
        (Type::Optional(_), Json::Null) => Value::Null,
        (Type::Optional(inner), _) => from_json(schema, inner, json, path)?,
        (Type::Bool, Json::Bool(value)) => Value::Bool(*value),
        (Type::Int | Type::Timestamp | Type::Counter, Json::Number(number)) => {
            Value::Int(number.as_i64().ok_or_else(|| error("a 64-bit integer"))?)
        }
        (Type::Float, Json::Number(number)) => Value::Float(number.as_f64().ok_or_else(|| error("a number"))?),
        (Type::String, Json::String(text)) => Value::Text(text.clone()),
        (Type::Bytes, Json::String(text)) => {
            let bytes: Option<Vec<u8>> = if text.len() % 2 == 0 {
                text.as_bytes()
                    .chunks(2)
                    .map(|pair| std::str::from_utf8(pair).ok().and_then(from_hex::<1>).map(|byte| byte[0]))
                    .collect()
            } else {
                None
            };
            Value::Bytes(bytes.ok_or_else(|| error("lowercase hex bytes"))?)
        }
        (Type::Identity, Json::String(text)) => {
            Value::Bytes(text.parse::<Identity>().map_err(|_| error("an identity `ed25519:…`"))?.0.to_vec())
        }
        // `{"change": k}`: the row inserted by change k of the same op (docs/SPEC.md §2.2).
        (Type::Ref(_), Json::Object(object)) if object.len() == 1 && object.contains_key("change") => {
            let index = object.get("change").and_then(Json::as_u64).filter(|index| *index <= u64::from(u32::MAX));
            Value::Array(vec![Value::Int(index.ok_or_else(|| error("a change index"))? as i64)])
        }
        (Type::Ref(collection), Json::String(text)) => Value::Bytes(
            text.parse::<RowId>().map_err(|_| error(&format!("the id of a `{collection}` row (`row:…`)")))?.0.to_vec(),
        ),
        (Type::Enum(name), Json::String(variant)) => {
            let known = schema.enums.get(name).is_some_and(|definition| definition.variants.contains(variant));
            if !known {
                let variants =
                    schema.enums.get(name).map(|definition| definition.variants.join(", ")).unwrap_or_default();
                return Err(error(&format!("one of {variants}")));
            }
            Value::Text(variant.clone())
        }
        (Type::List(element), Json::Array(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| from_json(schema, element, item, &format!("{path}[{index}]")))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Set(element), Json::Array(items)) => {
            let mut values: Vec<Value> = items
                .iter()
                .enumerate()
                .map(|(index, item)| from_json(schema, element, item, &format!("{path}[{index}]")))
                .collect::<Result<_, _>>()?;
            crate::cbor::canonical_set(&mut values);
            Value::Array(values)
        }
        (Type::Map(inner), Json::Object(entries)) => Value::Map(
            entries
                .iter()
                .map(|(key, entry)| Ok((key.clone(), from_json(schema, inner, entry, &format!("{path}.{key}"))?)))
                .collect::<Result<_, JsonError>>()?,
        ),
        (Type::Record(name), Json::Object(entries)) => {
            let record = schema.records.get(name).ok_or_else(|| error(&format!("a `{name}`")))?;
            let mut fields = Vec::new();
            for (key, entry) in entries {
                let field = record.fields.iter().find(|field| field.name == *key).ok_or_else(|| JsonError {
                    path: format!("{path}.{key}"),
                    expected: format!("a field of `{name}`"),
                    found: "an unknown field".into(),
                })?;
                fields.push((key.clone(), from_json(schema, &field.ty, entry, &format!("{path}.{key}"))?));
            }
            Value::Map(fields)
        }
        (ty, _) => return Err(error(&ty.display())),
    })
}

/// Converts a stored value of type `ty` back to JSON.
pub fn to_json(ty: &Type, value: &Value) -> Json {
    match (ty, value) {
        (_, Value::Null) => Json::Null,
        (Type::Optional(inner), value) => to_json(inner, value),
        (Type::Identity, Value::Bytes(bytes)) => match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(array) => Json::String(Identity(array).to_string()),
            Err(_) => Json::String(to_hex(bytes)),
        },
        (Type::Ref(_), Value::Bytes(bytes)) => match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(array) => Json::String(RowId(array).to_string()),
            Err(_) => Json::String(to_hex(bytes)),
        },
        (Type::List(element) | Type::Set(element), Value::Array(items)) => {
            Json::Array(items.iter().map(|item| to_json(element, item)).collect())
        }
        (Type::Map(inner), Value::Map(entries)) => {
            Json::Object(entries.iter().map(|(key, entry)| (key.clone(), to_json(inner, entry))).collect())
        }
        (_, value) => untyped_json(value),
    }
}

/// JSON for a value whose type is not known (or a record, whose fields' types are not
/// threaded through here): structure only.
pub fn untyped_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(value) => Json::Bool(*value),
        Value::Int(value) => Json::from(*value),
        Value::Float(value) => serde_json::Number::from_f64(*value).map_or(Json::Null, Json::Number),
        Value::Text(text) => Json::String(text.clone()),
        Value::Bytes(bytes) => Json::String(to_hex(bytes)),
        Value::Array(items) => Json::Array(items.iter().map(untyped_json).collect()),
        Value::Map(entries) => {
            Json::Object(entries.iter().map(|(key, entry)| (key.clone(), untyped_json(entry))).collect())
        }
    }
}

fn collection_of<'s>(schema: &'s ir::Schema, name: &str) -> Result<&'s ir::Collection, RowJsonError> {
    schema.collections.get(name).ok_or_else(|| RowJsonError::UnknownCollection {
        collection: name.to_owned(),
        suggestion: crate::error::suggest(name, schema.collections.keys()),
    })
}

fn unknown_field(collection_name: &str, collection: &ir::Collection, field: &str) -> RowJsonError {
    RowJsonError::UnknownField {
        collection: collection_name.to_owned(),
        field: field.to_owned(),
        suggestion: crate::error::suggest(field, collection.fields.iter().map(|field| &field.name)),
    }
}

fn fields_of(json: &Json) -> Result<&serde_json::Map<String, Json>, RowJsonError> {
    json.as_object().ok_or_else(|| RowJsonError::NotAnObject(json_kind(json)))
}

/// The value of `collection.field` given as JSON (a query filter, say), checked against the
/// field's type.
pub fn field_value_from_json(
    schema: &ir::Schema,
    collection_name: &str,
    field_name: &str,
    json: &Json,
) -> Result<Value, RowJsonError> {
    let collection = collection_of(schema, collection_name)?;
    let field = collection.field(field_name).ok_or_else(|| unknown_field(collection_name, collection, field_name))?;
    Ok(from_json(schema, &field.ty, json, field_name)?)
}

/// An insert of `collection` from a JSON object of fields. Fields it leaves out get their
/// defaults when the change is written, as every write does.
pub fn insert_from_json(
    schema: &ir::Schema,
    collection_name: &str,
    json: &Json,
) -> Result<crate::op::Change, RowJsonError> {
    let collection = collection_of(schema, collection_name)?;
    let object = fields_of(json)?;
    for key in object.keys() {
        if collection.field(key).is_none() {
            return Err(unknown_field(collection_name, collection, key));
        }
    }
    let mut fields = Vec::new();
    for field in &collection.fields {
        if let Some(json) = object.get(&field.name) {
            fields.push((field.name.clone(), from_json(schema, &field.ty, json, &field.name)?));
        }
    }
    Ok(crate::op::Change::Insert { collection: collection_name.to_owned(), fields })
}

/// An update of one row from a JSON object. Plain fields take their new value; a set takes
/// `{"add": [...], "remove": [...]}`, a map `{"put": {...}, "unset": [...]}`, and a counter
/// `{"increment": n}`.
pub fn update_from_json(
    schema: &ir::Schema,
    collection_name: &str,
    row: RowId,
    json: &Json,
) -> Result<crate::op::Change, RowJsonError> {
    use crate::op::Edit;
    let collection = collection_of(schema, collection_name)?;
    let mut edits = Vec::new();
    for (key, value) in fields_of(json)? {
        let field = collection.field(key).ok_or_else(|| unknown_field(collection_name, collection, key))?;
        let edit_error = |reason: &str| RowJsonError::Edit { field: key.clone(), reason: reason.to_owned() };
        match &field.ty {
            Type::Set(element) => {
                let object =
                    value.as_object().ok_or_else(|| edit_error("a set takes {\"add\": [...], \"remove\": [...]}"))?;
                for (operation, items) in object {
                    let Json::Array(items) = items else {
                        return Err(edit_error("add and remove take arrays"));
                    };
                    let mut elements: Vec<Value> =
                        items.iter().map(|item| from_json(schema, element, item, key)).collect::<Result<_, _>>()?;
                    crate::cbor::canonical_set(&mut elements);
                    edits.push(match operation.as_str() {
                        "add" => Edit::Add { field: key.clone(), elements },
                        "remove" => Edit::Remove { field: key.clone(), elements },
                        _ => return Err(edit_error("a set takes `add` and `remove`")),
                    });
                }
            }
            Type::Map(inner) => {
                let object =
                    value.as_object().ok_or_else(|| edit_error("a map takes {\"put\": {...}, \"unset\": [...]}"))?;
                for (operation, content) in object {
                    match (operation.as_str(), content) {
                        ("put", Json::Object(entries)) => {
                            for (map_key, entry) in entries {
                                edits.push(Edit::Put {
                                    field: key.clone(),
                                    key: map_key.clone(),
                                    value: from_json(schema, inner, entry, &format!("{key}.{map_key}"))?,
                                });
                            }
                        }
                        ("unset", Json::Array(keys)) => {
                            for map_key in keys {
                                let map_key =
                                    map_key.as_str().ok_or_else(|| edit_error("unset takes an array of keys"))?;
                                edits.push(Edit::Unset { field: key.clone(), key: map_key.to_owned() });
                            }
                        }
                        _ => return Err(edit_error("a map takes `put` (an object) and `unset` (an array)")),
                    }
                }
            }
            Type::Counter => {
                let amount = value
                    .get("increment")
                    .and_then(Json::as_i64)
                    .ok_or_else(|| edit_error("a counter takes {\"increment\": n}"))?;
                edits.push(Edit::Increment { field: key.clone(), amount });
            }
            ty => edits.push(Edit::Set { field: key.clone(), value: from_json(schema, ty, value, key)? }),
        }
    }
    Ok(crate::op::Change::Update { collection: collection_name.to_owned(), row, edits })
}

/// The changes of `cairn put`: one row (an object) to insert into `collection`, or an array of
/// changes, each `{"insert": {fields}}`, `{"update": "row:…", "fields": {…}}` or
/// `{"delete": "row:…"}`, with `"collection"` naming another collection than the default.
pub fn changes_from_json(
    schema: &ir::Schema,
    collection: &str,
    json: &Json,
) -> Result<Vec<crate::op::Change>, RowJsonError> {
    let Json::Array(items) = json else {
        return Ok(vec![insert_from_json(schema, collection, json)?]);
    };
    let mut changes = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let object = fields_of(item)?;
        let malformed = |reason: &str| RowJsonError::Edit { field: format!("[{index}]"), reason: reason.to_owned() };
        let target = match object.get("collection") {
            Some(Json::String(name)) => name.as_str(),
            Some(_) => return Err(malformed("`collection` is a collection name")),
            None => collection,
        };
        let row_of = |value: &Json| -> Result<RowId, RowJsonError> {
            value.as_str().and_then(|text| text.parse().ok()).ok_or_else(|| malformed("a row id looks like `row:…`"))
        };
        let change = if let Some(fields) = object.get("insert") {
            insert_from_json(schema, target, fields)?
        } else if let Some(row) = object.get("update") {
            let fields = object.get("fields").ok_or_else(|| malformed("an update needs `fields`"))?;
            update_from_json(schema, target, row_of(row)?, fields)?
        } else if let Some(row) = object.get("delete") {
            collection_of(schema, target)?;
            crate::op::Change::Delete { collection: target.to_owned(), row: row_of(row)? }
        } else {
            return Err(malformed("a change is {\"insert\": …}, {\"update\": …, \"fields\": …} or {\"delete\": …}"));
        };
        changes.push(change);
    }
    Ok(changes)
}
