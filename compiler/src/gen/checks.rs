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

use super::names::{ident, snake, Names};
use super::types::row_type;
use super::{Context, GenError};
use crate::ir::{self, Comparison, Expr, RowRef, Type};
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
fn view_type(cx: &Context, ty: &Type) -> String {
    let rt = &cx.rt;
    match ty {
        Type::Optional(inner) => view_type(cx, inner),
        Type::Bool => "bool".into(),
        Type::Int | Type::Counter | Type::Timestamp => "i64".into(),
        Type::Float => "f64".into(),
        Type::String | Type::Enum(_) => "&str".into(),
        Type::Bytes => "&[u8]".into(),
        Type::Identity => format!("{rt}::Identity"),
        Type::Ref(_) => format!("{rt}::RowId"),
        Type::List(inner) => format!("&[{}]", row_type(cx, inner)),
        Type::Set(inner) if !super::types::is_ordered(cx, inner) => format!("&[{}]", row_type(cx, inner)),
        Type::Record(_) | Type::Set(_) | Type::Map(_) => format!("&{}", row_type(cx, ty)),
    }
}

/// A view: a value known to be there (`Some(x)` once wrapped), or an `Option` already.
enum View {
    Present(String),
    Maybe(String),
}

impl View {
    /// The view as an `Option`.
    fn option(self) -> String {
        match self {
            View::Present(value) => format!("Some({value})"),
            View::Maybe(value) => value,
        }
    }

    /// `option.map(|binding| view)` or `option.and_then(|binding| view)`, as the view needs.
    fn under(self, option: &str, binding: &str) -> String {
        match self {
            View::Present(value) => format!("{option}.map(|{binding}| {value})"),
            View::Maybe(value) => format!("{option}.and_then(|{binding}| {value})"),
        }
    }
}

/// The view of `value`, a field of type `ty` as a row holds it: a place (`self.name`) or, when
/// `by_reference`, a reference to one (a closure's argument).
fn view(cx: &Context, value: &str, ty: &Type, by_reference: bool) -> View {
    let copied = if by_reference { format!("*{value}") } else { value.to_owned() };
    let slice_set = |inner: &Type| !super::types::is_ordered(cx, inner);
    match ty {
        Type::Optional(inner) => match &**inner {
            Type::String | Type::Bytes | Type::List(_) => View::Maybe(format!("{value}.as_deref()")),
            Type::Set(element) if slice_set(element) => View::Maybe(format!("{value}.as_deref()")),
            // An optional `Copy` value is its own view.
            Type::Bool | Type::Int | Type::Counter | Type::Float | Type::Identity => View::Maybe(copied),
            Type::Set(_) | Type::Record(_) | Type::Map(_) => View::Maybe(format!("{value}.as_ref()")),
            inner => View::Maybe(view(cx, "value", inner, true).under(&format!("{value}.as_ref()"), "value")),
        },
        Type::Bool | Type::Int | Type::Counter | Type::Float | Type::Identity => View::Present(copied),
        Type::Timestamp => View::Present(format!("{value}.0")),
        Type::Ref(_) => View::Present(format!("{value}.row()")),
        Type::String | Type::Enum(_) => View::Present(format!("{value}.as_str()")),
        Type::Bytes | Type::List(_) => View::Present(format!("{value}.as_slice()")),
        Type::Set(element) if slice_set(element) => View::Present(format!("{value}.as_slice()")),
        Type::Set(_) | Type::Record(_) | Type::Map(_) if by_reference => View::Present(value.to_owned()),
        Type::Set(_) | Type::Record(_) | Type::Map(_) => View::Present(format!("&{value}")),
    }
}

fn function_name(collection: &str, field: &str) -> String {
    format!("check_{}_{field}", snake(collection))
}

/// A check function's parameter for a field (prefixed, so no local of the body shadows it).
fn parameter(field: &str) -> String {
    format!("field_{field}")
}

