//! What an op from a peer can meet, check by check (docs/SPEC.md §2.4).

use super::write::{Denial, PayloadError};
use super::{OpDecodeError, StorageError};
use crate::ids::{DatabaseId, Identity, OpHash, RowId};

/// Why an op from a peer was not accepted. Every variant that has decoded far enough names
/// the op.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Op of `size` bytes is over the limit of `limit`.
    #[error("op of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// The size, in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a well-formed op.
    #[error("op does not decode: {0}")]
    Decode(#[from] OpDecodeError),
    /// Op `op`: bad signature by `author`.
    #[error("op {op}: bad signature by {author}")]
    BadSignature {
        /// The op, by hash.
        op: OpHash,
        /// The op's author.
        author: Identity,
    },
    /// Op `op`: belongs to database `found`, not `expected`.
    #[error("op {op}: belongs to database {found}, not {expected}")]
    WrongDatabase {
        /// The op, by hash.
        op: OpHash,
        /// What this replica expected.
        expected: DatabaseId,
        /// What the input holds.
        found: String,
    },
    /// Op `op`: `reason`.
    #[error("op {op}: {reason}")]
    Genesis {
        /// The op, by hash.
        op: OpHash,
        /// Why, in words.
        reason: &'static str,
    },
    /// Op `op`: `limit`.
    #[error("op {op}: {limit}")]
    OverLimit {
        /// The op, by hash.
        op: OpHash,
        /// The limit.
        limit: LimitError,
    },
    /// Op `op`: broken author chain: `problem`.
    #[error("op {op}: broken author chain: {problem}")]
    Sequence {
        /// The op, by hash.
        op: OpHash,
        /// What is wrong.
        problem: ChainError,
    },
    /// Op `op`: depth is `found`, but its parents make it `expected`.
    #[error("op {op}: depth is {found}, but its parents make it {expected}")]
    Depth {
        /// The op, by hash.
        op: OpHash,
        /// What this replica expected.
        expected: u64,
        /// What the input holds.
        found: u64,
    },
    /// Op `op`: unknown schema `schema`.
    #[error("op {op}: unknown schema {schema}")]
    UnknownSchema {
        /// The op, by hash.
        op: OpHash,
        /// The schema's hash.
        schema: String,
    },
    /// Op `op`: `error`.
    #[error("op {op}: {error}")]
    Payload {
        /// The op, by hash.
        op: OpHash,
        /// The underlying error.
        error: Box<PayloadError>,
    },
    /// Op `op` by `author`: `denial`.
    #[error("op {op} by {author}: {denial}")]
    Denied {
        /// The op, by hash.
        op: OpHash,
        /// The op's author.
        author: Identity,
        /// The change no rule allows, and why.
        denial: Box<Denial>,
    },
    /// Op `op`: false attestation: `error`.
    #[error("op {op}: false attestation: {error}")]
    Attestation {
        /// The op, by hash.
        op: OpHash,
        /// The underlying error.
        error: AttestationError,
    },
    /// Op `op`: rejected before: `reason`.
    #[error("op {op}: rejected before: {reason}")]
    PreviouslyRejected {
        /// The op, by hash.
        op: OpHash,
        /// Why, in words.
        reason: String,
    },
    /// Op `op`: its parent `parent` was rejected.
    #[error("op {op}: its parent {parent} was rejected")]
    RejectedParent {
        /// The op, by hash.
        op: OpHash,
        /// The parent, by hash.
        parent: OpHash,
    },
    /// The storage layer failed.
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
    /// `count` parents, over the limit of `limit`.
    #[error("{count} parents, over the limit of {limit}")]
    Parents {
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `count` changes, over the limit of `limit`.
    #[error("{count} changes, over the limit of {limit}")]
    Changes {
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A string or byte string over the limit of `limit` bytes.
    #[error("a string or byte string over the limit of {limit} bytes")]
    Value {
        /// The limit.
        limit: usize,
    },
    /// A witness collection name over the limit of `limit` bytes.
    #[error("a witness collection name over the limit of {limit} bytes")]
    WitnessCollection {
        /// The limit.
        limit: usize,
    },
}

/// How an op breaks its author's chain of sequence numbers (docs/SPEC.md §2.4, step 6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// Only a genesis op has no parents.
    #[error("only a genesis op has no parents")]
    NoParents,
    /// Sequence numbers start at 1.
    #[error("sequence numbers start at 1")]
    ZeroSequence,
    /// The author's first op has one of the author's ops as a parent.
    #[error("the author's first op has one of the author's ops as a parent")]
    FirstWithOwnParent,
    /// The author's op `previous` is not among the parents.
    #[error("the author's op {previous} is not among the parents")]
    MissingPrevious {
        /// The sequence number the chain needs among the parents.
        previous: u64,
    },
    /// A parent is the author's op `parent`, not older than this one.
    #[error("a parent is the author's op {parent}, not older than this one")]
    NewerParent {
        /// The parent, by hash.
        parent: u64,
    },
}

/// A false attestation: what the op claims its author saw, and the op's past does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// An attestation names change `change`, which the op does not have.
    #[error("an attestation names change {change}, which the op does not have")]
    NoSuchChange {
        /// The change's index in the op.
        change: u32,
    },
    /// Change `change` names rule #`rule`, which does not cover it.
    #[error("change {change} names rule #{rule}, which does not cover it")]
    RuleDoesNotCover {
        /// The change's index in the op.
        change: u32,
        /// The rule's index among its collection's rules.
        rule: u32,
    },
    /// Witness `row` of `collection` at version `version` is not in the op's past.
    #[error("witness {row} of {collection} at version {version} is not in the op's past")]
    WitnessNotInPast {
        /// The collection, as it was named.
        collection: String,
        /// The row.
        row: RowId,
        /// The op that last wrote the row, by hash.
        version: OpHash,
    },
}
