//! Rust types for schema types: in a row (`ref Channel` is `ChannelId`, `set<string>` a
//! `BTreeSet<String>`, `T?` an `Option<T>`), in a new row (a `ref` may also be a row inserted
//! earlier in the same transaction), and the marker a derive asserts a field's type against.

use super::names::ident;
use super::{Context, GenError};
use crate::ir::Type;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The id type of a collection's rows: `ChannelId`.
pub fn id_ident(collection: &str) -> proc_macro2::Ident {
    format_ident!("{}Id", collection)
}

/// The Rust type of a field of type `ty` in a row.
pub fn row_type(cx: &Context, ty: &Type) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    Ok(match ty {
        Type::Bool => quote!(bool),
        Type::Int | Type::Counter => quote!(i64),
        Type::Float => quote!(f64),
        Type::String => quote!(String),
        Type::Bytes => quote!(Vec<u8>),
        Type::Timestamp => quote!(#rt::Timestamp),
        Type::Identity => quote!(#rt::Identity),
        Type::Ref(collection) => {
            let id = id_ident(collection);
            quote!(#id)
        }
        Type::Enum(name) | Type::Record(name) => match cx.extern_type(name)? {
            Some(path) => path,
            None => {
                let name = ident(name);
                quote!(#name)
            }
        },
        Type::Optional(inner) => {
            let inner = row_type(cx, inner)?;
            quote!(Option<#inner>)
        }
        Type::List(inner) => {
            let inner = row_type(cx, inner)?;
            quote!(Vec<#inner>)
        }
        Type::Set(inner) => {
            let element = row_type(cx, inner)?;
            if is_ordered(cx, inner) {
                quote!(::std::collections::BTreeSet<#element>)
            } else {
                quote!(Vec<#element>)
            }
        }
        Type::Map(inner) => {
            let inner = row_type(cx, inner)?;
            quote!(::std::collections::BTreeMap<String, #inner>)
        }
    })
}

/// The Rust type of a field in a new row: as in a row, except that a `ref` (or an optional
/// one) may name a row inserted earlier in the same transaction.
pub fn new_type(cx: &Context, ty: &Type) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    Ok(match ty {
        Type::Ref(collection) => {
            let id = id_ident(collection);
            quote!(#rt::typed::Ref<#id>)
        }
        Type::Optional(inner) if matches!(**inner, Type::Ref(_)) => {
            let inner = new_type(cx, inner)?;
            quote!(Option<#inner>)
        }
        other => row_type(cx, other)?,
    })
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

/// The marker of `cairn::typed::kinds` for a schema type (what `#[derive(Projection)]`
/// asserts a field's Rust type against).
pub fn holds_kind(rt: &TokenStream, ty: &Type) -> TokenStream {
    let kinds = quote!(#rt::typed::kinds);
    match ty {
        Type::Bool => quote!(#kinds::Bool),
        Type::Int => quote!(#kinds::Int),
        Type::Counter => quote!(#kinds::Counter),
        Type::Float => quote!(#kinds::Float),
        Type::String => quote!(#kinds::Text),
        Type::Bytes => quote!(#kinds::Bytes),
        Type::Timestamp => quote!(#kinds::Timestamp),
        Type::Identity => quote!(#kinds::Identity),
        Type::Ref(_) => quote!(#kinds::Ref),
        Type::Enum(_) => quote!(#kinds::Enum),
        Type::Record(_) => quote!(#kinds::Record),
        Type::Optional(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::Optional<#inner>)
        }
        Type::List(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::List<#inner>)
        }
        Type::Set(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::Set<#inner>)
        }
        Type::Map(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::Map<#inner>)
        }
    }
}

/// Whether a field may be left out of an insert: it starts null, empty or at zero.
pub fn starts_empty(ty: &Type) -> bool {
    matches!(ty, Type::Optional(_) | Type::Set(_) | Type::Map(_) | Type::List(_) | Type::Counter)
}

/// Whether queries may filter on a field of this type by equality.
pub fn is_filterable(ty: &Type) -> bool {
    match ty {
        Type::Optional(inner) => is_filterable(inner),
        Type::Bool
        | Type::Int
        | Type::Float
        | Type::String
        | Type::Bytes
        | Type::Timestamp
        | Type::Identity
        | Type::Ref(_)
        | Type::Enum(_) => true,
        Type::Record(_) | Type::List(_) | Type::Set(_) | Type::Map(_) | Type::Counter => false,
    }
}
