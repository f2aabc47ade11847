//! Which Rust types may hold a field of which schema type: one marker type per schema type
//! ([`kinds`]), and [`Holds`], implemented for the Rust types that fit. `#[derive(Projection)]`
//! asserts `FieldType: Holds<kind>` for every field, so a wrong type is a compile error on that
//! field. Generated ids, enums and records hold `Ref`, `Enum` and `Record`.

use super::fields::Timestamp;
use crate::cbor::Value;
use crate::ids::{Identity, RowId};
use std::collections::{BTreeMap, BTreeSet};

/// One marker per schema type.
pub mod kinds {
    use std::marker::PhantomData;

    /// `bool`.
    pub struct Bool;
    /// `int`.
    pub struct Int;
    /// `float`.
    pub struct Float;
    /// `string`.
    pub struct Text;
    /// `bytes`.
    pub struct Bytes;
    /// `timestamp`.
    pub struct Timestamp;
    /// `identity`.
    pub struct Identity;
    /// `ref C`.
    pub struct Ref;
    /// An enum.
    pub struct Enum;
    /// A record.
    pub struct Record;
    /// `counter`.
    pub struct Counter;
    /// `T?`.
    pub struct Optional<K>(PhantomData<K>);
    /// `list<T>`.
    pub struct List<K>(PhantomData<K>);
    /// `set<T>`.
    pub struct Set<K>(PhantomData<K>);
    /// `map<string, T>`.
    pub struct Map<K>(PhantomData<K>);
}

/// A Rust type that can hold a field whose schema type is `K` (a marker of [`kinds`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold this field of the schema",
    label = "the schema's type for this field does not fit `{Self}`"
)]
pub trait Holds<K> {}

impl Holds<kinds::Bool> for bool {}
impl Holds<kinds::Int> for i64 {}
impl Holds<kinds::Counter> for i64 {}
impl Holds<kinds::Float> for f64 {}
impl Holds<kinds::Text> for String {}
impl Holds<kinds::Enum> for String {}
impl Holds<kinds::Bytes> for Vec<u8> {}
impl Holds<kinds::Timestamp> for Timestamp {}
impl Holds<kinds::Identity> for Identity {}
impl Holds<kinds::Ref> for RowId {}
impl<K, T: Holds<K>> Holds<kinds::Optional<K>> for Option<T> {}
impl<K, T: Holds<K>> Holds<kinds::List<K>> for Vec<T> {}
impl<K, T: Holds<K> + Ord> Holds<kinds::Set<K>> for BTreeSet<T> {}
impl<K, T: Holds<K>> Holds<kinds::Set<K>> for Vec<T> {}
impl<K, T: Holds<K>> Holds<kinds::Map<K>> for BTreeMap<String, T> {}
/// A `Value` holds anything: the escape hatch for a field read unconverted.
impl<K> Holds<K> for Value {}

/// Compiles only when `T` can hold a field of schema type `K`.
pub const fn assert_holds<T: Holds<K>, K>() {}
