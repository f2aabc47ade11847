//! What a sync session reads from a replica: a summary of its ops, the fingerprints and ops of
//! ranges of the op order, the ops a peer lacks when the peer's heads are known, and ops by
//! their local number (for sending, and for pushing new ops to live peers).

use super::deferred::is_unsigned;
use super::Replica;
use crate::dag::{Causality, OpInfo};
use crate::error::StorageError;
use crate::ids::OpHash;
use crate::store::{read_heads, Bound, InfoLookup, ReadTables, SetSum};
use std::collections::HashSet;

/// An op as sync sends it: its local number (the order this replica stored it, parents first),
/// hash and bytes.
pub(crate) struct StoredOp {
    pub local: u64,
    pub hash: OpHash,
    pub bytes: Vec<u8>,
}

/// A replica's ops, summarized for a hello.
pub(crate) struct Summary {
    pub count: u64,
    pub fingerprint: [u8; 16],
    pub heads: Vec<OpHash>,
}

impl Replica {
    /// How many ops the replica holds, their fingerprint, and its heads.
    pub(crate) fn sync_summary(&self) -> Result<Summary, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let sum = tables.items().sum(Bound::START, Bound::END)?;
        let mut heads: Vec<OpHash> = read_heads(&tables)?.into_iter().map(|info| info.hash).collect();
        heads.sort();
        Ok(Summary { count: sum.count, fingerprint: sum.fingerprint(), heads })
    }

    /// Whether the replica holds every one of these ops.
    pub(crate) fn holds_all(&self, hashes: &[OpHash]) -> Result<bool, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        for hash in hashes {
            if tables.local_of(hash)?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The count and hash sum of the ops in a range.
    pub(crate) fn range_sum(&self, lower: Bound, upper: Bound) -> Result<SetSum, StorageError> {
        let transaction = self.begin_read()?;
        ReadTables::open(&transaction, &self.recent)?.items().sum(lower, upper)
    }

    /// The hashes of the ops in a range, in order.
    pub(crate) fn range_hashes(&self, lower: Bound, upper: Bound) -> Result<Vec<OpHash>, StorageError> {
        let transaction = self.begin_read()?;
        let items = ReadTables::open(&transaction, &self.recent)?.items().list(lower, upper)?;
        Ok(items.into_iter().map(|(_, hash)| hash).collect())
    }

    /// Splits a range into at most `parts` consecutive ranges: by depth when it spans several
    /// depths (every depth holds at least one op, so this balances them roughly), by the ops'
    /// hashes within one depth.
    pub(crate) fn split_range(
        &self,
        lower: Bound,
        upper: Bound,
        parts: u64,
    ) -> Result<Vec<(Bound, Bound)>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let items = tables.items();
        let end_depth = upper.depth.min(items.max_depth()?.saturating_add(1));
        let first_whole = if lower.hash == [0; 32] { lower.depth } else { lower.depth + 1 };
        let mut bounds = vec![lower];
        if end_depth > first_whole + 1 {
            let span = end_depth - first_whole;
            let width = span.div_ceil(parts.max(1));
            let mut depth = first_whole;
            while depth < end_depth {
                bounds.push(Bound::new(depth));
                depth = depth.saturating_add(width);
            }
        } else {
            // One depth (or part of one): split its ops by hash.
            let ops = items.list(lower, upper)?;
            let size = (ops.len() as u64).div_ceil(parts.max(1)).max(1) as usize;
            for group in ops.chunks(size).skip(1) {
                let (depth, hash) = group[0];
                bounds.push(Bound { depth, hash: hash.0 });
            }
        }
        bounds.push(upper);
        bounds.dedup();
        bounds.retain(|bound| *bound >= lower && *bound <= upper);
        Ok(bounds.windows(2).filter(|pair| pair[0] < pair[1]).map(|pair| (pair[0], pair[1])).collect())
    }

    /// The local numbers of the ops this replica holds that are not in the causal past of
    /// `heads` (nor among them), parents first: what a peer whose heads these are lacks. Every
    /// head must be held here. With no heads, every op.
    pub(crate) fn locals_missing_from(&self, heads: &[OpHash]) -> Result<Vec<u64>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        if heads.is_empty() {
            return Ok((0..tables.op_count()?).collect());
        }
        let mut theirs: Vec<OpInfo> = Vec::with_capacity(heads.len());
        for head in heads {
            let local = tables.local_of(head)?.ok_or_else(|| StorageError::Corrupt(format!("head {head} vanished")))?;
            theirs.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} has no info")))?);
        }
        // Walk down from our heads; stop at ops in their past.
        let mut stack: Vec<u64> = read_heads(&tables)?.into_iter().map(|info| info.local).collect();
        let mut seen: HashSet<u64> = stack.iter().copied().collect();
        let mut missing = Vec::new();
        while let Some(local) = stack.pop() {
            let info = tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} has no info")))?;
            let mut known = false;
            for head in &theirs {
                if head.local == local || tables.is_ancestor(&info, head)? {
                    known = true;
                    break;
                }
            }
            if known {
                continue;
            }
            missing.push(local);
            for parent in tables.parents(local)? {
                if seen.insert(parent) {
                    stack.push(parent);
                }
            }
        }
        missing.sort_unstable();
        Ok(missing)
    }

    /// The local numbers of those of these ops that the replica holds, in order.
    pub(crate) fn locals_of(&self, hashes: &[OpHash]) -> Result<Vec<u64>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let mut locals = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(local) = tables.local_of(hash)? {
                locals.push(local);
            }
        }
        locals.sort_unstable();
        locals.dedup();
        Ok(locals)
    }

    /// Ops by local number (sorted), with their hashes and bytes. Deferred writes are flushed
    /// first, and an op written unsigned since is left out: only signed, durable ops leave.
    pub(crate) fn ops_by_local(&self, locals: &[u64]) -> Result<Vec<StoredOp>, StorageError> {
        self.flush()?;
        let mut ops = self.stored_ops(locals)?;
        ops.retain(|op| !is_unsigned(&op.bytes));
        Ok(ops)
    }

    fn stored_ops(&self, locals: &[u64]) -> Result<Vec<StoredOp>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let (Some(first), Some(last)) = (locals.first(), locals.last()) else { return Ok(Vec::new()) };
        let mut ops = Vec::with_capacity(locals.len());
        // Few ops spread over much of the log (a peer's scattered wants): one lookup each,
        // rather than a pass over everything between them.
        if last - first >= 8 * locals.len() as u64 {
            for local in locals {
                if let Some((info, bytes)) = tables.op_record(*local)? {
                    ops.push(StoredOp { local: *local, hash: info.hash, bytes });
                }
            }
            return Ok(ops);
        }
        let mut wanted = locals.iter().peekable();
        tables.for_each_record_in(*first..=*last, |record| {
            while wanted.peek().is_some_and(|local| **local < record.info.local) {
                wanted.next();
            }
            if wanted.peek() == Some(&&record.info.local) {
                let bytes = record.op_bytes(&tables)?.into_owned();
                ops.push(StoredOp { local: record.info.local, hash: record.info.hash, bytes });
            }
            Ok(())
        })?;
        Ok(ops)
    }

    /// The local number the next op stored here will get: ops with a smaller one are held.
    pub(crate) fn next_local(&self) -> Result<u64, StorageError> {
        let transaction = self.begin_read()?;
        ReadTables::open(&transaction, &self.recent)?.op_count()
    }
}
