//! Folder-driven tests: `test_data/errors/*.schema` against their `.stderr` snapshots, and every
//! valid schema against its canonical layout and IR snapshots.

use crate::*;
use expect_test::expect_file;
use schemac::diagnostics::Code;
use schemac::format::{format_source, scan_comments};
use std::collections::BTreeSet;

#[test]
fn error_cases_match_their_snapshots() {
    let directory = compiler_dir().join("test_data/errors");
    let mut covered = BTreeSet::new();
    for path in schema_files(&directory) {
        let file_name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_owned();
        if file_name.starts_with("prior_") {
            continue;
        }
        let (text, checked) = compile_path(&path);
        let rendered = render_all(&file_name, &text, &checked);
        expect_file![path.with_extension("stderr")].assert_eq(&rendered);
        if let Some(code) = file_name.split('_').next().and_then(|prefix| prefix.parse::<Code>().ok()) {
            assert!(
                checked.diagnostics.iter().any(|diagnostic| diagnostic.code == code),
                "{file_name} is named after {code} but does not produce it:\n{rendered}"
            );
            covered.insert(code);
        }
    }
    let missing: Vec<&str> =
        Code::ALL.iter().filter(|code| !covered.contains(code)).map(|code| code.as_str()).collect();
    assert!(missing.is_empty(), "codes without a test_data/errors case: {missing:?}");
}

#[test]
fn one_run_reports_every_semantic_error() {
    let path = compiler_dir().join("test_data/errors/multiple_errors.schema");
    let (_, checked) = compile_path(&path);
    let codes: BTreeSet<Code> = checked
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| diagnostic.code)
        .collect();
    assert!(codes.len() >= 4, "expected at least four different errors, got {codes:?}");
}

#[test]
fn valid_schemas_check_clean_and_match_their_snapshots() {
    let snapshots = compiler_dir().join("test_data/snapshots");
    for path in valid_schema_files() {
        let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default().to_owned();
        let (text, checked) = compile_path(&path);
        assert!(
            checked.diagnostics.is_empty(),
            "{} should check without diagnostics:\n{}",
            path.display(),
            render_all(&stem, &text, &checked)
        );
        let Some(ir) = checked.ir else { panic!("{} produced no IR", path.display()) };
        let formatted = format_source(&text).unwrap_or_else(|error| panic!("{}: {error:?}", path.display()));
        expect_file![snapshots.join(format!("{stem}.fmt.schema"))].assert_eq(&formatted);
        let json = serde_json::to_string_pretty(&ir).unwrap_or_default() + "\n";
        expect_file![snapshots.join(format!("{stem}.ir.json"))].assert_eq(&json);
        expect_file![snapshots.join(format!("{stem}.hash"))].assert_eq(&format!("{}\n", schemac::schema_hash(&ir)));
    }
}

#[test]
fn formatting_is_idempotent_keeps_comments_and_keeps_the_hash() {
    for path in valid_schema_files() {
        let (text, checked) = compile_path(&path);
        let formatted = format_source(&text).unwrap_or_else(|error| panic!("{}: {error:?}", path.display()));
        let again = format_source(&formatted).unwrap_or_else(|error| panic!("{}: {error:?}", path.display()));
        assert_eq!(formatted, again, "fmt is not idempotent on {}", path.display());
        let comments =
            |source: &str| -> Vec<String> { scan_comments(source).into_iter().map(|comment| comment.text).collect() };
        assert_eq!(comments(&text), comments(&formatted), "fmt lost or reordered a comment in {}", path.display());
        let priors = priors_in(path.parent().unwrap_or(std::path::Path::new(".")));
        let reformatted = schemac::check_source(&formatted, Some(&priors));
        assert_eq!(
            reformatted.ir.as_ref().map(schemac::schema_hash),
            checked.ir.as_ref().map(schemac::schema_hash),
            "fmt changed the meaning of {}",
            path.display()
        );
    }
}

#[test]
fn the_language_reference_migration_example_upgrades_the_chat_schema() {
    // docs/schema-language.md §14 shows the migration of schemas/chat_v2.schema, with the hash
    // of schemas/chat.schema: all three must stay in step.
    let guide = read(&workspace_dir().join("docs/schema-language.md"));
    let start = guide.find("migrate from \"blake3:").expect("the language reference has a migration example");
    let end = start + guide[start..].find("\n}").expect("the example ends") + 2;
    let example = &guide[start..end];
    let chat =
        schemac::check_source(&read(&workspace_dir().join("schemas/chat.schema")), None).ir.expect("chat compiles");
    let chat_hash = schemac::schema_hash(&chat).to_string();
    assert!(example.contains(&chat_hash), "the example does not upgrade schemas/chat.schema ({chat_hash}):\n{example}");
    // The example, in place of chat_v2's own migration, proves against chat.schema.
    let v2 = read(&workspace_dir().join("schemas/chat_v2.schema"));
    let own_start = v2.find("migrate from").expect("chat_v2 has a migration");
    let own_end = own_start + v2[own_start..].find('}').expect("the migration ends") + 1;
    let with_example = format!("{}{example}{}", &v2[..own_start], &v2[own_end..]);
    let mut priors = schemac::Priors::new();
    priors.insert(chat);
    let checked = schemac::check_source(&with_example, Some(&priors));
    assert!(checked.diagnostics.is_empty(), "{}", render_all("chat_v2.schema", &with_example, &checked));
    let (text, checked) = compile_path(&workspace_dir().join("schemas/chat_v2.schema"));
    assert!(checked.diagnostics.is_empty(), "{}", render_all("chat_v2.schema", &text, &checked));
}

/// Code generation's golden files: the module generated for every valid schema, reviewed like
/// the other snapshots. Generating twice gives the same bytes, and syn parses them as a file.
#[test]
fn generated_modules_match_their_golden_files() {
    let snapshots = compiler_dir().join("test_data/snapshots");
    let options = schemac::gen::GenOptions::default();
    for path in valid_schema_files() {
        let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default().to_owned();
        let (_, checked) = compile_path(&path);
        let ir = checked.ir.unwrap_or_else(|| panic!("{} produced no IR", path.display()));
        let generated = schemac::gen::rust(&ir, &options).unwrap_or_else(|error| panic!("{stem}: {error}"));
        assert_eq!(generated, schemac::gen::rust(&ir, &options).expect("again"), "{stem}: not deterministic");
        assert!(generated.starts_with("// @generated"));
        if let Err(error) = syn::parse_file(&generated) {
            panic!("{stem}: the generated module is not a Rust file: {error}");
        }
        expect_file![snapshots.join(format!("{stem}.rs"))].assert_eq(&generated);
    }
}
