//! AST → checked IR: name resolution, type checking, context rules and migration proofs.
//!
//! The checker reports *every* problem it finds in one run. When one part of the file is wrong
//! it keeps checking the rest, but it does not pile follow-up errors on top of the first one
//! (an expression whose operand failed to resolve is not also reported as mistyped). An IR is
//! produced only when there are no errors.

use crate::ast::{self, Span};
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{self, Type};
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod constants;
mod expressions;
mod migrations;

/// Previously compiled schemas, by their `blake3:<hex>` hash, that migrations may upgrade from.
#[derive(Debug, Clone, Default)]
pub struct Priors {
    schemas: BTreeMap<String, ir::Schema>,
}

impl Priors {
    pub fn new() -> Priors {
        Priors::default()
    }

    /// Adds a compiled schema under its hash.
    pub fn insert(&mut self, schema: ir::Schema) {
        let hash = crate::hash::schema_hash(&schema).to_string();
        self.schemas.insert(hash, schema);
    }

    pub fn get(&self, hash: &str) -> Option<&ir::Schema> {
        self.schemas.get(hash)
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }
}

/// What checking a file produced: the IR when there were no errors, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Checked {
    pub ir: Option<ir::Schema>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Names that expressions give a meaning of their own, so no field may be called them.
const RESERVED_FIELD_NAMES: &[&str] =
    &["id", "self", "op", "db", "old", "new", "and", "or", "not", "in", "exists", "where", "true", "false", "null"];

const BUILTIN_TYPES: &[&str] = &["bool", "int", "float", "string", "bytes", "timestamp", "identity", "counter"];

/// A top-level name: what it declares and where.
#[derive(Debug, Clone, Copy)]
enum Declaration<'a> {
    Enum(&'a ast::EnumDecl),
    Record(&'a ast::RecordDecl),
    Collection { decl: &'a ast::CollectionDecl, parent: Option<&'a str> },
}

impl Declaration<'_> {
    fn name_span(&self) -> Span {
        match self {
            Declaration::Enum(decl) => decl.name.span.clone(),
            Declaration::Record(decl) => decl.name.span.clone(),
            Declaration::Collection { decl, .. } => decl.name.span.clone(),
        }
    }
}

/// A field as the expression checker sees it.
#[derive(Debug, Clone)]
pub(crate) struct FieldInfo {
    pub ty: Type,
    pub readonly: bool,
    pub span: Span,
}

/// The fields of one collection or record, in declaration order, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct FieldTable {
    pub order: Vec<String>,
    pub by_name: HashMap<String, FieldInfo>,
}

impl FieldTable {
    fn get(&self, name: &str) -> Option<&FieldInfo> {
        self.by_name.get(name)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

/// Everything resolved about the file's declarations, shared by the later passes.
pub(crate) struct Scope<'a> {
    declarations: BTreeMap<&'a str, Declaration<'a>>,
    pub collection_fields: HashMap<String, FieldTable>,
    pub record_fields: HashMap<String, FieldTable>,
    pub enums: HashMap<String, Vec<String>>,
    /// Enums and records named anywhere, for the unused-declaration warnings.
    used_types: std::cell::RefCell<BTreeSet<String>>,
}

impl<'a> Scope<'a> {
    pub fn is_collection(&self, name: &str) -> bool {
        matches!(self.declarations.get(name), Some(Declaration::Collection { .. }))
    }

    pub fn collection_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.declarations
            .iter()
            .filter_map(|(name, declaration)| matches!(declaration, Declaration::Collection { .. }).then_some(*name))
    }

    pub fn mark_used(&self, name: &str) {
        self.used_types.borrow_mut().insert(name.to_owned());
    }
}

