//! Every error the runtime returns, in one place: a small `#[non_exhaustive]` enum per kind of
//! operation (open, write, ingest, …), each variant with the context a caller needs (which op,
//! which change, which rule), and [`Error`], which any of them converts into.
//!
//! This module sits at the bottom of the runtime's layering: it names ids and redb's errors,
//! nothing else of the crate.

use crate::ids::{DatabaseId, Identity, OpHash, RowId};

pub use crate::ids::ParseIdError;

/// Any error of the runtime, for callers that propagate them with `?` (see the module docs for
/// the operation-specific enums, which carry more context).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Json(#[from] RowJsonError),
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    ParseId(#[from] ParseIdError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A schema file that cannot be read or does not check (see [`crate::load_schema`]); its
/// message holds the diagnostics as `schemac check` prints them.
pub use schemac::files::LoadError as SchemaError;

/// A failure of the storage layer (IO, a full disk, corruption), with redb's error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("storage error: {0}")]
    Redb(Box<redb::Error>),
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// The transaction holding this op failed (the error is reported for each op in it).
    #[error("the transaction failed, nothing in it was stored: {0}")]
    Transaction(String),
    /// redb lets one process at a time open a store; another process holds this one.
    #[error("the store is open in another process")]
    InUse,
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
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the store holds no database (was it created with `init` or `join`?)")]
    Uninitialised,
    #[error("the store already holds database {0}")]
    AlreadyInitialised(DatabaseId),
    #[error("the store was written with the suite `{found}`, this replica uses `{expected}`")]
    WrongSuite { found: String, expected: &'static str },
    #[error("the store's schema {hash} cannot be read: {reason}")]
    Schema { hash: String, reason: String },
    #[error(
        "the store has layout version {found}; this program reads version {expected}. To move the database, \
         run `cairn export` with the program that wrote the store and `cairn import` into a store this \
         program joins"
    )]
    Format { found: u64, expected: u64 },
}

/// Why a local write was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("denied: {0}")]
    Denied(Box<Denial>),
    #[error("this replica has not received its database's genesis op yet")]
    NoGenesis,
    #[error("the op would be {size} bytes, over the limit of {limit} that peers accept; split the batch")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an op from a peer was not accepted. Every variant that has decoded far enough names
/// the op.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    #[error("op of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("op does not decode: {0}")]
    Decode(#[from] OpDecodeError),
    #[error("op {op}: bad signature by {author}")]
    BadSignature { op: OpHash, author: Identity },
    #[error("op {op}: belongs to database {found}, not {expected}")]
    WrongDatabase { op: OpHash, expected: DatabaseId, found: String },
    #[error("op {op}: {reason}")]
    Genesis { op: OpHash, reason: &'static str },
    #[error("op {op}: {limit}")]
    OverLimit { op: OpHash, limit: LimitError },
    #[error("op {op}: broken author chain: {problem}")]
    Sequence { op: OpHash, problem: ChainError },
    #[error("op {op}: depth is {found}, but its parents make it {expected}")]
    Depth { op: OpHash, expected: u64, found: u64 },
    #[error("op {op}: unknown schema {schema}")]
    UnknownSchema { op: OpHash, schema: String },
    #[error("op {op}: {error}")]
    Payload { op: OpHash, error: Box<PayloadError> },
    #[error("op {op} by {author}: {denial}")]
    Denied { op: OpHash, author: Identity, denial: Box<Denial> },
    #[error("op {op}: false attestation: {error}")]
    Attestation { op: OpHash, error: AttestationError },
    #[error("op {op}: rejected before: {reason}")]
    PreviouslyRejected { op: OpHash, reason: String },
    #[error("op {op}: its parent {parent} was rejected")]
    RejectedParent { op: OpHash, parent: OpHash },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl IngestError {
    /// The op this error is about, when it decoded far enough to have a hash.
    pub fn op(&self) -> Option<OpHash> {
        match self {
            IngestError::BadSignature { op, .. }
            | IngestError::WrongDatabase { op, .. }
            | IngestError::Genesis { op, .. }
            | IngestError::OverLimit { op, .. }
            | IngestError::Sequence { op, .. }
            | IngestError::Depth { op, .. }
            | IngestError::UnknownSchema { op, .. }
            | IngestError::Payload { op, .. }
            | IngestError::Denied { op, .. }
            | IngestError::Attestation { op, .. }
            | IngestError::PreviouslyRejected { op, .. }
            | IngestError::RejectedParent { op, .. } => Some(*op),
            IngestError::TooLarge { .. } | IngestError::Decode(_) | IngestError::Storage(_) => None,
        }
    }

    /// Whether the failure is a property of the signed content itself, so the same op will
    /// fail the same way everywhere and forever, and need not be fetched again.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            IngestError::WrongDatabase { .. }
                | IngestError::Genesis { .. }
                | IngestError::OverLimit { .. }
                | IngestError::RejectedParent { .. }
                | IngestError::Sequence { .. }
                | IngestError::Depth { .. }
                | IngestError::Payload { .. }
                | IngestError::Denied { .. }
                | IngestError::Attestation { .. }
        )
    }
}

