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

    /// Reads a row it may take apart (strings and collections are moved).
    fn from_owned_row(row: Row) -> Result<Self, RowDecodeError> {
        Self::from_row(&row)
    }

    /// The fields [`Projection::from_values`] reads, in its order; empty for a projection that
    /// reads rows by name only.
    const FIELDS: &'static [&'static str] = &[];

    /// Reads a row from its id and the values of [`Projection::FIELDS`], in that order: what
    /// typed queries use when `FIELDS` is not empty, so that no map of the row's fields by name
    /// is built for each row.
    fn from_values(id: crate::RowId, values: Vec<crate::cbor::Value>) -> Result<Self, RowDecodeError> {
        let fields = Self::FIELDS.iter().map(|name| (*name).to_owned()).zip(values).collect();
        Self::from_owned_row(Row { id, collection: Self::COLLECTION.to_owned(), fields })
    }
}

/// The values of a row's fields in [`Projection::FIELDS`] order, read one after the other (for
/// [`Projection::from_values`]): each is moved out, and a mismatch names its field.
#[derive(Debug)]
pub struct Values {
    collection: &'static str,
    names: std::slice::Iter<'static, &'static str>,
    values: std::vec::IntoIter<crate::cbor::Value>,
}

impl Values {
    /// The values of `names`, in that order, of a row of `collection`.
    pub fn new(collection: &'static str, names: &'static [&'static str], values: Vec<crate::cbor::Value>) -> Values {
        Values { collection, names: names.iter(), values: values.into_iter() }
    }

    /// The next field's value, read as `T`; past the values given, null.
    pub fn read<T: FieldValue>(&mut self) -> Result<T, RowDecodeError> {
        let name = self.names.next().copied().unwrap_or_default();
        let value = self.values.next().unwrap_or(crate::cbor::Value::Null);
        T::from_owned(value).map_err(|mismatch| field_error(self.collection, name, mismatch))
    }
}

/// Takes a field out of a row, read as `T` (for [`Projection::from_owned_row`]): strings and
/// collections are moved, not copied. A field the row lacks reads as null.
pub fn take<T: FieldValue>(row: &mut Row, name: &str) -> Result<T, RowDecodeError> {
    // Replaced in place, not removed: a lookup costs less than a rebalancing removal.
    let value = row
        .fields
        .get_mut(name)
        .map_or(crate::cbor::Value::Null, |value| std::mem::replace(value, crate::cbor::Value::Null));
    T::from_owned(value).map_err(|mismatch| field_error(&row.collection, name, mismatch))
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
    T::from_value(value).map_err(|mismatch| field_error(&row.collection, name, mismatch))
}

/// The error of a field that does not read as its Rust type: out of the way of the reads that
/// succeed.
#[cold]
#[inline(never)]
fn field_error(collection: &str, field: &str, mismatch: ValueMismatch) -> RowDecodeError {
    RowDecodeError::Field {
        collection: collection.to_owned(),
        field: field.to_owned(),
        expected: mismatch.expected,
        found: mismatch.found,
    }
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
    same_collection(&row.collection, collection)
}

/// Fails unless `found` is `expected`.
pub(crate) fn same_collection(found: &str, expected: &str) -> Result<(), RowDecodeError> {
    if found == expected {
        Ok(())
    } else {
        Err(RowDecodeError::Collection { expected: expected.to_owned(), found: found.to_owned() })
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

    fn message(fields: &[(&str, Value)]) -> Row {
        Row {
            id: RowId([7; 32]),
            collection: "Message".into(),
            fields: fields.iter().map(|(name, value)| (name.to_string(), value.clone())).collect(),
        }
    }

    #[test]
    fn a_taken_field_is_moved_out_and_a_missing_one_is_null() {
        let mut row = message(&[("body", Value::Text("hi".into())), ("likes", Value::Int(3))]);
        assert_eq!(take::<String>(&mut row, "body"), Ok("hi".to_owned()));
        assert_eq!(row.fields.get("body"), Some(&Value::Null), "moved out, the field left as null");
        assert_eq!(take::<Option<i64>>(&mut row, "channel"), Ok(None));
        assert_eq!(take::<i64>(&mut row, "likes"), Ok(3));
    }

    #[test]
    fn values_are_read_in_order_and_a_mismatch_names_its_field() {
        let mut values =
            Values::new("Message", &["body", "likes", "topic"], vec![Value::Text("hi".into()), Value::Int(3)]);
        assert_eq!(values.read::<String>(), Ok("hi".to_owned()));
        assert_eq!(values.read::<i64>(), Ok(3));
        // Past the values given: null.
        assert_eq!(values.read::<Option<String>>(), Ok(None));
        let mut values = Values::new("Message", &["body"], vec![Value::Int(1)]);
        match values.read::<String>() {
            Err(RowDecodeError::Field { collection, field, .. }) => {
                assert_eq!((collection.as_str(), field.as_str()), ("Message", "body"))
            }
            other => panic!("expected a field mismatch, got {other:?}"),
        }
    }

    /// A projection written by hand, with `FIELDS` and only `from_row`: `from_values` builds the
    /// row it reads.
    #[derive(Debug, PartialEq)]
    struct Likes {
        body: String,
        likes: i64,
    }

    impl Projection for Likes {
        const COLLECTION: &'static str = "Message";
        const FIELDS: &'static [&'static str] = &["body", "likes"];

        fn from_row(row: &Row) -> Result<Self, RowDecodeError> {
            expect_collection(row, Self::COLLECTION)?;
            Ok(Likes { body: field(row, "body")?, likes: field(row, "likes")? })
        }
    }

    #[test]
    fn from_values_defaults_to_reading_the_row_by_name() {
        let read = Likes::from_values(RowId([7; 32]), vec![Value::Text("hi".into()), Value::Int(2)]);
        assert_eq!(read, Ok(Likes { body: "hi".into(), likes: 2 }));
    }

    #[test]
    fn a_mismatched_field_is_named_and_another_collection_refused() {
        let mut row = message(&[("body", Value::Int(1))]);
        match take::<String>(&mut row, "body") {
            Err(RowDecodeError::Field { collection, field, expected, .. }) => {
                assert_eq!((collection.as_str(), field.as_str(), expected), ("Message", "body", "a string"));
            }
            other => panic!("expected a field mismatch, got {other:?}"),
        }
        assert!(matches!(
            expect_collection(&row, "Channel"),
            Err(RowDecodeError::Collection { expected, found }) if expected == "Channel" && found == "Message"
        ));
    }
}
