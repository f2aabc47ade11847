//! A replica of one database: creating, joining and opening it, writing local ops, and
//! ingesting ops from peers through every check, in the documented order.

use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::ids::{DatabaseId, Identity, OpHash, RowId};
use crate::keys::Keypair;
use crate::op::{self, Change, Limits, Op, OpDecodeError, Payload, VerifiedOp};
use crate::store::{self, InfoLookup, OpInfo, ReadTables, Storage, StorageError, WriteTables};
use crate::validate::{self, PayloadError};
use redb::{ReadableTable, ReadableTableMetadata};
use schemac::ir;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    #[error("op {op}: {reason}")]
    OverLimit { op: OpHash, reason: String },
    #[error("op {op}: broken author chain: {reason}")]
    Sequence { op: OpHash, reason: String },
    #[error("op {op}: depth is {found}, but its parents make it {expected}")]
    Depth { op: OpHash, expected: u64, found: u64 },
    #[error("op {op}: unknown schema {schema}")]
    UnknownSchema { op: OpHash, schema: String },
    #[error("op {op}: {error}")]
    Payload { op: OpHash, error: Box<PayloadError> },
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
            | IngestError::PreviouslyRejected { op, .. }
            | IngestError::RejectedParent { op, .. } => Some(*op),
            IngestError::TooLarge { .. } | IngestError::Decode(_) | IngestError::Storage(_) => None,
        }
    }

    /// Whether the failure is a property of the signed content itself, so the same op will
    /// fail the same way everywhere and forever, and need not be fetched again.
    fn is_permanent(&self) -> bool {
        matches!(
            self,
            IngestError::WrongDatabase { .. }
                | IngestError::Genesis { .. }
                | IngestError::OverLimit { .. }
                | IngestError::RejectedParent { .. }
                | IngestError::Sequence { .. }
                | IngestError::Depth { .. }
                | IngestError::Payload { .. }
        )
    }
}

impl From<redb::StorageError> for IngestError {
    fn from(error: redb::StorageError) -> IngestError {
        IngestError::Storage(error.into())
    }
}

/// The result of ingesting one op.
pub type IngestResult = Result<Ingested, IngestError>;

/// What became of an op that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Accepted(OpHash),
    /// The replica already had it.
    Duplicate(OpHash),
    /// Valid so far, waiting for these parents; it is checked again when they arrive.
    Parked {
        op: OpHash,
        missing: Vec<OpHash>,
    },
    /// Stored, but its author signed two ops with one sequence number; both are kept as
    /// evidence and the author is flagged (see [`Replica::equivocators`]).
    Equivocation {
        op: OpHash,
        other: OpHash,
        author: Identity,
        seq: u64,
    },
}

/// Why a local write was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
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

