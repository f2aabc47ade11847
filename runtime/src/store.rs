//! The redb tables of a replica and the transactions over them.
//!
//! Ops are stored by a *local sequence number* (the order this replica accepted them, always
//! parents-first), so the hot tables are appended to in key order. Only the hash index is keyed
//! by op hash, and it is kept small (the first 8 bytes of the hash and the local number, 16
//! bytes a row) and batched (a transaction's new entries are inserted together, sorted, when it
//! ends), because random keys are what a B-tree writes slowest. Every change to the log is one
//! redb write transaction: a crash keeps every committed op and nothing half-written.
//!
//! Tables (keys → values):
//!
//! | table | contents |
//! | --- | --- |
//! | `meta` | database id, suite name, next local number |
//! | `schemas` | schema hash → IR (JSON) |
//! | `ops` | local → op hash, depth, author number, seq, then the canonical op bytes |
//! | `hashes` | (first 8 bytes of the op hash, local) → () |
//! | `heads` | local → () for ops without children |
//! | `children` | (parent local, child local) → () |
//! | `authors`, `author_keys` | identity ↔ author number |
//! | `chains` | (author number, seq, local) → () (two locals for one seq: equivocation) |
//! | `clocks` | local → version vector of its causal past |
//! | `equivocators` | author number → lowest seq it equivocated at |
//! | `rejected` | op hash → reason, for ops whose signed content is invalid |
//! | `parked`, `waiting` | ops whose parents have not arrived, and what they wait for |

use crate::ids::{DatabaseId, Identity, OpHash};
use redb::{Database, MultimapTableDefinition, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SCHEMAS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("schemas");
pub(crate) const OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("ops");
pub(crate) const HASHES: TableDefinition<(u64, u64), ()> = TableDefinition::new("hashes");
pub(crate) const HEADS: TableDefinition<u64, ()> = TableDefinition::new("heads");
pub(crate) const CHILDREN: TableDefinition<(u64, u64), ()> = TableDefinition::new("children");
pub(crate) const AUTHORS: TableDefinition<&[u8; 32], u32> = TableDefinition::new("authors");
pub(crate) const AUTHOR_KEYS: TableDefinition<u32, &[u8; 32]> = TableDefinition::new("author_keys");
pub(crate) const CHAINS: TableDefinition<(u32, u64, u64), ()> = TableDefinition::new("chains");
pub(crate) const CLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("clocks");
pub(crate) const EQUIVOCATORS: TableDefinition<u32, u64> = TableDefinition::new("equivocators");
pub(crate) const REJECTED: TableDefinition<&[u8; 32], &str> = TableDefinition::new("rejected");
pub(crate) const PARKED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("parked");
pub(crate) const WAITING: MultimapTableDefinition<&[u8; 32], &[u8; 32]> = MultimapTableDefinition::new("waiting");

pub(crate) const META_DATABASE: &str = "database";
pub(crate) const META_SUITE: &str = "suite";
pub(crate) const META_NEXT_LOCAL: &str = "next_local";
pub(crate) const META_FORMAT: &str = "format";
/// The store layout version; bump on incompatible table changes.
pub(crate) const STORE_FORMAT: u64 = 1;

/// A failure of the storage layer (IO, a full disk, corruption), with redb's error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    #[error("storage error: {0}")]
    Redb(Box<redb::Error>),
    #[error("the store is corrupt: {0}")]
    Corrupt(String),
    /// The transaction holding this op failed (the error is reported for each op in it).
    #[error("the transaction failed, nothing in it was stored: {0}")]
    Transaction(String),
}

