//! Constants: a field's `default` and the values of migration steps. Only literals, `null`,
//! enum variants and (for a default of type `identity`) `op.author` are constants.

use super::expressions::comparable_type;
use super::Scope;
use crate::ast::{self, ExprKind, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Type};

/// Lowers a field's `default`: a constant of the field's type, or `op.author`.
pub(crate) fn lower_default(
    scope: &Scope,
    expr: &ast::Expr,
    ty: &Type,
    field: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ir::Default> {
    if let ExprKind::Path(segments) = &expr.kind {
        let texts: Vec<&str> = segments.iter().map(|segment| segment.text.as_str()).collect();
        if texts == ["op", "author"] {
            if comparable_type(ty) == Type::Identity {
                return Some(ir::Default::OpAuthor);
            }
            diagnostics.push(type_mismatch_value(expr, ty, "identity", field));
            return None;
        }
    }
    match lower_constant(scope, expr, ty, field) {
        Ok(value) => Some(ir::Default::Value(value)),
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            None
        }
    }
}

fn type_mismatch_value(expr: &ast::Expr, ty: &Type, found: &str, field: &str) -> Diagnostic {
    Diagnostic::new(
        Code::E0205,
        expr.span.clone(),
        format!("`{field}` has type `{}`, but this value is `{found}`", ty.display()),
    )
    .with_label(format!("expected `{}`", ty.display()))
}

/// A constant of type `ty`: a literal, `null` for an optional, or an enum variant.
pub(crate) fn lower_constant(scope: &Scope, expr: &ast::Expr, ty: &Type, field: &str) -> Result<ir::Value, Diagnostic> {
    let base = match ty {
        Type::Optional(inner) => inner.as_ref(),
        other => other,
    };
    let mismatch = |found: &str| type_mismatch_value(expr, ty, found, field);
    match &expr.kind {
        ExprKind::Paren(inner) => lower_constant(scope, inner, ty, field),
        ExprKind::Null if matches!(ty, Type::Optional(_)) => Ok(ir::Value::Null),
        ExprKind::Null => Err(mismatch("null").with_help("only optional fields (`T?`) can be null")),
        ExprKind::Bool(value) if *base == Type::Bool => Ok(ir::Value::Bool(*value)),
        ExprKind::Int(value) if matches!(base, Type::Int | Type::Timestamp) => Ok(ir::Value::Int(*value)),
        ExprKind::Float(value) if *base == Type::Float => Ok(ir::Value::Float(*value)),
        ExprKind::String(value) if *base == Type::String => Ok(ir::Value::String(value.clone())),
        ExprKind::Bool(_) => Err(mismatch("bool")),
        ExprKind::Int(_) => Err(mismatch("int")),
        ExprKind::Float(_) => Err(mismatch("float")),
        ExprKind::String(_) => Err(mismatch("string")),
        ExprKind::Path(segments) => {
            let Type::Enum(enum_name) = base else {
                return Err(not_constant(expr));
            };
            let variant = match segments.as_slice() {
                [variant] => variant,
                [qualifier, variant] if qualifier.text == *enum_name => variant,
                _ => return Err(not_constant(expr)),
            };
            scope.mark_used(enum_name);
            let variants = scope.enums.get(enum_name).map(Vec::as_slice).unwrap_or_default();
            if variants.contains(&variant.text) {
                Ok(ir::Value::EnumVariant { r#enum: enum_name.clone(), variant: variant.text.clone() })
            } else {
                Err(unknown_variant(&variant.text, variant.span.clone(), enum_name, variants))
            }
        }
        _ => Err(not_constant(expr)),
    }
}

fn not_constant(expr: &ast::Expr) -> Diagnostic {
    Diagnostic::new(Code::E0306, expr.span.clone(), "a default or migration value must be a constant")
        .with_label("not a constant")
        .with_help("use a literal, `null`, an enum variant, or (for a default of type `identity`) `op.author`")
}

pub(super) fn unknown_variant(name: &str, span: Span, enum_name: &str, variants: &[String]) -> Diagnostic {
    Diagnostic::new(Code::E0109, span, format!("enum `{enum_name}` has no variant `{name}`"))
        .with_label("unknown variant")
        .with_suggestion(name, variants.iter().map(String::as_str))
        .with_help_if_none(format!("the variants are: {}", variants.join(", ")))
}

impl Diagnostic {
    fn with_help_if_none(self, help: String) -> Diagnostic {
        if self.help.is_some() {
            self
        } else {
            self.with_help(help)
        }
    }
}
