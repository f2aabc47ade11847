//! Code generation: a checked schema's IR in, a typed Rust module out. A pure function, like
//! the rest of the library: [`rust`] writes the module's text under an `@generated` header,
//! byte for byte the same on every run and machine, and [`tokens`] lexes that text into the
//! token stream the `schema!` macro expands to, so both come from one generator.
//!
//! The module is written as text, laid out as a person would lay it out (one item per block,
//! a blank line between items, four-space indents), rather than built as tokens and printed by
//! syn and prettyplease: on the 10,000-line benchmark schema those two alone took 0.97 s of a
//! 1.1 s generation, ten times the budget, where writing the text takes under 30 ms
//! (`cargo bench -p schemac --bench front_end`). Tests parse every generated module with syn
//! and compile the modules of `schemas/` warning-free under clippy.
//!
//! The module, for each collection `Thread`: the row struct `Thread` (with `ThreadId`), the
//! insert struct `NewThread`, `ThreadChanges` (an update's new values, in events), the builder
//! `ThreadUpdate`, `ThreadQuery` and `ThreadField`, and the accessors `ThreadTable`
//! (`db.thread()`) and `ThreadTx` (`tx.thread()`); an enum per enum and a struct per record;
//! the typed `Db` and `Tx`; an `Event` enum; `check` constraints compiled to Rust; and the
//! schema itself (`SCHEMA_HASH`, `SCHEMA_IR`). Rules stay with the runtime's one judge.
//!
//! The work is split by job: `names` (identifiers and clashes), `types` (Rust types for schema
//! types), `checks` (compiled `check` constraints), `items` (the data types) and `handle` (the
//! database handle, queries, transactions and events).

/// Appends formatted text to the module being written (writing to a `String` cannot fail).
macro_rules! emit {
    ($out:expr, $($format:tt)*) => {{
        let _ = ::std::fmt::Write::write_fmt($out, format_args!($($format)*));
    }};
}

/// Appends an item, or a member of an `impl`, after a blank line unless it opens its block.
macro_rules! item {
    ($out:expr, $($format:tt)*) => {{
        $crate::gen::blank_line($out);
        emit!($out, $($format)*);
    }};
}

mod checks;
mod handle;
mod items;
mod names;
mod types;

use crate::ir;
use std::collections::BTreeMap;

/// How to generate: where the runtime is, and what to add or replace.
#[derive(Debug, Clone)]
pub struct GenOptions {
    /// The path of the `cairn` runtime crate in the generated code (default `::cairn`).
    pub runtime_path: String,
    /// Attributes for generated types: (type name, or `.` for every generated type, attribute).
    pub type_attributes: Vec<(String, String)>,
    /// Attributes for fields: (`Type.field`, attribute).
    pub field_attributes: Vec<(String, String)>,
    /// Schema enums and records to use an existing Rust type for: name → Rust path. The type
    /// must implement `cairn::FieldValue` (and, for enums read by `check` constraints,
    /// `fn as_str(&self) -> &str`).
    pub extern_types: BTreeMap<String, String>,
}

impl Default for GenOptions {
    fn default() -> GenOptions {
        GenOptions {
            runtime_path: "::cairn".into(),
            type_attributes: Vec::new(),
            field_attributes: Vec::new(),
            extern_types: BTreeMap::new(),
        }
    }
}

/// Why a module could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// Two generated items would have one name.
    #[error("the generated name `{name}` would be both {first} and {second}; rename one in the schema")]
    NameClash {
        /// The name.
        name: String,
        /// Its first use.
        first: String,
        /// Its second use.
        second: String,
    },
    /// A schema name whose Rust form is not an identifier.
    #[error("`{name}` would be `{generated}` in Rust, which is not an identifier; rename it in the schema")]
    InvalidName {
        /// The schema's name.
        name: String,
        /// What the generator made of it.
        generated: String,
    },
    /// An enum without variants: a field of it could hold no value, and Rust code over it would
    /// be unreachable.
    #[error("enum `{name}` has no variants, so generated code could hold no value of it; give it a variant")]
    EmptyEnum {
        /// The enum.
        name: String,
    },
    /// An option holds text that is not Rust of the kind it must be.
    #[error("the {what} `{text}` is not valid Rust: {reason}")]
    InvalidOption {
        /// Which option: "runtime path", "attribute", "extern type".
        what: &'static str,
        /// The text.
        text: String,
        /// The parser's message.
        reason: String,
    },
    /// An option names what the schema does not have.
    #[error("{what} `{name}` names nothing in the schema")]
    UnknownTarget {
        /// Which option.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A part of the schema the generator cannot compile (a bug: the checker admits only what
    /// it can).
    #[error("{0}")]
    Unsupported(String),
    /// The IR did not serialize, or the generated text did not lex as Rust (a bug in the
    /// generator).
    #[error("the generated module is not Rust: {0}")]
    Unparsable(String),
}

