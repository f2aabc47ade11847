//! `check` constraints compiled to Rust. Each check becomes a function over the views of the
//! fields it reads (`Option<&str>` for a string, `Option<i64>` for an int or a timestamp, …,
//! `None` for null), with the runtime interpreter's semantics exactly: `=` and `!=` compare
//! null like any value, an ordering comparison that reads null or values of different kinds is
//! false, `len` of null is null, `and`/`or`/`not` treat anything but `true` as false. A
//! differential property test holds the two to it, through the row structs' `check`; insert
//! structs call the same functions.
//!
//! Row structs call every check; insert structs call those they can decide (a field left to
//! its default, or a `ref` to a row of the same transaction, leaves the check to the runtime).

use super::names::{ident, snake};
use super::types::row_type;
use super::{Context, GenError};
use crate::ir::{self, Comparison, Expr, RowRef, Type};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, ToTokens};
use std::collections::BTreeSet;

/// What a compiled subexpression yields, beside null: the interpreter's value kinds.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Text,
    Bytes,
    Identity,
    Row,
    Record(String),
    Collection,
}

fn kind(ty: &Type) -> Kind {
    match ty {
        Type::Optional(inner) => kind(inner),
        Type::Bool => Kind::Bool,
        Type::Int | Type::Counter | Type::Timestamp => Kind::Int,
        Type::Float => Kind::Float,
        Type::String | Type::Enum(_) => Kind::Text,
        Type::Bytes => Kind::Bytes,
        Type::Identity => Kind::Identity,
        Type::Ref(_) => Kind::Row,
        Type::Record(name) => Kind::Record(name.clone()),
        Type::List(_) | Type::Set(_) | Type::Map(_) => Kind::Collection,
    }
}

