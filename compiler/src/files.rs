//! The file-system edge of the compiler, shared by the binaries: compiling a `.schema` file
//! with the previous versions its migrations may name.
//!
//! Everything else in this library is IO-free; this module only reads files and hands their
//! text to [`crate::check_source`].

use crate::{Checked, Priors};
use std::path::{Path, PathBuf};

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {source}")]
pub struct ReadError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A schema file that could not be read, or that does not check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file has errors; `rendered` is what `schemac check` prints for them.
    #[error("{} has errors:\n{rendered}", path.display())]
    Invalid { path: PathBuf, diagnostics: Vec<crate::Diagnostic>, rendered: String },
}

/// Reads and checks a schema file (with the priors its migrations name, from its directory).
/// On errors, the error holds the diagnostics and their rendering as `schemac check` prints
/// them.
pub fn load(path: &Path) -> Result<crate::ir::Schema, LoadError> {
    load_with_priors(path, &[])
}

/// [`load`], with previous versions its migrations may name beside those in its directory.
pub fn load_with_priors(path: &Path, explicit_priors: &[PathBuf]) -> Result<crate::ir::Schema, LoadError> {
    let text = read(path)?;
    let checked = compile_text(path, &text, explicit_priors)?;
    match checked.ir {
        Some(ir) => Ok(ir),
        None => {
            let name = path.display().to_string();
            let source = crate::SourceFile { name: &name, text: &text };
            let diagnostics: Vec<crate::Diagnostic> =
                checked.diagnostics.into_iter().filter(crate::Diagnostic::is_error).collect();
            let rendered = diagnostics.iter().map(|diagnostic| source.render(diagnostic)).collect();
            Err(LoadError::Invalid { path: path.to_owned(), diagnostics, rendered })
        }
    }
}

/// Reads a file as text.
pub fn read(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|source| ReadError { path: path.to_owned(), source })
}

/// The schemas a file's migrations may name: the `explicit` files, then the other `.schema`
/// files in its directory. Files that do not compile are skipped: they cannot be a source.
pub fn load_priors(file: &Path, explicit: &[PathBuf]) -> Result<Priors, ReadError> {
    let mut priors = Priors::new();
    for (_, ir) in prior_candidates(file, explicit)? {
        priors.insert(ir);
    }
    Ok(priors)
}

/// The files holding the schemas that `ir`'s migrations upgrade from (what a build must
/// watch beside the schema file itself).
pub fn migration_sources(file: &Path, ir: &crate::ir::Schema, explicit: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    if ir.migrations.is_empty() {
        return Ok(Vec::new());
    }
    let named: Vec<&str> = ir.migrations.iter().map(|migration| migration.from.as_str()).collect();
    Ok(prior_candidates(file, explicit)?
        .into_iter()
        .filter(|(_, prior)| named.contains(&crate::schema_hash(prior).to_string().as_str()))
        .map(|(path, _)| path)
        .collect())
}

/// Every candidate prior that compiles, with its path.
fn prior_candidates(file: &Path, explicit: &[PathBuf]) -> Result<Vec<(PathBuf, crate::ir::Schema)>, ReadError> {
    let mut candidates: Vec<PathBuf> = explicit.to_vec();
    let directory = file.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Ok(entries) = std::fs::read_dir(directory) {
        let mut siblings: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "schema"))
            .filter(|path| !same_file(path, file))
            .collect();
        siblings.sort();
        candidates.extend(siblings);
    }
    let mut compiled = Vec::new();
    for candidate in candidates {
        let text = match read(&candidate) {
            Ok(text) => text,
            Err(error) if explicit.contains(&candidate) => return Err(error),
            Err(_) => continue,
        };
        if let Some(ir) = crate::check_source(&text, None).ir {
            compiled.push((candidate, ir));
        }
    }
    Ok(compiled)
}

fn same_file(left: &Path, right: &Path) -> bool {
    match (left.canonicalize(), right.canonicalize()) {
        (Ok(left), Ok(right)) => left == right,
        _ => left == right,
    }
}

/// Compiles the text of `path`, loading priors only when the file has a migration.
pub fn compile_text(path: &Path, text: &str, explicit_priors: &[PathBuf]) -> Result<Checked, ReadError> {
    let has_migrations = text.contains("migrate");
    let priors = if has_migrations { load_priors(path, explicit_priors)? } else { Priors::new() };
    Ok(crate::check_source(text, Some(&priors)))
}