/// The fields a check reads, in the order of the collection.
fn reads<'c>(collection: &'c ir::Collection, check: &Expr) -> Vec<&'c ir::Field> {
    let mut names = BTreeSet::new();
    collect_reads(check, &mut names);
    collection.fields.iter().filter(|field| names.contains(&field.name)).collect()
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
pub fn generate(cx: &Context, names: &mut Names, out: &mut String) -> Result<(), GenError> {
    for (name, collection) in &cx.schema.collections {
        for field in &collection.fields {
            let Some(check) = &field.check else { continue };
            let function = function_name(name, &field.name);
            names.take(&function, format!("the compiled check of {name}.{}", field.name))?;
            let parameters = reads(collection, check)
                .iter()
                .map(|read| format!("{}: Option<{}>", parameter(&read.name), view_type(cx, &read.ty)))
                .collect::<Vec<_>>()
                .join(", ");
            let compiler = Compiler { cx, collection };
            let body = compiler.body(check)?;
            item!(
                out,
                "\
/// `{name}.{field_name}`: `check ({check})`.
#[allow(unused_variables, clippy::nonminimal_bool, clippy::overly_complex_bool_expr)]
fn {function}({parameters}) -> bool {{
    {body}
}}
",
                field_name = field.name
            );
        }
    }
    Ok(())
}

/// The calls of a collection's checks from a row struct (`insert: false`) or from an insert
/// struct, each returning the field's name when its check fails, at the indent of a method body.
pub fn check_calls(
    cx: &Context,
    name: &str,
    collection: &ir::Collection,
    insert: bool,
    out: &mut String,
) -> Result<(), GenError> {
    let rt = &cx.rt;
    for field in &collection.fields {
        let Some(check) = &field.check else { continue };
        let function = function_name(name, &field.name);
        let failed = super::string_literal(&field.name);
        let read = reads(collection, check);
        // An argument may be unknown in an insert (a field left to its default, a `ref` to a
        // row of this transaction): then the check is left to the runtime.
        let mut arguments = Vec::new();
        let mut unknowns = Vec::new();
        for read in &read {
            let member = format!("self.{}", ident(&read.name));
            let known = match &read.ty {
                Type::Ref(_) if insert => Some(format!(
                    "match value {{ {rt}::typed::Ref::Row(id) => Some(Some(id.row())), {rt}::typed::Ref::New(_) => None }}"
                )),
                Type::Optional(inner) if insert && matches!(**inner, Type::Ref(_)) => Some(format!(
                    "match value {{ None => Some(None), Some({rt}::typed::Ref::Row(id)) => Some(Some(id.row())), Some({rt}::typed::Ref::New(_)) => None }}"
                )),
                _ => None,
            };
            let maybe = match (known, insert && read.default.is_some()) {
                (Some(known), true) => Some(format!("{member}.as_ref().and_then(|value| {known})")),
                (Some(known), false) => Some(format!("{{ let value = &{member}; {known} }}")),
                (None, true) => {
                    let view = View::Present(view(cx, "value", &read.ty, true).option());
                    Some(view.under(&format!("{member}.as_ref()"), "value"))
                }
                (None, false) => None,
            };
            match maybe {
                Some(maybe) => {
                    arguments.push(format!("argument_{}", unknowns.len()));
                    unknowns.push(maybe);
                }
                None => arguments.push(view(cx, &member, &read.ty, false).option()),
            }
        }
        let arguments = arguments.join(", ");
        if unknowns.is_empty() {
            emit!(out, "        if !{function}({arguments}) {{\n            return Err({failed});\n        }}\n");
            continue;
        }
        let (bindings, unknowns) = match unknowns.as_slice() {
            [unknown] => ("Some(argument_0)".to_owned(), unknown.clone()),
            _ => (
                format!(
                    "({})",
                    (0..unknowns.len()).map(|index| format!("Some(argument_{index})")).collect::<Vec<_>>().join(", ")
                ),
                format!("({})", unknowns.join(", ")),
            ),
        };
        emit!(
            out,
            "        if let {bindings} = {unknowns} {{
            if !{function}({arguments}) {{
                return Err({failed});
            }}
        }}
"
        );
    }
    Ok(())
}

struct Compiler<'c, 's> {
    cx: &'c Context<'s>,
    collection: &'c ir::Collection,
}

