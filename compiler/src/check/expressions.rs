//! Expressions: name resolution, type inference and the context rules of rules, checks and
//! defaults.
//!
//! Each lowering function returns `None` after reporting a problem, and callers stop there, so a
//! single mistake yields a single diagnostic.

use super::constants::unknown_variant;
use super::{FieldTable, Scope};
use crate::ast::{self, CompareOp, ExprKind, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Comparison, RowRef, Type};

/// The type of an expression: a schema type, or the type of the `null` literal.
#[derive(Debug, Clone, PartialEq)]
enum ValueType {
    Null,
    Known(Type),
}

impl ValueType {
    fn display(&self) -> String {
        match self {
            ValueType::Null => "null".to_owned(),
            ValueType::Known(ty) => ty.display(),
        }
    }

    fn is_condition(&self) -> bool {
        matches!(self, ValueType::Known(Type::Bool))
            || matches!(self, ValueType::Known(Type::Optional(inner)) if **inner == Type::Bool)
    }

    /// The type values are compared as: without `?`, and a counter reads as an `int`.
    fn comparable(&self) -> Option<Type> {
        match self {
            ValueType::Null => None,
            ValueType::Known(ty) => Some(comparable_type(ty)),
        }
    }

    fn is_optional(&self) -> bool {
        matches!(self, ValueType::Null | ValueType::Known(Type::Optional(_)))
    }
}

pub(super) fn comparable_type(ty: &Type) -> Type {
    match ty {
        Type::Optional(inner) => comparable_type(inner),
        Type::Counter => Type::Int,
        other => other.clone(),
    }
}

/// What kind of expression is being checked, which decides what it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContextKind {
    Rule { update_only: bool, has_delete: bool },
    Check,
}

#[derive(Debug, Clone)]
struct Variable {
    name: String,
    collection: String,
    span: Span,
}

/// Everything an expression can see: the row being written and the variables bound around it.
#[derive(Clone)]
pub(crate) struct Context<'s> {
    kind: ContextKind,
    /// The collection of the row being written; `None` in the check of a record type's field.
    collection: Option<&'s str>,
    fields: &'s FieldTable,
    variables: Vec<Variable>,
}

impl<'s> Context<'s> {
    pub fn check(collection: Option<&'s str>, fields: &'s FieldTable) -> Context<'s> {
        Context { kind: ContextKind::Check, collection, fields, variables: Vec::new() }
    }

    fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().rev().find(|variable| variable.name == name)
    }
}

