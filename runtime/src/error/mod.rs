//! Every error the runtime returns, in one place: a small `#[non_exhaustive]` enum per kind of
//! operation (open, write, ingest, …), each variant with the context a caller needs (which op,
//! which change, which rule), and [`Error`], which any of them converts into.
//!
//! This module sits at the bottom of the runtime's layering: it names ids and redb's errors,
//! nothing else of the crate. `write` holds what a local write or a read can meet (payloads,
//! rules, names); `ingest` what an op from a peer can; `decode` malformed bytes; `input`
//! files and JSON.

mod decode;
mod ingest;
mod input;
mod sync;
mod write;

use crate::ids::DatabaseId;
pub use crate::ids::ParseIdError;
pub use decode::{DecodeError, ExportError, OpDecodeError, VerifyError};
pub use ingest::{AttestationError, ChainError, IngestError, LimitError};
pub use input::{HistoryError, JsonError, KeyFileError, RowDecodeError, RowJsonError};
pub use sync::{ChannelError, MessageError, SyncError};
pub use write::{Denial, DenialReason, FailedRule, PayloadError, QueryError, WriteError};

/// Any error of the runtime, for callers that propagate them with `?` (see the module docs for
/// the operation-specific enums, which carry more context).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Creating or opening a replica failed.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A local write was refused.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// An op from a peer was refused.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A key file could not be read or written.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The input is not an export of this database.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A JSON row does not fit the schema.
    #[error(transparent)]
    Json(#[from] RowJsonError),
    /// A read names what the schema does not have.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A text form of an id does not parse.
    #[error(transparent)]
    ParseId(#[from] ParseIdError),
    /// A schema file cannot be read or does not check.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A sync session failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// A schema file that cannot be read or does not check (see [`crate::load_schema`]); its
/// message holds the diagnostics as `schemac check` prints them.
pub use schemac::files::LoadError as SchemaError;

/// A failure of the storage layer (IO, a full disk, corruption), with redb's error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// redb failed: IO, a full disk, or its own checks.
    #[error("storage error: {0}")]
    Redb(Box<redb::Error>),
    /// The tables disagree with each other, or hold bytes this code never writes.
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// The transaction holding this op failed (the error is reported for each op in it).
    #[error("the transaction failed, nothing in it was stored: {0}")]
    Transaction(String),
    /// redb lets one process at a time open a store; another process holds this one.
    #[error("the store is open in another process")]
    InUse,
    /// The file was written by an earlier version of the storage engine (redb's file format
    /// `file_format`), which this program cannot read.
    #[error(
        "the store file was written by an earlier cairn (storage file format {file_format}); to move the \
         database, run `cairn export` with the program that wrote the store and `cairn import` into a store \
         this program joins"
    )]
    OlderFile {
        /// The file format version redb found.
        file_format: u8,
    },
}

macro_rules! storage_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StorageError {
            fn from(error: $error) -> StorageError {
                StorageError::Redb(Box::new(error.into()))
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A description of corruption found in the store.
pub(crate) fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

/// Why a replica could not be created or opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The store holds no database (was it created with `init` or `join`?).
    #[error("the store holds no database (was it created with `init` or `join`?)")]
    Uninitialised,
    /// The store already holds a database (the one named).
    #[error("the store already holds database {0}")]
    AlreadyInitialised(DatabaseId),
    /// The store was written with the suite `found`, this replica uses `expected`.
    #[error("the store was written with the suite `{found}`, this replica uses `{expected}`")]
    WrongSuite {
        /// What the input holds.
        found: String,
        /// What this replica expected.
        expected: &'static str,
    },
    /// The store's schema `hash` cannot be read: `reason`.
    #[error("the store's schema {hash} cannot be read: {reason}")]
    Schema {
        /// The schema's hash.
        hash: String,
        /// Why, in words.
        reason: String,
    },
    /// The store holds schema `store`, and the code was generated from `code`.
    #[error(
        "the store holds schema {store}, and this code was generated from schema {code}: open it with code \
         generated from the store's schema, or migrate the store"
    )]
    SchemaMismatch {
        /// The store's schema hash.
        store: String,
        /// The hash of the schema the code was generated from.
        code: String,
    },
    /// The store was written in another layout version.
    #[error(
        "the store has layout version {found}; this program reads version {expected}. To move the database, \
         run `cairn export` with the program that wrote the store and `cairn import` into a store this \
         program joins"
    )]
    Format {
        /// The store's layout version.
        found: u64,
        /// The version this program reads and writes.
        expected: u64,
    },
}

/// The name among `candidates` closest to a misspelled `wanted`, if one is close enough to be a
/// typo (the compiler's rule for its own "did you mean" hints).
pub(crate) fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a String>) -> Option<String> {
    schemac::diagnostics::closest_name(wanted, candidates.into_iter().map(String::as_str)).map(str::to_owned)
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default()
}