/// Checks a parsed file. `priors` are the schemas its migrations may name; with `None`, the
/// migrations are checked against this schema only and not proved against their source.
pub fn check(file: &ast::File, priors: Option<&Priors>) -> Checked {
    let mut diagnostics = Vec::new();
    let declarations = collect_declarations(file, &mut diagnostics);
    let mut scope = Scope {
        declarations,
        collection_fields: HashMap::new(),
        record_fields: HashMap::new(),
        enums: HashMap::new(),
        used_types: Default::default(),
    };
    check_enums(&mut scope, &mut diagnostics);
    resolve_field_tables(&mut scope, &mut diagnostics);
    check_record_cycles(&scope, &mut diagnostics);

    let mut schema = ir::Schema {
        ir_version: ir::IR_VERSION,
        name: file.name.text.clone(),
        docs: docs_text(&file.docs),
        enums: BTreeMap::new(),
        records: BTreeMap::new(),
        collections: BTreeMap::new(),
        migrations: Vec::new(),
    };
    for (name, declaration) in &scope.declarations {
        match declaration {
            Declaration::Enum(decl) => {
                let variants = scope.enums.get(*name).cloned().unwrap_or_default();
                schema.enums.insert((*name).to_owned(), ir::Enum { docs: docs_text(&decl.docs), variants });
            }
            Declaration::Record(decl) => {
                let empty = FieldTable::default();
                let table = scope.record_fields.get(*name).unwrap_or(&empty);
                let fields = lower_fields(&scope, &decl.fields, table, None, &mut diagnostics);
                schema.records.insert((*name).to_owned(), ir::Record { docs: docs_text(&decl.docs), fields });
            }
            Declaration::Collection { decl, parent } => {
                let collection = lower_collection(&scope, decl, *parent, &mut diagnostics);
                schema.collections.insert((*name).to_owned(), collection);
            }
        }
    }
    for item in &file.items {
        if let ast::Item::Migration(migration) = item {
            if let Some(lowered) = migrations::lower_migration(&scope, migration, &mut diagnostics) {
                schema.migrations.push(lowered);
            }
        }
    }
    schema.migrations.sort_by(|left, right| left.from.cmp(&right.from));
    warn_unused(&scope, &mut diagnostics);

    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    if let (false, Some(priors)) = (has_errors, priors) {
        for item in &file.items {
            if let ast::Item::Migration(migration) = item {
                migrations::prove_migration(&scope, &schema, migration, priors, &mut diagnostics);
            }
        }
    }
    diagnostics.sort_by_key(|diagnostic| (diagnostic.primary.span.start, diagnostic.code));
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    Checked { ir: (!has_errors).then_some(schema), diagnostics }
}

pub(crate) fn docs_text(docs: &ast::Docs) -> Option<String> {
    (!docs.lines.is_empty()).then(|| docs.lines.join("\n"))
}

fn collect_declarations<'a>(
    file: &'a ast::File,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<&'a str, Declaration<'a>> {
    let mut declarations = BTreeMap::new();
    let mut add = |name: &'a ast::Name, declaration: Declaration<'a>, diagnostics: &mut Vec<Diagnostic>| {
        if let Some(first) = declarations.get(name.text.as_str()) {
            let first: &Declaration = first;
            diagnostics.push(
                Diagnostic::new(Code::E0101, name.span.clone(), format!("the name `{}` is declared twice", name.text))
                    .with_label("declared again here")
                    .with_secondary(first.name_span(), "first declared here")
                    .with_help("collections, enums and record types share one namespace; rename one of them"),
            );
        } else if BUILTIN_TYPES.contains(&name.text.as_str()) {
            diagnostics.push(
                Diagnostic::new(Code::E0101, name.span.clone(), format!("`{}` is a built-in type", name.text))
                    .with_label("this name is taken by the built-in type"),
            );
        } else {
            declarations.insert(name.text.as_str(), declaration);
        }
    };
    fn add_collection<'a>(
        decl: &'a ast::CollectionDecl,
        parent: Option<&'a str>,
        add: &mut dyn FnMut(&'a ast::Name, Declaration<'a>, &mut Vec<Diagnostic>),
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        add(&decl.name, Declaration::Collection { decl, parent }, diagnostics);
        for member in &decl.members {
            if let ast::Member::Collection(nested) = member {
                add_collection(nested, Some(&decl.name.text), add, diagnostics);
            }
        }
    }
    for item in &file.items {
        match item {
            ast::Item::Enum(decl) => add(&decl.name, Declaration::Enum(decl), diagnostics),
            ast::Item::Record(decl) => add(&decl.name, Declaration::Record(decl), diagnostics),
            ast::Item::Collection(decl) => add_collection(decl, None, &mut add, diagnostics),
            ast::Item::Migration(_) => {}
        }
    }
    declarations
}