impl From<redb::StorageError> for IngestError {
    fn from(error: redb::StorageError) -> IngestError {
        IngestError::Storage(error.into())
    }
}

/// The first size limit an op exceeds (checked right after decoding, before any other work).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitError {
    #[error("{count} parents, over the limit of {limit}")]
    Parents { count: usize, limit: usize },
    #[error("{count} changes, over the limit of {limit}")]
    Changes { count: usize, limit: usize },
    #[error("a string or byte string over the limit of {limit} bytes")]
    Value { limit: usize },
    #[error("a witness collection name over the limit of {limit} bytes")]
    WitnessCollection { limit: usize },
}

/// How an op breaks its author's chain of sequence numbers (docs/SPEC.md §2.4, step 6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("only a genesis op has no parents")]
    NoParents,
    #[error("sequence numbers start at 1")]
    ZeroSequence,
    #[error("the author's first op has one of the author's ops as a parent")]
    FirstWithOwnParent,
    #[error("the author's op {previous} is not among the parents")]
    MissingPrevious { previous: u64 },
    #[error("a parent is the author's op {parent}, not older than this one")]
    NewerParent { parent: u64 },
}

/// A false attestation: what the op claims its author saw, and the op's past does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    #[error("an attestation names change {change}, which the op does not have")]
    NoSuchChange { change: u32 },
    #[error("change {change} names rule #{rule}, which does not cover it")]
    RuleDoesNotCover { change: u32, rule: u32 },
    #[error("witness {row} of {collection} at version {version} is not in the op's past")]
    WitnessNotInPast { collection: String, row: RowId, version: OpHash },
}

/// Why a change is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change {change} ({action} in {collection}): {reason}")]
pub struct Denial {
    /// The change's index in the op.
    pub change: u32,
    pub collection: String,
    /// `insert`, `update` or `delete`.
    pub action: &'static str,
    pub reason: DenialReason,
}

/// What kept a change from being allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenialReason {
    #[error("the schema has no collection `{0}`")]
    UnknownCollection(String),
    #[error("row {0} is not a visible row of this collection")]
    NoSuchRow(RowId),
    #[error("the parent row is not a visible row of `{0}`")]
    NoParent(String),
    #[error("the check on field `{field}` does not hold: {check}")]
    CheckFailed { field: String, check: String },
    #[error("no rule allows it")]
    NoRule,
    #[error("{}", describe_failed_rules(.0))]
    RulesFailed(Vec<FailedRule>),
}

/// A rule that covered a change but did not hold, and the first clause of it that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRule {
    /// The rule's index among its collection's rules.
    pub rule: u32,
    /// The rule as the schema says it.
    pub text: String,
    /// Its first failing clause: descending into `and`, the first operand that is false.
    pub clause: String,
}

