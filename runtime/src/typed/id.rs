//! `Id<C>`: the id of a row of the collection whose row struct is `C` (generated modules name
//! it `ChannelId = Id<Channel>`), so a message's `channel` cannot be given a membership's id.
//! Every impl is here once, for every collection.

use super::fields::{FieldValue, ValueMismatch};
use super::holds::{kinds, Holds};
use super::{Projection, Ref, RowKey};
use crate::cbor::Value;
use crate::ids::RowId;
use std::marker::PhantomData;

/// The id of a row of `C`'s collection.
pub struct Id<C> {
    row: RowId,
    collection: PhantomData<fn() -> C>,
}

impl<C> Id<C> {
    /// The id of row `row` (of `C`'s collection, which the caller vouches for).
    pub const fn new(row: RowId) -> Id<C> {
        Id { row, collection: PhantomData }
    }

    /// The row id, untyped.
    pub const fn row(self) -> RowId {
        self.row
    }
}

impl<C> Clone for Id<C> {
    fn clone(&self) -> Id<C> {
        *self
    }
}

impl<C> Copy for Id<C> {}

impl<C> PartialEq for Id<C> {
    fn eq(&self, other: &Id<C>) -> bool {
        self.row == other.row
    }
}

impl<C> Eq for Id<C> {}

impl<C> PartialOrd for Id<C> {
    fn partial_cmp(&self, other: &Id<C>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<C> Ord for Id<C> {
    fn cmp(&self, other: &Id<C>) -> std::cmp::Ordering {
        self.row.cmp(&other.row)
    }
}

impl<C> std::hash::Hash for Id<C> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.row.hash(state);
    }
}

/// `Channel(row:…)`.
impl<C: Projection> std::fmt::Debug for Id<C> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}({})", C::COLLECTION, self.row)
    }
}

/// The row id's text form, `row:…`.
impl<C> std::fmt::Display for Id<C> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.row, formatter)
    }
}

impl<C> std::str::FromStr for Id<C> {
    type Err = crate::ParseIdError;

    fn from_str(text: &str) -> Result<Id<C>, crate::ParseIdError> {
        text.parse().map(Id::new)
    }
}

impl<C> From<RowId> for Id<C> {
    fn from(row: RowId) -> Id<C> {
        Id::new(row)
    }
}

impl<C> From<Id<C>> for RowId {
    fn from(id: Id<C>) -> RowId {
        id.row
    }
}

impl<C> From<Id<C>> for Value {
    fn from(id: Id<C>) -> Value {
        Value::from(id.row)
    }
}

impl<C> From<Id<C>> for Ref<Id<C>> {
    fn from(id: Id<C>) -> Ref<Id<C>> {
        Ref::Row(id)
    }
}

impl<C> RowKey for Id<C> {}

impl<C> FieldValue for Id<C> {
    fn into_value(self) -> Value {
        self.row.into_value()
    }

    fn from_value(value: &Value) -> Result<Self, ValueMismatch> {
        RowId::from_value(value).map(Id::new)
    }
}

impl<C> Holds<kinds::Ref> for Id<C> {}

/// As the row id's text form.
impl<C> serde::Serialize for Id<C> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.row.serialize(serializer)
    }
}

impl<'de, C> serde::Deserialize<'de> for Id<C> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Id<C>, D::Error> {
        RowId::deserialize(deserializer).map(Id::new)
    }
}
