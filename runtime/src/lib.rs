//! The Cairn runtime: a replica of one database, kept as a signed Merkle-DAG op log in redb,
//! with the rows the effective ops make, indexes for the schema's rules and an event stream.
//!
//! A [`Replica`] is created from a schema's IR (compiled by `schemac`) with [`Replica::create`],
//! which writes the database's genesis op, or [`Replica::join`] for an empty replica of an
//! existing database; [`Replica::open`] opens one again. Local writes ([`Replica::write`],
//! [`Replica::transaction`]) are checked against the schema and its rules before they are signed;
//! ops from peers go through [`Replica::ingest`] and every check of docs/SPEC.md §2.4. Reads:
//! [`Replica::get`], [`Replica::rows`], [`Replica::digest`], [`Replica::explain`], and the event
//! stream ([`Replica::events_after`], [`Replica::consumer`]).
//!
//! Errors are one enum per kind of operation, in [`error`]; [`Error`] converts from all of
//! them. The op format is [`op`], the export stream's framing [`export`], field values as JSON
//! [`json`].

mod cbor;
mod crypto;
mod dag;
mod engine;
pub mod error;
pub mod export;
mod ids;
mod keys;
#[cfg(test)]
mod layering;
mod model;
pub mod op;
mod plan;
mod replica;
mod store;
mod value;

pub use cbor::Value;
pub use crypto::{CryptoSuite, Ed25519Blake3, SecretKey, Signature, SignedMessage};
pub use error::{
    AttestationError, SchemaError, ChainError, Denial, DenialReason, Error, ExportError, FailedRule, IngestError, KeyFileError,
    LimitError, OpenError, PayloadError, QueryError, StorageError, WriteError,
};
pub use ids::{DatabaseId, Identity, OpHash, ParseIdError, RowId, StateDigest};
pub use keys::{load_key, save_key, Keypair};
pub use model::event::{Cause, Event, EventKind};
pub use model::json;
#[doc(hidden)]
pub use model::reference;
pub use op::{Attestation, Change, Edit, Limits, Op, Payload, VerifiedOp, Witness};
pub use replica::{
    Allowance, Options, Order, Query, Row, Consumer, Explanation, Follow, IngestResult, Ingested, LoggedOp, Replica, StorageUsage, Transaction, MAX_CHANGES,
};
pub use store::Storage;
pub use schemac::ir::Schema;

/// Reads and checks a `.schema` file, as `schemac check` does, and returns its IR, ready for
/// [`Replica::create`] or [`Replica::join`]. On errors, the error's message holds the
/// diagnostics, rendered as `schemac check` prints them.
pub fn load_schema(path: impl AsRef<std::path::Path>) -> Result<Schema, SchemaError> {
    schemac::files::load(path.as_ref())
}
