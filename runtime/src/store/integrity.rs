//! Checking that the log's tables agree with each other: every op present once, stored after
//! its parents, in the hash index, and the heads exactly the ops without children.

use super::transaction::ReadTables;
use crate::dag::{Causality, Clock, OpInfo};
use crate::error::{corrupt, StorageError};
use redb::{Database, ReadableDatabase, ReadableTable};

/// Checks that the tables agree with each other; returns a description of the first problem.
pub(crate) fn check_integrity(database: &Database, recent: &super::Recent) -> Result<(), StorageError> {
    let transaction = database.begin_read()?;
    let tables = ReadTables::open(&transaction, recent)?;
    let mut expected_heads = std::collections::BTreeSet::new();
    let mut with_children = std::collections::BTreeSet::new();
    let mut next_local = 0;
    tables.for_each_record(|record| {
        let local = record.info.local;
        if local != next_local {
            return Err(corrupt(format!("op #{next_local} is missing from the chunks")));
        }
        next_local += 1;
        let op = crate::op::Op::decode(&record.op_bytes(&tables)?)
            .map_err(|error| corrupt(format!("op #{local} does not decode: {error}")))?;
        if tables.local_of(&record.info.hash)? != Some(local) {
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
        Clock::decode(record.clock)?;
        expected_heads.insert(local);
        Ok(())
    })?;
    let expected_heads: std::collections::BTreeSet<u64> = expected_heads.difference(&with_children).copied().collect();
    let mut heads = std::collections::BTreeSet::new();
    for entry in tables.heads.iter()? {
        heads.insert(entry?.0.value());
    }
    if heads != expected_heads {
        return Err(corrupt(format!("heads {heads:?} do not match the ops without children {expected_heads:?}")));
    }
    if tables.hashes.len()? != next_local {
        return Err(corrupt("the hash index and the op chunks differ in size"));
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