/// One replica of one database.
pub struct Replica {
    database: redb::Database,
    suite: Arc<dyn CryptoSuite>,
    id: DatabaseId,
    schemas: BTreeMap<[u8; 32], ir::Schema>,
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
        if schemas.is_empty() {
            return Err(OpenError::Schema { hash: "(none)".into(), reason: "the store holds no schema".into() });
        }
        Ok(Replica { database, suite, id, schemas, limits: Limits::default() })
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
    /// agree on the size limits, or they will refuse each other's ops.
    pub fn with_limits(mut self, limits: Limits) -> Replica {
        self.limits = limits;
        self
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

    fn append_local(
        &self,
        tables: &mut WriteTables,
        author: &Keypair,
        author_number: u32,
        changes: Vec<Change>,
    ) -> Result<VerifiedOp, WriteError> {
        let previous = tables.latest_by(author_number)?;
        let mut heads: Vec<OpInfo> = Vec::new();
        for entry in tables.heads.iter().map_err(StorageError::from)? {
            let local = entry.map_err(StorageError::from)?.0.value();
            if Some(local) != previous.map(|(_, previous)| previous) {
                heads.push(
                    tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("head #{local} has no info")))?,
                );
            }
        }
        // Peers accept at most `max_parents` parents: keep the author's previous op and the
        // deepest heads; the others stay heads and join a later op.
        heads.sort_by(|left, right| right.depth.cmp(&left.depth).then(left.hash.cmp(&right.hash)));
        let mut chosen = Vec::with_capacity(heads.len() + 1);
        if let Some((_, local)) = previous {
            chosen.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} has no info")))?);
        }
        let room = self.limits.max_parents.saturating_sub(chosen.len());
        chosen.extend(heads.into_iter().take(room));
        let parent_locals: Vec<u64> = chosen.iter().map(|info| info.local).collect();
        let depth = chosen.iter().map(|info| info.depth).max().unwrap_or(0);
        let mut parents: Vec<OpHash> = chosen.iter().map(|info| info.hash).collect();
        parents.sort();
        let seq = previous.map_or(1, |(seq, _)| seq + 1);
        let op = Op {
            database: Some(self.id),
            schema: self.schema_hash(),
            author: author.identity,
            seq,
            parents,
            depth: depth + 1,
            payload: Payload::Changes(changes),
            attestations: Vec::new(),
            signature: [0; 64],
        }
        .sign(self.suite.as_ref(), &author.secret);
        if op.bytes().len() > self.limits.max_op_bytes {
            return Err(WriteError::TooLarge { size: op.bytes().len(), limit: self.limits.max_op_bytes });
        }
        tables.append(&op.hash(), op.bytes(), depth + 1, author_number, seq, &parent_locals)?;
        Ok(op)
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

    /// Ingests one op from a peer.
    pub fn ingest(&self, bytes: &[u8]) -> Result<Ingested, IngestError> {
        self.ingest_batch(&[bytes]).pop().unwrap_or_else(|| unreachable!("one result per op"))
    }

    /// Ingests ops from a peer in one transaction, verifying their signatures in one batch.
    /// Returns one result per op, in order; ops may come in any order (children wait for their
    /// parents within the batch and across batches).
    pub fn ingest_batch(&self, batch: &[&[u8]]) -> Vec<IngestResult> {
        let prepared = self.prepare(batch, true);
        self.store_prepared(prepared)
    }

    /// Ingests a long sequence of ops in transactions of `batch_size`, verifying the next batch
    /// on a second thread while the current one is stored. Same results as calling
    /// [`Replica::ingest_batch`] on each batch in turn.
    pub fn ingest_stream(&self, ops: &[&[u8]], batch_size: usize) -> Vec<IngestResult> {
        let batch_size = batch_size.max(1);
        let mut results = Vec::with_capacity(ops.len());
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Prepared>(1);
            scope.spawn(move || {
                for chunk in byte_bounded_batches(ops, batch_size) {
                    if sender.send(self.prepare(chunk, false)).is_err() {
                        break;
                    }
                }
            });
            for prepared in receiver {
                results.extend(self.store_prepared(prepared));
            }
        });
        results
    }

    /// Size limits, decoding, hash and signature: everything before the store is touched.
    fn prepare(&self, batch: &[&[u8]], parallel: bool) -> Prepared {
        let mut results: Vec<Option<IngestResult>> = (0..batch.len()).map(|_| None).collect();
        let mut decoded = Vec::new();
        let mut positions = Vec::new();
        for (index, bytes) in batch.iter().enumerate() {
            if bytes.len() > self.limits.max_op_bytes {
                results[index] =
                    Some(Err(IngestError::TooLarge { size: bytes.len(), limit: self.limits.max_op_bytes }));
                continue;
            }
            match Op::decode(bytes) {
                Ok(op) => {
                    if let Some(reason) = op::size_problem(&op, &self.limits) {
                        results[index] = Some(Err(IngestError::OverLimit { op: op.hash(self.suite.as_ref()), reason }));
                        continue;
                    }
                    decoded.push((op, bytes.to_vec()));
                    positions.push(index);
                }
                Err(error) => results[index] = Some(Err(error.into())),
            }
        }
        let verified = if parallel {
            verify_in_parallel(self.suite.as_ref(), decoded)
        } else {
            op::verify(self.suite.as_ref(), decoded)
        };
        let mut candidates = Vec::new();
        for (index, result) in positions.into_iter().zip(verified) {
            match result {
                Ok(op) => {
                    let payload = self.check_payload(&op);
                    candidates.push(Candidate { index, op, payload });
                }
                Err(op::VerifyError::BadSignature { author }) => {
                    let op = Op::decode(batch[index]).map(|op| op.hash(self.suite.as_ref())).unwrap_or(OpHash([0; 32]));
                    results[index] = Some(Err(IngestError::BadSignature { op, author }));
                }
            }
        }
        Prepared { results, candidates }
    }

    /// Everything after the signature, in one write transaction.
    fn store_prepared(&self, prepared: Prepared) -> Vec<IngestResult> {
        let Prepared { mut results, candidates } = prepared;
        match self.ingest_verified(candidates) {
            Ok(outcomes) => {
                for (index, outcome) in outcomes {
                    results[index] = Some(outcome);
                }
            }
            Err(error) => {
                let message = error.to_string();
                for result in results.iter_mut().filter(|result| result.is_none()) {
                    *result = Some(Err(IngestError::Storage(StorageError::Transaction(message.clone()))));
                }
            }
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| Err(IngestError::Storage(StorageError::Transaction("no result".into()))))
            })
            .collect()
    }

    fn ingest_verified(&self, candidates: Vec<Candidate>) -> Result<Vec<(usize, IngestResult)>, StorageError> {
        let transaction = self.database.begin_write()?;
        let mut outcomes = Vec::with_capacity(candidates.len());
        {
            let mut tables = WriteTables::open(&transaction)?;
            for Candidate { index, op, payload } in candidates {
                let hash = op.hash();
                let outcome = self.ingest_one(&mut tables, op, payload);
                if let Err(error) = &outcome {
                    if error.is_permanent() {
                        reject(&mut tables, hash, &error.to_string())?;
                    }
                    if let Err(IngestError::Storage(error)) = outcome {
                        return Err(error);
                    }
                }
                outcomes.push((index, outcome));
            }
            tables.finish()?;
        }
        transaction.commit()?;
        Ok(outcomes)
    }

    /// Whether the op's schema is known and its payload valid against it. Needs no store, so it
    /// runs before the write transaction (on the verifying thread, for `ingest_stream`).
    fn check_payload(&self, verified: &VerifiedOp) -> Result<(), IngestError> {
        let op = verified.op();
        let hash = verified.hash();
        let schema = self.schemas.get(&op.schema).ok_or_else(|| IngestError::UnknownSchema {
            op: hash,
            schema: format!("blake3:{}", crate::ids::to_hex(&op.schema)),
        })?;
        if let Payload::Changes(changes) = &op.payload {
            validate::validate_changes(schema, changes, &self.limits)
                .map_err(|error| IngestError::Payload { op: hash, error: Box::new(error) })?;
        }
        Ok(())
    }

    /// Checks and stores one verified op, then any parked ops that were waiting for it.
    fn ingest_one(
        &self,
        tables: &mut WriteTables,
        op: VerifiedOp,
        payload: Result<(), IngestError>,
    ) -> Result<Ingested, IngestError> {
        let hash = op.hash();
        if tables.local_of(&hash)?.is_some() {
            return Ok(Ingested::Duplicate(hash));
        }
        if !tables.parked.is_empty()? && tables.parked.get(&hash.0)?.is_some() {
            return Ok(Ingested::Parked { op: hash, missing: Vec::new() });
        }
        if !tables.rejected.is_empty()? {
            if let Some(reason) = tables.rejected.get(&hash.0)? {
                return Err(IngestError::PreviouslyRejected { op: hash, reason: reason.value().to_owned() });
            }
        }
        let outcome = self.check_and_append(tables, &op, payload)?;
        if matches!(outcome, Ingested::Accepted(_) | Ingested::Equivocation { .. }) {
            self.release_waiting(tables, hash)?;
        }
        Ok(outcome)
    }

    /// Re-ingests parked ops whose last missing parent just arrived.
    fn release_waiting(&self, tables: &mut WriteTables, arrived: OpHash) -> Result<(), IngestError> {
        if tables.parked.is_empty()? {
            return Ok(());
        }
        let mut queue = vec![arrived];
        while let Some(parent) = queue.pop() {
            let mut waiting = Vec::new();
            for entry in tables.waiting.remove_all(&parent.0)? {
                waiting.push(OpHash(*entry?.value()));
            }
            for child in waiting {
                let Some(bytes) = unpark(tables, &child)? else { continue };
                // Parked ops were decoded and verified before they were parked.
                let Ok(op) = Op::decode(&bytes) else { continue };
                if !self.missing_parents(tables, &op)?.is_empty() {
                    // Still waiting for another parent, whose `waiting` entry is still there.
                    park(tables, &child, &bytes, self.limits.max_parked)?;
                    continue;
                }
                let Some(Ok(verified)) = op::verify(self.suite.as_ref(), vec![(op, bytes)]).pop() else { continue };
                let payload = self.check_payload(&verified);
                match self.check_and_append(tables, &verified, payload) {
                    Ok(Ingested::Accepted(hash) | Ingested::Equivocation { op: hash, .. }) => queue.push(hash),
                    Ok(_) => {}
                    Err(IngestError::Storage(error)) => return Err(error.into()),
                    Err(error) if error.is_permanent() => reject(tables, child, &error.to_string())?,
                    // Refused for now (an unknown schema, say): it waits again, until evicted.
                    Err(_) => park(tables, &child, verified.bytes(), self.limits.max_parked)?,
                }
            }
        }
        Ok(())
    }

    fn missing_parents(&self, tables: &WriteTables, op: &Op) -> Result<Vec<OpHash>, StorageError> {
        let mut missing = Vec::new();
        for parent in &op.parents {
            if tables.local_of(parent)?.is_none() {
                missing.push(*parent);
            }
        }
        Ok(missing)
    }

    /// The checks after the signature, in the documented order, then the append.
    fn check_and_append(
        &self,
        tables: &mut WriteTables,
        verified: &VerifiedOp,
        payload: Result<(), IngestError>,
    ) -> Result<Ingested, IngestError> {
        let op = verified.op();
        let hash = verified.hash();
        // Database id. The genesis op has none: its hash is the id.
        match (&op.database, &op.payload) {
            (None, Payload::Genesis { .. }) => {
                if DatabaseId::from(hash) != self.id {
                    return Err(IngestError::Genesis { op: hash, reason: "the genesis of another database" });
                }
                if op.seq != 1 || op.depth != 1 || !op.parents.is_empty() {
                    return Err(IngestError::Genesis {
                        op: hash,
                        reason: "a genesis op has seq 1, depth 1 and no parents",
                    });
                }
            }
            (None, _) => return Err(IngestError::WrongDatabase { op: hash, expected: self.id, found: "none".into() }),
            (Some(_), Payload::Genesis { .. }) => {
                return Err(IngestError::Genesis { op: hash, reason: "only the first op of a database is a genesis" })
            }
            (Some(database), _) if *database != self.id => {
                return Err(IngestError::WrongDatabase { op: hash, expected: self.id, found: database.to_string() })
            }
            (Some(_), _) => {
                if op.parents.is_empty() {
                    return Err(IngestError::Sequence { op: hash, reason: "only a genesis op has no parents".into() });
                }
            }
        }
        // Parents present, or the op waits for them (unless one was rejected for good).
        let missing = self.missing_parents(tables, op)?;
        if !missing.is_empty() {
            if !tables.rejected.is_empty()? {
                for parent in &missing {
                    if tables.rejected.get(&parent.0)?.is_some() {
                        return Err(IngestError::RejectedParent { op: hash, parent: *parent });
                    }
                }
            }
            park(tables, &hash, verified.bytes(), self.limits.max_parked)?;
            for parent in &missing {
                tables.waiting.insert(&parent.0, &hash.0)?;
            }
            return Ok(Ingested::Parked { op: hash, missing });
        }
        let mut parent_infos: Vec<OpInfo> = Vec::with_capacity(op.parents.len());
        for parent in &op.parents {
            let local = tables.local_of(parent)?.ok_or_else(|| StorageError::Corrupt("parent vanished".into()))?;
            parent_infos.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt("parent without info".into()))?);
        }
        // Depth.
        let expected_depth = 1 + parent_infos.iter().map(|info| info.depth).max().unwrap_or(0);
        if op.depth != expected_depth {
            return Err(IngestError::Depth { op: hash, expected: expected_depth, found: op.depth });
        }
        // Sequence: the author's previous op is a parent; equivocation is kept as evidence.
        let author = match tables.known_author(&op.author)? {
            Some(number) => number,
            None => tables.author_number(&op.author)?,
        };
        let own_parents: Vec<&OpInfo> = parent_infos.iter().filter(|info| info.author == author).collect();
        let sequence_error = |reason: String| IngestError::Sequence { op: hash, reason };
        if op.seq == 0 {
            return Err(sequence_error("sequence numbers start at 1".into()));
        }
        if op.seq == 1 {
            if !own_parents.is_empty() {
                return Err(sequence_error("the author's first op has one of the author's ops as a parent".into()));
            }
        } else {
            if !own_parents.iter().any(|info| info.seq == op.seq - 1) {
                return Err(sequence_error(format!("the author's op {} is not among the parents", op.seq - 1)));
            }
            if let Some(newer) = own_parents.iter().find(|info| info.seq >= op.seq) {
                return Err(sequence_error(format!(
                    "a parent is the author's op {}, not older than this one",
                    newer.seq
                )));
            }
        }
        // Schema known; payload valid against it (checked before the transaction, reported
        // here, in its place in the order).
        payload?;
        let existing = tables.chain_entries(author, op.seq)?;
        let parent_locals: Vec<u64> = parent_infos.iter().map(|info| info.local).collect();
        tables.append(&hash, verified.bytes(), op.depth, author, op.seq, &parent_locals)?;
        if let Some(other_local) = existing.first() {
            let other =
                tables.info(*other_local)?.ok_or_else(|| StorageError::Corrupt("equivocation without info".into()))?;
            let from = tables.equivocated_from(author)?.map_or(op.seq, |from| from.min(op.seq));
            tables.equivocators.insert(author, from)?;
            return Ok(Ingested::Equivocation { op: hash, other: other.hash, author: op.author, seq: op.seq });
        }
        Ok(Ingested::Accepted(hash))
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
        let usage = StorageUsage {
            allocated_bytes: stats.allocated_pages() * stats.page_size() as u64,
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
        };
        transaction.abort()?;
        Ok(usage)
    }

    /// Checks that the store's tables agree with each other.
    pub fn check_integrity(&self) -> Result<(), StorageError> {
        store::check_integrity(&self.database)
    }
}

