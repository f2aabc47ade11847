//! The typed layer that generated code (`schemac gen rust`, [`crate::schema!`],
//! [`crate::include_schema!`]) and `#[derive(Projection)]` stand on: Rust types for field
//! values ([`FieldValue`]), rows read into structs ([`Projection`]), a database handle that
//! writes as one author ([`Database`]) with typed transactions and queries, typed event
//! consumers, and the embedded schema a generated module carries.
//!
//! Everything here goes through the dynamic API underneath: one write path, one rule judge.

mod database;
mod fields;
mod holds;
mod id;

pub use database::{
    Committed, Database, EditSink, Insert, New, Ref, RowKey, TypedConsumer, TypedEvent, TypedQuery, TypedTransaction,
};
pub use fields::{describe, record_field, FieldValue, Timestamp, ValueMismatch};
pub use holds::{assert_holds, kinds, Holds};
pub use id::Id;

use crate::error::{OpenError, RowDecodeError};
use crate::replica::Row;

/// A Rust type that a row of one collection reads into: the structs generated for each
/// collection, and app structs that `#[derive(Projection)]` checks against the schema.
pub trait Projection: Sized {
    /// The collection its rows come from.
    const COLLECTION: &'static str;
    /// Reads a row of [`Projection::COLLECTION`].
    fn from_row(row: &Row) -> Result<Self, RowDecodeError>;

    /// Reads a row it may take apart (what queries use: strings and collections are moved).
    fn from_owned_row(row: Row) -> Result<Self, RowDecodeError> {
        Self::from_row(&row)
    }
}

/// A row taken apart field by field, in one pass over its fields (for
/// [`Projection::from_owned_row`]): strings and collections are moved out, and no field is
/// looked up. Generated row structs ask for their fields in name order, as the row holds them.
#[derive(Debug)]
pub struct OwnedFields {
    collection: String,
    fields: std::iter::Peekable<std::collections::btree_map::IntoIter<String, crate::cbor::Value>>,
}

impl OwnedFields {
    /// The fields of `row`, once its collection is `collection`.
    pub fn of(row: Row, collection: &str) -> Result<(crate::RowId, OwnedFields), RowDecodeError> {
        expect_collection(&row, collection)?;
        Ok((row.id, OwnedFields { collection: row.collection, fields: row.fields.into_iter().peekable() }))
    }

    /// The field `name`, read as `T`; a field the row lacks reads as null. Names must be asked
    /// in ascending order: the fields before `name` are passed over for good.
    pub fn take<T: FieldValue>(&mut self, name: &str) -> Result<T, RowDecodeError> {
        while self.fields.next_if(|(key, _)| key.as_str() < name).is_some() {}
        let value = self.fields.next_if(|(key, _)| key == name).map_or(crate::cbor::Value::Null, |(_, value)| value);
        T::from_owned(value).map_err(|mismatch| RowDecodeError::Field {
            collection: self.collection.clone(),
            field: name.to_owned(),
            expected: mismatch.expected,
            found: mismatch.found,
        })
    }
}

impl crate::Replica {
    /// A visible row read as `P` (a generated row struct, or a `#[derive(Projection)]`).
    pub fn get_as<P: Projection>(&self, id: &crate::RowId) -> Result<Option<P>, crate::QueryError> {
        match self.get(P::COLLECTION, id)? {
            Some(row) => Ok(Some(P::from_owned_row(row)?)),
            None => Ok(None),
        }
    }

    /// A query over the visible rows of `P`'s collection, read as `P`.
    pub fn query_as<P: Projection>(&self) -> TypedQuery<'_, P> {
        TypedQuery::new(self.query(P::COLLECTION))
    }
}

/// The edit that sets a field to a typed value.
pub fn set(field: &str, value: impl FieldValue) -> crate::Edit {
    crate::Edit::set(field, value.into_value())
}

/// The edit that adds typed elements to a set field.
pub fn add<T: FieldValue>(field: &str, elements: impl IntoIterator<Item = T>) -> crate::Edit {
    crate::Edit::add(field, elements.into_iter().map(T::into_value))
}

/// The edit that removes typed elements from a set field.
pub fn remove<T: FieldValue>(field: &str, elements: impl IntoIterator<Item = T>) -> crate::Edit {
    crate::Edit::remove(field, elements.into_iter().map(T::into_value))
}

/// The edit that sets one key of a map field to a typed value.
pub fn put(field: &str, key: &str, value: impl FieldValue) -> crate::Edit {
    crate::Edit::put(field, key, value.into_value())
}

/// Ordering comparisons as `check` constraints make them, for compiled checks: false when
/// either side is null (`None`), whatever the other (a comparison is never null).
pub mod compare {
    /// `left < right`.
    pub fn lt<T: PartialOrd>(left: Option<T>, right: Option<T>) -> bool {
        matches!((left, right), (Some(left), Some(right)) if left < right)
    }

    /// `left <= right`.
    pub fn le<T: PartialOrd>(left: Option<T>, right: Option<T>) -> bool {
        matches!((left, right), (Some(left), Some(right)) if left <= right)
    }