/// The view type of a field of type `ty`, as a check function's parameter.
fn view_type(cx: &Context, ty: &Type) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    Ok(match ty {
        Type::Optional(inner) => return view_type(cx, inner),
        Type::Bool => quote!(bool),
        Type::Int | Type::Counter | Type::Timestamp => quote!(i64),
        Type::Float => quote!(f64),
        Type::String | Type::Enum(_) => quote!(&str),
        Type::Bytes => quote!(&[u8]),
        Type::Identity => quote!(#rt::Identity),
        Type::Ref(_) => quote!(#rt::RowId),
        Type::List(inner) => {
            let element = row_type(cx, inner)?;
            quote!(&[#element])
        }
        Type::Set(inner) if !super::types::is_ordered(cx, inner) => {
            let element = row_type(cx, inner)?;
            quote!(&[#element])
        }
        Type::Record(_) | Type::Set(_) | Type::Map(_) => {
            let ty = row_type(cx, ty)?;
            quote!(&#ty)
        }
    })
}

/// A view: a value known to be there (`Some(x)` once wrapped), or an `Option` already.
enum View {
    Present(TokenStream),
    Maybe(TokenStream),
}

impl View {
    /// The view as an `Option`.
    fn option(self) -> TokenStream {
        match self {
            View::Present(value) => quote!(Some(#value)),
            View::Maybe(value) => value,
        }
    }

    /// `option.map(|binding| view)` or `option.and_then(|binding| view)`, as the view needs.
    fn under(self, option: TokenStream, binding: &Ident) -> TokenStream {
        match self {
            View::Present(value) => quote!(#option.map(|#binding| #value)),
            View::Maybe(value) => quote!(#option.and_then(|#binding| #value)),
        }
    }
}

/// The view of `value`, a field of type `ty` as a row holds it: a place (`self.name`) or, when
/// `by_reference`, a reference to one (a closure's argument).
fn view(cx: &Context, value: TokenStream, ty: &Type, by_reference: bool) -> View {
    let copied = if by_reference { quote!(*#value) } else { quote!(#value) };
    let slice_set = |inner: &Type| !super::types::is_ordered(cx, inner);
    match ty {
        Type::Optional(inner) => match &**inner {
            Type::String | Type::Bytes | Type::List(_) => View::Maybe(quote!(#value.as_deref())),
            Type::Set(element) if slice_set(element) => View::Maybe(quote!(#value.as_deref())),
            // An optional `Copy` value is its own view.
            Type::Bool | Type::Int | Type::Counter | Type::Float | Type::Identity => View::Maybe(copied),
            Type::Set(_) | Type::Record(_) | Type::Map(_) => View::Maybe(quote!(#value.as_ref())),
            inner => View::Maybe(
                view(cx, quote!(value), inner, true).under(quote!(#value.as_ref()), &format_ident!("value")),
            ),
        },
        Type::Bool | Type::Int | Type::Counter | Type::Float | Type::Identity => View::Present(copied),
        Type::Timestamp => View::Present(quote!(#value.0)),
        Type::Ref(_) => View::Present(quote!(#value.row())),
        Type::String | Type::Enum(_) => View::Present(quote!(#value.as_str())),
        Type::Bytes | Type::List(_) => View::Present(quote!(#value.as_slice())),
        Type::Set(element) if slice_set(element) => View::Present(quote!(#value.as_slice())),
        Type::Set(_) | Type::Record(_) | Type::Map(_) if by_reference => View::Present(value),
        Type::Set(_) | Type::Record(_) | Type::Map(_) => View::Present(quote!(&#value)),
    }
}

fn function_name(collection: &str, field: &str) -> Ident {
    format_ident!("check_{}_{}", snake(collection), field)
}

/// A check function's parameter for a field (prefixed, so no local of the body shadows it).
fn parameter(field: &str) -> Ident {
    format_ident!("field_{}", field)
}

/// The fields a check reads, in the order of the collection.
fn reads(collection: &ir::Collection, check: &Expr) -> Vec<ir::Field> {
    let mut names = BTreeSet::new();
    collect_reads(check, &mut names);
    collection.fields.iter().filter(|field| names.contains(&field.name)).cloned().collect()
}

fn collect_reads(expr: &Expr, names: &mut BTreeSet<String>) {
    match expr {
        Expr::Field { row: RowRef::Subject, path } => {
            if let Some(first) = path.first() {
                names.insert(first.clone());
            }
        }
        Expr::Not(inner) | Expr::Len(inner) => collect_reads(inner, names),
        Expr::And(left, right) | Expr::Or(left, right) | Expr::Compare { left, right, .. } => {
            collect_reads(left, names);
            collect_reads(right, names);
        }
        Expr::In { value, options } => {
            collect_reads(value, names);
            options.iter().for_each(|option| collect_reads(option, names));
        }
        _ => {}
    }
}

/// A function per `check`, over the views of the fields it reads.
pub fn generate(cx: &Context) -> Result<TokenStream, GenError> {
    let mut out = TokenStream::new();
    for (name, collection) in &cx.schema.collections {
        for field in &collection.fields {
            let Some(check) = &field.check else { continue };
            let function = function_name(name, &field.name);
            let mut parameters = Vec::new();
            for read in reads(collection, check) {
                let name = parameter(&read.name);
                let ty = view_type(cx, &read.ty)?;
                parameters.push(quote!(#name: Option<#ty>));
            }
            let compiler = Compiler { cx, collection };
            let body = compiler.truth(check)?;
            let documentation = format!(" `{name}.{}`: `check ({check})`.", field.name);
            out.extend(quote! {
                #[doc = #documentation]
                #[allow(unused_variables, clippy::nonminimal_bool, clippy::overly_complex_bool_expr)]
                fn #function(#(#parameters),*) -> bool {
                    #body
                }
            });
        }
    }
    Ok(out)
}

/// The calls of a collection's checks from a row struct (`insert: false`) or from an insert
/// struct, each returning the field's name when its check fails.
pub fn check_calls(
    cx: &Context,
    name: &str,
    collection: &ir::Collection,
    insert: bool,
) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let mut out = TokenStream::new();
    for field in &collection.fields {
        let Some(check) = &field.check else { continue };
        let function = function_name(name, &field.name);
        let field_name = &field.name;
        let read = reads(collection, check);
        if !insert {
            let arguments = read.iter().map(|read| {
                let member = ident(&read.name);
                view(cx, quote!(self.#member), &read.ty, false).option()
            });
            out.extend(quote! {
                if !#function(#(#arguments),*) {
                    return Err(#field_name);
                }
            });
            continue;
        }
        if read.is_empty() {
            out.extend(quote! {
                if !#function() {
                    return Err(#field_name);
                }
            });
            continue;
        }
        // An argument may be unknown here (a field left to its default, a `ref` to a row of this
        // transaction): then the check is left to the runtime.
        let mut arguments = Vec::new();
        let mut unknowns = Vec::new();
        let mut bindings = Vec::new();
        for read in &read {
            let member = ident(&read.name);
            let known = match &read.ty {
                Type::Ref(_) => Some(quote! {
                    match value { #rt::typed::Ref::Row(id) => Some(Some(id.row())), #rt::typed::Ref::New(_) => None }
                }),
                Type::Optional(inner) if matches!(**inner, Type::Ref(_)) => Some(quote! {
                    match value {
                        None => Some(None),
                        Some(#rt::typed::Ref::Row(id)) => Some(Some(id.row())),
                        Some(#rt::typed::Ref::New(_)) => None,
                    }
                }),
                _ => None,
            };
            let maybe = match (known, read.default.is_some()) {
                (Some(known), true) => Some(quote!(self.#member.as_ref().and_then(|value| #known))),
                (Some(known), false) => Some(quote!({ let value = &self.#member; #known })),
                (None, true) => {
                    let view = View::Present(view(cx, quote!(value), &read.ty, true).option());
                    Some(view.under(quote!(self.#member.as_ref()), &format_ident!("value")))
                }
                (None, false) => None,
            };
            match maybe {
                Some(maybe) => {
                    let binding = format_ident!("argument_{}", bindings.len());
                    unknowns.push(maybe);
                    arguments.push(quote!(#binding));
                    bindings.push(binding);
                }
                None => arguments.push(view(cx, quote!(self.#member), &read.ty, false).option()),
            }
        }
        let call = quote! {
            if !#function(#(#arguments),*) {
                return Err(#field_name);
            }
        };
        out.extend(if bindings.is_empty() {
            call
        } else {
            quote! {
                if let (#(Some(#bindings),)*) = (#(#unknowns,)*) {
                    #call
                }
            }
        });
    }
    Ok(out)
}

struct Compiler<'c, 's> {
    cx: &'c Context<'s>,
    collection: &'c ir::Collection,
}

const SOME: fn(TokenStream) -> TokenStream = |inner| quote!(Some(#inner));

impl Compiler<'_, '_> {
    fn expr(&self, expr: &Expr) -> Result<(TokenStream, Kind), GenError> {
        Ok(match expr {
            Expr::Literal(value) => literal(value),
            Expr::Field { row: RowRef::Subject, path } => self.field(path)?,
            Expr::Not(_) | Expr::And(..) | Expr::Or(..) | Expr::Compare { .. } | Expr::In { .. } => {
                (SOME(self.truth(expr)?), Kind::Bool)
            }
            Expr::Len(inner) => {
                let (inner, inner_kind) = self.expr(inner)?;
                let length = match inner_kind {
                    // Views are method chains, names or `Some(…)`: no parentheses needed.
                    Kind::Text => quote!(#inner.map(|value| value.chars().count() as i64)),
                    Kind::Bytes | Kind::Collection => quote!(#inner.map(|value| value.len() as i64)),
                    Kind::Identity | Kind::Row => quote!(#inner.map(|_| 32i64)),
                    Kind::Record(name) => {
                        let count = self.cx.schema.records.get(&name).map_or(0, |record| record.fields.len()) as i64;
                        quote!(#inner.map(|_| #count))
                    }
                    Kind::Null => quote!(None::<i64>),
                    Kind::Bool | Kind::Int | Kind::Float => quote!(#inner.and(None::<i64>)),
                };
                (length, Kind::Int)
            }
            other => {
                return Err(GenError::Unsupported(format!("a check that reads `{other}` cannot be compiled")));
            }
        })
    }

    /// A field of the row, followed through record fields.
    fn field(&self, path: &[String]) -> Result<(TokenStream, Kind), GenError> {
        let unknown = || GenError::Unsupported(format!("a check reads the unknown field `{}`", path.join(".")));
        let (first, rest) = path.split_first().ok_or_else(unknown)?;
        let field = self.collection.field(first).ok_or_else(unknown)?;
        let name = parameter(first);
        let mut value = quote!(#name);
        let mut ty = field.ty.clone();
        for step in rest {
            let Kind::Record(record) = kind(&ty) else { return Err(unknown()) };
            let record = self.cx.schema.records.get(&record).ok_or_else(unknown)?;
            let step_field = record.field(step).ok_or_else(unknown)?;
            let member = ident(step);
            value = view(self.cx, quote!(record.#member), &step_field.ty, false).under(value, &format_ident!("record"));
            ty = step_field.ty.clone();
        }
        Ok((value, kind(&ty)))
    }

    /// A comparison, as a `bool` (comparisons are never null), and whether it is written with
    /// a binary operator (and so needs parentheses inside another).
    fn compare(&self, op: Comparison, left: &Expr, right: &Expr) -> Result<(TokenStream, bool), GenError> {
        let (left, left_kind) = self.expr(left)?;
        let (right, right_kind) = self.expr(right)?;
        let equal = matches!(op, Comparison::Equal);
        Ok(match (op, &left_kind, &right_kind) {
            (Comparison::Equal | Comparison::NotEqual, Kind::Null, Kind::Null) => (quote!(#equal), false),
            (Comparison::Equal, Kind::Null, _) => (quote!(#right.is_none()), false),
            (Comparison::Equal, _, Kind::Null) => (quote!(#left.is_none()), false),
            (Comparison::NotEqual, Kind::Null, _) => (quote!(#right.is_some()), false),
            (Comparison::NotEqual, _, Kind::Null) => (quote!(#left.is_some()), false),
            (Comparison::Equal | Comparison::NotEqual, left_kind, right_kind) if left_kind != right_kind => {
                let differ = !equal;
                (quote!(#differ), false)
            }
            (Comparison::Equal, _, _) => (quote!(#left == #right), true),
            (Comparison::NotEqual, _, _) => (quote!(#left != #right), true),
            (_, Kind::Int, Kind::Int) | (_, Kind::Float, Kind::Float) | (_, Kind::Text, Kind::Text) => {
                let rt = &self.cx.rt;
                let function = match op {
                    Comparison::Less => quote!(lt),
                    Comparison::LessOrEqual => quote!(le),
                    Comparison::Greater => quote!(gt),
                    _ => quote!(ge),
                };
                (quote!(#rt::typed::compare::#function(#left, #right)), false)
            }
            _ => (quote!(false), false),
        })
    }

    /// An expression as a `bool`: whether it is `true` (null and anything else are not).
    fn truth(&self, expr: &Expr) -> Result<TokenStream, GenError> {
        Ok(match expr {
            Expr::Not(inner) => {
                let inner = self.grouped(inner)?;
                quote!(!#inner)
            }
            Expr::And(left, right) => {
                let (left, right) = (self.grouped(left)?, self.grouped(right)?);
                quote!(#left && #right)
            }
            Expr::Or(left, right) => {
                let (left, right) = (self.grouped(left)?, self.grouped(right)?);
                quote!(#left || #right)
            }
            Expr::Compare { op, left, right } => self.compare(*op, left, right)?.0,
            Expr::In { value, options } => self.contains(value, options)?,
            other => {
                let (value, _) = self.expr(other)?;
                quote!(#value == Some(true))
            }
        })
    }

    /// [`Compiler::truth`], in parentheses where an operator around it could bind otherwise.
    fn grouped(&self, expr: &Expr) -> Result<TokenStream, GenError> {
        let binary = match expr {
            Expr::Not(_) => false,
            Expr::Compare { op, left, right } => self.compare(*op, left, right)?.1,
            _ => true,
        };
        let truth = self.truth(expr)?;
        Ok(if binary { quote!((#truth)) } else { truth })
    }

    /// `value in (options)`, as a `bool`.
    fn contains(&self, value: &Expr, options: &[Expr]) -> Result<TokenStream, GenError> {
        let (value, value_kind) = self.expr(value)?;
        let mut terms = Vec::new();
        for option in options {
            let (option, option_kind) = self.expr(option)?;
            match (&value_kind, &option_kind) {
                (Kind::Null, Kind::Null) => terms.push(quote!(true)),
                (Kind::Null, _) => terms.push(quote!(#option.is_none())),
                (_, Kind::Null) => terms.push(quote!(#value.is_none())),
                (value_kind, option_kind) if value_kind == option_kind => terms.push(quote!(#value == #option)),
                _ => {}
            }
        }
        // The value is a view (`Copy`), so each comparison may read it again.
        Ok(if terms.is_empty() { quote!(false) } else { quote!(#(#terms)||*) })
    }
}

fn literal(value: &ir::Value) -> (TokenStream, Kind) {
    match value {
        ir::Value::Null => (quote!(None::<()>), Kind::Null),
        ir::Value::Bool(value) => (SOME(quote!(#value)), Kind::Bool),
        ir::Value::Int(value) => (SOME(int_literal(*value)), Kind::Int),
        ir::Value::Float(value) => (SOME(float_literal(*value)), Kind::Float),
        ir::Value::String(text) => (SOME(quote!(#text)), Kind::Text),
        ir::Value::EnumVariant { variant, .. } => (SOME(quote!(#variant)), Kind::Text),
    }
}

/// An `i64` literal; a negative one as a negation (a literal token has no sign).
fn int_literal(value: i64) -> TokenStream {
    match value {
        i64::MIN => quote!(i64::MIN),
        value if value < 0 => {
            let magnitude = proc_macro2::Literal::i64_suffixed(-value);
            quote!(-#magnitude)
        }
        value => proc_macro2::Literal::i64_suffixed(value).into_token_stream(),
    }
}

/// An `f64` literal, as for [`int_literal`]; ops carry finite floats only, and so do schemas.
fn float_literal(value: f64) -> TokenStream {
    if !value.is_finite() {
        return quote!(f64::NAN);
    }
    let magnitude = proc_macro2::Literal::f64_suffixed(value.abs());
    if value.is_sign_negative() {
        quote!(-#magnitude)
    } else {
        magnitude.into_token_stream()
    }
}
