//! The redb tables of a replica and the transactions over them.
//!
//! Ops are stored by a *local sequence number* (the order this replica accepted them, always
//! parents-first), so the hot tables are appended to in key order; only the hash index is keyed
//! by op hash. Every change to the log is one redb write transaction: a crash keeps every
//! committed op and nothing half-written.
//!
//! Tables (keys → values):
//!
//! | table | contents |
//! | --- | --- |
//! | `meta` | database id, suite name, next local number |
//! | `schemas` | schema hash → IR (JSON) |
//! | `ops` | local → canonical op bytes |
//! | `info` | local → (depth, author number, seq, op hash) |
//! | `hashes` | op hash → local |
//! | `heads` | local → () for ops without children |
//! | `children` | local → locals of its children (multimap) |
//! | `authors`, `author_keys` | identity ↔ author number |
//! | `chains` | (author number, seq) → locals (multimap; two entries mean equivocation) |
//! | `clocks` | local → version vector of its causal past |
//! | `equivocators` | author number → lowest seq it equivocated at |
//! | `rejected` | op hash → reason, for ops whose signed content is invalid |
//! | `parked`, `waiting` | ops whose parents have not arrived, and what they wait for |

use crate::ids::{DatabaseId, Identity, OpHash};
use redb::{
    Database, MultimapTableDefinition, ReadableMultimapTable, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use std::path::Path;

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const SCHEMAS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("schemas");
pub(crate) const OPS: TableDefinition<u64, &[u8]> = TableDefinition::new("ops");
pub(crate) const INFO: TableDefinition<u64, (u64, u32, u64, &[u8; 32])> =
    TableDefinition::new("info");
pub(crate) const HASHES: TableDefinition<&[u8; 32], u64> = TableDefinition::new("hashes");
pub(crate) const HEADS: TableDefinition<u64, ()> = TableDefinition::new("heads");
pub(crate) const CHILDREN: MultimapTableDefinition<u64, u64> =
    MultimapTableDefinition::new("children");
pub(crate) const AUTHORS: TableDefinition<&[u8; 32], u32> = TableDefinition::new("authors");
pub(crate) const AUTHOR_KEYS: TableDefinition<u32, &[u8; 32]> = TableDefinition::new("author_keys");
pub(crate) const CHAINS: MultimapTableDefinition<(u32, u64), u64> =
    MultimapTableDefinition::new("chains");
pub(crate) const CLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("clocks");
pub(crate) const EQUIVOCATORS: TableDefinition<u32, u64> = TableDefinition::new("equivocators");
pub(crate) const REJECTED: TableDefinition<&[u8; 32], &str> = TableDefinition::new("rejected");
pub(crate) const PARKED: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("parked");
pub(crate) const WAITING: MultimapTableDefinition<&[u8; 32], &[u8; 32]> =
    MultimapTableDefinition::new("waiting");

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
        Storage::Memory => {
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?
        }
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
        self.0
            .binary_search_by_key(&author, |(key, _)| *key)
            .map_or(0, |index| self.0[index].1)
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
            return Err(StorageError::Corrupt(
                "a clock entry is not 12 bytes".into(),
            ));
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
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| corrupt("a counter is not 8 bytes"))?;
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
        let forked = self
            .equivocated_from(ancestor.author)?
            .is_some_and(|from| ancestor.seq >= from);
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

fn info_from(local: u64, (depth, author, seq, hash): (u64, u32, u64, &[u8; 32])) -> OpInfo {
    OpInfo {
        local,
        depth,
        author,
        seq,
        hash: OpHash(*hash),
    }
}

