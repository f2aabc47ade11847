//! Diagnostics: every error and warning the compiler can report, with its stable code, and
//! the two ways to print them (rustc-style text through codespan-reporting, or JSON lines).
//!
//! The front end never prints; it returns [`Diagnostic`] values and the binary renders them.

use crate::ast::Span;
use codespan_reporting::diagnostic as codespan;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($($code:ident => $severity:ident, $title:literal;)*) => {
        /// A stable diagnostic code. `schemac explain CODE` prints its long explanation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum Code { $($code,)* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[$(Code::$code,)*];

            /// The code as printed: `E0101`, `W0001`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$code => stringify!($code),)* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Code::$code => Severity::$severity,)* }
            }

            /// A one-line summary of what the code is about.
            pub fn title(self) -> &'static str {
                match self { $(Code::$code => $title,)* }
            }

            /// The long explanation, in Markdown, with a wrong and a corrected example.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(Code::$code => include_str!(concat!("explain/", stringify!($code), ".md")),)*
                }
            }
        }
    };
}

codes! {
    E0001 => Error, "syntax error";
    E0002 => Error, "invalid literal";
    E0101 => Error, "name declared twice";
    E0102 => Error, "field declared twice";
    E0103 => Error, "enum variant declared twice";
    E0104 => Error, "unknown type";
    E0105 => Error, "`ref` to something that is not a collection";
    E0106 => Error, "unknown collection in `exists`";
    E0107 => Error, "unknown name in an expression";
    E0108 => Error, "unknown field";
    E0109 => Error, "unknown enum variant";
    E0110 => Error, "`update(…)` names a field the collection does not have";
    E0111 => Error, "variable bound twice";
    E0112 => Error, "record types contain each other";
    E0113 => Error, "reserved field name";
    E0114 => Error, "unknown function";
    E0115 => Error, "variable named like a special name";
    E0116 => Error, "`indexed` on a field no index can hold";
    E0201 => Error, "mismatched types";
    E0202 => Error, "ordering comparison on a type without order";
    E0203 => Error, "condition is not a `bool`";
    E0204 => Error, "`len()` of a value without a length";
    E0205 => Error, "value does not match the field's type";
    E0206 => Error, "replicated type in a place that cannot hold it";
    E0301 => Error, "`old.` outside an update rule";
    E0302 => Error, "`new.` in a delete rule";
    E0303 => Error, "`exists` in a `check`";
    E0304 => Error, "`check` reads something other than the row";
    E0305 => Error, "`update(…)` names a `readonly` field";
    E0306 => Error, "default value is not a constant";
    E0401 => Error, "migration source schema not found";
    E0402 => Error, "migration step names something that does not exist";
    E0403 => Error, "schema change not explained by the migration";
    E0404 => Error, "migration step contradicts the schema";
    E0405 => Error, "malformed schema hash";
    W0001 => Warning, "collection has no `allow` rule";
    W0002 => Warning, "enum is never used";
    W0003 => Warning, "variable shadows a field";
    W0004 => Warning, "record type is never used";
}

impl std::fmt::Display for Code {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl std::str::FromStr for Code {
    type Err = UnknownCode;

    fn from_str(text: &str) -> Result<Code, UnknownCode> {
        let wanted = text.trim().to_ascii_uppercase();
        Code::ALL.iter().copied().find(|code| code.as_str() == wanted).ok_or_else(|| UnknownCode(text.to_owned()))
    }
}

/// `schemac explain` was given a code that does not exist.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not a diagnostic code; codes look like E0101 or W0001")]
pub struct UnknownCode(pub String);

/// A span with a message, underlined in the rendered diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One error or warning about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// Where the problem is; underlined with `^`.
    pub primary: Label,
    /// Other places that matter (the first declaration of a duplicate, say); underlined with `-`.
    pub secondary: Vec<Label>,
    /// What to do about it, when the compiler knows ("did you mean `owner`?").
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            primary: Label { span, message: String::new() },
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn with_label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label { span, message: message.into() });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds "did you mean `x`?" when one of `candidates` is close to `wanted`.
    pub fn with_suggestion<'a>(self, wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Diagnostic {
        match closest_name(wanted, candidates) {
            Some(name) => self.with_help(format!("did you mean `{name}`?")),
            None => self,
        }
    }

    pub fn severity(&self) -> Severity {
        self.code.severity()
    }

    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// The candidate closest to `wanted` by edit distance, if it is close enough to be a typo.
pub fn closest_name<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (wanted.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|candidate| *candidate != wanted)
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&wanted.to_lowercase(), &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

/// Source text with its display name, for rendering and for line/column lookups.
pub struct SourceFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl SourceFile<'_> {
    fn to_codespan(&self, diagnostic: &Diagnostic) -> codespan::Diagnostic<()> {
        let severity = match diagnostic.severity() {
            Severity::Error => codespan::Severity::Error,
            Severity::Warning => codespan::Severity::Warning,
        };
        let mut labels = vec![codespan::Label::primary((), diagnostic.primary.span.clone())
            .with_message(diagnostic.primary.message.clone())];
        labels.extend(
            diagnostic
                .secondary
                .iter()
                .map(|label| codespan::Label::secondary((), label.span.clone()).with_message(label.message.clone())),
        );
        let mut notes = Vec::new();
        if let Some(help) = &diagnostic.help {
            notes.push(format!("help: {help}"));
        }
        codespan::Diagnostic::new(severity)
            .with_code(diagnostic.code.as_str())
            .with_message(diagnostic.message.clone())
            .with_labels(labels)
            .with_notes(notes)
    }

    /// Renders rustc-style text without colour: the form the snapshot tests compare.
    pub fn render(&self, diagnostic: &Diagnostic) -> String {
        let file = SimpleFile::new(self.name, self.text);
        let config = term::Config::default();
        term::emit_into_string(&config, &file, &self.to_codespan(diagnostic))
            .unwrap_or_else(|error| format!("{}: {}\n", diagnostic.code, error))
    }

    /// Renders rustc-style text to a terminal, in colour when the terminal supports it.
    #[cfg(feature = "cli")]
    pub fn render_to_terminal(
        &self,
        stream: &mut term::termcolor::StandardStream,
        diagnostic: &Diagnostic,
    ) -> std::io::Result<()> {
        let file = SimpleFile::new(self.name, self.text);
        let config = term::Config::default();
        term::emit_to_write_style(stream, &config, &file, &self.to_codespan(diagnostic)).map_err(std::io::Error::other)
    }

    /// The 1-based line and column of a byte offset, counting columns in characters.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// One diagnostic as the JSON object `--message-format json` prints on one line.
    pub fn to_json(&self, diagnostic: &Diagnostic) -> JsonDiagnostic {
        let (line, column) = self.line_column(diagnostic.primary.span.start);
        let (end_line, end_column) = self.line_column(diagnostic.primary.span.end);
        JsonDiagnostic {
            code: diagnostic.code.as_str(),
            severity: diagnostic.severity(),
            message: diagnostic.message.clone(),
            file: self.name.to_owned(),
            line,
            column,
            end_line,
            end_column,
            help: diagnostic.help.clone(),
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The machine-readable form of a diagnostic (one JSON object per line).
#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub help: Option<String>,
}
