//! The long explanations behind `schemac explain CODE`, and their examples.
//!
//! Each explanation (in `explain/CODE.md`) has a wrong and a corrected example. Migration codes
//! also carry a previous version of the schema, and their examples write `blake3:PRIOR` where
//! that version's hash goes; [`render`] substitutes the real hash so every example can be
//! copied and checked as printed. The test suite checks every example.

use crate::diagnostics::Code;

/// The placeholder the examples use for the previous version's hash.
pub const PRIOR_PLACEHOLDER: &str = "blake3:PRIOR";

/// The examples in one explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Examples {
    /// The previous version, for migration codes.
    pub prior: Option<String>,
    pub wrong: String,
    pub right: String,
}

/// The fenced blocks of `markdown` whose info string is `info`.
fn fenced_blocks<'a>(markdown: &'a str, info: &str) -> Vec<&'a str> {
    let opening = format!("```{info}\n");
    let mut blocks = Vec::new();
    let mut rest = markdown;
    while let Some(start) = rest.find(&opening) {
        let body = &rest[start + opening.len()..];
        let Some(end) = body.find("\n```") else { break };
        blocks.push(&body[..end + 1]);
        rest = &body[end + 4..];
    }
    blocks
}

/// The examples of a code, with the prior's hash substituted.
pub fn examples(code: Code) -> Examples {
    let markdown = code.explanation();
    let prior = fenced_blocks(markdown, "schema prior").first().map(|text| text.to_string());
    let blocks = fenced_blocks(markdown, "schema");
    let hash = prior.as_deref().and_then(prior_hash);
    let substitute = |text: &str| match &hash {
        Some(hash) => text.replace(PRIOR_PLACEHOLDER, hash),
        None => text.to_owned(),
    };
    Examples {
        prior,
        wrong: blocks.first().map(|text| substitute(text)).unwrap_or_default(),
        right: blocks.get(1).map(|text| substitute(text)).unwrap_or_default(),
    }
}

fn prior_hash(text: &str) -> Option<String> {
    crate::check_source(text, None).ir.map(|ir| crate::schema_hash(&ir).to_string())
}

/// The explanation as `schemac explain` prints it.
pub fn render(code: Code) -> String {
    let markdown = code.explanation();
    let prior = fenced_blocks(markdown, "schema prior").first().and_then(|text| prior_hash(text));
    match prior {
        Some(hash) => markdown.replace(PRIOR_PLACEHOLDER, &hash),
        None => markdown.to_owned(),
    }
}
