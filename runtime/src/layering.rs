//! The layering invariant of ARCHITECTURE.md, checked on the source: each top-level module of
//! the runtime uses only the modules before it in the layer line, and within a module's folder
//! the files do not import each other in a circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer line of ARCHITECTURE.md: the line after the `<!-- layers -->` marker, module names
/// joined by arrows.
fn layers() -> Vec<String> {
    let architecture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ARCHITECTURE.md");
    let text = std::fs::read_to_string(&architecture).expect("ARCHITECTURE.md");
    let marker = text.find("<!-- layers -->").expect("ARCHITECTURE.md marks the layer line with <!-- layers -->");
    let line = text[marker..].lines().nth(1).expect("a line after the marker");
    line.split('→').map(|name| name.trim().trim_matches('`').to_owned()).collect()
}

/// Every source file, with its module path (`engine/views.rs` is `["engine", "views"]`).
fn modules() -> BTreeMap<Vec<String>, String> {
    fn visit(directory: &Path, prefix: &[String], into: &mut BTreeMap<Vec<String>, String>) {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(directory).expect("src").map(|entry| entry.expect("entry").path()).collect();
        entries.sort();
        for path in entries {
            let name = path.file_stem().and_then(|stem| stem.to_str()).expect("a UTF-8 name").to_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                visit(&path, &inner, into);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let mut module = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    module.push(name);
                }
                into.insert(module, std::fs::read_to_string(&path).expect("source"));
            }
        }
    }
    let mut modules = BTreeMap::new();
    visit(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &[], &mut modules);
    modules
}

/// The modules a file names: `crate::a::b` and `super::b` paths, and the names in `use
/// super::{…}` and `use crate::a::{…}` groups, resolved to the files that exist.
fn references(module: &[String], source: &str, known: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    // Code only: a doc comment may name any module.
    let code: String =
        source.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (start, _) in code.match_indices(prefix) {
            let rest = &code[start + prefix.len()..];
            let mut path = base.clone();
            let mut names: Vec<&str> = Vec::new();
            let segment: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            names.extend(segment.split("::").filter(|name| !name.is_empty()));
            let group = rest[segment.len()..].strip_prefix('{').and_then(|group| group.split('}').next());
            let mut candidates = Vec::new();
            for name in &names {
                path.push((*name).to_owned());
                if known.contains(&path) {
                    candidates.push(path.clone());
                }
            }
            if let Some(group) = group {
                for item in group.split(',').map(|item| item.trim().split("::").next().unwrap_or("").trim()) {
                    let mut inner = path.clone();
                    inner.push(item.to_owned());
                    if known.contains(&inner) {
                        candidates.push(inner);
                    }
                }
            }
            // The deepest module the path names.
            if let Some(deepest) = candidates.into_iter().max_by_key(Vec::len) {
                found.insert(deepest);
            }
        }
    }
    found.remove(module);
    found
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let layers = layers();
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let top_level: BTreeSet<&String> = known.iter().filter_map(|module| module.first()).collect();
    let listed: BTreeSet<&String> = layers.iter().collect();
    let test_only = String::from("layering");
    let unlisted: Vec<&&String> =
        top_level.iter().filter(|name| !listed.contains(*name) && **name != &test_only).collect();
    assert!(unlisted.is_empty(), "modules missing from ARCHITECTURE.md's layer line: {unlisted:?}");
    let rank = |name: &String| layers.iter().position(|layer| layer == name);
    let mut problems = Vec::new();
    for (module, source) in &modules {
        let Some(own) = module.first() else { continue };
        let Some(own_rank) = rank(own) else { continue };
        for used in references(module, source, &known) {
            let Some(used_rank) = used.first().and_then(rank) else { continue };
            if used_rank > own_rank {
                problems.push(format!("{} uses {}, a later layer", module.join("::"), used.join("::")));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_files_of_a_folder_do_not_import_each_other_in_a_circle() {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    // Edges between siblings: files of one folder, not its `mod.rs`, which declares them.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, source) in &modules {
        if module.len() < 2 {
            continue;
        }
        for used in references(module, source, &known) {
            if used.len() == module.len() && used[..used.len() - 1] == module[..module.len() - 1] {
                edges.entry(module.clone()).or_default().insert(used);
            }
        }
    }
    fn reaches(
        from: &Vec<String>,
        target: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        seen: &mut BTreeSet<Vec<String>>,
    ) -> bool {
        edges
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == target || (seen.insert(next.clone()) && reaches(next, target, edges, seen)))
    }
    let circles: Vec<String> = edges
        .keys()
        .filter(|module| reaches(module, module, &edges, &mut BTreeSet::new()))
        .map(|module| module.join("::"))
        .collect();
    assert!(circles.is_empty(), "files in an import circle: {circles:?}");
}

#[test]
fn the_checker_sees_an_upward_import() {
    let known: BTreeSet<Vec<String>> =
        [vec!["store".to_owned()], vec!["engine".to_owned()], vec!["engine".to_owned(), "views".to_owned()]]
            .into_iter()
            .collect();
    let found = references(&["store".to_owned()], "use crate::engine::views::ViewWorld;\n", &known);
    assert_eq!(found, BTreeSet::from([vec!["engine".to_owned(), "views".to_owned()]]));
    let grouped = references(&["engine".to_owned(), "apply".to_owned()], "use super::{views, Engine};\n", &known);
    assert_eq!(grouped, BTreeSet::from([vec!["engine".to_owned(), "views".to_owned()]]));
}
