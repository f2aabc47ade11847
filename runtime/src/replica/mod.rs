//! A replica of one database: creating, joining and opening it, and what it knows about
//! itself (id, suite, schema, limits, founder). Writing local ops is in `write`, ingesting
//! peers' ops in `ingest`, reading the log in `log`, the state in `query`, and the event
//! stream in `events`.

mod deferred;
mod events;
mod explain;
mod ingest;
mod log;
mod options;
mod peers;
mod presign;
mod query;
mod reconcile;
mod signing;
mod watch;
mod write;

pub use deferred::MAX_DEFERRED;
pub use events::{Consumer, Follow};
pub use explain::{Allowance, ConcurrentOp, Explanation};
pub use ingest::{IngestResult, Ingested};
pub use log::{LoggedOp, StorageUsage, TableUsage};
pub use options::{Options, DEFAULT_CACHE_BYTES};
pub use peers::PeerRecord;
pub use query::{Order, Query, Row};
pub use watch::WatchId;
pub use write::{NewRow, Transaction};

use crate::crypto::CryptoSuite;
use crate::error::{OpenError, StorageError};
use crate::ids::{DatabaseId, Identity, OpHash};
use crate::keys::Keypair;
use crate::op::{Attestations, Limits, Op, Payload, VerifiedOp};
use crate::plan::Plan;
use crate::store::{self, InfoLookup, Storage, WriteTables};
use redb::{ReadableDatabase, ReadableTable};
use schemac::ir;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most changes an op may carry, whatever [`Options::limits`] says: a row number holds a
/// change's index in 16 bits.
pub const MAX_CHANGES: usize = 65_535;

/// One replica of one database.
pub struct Replica {
    database: redb::Database,
    suite: Arc<dyn CryptoSuite>,
    id: DatabaseId,
    schemas: BTreeMap<[u8; 32], ir::Schema>,
    /// Indexes and footprints derived from the schema.
    plan: Plan,
    /// The author of the genesis op, once read.
    founder: std::sync::OnceLock<Identity>,
    limits: Limits,
    /// Called after every durable transaction that stored ops (see [`Replica::watch`]).
    watchers: watch::Watchers,
    /// Local writes stored but not yet signed nor durable (see `deferred`).
    deferred: deferred::Deferred,
    /// The recent entries of the hash and row-id indexes, in memory (see `store::prefix_index`).
    recent: store::Recent,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Replica").field("database", &self.id).field("suite", &self.suite.name()).finish()
    }
}

fn schema_hash(schema: &ir::Schema) -> [u8; 32] {
    schemac::schema_hash(schema).0
}

fn store_schema(tables: &mut WriteTables, schema: &ir::Schema) -> Result<(), StorageError> {
    let json = serde_json::to_vec(schema).map_err(|error| StorageError::Corrupt(error.to_string()))?;
    tables.schemas.insert(&schema_hash(schema), json.as_slice())?;
    Ok(())
}

impl Replica {
    /// Creates a new database in `storage` with the default [`Options`]: writes its genesis op,
    /// signed by the founder, whose identity is `db.founder` in the schema's rules.
    pub fn create(storage: Storage, founder: &Keypair, schema: ir::Schema) -> Result<Replica, OpenError> {
        Options::default().create(storage, founder, schema)
    }

    /// Creates an empty replica of an existing database with the default [`Options`], to be
    /// filled by import or sync. `schema` must be the schema the database was created with.
    pub fn join(storage: Storage, id: DatabaseId, schema: ir::Schema) -> Result<Replica, OpenError> {
        Options::default().join(storage, id, schema)
    }

    /// Opens an existing replica with the default [`Options`]. Reads only its metadata and
    /// schemas: no replay.
    pub fn open(storage: Storage) -> Result<Replica, OpenError> {
        Options::default().open(storage)
    }

