//! A replica of one database: creating, joining and opening it, writing local ops, and
//! reading the log. Ingesting ops from peers is in the `ingest` submodule.

mod ingest;
mod query;

pub use ingest::{IngestError, IngestResult, Ingested};
pub use query::{Consumer, Explanation, Follow};

use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::engine::{Engine, Unstored};
use crate::ids::{DatabaseId, Identity, OpHash, RowId};
use crate::keys::Keypair;
use crate::op::{self, Change, Limits, Op, Payload, VerifiedOp};
use crate::store::{self, InfoLookup, OpInfo, ReadTables, Storage, StorageError, WriteTables};
use crate::validate::{self, PayloadError};
use redb::ReadableTable;
use schemac::ir;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why a local write was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("denied: {0}")]
    Denied(Box<crate::rules::Denial>),
    #[error("this replica has not received its database's genesis op yet")]
    NoGenesis,
    #[error("the op would be {size} bytes, over the limit of {limit} that peers accept; split the batch")]
    TooLarge { size: usize, limit: usize },
    #[error(transparent)]
    Storage(#[from] StorageError),
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
    #[error("the store has layout version {found}; this program reads version {expected}")]
    Format { found: u64, expected: u64 },
}

/// The most changes an op may carry (see [`Replica::with_limits`]).
pub const MAX_CHANGES: usize = 65_535;

