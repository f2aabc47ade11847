//! The Cairn runtime: a replica of one database, kept as a signed Merkle-DAG op log in redb,
//! with the rows its effective ops make, indexes for the schema's rules, and an event stream.
//!
//! # The model
//!
//! A database is described by a `.schema` file: collections of typed fields, and rules that say
//! who may insert, update or delete (`allow insert if exists Membership m where …`). Every write
//! is an **op**: a batch of changes, signed by its author's key, naming the ops it was written
//! on top of. A replica holds a set of ops, checks each one against the schema and the rules
//! before it is stored, and folds them into rows.
//!
//! Replicas exchange ops in any order and end with the same rows. When two ops are concurrent
//! (neither saw the other) and one defeats the other's rule — a revocation concurrent with a
//! post, say — the defeated op is **rolled back** on every replica alike: it stays in the log
//! (it is signed history) but has no effect. A later op can reinstate it. The event stream
//! reports every such change, and [`Replica::explain`] says why an op is or is not effective.
//! docs/semantics.md in the repository defines all of it; docs/SPEC.md gives the byte formats.
//!
//! # A tour
//!
//! Two replicas of a chat database: the founder grants a writer a membership; the writer posts
//! on its own replica while the founder, concurrently, demotes it to reader. Once each has the
//! other's ops, both agree that the post is rolled back, and say why.
//!
//! ```
//! # fn main() -> Result<(), cairn::Error> {
//! # std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).expect("the repository");
//! use cairn::{Edit, Ed25519Blake3, EventKind, Keypair, Replica, Storage, Value};
//!
//! let schema = cairn::load_schema("schemas/chat.schema")?;
//! let founder = Keypair::generate(&Ed25519Blake3);
//! let writer = Keypair::generate(&Ed25519Blake3);
//!
//! // The founder's replica (Storage::File(path) keeps it on disk). A channel and a membership,
//! // written as one op.
//! let ours = Replica::create(Storage::Memory, &founder, schema.clone())?;
//! let (_, rows) = ours.transaction(&founder, |tx| {
//!     tx.insert("Channel", [("name", Value::from("general")), ("owner", founder.identity.into())]);
//! })?;
//! let channel = rows[0];
//! let (_, rows) = ours.transaction(&founder, |tx| {
//!     tx.insert("Membership", [
//!         ("channel", channel.into()),
//!         ("member", writer.identity.into()),
//!         ("role", Value::from("writer")),
//!     ]);
//! })?;
//! let membership = rows[0];
//!
//! // The writer's replica joins and takes every op the founder's has.
//! let theirs = Replica::join(Storage::Memory, ours.id(), schema)?;
//! let send = |from: &Replica, to: &Replica| -> Result<(), cairn::Error> {
//!     for result in to.ingest_batch(&from.export(&[])?.iter().map(Vec::as_slice).collect::<Vec<_>>()) {
//!         result?;
//!     }
//!     Ok(())
//! };
//! send(&ours, &theirs)?;
//!
//! // Concurrently: the writer posts, the founder demotes the writer.
//! let (post, _) = theirs.transaction(&writer, |tx| {
//!     tx.insert("Message", [("channel", channel.into()), ("body", Value::from("hello"))]);
//! })?;
//! let (demotion, _) = ours.transaction(&founder, |tx| {
//!     tx.update("Membership", membership, vec![Edit::set("role", "reader")]);
//! })?;
//! // A write the rules deny is refused before it is signed.
//! let refused = ours.transaction(&writer, |tx| {
//!     tx.insert("Channel", [("name", Value::from("mine")), ("owner", founder.identity.into())]);
//! });
//! assert!(matches!(refused, Err(cairn::WriteError::Denied(_))));
//!
//! // Once each has the other's ops, both replicas agree: the post is rolled back.
//! send(&ours, &theirs)?;
//! send(&theirs, &ours)?;
//! assert_eq!(ours.digest()?, theirs.digest()?);
//! assert_eq!(ours.is_effective(&post.hash())?, Some(false));
//! assert!(ours.query("Message").filter("channel", channel).rows()?.is_empty());
//! let member = ours.get("Membership", &membership)?.expect("visible");
//! assert_eq!(member["role"].as_str(), Some("reader"));
//!
//! // Why: the demotion defeated the post's rule.
//! let explanation = ours.explain(&post.hash())?.expect("held");
//! assert_eq!(explanation.defeated_by[0].0, demotion.hash());
//! println!("{explanation}");
//!
//! // The event stream reports the rollback; a named consumer resumes where it committed.
//! let mut consumer = theirs.consumer("ui")?;
//! let events = consumer.poll(100)?;
//! assert!(events.iter().any(|event| event.kind == EventKind::OpRolledBack && event.op == post.hash()));
//! consumer.commit(events.last().map_or(0, |event| event.seq))?;
//! # Ok(())
//! # }
//! ```
//!
//! # Where things are
//!
//! - [`Replica`]: [`create`](Replica::create) (writes the genesis op), [`join`](Replica::join),
//!   [`open`](Replica::open), with [`Options`] for another crypto suite, other limits or another cache size.
//! - Writes: [`Replica::transaction`] (a [`Transaction`] of inserts, updates and deletes as one
//!   op), [`Replica::write`] (changes built by hand), [`Replica::authorize`] (a dry run).
//! - Ops from peers: [`Replica::ingest`], [`Replica::ingest_batch`], [`Replica::ingest_stream`],
//!   each through every check of docs/SPEC.md §2.4; [`Replica::export`] gives a peer the ops it
//!   lacks, and [`export`] frames them as a file.
//! - Reads: [`Replica::get`], [`Replica::query`] (filters, an [`Order`], a limit),
//!   [`Replica::digest`], [`Replica::explain`], [`Replica::log`].
//! - Events: [`Replica::events_after`], [`Replica::follow`], [`Replica::consumer`].
//! - Values: [`Value`] documents how each schema type is held and converts from Rust values;
//!   [`json`] reads and prints them as the `cairn` command line does.
//! - Errors: one enum per kind of operation, in [`error`]; [`Error`] converts from all of them.