impl Compiler<'_, '_> {
    /// A check function's body: its truth, a line per operand of a top-level `and` or `or`.
    fn body(&self, check: &Expr) -> Result<String, GenError> {
        let and = match check {
            Expr::And(..) => true,
            Expr::Or(..) => false,
            other => return self.truth(other),
        };
        let mut operands = Vec::new();
        self.chain(check, and, &mut operands)?;
        Ok(operands.join(if and { "\n        && " } else { "\n        || " }))
    }

    /// The operands of a chain of one operator (`a and b and c`), each grouped as needed.
    fn chain(&self, expr: &Expr, and: bool, operands: &mut Vec<String>) -> Result<(), GenError> {
        match expr {
            Expr::And(left, right) if and => {
                self.chain(left, and, operands)?;
                self.chain(right, and, operands)
            }
            Expr::Or(left, right) if !and => {
                self.chain(left, and, operands)?;
                self.chain(right, and, operands)
            }
            other => {
                operands.push(self.grouped(other)?);
                Ok(())
            }
        }
    }

    fn expr(&self, expr: &Expr) -> Result<(String, Kind), GenError> {
        Ok(match expr {
            Expr::Literal(value) => literal(value),
            Expr::Field { row: RowRef::Subject, path } => self.field(path)?,
            Expr::Not(_) | Expr::And(..) | Expr::Or(..) | Expr::Compare { .. } | Expr::In { .. } => {
                (format!("Some({})", self.truth(expr)?), Kind::Bool)
            }
            Expr::Len(inner) => {
                let (inner, inner_kind) = self.expr(inner)?;
                let length = match inner_kind {
                    // Views are method chains, names or `Some(…)`: no parentheses needed.
                    Kind::Text => format!("{inner}.map(|value| value.chars().count() as i64)"),
                    Kind::Bytes | Kind::Collection => format!("{inner}.map(|value| value.len() as i64)"),
                    Kind::Identity | Kind::Row => format!("{inner}.map(|_| 32i64)"),
                    Kind::Record(name) => {
                        let count = self.cx.schema.records.get(&name).map_or(0, |record| record.fields.len());
                        format!("{inner}.map(|_| {count}i64)")
                    }
                    Kind::Null => "None::<i64>".into(),
                    Kind::Bool | Kind::Int | Kind::Float => format!("{inner}.and(None::<i64>)"),
                };
                (length, Kind::Int)
            }
            other => {
                return Err(GenError::Unsupported(format!("a check that reads `{other}` cannot be compiled")));
            }
        })
    }

    /// A field of the row, followed through record fields.
    fn field(&self, path: &[String]) -> Result<(String, Kind), GenError> {
        let unknown = || GenError::Unsupported(format!("a check reads the unknown field `{}`", path.join(".")));
        let (first, rest) = path.split_first().ok_or_else(unknown)?;
        let field = self.collection.field(first).ok_or_else(unknown)?;
        let mut value = parameter(first);
        let mut ty = &field.ty;
        for step in rest {
            let Kind::Record(record) = kind(ty) else { return Err(unknown()) };
            let record = self.cx.schema.records.get(&record).ok_or_else(unknown)?;
            let step_field = record.field(step).ok_or_else(unknown)?;
            let member = format!("record.{}", ident(step));
            value = view(self.cx, &member, &step_field.ty, false).under(&value, "record");
            ty = &step_field.ty;
        }
        Ok((value, kind(ty)))
    }

