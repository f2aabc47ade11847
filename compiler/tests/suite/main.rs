//! The compiler's integration tests, in one binary.
//!
//! Snapshot files are compared with expect-test; run with `UPDATE_EXPECT=1` to rewrite them
//! after an intended change, and review the diff.

mod build;
mod cli;
mod data_driven;
mod explain_examples;
mod gen;
mod properties;
mod spec;

use schemac::{Checked, Priors, SourceFile};
use std::path::{Path, PathBuf};

pub fn compiler_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn workspace_dir() -> PathBuf {
    compiler_dir().parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The `.schema` files of a directory, sorted by name.
pub fn schema_files(directory: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", directory.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "schema"))
        .collect();
    files.sort();
    files
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Every schema in `directory` that compiles, as the CLI would offer them to a migration.
pub fn priors_in(directory: &Path) -> Priors {
    let mut priors = Priors::new();
    for path in schema_files(directory) {
        if let Some(ir) = schemac::check_source(&read(path.as_path()), None).ir {
            priors.insert(ir);
        }
    }
    priors
}

/// Compiles a file with its directory's schemas as priors.
pub fn compile_path(path: &Path) -> (String, Checked) {
    let text = read(path);
    let priors = priors_in(path.parent().unwrap_or(Path::new(".")));
    let checked = schemac::check_source(&text, Some(&priors));
    (text, checked)
}

/// All diagnostics rendered as the CLI prints them (without colour).
pub fn render_all(name: &str, text: &str, checked: &Checked) -> String {
    let source = SourceFile { name, text };
    checked.diagnostics.iter().map(|diagnostic| source.render(diagnostic)).collect()
}

/// Every valid schema the tests know: the corner cases in test_data/valid and the examples in
/// the workspace's schemas/ folder.
pub fn valid_schema_files() -> Vec<PathBuf> {
    let mut files = schema_files(&compiler_dir().join("test_data/valid"));
    files.extend(schema_files(&workspace_dir().join("schemas")));
    files
}