fn check_enums(scope: &mut Scope, diagnostics: &mut Vec<Diagnostic>) {
    for (name, declaration) in &scope.declarations {
        let Declaration::Enum(decl) = declaration else {
            continue;
        };
        let mut seen: HashMap<&str, &ast::Name> = HashMap::new();
        let mut variants = Vec::new();
        for variant in &decl.variants {
            if let Some(first) = seen.get(variant.name.text.as_str()) {
                diagnostics.push(
                    Diagnostic::new(
                        Code::E0103,
                        variant.name.span.clone(),
                        format!("enum `{name}` has the variant `{}` twice", variant.name.text),
                    )
                    .with_label("declared again here")
                    .with_secondary(first.span.clone(), "first declared here"),
                );
            } else {
                seen.insert(&variant.name.text, &variant.name);
                variants.push(variant.name.text.clone());
            }
        }
        scope.enums.insert((*name).to_owned(), variants);
    }
}

/// Where a type appears, which decides whether the replicated types may be used there.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TypePosition {
    CollectionField,
    Nested,
}

fn resolve_type(
    scope: &Scope,
    ty: &ast::TypeExpr,
    position: TypePosition,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Type> {
    let misplaced = |what: &str| {
        Diagnostic::new(Code::E0206, ty.span.clone(), format!("{what} can only be the type of a collection field"))
            .with_label("not allowed here")
            .with_help("counters, sets and maps merge concurrent changes per row; they cannot sit inside records, lists, maps or optionals")
    };
    let inner_position = TypePosition::Nested;
    let base = match &ty.kind {
        ast::TypeExprKind::Named(name) => match name.text.as_str() {
            "bool" => Type::Bool,
            "int" => Type::Int,
            "float" => Type::Float,
            "string" => Type::String,
            "bytes" => Type::Bytes,
            "timestamp" => Type::Timestamp,
            "identity" => Type::Identity,
            "counter" => {
                if position != TypePosition::CollectionField || ty.optional {
                    diagnostics.push(misplaced("`counter`"));
                    return None;
                }
                Type::Counter
            }
            other => match scope.declarations.get(other) {
                Some(Declaration::Enum(_)) => {
                    scope.mark_used(other);
                    Type::Enum(other.to_owned())
                }
                Some(Declaration::Record(_)) => {
                    scope.mark_used(other);
                    Type::Record(other.to_owned())
                }
                Some(Declaration::Collection { .. }) => {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::E0104,
                            name.span.clone(),
                            format!("`{other}` is a collection, not a type"),
                        )
                        .with_label("a collection cannot be stored inside a field")
                        .with_help(format!("to point at a row of `{other}`, write `ref {other}`")),
                    );
                    return None;
                }
                None => {
                    let candidates: Vec<&str> = BUILTIN_TYPES
                        .iter()
                        .copied()
                        .chain(scope.declarations.iter().filter_map(|(name, declaration)| {
                            (!matches!(declaration, Declaration::Collection { .. })).then_some(*name)
                        }))
                        .collect();
                    diagnostics.push(
                        Diagnostic::new(Code::E0104, name.span.clone(), format!("unknown type `{other}`"))
                            .with_label("not a built-in type, enum or record type")
                            .with_suggestion(other, candidates),
                    );
                    return None;
                }
            },
        },
        ast::TypeExprKind::Ref(target) => {
            if scope.is_collection(&target.text) {
                Type::Ref(target.text.clone())
            } else {
                let what = match scope.declarations.get(target.text.as_str()) {
                    Some(Declaration::Enum(_)) => {
                        format!("`{}` is an enum, not a collection", target.text)
                    }
                    Some(Declaration::Record(_)) => {
                        format!("`{}` is a record type, not a collection", target.text)
                    }
                    _ => format!("unknown collection `{}`", target.text),
                };
                let diagnostic =
                    Diagnostic::new(Code::E0105, target.span.clone(), format!("`ref` must name a collection: {what}"))
                        .with_label("not a collection")
                        .with_suggestion(&target.text, scope.collection_names());
                diagnostics.push(diagnostic);
                return None;
            }
        }
        ast::TypeExprKind::List(element) => {
            Type::List(Box::new(resolve_type(scope, element, inner_position, diagnostics)?))
        }
        ast::TypeExprKind::Set(element) => {
            if position != TypePosition::CollectionField || ty.optional {
                diagnostics.push(misplaced("`set<…>`"));
                return None;
            }
            let element_type = resolve_type(scope, element, inner_position, diagnostics)?;
            let scalar = matches!(
                element_type,
                Type::Bool
                    | Type::Int
                    | Type::String
                    | Type::Bytes
                    | Type::Timestamp
                    | Type::Identity
                    | Type::Enum(_)
                    | Type::Ref(_)
            );
            if !scalar {
                diagnostics.push(
                    Diagnostic::new(Code::E0206, element.span.clone(), format!("a set cannot hold `{}`", element_type.display()))
                        .with_label("not a scalar type")
                        .with_help("set elements must be bool, int, string, bytes, timestamp, identity, an enum or a ref (values with one exact equality)"),
                );
                return None;
            }
            Type::Set(Box::new(element_type))
        }
        ast::TypeExprKind::Map(key, value) => {
            if position != TypePosition::CollectionField || ty.optional {
                diagnostics.push(misplaced("`map<…>`"));
                return None;
            }
            let key_is_string =
                !key.optional && matches!(&key.kind, ast::TypeExprKind::Named(name) if name.text == "string");
            if !key_is_string {
                diagnostics.push(
                    Diagnostic::new(Code::E0206, key.span.clone(), "map keys must be `string`")
                        .with_label("not `string`")
                        .with_help("write `map<string, …>`"),
                );
                return None;
            }
            Type::Map(Box::new(resolve_type(scope, value, inner_position, diagnostics)?))
        }
    };
    Some(if ty.optional { Type::Optional(Box::new(base)) } else { base })
}

