//! Bytes that are not what they should be: CBOR, ops, signatures, export streams.

use crate::ids::{DatabaseId, Identity};

/// Why bytes are not an acceptable CBOR item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Malformed CBOR at byte `position`: `reason`.
    #[error("malformed CBOR at byte {position}: {reason}")]
    Malformed {
        /// The byte offset in the input.
        position: usize,
        /// Why, in words.
        reason: String,
    },
    /// Unsupported CBOR item at byte `position`: `kind`.
    #[error("unsupported CBOR item at byte {position}: {kind}")]
    Unsupported {
        /// The byte offset in the input.
        position: usize,
        /// What the item is.
        kind: String,
    },
    /// CBOR nested more than `limit` levels deep.
    #[error("CBOR nested more than {limit} levels deep")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// More than `limit` CBOR items in one op.
    #[error("more than {limit} CBOR items in one op")]
    TooManyItems {
        /// The limit.
        limit: usize,
    },
    /// Duplicate map key `key`.
    #[error("duplicate map key `{key}`")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// `extra` bytes after the end of the item.
    #[error("{extra} bytes after the end of the item")]
    TrailingBytes {
        /// How many bytes are left over.
        extra: usize,
    },
    /// Not the canonical encoding (the canonical form differs from byte `position`).
    #[error("not the canonical encoding (the canonical form differs from byte {position})")]
    NotCanonical {
        /// The byte offset in the input.
        position: usize,
    },
}

/// Why bytes are not a well-formed op.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpDecodeError {
    /// The bytes are not canonical CBOR.
    #[error(transparent)]
    Cbor(#[from] DecodeError),
    /// The op has a format version this code does not read.
    #[error("unsupported op format version {0}")]
    Version(u64),
    /// An op is an array of 10 items; this one has another number.
    #[error("an op is an array of 10 items, this one has {0}")]
    Arity(usize),
    /// Malformed `part`: `reason`.
    #[error("malformed {part}: {reason}")]
    Structure {
        /// The part of the op: `parents`, `payload`, `change`, `edit`, `attestation`, …
        part: &'static str,
        /// Why, in words.
        reason: String,
    },
}

/// A signature that failed, or a hash that did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Bad signature by `author`.
    #[error("bad signature by {author}")]
    BadSignature {
        /// The op's author.
        author: Identity,
    },
}

/// Why bytes are not an export stream (docs/SPEC.md §2.6), or an export cannot be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The input is empty: an export starts with its header.
    #[error("the input is empty: an export starts with its header")]
    Empty,
    /// The input is not a Cairn export (its first item is not the export header).
    #[error("the input is not a Cairn export (its first item is not the export header)")]
    NotAnExport,
    /// The export has format version `found`; this program reads version `expected`.
    #[error("the export has format version {found}; this program reads version {expected}")]
    Version {
        /// What the input holds.
        found: u64,
        /// What this replica expected.
        expected: u64,
    },
    /// The export is of database `found`, this replica holds `expected`.
    #[error("the export is of database {found}, this replica holds {expected}")]
    WrongDatabase {
        /// What the input holds.
        found: DatabaseId,
        /// What this replica expected.
        expected: DatabaseId,
    },
    /// `--since` names an op this replica does not hold.
    #[error("this replica does not hold op {op}; export without --since to send everything")]
    UnknownSince {
        /// The op.
        op: crate::ids::OpHash,
    },
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] super::StorageError),
}
