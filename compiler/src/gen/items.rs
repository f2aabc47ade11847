//! The data types of a generated module: an enum per schema enum, a struct per record, and per
//! collection its id, its row struct (read from rows), its insert struct (with the defaults and
//! the compiled checks) and its changes struct (an update's new values, in events).

use super::checks::check_calls;
use super::names::{self, ident, Names};
use super::types::{has_float, id_type, new_type, row_type, starts_empty};
use super::{close_block, docs, string_literal, Context, GenError};
use crate::ir;

pub fn generate(cx: &Context, names: &mut Names, out: &mut String) -> Result<(), GenError> {
    for (name, definition) in &cx.schema.enums {
        if cx.options.extern_types.contains_key(name) {
            continue;
        }
        names.take(name, format!("enum {name}"))?;
        if definition.variants.is_empty() {
            return Err(GenError::EmptyEnum { name: name.clone() });
        }
        enumeration(cx, name, definition, out)?;
    }
    for (name, record) in &cx.schema.records {
        if cx.options.extern_types.contains_key(name) {
            continue;
        }
        names.take(name, format!("record {name}"))?;
        record_struct(cx, name, record, out);
    }
    for (name, collection) in &cx.schema.collections {
        for (generated, purpose) in [
            (name.clone(), "row struct"),
            (id_type(name), "id"),
            (format!("New{name}"), "insert struct"),
            (format!("{name}Changes"), "changes struct"),
        ] {
            names.take(&generated, format!("the {purpose} of collection {name}"))?;
        }
        if collection.fields.iter().any(|field| field.name == "id") {
            return Err(GenError::NameClash {
                name: format!("{name}.id"),
                first: "the row's id".into(),
                second: format!("a field of collection {name}"),
            });
        }
        let rt = &cx.rt;
        let row = ident(name);
        let id = id_type(name);
        item!(out, "/// The id of a `{name}` row.\npub type {id} = {rt}::typed::Id<{row}>;\n");
        row_struct(cx, name, collection, out)?;
        insert_struct(cx, name, collection, out)?;
        changes_struct(cx, name, collection, out);
    }
    Ok(())
}

/// A serialized type's docs, derives (the standard ones, then serde's through the runtime's
/// re-export) and attributes, up to its `pub struct` or `pub enum` line.
fn type_header(
    cx: &Context,
    out: &mut String,
    name: &str,
    documentation: &Option<String>,
    fallback: &str,
    derives: &str,
) {
    let rt = &cx.rt;
    super::blank_line(out);
    docs(out, documentation, fallback, "");
    let path = string_literal(&format!("{rt}::__serde"));
    emit!(
        out,
        "#[derive({derives})]\n#[derive({rt}::__serde::Serialize, {rt}::__serde::Deserialize)]\n#[serde(crate = {path})]\n"
    );
    out.push_str(&cx.type_attributes(name, ""));
}

/// `items` as the inside of a list: on the line when it fits in `width`, else one per line at
/// `indent` plus four spaces, with the closing bracket's line at `indent`.
fn list(items: &[String], width: usize, indent: &str) -> String {
    let inline = items.join(", ");
    if inline.len() <= width {
        return inline;
    }
    let mut out = String::from("\n");
    for item in items {
        emit!(&mut out, "{indent}    {item},\n");
    }
    out.push_str(indent);
    out
}

fn enumeration(cx: &Context, name: &str, definition: &ir::Enum, out: &mut String) -> Result<(), GenError> {
    let rt = &cx.rt;
    let type_name = ident(name);
    let mut taken = Names::default();
    let mut variants = Vec::new();
    for variant in &definition.variants {
        let generated = names::variant(variant)?;
        taken.take(&generated, format!("variant {variant} of enum {name}"))?;
        variants.push((generated, variant, string_literal(variant)));
    }
    let derives = "Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash";
    type_header(cx, out, name, &definition.docs, &format!("The schema's enum `{name}`."), derives);
    emit!(out, "pub enum {type_name} {{\n");
    for (variant, schema_name, literal) in &variants {
        emit!(out, "    /// `{schema_name}`.\n    #[serde(rename = {literal})]\n    {variant},\n");
    }
    close_block(out, "", '}');
    let count = variants.len();
    let all = variants.iter().map(|(variant, ..)| format!("{type_name}::{variant}")).collect::<Vec<_>>();
    let all = list(&all, 60, "    ");
    item!(
        out,
        "\
impl {type_name} {{
    /// Every variant, in the schema's order.
    pub const ALL: [{type_name}; {count}] = [{all}];

    /// The variant's name in the schema.
    pub fn as_str(&self) -> &'static str {{
        match *self {{
"
    );
    for (variant, _, literal) in &variants {
        emit!(out, "            {type_name}::{variant} => {literal},\n");
    }
    close_block(out, "        ", '}');
    emit!(
        out,
        "
    }}
}}