    fn create_with(
        options: Options,
        storage: Storage,
        founder: &Keypair,
        schema: ir::Schema,
    ) -> Result<Replica, OpenError> {
        let suite = options.suite.clone();
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&suite.hash(&suite.generate_secret().0)[..16]);
        let genesis = Op {
            database: None,
            schema: schema_hash(&schema),
            author: founder.identity,
            seq: 1,
            parents: Vec::new(),
            depth: 1,
            payload: Payload::Genesis { nonce },
            attestations: Attestations::new(),
            signature: [0; 64],
        }
        .sign(suite.as_ref(), &founder.secret);
        let id = DatabaseId::from(genesis.hash());
        Replica::initialise(options, storage, id, schema, Some((founder, &genesis)))
    }

    /// Writes a new store's metadata and schema, and the genesis op when creating.
    fn initialise(
        Options { suite, limits, cache_bytes }: Options,
        storage: Storage,
        id: DatabaseId,
        schema: ir::Schema,
        genesis: Option<(&Keypair, &VerifiedOp)>,
    ) -> Result<Replica, OpenError> {
        let database = store::open_database(&storage, true, cache_bytes)?;
        if let (Some(existing), _) = store::read_meta(&database)? {
            return Err(OpenError::AlreadyInitialised(existing));
        }
        let recent = store::Recent::default();
        let transaction = database.begin_write().map_err(StorageError::from)?;
        {
            let mut tables = WriteTables::open(&transaction, &recent)?;
            store::write_meta(&mut tables, &id, suite.as_ref())?;
            transaction.open_table(store::CONSUMERS).map_err(StorageError::from)?;
            store_schema(&mut tables, &schema)?;
            if let Some((founder, genesis)) = genesis {
                let author = tables.author_number(&founder.identity)?;
                tables.append(&genesis.hash(), genesis.bytes(), 1, author, 1, &[])?;
            }
            tables.finish()?;
        }
        transaction.commit().map_err(StorageError::from)?;
        Ok(Replica {
            database,
            suite,
            id,
            plan: Plan::new(&schema),
            founder: std::sync::OnceLock::new(),
            schemas: BTreeMap::from([(schema_hash(&schema), schema)]),
            limits,
            watchers: watch::Watchers::default(),
            deferred: deferred::Deferred::new(0),
            recent,
        })
    }

    fn open_with(Options { suite, limits, cache_bytes }: Options, storage: Storage) -> Result<Replica, OpenError> {
        let database = store::open_database(&storage, false, cache_bytes)?;
        let (id, suite_name) = store::read_meta(&database)?;
        let id = id.ok_or(OpenError::Uninitialised)?;
        let format = store::read_format(&database)?;
        if format != store::STORE_FORMAT {
            return Err(OpenError::Format { found: format, expected: store::STORE_FORMAT });
        }
        if suite_name.as_deref() != Some(suite.name()) {
            return Err(OpenError::WrongSuite { found: suite_name.unwrap_or_default(), expected: suite.name() });
        }
        let mut schemas = BTreeMap::new();
        {
            let transaction = database.begin_read().map_err(StorageError::from)?;
            let table = transaction.open_table(store::SCHEMAS).map_err(StorageError::from)?;
            for entry in table.iter().map_err(StorageError::from)? {
                let (hash, json) = entry.map_err(StorageError::from)?;
                let schema: ir::Schema = serde_json::from_slice(json.value()).map_err(|error| OpenError::Schema {
                    hash: crate::ids::to_hex(hash.value()),
                    reason: error.to_string(),
                })?;
                schemas.insert(*hash.value(), schema);
            }
        }
        // Every later call relies on the replica having its schema.
        let Some(schema) = schemas.values().next() else {
            return Err(OpenError::Schema { hash: "(none)".into(), reason: "the store holds no schema".into() });
        };
        let plan = Plan::new(schema);
        let recent = store::Recent::default();
        let last_event = {
            let transaction = database.begin_read().map_err(StorageError::from)?;
            recent.hashes.load(&transaction.open_table(store::HASHES_RECENT).map_err(StorageError::from)?)?;
            recent.row_ids.load(&transaction.open_table(store::ROW_IDS_RECENT).map_err(StorageError::from)?)?;
            store::last_event(&transaction.open_table(store::EVENTS).map_err(StorageError::from)?)?
        };
        Ok(Replica {
            database,
            suite,
            id,
            schemas,
            plan,
            founder: std::sync::OnceLock::new(),
            limits,
            watchers: watch::Watchers::default(),
            deferred: deferred::Deferred::new(last_event),
            recent,
        })
    }

    /// The database: the hash of its genesis op.
    pub fn id(&self) -> DatabaseId {
        self.id
    }

    /// The crypto suite the replica hashes and signs with.
    pub fn suite(&self) -> &dyn CryptoSuite {
        self.suite.as_ref()
    }

    /// The size limits ops are held to, local writes and peers' ops alike.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The database's founder: the author of its genesis op, once the replica holds it.
    pub(crate) fn founder(&self, tables: &impl InfoLookup) -> Result<Option<Identity>, StorageError> {
        if let Some(founder) = self.founder.get() {
            return Ok(Some(*founder));
        }
        let Some(local) = tables.local_of(&OpHash(self.id.0))? else { return Ok(None) };
        let founder = tables.load(local)?.map(|(_, _, op)| op.author);
        if let Some(founder) = founder {
            // The genesis is the op whose hash is the database id, so its author is fixed: it
            // stays right even if the transaction that read it fails.
            let _ = self.founder.set(founder);
        }
        Ok(founder)
    }

    /// The hash of [`Replica::schema`].
    pub fn schema_hash(&self) -> [u8; 32] {
        self.schemas.keys().next().copied().unwrap_or_else(|| unreachable!("a replica has a schema"))
    }

    /// The schema ops are written under (the only one until schema upgrades land).
    pub fn schema(&self) -> &ir::Schema {
        // A replica always has at least the schema it was created or joined with.
        self.schemas.values().next().unwrap_or_else(|| unreachable!("a replica has a schema"))
    }
}
