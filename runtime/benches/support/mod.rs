//! What the runtime's benchmarks share: sizes from the environment, schemas from text, and
//! scratch directories that vanish with the run.

use std::path::PathBuf;

/// A count from the environment variable `name`, or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// A schema from its text (the benchmarks' schemas are known to check).
pub fn compile(text: &str) -> schemac::ir::Schema {
    schemac::check_source(text, Some(&schemac::Priors::new())).ir.expect("the bench schema compiles")
}

/// A directory under the system's temporary one, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("cairn-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// A store file in the directory.
    pub fn store(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.redb"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
