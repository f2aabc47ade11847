//! How a replica is created, joined or opened: its crypto suite and its size limits. The
//! defaults (ed25519 and blake3, the limits of docs/SPEC.md §2.4) are what peers expect.

use super::{Replica, MAX_CHANGES};
use crate::crypto::{CryptoSuite, Ed25519Blake3};
use crate::error::OpenError;
use crate::ids::DatabaseId;
use crate::keys::Keypair;
use crate::op::Limits;
use crate::store::Storage;
use schemac::ir;
use std::sync::Arc;

/// Settings for [`Options::create`], [`Options::join`] and [`Options::open`];
/// [`Replica::create`], [`Replica::join`] and [`Replica::open`] use the defaults.
///
/// ```
/// # fn main() -> Result<(), cairn::Error> {
/// use cairn::{Limits, Options, Storage};
/// let schema = cairn::load_schema("../schemas/chat.schema")?;
/// let founder = cairn::Keypair::generate(&cairn::Ed25519Blake3);
/// let small = Limits { max_changes: 100, ..Limits::default() };
/// let replica = Options::default().limits(small).create(Storage::Memory, &founder, schema)?;
/// assert_eq!(replica.limits().max_changes, 100);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Options {
    pub(super) suite: Arc<dyn CryptoSuite>,
    pub(super) limits: Limits,
    pub(super) cache_bytes: usize,
}

/// The store's default page cache: enough for the hot end of the log and the indexes, and a
/// node's memory stays flat however large its store grows.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

impl Default for Options {
    fn default() -> Options {
        Options { suite: Arc::new(Ed25519Blake3), limits: Limits::default(), cache_bytes: DEFAULT_CACHE_BYTES }
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Options")
            .field("suite", &self.suite.name())
            .field("limits", &self.limits)
            .field("cache_bytes", &self.cache_bytes)
            .finish()
    }
}

impl Options {
    /// Another crypto suite than ed25519 and blake3. A store remembers its suite and refuses to
    /// open under another.
    pub fn suite(mut self, suite: Arc<dyn CryptoSuite>) -> Options {
        self.suite = suite;
        self
    }

    /// Other size limits (tests, or nodes with other resources). Peers must agree on the size
    /// limits, or they will refuse each other's ops. At most [`MAX_CHANGES`] changes per op,
    /// whatever `limits` says.
    pub fn limits(mut self, limits: Limits) -> Options {
        self.limits = limits;
        self.limits.max_changes = self.limits.max_changes.min(MAX_CHANGES);
        self
    }

    /// The most memory the store's page cache may take (default [`DEFAULT_CACHE_BYTES`]). A
    /// larger cache helps a replica whose working set (the rows and indexes its writes touch)
    /// is larger; the op log itself is read and written at its end.
    pub fn cache_bytes(mut self, bytes: usize) -> Options {
        self.cache_bytes = bytes;
        self
    }

    /// Creates a new database: writes its genesis op, signed by the founder.
    pub fn create(self, storage: Storage, founder: &Keypair, schema: ir::Schema) -> Result<Replica, OpenError> {
        Replica::create_with(self, storage, founder, schema)
    }

    /// Creates an empty replica of an existing database, to be filled by import or sync.
    pub fn join(self, storage: Storage, id: DatabaseId, schema: ir::Schema) -> Result<Replica, OpenError> {
        Replica::initialise(self, storage, id, schema, None)
    }

    /// Opens an existing replica. Reads only its metadata and schemas: no replay.
    pub fn open(self, storage: Storage) -> Result<Replica, OpenError> {
        Replica::open_with(self, storage)
    }
}
