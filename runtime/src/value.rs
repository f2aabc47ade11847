//! Building [`Value`]s from Rust values and reading them back: the mapping of docs/SPEC.md §2.2
//! (identities and row ids as 32 bytes, timestamps as milliseconds, enum variants as their
//! names), so that callers of the dynamic API never spell encodings by hand.

use crate::cbor::Value;
use crate::ids::{Identity, RowId};

macro_rules! from_integer {
    ($($integer:ty),*) => {$(
        impl From<$integer> for Value {
            fn from(value: $integer) -> Value {
                Value::Int(i64::from(value))
            }
        }
    )*};
}
from_integer!(i64, i32, i16, i8, u32, u16);

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::Float(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Value {
        Value::Text(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Value {
        Value::Text(value)
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Value {
        Value::Bytes(value.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Value {
        Value::Bytes(value)
    }
}

impl From<Identity> for Value {
    fn from(value: Identity) -> Value {
        Value::Bytes(value.0.to_vec())
    }
}

impl From<RowId> for Value {
    fn from(value: RowId) -> Value {
        Value::Bytes(value.0.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    /// A `list`. (A `set` must be sorted by encoding: [`Value::set`] does it.)
    fn from(values: Vec<T>) -> Value {
        Value::Array(values.into_iter().map(Into::into).collect())
    }
}

impl Value {
    /// A `set<T>` in its one canonical form: elements sorted by their encoding, without repeats.
    pub fn set<T: Into<Value>>(elements: impl IntoIterator<Item = T>) -> Value {
        let mut values: Vec<Value> = elements.into_iter().map(Into::into).collect();
        crate::cbor::canonical_set(&mut values);
        Value::Array(values)
    }

    /// A `timestamp`: milliseconds since the Unix epoch (negative before it).
    pub fn timestamp(time: std::time::SystemTime) -> Value {
        let millis = match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |millis| -millis),
        };
        Value::Int(millis)
    }

    /// Whether the value is `Null` (an empty optional field).
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A `bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    /// An `int`, `counter` or `timestamp`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// A `float`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(value) => Some(*value),
            _ => None,
        }
    }

    /// A `string`, or an enum variant's name.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// `bytes` (and the bytes of an identity or a row id).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// An `identity`.
    pub fn as_identity(&self) -> Option<Identity> {
        self.as_bytes().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()).map(Identity)
    }

    /// The id a `ref` field holds.
    pub fn as_row_id(&self) -> Option<RowId> {
        self.as_bytes().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()).map(RowId)
    }

    /// The elements of a `list` or `set`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a `map` or record.
    pub fn as_map(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// One entry of a `map` or field of a record.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?.iter().find(|(name, _)| name == key).map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_built_from_rust_values_read_back() {
        let row = RowId([3; 32]);
        assert_eq!(Value::from(row).as_row_id(), Some(row));
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::from(7u32).as_i64(), Some(7));
        assert_eq!(Value::from(1.5).as_f64(), Some(1.5));
        assert_eq!(Value::from(vec!["b", "a"]).as_array().map(<[Value]>::len), Some(2));
        assert_eq!(Value::set(["b", "a", "b"]), Value::Array(vec![Value::from("a"), Value::from("b")]));
        let epoch = std::time::UNIX_EPOCH;
        assert_eq!(Value::timestamp(epoch + std::time::Duration::from_millis(1500)), Value::Int(1500));
        assert_eq!(Value::timestamp(epoch - std::time::Duration::from_millis(20)), Value::Int(-20));
        let record = Value::Map(vec![("city".into(), Value::from("Lisbon"))]);
        assert_eq!(record.get("city").and_then(Value::as_str), Some("Lisbon"));
        assert_eq!(Value::from("text").as_identity(), None);
    }
}