    /// A comparison, as a `bool` (comparisons are never null), and whether it is written with
    /// a binary operator (and so needs parentheses inside another).
    fn compare(&self, op: Comparison, left: &Expr, right: &Expr) -> Result<(String, bool), GenError> {
        let (left, left_kind) = self.expr(left)?;
        let (right, right_kind) = self.expr(right)?;
        let equal = matches!(op, Comparison::Equal);
        Ok(match (op, &left_kind, &right_kind) {
            (Comparison::Equal | Comparison::NotEqual, Kind::Null, Kind::Null) => (equal.to_string(), false),
            (Comparison::Equal, Kind::Null, _) => (format!("{right}.is_none()"), false),
            (Comparison::Equal, _, Kind::Null) => (format!("{left}.is_none()"), false),
            (Comparison::NotEqual, Kind::Null, _) => (format!("{right}.is_some()"), false),
            (Comparison::NotEqual, _, Kind::Null) => (format!("{left}.is_some()"), false),
            (Comparison::Equal | Comparison::NotEqual, left_kind, right_kind) if left_kind != right_kind => {
                ((!equal).to_string(), false)
            }
            (Comparison::Equal, _, _) => (format!("{left} == {right}"), true),
            (Comparison::NotEqual, _, _) => (format!("{left} != {right}"), true),
            (_, Kind::Int, Kind::Int) | (_, Kind::Float, Kind::Float) | (_, Kind::Text, Kind::Text) => {
                let function = match op {
                    Comparison::Less => "lt",
                    Comparison::LessOrEqual => "le",
                    Comparison::Greater => "gt",
                    _ => "ge",
                };
                (format!("{}::typed::compare::{function}({left}, {right})", self.cx.rt), false)
            }
            _ => ("false".into(), false),
        })
    }

    /// An expression as a `bool`: whether it is `true` (null and anything else are not).
    fn truth(&self, expr: &Expr) -> Result<String, GenError> {
        Ok(match expr {
            Expr::Not(inner) => format!("!{}", self.grouped(inner)?),
            Expr::And(left, right) => format!("{} && {}", self.grouped(left)?, self.grouped(right)?),
            Expr::Or(left, right) => format!("{} || {}", self.grouped(left)?, self.grouped(right)?),
            Expr::Compare { op, left, right } => self.compare(*op, left, right)?.0,
            Expr::In { value, options } => self.contains(value, options)?,
            other => format!("{} == Some(true)", self.expr(other)?.0),
        })
    }

    /// [`Compiler::truth`], in parentheses where an operator around it could bind otherwise.
    fn grouped(&self, expr: &Expr) -> Result<String, GenError> {
        let binary = match expr {
            Expr::Not(_) => false,
            Expr::Compare { op, left, right } => self.compare(*op, left, right)?.1,
            _ => true,
        };
        let truth = self.truth(expr)?;
        Ok(if binary { format!("({truth})") } else { truth })
    }

    /// `value in (options)`, as a `bool`.
    fn contains(&self, value: &Expr, options: &[Expr]) -> Result<String, GenError> {
        let (value, value_kind) = self.expr(value)?;
        let mut terms = Vec::new();
        for option in options {
            let (option, option_kind) = self.expr(option)?;
            match (&value_kind, &option_kind) {
                (Kind::Null, Kind::Null) => terms.push("true".to_owned()),
                (Kind::Null, _) => terms.push(format!("{option}.is_none()")),
                (_, Kind::Null) => terms.push(format!("{value}.is_none()")),
                (value_kind, option_kind) if value_kind == option_kind => terms.push(format!("{value} == {option}")),
                _ => {}
            }
        }
        // The value is a view (`Copy`), so each comparison may read it again.
        Ok(if terms.is_empty() { "false".into() } else { terms.join(" || ") })
    }
}

fn literal(value: &ir::Value) -> (String, Kind) {
    match value {
        ir::Value::Null => ("None::<()>".into(), Kind::Null),
        ir::Value::Bool(value) => (format!("Some({value})"), Kind::Bool),
        ir::Value::Int(value) => (format!("Some({})", int_literal(*value)), Kind::Int),
        ir::Value::Float(value) => (format!("Some({})", float_literal(*value)), Kind::Float),
        ir::Value::String(text) => (format!("Some({})", super::string_literal(text)), Kind::Text),
        ir::Value::EnumVariant { variant, .. } => (format!("Some({})", super::string_literal(variant)), Kind::Text),
    }
}

/// An `i64` literal.
fn int_literal(value: i64) -> String {
    match value {
        i64::MIN => "i64::MIN".into(),
        value => format!("{value}i64"),
    }
}

/// An `f64` literal that reads back as the same value; ops carry finite floats only, and so do
/// schemas.
fn float_literal(value: f64) -> String {
    if !value.is_finite() {
        return "f64::NAN".into();
    }
    // `{:?}` prints the shortest form that reads back exactly, with a `.` or an exponent.
    format!("{value:?}f64")
}