pub(crate) fn lower_rule(
    scope: &Scope,
    collection: &str,
    fields: &FieldTable,
    rule: &ast::Rule,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ir::Rule> {
    let mut actions = Vec::new();
    let mut valid = true;
    for action in &rule.actions {
        actions.push(match &action.kind {
            ast::ActionKind::Insert => ir::Action::Insert,
            ast::ActionKind::Delete => ir::Action::Delete,
            ast::ActionKind::Update(None) => ir::Action::Update { fields: None },
            ast::ActionKind::Update(Some(names)) => {
                for name in names {
                    match fields.get(&name.text) {
                        None => {
                            valid = false;
                            diagnostics.push(
                                Diagnostic::new(
                                    Code::E0110,
                                    name.span.clone(),
                                    format!("collection `{collection}` has no field `{}`", name.text),
                                )
                                .with_label("unknown field")
                                .with_suggestion(&name.text, fields.names()),
                            );
                        }
                        Some(info) if info.readonly => {
                            valid = false;
                            diagnostics.push(
                                Diagnostic::new(
                                    Code::E0305,
                                    name.span.clone(),
                                    format!("`{}` is readonly, so no update can change it", name.text),
                                )
                                .with_label("readonly field")
                                .with_secondary(info.span.clone(), "declared here")
                                .with_help("remove it from the list, or drop `readonly` from the field"),
                            );
                        }
                        Some(_) => {}
                    }
                }
                ir::Action::Update { fields: Some(names.iter().map(|name| name.text.clone()).collect()) }
            }
        });
    }
    let update_only = actions.iter().all(|action| matches!(action, ir::Action::Update { .. }));
    let has_delete = actions.iter().any(|action| matches!(action, ir::Action::Delete));
    let context = Context {
        kind: ContextKind::Rule { update_only, has_delete },
        collection: Some(collection),
        fields,
        variables: Vec::new(),
    };
    let condition = lower_condition(scope, &context, &rule.condition, diagnostics)?;
    valid.then(|| ir::Rule { docs: super::docs_text(&rule.docs), actions, condition })
}

/// Lowers an expression that must be a `bool`: a rule's condition or a check.
pub(crate) fn lower_condition(
    scope: &Scope,
    context: &Context,
    expr: &ast::Expr,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ir::Expr> {
    let (lowered, ty) = lower(scope, context, expr, None, diagnostics)?;
    if ty.is_condition() {
        Some(lowered)
    } else {
        diagnostics.push(not_a_condition(expr, &ty));
        None
    }
}

fn not_a_condition(expr: &ast::Expr, ty: &ValueType) -> Diagnostic {
    Diagnostic::new(Code::E0203, expr.span.clone(), format!("expected a `bool` condition, found `{}`", ty.display()))
        .with_label(format!("this is `{}`", ty.display()))
        .with_help("compare it with something, e.g. `x = y`")
}

/// Lowers one expression and infers its type. `expected` helps bare enum variants resolve.
fn lower(
    scope: &Scope,
    context: &Context,
    expr: &ast::Expr,
    expected: Option<&Type>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ir::Expr, ValueType)> {
    let known = |ty: Type| ValueType::Known(ty);
    match &expr.kind {
        ExprKind::Bool(value) => Some((ir::Expr::Literal(ir::Value::Bool(*value)), known(Type::Bool))),
        ExprKind::Int(value) => Some((ir::Expr::Literal(ir::Value::Int(*value)), known(Type::Int))),
        ExprKind::Float(value) => Some((ir::Expr::Literal(ir::Value::Float(*value)), known(Type::Float))),
        ExprKind::String(value) => Some((ir::Expr::Literal(ir::Value::String(value.clone())), known(Type::String))),
        ExprKind::Null => Some((ir::Expr::Literal(ir::Value::Null), ValueType::Null)),
        ExprKind::Paren(inner) => lower(scope, context, inner, expected, diagnostics),
        ExprKind::Path(segments) => lower_path(scope, context, segments, expected, diagnostics),
        ExprKind::Call { function, argument } => {
            if function.text != "len" {
                diagnostics.push(
                    Diagnostic::new(
                        Code::E0114,
                        function.span.clone(),
                        format!("unknown function `{}`", function.text),
                    )
                    .with_label("not a function")
                    .with_help("the only function is `len(…)`"),
                );
                return None;
            }
            let (argument_ir, argument_type) = lower(scope, context, argument, None, diagnostics)?;
            let has_length = matches!(
                argument_type.comparable(),
                Some(Type::String | Type::Bytes | Type::List(_) | Type::Set(_) | Type::Map(_))
            );
            if !has_length {
                diagnostics.push(
                    Diagnostic::new(
                        Code::E0204,
                        argument.span.clone(),
                        format!("`len()` of `{}`", argument_type.display()),
                    )
                    .with_label("this has no length")
                    .with_help("`len()` takes a string, bytes, list, set or map"),
                );
                return None;
            }
            let result = if argument_type.is_optional() { Type::Optional(Box::new(Type::Int)) } else { Type::Int };
            Some((ir::Expr::Len(Box::new(argument_ir)), known(result)))
        }
        ExprKind::Not(operand) => {
            let operand_ir = lower_condition(scope, context, operand, diagnostics)?;
            Some((ir::Expr::Not(Box::new(operand_ir)), known(Type::Bool)))
        }
        ExprKind::And(left, right) | ExprKind::Or(left, right) => {
            let left_ir = lower_condition(scope, context, left, diagnostics);
            let right_ir = lower_condition(scope, context, right, diagnostics);
            let (left_ir, right_ir) = (Box::new(left_ir?), Box::new(right_ir?));
            let lowered = if matches!(expr.kind, ExprKind::And(..)) {
                ir::Expr::And(left_ir, right_ir)
            } else {
                ir::Expr::Or(left_ir, right_ir)
            };
            Some((lowered, known(Type::Bool)))
        }
        ExprKind::Compare { op, left, right } => lower_comparison(scope, context, *op, left, right, diagnostics),
        ExprKind::In { value, options } => {
            let (value_ir, value_type) = lower(scope, context, value, None, diagnostics)?;
            let expected_option = match &value_type {
                ValueType::Known(ty) => Some(comparable_type(ty)),
                ValueType::Null => None,
            };
            let mut options_ir = Vec::new();
            let mut valid = true;
            for option in options {
                let Some((option_ir, option_type)) =
                    lower(scope, context, option, expected_option.as_ref(), diagnostics)
                else {
                    valid = false;
                    continue;
                };
                if let Err(diagnostic) = check_equality(value, &value_type, option, &option_type) {
                    diagnostics.push(diagnostic);
                    valid = false;
                }
                options_ir.push(option_ir);
            }
            valid.then(|| (ir::Expr::In { value: Box::new(value_ir), options: options_ir }, known(Type::Bool)))
        }
        ExprKind::Exists { collection, variable, condition } => {
            lower_exists(scope, context, expr, collection, variable, condition.as_deref(), diagnostics)
        }
    }
}

fn lower_exists(
    scope: &Scope,
    context: &Context,
    expr: &ast::Expr,
    collection: &ast::Name,
    variable: &ast::Name,
    condition: Option<&ast::Expr>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ir::Expr, ValueType)> {
    if context.kind == ContextKind::Check {
        diagnostics.push(
            Diagnostic::new(Code::E0303, expr.span.clone(), "a `check` cannot use `exists`")
                .with_label("reads other rows")
                .with_help("a check sees only the row itself; put conditions on other rows in an `allow` rule"),
        );
        return None;
    }
    if !scope.is_collection(&collection.text) {
        let what = match scope.declarations.get(collection.text.as_str()) {
            Some(super::Declaration::Enum(_)) => {
                format!("`{}` is an enum, not a collection", collection.text)
            }
            Some(super::Declaration::Record(_)) => {
                format!("`{}` is a record type, not a collection", collection.text)
            }
            _ => format!("unknown collection `{}`", collection.text),
        };
        diagnostics.push(
            Diagnostic::new(Code::E0106, collection.span.clone(), what)
                .with_label("`exists` needs a collection")
                .with_suggestion(&collection.text, scope.collection_names()),
        );
        return None;
    }
    if matches!(variable.text.as_str(), "self" | "op" | "db" | "old" | "new") {
        diagnostics.push(
            Diagnostic::new(Code::E0115, variable.span.clone(), format!("`{}` cannot name a variable", variable.text))
                .with_label("a special name in expressions")
                .with_help(format!(
                    "`{}` already means something in rules; call the row something else",
                    variable.text
                )),
        );
        return None;
    }
    if let Some(outer) = context.variable(&variable.text) {
        diagnostics.push(
            Diagnostic::new(
                Code::E0111,
                variable.span.clone(),
                format!("the variable `{}` is already bound", variable.text),
            )
            .with_label("bound again here")
            .with_secondary(outer.span.clone(), "first bound here")
            .with_help("give the inner row another name"),
        );
        return None;
    }
    if let Some(field) = context.fields.get(&variable.text) {
        diagnostics.push(
            Diagnostic::new(
                Code::W0003,
                variable.span.clone(),
                format!(
                    "the variable `{}` hides the field `{}` of the row being written",
                    variable.text, variable.text
                ),
            )
            .with_label("inside this `exists`, the name means the bound row")
            .with_secondary(field.span.clone(), "the field it hides")
            .with_help("rename the variable so both stay reachable"),
        );
    }
    let mut inner = context.clone();
    inner.variables.push(Variable {
        name: variable.text.clone(),
        collection: collection.text.clone(),
        span: variable.span.clone(),
    });
    let condition_ir = match condition {
        Some(condition) => Some(Box::new(lower_condition(scope, &inner, condition, diagnostics)?)),
        None => None,
    };
    Some((
        ir::Expr::Exists {
            collection: collection.text.clone(),
            variable: variable.text.clone(),
            condition: condition_ir,
        },
        ValueType::Known(Type::Bool),
    ))
}

/// Whether `expr` is a lone name that only makes sense as an enum variant of an expected type.
fn needs_expected_type(context: &Context, expr: &ast::Expr) -> bool {
    match &expr.kind {
        ExprKind::Path(segments) => match segments.as_slice() {
            [single] => {
                let name = single.text.as_str();
                context.variable(name).is_none()
                    && context.fields.get(name).is_none()
                    && !matches!(name, "self" | "op" | "db" | "old" | "new")
            }
            _ => false,
        },
        ExprKind::Paren(inner) => needs_expected_type(context, inner),
        _ => false,
    }
}

fn lower_comparison(
    scope: &Scope,
    context: &Context,
    op: CompareOp,
    left: &ast::Expr,
    right: &ast::Expr,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ir::Expr, ValueType)> {
    // A bare enum variant on the left takes its type from the right: `admin = m.role`.
    let ((left_ir, left_type), (right_ir, right_type)) =
        if needs_expected_type(context, left) && !needs_expected_type(context, right) {
            let right_lowered = lower(scope, context, right, None, diagnostics)?;
            let expected = right_lowered.1.comparable();
            let left_lowered = lower(scope, context, left, expected.as_ref(), diagnostics)?;
            (left_lowered, right_lowered)
        } else {
            let left_lowered = lower(scope, context, left, None, diagnostics)?;
            let expected = left_lowered.1.comparable();
            let right_lowered = lower(scope, context, right, expected.as_ref(), diagnostics)?;
            (left_lowered, right_lowered)
        };
    let comparison = match op {
        CompareOp::Equal => Comparison::Equal,
        CompareOp::NotEqual => Comparison::NotEqual,
        CompareOp::Less => Comparison::Less,
        CompareOp::LessOrEqual => Comparison::LessOrEqual,
        CompareOp::Greater => Comparison::Greater,
        CompareOp::GreaterOrEqual => Comparison::GreaterOrEqual,
    };
    let result = match comparison {
        Comparison::Equal | Comparison::NotEqual => check_equality(left, &left_type, right, &right_type),
        _ => check_ordering(op, left, &left_type, right, &right_type),
    };
    if let Err(diagnostic) = result {
        diagnostics.push(diagnostic);
        return None;
    }
    Some((
        ir::Expr::Compare { op: comparison, left: Box::new(left_ir), right: Box::new(right_ir) },
        ValueType::Known(Type::Bool),
    ))
}

fn mismatched(left: &ast::Expr, left_type: &ValueType, right: &ast::Expr, right_type: &ValueType) -> Diagnostic {
    Diagnostic::new(
        Code::E0201,
        right.span.clone(),
        format!("cannot compare `{}` with `{}`", left_type.display(), right_type.display()),
    )
    .with_label(format!("this is `{}`", right_type.display()))
    .with_secondary(left.span.clone(), format!("this is `{}`", left_type.display()))
}

fn check_equality(
    left: &ast::Expr,
    left_type: &ValueType,
    right: &ast::Expr,
    right_type: &ValueType,
) -> Result<(), Diagnostic> {
    match (left_type, right_type) {
        (ValueType::Null, ValueType::Null) => Ok(()),
        (ValueType::Null, other) | (other, ValueType::Null) => {
            if other.is_optional() {
                Ok(())
            } else {
                Err(mismatched(left, left_type, right, right_type)
                    .with_help(format!("`{}` is never null; only optional values (`T?`) can be", other.display())))
            }
        }
        _ if left_type.comparable() == right_type.comparable() => Ok(()),
        _ => Err(mismatched(left, left_type, right, right_type)),
    }
}

fn check_ordering(
    op: CompareOp,
    left: &ast::Expr,
    left_type: &ValueType,
    right: &ast::Expr,
    right_type: &ValueType,
) -> Result<(), Diagnostic> {
    let (Some(left_base), Some(right_base)) = (left_type.comparable(), right_type.comparable()) else {
        let null_side = if *left_type == ValueType::Null { left } else { right };
        return Err(Diagnostic::new(
            Code::E0202,
            null_side.span.clone(),
            format!("`{}` cannot compare with `null`", op.symbol()),
        )
        .with_label("null has no order")
        .with_help("test for null with `=` or `!=`"));
    };
    if left_base != right_base {
        return Err(mismatched(left, left_type, right, right_type));
    }
    if matches!(left_base, Type::Int | Type::Float | Type::Timestamp | Type::String) {
        Ok(())
    } else {
        Err(Diagnostic::new(
            Code::E0202,
            left.span.clone(),
            format!("`{}` is not ordered, so `{}` cannot compare it", left_base.display(), op.symbol()),
        )
        .with_label(format!("this is `{}`", left_type.display()))
        .with_help("`<`, `<=`, `>` and `>=` take int, float, timestamp or string; use `=` or `!=`"))
    }
}

fn stateless_violation(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(Code::E0304, span, format!("a `check` cannot read {what}"))
        .with_label("not part of the row")
        .with_help("a check is a constraint on the row's own fields; conditions on the author or other rows belong in an `allow` rule")
}

fn lower_path(
    scope: &Scope,
    context: &Context,
    segments: &[ast::Name],
    expected: Option<&Type>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ir::Expr, ValueType)> {
    let first = segments.first()?;
    let whole_span = first.span.start..segments.last().map_or(first.span.end, |last| last.span.end);
    let in_check = context.kind == ContextKind::Check;
    let known = |ty: Type| ValueType::Known(ty);

    // Variables first: they may hide anything else.
    if let Some(variable) = context.variable(&first.text) {
        let row = RowRef::Bound(variable.name.clone());
        if segments.len() == 1 {
            return Some((ir::Expr::RowId(row), known(Type::Ref(variable.collection.clone()))));
        }
        let fields = scope.collection_fields.get(&variable.collection)?;
        return walk_fields(scope, fields, &variable.collection, row, &segments[1..], diagnostics);
    }
    if context.fields.get(&first.text).is_some() {
        let description = context.collection.unwrap_or("the record");
        return walk_fields(scope, context.fields, description, RowRef::Subject, segments, diagnostics);
    }
    match first.text.as_str() {
        "self" => {
            let Some(collection) = context.collection.filter(|_| !in_check) else {
                diagnostics.push(stateless_violation(whole_span, "`self`"));
                return None;
            };
            if segments.len() == 1 {
                return Some((ir::Expr::RowId(RowRef::Subject), known(Type::Ref(collection.to_owned()))));
            }
            walk_fields(scope, context.fields, collection, RowRef::Subject, &segments[1..], diagnostics)
        }
        "op" | "db" => {
            if in_check {
                diagnostics.push(stateless_violation(whole_span, &format!("`{}`", first.text)));
                return None;
            }
            let (member, lowered) =
                if first.text == "op" { ("author", ir::Expr::OpAuthor) } else { ("founder", ir::Expr::DbFounder) };
            match segments {
                [_, second] if second.text == member => Some((lowered, known(Type::Identity))),
                _ => {
                    let span = segments.get(1).map_or(whole_span.clone(), |second| second.span.clone());
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0108,
                            span,
                            format!("`{}` has one field: `{}.{member}`", first.text, first.text),
                        )
                        .with_label("unknown field")
                        .with_help(format!("write `{}.{member}`", first.text)),
                    );
                    None
                }
            }
        }
        "old" | "new" => {
            let row = if first.text == "old" { RowRef::Old } else { RowRef::New };
            if in_check {
                diagnostics.push(stateless_violation(whole_span, &format!("`{}.`", first.text)));
                return None;
            }
            if let ContextKind::Rule { update_only, has_delete } = context.kind {
                if row == RowRef::Old && !update_only {
                    diagnostics.push(
                        Diagnostic::new(Code::E0301, whole_span, "`old.` is only meaningful in a rule for updates")
                            .with_label("there is no previous version of the row here")
                            .with_help("move this condition to a rule that allows only `update` or `update(…)`"),
                    );
                    return None;
                }
                if row == RowRef::New && has_delete {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0302,
                            whole_span,
                            "`new.` cannot be used in a rule that allows `delete`",
                        )
                        .with_label("a deleted row has no new version")
                        .with_help("split the rule: one for `delete`, one for the actions that write the row"),
                    );
                    return None;
                }
            }
            if segments.len() == 1 {
                diagnostics.push(
                    Diagnostic::new(Code::E0107, whole_span, format!("`{}` must be followed by a field", first.text))
                        .with_label(format!("write `{}.<field>`", first.text)),
                );
                return None;
            }
            let collection = context.collection.unwrap_or("the record");
            walk_fields(scope, context.fields, collection, row, &segments[1..], diagnostics)
        }
        name if scope.enums.contains_key(name) && segments.len() == 2 => {
            scope.mark_used(name);
            let variants = &scope.enums[name];
            let variant = &segments[1];
            if variants.contains(&variant.text) {
                Some((
                    ir::Expr::Literal(ir::Value::EnumVariant {
                        r#enum: name.to_owned(),
                        variant: variant.text.clone(),
                    }),
                    known(Type::Enum(name.to_owned())),
                ))
            } else {
                diagnostics.push(unknown_variant(&variant.text, variant.span.clone(), name, variants));
                None
            }
        }
        name => {
            let candidates: Vec<&str> =
                context.variables.iter().map(|variable| variable.name.as_str()).chain(context.fields.names()).collect();
            if let (Some(Type::Enum(enum_name)), [_]) = (expected.map(comparable_type), segments) {
                // Where an enum is expected, a lone unknown name is read as a variant.
                let variants = scope.enums.get(&enum_name).map(Vec::as_slice).unwrap_or_default();
                scope.mark_used(&enum_name);
                if variants.iter().any(|variant| variant == name) {
                    return Some((
                        ir::Expr::Literal(ir::Value::EnumVariant {
                            r#enum: enum_name.clone(),
                            variant: name.to_owned(),
                        }),
                        known(Type::Enum(enum_name)),
                    ));
                }
                let mut diagnostic = unknown_variant(name, first.span.clone(), &enum_name, variants);
                if crate::diagnostics::closest_name(name, variants.iter().map(String::as_str)).is_none() {
                    if let Some(field) = crate::diagnostics::closest_name(name, candidates.iter().copied()) {
                        diagnostic.help = Some(format!("did you mean `{field}`?"));
                    }
                }
                diagnostics.push(diagnostic);
                return None;
            }
            diagnostics.push(
                Diagnostic::new(Code::E0107, first.span.clone(), format!("unknown name `{name}`"))
                    .with_label("not a field, variable or enum variant here")
                    .with_suggestion(name, candidates.iter().copied()),
            );
            None
        }
    }
}

