//! docs/SPEC.md's worked example stays true: the schema it shows encodes to the bytes it shows
//! and hashes to the hash it shows.

fn block_after<'a>(text: &'a str, marker: &str, fence: &str) -> &'a str {
    let start = text.find(marker).unwrap_or_else(|| panic!("SPEC.md has no `{marker}`"));
    let rest = &text[start..];
    let open = rest.find(fence).unwrap_or_else(|| panic!("no {fence} block after `{marker}`")) + fence.len();
    let body = rest[open..].trim_start_matches(|character| character != '\n');
    let body = body.strip_prefix('\n').unwrap_or(body);
    &body[..body.find("\n```").unwrap_or(body.len())]
}

#[test]
fn the_worked_example_matches_the_implementation() {
    let spec = crate::read(&crate::workspace_dir().join("docs/SPEC.md"));
    let section = &spec[spec.find("### 1.3 Worked example").expect("SPEC.md has the worked example")..];
    let schema = block_after(section, "The schema", "```schema");
    let checked = schemac::check_source(schema, Some(&schemac::Priors::new()));
    let ir = checked.ir.unwrap_or_else(|| panic!("the example must check: {:?}", checked.diagnostics));
    let encoding: String = schemac::hash::canonical_encoding(&ir).iter().map(|byte| format!("{byte:02x}")).collect();

    let documented = block_after(section, "The whole encoding", "```hex").trim();
    assert_eq!(documented, encoding, "the hex in SPEC.md is not the encoding");
    let hash = block_after(section, "and its hash is", "```").trim();
    assert_eq!(hash, schemac::schema_hash(&ir).to_string());

    // The annotated opening lines are a prefix of the encoding.
    let annotated = block_after(section, "Its canonical encoding begins", "```");
    let mut prefix = String::new();
    for line in annotated.lines() {
        let hex = line.trim_start().split("  ").next().unwrap_or("").replace(' ', "");
        if hex.is_empty() || !hex.chars().all(|character| character.is_ascii_hexdigit()) {
            break;
        }
        prefix.push_str(&hex);
    }
    assert!(prefix.len() > 100, "too little of the annotation was read: {prefix}");
    assert!(
        encoding.starts_with(&prefix),
        "the annotated bytes are not the start of the encoding:\n{prefix}\n{encoding}"
    );
}

#[test]
fn schema_hash_text_round_trips_and_rejects_malformed_text() {
    let text = "blake3:ddc842d95c12d4990d8ab5f39336ff1db1e285eee444a693cadbda1d6dbb874f";
    let hash: schemac::SchemaHash = text.parse().expect("well-formed");
    assert_eq!(hash.to_string(), text);
    for bad in [
        "",
        "blake3:",
        "sha256:ddc842d95c12d4990d8ab5f39336ff1db1e285eee444a693cadbda1d6dbb874f",
        &text.to_uppercase(),
        &text[..text.len() - 1],
    ] {
        assert!(bad.parse::<schemac::SchemaHash>().is_err(), "accepted {bad:?}");
    }
}