impl ::core::fmt::Display for {type_name} {{
    fn fmt(&self, formatter: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{
        formatter.write_str(self.as_str())
    }}
}}

impl {rt}::FieldValue for {type_name} {{
    fn into_value(self) -> {rt}::Value {{
        {rt}::Value::Text(String::from(self.as_str()))
    }}

    fn from_value(value: &{rt}::Value) -> Result<Self, {rt}::typed::ValueMismatch> {{
        let found = match value {{
            {rt}::Value::Text(text) => match text.as_str() {{
"
    );
    for (variant, _, literal) in &variants {
        emit!(out, "                {literal} => return Ok({type_name}::{variant}),\n");
    }
    let expected = string_literal(&format!("a {name}"));
    emit!(
        out,
        "                _ => \"another name\",
            }},
            other => {rt}::typed::describe(other),
        }};
        Err({rt}::typed::ValueMismatch {{ expected: {expected}, found }})
    }}
}}

impl {rt}::typed::Holds<{rt}::typed::kinds::Enum> for {type_name} {{}}
"
    );
    Ok(())
}

/// `pub name: Type,` with its docs and attributes, for each field, at one indent.
fn field_list(cx: &Context, owner: &str, fields: &[ir::Field], ty: impl Fn(&ir::Field) -> String, out: &mut String) {
    for field in fields {
        docs(out, &field.docs, &format!("The `{}` field.", field.name), "    ");
        out.push_str(&cx.field_attributes(owner, &field.name, "    "));
        emit!(out, "    pub {}: {},\n", ident(&field.name), ty(field));
    }
}

/// `, Eq` when no field holds a float.
fn eq_derive<'f>(cx: &Context, mut fields: impl Iterator<Item = &'f ir::Field>) -> &'static str {
    if fields.any(|field| has_float(cx, &field.ty)) {
        ""
    } else {
        ", Eq"
    }
}

