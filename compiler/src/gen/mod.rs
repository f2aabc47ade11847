//! Code generation: a checked schema's IR in, a typed Rust module out. A pure function, like
//! the rest of the library: [`tokens`] builds the module as a token stream (what the `schema!`
//! macro expands to) and [`rust`] prints it with prettyplease, under an `@generated` header,
//! byte for byte the same on every run and machine.
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

mod checks;
mod handle;
mod items;
mod names;
mod types;

pub use types::holds_kind;

use crate::ir;
use proc_macro2::TokenStream;
use quote::quote;
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
    /// The generated tokens did not parse as a Rust file (a bug in the generator).
    #[error("the generated module does not parse: {0}")]
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
];

/// What every part of the generator reads: the schema, the options, and the parsed runtime path.
pub(crate) struct Context<'s> {
    pub schema: &'s ir::Schema,
    pub options: &'s GenOptions,
    /// The runtime crate's path, e.g. `::cairn`.
    pub rt: TokenStream,
}

impl Context<'_> {
    /// The extra attributes for a generated type.
    pub fn type_attributes(&self, name: &str) -> Result<TokenStream, GenError> {
        let mut out = TokenStream::new();
        for (target, attribute) in &self.options.type_attributes {
            if target == name || target == "." {
                out.extend(parse_attribute(attribute)?);
            }
        }
        Ok(out)
    }

    /// The extra attributes for a field of a generated type.
    pub fn field_attributes(&self, type_name: &str, field: &str) -> Result<TokenStream, GenError> {
        let mut out = TokenStream::new();
        for (target, attribute) in &self.options.field_attributes {
            if target.split_once('.') == Some((type_name, field)) {
                out.extend(parse_attribute(attribute)?);
            }
        }
        Ok(out)
    }

    /// The Rust path an enum or record is replaced with, if any.
    pub fn extern_type(&self, name: &str) -> Result<Option<TokenStream>, GenError> {
        match self.options.extern_types.get(name) {
            Some(path) => Ok(Some(parse_rust::<syn::Type>("extern type", path)?)),
            None => Ok(None),
        }
    }
}

fn parse_attribute(text: &str) -> Result<TokenStream, GenError> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix("#[").and_then(|rest| rest.strip_suffix(']')).unwrap_or(trimmed);
    let meta = parse_rust::<syn::Meta>("attribute", inner)?;
    Ok(quote!(#[#meta]))
}

fn parse_rust<T: syn::parse::Parse + quote::ToTokens>(what: &'static str, text: &str) -> Result<TokenStream, GenError> {
    syn::parse_str::<T>(text).map(|parsed| quote!(#parsed)).map_err(|error| GenError::InvalidOption {
        what,
        text: text.to_owned(),
        reason: error.to_string(),
    })
}

/// The module for `schema`, as tokens: what `cairn::schema!` expands to.
pub fn tokens(schema: &ir::Schema, options: &GenOptions) -> Result<TokenStream, GenError> {
    let rt = parse_rust::<syn::Path>("runtime path", &options.runtime_path)?;
    let cx = Context { schema, options, rt };
    check_targets(&cx)?;
    let mut names = names::Names::default();
    // The generated code names these from the prelude, unqualified, to read as people write.
    for prelude in PRELUDE {
        names.take(prelude, format!("the prelude's `{prelude}`, which the module uses"))?;
    }
    let items = items::generate(&cx, &mut names)?;
    let handle = handle::generate(&cx, &mut names)?;
    let checks = checks::generate(&cx)?;
    let hash = crate::schema_hash(schema).to_string();
    let ir_json = raw_string(&serde_json::to_string(schema).map_err(|error| GenError::Unparsable(error.to_string()))?)?;
    let rt = &cx.rt;
    Ok(quote! {
        /// The schema's content hash, as `schemac hash` prints it. A store of another schema is
        /// refused by [`Db::open`].
        pub const SCHEMA_HASH: &str = #hash;

        /// The checked schema (its IR, as `schemac ir` prints it), embedded so that the runtime
        /// needs no schema file.
        pub const SCHEMA_IR: &str = #ir_json;

        /// The schema, as the runtime reads it (checked against [`SCHEMA_HASH`]).
        pub fn schema() -> Result<#rt::Schema, #rt::OpenError> {
            #rt::typed::embedded_schema(SCHEMA_IR, SCHEMA_HASH)
        }

        #items
        #handle
        #checks
    })
}

/// The module for `schema`, as the text of a Rust file.
pub fn rust(schema: &ir::Schema, options: &GenOptions) -> Result<String, GenError> {
    let tokens = tokens(schema, options)?;
    let file: syn::File = syn::parse2(tokens).map_err(|error| GenError::Unparsable(error.to_string()))?;
    let hash = crate::schema_hash(schema);
    Ok(format!(
        "// @generated by schemac from schema `{}` ({hash}).\n// Do not edit: change the schema and generate again.\n\n{}",
        schema.name,
        space_items(&prettyplease::unparse(&file))
    ))
}

/// A raw string literal (`r#"…"#`) holding `text`, with enough `#`s.
fn raw_string(text: &str) -> Result<TokenStream, GenError> {
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{text}\"{hashes}")
        .parse()
        .map_err(|error: proc_macro2::LexError| GenError::Unparsable(error.to_string()))
}

/// A blank line between items, at the top level and inside `impl` blocks (prettyplease
/// prints them without), as a person would write them.
fn space_items(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / 16);
    let mut previous: Option<&str> = None;
    for line in code.lines() {
        if let Some(before) = previous {
            let indent = line.len() - line.trim_start().len();
            let before_indent = before.len() - before.trim_start().len();
            let ends_item = before.trim_end().ends_with('}') || before.trim_end().ends_with(';');
            let starts_item = ["///", "#[", "pub ", "impl", "fn ", "const ", "enum ", "struct ", "type "]
                .iter()
                .any(|start| line.trim_start().starts_with(start));
            if indent == before_indent && indent <= 4 && ends_item && starts_item {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = Some(line);
    }
    out
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

/// `#[doc = "…"]` for a schema doc comment, or a fallback sentence.
pub(crate) fn docs(docs: &Option<String>, fallback: String) -> TokenStream {
    let text = docs.clone().unwrap_or(fallback);
    let lines = text.lines().map(|line| if line.is_empty() { String::new() } else { format!(" {line}") });
    quote!(#(#[doc = #lines])*)
}