/// One replica of one database.
pub struct Replica {
    database: redb::Database,
    suite: Arc<dyn CryptoSuite>,
    id: DatabaseId,
    schemas: BTreeMap<[u8; 32], ir::Schema>,
    /// Indexes and footprints derived from the schema.
    plan: crate::engine::Plan,
    /// The author of the genesis op, once read.
    founder: std::sync::OnceLock<Identity>,
    limits: Limits,
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
    /// Creates a new database: writes its genesis op, signed by the founder.
    pub fn create(
        storage: Storage,
        suite: Arc<dyn CryptoSuite>,
        founder: &Keypair,
        schema: ir::Schema,
    ) -> Result<Replica, OpenError> {
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
            attestations: Vec::new(),
            signature: [0; 64],
        }
        .sign(suite.as_ref(), &founder.secret);
        let id = DatabaseId::from(genesis.hash());
        Replica::initialise(storage, suite, id, schema, Some((founder, &genesis)))
    }

    /// Creates an empty replica of an existing database, to be filled by import or sync.
    pub fn join(
        storage: Storage,
        suite: Arc<dyn CryptoSuite>,
        id: DatabaseId,
        schema: ir::Schema,
    ) -> Result<Replica, OpenError> {
        Replica::initialise(storage, suite, id, schema, None)
    }

    /// Writes a new store's metadata and schema, and the genesis op when creating.
    fn initialise(
        storage: Storage,
        suite: Arc<dyn CryptoSuite>,
        id: DatabaseId,
        schema: ir::Schema,
        genesis: Option<(&Keypair, &VerifiedOp)>,
    ) -> Result<Replica, OpenError> {
        let database = store::open_database(&storage, true)?;
        if let (Some(existing), _) = store::read_meta(&database)? {
            return Err(OpenError::AlreadyInitialised(existing));
        }
        let transaction = database.begin_write().map_err(StorageError::from)?;
        {
            let mut tables = WriteTables::open(&transaction)?;
            write_meta(&mut tables, &id, suite.as_ref())?;
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
            plan: crate::engine::Plan::new(&schema),
            founder: std::sync::OnceLock::new(),
            schemas: BTreeMap::from([(schema_hash(&schema), schema)]),
            limits: Limits::default(),
        })
    }

    /// Opens an existing replica. Reads only its metadata and schemas: no replay.
    pub fn open(storage: Storage, suite: Arc<dyn CryptoSuite>) -> Result<Replica, OpenError> {
        let database = store::open_database(&storage, false)?;
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
        let plan = crate::engine::Plan::new(schema);
        Ok(Replica {
            database,
            suite,
            id,
            schemas,
            plan,
            founder: std::sync::OnceLock::new(),
            limits: Limits::default(),
        })
    }

    pub fn id(&self) -> DatabaseId {
        self.id
    }

    pub fn suite(&self) -> &dyn CryptoSuite {
        self.suite.as_ref()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The same replica with other limits (tests, or nodes with other resources). Peers must
    /// agree on the size limits, or they will refuse each other's ops. At most [`MAX_CHANGES`]
    /// changes per op, whatever `limits` says.
    pub fn with_limits(mut self, limits: Limits) -> Replica {
        self.limits = limits;
        // Row numbers hold a change's index in 16 bits.
        self.limits.max_changes = self.limits.max_changes.min(MAX_CHANGES);
        self
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

    /// Writes a batch of changes as one op signed by `author`, after checking it against the
    /// schema. Its parents are this replica's heads (which include the author's previous op).
    pub fn write(&self, author: &Keypair, changes: Vec<Change>) -> Result<VerifiedOp, WriteError> {
        let mut ops = self.write_ops(author, vec![changes])?;
        ops.pop().ok_or_else(|| WriteError::Storage(StorageError::Corrupt("no op written".into())))
    }

    /// Writes several ops in one transaction, each on top of the previous one: all are stored
    /// or none is.
    pub fn write_ops(&self, author: &Keypair, batches: Vec<Vec<Change>>) -> Result<Vec<VerifiedOp>, WriteError> {
        let schema = self.schema();
        for changes in &batches {
            validate::validate_changes(schema, changes, &self.limits)?;
        }
        let transaction = self.database.begin_write().map_err(StorageError::from)?;
        let mut written = Vec::with_capacity(batches.len());
        {
            let mut tables = WriteTables::open(&transaction)?;
            if tables.local_of(&OpHash(self.id.0))?.is_none() {
                return Err(WriteError::NoGenesis);
            }
            let author_number = tables.author_number(&author.identity)?;
            for changes in batches {
                written.push(self.append_local(&mut tables, author, author_number, changes)?);
            }
            tables.finish()?;
        }
        transaction.commit().map_err(StorageError::from)?;
        Ok(written)
    }

    /// The op an author would write now, unsigned: its parents are the author's previous op
    /// and the deepest heads (peers accept at most `max_parents`; the other heads join a later
    /// op), its depth and sequence number follow from them.
    fn draft(
        &self,
        tables: &WriteTables,
        author: &Identity,
        author_number: Option<u32>,
        changes: Vec<Change>,
    ) -> Result<(Op, Vec<OpInfo>), WriteError> {
        let previous = match author_number {
            Some(number) => tables.latest_by(number)?,
            None => None,
        };
        let mut heads: Vec<OpInfo> = Vec::new();
        for entry in tables.heads.iter().map_err(StorageError::from)? {
            let local = entry.map_err(StorageError::from)?.0.value();
            if Some(local) != previous.map(|(_, previous)| previous) {
                heads.push(
                    tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("head #{local} has no info")))?,
                );
            }
        }
        heads.sort_by(|left, right| right.depth.cmp(&left.depth).then(left.hash.cmp(&right.hash)));
        let mut chosen = Vec::with_capacity(heads.len() + 1);
        if let Some((_, local)) = previous {
            chosen.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} has no info")))?);
        }
        let room = self.limits.max_parents.saturating_sub(chosen.len());
        chosen.extend(heads.into_iter().take(room));
        let depth = chosen.iter().map(|info| info.depth).max().unwrap_or(0);
        let mut parents: Vec<OpHash> = chosen.iter().map(|info| info.hash).collect();
        parents.sort();
        let op = Op {
            database: Some(self.id),
            schema: self.schema_hash(),
            author: *author,
            seq: previous.map_or(1, |(seq, _)| seq + 1),
            parents,
            depth: depth + 1,
            payload: Payload::Changes(changes),
            attestations: Vec::new(),
            signature: [0; 64],
        };
        Ok((op, chosen))
    }

    /// Judges a drafted op in its causal past under `hash`: the attestations it would carry, or
    /// why it is denied.
    fn judge_draft(
        &self,
        tables: &WriteTables,
        engine: &Engine,
        op: &Op,
        hash: OpHash,
        parents: &[OpInfo],
    ) -> Result<Vec<op::Attestation>, WriteError> {
        let Payload::Changes(changes) = &op.payload else { return Ok(Vec::new()) };
        let unstored = Unstored { hash, author: op.author, depth: op.depth, changes, parents };
        engine.admit(tables, &unstored)?.map_err(|denial| WriteError::Denied(Box::new(denial)))
    }

    fn append_local(
        &self,
        tables: &mut WriteTables,
        author: &Keypair,
        author_number: u32,
        changes: Vec<Change>,
    ) -> Result<VerifiedOp, WriteError> {
        let (unsigned, parents) = self.draft(tables, &author.identity, Some(author_number), changes)?;
        let founder = self.founder(tables)?.ok_or(WriteError::NoGenesis)?;
        let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
        // The attestations are signed with the op, so they are found with a provisional hash;
        // only the ids of rows the op inserts depend on the hash, and they are not witnesses.
        let provisional = unsigned.hash(self.suite.as_ref());
        let mut attestations = self.judge_draft(tables, &engine, &unsigned, provisional, &parents)?;
        for attestation in &mut attestations {
            attestation.witnesses.retain(|witness| witness.version != provisional);
        }
        let op = Op { attestations, ..unsigned }.sign(self.suite.as_ref(), &author.secret);
        if op.bytes().len() > self.limits.max_op_bytes {
            return Err(WriteError::TooLarge { size: op.bytes().len(), limit: self.limits.max_op_bytes });
        }
        let inserts = matches!(&op.op().payload, Payload::Changes(changes)
            if changes.iter().any(|change| matches!(change, Change::Insert { .. })));
        if inserts {
            // Rules may compare the new rows' ids: judge again with the final hash.
            self.judge_draft(tables, &engine, op.op(), op.hash(), &parents)?;
        }
        let concurrent = engine.concurrent_with(tables, &parents)?;
        let parent_locals: Vec<u64> = parents.iter().map(|info| info.local).collect();
        let local = tables.append(&op.hash(), op.bytes(), op.op().depth, author_number, op.op().seq, &parent_locals)?;
        engine.settle(tables, local, true, &concurrent)?;
        Ok(op)
    }

    /// Whether `author` may write these changes now, without writing them: for each change,
    /// the rule that allows it and the rows that witness it, or why it is denied (a typed
    /// error naming the rule and its failing clause). A write judges exactly so. Judging
    /// reads the engine's write-side tables, so this takes (and abandons) a write transaction.
    pub fn authorize(&self, author: &Identity, changes: Vec<Change>) -> Result<Vec<op::Attestation>, WriteError> {
        validate::validate_changes(self.schema(), &changes, &self.limits)?;
        let transaction = self.database.begin_write().map_err(StorageError::from)?;
        let verdict = {
            let tables = WriteTables::open(&transaction)?;
            let author_number = tables.known_author(author)?;
            let (draft, parents) = self.draft(&tables, author, author_number, changes)?;
            let founder = self.founder(&tables)?.ok_or(WriteError::NoGenesis)?;
            let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
            let hash = draft.hash(self.suite.as_ref());
            self.judge_draft(&tables, &engine, &draft, hash, &parents)
        };
        transaction.abort().map_err(StorageError::from)?;
        verdict
    }

    /// Writes the changes a closure adds to a [`Transaction`] as one op: all take effect or
    /// none. Returns the op and, for each change in order, the row it touches (the new row's id
    /// for an insert).
    pub fn transaction(
        &self,
        author: &Keypair,
        build: impl FnOnce(&mut Transaction),
    ) -> Result<(VerifiedOp, Vec<RowId>), WriteError> {
        let mut transaction = Transaction { changes: Vec::new() };
        build(&mut transaction);
        let op = self.write(author, transaction.changes)?;
        let rows = self.touched_rows(&op);
        Ok((op, rows))
    }

    /// For each change of an op, the row it inserts, updates or deletes.
    pub fn touched_rows(&self, op: &VerifiedOp) -> Vec<RowId> {
        let Payload::Changes(changes) = &op.op().payload else { return Vec::new() };
        changes
            .iter()
            .enumerate()
            .map(|(index, change)| match change {
                Change::Insert { .. } => self.row_id(&op.hash(), index as u32),
                Change::Update { row, .. } | Change::Delete { row, .. } => *row,
            })
            .collect()
    }

    /// The id of the row that the `index`-th change of `op` inserted.
    pub fn row_id(&self, op: &OpHash, index: u32) -> RowId {
        op::row_id(self.suite.as_ref(), op, index)
    }

    /// Every op, parents first (the order this replica stored them in), as verified ops.
    pub fn log(&self) -> Result<Vec<LoggedOp>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let mut log = Vec::new();
        tables.for_each_record(|record| {
            let op = Op::decode(record.bytes).map_err(|error| StorageError::Corrupt(error.to_string()))?;
            log.push(LoggedOp { hash: record.info.hash, op, bytes: record.bytes.to_vec() });
            Ok(())
        })?;
        Ok(log)
    }

    /// The canonical bytes of every op not in the causal past of `since` (nor in it),
    /// parents first. With no `since`, every op.
    pub fn export(&self, since: &[OpHash]) -> Result<Vec<Vec<u8>>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let mut known = Vec::new();
        for hash in since {
            if let Some(local) = tables.local_of(hash)? {
                known.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt("op without info".into()))?);
            }
        }
        let mut exported = Vec::new();
        tables.for_each_record(|record| {
            for head in &known {
                if head.local == record.info.local || tables.is_ancestor(&record.info, head)? {
                    return Ok(());
                }
            }
            exported.push(record.bytes.to_vec());
            Ok(())
        })?;
        Ok(exported)
    }

    /// The hashes of the ops without children.
    pub fn heads(&self) -> Result<Vec<OpHash>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let mut heads: Vec<OpHash> = store::read_heads(&tables)?.into_iter().map(|info| info.hash).collect();
        heads.sort();
        Ok(heads)
    }

    /// Whether the log holds an op.
    pub fn contains(&self, hash: &OpHash) -> Result<bool, StorageError> {
        let transaction = self.database.begin_read()?;
        Ok(ReadTables::open(&transaction)?.local_of(hash)?.is_some())
    }

    /// How many ops the log holds.
    pub fn op_count(&self) -> Result<u64, StorageError> {
        let transaction = self.database.begin_read()?;
        ReadTables::open(&transaction)?.op_count()
    }

    /// Whether op `ancestor` is in the causal past of op `descendant`; `None` if either is
    /// unknown.
    pub fn is_ancestor(&self, ancestor: &OpHash, descendant: &OpHash) -> Result<Option<bool>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let (Some(a), Some(d)) = (tables.local_of(ancestor)?, tables.local_of(descendant)?) else {
            return Ok(None);
        };
        let (Some(a), Some(d)) = (tables.info(a)?, tables.info(d)?) else {
            return Ok(None);
        };
        Ok(Some(tables.is_ancestor(&a, &d)?))
    }

    /// Authors that signed two ops with one sequence number, with the lowest such number.
    pub fn equivocators(&self) -> Result<Vec<(Identity, u64)>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let mut flagged = Vec::new();
        for entry in tables.equivocators.iter()? {
            let (author, seq) = entry?;
            let key = tables
                .author_keys
                .get(author.value())?
                .ok_or_else(|| StorageError::Corrupt("unknown author".into()))?;
            flagged.push((Identity(*key.value()), seq.value()));
        }
        Ok(flagged)
    }

    /// How much space the store uses: pages allocated, and the bytes of keys and values in them.
    pub fn storage_usage(&self) -> Result<StorageUsage, StorageError> {
        let transaction = self.database.begin_write()?;
        let stats = transaction.stats()?;
        let mut state_bytes = 0;
        {
            use redb::ReadableTableMetadata;
            let tables = WriteTables::open(&transaction)?;
            let state_tables = [
                tables.rows.stats()?,
                tables.row_writers.stats()?,
                tables.row_index.stats()?,
                tables.field_index.stats()?,
                tables.ineffective.stats()?,
                tables.events.stats()?,
            ];
            for table in state_tables {
                state_bytes += (table.leaf_pages() + table.branch_pages()) * stats.page_size() as u64;
            }
        }
        let usage = StorageUsage {
            allocated_bytes: stats.allocated_pages() * stats.page_size() as u64,
            state_bytes,
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
        };
        transaction.abort()?;
        Ok(usage)
    }

    /// Checks that the store's tables agree with each other: the log's indexes, and the
    /// materialized rows against the ops that write them (this reads every row).
    pub fn check_integrity(&self) -> Result<(), StorageError> {
        store::check_integrity(&self.database)?;
        let transaction = self.database.begin_write()?;
        {
            let tables = WriteTables::open(&transaction)?;
            if let Some(founder) = self.founder(&tables)? {
                Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder).verify(&tables)?;
            }
        }
        transaction.abort()?;
        Ok(())
    }
}