/// Builds the field tables of every collection and record, reporting duplicates, reserved names
/// and bad types. A field whose type does not resolve is left out, so later passes see it as
/// unknown instead of reporting it again.
fn resolve_field_tables(scope: &mut Scope, diagnostics: &mut Vec<Diagnostic>) {
    let mut collection_fields = HashMap::new();
    let mut record_fields = HashMap::new();
    for (name, declaration) in &scope.declarations {
        match declaration {
            Declaration::Collection { decl, parent } => {
                let mut table = FieldTable::default();
                if let Some(parent) = parent {
                    table.order.push("parent".to_owned());
                    table.by_name.insert(
                        "parent".to_owned(),
                        FieldInfo { ty: Type::Ref((*parent).to_owned()), readonly: true, span: decl.name.span.clone() },
                    );
                }
                let fields = decl.members.iter().filter_map(|member| match member {
                    ast::Member::Field(field) => Some(field),
                    _ => None,
                });
                fill_table(scope, &mut table, fields, TypePosition::CollectionField, parent.is_some(), diagnostics);
                collection_fields.insert((*name).to_owned(), table);
            }
            Declaration::Record(decl) => {
                let mut table = FieldTable::default();
                fill_table(scope, &mut table, decl.fields.iter(), TypePosition::Nested, false, diagnostics);
                record_fields.insert((*name).to_owned(), table);
            }
            Declaration::Enum(_) => {}
        }
    }
    scope.collection_fields = collection_fields;
    scope.record_fields = record_fields;
}

