//! Rust types for schema types: in a row (`ref Channel` is `ChannelId`, `set<string>` a
//! `BTreeSet<String>`, `T?` an `Option<T>`), in a new row (a `ref` may also be a row inserted
//! earlier in the same transaction), and which types are ordered or comparable.

use super::names::ident;
use super::Context;
use crate::ir::Type;

/// The id type of a collection's rows: `ChannelId`.
pub fn id_type(collection: &str) -> String {
    format!("{collection}Id")
}

/// The Rust type of a field of type `ty` in a row.
pub fn row_type(cx: &Context, ty: &Type) -> String {
    let rt = &cx.rt;
    match ty {
        Type::Bool => "bool".into(),
        Type::Int | Type::Counter => "i64".into(),
        Type::Float => "f64".into(),
        Type::String => "String".into(),
        Type::Bytes => "Vec<u8>".into(),
        Type::Timestamp => format!("{rt}::Timestamp"),
        Type::Identity => format!("{rt}::Identity"),
        Type::Ref(collection) => id_type(collection),
        Type::Enum(name) | Type::Record(name) => match cx.extern_type(name) {
            Some(path) => path.to_owned(),
            None => ident(name),
        },
        Type::Optional(inner) => format!("Option<{}>", row_type(cx, inner)),
        Type::List(inner) => format!("Vec<{}>", row_type(cx, inner)),
        Type::Set(inner) if is_ordered(cx, inner) => {
            format!("::std::collections::BTreeSet<{}>", row_type(cx, inner))
        }
        Type::Set(inner) => format!("Vec<{}>", row_type(cx, inner)),
        Type::Map(inner) => format!("::std::collections::BTreeMap<String, {}>", row_type(cx, inner)),
    }
}

/// The Rust type of a field in a new row: as in a row, except that a `ref` (or an optional
/// one) may name a row inserted earlier in the same transaction.
pub fn new_type(cx: &Context, ty: &Type) -> String {
    match ty {
        Type::Ref(collection) => format!("{}::typed::Ref<{}>", cx.rt, id_type(collection)),
        Type::Optional(inner) if matches!(**inner, Type::Ref(_)) => format!("Option<{}>", new_type(cx, inner)),
        other => row_type(cx, other),
    }
}

/// Whether the Rust type for `ty` is `Ord` (so a set of it can be a `BTreeSet`).
pub fn is_ordered(cx: &Context, ty: &Type) -> bool {
    match ty {
        Type::Bool
        | Type::Int
        | Type::Counter
        | Type::String
        | Type::Bytes
        | Type::Timestamp
        | Type::Identity
        | Type::Ref(_) => true,
        Type::Enum(name) => !cx.options.extern_types.contains_key(name),
        Type::Optional(inner) => is_ordered(cx, inner),
        Type::Float | Type::Record(_) | Type::List(_) | Type::Set(_) | Type::Map(_) => false,
    }
}

/// Whether `ty` holds a float anywhere (then the Rust type is not `Eq`).
pub fn has_float(cx: &Context, ty: &Type) -> bool {
    match ty {
        Type::Float => true,
        Type::Record(name) => {
            cx.options.extern_types.contains_key(name)
                || cx
                    .schema
                    .records
                    .get(name)
                    .is_some_and(|record| record.fields.iter().any(|field| has_float(cx, &field.ty)))
        }
        Type::Optional(inner) | Type::List(inner) | Type::Set(inner) | Type::Map(inner) => has_float(cx, inner),
        _ => false,
    }
}

/// Whether a field may be left out of an insert: it starts null, empty or at zero.
pub fn starts_empty(ty: &Type) -> bool {
    matches!(ty, Type::Optional(_) | Type::Set(_) | Type::Map(_) | Type::List(_) | Type::Counter)
}
