//! Migrations: lowering `migrate from "…" { … }` blocks, and proving that the previous schema
//! plus the block's steps gives exactly the fields of this one.
//!
//! Only data shapes need explaining: fields added, removed, renamed or retyped, and collections
//! removed. New collections, enums, rules, checks, defaults and docs carry no data and need no
//! step.

use super::constants::lower_constant;
use super::{Priors, Scope};
use crate::ast::{self, MigrationStepKind};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Type};
use std::collections::{BTreeMap, BTreeSet};

/// Lowers a migration block against this schema (what the steps say about the new version).
pub(crate) fn lower_migration(
    scope: &Scope,
    migration: &ast::MigrationDecl,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ir::Migration> {
    let mut valid = true;
    if !crate::hash::is_well_formed(&migration.from) {
        valid = false;
        diagnostics.push(
            Diagnostic::new(
                Code::E0405,
                migration.from_span.clone(),
                format!("`{}` is not a schema hash", migration.from),
            )
            .with_label("expected `blake3:` and 64 lowercase hex digits")
            .with_help("run `schemac hash` on the previous version and paste what it prints"),
        );
    }
    let mut steps = Vec::new();
    for step in &migration.steps {
        match lower_step(scope, step) {
            Ok(lowered) => steps.push(lowered),
            Err(diagnostic) => {
                valid = false;
                diagnostics.push(diagnostic);
            }
        }
    }
    valid.then(|| ir::Migration { from: migration.from.clone(), steps })
}

fn unknown_in_new(target: &ast::QualifiedName, scope: &Scope) -> Option<Diagnostic> {
    let collection = &target.collection;
    let Some(fields) = scope.collection_fields.get(&collection.text) else {
        return Some(
            Diagnostic::new(
                Code::E0402,
                collection.span.clone(),
                format!("this schema has no collection `{}`", collection.text),
            )
            .with_label("unknown collection")
            .with_suggestion(&collection.text, scope.collection_names()),
        );
    };
    let field = target.field.as_ref()?;
    fields.get(&field.text).is_none().then(|| {
        Diagnostic::new(
            Code::E0402,
            field.span.clone(),
            format!("collection `{}` has no field `{}` in this schema", collection.text, field.text),
        )
        .with_label("unknown field")
        .with_suggestion(&field.text, fields.names())
    })
}

fn require_field(target: &ast::QualifiedName, step: &str) -> Result<(), Diagnostic> {
    if target.field.is_some() {
        Ok(())
    } else {
        Err(Diagnostic::new(
            Code::E0404,
            target.span.clone(),
            format!("`{step}` needs a field: `{step} Collection.field`"),
        )
        .with_label("a collection, not a field"))
    }
}

fn lower_step(scope: &Scope, step: &ast::MigrationStep) -> Result<ir::MigrationStep, Diagnostic> {
    match &step.kind {
        MigrationStepKind::Add { target, value: None } => {
            require_field(target, "add")?;
            if let Some(diagnostic) = unknown_in_new(target, scope) {
                return Err(diagnostic);
            }
            let collection = target.collection.text.clone();
            let field = target.field.as_ref().map(|name| name.text.clone()).unwrap_or_default();
            let info = &scope.collection_fields[&collection].by_name[&field];
            if !starts_empty(&info.ty) {
                return Err(Diagnostic::new(
                    Code::E0205,
                    target.span.clone(),
                    format!(
                        "`{collection}.{field}` has type `{}`, so existing rows need a value for it",
                        info.ty.display()
                    ),
                )
                .with_label("no value given")
                .with_help(format!("write `add {collection}.{field} = <value>;`")));
            }
            Ok(ir::MigrationStep::AddField { collection, field, value: None })
        }
        MigrationStepKind::Add { target, value: Some(value) } | MigrationStepKind::Set { target, value } => {
            let is_add = matches!(step.kind, MigrationStepKind::Add { .. });
            require_field(target, if is_add { "add" } else { "set" })?;
            if let Some(diagnostic) = unknown_in_new(target, scope) {
                return Err(diagnostic);
            }
            let collection = target.collection.text.clone();
            let field = target.field.as_ref().map(|name| name.text.clone()).unwrap_or_default();
            let info = &scope.collection_fields[&collection].by_name[&field];
            if matches!(info.ty, Type::Counter | Type::Set(_) | Type::Map(_) | Type::List(_)) {
                let help = if is_add {
                    format!("a new `{}` starts empty: write `add {collection}.{field};`", info.ty.display())
                } else {
                    "replicated and list fields cannot be overwritten by a migration".to_owned()
                };
                return Err(Diagnostic::new(
                    Code::E0205,
                    target.span.clone(),
                    format!("`{collection}.{field}` has type `{}`, which has no constant value", info.ty.display()),
                )
                .with_label("cannot be given a value")
                .with_help(help));
            }
            let value = lower_constant(scope, value, &info.ty, &field)?;
            Ok(if is_add {
                ir::MigrationStep::AddField { collection, field, value: Some(value) }
            } else {
                ir::MigrationStep::SetField { collection, field, value }
            })
        }
        MigrationStepKind::Rename { target, new_name } => {
            require_field(target, "rename")?;
            let renamed = ast::QualifiedName {
                collection: target.collection.clone(),
                field: Some(new_name.clone()),
                span: target.span.clone(),
            };
            if let Some(diagnostic) = unknown_in_new(&renamed, scope) {
                return Err(diagnostic);
            }
            Ok(ir::MigrationStep::RenameField {
                collection: target.collection.text.clone(),
                field: target.field.as_ref().map(|name| name.text.clone()).unwrap_or_default(),
                new_name: new_name.text.clone(),
            })
        }
        MigrationStepKind::Drop { target } => {
            let collection = target.collection.text.clone();
            match &target.field {
                None => {
                    if scope.is_collection(&collection) {
                        return Err(Diagnostic::new(
                            Code::E0404,
                            target.span.clone(),
                            format!("`drop {collection}` but this schema still has the collection `{collection}`"),
                        )
                        .with_label("still declared"));
                    }
                    Ok(ir::MigrationStep::DropCollection { collection })
                }
                Some(field) => {
                    let still_there = scope
                        .collection_fields
                        .get(&collection)
                        .is_some_and(|fields| fields.get(&field.text).is_some());
                    if still_there {
                        return Err(Diagnostic::new(
                            Code::E0404,
                            target.span.clone(),
                            format!("`drop {collection}.{}` but this schema still has that field", field.text),
                        )
                        .with_label("still declared")
                        .with_help("remove the field from the collection, or remove this step"));
                    }
                    Ok(ir::MigrationStep::DropField { collection, field: field.text.clone() })
                }
            }
        }
    }
}

/// Fields that existing rows can hold without a value: they start null, empty or at zero.
fn starts_empty(ty: &Type) -> bool {
    matches!(ty, Type::Optional(_) | Type::Set(_) | Type::Map(_) | Type::List(_) | Type::Counter)
}

/// The fields the old schema has once the steps are applied: collection → field → type.
type Shape = BTreeMap<String, BTreeMap<String, Type>>;

fn shape_of(schema: &ir::Schema) -> Shape {
    schema
        .collections
        .iter()
        .map(|(name, collection)| {
            (name.clone(), collection.fields.iter().map(|field| (field.name.clone(), field.ty.clone())).collect())
        })
        .collect()
}

/// Proves that `migration` takes its source schema to `new`, reporting each gap.
pub(crate) fn prove_migration(
    scope: &Scope,
    new: &ir::Schema,
    migration: &ast::MigrationDecl,
    priors: &Priors,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let Some(old) = priors.get(&migration.from) else {
        diagnostics.push(
            Diagnostic::new(
                Code::E0401,
                migration.from_span.clone(),
                format!("no known schema has the hash `{}`", migration.from),
            )
            .with_label("previous version not found")
            .with_help("put the previous version's .schema file in the same directory, or pass it with `--prior FILE`"),
        );
        return;
    };
    let mut shape = shape_of(old);
    let mut retyped: BTreeSet<(String, String)> = BTreeSet::new();
    for step in &migration.steps {
        if let Err(diagnostic) = apply_step(&mut shape, &mut retyped, new, step) {
            diagnostics.push(diagnostic);
            return;
        }
    }
    let expected = shape;
    let actual = shape_of(new);
    let changed = changed_definitions(old, new);
    for (collection, fields) in &expected {
        let Some(actual_fields) = actual.get(collection) else {
            diagnostics.push(
                Diagnostic::new(
                    Code::E0403,
                    migration.span.start..migration.from_span.end,
                    format!("collection `{collection}` was removed"),
                )
                .with_label("the previous version has it")
                .with_help(format!("add `drop {collection};` to this migration")),
            );
            continue;
        };
        for (field, old_type) in fields {
            match actual_fields.get(field) {
                None => diagnostics.push(
                    Diagnostic::new(
                        Code::E0403,
                        migration.span.start..migration.from_span.end,
                        format!("field `{collection}.{field}` was removed"),
                    )
                    .with_label("the previous version has it")
                    .with_help(format!(
                        "add `drop {collection}.{field};`, or `rename {collection}.{field} to <new name>;`"
                    )),
                ),
                Some(new_type) if new_type != old_type && !retyped.contains(&(collection.clone(), field.clone())) => {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0403,
                            field_span(scope, collection, field, migration),
                            format!(
                                "field `{collection}.{field}` changed type from `{}` to `{}`",
                                old_type.display(),
                                new_type.display()
                            ),
                        )
                        .with_label("type changed")
                        .with_help(format!("add `set {collection}.{field} = <value>;` to say what existing rows hold")),
                    );
                }
                Some(new_type) if !retyped.contains(&(collection.clone(), field.clone())) => {
                    // Same type name, but an enum or record it holds may have changed shape.
                    if let Some((name, change)) = changed.iter().find(|(name, _)| mentions(new_type, name)) {
                        diagnostics.push(
                            Diagnostic::new(
                                Code::E0403,
                                field_span(scope, collection, field, migration),
                                format!("existing values of `{collection}.{field}` may not fit: {change}"),
                            )
                            .with_label(format!("holds `{name}`"))
                            .with_help(format!(
                                "keep `{name}` compatible, or add `set {collection}.{field} = <value>;` to overwrite existing values"
                            )),
                        );
                    }
                }
                Some(_) => {}
            }
        }
        for field in actual_fields.keys() {
            if !fields.contains_key(field) {
                diagnostics.push(
                    Diagnostic::new(
                        Code::E0403,
                        field_span(scope, collection, field, migration),
                        format!("field `{collection}.{field}` is new"),
                    )
                    .with_label("existing rows have no value for it")
                    .with_help(format!("add `add {collection}.{field} = <value>;` to the migration")),
                );
            }
        }
    }
}