    /// `left > right`.
    pub fn gt<T: PartialOrd>(left: Option<T>, right: Option<T>) -> bool {
        matches!((left, right), (Some(left), Some(right)) if left > right)
    }

    /// `left >= right`.
    pub fn ge<T: PartialOrd>(left: Option<T>, right: Option<T>) -> bool {
        matches!((left, right), (Some(left), Some(right)) if left >= right)
    }
}

/// A field of a row, read as `T`; a field the row lacks reads as null.
pub fn field<T: FieldValue>(row: &Row, name: &str) -> Result<T, RowDecodeError> {
    let value = row.fields.get(name).unwrap_or(&crate::cbor::Value::Null);
    T::from_value(value).map_err(|mismatch| RowDecodeError::Field {
        collection: row.collection.clone(),
        field: name.to_owned(),
        expected: mismatch.expected,
        found: mismatch.found,
    })
}

/// A field an update event says changed, read as `T`; `None` when it did not change.
pub fn changed<T: FieldValue>(row: &Row, name: &str) -> Result<Option<T>, RowDecodeError> {
    match row.fields.contains_key(name) {
        true => field(row, name).map(Some),
        false => Ok(None),
    }
}

/// The row a row event is about, with the fields it carries (every field for an insert, the
/// changed ones for an update, none for a delete).
pub fn event_row(event: &crate::Event) -> Result<Row, RowDecodeError> {
    match (&event.collection, event.row) {
        (Some(collection), Some(id)) => Ok(Row { id, collection: collection.clone(), fields: event.fields.clone() }),
        _ => Err(RowDecodeError::Incomplete),
    }
}

/// Fails unless `row` is in `collection`.
pub fn expect_collection(row: &Row, collection: &str) -> Result<(), RowDecodeError> {
    if row.collection == collection {
        Ok(())
    } else {
        Err(RowDecodeError::Collection { expected: collection.to_owned(), found: row.collection.clone() })
    }
}

/// The schema a generated module embeds (its IR as JSON), checked against the hash it was
/// generated with: a module edited by hand, or read by a runtime that reads the IR otherwise,
/// is refused rather than trusted.
pub fn embedded_schema(ir_json: &str, hash: &str) -> Result<crate::Schema, OpenError> {
    let schema: crate::Schema = serde_json::from_str(ir_json)
        .map_err(|error| OpenError::Schema { hash: hash.to_owned(), reason: error.to_string() })?;
    let actual = schemac::schema_hash(&schema).to_string();
    if actual != hash {
        return Err(OpenError::Schema {
            hash: hash.to_owned(),
            reason: format!("the embedded schema hashes to {actual}: regenerate the module"),
        });
    }
    Ok(schema)
}

/// Includes the module `schemac` generated for a schema from `OUT_DIR` (written there by a
/// build script with `schemac::Builder` or `schemac::compile`): `mod chat {
/// cairn::include_schema!("chat"); }`. The name is the one in the schema's `schema chat;`.
/// An app uses part of the generated API, so the rest is not reported as dead code.
#[macro_export]
macro_rules! include_schema {
    ($name:literal) => {
        #[allow(dead_code)]
        mod __cairn_generated {
            include!(concat!(env!("OUT_DIR"), "/", $name, ".rs"));
        }
        pub use __cairn_generated::*;
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::Value;
    use crate::RowId;

    fn row(fields: &[(&str, Value)]) -> Row {
        Row {
            id: RowId([7; 32]),
            collection: "Message".into(),
            fields: fields.iter().map(|(name, value)| (name.to_string(), value.clone())).collect(),
        }
    }

    #[test]
    fn owned_fields_are_read_in_one_pass_and_a_missing_one_is_null() {
        let message = row(&[("body", Value::Text("hi".into())), ("likes", Value::Int(3)), ("zeta", Value::Int(1))]);
        let (id, mut fields) = OwnedFields::of(message, "Message").expect("a message");
        assert_eq!(id, RowId([7; 32]));
        assert_eq!(fields.take::<String>("body"), Ok("hi".to_owned()));
        // `channel` sorts between `body` and `likes` and the row lacks it: null.
        assert_eq!(fields.take::<Option<i64>>("channel"), Ok(None));
        assert_eq!(fields.take::<i64>("likes"), Ok(3));
        // Past the end, or a name the row skipped over: null.
        assert_eq!(fields.take::<Option<i64>>("zz"), Ok(None));
    }

    #[test]
    fn owned_fields_refuse_another_collection_and_name_a_mismatched_field() {
        assert!(matches!(
            OwnedFields::of(row(&[]), "Channel"),
            Err(RowDecodeError::Collection { expected, found }) if expected == "Channel" && found == "Message"
        ));
        let (_, mut fields) = OwnedFields::of(row(&[("body", Value::Int(1))]), "Message").expect("a message");
        match fields.take::<String>("body") {
            Err(RowDecodeError::Field { collection, field, expected, .. }) => {
                assert_eq!((collection.as_str(), field.as_str(), expected), ("Message", "body", "a string"));
            }
            other => panic!("expected a field mismatch, got {other:?}"),
        }
    }
}
