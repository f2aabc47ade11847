//! How commands print: human-readable text, or one JSON value with `--json`.

use serde_json::Value as Json;

/// Where a command's result goes, and in which form.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` with `--json`, `text` otherwise.
    pub fn print(&self, value: Json, text: String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}