/// Parks an op: stores it apart with its arrival number. When `limit` ops already wait, the
/// oldest is evicted (and forgotten: a peer offers it again once its parents are known).
fn park(tables: &mut WriteTables, hash: &OpHash, bytes: &[u8], limit: u64) -> Result<(), StorageError> {
    while tables.parked.len()? >= limit.max(1) {
        let oldest = tables.parked_queue.first()?.map(|(arrival, hash)| (arrival.value(), OpHash(*hash.value())));
        let Some((arrival, evicted)) = oldest else { break };
        tables.parked_queue.remove(arrival)?;
        if let Some(evicted_bytes) = unpark(tables, &evicted)? {
            if let Ok(op) = Op::decode(&evicted_bytes) {
                for parent in &op.parents {
                    tables.waiting.remove(&parent.0, &evicted.0)?;
                }
            }
        }
    }
    let arrival = tables.parked_queue.last()?.map_or(0, |(arrival, _)| arrival.value() + 1);
    let mut record = Vec::with_capacity(8 + bytes.len());
    record.extend_from_slice(&arrival.to_be_bytes());
    record.extend_from_slice(bytes);
    tables.parked.insert(&hash.0, record.as_slice())?;
    tables.parked_queue.insert(arrival, &hash.0)?;
    Ok(())
}