/// Enums that lost variants and records whose fields changed, between two versions, with a
/// description of the change. Added enum variants and added optional record fields keep old
/// values valid, so they are not listed.
fn changed_definitions(old: &ir::Schema, new: &ir::Schema) -> Vec<(String, String)> {
    let mut changed = Vec::new();
    for (name, old_enum) in &old.enums {
        if let Some(new_enum) = new.enums.get(name) {
            let removed: Vec<&str> = old_enum
                .variants
                .iter()
                .filter(|variant| !new_enum.variants.contains(variant))
                .map(String::as_str)
                .collect();
            if !removed.is_empty() {
                changed.push((name.clone(), format!("enum `{name}` no longer has {}", removed.join(", "))));
            }
        }
    }
    for (name, old_record) in &old.records {
        if let Some(new_record) = new.records.get(name) {
            let compatible = old_record
                .fields
                .iter()
                .all(|field| new_record.field(&field.name).is_some_and(|new| new.ty == field.ty))
                && new_record.fields.iter().all(|field| {
                    old_record.field(&field.name).is_some() || matches!(field.ty, Type::Optional(_) | Type::List(_))
                });
            if !compatible {
                changed.push((name.clone(), format!("record type `{name}` changed its fields")));
            }
        }
    }
    changed
}

/// Whether a type holds values of the named enum or record, at any depth.
fn mentions(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Enum(inner) | Type::Record(inner) => inner == name,
        Type::Optional(inner) | Type::List(inner) | Type::Set(inner) | Type::Map(inner) => mentions(inner, name),
        _ => false,
    }
}

