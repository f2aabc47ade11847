//! The Cairn runtime.
//!
//! This crate holds the op log: typed ids ([`ids`]), the crypto seam ([`crypto`]), keys
//! ([`keys`]), the canonical CBOR ops are made of ([`cbor`]), ops themselves ([`op`]), payload
//! checks against a schema's IR ([`validate`], [`eval`]), the redb store ([`store`]) and the
//! [`Replica`] that ties them together. Materialized state, rules, events and sync build on it.

pub mod cbor;
pub mod crypto;
pub(crate) mod engine;
pub mod eval;
pub mod ids;
pub mod json;
pub mod keys;
pub mod op;
pub mod reference;
pub mod replica;
pub mod rules;
pub mod state;
pub mod store;
pub mod validate;

pub use crypto::{CryptoSuite, Ed25519Blake3};
pub use engine::{Event, EventKind};
pub use ids::{DatabaseId, Identity, OpHash, RowId, StateDigest};
pub use keys::Keypair;
pub use op::{Change, Edit, Op, VerifiedOp};
pub use replica::{IngestError, Ingested, Replica, Transaction, WriteError};
pub use store::Storage;
