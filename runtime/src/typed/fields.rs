//! Field values as Rust types: [`FieldValue`] converts between a Rust type and the [`Value`] a
//! field of the matching schema type holds (docs/SPEC.md §2.2), both ways. Generated code and
//! `#[derive(Projection)]` read and write every field through it.

use crate::cbor::Value;
use crate::ids::{Identity, RowId};
use std::collections::{BTreeMap, BTreeSet};

/// A value of the wrong shape for the Rust type asked for: what the type reads and what the
/// value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueMismatch {
    /// What the Rust type reads, e.g. "a string".
    pub expected: &'static str,
    /// What the value is, e.g. "an int".
    pub found: &'static str,
}

/// The kind of a value, in words, for errors.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Int(_) => "an int",
        Value::Float(_) => "a float",
        Value::Text(_) => "a string",
        Value::Bytes(_) => "bytes",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
    }
}

/// A Rust type that a field holds: converted into the field's [`Value`] when written, and read
/// back from it.
pub trait FieldValue: Sized {
    /// The value the field holds.
    fn into_value(self) -> Value;
    /// Reads the type from a field's value.
    fn from_value(value: &Value) -> Result<Self, ValueMismatch>;

    /// Reads the type from a field's value it may take apart (strings and collections are
    /// moved, not copied).
    fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
        Self::from_value(&value)
    }
}

#[cold]
fn mismatch<T>(expected: &'static str, value: &Value) -> Result<T, ValueMismatch> {
    Err(ValueMismatch { expected, found: describe(value) })
}

/// A `timestamp`: milliseconds since the Unix epoch (negative before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(time: std::time::SystemTime) -> Timestamp {
        match Value::timestamp(time) {
            Value::Int(millis) => Timestamp(millis),
            _ => Timestamp(0),
        }
    }
}

impl From<Timestamp> for Value {
    fn from(time: Timestamp) -> Value {
        Value::Int(time.0)
    }
}

macro_rules! scalar {
    ($type:ty, $expected:literal, $variant:ident, $into:expr, $from:expr $(, $owned:ident)?) => {
        impl FieldValue for $type {
            fn into_value(self) -> Value {
                let into: fn($type) -> Value = $into;
                into(self)
            }

            #[inline]
            fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
                // Called directly, not through a function pointer, so that it inlines.
                if let Value::$variant(inner) = value {
                    if let Some(read) = ($from)(inner) {
                        return Ok(read);
                    }
                }
                mismatch($expected, value)
            }

            $(scalar!(@$owned $variant, $expected);)?
        }
    };
    // A value that holds the Rust value itself is moved out, not copied.
    (@owned $variant:ident, $expected:literal) => {
        fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
            match value {
                Value::$variant(inner) => Ok(inner),
                other => mismatch($expected, &other),
            }
        }
    };
}

scalar!(bool, "a bool", Bool, Value::Bool, |inner: &bool| Some(*inner));
scalar!(i64, "an int", Int, Value::Int, |inner: &i64| Some(*inner));
scalar!(f64, "a float", Float, Value::Float, |inner: &f64| Some(*inner));
scalar!(String, "a string", Text, Value::Text, |inner: &String| Some(inner.clone()), owned);
scalar!(Vec<u8>, "bytes", Bytes, Value::Bytes, |inner: &Vec<u8>| Some(inner.clone()), owned);
scalar!(Timestamp, "a timestamp", Int, Value::from, |inner: &i64| Some(Timestamp(*inner)));
scalar!(Identity, "an identity", Bytes, Value::from, |inner: &Vec<u8>| inner.as_slice().try_into().ok().map(Identity));
scalar!(RowId, "a row id", Bytes, Value::from, |inner: &Vec<u8>| inner.as_slice().try_into().ok().map(RowId));

/// Any value, unconverted.
impl FieldValue for Value {
    fn into_value(self) -> Value {
        self
    }

    fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
        Ok(value.clone())
    }

    fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
        Ok(value)
    }
}

/// An optional field: `None` is null.
impl<T: FieldValue> FieldValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, T::into_value)
    }

    fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
        match value {
            Value::Null => Ok(None),
            value => T::from_value(value).map(Some),
        }
    }

    fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
        match value {
            Value::Null => Ok(None),
            value => T::from_owned(value).map(Some),
        }
    }
}

/// The elements of an array value, read into any collection (a list or a set).
fn collect_array<T: FieldValue, C: FromIterator<T>>(value: &Value) -> Result<C, ValueMismatch> {
    match value {
        Value::Array(items) => items.iter().map(T::from_value).collect(),
        _ => mismatch("an array", value),
    }
}

/// [`collect_array`], taking the value.
fn collect_owned_array<T: FieldValue, C: FromIterator<T>>(value: Value) -> Result<C, ValueMismatch> {
    match value {
        Value::Array(items) => items.into_iter().map(T::from_owned).collect(),
        other => mismatch("an array", &other),
    }
}

/// A `list`, or a `set` of elements without an order in Rust (floats, records).
impl<T: FieldValue> FieldValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::Array(self.into_iter().map(T::into_value).collect())
    }

    fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
        collect_array(value)
    }

    fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
        collect_owned_array(value)
    }
}

/// A `set`.
impl<T: FieldValue + Ord> FieldValue for BTreeSet<T> {
    fn into_value(self) -> Value {
        Value::set(self.into_iter().map(T::into_value))
    }

    fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
        collect_array(value)
    }

    fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
        collect_owned_array(value)
    }
}

/// A `map<string, T>`.
impl<T: FieldValue> FieldValue for BTreeMap<String, T> {
    fn into_value(self) -> Value {
        Value::Map(self.into_iter().map(|(key, value)| (key, value.into_value())).collect())
    }

    fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
        match value {
            Value::Map(entries) => {
                entries.iter().map(|(key, entry)| Ok((key.clone(), T::from_value(entry)?))).collect()
            }
            _ => mismatch("a map", value),
        }
    }

    fn from_owned(value: Value) -> Result<Self, ValueMismatch> {
        match value {
            Value::Map(entries) => entries.into_iter().map(|(key, entry)| Ok((key, T::from_owned(entry)?))).collect(),
            other => mismatch("a map", &other),
        }
    }
}

/// A record's field, by name, from the record's value: null when the record leaves it out.
pub fn record_field<T: FieldValue>(record: &Value, name: &str) -> Result<T, ValueMismatch> {
    match record {
        Value::Map(entries) => {
            let entry = entries.iter().find(|(key, _)| key == name).map_or(&Value::Null, |(_, entry)| entry);
            T::from_value(entry)
        }
        _ => mismatch("a record", record),
    }
}