/// The names generated code uses unqualified (the prelude's, primitive types, the update
/// builder's type parameter `Sink`); no schema item may take them.
const PRELUDE: &[&str] = &[
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "Vec",
    "String",
    "From",
    "Into",
    "AsRef",
    "Default",
    "IntoIterator",
    "FnOnce",
    "Sink",
];

/// What every part of the generator reads: the schema and the options, checked.
pub(crate) struct Context<'s> {
    pub schema: &'s ir::Schema,
    pub options: &'s GenOptions,
    /// The runtime crate's path, e.g. `::cairn`.
    pub rt: String,
    /// The attributes of the options, checked, as `#[…]`.
    type_attributes: Vec<(&'s str, String)>,
    field_attributes: Vec<(&'s str, String)>,
}

impl<'s> Context<'s> {
    fn new(schema: &'s ir::Schema, options: &'s GenOptions) -> Result<Context<'s>, GenError> {
        let rt = checked_rust::<syn::Path>("runtime path", &options.runtime_path)?;
        let attributes = |list: &'s [(String, String)]| -> Result<Vec<(&'s str, String)>, GenError> {
            list.iter().map(|(target, text)| Ok((target.as_str(), attribute(text)?))).collect()
        };
        for path in options.extern_types.values() {
            checked_rust::<syn::Type>("extern type", path)?;
        }
        Ok(Context {
            schema,
            options,
            rt,
            type_attributes: attributes(&options.type_attributes)?,
            field_attributes: attributes(&options.field_attributes)?,
        })
    }

    /// The extra attributes for a generated type, a line each at `indent`.
    pub fn type_attributes(&self, name: &str, indent: &str) -> String {
        let mut out = String::new();
        for (target, attribute) in &self.type_attributes {
            if *target == name || *target == "." {
                emit!(&mut out, "{indent}{attribute}\n");
            }
        }
        out
    }

    /// The extra attributes for a field of a generated type, a line each at `indent`.
    pub fn field_attributes(&self, type_name: &str, field: &str, indent: &str) -> String {
        let mut out = String::new();
        for (target, attribute) in &self.field_attributes {
            if target.split_once('.') == Some((type_name, field)) {
                emit!(&mut out, "{indent}{attribute}\n");
            }
        }
        out
    }

    /// The Rust path an enum or record is replaced with, if any.
    pub fn extern_type(&self, name: &str) -> Option<&str> {
        self.options.extern_types.get(name).map(|path| path.trim())
    }
}

/// An attribute option (`#[…]` or just its inside), checked, as `#[…]`.
fn attribute(text: &str) -> Result<String, GenError> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix("#[").and_then(|rest| rest.strip_suffix(']')).unwrap_or(trimmed);
    Ok(format!("#[{}]", checked_rust::<syn::Meta>("attribute", inner)?))
}

/// `text`, trimmed, once syn has parsed it as a `T`. It is written into the module as it is,
/// so a comment in it (which syn skips) is refused: it could comment out the rest of a line.
fn checked_rust<T: syn::parse::Parse>(what: &'static str, text: &str) -> Result<String, GenError> {
    let invalid = |reason: String| GenError::InvalidOption { what, text: text.to_owned(), reason };
    syn::parse_str::<T>(text).map_err(|error| invalid(error.to_string()))?;
    // The lexer drops comments: what it gives back, spacing aside, is the text unless it had one.
    let tokens = text.parse::<proc_macro2::TokenStream>().map_err(|error| invalid(error.to_string()))?.to_string();
    let without_space = |text: &str| text.chars().filter(|character| !character.is_whitespace()).collect::<String>();
    if without_space(&tokens) != without_space(text) {
        return Err(invalid("it holds a comment".into()));
    }
    Ok(text.trim().to_owned())
}