macro_rules! storage_from {
    ($($error:ty),*) => {$(
        impl From<$error> for StorageError {
            fn from(error: $error) -> StorageError {
                StorageError::Redb(Box::new(error.into()))
            }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Where a replica keeps its tables.
#[derive(Debug, Clone)]
pub enum Storage<'a> {
    File(&'a Path),
    /// A store that lives in memory and vanishes with the replica (tests, caches).
    Memory,
}

pub(crate) fn open_database(storage: &Storage, create: bool) -> Result<Database, StorageError> {
    Ok(match storage {
        Storage::File(path) if create => Database::create(path)?,
        Storage::File(path) => Database::open(path)?,
        Storage::Memory => Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?,
    })
}

/// What the log keeps about each op besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpInfo {
    pub local: u64,
    pub depth: u64,
    pub author: u32,
    pub seq: u64,
    pub hash: OpHash,
}

/// A version vector: for each author number, the highest sequence number in a causal past.
/// Sorted by author number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clock(pub Vec<(u32, u64)>);

impl Clock {
    pub fn get(&self, author: u32) -> u64 {
        self.0.binary_search_by_key(&author, |(key, _)| *key).map_or(0, |index| self.0[index].1)
    }

    /// The pointwise maximum of two clocks.
    pub fn merge(&mut self, other: &Clock) {
        for &(author, seq) in &other.0 {
            self.set(author, seq);
        }
    }

    pub fn set(&mut self, author: u32, seq: u64) {
        match self.0.binary_search_by_key(&author, |(key, _)| *key) {
            Ok(index) => self.0[index].1 = self.0[index].1.max(seq),
            Err(index) => self.0.insert(index, (author, seq)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.0.len() * 12);
        for (author, seq) in &self.0 {
            bytes.extend_from_slice(&author.to_be_bytes());
            bytes.extend_from_slice(&seq.to_be_bytes());
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Clock, StorageError> {
        if bytes.len() % 12 != 0 {
            return Err(StorageError::Corrupt("a clock entry is not 12 bytes".into()));
        }
        Ok(Clock(
            bytes
                .chunks_exact(12)
                .map(|chunk| {
                    let mut author = [0; 4];
                    let mut seq = [0; 8];
                    author.copy_from_slice(&chunk[..4]);
                    seq.copy_from_slice(&chunk[4..]);
                    (u32::from_be_bytes(author), u64::from_be_bytes(seq))
                })
                .collect(),
        ))
    }
}

fn corrupt(what: impl Into<String>) -> StorageError {
    StorageError::Corrupt(what.into())
}

pub(crate) fn read_u64(bytes: &[u8]) -> Result<u64, StorageError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| corrupt("a counter is not 8 bytes"))?;
    Ok(u64::from_be_bytes(array))
}

/// Reading op metadata, from a read or a write transaction.
pub(crate) trait InfoLookup {
    fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError>;
    fn info(&self, local: u64) -> Result<Option<OpInfo>, StorageError>;
    fn clock(&self, local: u64) -> Result<Clock, StorageError>;
    fn parents(&self, local: u64) -> Result<Vec<u64>, StorageError>;
    fn equivocated_from(&self, author: u32) -> Result<Option<u64>, StorageError>;

    /// Whether `ancestor` is in the causal past of `descendant` (strictly).
    fn is_ancestor(&self, ancestor: &OpInfo, descendant: &OpInfo) -> Result<bool, StorageError> {
        if ancestor.depth >= descendant.depth {
            return Ok(false);
        }
        // An author's ops form a chain (each op has its author's previous op as a parent), so
        // the version vector answers directly, unless the author forked its chain.
        let forked = self.equivocated_from(ancestor.author)?.is_some_and(|from| ancestor.seq >= from);
        if !forked {
            return Ok(self.clock(descendant.local)?.get(ancestor.author) >= ancestor.seq);
        }
        // Walk back from the descendant, never below the ancestor's depth.
        let mut stack = vec![descendant.local];
        let mut seen = std::collections::HashSet::new();
        while let Some(local) = stack.pop() {
            for parent in self.parents(local)? {
                if parent == ancestor.local {
                    return Ok(true);
                }
                let Some(info) = self.info(parent)? else {
                    continue;
                };
                if info.depth > ancestor.depth && seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        Ok(false)
    }
}

/// The length of the header an `ops` value has before the op's bytes.
const RECORD_HEADER: usize = 32 + 8 + 4 + 8;

/// An `ops` value: what the log keeps about an op, then its bytes.
pub(crate) fn record(hash: &OpHash, depth: u64, author: u32, seq: u64, bytes: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(RECORD_HEADER + bytes.len());
    record.extend_from_slice(&hash.0);
    record.extend_from_slice(&depth.to_be_bytes());
    record.extend_from_slice(&author.to_be_bytes());
    record.extend_from_slice(&seq.to_be_bytes());
    record.extend_from_slice(bytes);
    record
}

/// Splits an `ops` value into the op's metadata and its bytes.
pub(crate) fn parse_record(local: u64, record: &[u8]) -> Result<(OpInfo, &[u8]), StorageError> {
    if record.len() < RECORD_HEADER {
        return Err(corrupt(format!("op #{local} has a truncated record")));
    }
    let (header, bytes) = record.split_at(RECORD_HEADER);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&header[..32]);
    let number =
        |range: std::ops::Range<usize>| header[range].iter().fold(0u64, |value, byte| value << 8 | u64::from(*byte));
    let info =
        OpInfo { local, hash: OpHash(hash), depth: number(32..40), author: number(40..44) as u32, seq: number(44..52) };
    Ok((info, bytes))
}

/// The hash index's key prefix for an op hash.
fn hash_prefix(hash: &OpHash) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash.0[..8]);
    u64::from_be_bytes(prefix)
}

/// Implements [`InfoLookup`] for any set of open tables.
macro_rules! impl_info_lookup {
    ($type:ty) => {
        impl InfoLookup for $type {
            fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                self.local_of_hash(hash)
            }

            fn info(&self, local: u64) -> Result<Option<OpInfo>, StorageError> {
                match self.ops.get(local)? {
                    Some(record) => Ok(Some(parse_record(local, record.value())?.0)),
                    None => Ok(None),
                }
            }

            fn clock(&self, local: u64) -> Result<Clock, StorageError> {
                match self.clocks.get(local)? {
                    Some(bytes) => Clock::decode(bytes.value()),
                    None => Err(corrupt(format!("op #{local} has no clock"))),
                }
            }

            fn parents(&self, local: u64) -> Result<Vec<u64>, StorageError> {
                let record = self.ops.get(local)?.ok_or_else(|| corrupt(format!("op #{local} is missing")))?;
                let (_, bytes) = parse_record(local, record.value())?;
                let op = crate::op::Op::decode(bytes).map_err(|error| corrupt(format!("op #{local}: {error}")))?;
                let mut locals = Vec::with_capacity(op.parents.len());
                for parent in &op.parents {
                    locals.push(
                        self.local_of(parent)?.ok_or_else(|| corrupt(format!("a parent of op #{local} is missing")))?,
                    );
                }
                Ok(locals)
            }

            fn equivocated_from(&self, author: u32) -> Result<Option<u64>, StorageError> {
                Ok(self.equivocators.get(author)?.map(|seq| seq.value()))
            }
        }

        impl $type {
            /// Looks a hash up in the index, confirming the full hash in the op's record.
            fn indexed_local(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                let prefix = hash_prefix(hash);
                for entry in self.hashes.range((prefix, 0)..=(prefix, u64::MAX))? {
                    let local = entry?.0.value().1;
                    if self.info(local)?.is_some_and(|info| info.hash == *hash) {
                        return Ok(Some(local));
                    }
                }
                Ok(None)
            }
        }
    };
}

/// The tables a read transaction looks at.
pub(crate) struct ReadTables {
    pub ops: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub hashes: redb::ReadOnlyTable<(u64, u64), ()>,
    pub clocks: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub equivocators: redb::ReadOnlyTable<u32, u64>,
    pub heads: redb::ReadOnlyTable<u64, ()>,
    pub author_keys: redb::ReadOnlyTable<u32, &'static [u8; 32]>,
}

impl ReadTables {
    pub fn open(transaction: &redb::ReadTransaction) -> Result<ReadTables, StorageError> {
        Ok(ReadTables {
            ops: transaction.open_table(OPS)?,
            hashes: transaction.open_table(HASHES)?,
            clocks: transaction.open_table(CLOCKS)?,
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            heads: transaction.open_table(HEADS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
        })
    }

    pub fn op_count(&self) -> Result<u64, StorageError> {
        Ok(self.ops.len()?)
    }
}

impl ReadTables {
    fn local_of_hash(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
        self.indexed_local(hash)
    }
}

impl_info_lookup!(ReadTables);

/// The tables a write transaction changes.
pub(crate) struct WriteTables<'txn> {
    pub meta: redb::Table<'txn, &'static str, &'static [u8]>,
    pub schemas: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub ops: redb::Table<'txn, u64, &'static [u8]>,
    pub hashes: redb::Table<'txn, (u64, u64), ()>,
    pub heads: redb::Table<'txn, u64, ()>,
    pub children: redb::Table<'txn, (u64, u64), ()>,
    pub authors: redb::Table<'txn, &'static [u8; 32], u32>,
    pub author_keys: redb::Table<'txn, u32, &'static [u8; 32]>,
    pub chains: redb::Table<'txn, (u32, u64, u64), ()>,
    pub clocks: redb::Table<'txn, u64, &'static [u8]>,
    pub equivocators: redb::Table<'txn, u32, u64>,
    pub rejected: redb::Table<'txn, &'static [u8; 32], &'static str>,
    pub parked: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub waiting: redb::MultimapTable<'txn, &'static [u8; 32], &'static [u8; 32]>,
    /// This transaction's new hash-index entries, inserted sorted by [`WriteTables::finish`].
    pending_hashes: std::collections::HashMap<OpHash, u64>,
    /// The next local number, once this transaction has read it.
    next_local: Option<u64>,
}

impl WriteTables<'_> {
    fn local_of_hash(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
        match self.pending_hashes.get(hash) {
            Some(local) => Ok(Some(*local)),
            None => self.indexed_local(hash),
        }
    }
}

impl_info_lookup!(WriteTables<'_>);

impl<'txn> WriteTables<'txn> {
    pub fn open(transaction: &'txn redb::WriteTransaction) -> Result<WriteTables<'txn>, StorageError> {
        Ok(WriteTables {
            meta: transaction.open_table(META)?,
            schemas: transaction.open_table(SCHEMAS)?,
            ops: transaction.open_table(OPS)?,
            hashes: transaction.open_table(HASHES)?,
            heads: transaction.open_table(HEADS)?,
            children: transaction.open_table(CHILDREN)?,
            authors: transaction.open_table(AUTHORS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
            chains: transaction.open_table(CHAINS)?,
            clocks: transaction.open_table(CLOCKS)?,
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            rejected: transaction.open_table(REJECTED)?,
            parked: transaction.open_table(PARKED)?,
            waiting: transaction.open_multimap_table(WAITING)?,
            pending_hashes: std::collections::HashMap::new(),
            next_local: None,
        })
    }

    /// Inserts the transaction's new hash-index entries, in key order. Call before commit.
    pub fn finish(mut self) -> Result<(), StorageError> {
        if let Some(next) = self.next_local {
            self.meta.insert(META_NEXT_LOCAL, next.to_be_bytes().as_slice())?;
        }
        let mut entries: Vec<(u64, u64)> =
            self.pending_hashes.drain().map(|(hash, local)| (hash_prefix(&hash), local)).collect();
        entries.sort_unstable();
        for key in entries {
            self.hashes.insert(key, ())?;
        }
        Ok(())
    }

    /// The next local number; read once per transaction and written back by [`WriteTables::finish`].
    pub fn next_local(&mut self) -> Result<u64, StorageError> {
        let next = match self.next_local {
            Some(next) => next,
            None => match self.meta.get(META_NEXT_LOCAL)? {
                Some(bytes) => read_u64(bytes.value())?,
                None => 0,
            },
        };
        self.next_local = Some(next.saturating_add(1));
        Ok(next)
    }

    /// The number for an author, assigned on first sight.
    pub fn author_number(&mut self, identity: &Identity) -> Result<u32, StorageError> {
        if let Some(number) = self.authors.get(&identity.0)? {
            return Ok(number.value());
        }
        let number = u32::try_from(self.authors.len()?).map_err(|_| corrupt("more than 2^32 authors"))?;
        self.authors.insert(&identity.0, number)?;
        self.author_keys.insert(number, &identity.0)?;
        Ok(number)
    }

    pub fn known_author(&self, identity: &Identity) -> Result<Option<u32>, StorageError> {
        Ok(self.authors.get(&identity.0)?.map(|number| number.value()))
    }

    /// Locals of an author's ops with one sequence number (two or more: equivocation).
    pub fn chain_entries(&self, author: u32, seq: u64) -> Result<Vec<u64>, StorageError> {
        let mut locals = Vec::new();
        for entry in self.chains.range((author, seq, 0)..=(author, seq, u64::MAX))? {
            locals.push(entry?.0.value().2);
        }
        Ok(locals)
    }

    /// The latest op an author has in this log: (seq, local).
    pub fn latest_by(&self, author: u32) -> Result<Option<(u64, u64)>, StorageError> {
        let mut range = self.chains.range((author, 0, 0)..=(author, u64::MAX, u64::MAX))?;
        match range.next_back() {
            Some(entry) => {
                let (_, seq, local) = entry?.0.value();
                Ok(Some((seq, local)))
            }
            None => Ok(None),
        }
    }

    /// Appends a verified op whose parents are all present. Updates heads, children, chains,
    /// clocks and the hash index.
    pub fn append(
        &mut self,
        hash: &OpHash,
        bytes: &[u8],
        depth: u64,
        author: u32,
        seq: u64,
        parents: &[u64],
    ) -> Result<u64, StorageError> {
        let local = self.next_local()?;
        self.ops.insert(local, record(hash, depth, author, seq, bytes).as_slice())?;
        self.pending_hashes.insert(*hash, local);
        let mut clock = Clock::default();
        for parent in parents {
            clock.merge(&self.clock(*parent)?);
            self.children.insert((*parent, local), ())?;
            self.heads.remove(*parent)?;
        }
        clock.set(author, seq);
        self.clocks.insert(local, clock.encode().as_slice())?;
        self.heads.insert(local, ())?;
        self.chains.insert((author, seq, local), ())?;
        Ok(local)
    }
}

/// Reads the database id and suite name, if the store has been initialised.
pub(crate) fn read_meta(database: &Database) -> Result<(Option<DatabaseId>, Option<String>), StorageError> {
    let transaction = database.begin_read()?;
    let meta = match transaction.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, None)),
        Err(error) => return Err(error.into()),
    };
    let database_id = match meta.get(META_DATABASE)? {
        Some(bytes) => {
            let array: [u8; 32] = bytes.value().try_into().map_err(|_| corrupt("the database id is not 32 bytes"))?;
            Some(DatabaseId(array))
        }
        None => None,
    };
    let suite = match meta.get(META_SUITE)? {
        Some(bytes) => {
            Some(String::from_utf8(bytes.value().to_vec()).map_err(|_| corrupt("the suite name is not UTF-8"))?)
        }
        None => None,
    };
    Ok((database_id, suite))
}

/// Checks that the tables agree with each other; returns a description of the first problem.
pub(crate) fn check_integrity(database: &Database) -> Result<(), StorageError> {
    let transaction = database.begin_read()?;
    let tables = ReadTables::open(&transaction)?;
    let mut expected_heads = std::collections::BTreeSet::new();
    let mut with_children = std::collections::BTreeSet::new();
    for entry in tables.ops.iter()? {
        let (local, record) = entry?;
        let local = local.value();
        let (info, bytes) = parse_record(local, record.value())?;
        let op =
            crate::op::Op::decode(bytes).map_err(|error| corrupt(format!("op #{local} does not decode: {error}")))?;
        if tables.local_of(&info.hash)? != Some(local) {
            return Err(corrupt(format!("op #{local} is missing from the hash index")));
        }
        for parent in &op.parents {
            let parent_local =
                tables.local_of(parent)?.ok_or_else(|| corrupt(format!("op #{local} has a missing parent")))?;
            if parent_local >= local {
                return Err(corrupt(format!("op #{local} was stored before its parent #{parent_local}")));
            }
            with_children.insert(parent_local);
        }
        tables.clock(local)?;
        expected_heads.insert(local);
    }
    let expected_heads: std::collections::BTreeSet<u64> = expected_heads.difference(&with_children).copied().collect();
    let mut heads = std::collections::BTreeSet::new();
    for entry in tables.heads.iter()? {
        heads.insert(entry?.0.value());
    }
    if heads != expected_heads {
        return Err(corrupt(format!("heads {heads:?} do not match the ops without children {expected_heads:?}")));
    }
    if tables.hashes.len()? != tables.ops.len()? {
        return Err(corrupt("the hash index and the op table differ in size"));
    }
    Ok(())
}

pub(crate) fn read_heads(tables: &ReadTables) -> Result<Vec<OpInfo>, StorageError> {
    let mut heads = Vec::new();
    for entry in tables.heads.iter()? {
        let local = entry?.0.value();
        heads.push(tables.info(local)?.ok_or_else(|| corrupt(format!("head #{local} has no info")))?);
    }
    Ok(heads)
}
