//! Code generation for build scripts (the file-system edge of [`crate::gen`], as
//! [`crate::files`] is for checking): [`compile`] and [`Builder`] read schema files, generate
//! a module for each into `OUT_DIR` (or another directory), write a file only when its content
//! changed, and tell Cargo to rerun when exactly those schema files (and the priors their
//! migrations name) change. A schema with errors fails the build with the diagnostics
//! `schemac check` prints.
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), schemac::build::BuildError> {
//!     schemac::compile(&["schemas/chat.schema"])
//! }
//! ```
//! and in the crate: `mod chat { cairn::include_schema!("chat"); }`.

use crate::files::{self, LoadError, ReadError};
use crate::gen::{self, GenError, GenOptions};
use std::path::{Path, PathBuf};

/// Why generation failed in a build.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A schema file cannot be read or does not check; the message holds the diagnostics.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A prior cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The module for `path` cannot be generated.
    #[error("{}: {source}", path.display())]
    Gen {
        /// The schema file.
        path: PathBuf,
        /// Why.
        source: GenError,
    },
    /// A generated file cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// No output directory: neither `out_dir` nor the `OUT_DIR` Cargo sets for build scripts.
    #[error("no output directory: set Builder::out_dir, or run from a build script (OUT_DIR)")]
    NoOutDir,
    /// Two schema files declare the same schema name, so their modules would be one file.
    #[error("{} and {} both declare `schema {name};`: generate them into different directories", first.display(), second.display())]
    SameName {
        /// The schema name.
        name: String,
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
    },
}

/// Prints as the error message (with the diagnostics), so that `fn main() -> Result<…>` in a
/// build script shows them as `schemac check` would.
impl std::fmt::Debug for BuildError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, formatter)
    }
}

/// Generates a module for each schema file into `OUT_DIR`, with the default options.
pub fn compile(schemas: &[impl AsRef<Path>]) -> Result<(), BuildError> {
    Builder::new().compile(schemas).map(|_| ())
}

/// Generation with options, for build scripts (as `prost_build::Config` and
/// `tonic_build::Builder`).
#[derive(Debug, Clone)]
pub struct Builder {
    out_dir: Option<PathBuf>,
    options: GenOptions,
    priors: Vec<PathBuf>,
    rerun_if_changed: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: into `OUT_DIR`, runtime `::cairn`, Cargo told what to watch.
    pub fn new() -> Builder {
        Builder { out_dir: None, options: GenOptions::default(), priors: Vec::new(), rerun_if_changed: true }
    }

    /// Where to write the modules (default: `OUT_DIR`).
    pub fn out_dir(mut self, directory: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(directory.into());
        self
    }

    /// Adds an attribute to a generated type: `type_attribute("Channel", "#[derive(Hash)]")`;
    /// `"."` names every generated type.
    pub fn type_attribute(mut self, type_name: &str, attribute: &str) -> Builder {
        self.options.type_attributes.push((type_name.to_owned(), attribute.to_owned()));
        self
    }

    /// Adds an attribute to a field of a generated type: `field_attribute("Channel.name", …)`.
    pub fn field_attribute(mut self, path: &str, attribute: &str) -> Builder {
        self.options.field_attributes.push((path.to_owned(), attribute.to_owned()));
        self
    }

    /// Uses an existing Rust type for a schema enum or record instead of generating one; it
    /// must implement `cairn::FieldValue`.
    pub fn extern_type(mut self, schema_type: &str, rust_path: &str) -> Builder {
        self.options.extern_types.insert(schema_type.to_owned(), rust_path.to_owned());
        self
    }

    /// The path of the runtime crate in the generated code (default `::cairn`).
    pub fn runtime_path(mut self, path: &str) -> Builder {
        self.options.runtime_path = path.to_owned();
        self
    }

    /// A previous version of a schema that a migration may upgrade from (beside the other
    /// `.schema` files in the same directory).
    pub fn prior(mut self, path: impl Into<PathBuf>) -> Builder {
        self.priors.push(path.into());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` lines (default: yes).
    pub fn emit_rerun_if_changed(mut self, emit: bool) -> Builder {
        self.rerun_if_changed = emit;
        self
    }

    /// Generates a module for each schema file; returns, for each, the module file (written,
    /// or left as it was when its content had not changed) and the files it was made from.
    pub fn compile(&self, schemas: &[impl AsRef<Path>]) -> Result<Vec<Generated>, BuildError> {
        let out_dir = match &self.out_dir {
            Some(directory) => directory.clone(),
            None => std::env::var_os("OUT_DIR").map(PathBuf::from).ok_or(BuildError::NoOutDir)?,
        };
        let mut generated: Vec<Generated> = Vec::new();
        for schema in schemas {
            let path = schema.as_ref();
            let ir = files::load_with_priors(path, &self.priors).inspect_err(|_| self.watch(&[path.to_owned()]))?;
            let mut sources = vec![path.to_owned()];
            sources.extend(files::migration_sources(path, &ir, &self.priors)?);
            self.watch(&sources);
            if let Some(first) = generated.iter().find(|earlier| earlier.name == ir.name) {
                return Err(BuildError::SameName {
                    name: ir.name.clone(),
                    first: first.sources[0].clone(),
                    second: path.to_owned(),
                });
            }
            let code =
                gen::rust(&ir, &self.options).map_err(|source| BuildError::Gen { path: path.to_owned(), source })?;
            let module = out_dir.join(format!("{}.rs", ir.name));
            write_if_changed(&module, &code).map_err(|source| BuildError::Write { path: module.clone(), source })?;
            generated.push(Generated { name: ir.name.clone(), module, sources });
        }
        Ok(generated)
    }

    /// Tells Cargo to run the build script again when one of `files` changes.
    fn watch(&self, files: &[PathBuf]) {
        if self.rerun_if_changed {
            for file in files {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
}

/// A module generated by [`Builder::compile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The schema's name (`schema chat;`), and so the module file's stem.
    pub name: String,
    /// The module file.
    pub module: PathBuf,
    /// The files it was generated from: the schema file, then the priors its migrations name.
    /// These are the files a build script watches.
    pub sources: Vec<PathBuf>,
}

/// Writes `contents` to `path` unless it already holds exactly that, so that an unchanged
/// module does not make Cargo rebuild what includes it.
pub fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<()> {
    if std::fs::read(path).is_ok_and(|existing| existing == contents.as_bytes()) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, contents)
}