#![warn(missing_docs)]

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
#[cfg(feature = "net")]
pub mod net;
pub mod op;
mod plan;
mod replica;
mod store;
pub mod sync;
pub mod typed;
mod value;

pub use cairn_macros::{schema, Projection};
pub use cbor::Value;
pub use crypto::{CryptoSuite, Ed25519Blake3, SecretKey, Signature, SignedMessage};
pub use error::{
    AttestationError, ChainError, ChannelError, Denial, DenialReason, Error, ExportError, FailedRule, IngestError,
    KeyFileError, LimitError, OpenError, PayloadError, QueryError, RowDecodeError, SchemaError, StorageError,
    SyncError, WriteError,
};
pub use ids::{DatabaseId, Identity, OpHash, ParseIdError, RowId, StateDigest};
pub use keys::{load_key, save_key, Keypair};
pub use model::check::evaluate_check;
pub use model::event::{Cause, Event, EventKind};
pub use model::json;
#[doc(hidden)]
pub use model::reference;
pub use op::{Attestation, Attestations, Change, Edit, Limits, Op, Payload, VerifiedOp, Witness, Witnesses};
pub use replica::{
    Allowance, ConcurrentOp, Consumer, Explanation, Follow, IngestResult, Ingested, LoggedOp, NewRow, Options, Order,
    PeerRecord, Query, Replica, Row, StorageUsage, TableUsage, Transaction, WatchId, DEFAULT_CACHE_BYTES, MAX_CHANGES,
    MAX_DEFERRED,
};
pub use schemac::ir::Schema;
pub use store::{Bound, Storage};
pub use typed::{FieldValue, Projection, Timestamp};

/// Re-exported for generated code, which derives serde's traits through it.
#[doc(hidden)]
pub use serde as __serde;

/// Reads and checks a `.schema` file, as `schemac check` does, and returns its IR, ready for
/// [`Replica::create`] or [`Replica::join`]. On errors, the error's message holds the
/// diagnostics, rendered as `schemac check` prints them.
pub fn load_schema(path: impl AsRef<std::path::Path>) -> Result<Schema, SchemaError> {
    schemac::files::load(path.as_ref())
}