fn record_struct(cx: &Context, name: &str, record: &ir::Record, out: &mut String) {
    let rt = &cx.rt;
    let type_name = ident(name);
    let derives = format!("Debug, Clone, PartialEq{}", eq_derive(cx, record.fields.iter()));
    type_header(cx, out, name, &record.docs, &format!("The schema's record `{name}`."), &derives);
    emit!(out, "pub struct {type_name} {{\n");
    field_list(cx, name, &record.fields, |field| row_type(cx, &field.ty), out);
    emit!(
        out,
        "\
}}

impl {rt}::FieldValue for {type_name} {{
    fn into_value(self) -> {rt}::Value {{
        {rt}::Value::Map(::std::vec![
"
    );
    for field in &record.fields {
        let (member, key) = (ident(&field.name), string_literal(&field.name));
        emit!(out, "            (String::from({key}), {rt}::FieldValue::into_value(self.{member})),\n");
    }
    emit!(
        out,
        "        ])
    }}

    fn from_value(value: &{rt}::Value) -> Result<Self, {rt}::typed::ValueMismatch> {{
        Ok({type_name} {{
"
    );
    for field in &record.fields {
        let (member, key) = (ident(&field.name), string_literal(&field.name));
        emit!(out, "            {member}: {rt}::typed::record_field(value, {key})?,\n");
    }
    close_block(out, "        ", '}');
    emit!(
        out,
        "\
)
    }}
}}

impl {rt}::typed::Holds<{rt}::typed::kinds::Record> for {type_name} {{}}
"
    );
}

fn row_struct(cx: &Context, name: &str, collection: &ir::Collection, out: &mut String) -> Result<(), GenError> {
    let rt = &cx.rt;
    let type_name = ident(name);
    let id = id_type(name);
    let derives = format!("Debug, Clone, PartialEq{}", eq_derive(cx, collection.fields.iter()));
    type_header(cx, out, name, &collection.docs, &format!("A row of the collection `{name}`."), &derives);
    emit!(out, "pub struct {type_name} {{\n    /// The row's id.\n    pub id: {id},\n");
    field_list(cx, name, &collection.fields, |field| row_type(cx, &field.ty), out);
    let literal = string_literal(name);
    emit!(
        out,
        "\
}}

impl {rt}::Projection for {type_name} {{
    const COLLECTION: &'static str = {literal};

    fn from_row(row: &{rt}::Row) -> Result<Self, {rt}::RowDecodeError> {{
        {rt}::typed::expect_collection(row, {literal})?;
        Ok({type_name} {{
            id: {id}::from(row.id),
"
    );
    for field in &collection.fields {
        let (member, key) = (ident(&field.name), string_literal(&field.name));
        emit!(out, "            {member}: {rt}::typed::field(row, {key})?,\n");
    }
    let mutable = if collection.fields.is_empty() { "" } else { "mut " };
    emit!(
        out,
        "        }})
    }}

    fn from_owned_row({mutable}row: {rt}::Row) -> Result<Self, {rt}::RowDecodeError> {{
        {rt}::typed::expect_collection(&row, {literal})?;
        Ok({type_name} {{
            id: {id}::from(row.id),
"
    );
    for field in &collection.fields {
        let (member, key) = (ident(&field.name), string_literal(&field.name));
        emit!(out, "            {member}: {rt}::typed::take(&mut row, {key})?,\n");
    }
    let names = collection.fields.iter().map(|field| string_literal(&field.name)).collect::<Vec<_>>();
    let names = list(&names, 60, "    ");
    let values = if collection.fields.is_empty() { "_values" } else { "values" };
    emit!(
        out,
        "        }})
    }}

    const FIELDS: &'static [&'static str] = &[{names}];

    fn from_values(id: {rt}::RowId, {values}: Vec<{rt}::Value>) -> Result<Self, {rt}::RowDecodeError> {{
"
    );
    if !collection.fields.is_empty() {
        emit!(out, "        let mut values = {rt}::typed::Values::new(Self::COLLECTION, Self::FIELDS, values);\n");
    }
    emit!(out, "        Ok({type_name} {{\n            id: {id}::from(id),\n");
    for field in &collection.fields {
        emit!(out, "            {}: values.read()?,\n", ident(&field.name));
    }
    emit!(
        out,
        "        }})
    }}
}}

impl {type_name} {{
    /// The schema's `check` constraints, compiled: the first field whose check fails.
    pub fn check(&self) -> Result<(), &'static str> {{
"
    );
    check_calls(cx, name, collection, false, out)?;
    out.push_str("        Ok(())\n    }\n}\n");
    Ok(())
}

fn insert_struct(cx: &Context, name: &str, collection: &ir::Collection, out: &mut String) -> Result<(), GenError> {
    let rt = &cx.rt;
    let type_name = format!("New{name}");
    let id = id_type(name);
    item!(
        out,
        "\
/// A new `{name}` row, to insert. `None` in a field the schema gives a default takes it.
#[derive(Debug, Clone)]
pub struct {type_name} {{
"
    );
    field_list(
        cx,
        &type_name,
        &collection.fields,
        |field| {
            let ty = new_type(cx, &field.ty);
            if field.default.is_some() {
                format!("Option<{ty}>")
            } else {
                ty
            }
        },
        out,
    );
    close_block(out, "", '}');
    let mut parameters = Vec::new();
    let mut initial = String::new();
    let mut always = Vec::new();
    // Fields left to their default, or at the value they start at (null, empty, zero), are left
    // out of the op: the runtime fills them in, and the op carries only what was set.
    let mut unless_unset = Vec::new();
    for field in &collection.fields {
        let (member, key) = (ident(&field.name), string_literal(&field.name));
        let pair = |value: &str| format!("({key}, {rt}::FieldValue::into_value({value}))");
        if field.default.is_some() || matches!(field.ty, ir::Type::Optional(_)) {
            if field.default.is_some() {
                emit!(&mut initial, "            {member}: None,\n");
            } else {
                emit!(&mut initial, "            {member}: Default::default(),\n");
            }
            unless_unset.push(format!("self.{member}.map(|value| {})", pair("value")));
        } else if starts_empty(&field.ty) {
            emit!(&mut initial, "            {member}: Default::default(),\n");
            let set = match field.ty {
                ir::Type::Counter => format!("self.{member} != 0"),
                _ => format!("!self.{member}.is_empty()"),
            };
            // `then_some`, not a closure: a closure would take all of `self` before edition 2021.
            unless_unset.push(format!("({set}).then_some({})", pair(&format!("self.{member}"))));
        } else {
            parameters.push(format!("{member}: impl Into<{}>", new_type(cx, &field.ty)));
            emit!(&mut initial, "            {member}: {member}.into(),\n");
            always.push(pair(&format!("self.{member}")));
        }
    }
    let many = if parameters.len() > 6 { "    #[allow(clippy::too_many_arguments)]\n" } else { "" };
    let parameters = if parameters.iter().map(|parameter| parameter.len() + 2).sum::<usize>() + type_name.len() > 80 {
        format!("\n{}    ", parameters.iter().map(|parameter| format!("        {parameter},\n")).collect::<String>())
    } else {
        parameters.join(", ")
    };
    emit!(
        out,
        "
impl {type_name} {{
    /// A new `{name}` row with the fields that have no default; the others start empty or
    /// take their default.
{many}    pub fn new({parameters}) -> {type_name} {{
        {type_name} {{
{initial}"
    );
    close_block(out, "        ", '}');
    emit!(
        out,
        "
    }}
}}

impl {rt}::typed::Insert for {type_name} {{
    const COLLECTION: &'static str = {literal};

    type Id = {id};

    fn check(&self) -> Result<(), &'static str> {{
",
        literal = string_literal(name)
    );
    check_calls(cx, name, collection, true, out)?;
    emit!(out, "        Ok(())\n    }}\n\n    fn into_fields(self) -> Vec<(&'static str, {rt}::Value)> {{\n");
    if unless_unset.is_empty() {
        out.push_str("        ::std::vec![\n");
        for field in &always {
            emit!(out, "            {field},\n");
        }
        close_block(out, "        ", ']');
        out.push('\n');
    } else {
        out.push_str("        [\n");
        for field in &always {
            emit!(out, "            Some({field}),\n");
        }
        for field in &unless_unset {
            emit!(out, "            {field},\n");
        }
        out.push_str("        ]\n        .into_iter()\n        .flatten()\n        .collect()\n");
    }
    out.push_str("    }\n}\n");
    Ok(())
}

fn changes_struct(cx: &Context, name: &str, collection: &ir::Collection, out: &mut String) {
    let rt = &cx.rt;
    let type_name = format!("{name}Changes");
    let changeable = || collection.fields.iter().filter(|field| !field.readonly);
    let eq = eq_derive(cx, changeable());
    item!(
        out,
        "\
/// The fields of a `{name}` row that an update changed, with their new values.
#[derive(Debug, Clone, PartialEq{eq}, Default)]
pub struct {type_name} {{
"
    );
    for field in changeable() {
        let (field_name, member, ty) = (&field.name, ident(&field.name), row_type(cx, &field.ty));
        emit!(out, "    /// The new `{field_name}`, if the update changed it.\n    pub {member}: Option<{ty}>,\n");
    }
    close_block(out, "", '}');
    let row = if changeable().next().is_none() { "_row" } else { "row" };
    emit!(
        out,
        "
impl {type_name} {{
    /// Reads the changed fields of an update event's row.
    pub fn from_row({row}: &{rt}::Row) -> Result<Self, {rt}::RowDecodeError> {{
        Ok({type_name} {{
"
    );
    for field in changeable() {
        let (member, key) = (ident(&field.name), string_literal(&field.name));
        emit!(out, "            {member}: {rt}::typed::changed(row, {key})?,\n");
    }
    close_block(out, "        ", '}');
    out.push_str(")\n    }\n}\n");
}
