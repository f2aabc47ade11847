//! Properties of the repository itself, which a newcomer relies on: ARCHITECTURE.md's code map
//! names every source file and nothing else, no source file is over 700 lines, and no code
//! reads a file outside the repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Source files under `directory`, relative to it, skipping build output.
fn files(directory: &Path, extensions: &[&str]) -> BTreeSet<String> {
    fn visit(base: &Path, directory: &Path, extensions: &[&str], into: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(directory) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == "target" || name.to_string_lossy().starts_with('.')) {
                continue;
            }
            if path.is_dir() {
                visit(base, &path, extensions, into);
            } else if path.extension().is_some_and(|extension| extensions.iter().any(|wanted| extension == *wanted)) {
                let relative = path.strip_prefix(base).unwrap_or(&path);
                into.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut found = BTreeSet::new();
    visit(directory, directory, extensions, &mut found);
    found
}

#[test]
fn the_code_map_names_every_source_file_and_nothing_else() {
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let start = architecture.find("## Code map").expect("a code map");
    let end = start + architecture[start + 1..].find("\n## ").expect("a section after the code map") + 1;
    let map = &architecture[start..end];
    let mut problems = Vec::new();
    for section in map.split("\n### ").skip(1) {
        let heading = section.lines().next().unwrap_or_default();
        let directory = heading.split('`').nth(1).expect("a heading names its folder in backticks");
        let named: BTreeSet<String> = section
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|token| token.ends_with(".rs") || token.ends_with(".pest"))
            .map(str::to_owned)
            .collect();
        let present = files(&root().join(directory), &["rs", "pest"]);
        for missing in present.difference(&named) {
            problems.push(format!("{directory}{missing} is not in the code map"));
        }
        for stale in named.difference(&present) {
            problems.push(format!("the code map names {directory}{stale}, which does not exist"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_source_file_is_over_700_lines() {
    let too_long: Vec<String> = files(&root(), &["rs"])
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(root().join(&path)).ok()?;
            // Generated code (the golden files of code generation) is read, not written.
            let lines = text.lines().count();
            (lines > 700 && !text.starts_with("// @generated")).then(|| format!("{path}: {lines} lines"))
        })
        .collect();
    assert!(too_long.is_empty(), "split these along their seams:\n{}", too_long.join("\n"));
}

#[test]
fn nothing_reads_outside_the_repository() {
    // Spelled in two pieces so that this file does not find itself.
    let outside = ["../", "shared"].concat();
    let brief = ["DES", "IGN.md"].concat();
    let offending: Vec<String> = files(&root(), &["rs", "toml", "md"])
        .into_iter()
        .filter(|path| {
            std::fs::read_to_string(root().join(path))
                .is_ok_and(|text| text.contains(&outside) || text.contains(&brief))
        })
        .collect();
    assert!(offending.is_empty(), "these name files outside the repository: {offending:?}");
}