fn describe_failed_rules(rules: &[FailedRule]) -> String {
    rules
        .iter()
        .map(|failed| format!("rule #{} `{}` fails at `{}`", failed.rule, failed.text, failed.clause))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is wrong with a change, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    #[error("change {change}: unknown collection `{collection}`{}", did_you_mean(.suggestion))]
    UnknownCollection { change: usize, collection: String, suggestion: Option<String> },
    #[error("change {change}: `{collection}` has no field `{field}`{}", did_you_mean(.suggestion))]
    UnknownField { change: usize, collection: String, field: String, suggestion: Option<String> },
    #[error("change {change}: `{collection}.{field}` is required but missing")]
    MissingField { change: usize, collection: String, field: String },
    #[error("change {change}: `{collection}.{field}` expects {expected}: {problem}")]
    WrongType { change: usize, collection: String, field: String, expected: String, problem: String },
    #[error("change {change}: `{collection}.{field}` is readonly")]
    Readonly { change: usize, collection: String, field: String },
    #[error("change {change}: `{edit}` does not apply to `{collection}.{field}` of type {ty}")]
    WrongEdit { change: usize, collection: String, field: String, edit: &'static str, ty: String },
    #[error("change {change}: the check on `{collection}.{field}` fails")]
    CheckFailed { change: usize, collection: String, field: String },
    #[error("change {change}: a value of `{collection}.{field}` is {size} bytes, over the limit of {limit}")]
    TooLarge { change: usize, collection: String, field: String, size: usize, limit: usize },
    #[error("the op has {count} changes, over the limit of {limit}")]
    TooManyChanges { count: usize, limit: usize },
    #[error("an op must change at least one row")]
    Empty,
}

/// A read that names what the schema does not have.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("unknown collection `{collection}`{}", did_you_mean(.suggestion))]
    UnknownCollection { collection: String, suggestion: Option<String> },
    #[error("`{collection}` has no field `{field}`{}", did_you_mean(.suggestion))]
    UnknownField { collection: String, field: String, suggestion: Option<String> },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The name among `candidates` closest to a misspelled `wanted`, if one is close enough to be a
/// typo (the compiler's rule for its own "did you mean" hints).
pub(crate) fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a String>) -> Option<String> {
    schemac::diagnostics::closest_name(wanted, candidates.into_iter().map(String::as_str)).map(str::to_owned)
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion.as_ref().map(|name| format!(" (did you mean `{name}`?)")).unwrap_or_default()
}

/// Why bytes are not an acceptable CBOR item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("malformed CBOR at byte {position}: {reason}")]
    Malformed { position: usize, reason: String },
    #[error("unsupported CBOR item at byte {position}: {kind}")]
    Unsupported { position: usize, kind: String },
    #[error("CBOR nested more than {limit} levels deep")]
    TooDeep { limit: usize },
    #[error("more than {limit} CBOR items in one op")]
    TooManyItems { limit: usize },
    #[error("duplicate map key `{key}`")]
    DuplicateKey { key: String },
    #[error("{extra} bytes after the end of the item")]
    TrailingBytes { extra: usize },
    #[error("not the canonical encoding (the canonical form differs from byte {position})")]
    NotCanonical { position: usize },
}

/// Why bytes are not a well-formed op.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpDecodeError {
    #[error(transparent)]
    Cbor(#[from] DecodeError),
    #[error("unsupported op format version {0}")]
    Version(u64),
    #[error("an op is an array of 10 items, this one has {0}")]
    Arity(usize),
    #[error("malformed {part}: {reason}")]
    Structure { part: &'static str, reason: String },
}

/// A signature that failed, or a hash that did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("bad signature by {author}")]
    BadSignature { author: Identity },
}

/// A key file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("cannot write key file {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
    #[error("key file {path} already exists; refusing to overwrite a key")]
    Exists { path: std::path::PathBuf },
    #[error("key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen { path: std::path::PathBuf, mode: u32 },
    #[error("key file {path} is malformed: {reason}")]
    Malformed { path: std::path::PathBuf, reason: &'static str },
    #[error("key file {path} is for the suite `{found}`, but this database uses `{expected}`")]
    WrongSuite { path: std::path::PathBuf, found: String, expected: &'static str },
}

/// A JSON value that does not fit the field's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: expected {expected}, found {found}")]
pub struct JsonError {
    pub path: String,
    pub expected: String,
    pub found: String,
}

/// Why a JSON row cannot become a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowJsonError {
    #[error("unknown collection `{collection}`{}", did_you_mean(.suggestion))]
    UnknownCollection { collection: String, suggestion: Option<String> },
    #[error("a row is a JSON object of fields, found {0}")]
    NotAnObject(String),
    #[error("`{collection}` has no field `{field}`{}", did_you_mean(.suggestion))]
    UnknownField { collection: String, field: String, suggestion: Option<String> },
    #[error(transparent)]
    Value(#[from] JsonError),
    #[error("`{field}`: {reason}")]
    Edit { field: String, reason: String },
}

/// Why bytes are not an export stream (docs/SPEC.md §2.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("the input is empty: an export starts with its header")]
    Empty,
    #[error("the input is not a Cairn export (its first item is not the export header)")]
    NotAnExport,
    #[error("the export has format version {found}; this program reads version {expected}")]
    Version { found: u64, expected: u64 },
    #[error("the export is of database {found}, this replica holds {expected}")]
    WrongDatabase { found: DatabaseId, expected: DatabaseId },
}

/// Ops that cannot form a history for the reference evaluator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    #[error("op {0} has a parent that is not in the history")]
    MissingParent(OpHash),
    #[error("the history has no genesis op")]
    NoGenesis,
}
