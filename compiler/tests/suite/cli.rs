//! The `schemac` binary: exit codes, output formats and in-place formatting.

use std::path::Path;
use std::process::{Command, Output};

fn schemac(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schemac"))
        .args(arguments)
        .output()
        .unwrap_or_else(|error| panic!("cannot run schemac: {error}"))
}

fn schema(name: &str) -> String {
    crate::workspace_dir().join("schemas").join(name).display().to_string()
}

fn error_case(name: &str) -> String {
    crate::compiler_dir().join("test_data/errors").join(name).display().to_string()
}

fn temporary_directory(name: &str) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("schemac-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", directory.display()));
    directory
}

#[test]
fn check_exit_codes() {
    let ok = schemac(&["check", &schema("chat.schema"), &schema("taskboard.schema")]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = schemac(&["check", &schema("chat.schema"), &error_case("multiple_errors.schema")]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("error[E"), "{stderr}");
    let missing = schemac(&["check", "/nonexistent/file.schema"]);
    assert_eq!(missing.status.code(), Some(2));
    let usage = schemac(&["check"]);
    assert_eq!(usage.status.code(), Some(2));
    let unknown_code = schemac(&["explain", "E9999"]);
    assert_eq!(unknown_code.status.code(), Some(2));
}

#[test]
fn json_diagnostics_have_the_documented_keys() {
    let output = schemac(&["check", "--message-format", "json", &error_case("multiple_errors.schema")]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 4, "{stdout}");
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}"));
        for key in ["code", "severity", "message", "file", "line", "column", "end_line", "end_column", "help"] {
            assert!(value.get(key).is_some(), "missing {key} in {line}");
        }
        assert!(matches!(value["severity"].as_str(), Some("error" | "warning")), "{line}");
        assert!(value["line"].as_u64().is_some_and(|line| line >= 1), "{line}");
        assert!(value["column"].as_u64().is_some_and(|column| column >= 1), "{line}");
    }
}

#[test]
fn hash_ir_and_explain_print_what_they_promise() {
    let hash = schemac(&["hash", &schema("chat.schema")]);
    assert_eq!(hash.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&hash.stdout);
    let printed = printed.trim();
    assert!(printed.starts_with("blake3:") && printed.len() == 7 + 64, "{printed}");
    let ir = schemac(&["ir", &schema("chat.schema")]);
    let value: serde_json::Value = serde_json::from_slice(&ir.stdout).expect("ir prints JSON");
    assert_eq!(value["name"], "chat");
    assert!(value["collections"]["Message"]["fields"].is_array());
    let explain = schemac(&["explain", "e0101"]);
    assert_eq!(explain.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&explain.stdout).contains("## Wrong"));
}

#[test]
fn fmt_check_and_write() {
    let directory = temporary_directory("fmt");
    let messy = directory.join("messy.schema");
    std::fs::write(
        &messy,
        "schema  messy ;\n// keep me\nenum   Kind{a,b}\ncollection Thing { kind : Kind , allow insert if kind=a; }\n",
    )
    .expect("write");
    let tidy = directory.join("tidy.schema");
    let tidy_text = String::from_utf8_lossy(&schemac(&["fmt", messy.to_str().unwrap_or_default()]).stdout).into_owned();
    std::fs::write(&tidy, &tidy_text).expect("write");

    let check = schemac(&["fmt", "--check", messy.to_str().unwrap_or_default(), tidy.to_str().unwrap_or_default()]);
    assert_eq!(check.status.code(), Some(1));
    let named = String::from_utf8_lossy(&check.stdout);
    assert!(named.contains("messy.schema") && !named.contains("tidy.schema"), "{named}");

    let write = schemac(&["fmt", "--write", messy.to_str().unwrap_or_default()]);
    assert_eq!(write.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&messy).expect("read"), tidy_text);
    assert!(tidy_text.contains("// keep me"), "{tidy_text}");
    let recheck = schemac(&["fmt", "--check", messy.to_str().unwrap_or_default()]);
    assert_eq!(recheck.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn migrations_find_their_source_beside_them_or_through_prior() {
    let directory = temporary_directory("prior");
    let v1 = std::fs::read_to_string(schema("editor_v1.schema")).expect("read v1");
    let v2 = std::fs::read_to_string(schema("editor.schema")).expect("read v2");
    std::fs::create_dir_all(directory.join("old")).expect("mkdir");
    std::fs::write(directory.join("old/editor_v1.schema"), v1).expect("write");
    std::fs::write(directory.join("editor.schema"), v2).expect("write");
    let v2_path = directory.join("editor.schema");
    let alone = schemac(&["check", v2_path.to_str().unwrap_or_default()]);
    assert_eq!(alone.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&alone.stderr).contains("E0401"));
    let prior = directory.join("old/editor_v1.schema");
    let with_prior =
        schemac(&["check", "--prior", prior.to_str().unwrap_or_default(), v2_path.to_str().unwrap_or_default()]);
    assert_eq!(with_prior.status.code(), Some(0), "{}", String::from_utf8_lossy(&with_prior.stderr));
    let beside = schemac(&["check", &schema("editor.schema")]);
    assert_eq!(beside.status.code(), Some(0));
    assert!(Path::new(&schema("editor_v1.schema")).exists());
    let _ = std::fs::remove_dir_all(&directory);
}

#[test]
fn gen_rust_prints_or_writes_modules() {
    let printed = schemac(&["gen", "rust", &schema("chat.schema")]);
    assert_eq!(printed.status.code(), Some(0), "{}", String::from_utf8_lossy(&printed.stderr));
    let module = String::from_utf8_lossy(&printed.stdout).into_owned();
    assert!(module.starts_with("// @generated by schemac from schema `chat`"));
    let directory = temporary_directory("gen");
    let out = directory.display().to_string();
    let written = schemac(&["gen", "rust", &schema("chat.schema"), &schema("taskboard.schema"), "-o", &out]);
    assert_eq!(written.status.code(), Some(0), "{}", String::from_utf8_lossy(&written.stderr));
    assert_eq!(std::fs::read_to_string(directory.join("chat.rs")).expect("chat.rs"), module);
    assert!(directory.join("taskboard.rs").exists());
    let several = schemac(&["gen", "rust", &schema("chat.schema"), &schema("taskboard.schema")]);
    assert_eq!(several.status.code(), Some(2), "several modules need a directory");
    let broken = schemac(&["gen", "rust", &error_case("multiple_errors.schema")]);
    assert_eq!(broken.status.code(), Some(1));
    // Names that would clash in the module: refused, both uses named.
    let clash = directory.join("clash.schema");
    std::fs::write(&clash, "schema clash;\n\ncollection Db {\n    name: string,\n\n    allow insert if true;\n}\n")
        .expect("write");
    let refused = schemac(&["gen", "rust", &clash.display().to_string()]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("`Db` would be both"), "{stderr}");
    let _ = std::fs::remove_dir_all(&directory);
}