/// Follows `segments` from a row's fields through record types.
fn walk_fields(
    scope: &Scope,
    fields: &FieldTable,
    owner: &str,
    row: RowRef,
    segments: &[ast::Name],
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(ir::Expr, ValueType)> {
    let mut table = fields;
    let mut owner = owner.to_owned();
    let mut optional = false;
    let mut current: Option<Type> = None;
    for segment in segments {
        if let Some(ty) = &current {
            let base = match ty {
                Type::Optional(inner) => {
                    optional = true;
                    inner.as_ref()
                }
                other => other,
            };
            let Type::Record(record) = base else {
                diagnostics.push(
                    Diagnostic::new(Code::E0108, segment.span.clone(), format!("`{}` has no fields", ty.display()))
                        .with_label("cannot read a field here"),
                );
                return None;
            };
            table = scope.record_fields.get(record)?;
            owner = record.clone();
        }
        let Some(info) = table.get(&segment.text) else {
            diagnostics.push(
                Diagnostic::new(
                    Code::E0108,
                    segment.span.clone(),
                    format!("`{owner}` has no field `{}`", segment.text),
                )
                .with_label("unknown field")
                .with_suggestion(&segment.text, table.names()),
            );
            return None;
        };
        current = Some(info.ty.clone());
    }
    let mut ty = current?;
    if optional && !matches!(ty, Type::Optional(_)) {
        ty = Type::Optional(Box::new(ty));
    }
    let path = segments.iter().map(|segment| segment.text.clone()).collect();
    Some((ir::Expr::Field { row, path }, ValueType::Known(ty)))
}