fn fill_table<'f>(
    scope: &Scope,
    table: &mut FieldTable,
    fields: impl Iterator<Item = &'f ast::Field>,
    position: TypePosition,
    nested: bool,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut seen: HashMap<String, Span> = HashMap::new();
    for field in fields {
        let name = &field.name.text;
        if let Some(first) = seen.get(name) {
            diagnostics.push(
                Diagnostic::new(Code::E0102, field.name.span.clone(), format!("the field `{name}` is declared twice"))
                    .with_label("declared again here")
                    .with_secondary(first.clone(), "first declared here"),
            );
            continue;
        }
        seen.insert(name.clone(), field.name.span.clone());
        let reserved = RESERVED_FIELD_NAMES.contains(&name.as_str()) || (nested && name == "parent");
        if reserved {
            let why = match name.as_str() {
                "id" => "every row already has an implicit `id`".to_owned(),
                "parent" => "rows of a nested collection already have an implicit `parent` field".to_owned(),
                other => format!("`{other}` has a meaning of its own in expressions"),
            };
            diagnostics.push(
                Diagnostic::new(Code::E0113, field.name.span.clone(), format!("`{name}` cannot be a field name"))
                    .with_label(why)
                    .with_help("choose another name"),
            );
            continue;
        }
        let Some(ty) = resolve_type(scope, &field.ty, position, diagnostics) else {
            continue;
        };
        let readonly = field.modifiers.iter().any(|modifier| matches!(modifier, ast::FieldModifier::Readonly(_)));
        table.order.push(name.clone());
        table.by_name.insert(name.clone(), FieldInfo { ty, readonly, span: field.name.span.clone() });
    }
}

/// Record types may not contain themselves, directly or through other records.
fn check_record_cycles(scope: &Scope, diagnostics: &mut Vec<Diagnostic>) {
    fn records_in(ty: &Type, out: &mut Vec<String>) {
        match ty {
            Type::Record(name) => out.push(name.clone()),
            Type::Optional(inner) | Type::List(inner) | Type::Set(inner) | Type::Map(inner) => records_in(inner, out),
            _ => {}
        }
    }
    let mut edges: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, table) in &scope.record_fields {
        let mut targets = Vec::new();
        for info in table.by_name.values() {
            records_in(&info.ty, &mut targets);
        }
        targets.sort();
        targets.dedup();
        edges.insert(name.as_str(), targets);
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for start in edges.keys() {
        // Depth-first search for a path from `start` back to itself.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.to_string(), vec![start.to_string()])];
        let mut visited = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(node.as_str()).into_iter().flatten() {
                if next == start {
                    let mut members = path.clone();
                    members.sort();
                    if reported.insert(members.join(",")) {
                        let Some(Declaration::Record(decl)) = scope.declarations.get(*start) else {
                            continue;
                        };
                        let mut cycle = path.clone();
                        cycle.push(start.to_string());
                        diagnostics.push(
                            Diagnostic::new(
                                Code::E0112,
                                decl.name.span.clone(),
                                format!("record type `{start}` contains itself: {}", cycle.join(" → ")),
                            )
                            .with_label("this type would be infinitely large")
                            .with_help("break the cycle with a collection and a `ref`, which stores a row id instead of the value"),
                        );
                    }
                } else if visited.insert(next.clone()) {
                    let mut extended = path.clone();
                    extended.push(next.clone());
                    stack.push((next.clone(), extended));
                }
            }
        }
    }
}

/// Whether an `indexed` modifier stands: a collection's field whose values an index can hold
/// one by one (not a record type's field, nor a list, set, map, counter or record).
fn check_indexed(
    ty: &Type,
    collection: Option<&str>,
    span: &Span,
    field: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let why = if collection.is_none() {
        "a record type's fields live inside a row's value, where no index reaches"
    } else if !ty.is_scalar() {
        "an index holds one value per row; lists, sets, maps, counters and records hold several"
    } else {
        return true;
    };
    diagnostics.push(
        Diagnostic::new(Code::E0116, span.clone(), format!("`{field}` cannot be indexed")).with_label(why).with_help(
            "index a collection's field of a single value (a string, number, enum, ref, …), or drop `indexed`",
        ),
    );
    false
}

