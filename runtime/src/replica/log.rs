//! Reading the log: every op parents first, the ops a peer lacks, heads, ancestry,
//! equivocators, the space the store takes, and the integrity check.

use super::deferred::is_unsigned;
use super::Replica;
use crate::dag::Causality;
use crate::engine::Engine;
use crate::error::{ExportError, StorageError};
use crate::ids::{Identity, OpHash};
use crate::op::Op;
use crate::store::{self, ReadTables, WriteTables};
use redb::ReadableTable;

impl Replica {
    /// Every op, parents first (the order this replica stored them in), as verified ops.
    /// Deferred writes are flushed first (see [`Replica::write_deferred`]).
    pub fn log(&self) -> Result<Vec<LoggedOp>, StorageError> {
        self.flush()?;
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let mut log = Vec::new();
        tables.for_each_record(|record| {
            if is_unsigned(record.stored) {
                return Ok(());
            }
            let bytes = record.op_bytes(&tables)?.into_owned();
            let op = Op::decode(&bytes).map_err(|error| StorageError::Corrupt(error.to_string()))?;
            let effective = tables.ineffective.get(record.info.local)?.is_none();
            log.push(LoggedOp { hash: record.info.hash, op, bytes, effective });
            Ok(())
        })?;
        Ok(log)
    }

    /// The canonical bytes of every op not in the causal past of `since` (nor in it),
    /// parents first. With no `since`, every op. A `since` hash this replica does not hold is
    /// an error: what the reader lacks cannot be told from it. Deferred writes are flushed
    /// first.
    pub fn export(&self, since: &[OpHash]) -> Result<Vec<Vec<u8>>, ExportError> {
        self.flush()?;
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let mut known = Vec::new();
        for hash in since {
            let local = tables.local_of(hash)?.ok_or(ExportError::UnknownSince { op: *hash })?;
            known.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt("op without info".into()))?);
        }
        let mut exported = Vec::new();
        tables.for_each_record(|record| {
            if is_unsigned(record.stored) {
                return Ok(());
            }
            for head in &known {
                if head.local == record.info.local || tables.is_ancestor(&record.info, head)? {
                    return Ok(());
                }
            }
            exported.push(record.op_bytes(&tables)?.into_owned());
            Ok(())
        })?;
        Ok(exported)
    }

    /// The hashes of the ops without children.
    pub fn heads(&self) -> Result<Vec<OpHash>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let mut heads: Vec<OpHash> = store::read_heads(&tables)?.into_iter().map(|info| info.hash).collect();
        heads.sort();
        Ok(heads)
    }

    /// Whether the log holds an op.
    pub fn contains(&self, hash: &OpHash) -> Result<bool, StorageError> {
        let transaction = self.begin_read()?;
        Ok(ReadTables::open(&transaction, &self.recent)?.local_of(hash)?.is_some())
    }

    /// How many ops the log holds.
    pub fn op_count(&self) -> Result<u64, StorageError> {
        let transaction = self.begin_read()?;
        ReadTables::open(&transaction, &self.recent)?.op_count()
    }

    /// Whether op `ancestor` is in the causal past of op `descendant`; `None` if either is
    /// unknown.
    pub fn is_ancestor(&self, ancestor: &OpHash, descendant: &OpHash) -> Result<Option<bool>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
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
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
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

    /// How much space the store uses: pages allocated, the bytes of keys and values in them,
    /// and the same per table.
    pub fn storage_usage(&self) -> Result<StorageUsage, StorageError> {
        let transaction = self.begin_write()?;
        let stats = transaction.stats()?;
        let page_size = stats.page_size() as u64;
        let tables = {
            let tables = WriteTables::open(&transaction, &self.recent)?;
            tables
                .stats()?
                .into_iter()
                .map(|(name, state, table)| TableUsage {
                    name,
                    state,
                    // What its pages hold, used and not: redb counts a page of two or more
                    // pages' size (a leaf grown past one page) as one in `leaf_pages`.
                    page_bytes: table.stored_bytes() + table.metadata_bytes() + table.fragmented_bytes(),
                    stored_bytes: table.stored_bytes(),
                    fragmented_bytes: table.fragmented_bytes(),
                })
                .collect::<Vec<_>>()
        };
        let usage = StorageUsage {
            allocated_bytes: stats.allocated_pages() * page_size,
            state_bytes: tables.iter().filter(|table| table.state).map(|table| table.page_bytes).sum(),
            stored_bytes: stats.stored_bytes(),
            metadata_bytes: stats.metadata_bytes(),
            fragmented_bytes: stats.fragmented_bytes(),
            tables,
        };
        transaction.abort()?;
        Ok(usage)
    }

    /// Checks that the store's tables agree with each other: the log's indexes, and the
    /// materialized rows against the ops that write them (this reads every row).
    pub fn check_integrity(&self) -> Result<(), StorageError> {
        self.flush()?;
        store::check_integrity(&self.database, &self.recent)?;
        let transaction = self.begin_write()?;
        {
            let tables = WriteTables::open(&transaction, &self.recent)?;
            if let Some(founder) = self.founder(&tables)? {
                Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder).verify(&tables)?;
            }
        }
        transaction.abort()?;
        Ok(())
    }
}

/// The space a store takes (see [`Replica::storage_usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The same figures for each table, in the store's order.
    pub tables: Vec<TableUsage>,
}

/// The space one table takes (see [`StorageUsage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUsage {
    /// The table's name in the store.
    pub name: &'static str,
    /// Whether it holds state (rows, their indexes, verdicts and events) rather than the log.
    pub state: bool,
    /// Its pages (leaves and branches), whole.
    pub page_bytes: u64,
    /// Bytes of its keys and values.
    pub stored_bytes: u64,
    /// Unused bytes inside its pages.
    pub fragmented_bytes: u64,
}

/// An op as the log lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedOp {
    /// The op's hash.
    pub hash: OpHash,
    /// The op.
    pub op: Op,
    /// Its canonical bytes, as stored and sent.
    pub bytes: Vec<u8>,
    /// Whether it is effective now (see [`Replica::explain`] for why or why not).
    pub effective: bool,
}