fn write_meta(tables: &mut WriteTables, id: &DatabaseId, suite: &dyn CryptoSuite) -> Result<(), StorageError> {
    tables.meta.insert(store::META_DATABASE, id.0.as_slice())?;
    tables.meta.insert(store::META_SUITE, suite.name().as_bytes())?;
    tables.meta.insert(store::META_FORMAT, store::STORE_FORMAT.to_be_bytes().as_slice())?;
    Ok(())
}

/// The space a store takes (see [`Replica::storage_usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageUsage {
    /// Pages allocated to tables, whole.
    pub allocated_bytes: u64,
    /// Of those, the pages of the state: rows, their writers, indexes, verdicts and events.
    pub state_bytes: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of B-tree structure.
    pub metadata_bytes: u64,
    /// Unused bytes inside allocated pages.
    pub fragmented_bytes: u64,
}

/// The changes of one op, gathered by [`Replica::transaction`].
#[derive(Debug, Default)]
pub struct Transaction {
    changes: Vec<Change>,
}

impl Transaction {
    pub fn insert(&mut self, collection: &str, fields: Vec<(String, Value)>) -> &mut Transaction {
        self.changes.push(Change::Insert { collection: collection.to_owned(), fields });
        self
    }

    pub fn update(&mut self, collection: &str, row: RowId, edits: Vec<op::Edit>) -> &mut Transaction {
        self.changes.push(Change::Update { collection: collection.to_owned(), row, edits });
        self
    }

    pub fn delete(&mut self, collection: &str, row: RowId) -> &mut Transaction {
        self.changes.push(Change::Delete { collection: collection.to_owned(), row });
        self
    }
}

/// An op as the log lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedOp {
    pub hash: OpHash,
    pub op: Op,
    pub bytes: Vec<u8>,
}
