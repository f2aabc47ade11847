//! Input from files and people: key files, JSON rows, histories handed to the reference
//! evaluator.

use super::did_you_mean;
use crate::ids::OpHash;

/// A key file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Cannot read key file `path`: `source`.
    #[error("cannot read key file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Cannot write key file `path`: `source`.
    #[error("cannot write key file {path}: {source}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Key file `path` already exists; refusing to overwrite a key.
    #[error("key file {path} already exists; refusing to overwrite a key")]
    Exists {
        /// The file.
        path: std::path::PathBuf,
    },
    /// Key file `path` is readable by other users (mode `mode`); run `chmod 600 `path``.
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The file.
        path: std::path::PathBuf,
        /// The file's permission bits.
        mode: u32,
    },
    /// Key file `path` is malformed: `reason`.
    #[error("key file {path} is malformed: {reason}")]
    Malformed {
        /// The file.
        path: std::path::PathBuf,
        /// Why, in words.
        reason: &'static str,
    },
    /// Key file `path` is for the suite `found`, but this database uses `expected`.
    #[error("key file {path} is for the suite `{found}`, but this database uses `{expected}`")]
    WrongSuite {
        /// The file.
        path: std::path::PathBuf,
        /// What the input holds.
        found: String,
        /// What this replica expected.
        expected: &'static str,
    },
}

/// A JSON value that does not fit the field's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: expected {expected}, found {found}")]
pub struct JsonError {
    /// Where in the row: a field name, then `.key` or `[index]` steps.
    pub path: String,
    /// What the field's type needs there.
    pub expected: String,
    /// What the JSON holds there.
    pub found: String,
}

/// Why a JSON row cannot become a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowJsonError {
    /// Unknown collection `collection`.
    #[error("unknown collection `{collection}`{}", did_you_mean(.suggestion))]
    UnknownCollection {
        /// The collection, as it was named.
        collection: String,
        /// The closest name the schema has, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// A row is a JSON object of fields; this is something else (named).
    #[error("a row is a JSON object of fields, found {0}")]
    NotAnObject(String),
    /// `collection` has no field `field`.
    #[error("`{collection}` has no field `{field}`{}", did_you_mean(.suggestion))]
    UnknownField {
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
        /// The closest name the schema has, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// A field value does not fit its type.
    #[error(transparent)]
    Value(#[from] JsonError),
    /// `field`: `reason`.
    #[error("`{field}`: {reason}")]
    Edit {
        /// The field, as it was named.
        field: String,
        /// Why, in words.
        reason: String,
    },
}

/// Ops that cannot form a history for the reference evaluator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// An op (named) has a parent that is not in the history.
    #[error("op {0} has a parent that is not in the history")]
    MissingParent(OpHash),
    /// The history has no genesis op.
    #[error("the history has no genesis op")]
    NoGenesis,
}

/// A row that does not fit the Rust type it is read into (a typed read, or a typed event):
/// the store holds another schema than the code was generated from, or a projection names a
/// field with a type that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowDecodeError {
    /// The row is of another collection than the type reads.
    #[error("the row is in `{found}`, not in `{expected}`")]
    Collection {
        /// The collection the type reads.
        expected: String,
        /// The row's.
        found: String,
    },
    /// `collection.field` holds `found`, and the type reads `expected`.
    #[error("`{collection}.{field}` holds {found}, and the type reads {expected}")]
    Field {
        /// The collection.
        collection: String,
        /// The field.
        field: String,
        /// What the Rust type reads.
        expected: &'static str,
        /// What the field holds.
        found: &'static str,
    },
    /// The schema has no collection `0` (an event of a collection the code does not know).
    #[error("the code knows no collection `{0}`")]
    UnknownCollection(String),
    /// An event without the row or collection it is about.
    #[error("a row event without its row")]
    Incomplete,
}