/// Takes a parked op out of the parked tables; returns its bytes.
fn unpark(tables: &mut WriteTables, hash: &OpHash) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(record) = tables.parked.remove(&hash.0)?.map(|record| record.value().to_vec()) else { return Ok(None) };
    if record.len() < 8 {
        return Err(StorageError::Corrupt("a parked op has no arrival number".into()));
    }
    let (arrival, bytes) = record.split_at(8);
    tables.parked_queue.remove(store::read_u64(arrival)?)?;
    Ok(Some(bytes.to_vec()))
}

/// Records an op as rejected for good, and with it every parked op that waits for it.
fn reject(tables: &mut WriteTables, hash: OpHash, reason: &str) -> Result<(), StorageError> {
    tables.rejected.insert(&hash.0, reason)?;
    let mut stack = vec![hash];
    while let Some(rejected) = stack.pop() {
        let mut children = Vec::new();
        for entry in tables.waiting.remove_all(&rejected.0)? {
            children.push(OpHash(*entry?.value()));
        }
        for child in children {
            if let Some(bytes) = unpark(tables, &child)? {
                if let Ok(op) = Op::decode(&bytes) {
                    for parent in &op.parents {
                        tables.waiting.remove(&parent.0, &child.0)?;
                    }
                }
                tables.rejected.insert(&child.0, format!("its parent {rejected} was rejected").as_str())?;
                stack.push(child);
            }
        }
    }
    Ok(())
}