fn field_span(scope: &Scope, collection: &str, field: &str, migration: &ast::MigrationDecl) -> ast::Span {
    scope
        .collection_fields
        .get(collection)
        .and_then(|fields| fields.get(field))
        .map_or(migration.from_span.clone(), |info| info.span.clone())
}

fn apply_step(
    shape: &mut Shape,
    retyped: &mut BTreeSet<(String, String)>,
    new: &ir::Schema,
    step: &ast::MigrationStep,
) -> Result<(), Diagnostic> {
    let target = match &step.kind {
        MigrationStepKind::Add { target, .. }
        | MigrationStepKind::Set { target, .. }
        | MigrationStepKind::Rename { target, .. }
        | MigrationStepKind::Drop { target } => target,
    };
    let collection = target.collection.text.clone();
    let field = target.field.as_ref().map(|name| name.text.clone()).unwrap_or_default();
    let new_type = |name: &str| new.collections.get(&collection).and_then(|c| c.field(name)).map(|f| f.ty.clone());
    let missing_in_old = |what: String| {
        Diagnostic::new(Code::E0402, target.span.clone(), format!("the previous version has no {what}"))
            .with_label("not in the previous version")
    };
    if let MigrationStepKind::Drop { target: ast::QualifiedName { field: None, .. } } = &step.kind {
        return match shape.remove(&collection) {
            Some(_) => Ok(()),
            None => Err(missing_in_old(format!("collection `{collection}`"))),
        };
    }
    let Some(fields) = shape.get_mut(&collection) else {
        // `add` to a collection that is new in this version needs no step, so one is a mistake.
        return Err(missing_in_old(format!("collection `{collection}`")));
    };
    match &step.kind {
        MigrationStepKind::Add { .. } => {
            if fields.contains_key(&field) {
                return Err(Diagnostic::new(
                    Code::E0404,
                    target.span.clone(),
                    format!("`add {collection}.{field}` but the previous version already has that field"),
                )
                .with_label("not new")
                .with_help(format!("use `set {collection}.{field} = …;` to overwrite existing values")));
            }
            fields.insert(field.clone(), new_type(&field).unwrap_or(Type::Bool));
        }
        MigrationStepKind::Set { .. } => {
            if !fields.contains_key(&field) {
                return Err(missing_in_old(format!("field `{collection}.{field}`"))
                    .with_help(format!("a new field takes `add {collection}.{field} = …;`")));
            }
            if let Some(ty) = new_type(&field) {
                fields.insert(field.clone(), ty);
            }
            retyped.insert((collection.clone(), field.clone()));
        }
        MigrationStepKind::Rename { new_name, .. } => {
            let Some(ty) = fields.remove(&field) else {
                return Err(missing_in_old(format!("field `{collection}.{field}`")));
            };
            if fields.contains_key(&new_name.text) {
                return Err(Diagnostic::new(
                    Code::E0404,
                    new_name.span.clone(),
                    format!(
                        "cannot rename to `{}`: the previous version already has a field with that name",
                        new_name.text
                    ),
                )
                .with_label("name taken"));
            }
            fields.insert(new_name.text.clone(), ty);
        }
        MigrationStepKind::Drop { .. } => {
            if fields.remove(&field).is_none() {
                return Err(missing_in_old(format!("field `{collection}.{field}`")));
            }
        }
    }
    Ok(())
}