/// Implements [`InfoLookup`] for any set of open tables.
macro_rules! impl_info_lookup {
    ($type:ty) => {
        impl InfoLookup for $type {
            fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError> {
                Ok(self.hashes.get(&hash.0)?.map(|local| local.value()))
            }

            fn info(&self, local: u64) -> Result<Option<OpInfo>, StorageError> {
                Ok(self
                    .info
                    .get(local)?
                    .map(|entry| info_from(local, entry.value())))
            }

            fn clock(&self, local: u64) -> Result<Clock, StorageError> {
                match self.clocks.get(local)? {
                    Some(bytes) => Clock::decode(bytes.value()),
                    None => Err(corrupt(format!("op #{local} has no clock"))),
                }
            }

            fn parents(&self, local: u64) -> Result<Vec<u64>, StorageError> {
                let bytes = self
                    .ops
                    .get(local)?
                    .ok_or_else(|| corrupt(format!("op #{local} is missing")))?;
                let op = crate::op::Op::decode(bytes.value())
                    .map_err(|error| corrupt(format!("op #{local}: {error}")))?;
                let mut locals = Vec::with_capacity(op.parents.len());
                for parent in &op.parents {
                    locals.push(
                        self.local_of(parent)?.ok_or_else(|| {
                            corrupt(format!("a parent of op #{local} is missing"))
                        })?,
                    );
                }
                Ok(locals)
            }

            fn equivocated_from(&self, author: u32) -> Result<Option<u64>, StorageError> {
                Ok(self.equivocators.get(author)?.map(|seq| seq.value()))
            }
        }
    };
}