fn lower_fields<'f>(
    scope: &Scope,
    fields: impl IntoIterator<Item = &'f ast::Field>,
    table: &FieldTable,
    collection: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<ir::Field> {
    let mut lowered = Vec::new();
    for field in fields {
        // Fields that failed to resolve were reported already; a duplicate is not the entry.
        let Some(info) = table.get(&field.name.text).filter(|info| info.span == field.name.span) else {
            continue;
        };
        let mut default = None;
        let mut check = None;
        let mut indexed = false;
        for modifier in &field.modifiers {
            match modifier {
                ast::FieldModifier::Readonly(_) => {}
                ast::FieldModifier::Indexed(span) => {
                    indexed = check_indexed(&info.ty, collection, span, &field.name.text, diagnostics);
                }
                ast::FieldModifier::Default(expr) => {
                    default = constants::lower_default(scope, expr, &info.ty, &field.name.text, diagnostics);
                }
                ast::FieldModifier::Check(expr) => {
                    let context = expressions::Context::check(collection, table);
                    check = expressions::lower_condition(scope, &context, expr, diagnostics);
                }
            }
        }
        lowered.push(ir::Field {
            name: field.name.text.clone(),
            docs: docs_text(&field.docs),
            ty: info.ty.clone(),
            readonly: info.readonly,
            indexed,
            default,
            check,
        });
    }
    lowered
}

fn lower_collection(
    scope: &Scope,
    decl: &ast::CollectionDecl,
    parent: Option<&str>,
    diagnostics: &mut Vec<Diagnostic>,
) -> ir::Collection {
    let name = decl.name.text.as_str();
    let own_fields = decl.members.iter().filter_map(|member| match member {
        ast::Member::Field(field) => Some(field),
        _ => None,
    });
    let mut fields = Vec::new();
    if let Some(parent) = parent {
        fields.push(ir::Field {
            name: "parent".to_owned(),
            docs: None,
            ty: Type::Ref(parent.to_owned()),
            readonly: true,
            indexed: false,
            default: None,
            check: None,
        });
    }
    let empty = FieldTable::default();
    let table = scope.collection_fields.get(name).unwrap_or(&empty);
    fields.extend(lower_fields(scope, own_fields, table, Some(name), diagnostics));
    let mut rules = Vec::new();
    for member in &decl.members {
        if let ast::Member::Rule(rule) = member {
            if let Some(lowered) = expressions::lower_rule(scope, name, table, rule, diagnostics) {
                rules.push(lowered);
            }
        }
    }
    let has_rules = decl.members.iter().any(|member| matches!(member, ast::Member::Rule(_)));
    if !has_rules {
        diagnostics.push(
            Diagnostic::new(
                Code::W0001,
                decl.name.span.clone(),
                format!("collection `{name}` has no `allow` rule, so it is read-only"),
            )
            .with_label("nobody can insert, update or delete rows here")
            .with_help("add a rule such as `allow insert if op.author = db.founder;`"),
        );
    }
    ir::Collection { docs: docs_text(&decl.docs), parent: parent.map(str::to_owned), fields, rules }
}

fn warn_unused(scope: &Scope, diagnostics: &mut Vec<Diagnostic>) {
    let used = scope.used_types.borrow();
    for (name, declaration) in &scope.declarations {
        if used.contains(*name) {
            continue;
        }
        match declaration {
            Declaration::Enum(decl) => diagnostics.push(
                Diagnostic::new(Code::W0002, decl.name.span.clone(), format!("enum `{name}` is never used"))
                    .with_label("no field has this type")
                    .with_help("use it as a field type, or remove it"),
            ),
            Declaration::Record(decl) => diagnostics.push(
                Diagnostic::new(Code::W0004, decl.name.span.clone(), format!("record type `{name}` is never used"))
                    .with_label("no field has this type")
                    .with_help("use it as a field type, or remove it"),
            ),
            Declaration::Collection { .. } => {}
        }
    }
}
