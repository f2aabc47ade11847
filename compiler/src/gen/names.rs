//! Names in generated code: the schema's names turned into Rust identifiers by one predictable
//! rule (`Thread` → `Thread`, `NewThread`, `ThreadId`, `thread()`; enum variant `in_review` →
//! `InReview`; fields keep their names, raw where Rust reserves them), and the check that no two
//! generated items share a name.

use super::GenError;
use std::collections::BTreeMap;

/// Words Rust reserves; a schema name among them is written raw (`r#type`).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn", "else", "enum",
    "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move",
    "mut", "override", "priv", "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type", "typeof",
    "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Words that cannot be raw identifiers: written with a trailing underscore.
const UNRAWABLE: &[&str] = &["crate", "self", "Self", "super", "_"];

/// An identifier for a schema name (ASCII letters, digits and `_`, as the grammar admits),
/// raw when Rust reserves the word.
pub fn ident(name: &str) -> String {
    if UNRAWABLE.contains(&name) {
        format!("{name}_")
    } else if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_owned()
    }
}

/// `in_review` → `InReview`, `todo` → `Todo`, `HTTPServer` stays.
pub fn pascal(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for character in name.chars() {
        if character == '_' {
            upper = true;
        } else if upper {
            out.extend(character.to_uppercase());
            upper = false;
        } else {
            out.push(character);
        }
    }
    out
}

/// The Rust variant for a schema name (`in_review` → `InReview`); a name that gives no Rust
/// identifier (`_`, `_1`, `self`) is refused, with what it would have been.
pub fn variant(name: &str) -> Result<String, GenError> {
    let generated = pascal(name);
    // Underscores are gone, so an identifier starts with a letter; the one keyword that can
    // start with a capital is `Self`.
    if generated.starts_with(|first: char| first.is_ascii_alphabetic()) && generated != "Self" {
        Ok(generated)
    } else {
        Err(GenError::InvalidName { name: name.to_owned(), generated })
    }
}

/// `TaskItem` → `task_item`, `HTTPServer` → `http_server`.
pub fn snake(name: &str) -> String {
    let characters: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (index, character) in characters.iter().enumerate() {
        if character.is_uppercase() {
            let previous_lower =
                index > 0 && (characters[index - 1].is_lowercase() || characters[index - 1].is_numeric());
            let next_lower = characters.get(index + 1).is_some_and(|next| next.is_lowercase());
            let previous_upper = index > 0 && characters[index - 1].is_uppercase();
            if index > 0 && (previous_lower || (previous_upper && next_lower)) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(character.to_lowercase());
        } else {
            out.push(*character);
        }
    }
    out
}

/// The names a generated module declares at its top level, each with what it is for, so a
/// schema whose names would collide is refused with both uses named.
#[derive(Default)]
pub struct Names {
    taken: BTreeMap<String, String>,
}

impl Names {
    /// Reserves `name` for `purpose`; fails if something else has it.
    pub fn take(&mut self, name: &str, purpose: impl Into<String>) -> Result<(), GenError> {
        let purpose = purpose.into();
        match self.taken.get(name) {
            Some(first) => Err(GenError::NameClash { name: name.to_owned(), first: first.clone(), second: purpose }),
            None => {
                self.taken.insert(name.to_owned(), purpose);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        assert_eq!(pascal("in_review"), "InReview");
        assert_eq!(pascal("todo"), "Todo");
        assert_eq!(snake("TaskItem"), "task_item");
        assert_eq!(snake("HTTPServer"), "http_server");
        assert_eq!(snake("Channel"), "channel");
        assert_eq!(ident("type"), "r#type");
        assert_eq!(ident("self"), "self_");
        assert_eq!(variant("in_review"), Ok("InReview".to_owned()));
        for unusable in ["_", "_1", "self", "_2x"] {
            assert!(matches!(variant(unusable), Err(GenError::InvalidName { .. })), "{unusable}");
        }
    }
}
