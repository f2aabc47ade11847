//! Code generation's refusals and its corner cases: names that would clash in the module,
//! options that are not the Rust they claim to be, and schema text that a comment cannot hold.

use schemac::gen::{self, GenError, GenOptions};

fn ir(text: &str) -> schemac::ir::Schema {
    let checked = schemac::check_source(text, None);
    checked.ir.unwrap_or_else(|| panic!("the schema checks: {:?}", checked.diagnostics))
}

fn generate(text: &str, options: &GenOptions) -> Result<String, GenError> {
    gen::rust(&ir(text), options)
}

#[test]
fn names_that_would_clash_in_the_module_are_refused_with_both_uses() {
    for (schema, name) in [
        // `Sink` is the update builder's type parameter.
        ("schema s;\ntype Sink { a: int }\ncollection A { b: Sink? }\n", "Sink"),
        // Both give the compiled check `check_a_b_c`.
        (
            "schema s;\ncollection A { b_c: int check (b_c > 0) }\ncollection A_b { c: int check (c > 0) }\n",
            "check_a_b_c",
        ),
        ("schema s;\ncollection Thread { x: int }\ncollection ThreadId { y: int }\n", "ThreadId"),
    ] {
        match generate(schema, &GenOptions::default()) {
            Err(GenError::NameClash { name: clashed, first, second }) => {
                assert_eq!(clashed, name, "{schema}");
                assert_ne!(first, second);
            }
            other => panic!("{schema}: expected a clash on {name}, got {other:?}"),
        }
    }
}

#[test]
fn an_enum_without_variants_is_refused() {
    let schema = "schema s;\nenum Nothing {}\ncollection A { b: Nothing? }\n";
    assert_eq!(generate(schema, &GenOptions::default()), Err(GenError::EmptyEnum { name: "Nothing".into() }));
}

#[test]
fn an_option_with_a_comment_is_refused_and_a_string_with_slashes_is_not() {
    let schema = "schema s;\ncollection A { b: int }\n";
    let commented = GenOptions { runtime_path: "::cairn // the runtime".into(), ..GenOptions::default() };
    assert!(matches!(generate(schema, &commented), Err(GenError::InvalidOption { what: "runtime path", .. })));
    let attribute = GenOptions {
        type_attributes: vec![("A".into(), "#[doc = \"see https://example.org\"]".into())],
        ..GenOptions::default()
    };
    let generated = generate(schema, &attribute).expect("generates");
    assert!(generated.contains("#[doc = \"see https://example.org\"]"), "{generated}");
    syn::parse_file(&generated).expect("a Rust file");
}

#[test]
fn docs_that_a_comment_cannot_hold_are_written_as_escaped_strings() {
    let schema = "schema s;\n/// one\rtwo \u{202E}three\ncollection A { b: int }\n";
    let generated = generate(schema, &GenOptions::default()).expect("generates");
    assert!(generated.contains(r#"#[doc = " one\rtwo \u{202e}three"]"#), "{generated}");
    syn::parse_file(&generated).expect("a Rust file");
    // What the schema! macro expands to lexes too.
    gen::tokens(&ir(schema), &GenOptions::default()).expect("tokens");
}
