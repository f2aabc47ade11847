//! Evaluation of `check` constraints: stateless expressions over one row's fields.
//!
//! A check sees only the row (the checker guarantees it reads no other row, author or op).
//! Null semantics: `=` and `!=` compare null like any value; an ordering comparison or `len`
//! that reads null is false or null; `and`/`or` treat null as false.
//! `len` of a string counts Unicode scalar values, of bytes counts bytes, of a list, set or map
//! counts elements.

use crate::cbor::Value;
use schemac::ir::{self, Comparison, Expr, RowRef};
use std::cmp::Ordering;

/// Evaluates a check against a row given field by field. `None` when the row lacks a field the
/// check reads (an update that leaves it unchanged), so the check cannot be decided here.
pub fn evaluate_check<'v>(check: &Expr, row: &dyn Fn(&str) -> Option<&'v Value>) -> Option<bool> {
    match evaluate(check, row)? {
        Value::Bool(value) => Some(value),
        _ => Some(false),
    }
}

/// A constant from the IR as the value ops carry (an enum variant is its name).
pub fn literal(value: &ir::Value) -> Value {
    match value {
        ir::Value::Null => Value::Null,
        ir::Value::Bool(value) => Value::Bool(*value),
        ir::Value::Int(value) => Value::Int(*value),
        ir::Value::Float(value) => Value::Float(*value),
        ir::Value::String(value) => Value::Text(value.clone()),
        ir::Value::EnumVariant { variant, .. } => Value::Text(variant.clone()),
    }
}

/// Whether a value equals an IR constant, as `literal(constant) == *value` says, without
/// building the constant's value: rules compare fields with enum variants and strings per row.
pub(crate) fn literal_is(constant: &ir::Value, value: &Value) -> bool {
    match (constant, value) {
        (ir::Value::Null, Value::Null) => true,
        (ir::Value::Bool(constant), Value::Bool(value)) => constant == value,
        (ir::Value::Int(constant), Value::Int(value)) => constant == value,
        (ir::Value::Float(constant), Value::Float(value)) => constant == value,
        (ir::Value::String(constant) | ir::Value::EnumVariant { variant: constant, .. }, Value::Text(value)) => {
            constant == value
        }
        _ => false,
    }
}

fn truthy(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

fn evaluate<'v>(expr: &Expr, row: &dyn Fn(&str) -> Option<&'v Value>) -> Option<Value> {
    Some(match expr {
        Expr::Literal(value) => literal(value),
        Expr::Field { row: RowRef::Subject, path } => {
            let (first, rest) = path.split_first()?;
            record_path(row(first)?.clone(), rest)
        }
        Expr::Not(inner) => Value::Bool(!truthy(&evaluate(inner, row)?)),
        Expr::And(left, right) => Value::Bool(truthy(&evaluate(left, row)?) && truthy(&evaluate(right, row)?)),
        Expr::Or(left, right) => Value::Bool(truthy(&evaluate(left, row)?) || truthy(&evaluate(right, row)?)),
        Expr::Compare { op, left, right } => {
            let (left, right) = (evaluate(left, row)?, evaluate(right, row)?);
            Value::Bool(compare(*op, &left, &right))
        }
        Expr::In { value, options } => {
            let value = evaluate(value, row)?;
            let mut found = false;
            for option in options {
                found |= evaluate(option, row)? == value;
            }
            Value::Bool(found)
        }
        Expr::Len(inner) => length(evaluate(inner, row)?),
        // The checker allows nothing else in a check.
        Expr::Field { .. } | Expr::RowId(_) | Expr::OpAuthor | Expr::DbFounder | Expr::Exists { .. } => return None,
    })
}

/// Follows record fields from a field's value: `address.city`. A missing step gives null.
pub(crate) fn record_path(mut value: Value, path: &[String]) -> Value {
    for segment in path {
        value = match value {
            Value::Map(entries) => {
                entries.into_iter().find(|(key, _)| key == segment).map_or(Value::Null, |(_, value)| value)
            }
            _ => Value::Null,
        };
    }
    value
}

/// `len()`: characters of a string, bytes of bytes, elements of a list, set or map.
pub(crate) fn length(value: Value) -> Value {
    match value {
        Value::Text(text) => Value::Int(text.chars().count() as i64),
        Value::Bytes(bytes) => Value::Int(bytes.len() as i64),
        Value::Array(items) => Value::Int(items.len() as i64),
        Value::Map(entries) => Value::Int(entries.len() as i64),
        _ => Value::Null,
    }
}

pub(crate) fn compare(op: Comparison, left: &Value, right: &Value) -> bool {
    match op {
        Comparison::Equal => left == right,
        Comparison::NotEqual => left != right,
        _ => {
            let ordering = match (left, right) {
                (Value::Int(left), Value::Int(right)) => left.cmp(right),
                (Value::Float(left), Value::Float(right)) => match left.partial_cmp(right) {
                    Some(ordering) => ordering,
                    None => return false,
                },
                (Value::Text(left), Value::Text(right)) => left.cmp(right),
                _ => return false,
            };
            match op {
                Comparison::Less => ordering == Ordering::Less,
                Comparison::LessOrEqual => ordering != Ordering::Greater,
                Comparison::Greater => ordering == Ordering::Greater,
                Comparison::GreaterOrEqual => ordering != Ordering::Less,
                Comparison::Equal | Comparison::NotEqual => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{literal, literal_is};
    use crate::cbor::Value;
    use schemac::ir;

    #[test]
    fn a_constant_equals_a_value_exactly_when_its_converted_value_does() {
        let variant = |name: &str| ir::Value::EnumVariant { r#enum: "Role".into(), variant: name.into() };
        let constants = [
            ir::Value::Null,
            ir::Value::Bool(true),
            ir::Value::Int(3),
            ir::Value::Float(0.5),
            ir::Value::Float(-0.0),
            ir::Value::String("writer".into()),
            variant("writer"),
            variant("admin"),
        ];
        let values = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(3),
            Value::Int(0),
            Value::Float(0.5),
            Value::Float(0.0),
            Value::Float(3.0),
            Value::Text("writer".into()),
            Value::Text("admin".into()),
            Value::Bytes(b"writer".to_vec()),
            Value::Array(vec![Value::Text("writer".into())]),
        ];
        for constant in &constants {
            for value in &values {
                assert_eq!(literal_is(constant, value), literal(constant) == *value, "{constant:?} and {value:?}");
            }
        }
    }
}
