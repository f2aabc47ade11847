//! The Cairn runtime.
//!
//! (The crate documentation is rewritten with the public API; see the `api` commit.)

mod cbor;
mod crypto;
mod dag;
mod engine;
pub mod error;
pub mod export;
mod ids;
mod keys;
mod model;
pub mod op;
mod plan;
mod replica;
mod store;

pub use cbor::Value;
pub use crypto::{CryptoSuite, Ed25519Blake3, SecretKey, Signature, SignedMessage};
pub use error::{
    AttestationError, ChainError, Denial, DenialReason, Error, ExportError, FailedRule, IngestError, KeyFileError,
    LimitError, OpenError, PayloadError, StorageError, WriteError,
};
pub use ids::{DatabaseId, Identity, OpHash, ParseIdError, RowId, StateDigest};
pub use keys::{load_key, save_key, Keypair};
pub use model::event::{Event, EventKind};
pub use model::json;
#[doc(hidden)]
pub use model::reference;
pub use op::{Attestation, Change, Edit, Limits, Op, Payload, VerifiedOp, Witness};
pub use replica::{
    Consumer, Explanation, Follow, IngestResult, Ingested, LoggedOp, Replica, StorageUsage, Transaction, MAX_CHANGES,
};
pub use store::Storage;