/// The tables a read transaction looks at.
pub(crate) struct ReadTables {
    pub ops: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub info: redb::ReadOnlyTable<u64, (u64, u32, u64, &'static [u8; 32])>,
    pub hashes: redb::ReadOnlyTable<&'static [u8; 32], u64>,
    pub clocks: redb::ReadOnlyTable<u64, &'static [u8]>,
    pub equivocators: redb::ReadOnlyTable<u32, u64>,
    pub heads: redb::ReadOnlyTable<u64, ()>,
    pub author_keys: redb::ReadOnlyTable<u32, &'static [u8; 32]>,
}

impl ReadTables {
    pub fn open(transaction: &redb::ReadTransaction) -> Result<ReadTables, StorageError> {
        Ok(ReadTables {
            ops: transaction.open_table(OPS)?,
            info: transaction.open_table(INFO)?,
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

impl_info_lookup!(ReadTables);

/// The tables a write transaction changes.
pub(crate) struct WriteTables<'txn> {
    pub meta: redb::Table<'txn, &'static str, &'static [u8]>,
    pub schemas: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub ops: redb::Table<'txn, u64, &'static [u8]>,
    pub info: redb::Table<'txn, u64, (u64, u32, u64, &'static [u8; 32])>,
    pub hashes: redb::Table<'txn, &'static [u8; 32], u64>,
    pub heads: redb::Table<'txn, u64, ()>,
    pub children: redb::MultimapTable<'txn, u64, u64>,
    pub authors: redb::Table<'txn, &'static [u8; 32], u32>,
    pub author_keys: redb::Table<'txn, u32, &'static [u8; 32]>,
    pub chains: redb::MultimapTable<'txn, (u32, u64), u64>,
    pub clocks: redb::Table<'txn, u64, &'static [u8]>,
    pub equivocators: redb::Table<'txn, u32, u64>,
    pub rejected: redb::Table<'txn, &'static [u8; 32], &'static str>,
    pub parked: redb::Table<'txn, &'static [u8; 32], &'static [u8]>,
    pub waiting: redb::MultimapTable<'txn, &'static [u8; 32], &'static [u8; 32]>,
}

impl_info_lookup!(WriteTables<'_>);

impl<'txn> WriteTables<'txn> {
    pub fn open(
        transaction: &'txn redb::WriteTransaction,
    ) -> Result<WriteTables<'txn>, StorageError> {
        Ok(WriteTables {
            meta: transaction.open_table(META)?,
            schemas: transaction.open_table(SCHEMAS)?,
            ops: transaction.open_table(OPS)?,
            info: transaction.open_table(INFO)?,
            hashes: transaction.open_table(HASHES)?,
            heads: transaction.open_table(HEADS)?,
            children: transaction.open_multimap_table(CHILDREN)?,
            authors: transaction.open_table(AUTHORS)?,
            author_keys: transaction.open_table(AUTHOR_KEYS)?,
            chains: transaction.open_multimap_table(CHAINS)?,
            clocks: transaction.open_table(CLOCKS)?,
            equivocators: transaction.open_table(EQUIVOCATORS)?,
            rejected: transaction.open_table(REJECTED)?,
            parked: transaction.open_table(PARKED)?,
            waiting: transaction.open_multimap_table(WAITING)?,
        })
    }

    pub fn next_local(&mut self) -> Result<u64, StorageError> {
        let next = match self.meta.get(META_NEXT_LOCAL)? {
            Some(bytes) => read_u64(bytes.value())?,
            None => 0,
        };
        self.meta.insert(
            META_NEXT_LOCAL,
            next.saturating_add(1).to_be_bytes().as_slice(),
        )?;
        Ok(next)
    }

    /// The number for an author, assigned on first sight.
    pub fn author_number(&mut self, identity: &Identity) -> Result<u32, StorageError> {
        if let Some(number) = self.authors.get(&identity.0)? {
            return Ok(number.value());
        }
        let number =
            u32::try_from(self.authors.len()?).map_err(|_| corrupt("more than 2^32 authors"))?;
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
        for entry in self.chains.get((author, seq))? {
            locals.push(entry?.value());
        }
        Ok(locals)
    }

    /// The latest op an author has in this log: (seq, local).
    pub fn latest_by(&self, author: u32) -> Result<Option<(u64, u64)>, StorageError> {
        let mut range = self.chains.range((author, 0)..=(author, u64::MAX))?;
        match range.next_back() {
            Some(entry) => {
                let (key, values) = entry?;
                let seq = key.value().1;
                let mut best = None;
                for value in values {
                    best = Some(value?.value());
                }
                Ok(best.map(|local| (seq, local)))
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
        self.ops.insert(local, bytes)?;
        self.info.insert(local, (depth, author, seq, &hash.0))?;
        self.hashes.insert(&hash.0, local)?;
        let mut clock = Clock::default();
        for parent in parents {
            clock.merge(&self.clock(*parent)?);
            self.children.insert(*parent, local)?;
            self.heads.remove(*parent)?;
        }
        clock.set(author, seq);
        self.clocks.insert(local, clock.encode().as_slice())?;
        self.heads.insert(local, ())?;
        self.chains.insert((author, seq), local)?;
        Ok(local)
    }
}

/// Reads the database id and suite name, if the store has been initialised.
pub(crate) fn read_meta(
    database: &Database,
) -> Result<(Option<DatabaseId>, Option<String>), StorageError> {
    let transaction = database.begin_read()?;
    let meta = match transaction.open_table(META) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok((None, None)),
        Err(error) => return Err(error.into()),
    };
    let database_id = match meta.get(META_DATABASE)? {
        Some(bytes) => {
            let array: [u8; 32] = bytes
                .value()
                .try_into()
                .map_err(|_| corrupt("the database id is not 32 bytes"))?;
            Some(DatabaseId(array))
        }
        None => None,
    };
    let suite = match meta.get(META_SUITE)? {
        Some(bytes) => Some(
            String::from_utf8(bytes.value().to_vec())
                .map_err(|_| corrupt("the suite name is not UTF-8"))?,
        ),
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
        let (local, bytes) = entry?;
        let local = local.value();
        let op = crate::op::Op::decode(bytes.value())
            .map_err(|error| corrupt(format!("op #{local} does not decode: {error}")))?;
        let info = tables
            .info(local)?
            .ok_or_else(|| corrupt(format!("op #{local} has no info")))?;
        if tables.local_of(&info.hash)? != Some(local) {
            return Err(corrupt(format!(
                "op #{local} is missing from the hash index"
            )));
        }
        for parent in &op.parents {
            let parent_local = tables
                .local_of(parent)?
                .ok_or_else(|| corrupt(format!("op #{local} has a missing parent")))?;
            if parent_local >= local {
                return Err(corrupt(format!(
                    "op #{local} was stored before its parent #{parent_local}"
                )));
            }
            with_children.insert(parent_local);
        }
        tables.clock(local)?;
        expected_heads.insert(local);
    }
    let expected_heads: std::collections::BTreeSet<u64> =
        expected_heads.difference(&with_children).copied().collect();
    let mut heads = std::collections::BTreeSet::new();
    for entry in tables.heads.iter()? {
        heads.insert(entry?.0.value());
    }
    if heads != expected_heads {
        return Err(corrupt(format!(
            "heads {heads:?} do not match the ops without children {expected_heads:?}"
        )));
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
        heads.push(
            tables
                .info(local)?
                .ok_or_else(|| corrupt(format!("head #{local} has no info")))?,
        );
    }
    Ok(heads)
}