/// The module for `schema`, as the text of a Rust file.
pub fn rust(schema: &ir::Schema, options: &GenOptions) -> Result<String, GenError> {
    let cx = Context::new(schema, options)?;
    check_targets(&cx)?;
    let mut names = names::Names::default();
    // The generated code names these from the prelude, unqualified, to read as people write.
    for prelude in PRELUDE {
        names.take(prelude, format!("the prelude's `{prelude}`, which the module uses"))?;
    }
    let ir_json = serde_json::to_string(schema).map_err(|error| GenError::Unparsable(error.to_string()))?;
    let hash = crate::schema_hash(schema);
    let (name, rt) = (&schema.name, &cx.rt);
    let mut out = String::with_capacity(ir_json.len() * 8);
    emit!(
        &mut out,
        "\
// @generated by schemac from schema `{name}` ({hash}).
// Do not edit: change the schema and generate again.
"
    );
    item!(
        &mut out,
        "\
/// The schema's content hash, as `schemac hash` prints it. A store of another schema is
/// refused by [`Db::open`].
pub const SCHEMA_HASH: &str = \"{hash}\";
"
    );
    let ir_literal = raw_string(&ir_json);
    item!(
        &mut out,
        "\
/// The checked schema (its IR, as `schemac ir` prints it), embedded so that the runtime
/// needs no schema file.
pub const SCHEMA_IR: &str = {ir_literal};
"
    );
    item!(
        &mut out,
        "\
/// The schema, as the runtime reads it (checked against [`SCHEMA_HASH`]).
pub fn schema() -> Result<{rt}::Schema, {rt}::OpenError> {{
    {rt}::typed::embedded_schema(SCHEMA_IR, SCHEMA_HASH)
}}
"
    );
    items::generate(&cx, &mut names, &mut out)?;
    handle::generate(&cx, &mut names, &mut out)?;
    checks::generate(&cx, &mut names, &mut out)?;
    Ok(out)
}

/// The module for `schema`, as tokens: what `cairn::schema!` expands to (the text of [`rust`],
/// lexed).
pub fn tokens(schema: &ir::Schema, options: &GenOptions) -> Result<proc_macro2::TokenStream, GenError> {
    rust(schema, options)?.parse().map_err(|error: proc_macro2::LexError| GenError::Unparsable(error.to_string()))
}

/// A blank line before the next item, unless it is the first of the file or of its block.
pub(crate) fn blank_line(out: &mut String) {
    if !out.is_empty() && !out.ends_with("{\n") && !out.ends_with("\n\n") {
        out.push('\n');
    }
}

/// Closes a block whose lines were just written at `indent` plus four spaces (fields, list
/// elements) with `closing`; an empty one on its opening line (`{}`, `[]`).
pub(crate) fn close_block(out: &mut String, indent: &str, closing: char) {
    if out.ends_with("{\n") || out.ends_with("[\n") {
        out.pop();
    } else {
        out.push_str(indent);
    }
    out.push(closing);
    if indent.is_empty() {
        out.push('\n');
    }
}

/// A raw string literal (`r#"…"#`) holding `text`, with enough `#`s.
fn raw_string(text: &str) -> String {
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{text}\"{hashes}")
}

/// A string literal holding `text`.
pub(crate) fn string_literal(text: &str) -> String {
    format!("{text:?}")
}

/// Every option names a type or field the module has.
fn check_targets(cx: &Context) -> Result<(), GenError> {
    let schema = cx.schema;
    let is_type = |name: &str| {
        schema.collections.contains_key(name) || schema.enums.contains_key(name) || schema.records.contains_key(name)
    };
    for (target, _) in &cx.options.type_attributes {
        if target != "." && !is_type(target) {
            return Err(GenError::UnknownTarget { what: "type_attribute", name: target.clone() });
        }
    }
    for (target, _) in &cx.options.field_attributes {
        let known = target.split_once('.').is_some_and(|(owner, field)| {
            schema.collections.get(owner).is_some_and(|collection| collection.field(field).is_some())
                || schema.records.get(owner).is_some_and(|record| record.field(field).is_some())
        });
        if !known {
            return Err(GenError::UnknownTarget { what: "field_attribute", name: target.clone() });
        }
    }
    for name in cx.options.extern_types.keys() {
        if !schema.enums.contains_key(name) && !schema.records.contains_key(name) {
            return Err(GenError::UnknownTarget { what: "extern_type", name: name.clone() });
        }
    }
    Ok(())
}

/// A schema doc comment, or a fallback sentence, as `///` lines at `indent`.
pub(crate) fn docs(out: &mut String, docs: &Option<String>, fallback: &str, indent: &str) {
    for line in docs.as_deref().unwrap_or(fallback).lines() {
        if line.is_empty() {
            emit!(out, "{indent}///\n");
        } else if line.chars().any(|character| character.is_control() || is_bidi_control(character)) {
            // A comment may not hold a carriage return or a text-direction control; a string
            // literal holds them escaped.
            emit!(out, "{indent}#[doc = {}]\n", string_literal(&format!(" {line}")));
        } else {
            emit!(out, "{indent}/// {line}\n");
        }
    }
}

/// The characters that change the direction of text, which rustc refuses in comments.
fn is_bidi_control(character: char) -> bool {
    matches!(character, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}
