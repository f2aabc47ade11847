//! `schemac`: the Cairn schema compiler.
//!
//! Data flows one way: text → [`parser`] → [`ast`] → [`check`] → [`ir`] → [`hash`]. The
//! formatter ([`mod@format`]) prints the AST back in canonical layout. Nothing in this library does
//! IO: each entry point is a function from text (and previously compiled schemas) to output
//! and [`Diagnostic`]s. The `schemac` binary does the reading and printing.

pub mod ast;
#[cfg(feature = "gen")]
pub mod build;
pub mod check;
pub mod diagnostics;
pub mod explain;
pub mod files;
pub mod format;
#[cfg(feature = "gen")]
pub mod gen;
pub mod hash;
pub mod ir;
pub mod parser;

#[cfg(feature = "gen")]
pub use build::{compile, Builder};
pub use check::{Checked, Priors};
pub use diagnostics::{Code, Diagnostic, Severity, SourceFile};
pub use hash::{schema_hash, SchemaHash};

/// Parses and checks one file's text. Syntax errors stop at the first; semantic errors are all
/// reported. `priors` are the schemas that this file's migrations may upgrade from; `None`
/// skips the migration proofs (used to compile the candidate priors themselves).
pub fn check_source(text: &str, priors: Option<&Priors>) -> Checked {
    match parser::parse(text) {
        Ok(file) => check::check(&file, priors),
        Err(diagnostic) => Checked { ir: None, diagnostics: vec![diagnostic] },
    }
}