/// How many bytes of ops `ingest_stream` decodes into one batch at most: a decoded op takes
/// several times its encoded size, and at most three batches are in memory at once.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// Splits ops into batches of at most `count` ops and [`MAX_BATCH_BYTES`] bytes (a larger op
/// gets a batch of its own).
fn byte_bounded_batches<'o>(ops: &'o [&'o [u8]], count: usize) -> Vec<&'o [&'o [u8]]> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < ops.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < ops.len() && end - start < count && (end == start || bytes + ops[end].len() <= MAX_BATCH_BYTES) {
            bytes += ops[end].len();
            end += 1;
        }
        batches.push(&ops[start..end]);
        start = end;
    }
    batches
}

/// Below this many ops, one thread verifies them all: splitting costs more than it saves.
const PARALLEL_VERIFY_THRESHOLD: usize = 64;

/// Verifies ops in as many batches as the machine has cores, one batch per thread, keeping
/// their order. Each batch uses the suite's batch verification; the result for each op is the
/// same as verifying it alone.
fn verify_in_parallel(suite: &dyn CryptoSuite, ops: Vec<(Op, Vec<u8>)>) -> Vec<Result<VerifiedOp, op::VerifyError>> {
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    if threads < 2 || ops.len() < PARALLEL_VERIFY_THRESHOLD {
        return op::verify(suite, ops);
    }
    let chunk_size = ops.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let mut rest = ops;
    while rest.len() > chunk_size {
        let tail = rest.split_off(chunk_size);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.into_iter().map(|chunk| scope.spawn(move || op::verify(suite, chunk))).collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
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

/// A batch after the checks that need no store: the results so far, and the verified ops.
struct Prepared {
    results: Vec<Option<IngestResult>>,
    candidates: Vec<Candidate>,
}

/// A verified op waiting for the write transaction, with the result of its payload check.
struct Candidate {
    index: usize,
    op: VerifiedOp,
    payload: Result<(), IngestError>,
}

/// An op as the log lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedOp {
    pub hash: OpHash,
    pub op: Op,
    pub bytes: Vec<u8>,
}

/// A field value for a local write, before encoding: a convenience over [`Value`].
pub type Fields = Vec<(String, Value)>;
