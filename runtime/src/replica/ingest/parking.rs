//! Ops kept apart from the log: those that wait for missing parents (evicted oldest first when
//! too many wait) and those rejected for good, with every op that waits for a rejected one.

use crate::error::StorageError;
use crate::ids::OpHash;
use crate::op::Op;
use crate::store::{self, WriteTables};
use redb::{ReadableTable, ReadableTableMetadata};

/// Parks an op: stores it apart with its arrival number. When `limit` ops already wait, the
/// oldest is evicted (and forgotten: a peer offers it again once its parents are known).
pub(super) fn park(tables: &mut WriteTables, hash: &OpHash, bytes: &[u8], limit: u64) -> Result<(), StorageError> {
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
pub(super) fn unpark(tables: &mut WriteTables, hash: &OpHash) -> Result<Option<Vec<u8>>, StorageError> {
    let Some(record) = tables.parked.remove(&hash.0)?.map(|record| record.value().to_vec()) else { return Ok(None) };
    if record.len() < 8 {
        return Err(StorageError::Corrupt("a parked op has no arrival number".into()));
    }
    let (arrival, bytes) = record.split_at(8);
    tables.parked_queue.remove(store::read_u64(arrival)?)?;
    Ok(Some(bytes.to_vec()))
}

/// Records an op as rejected for good, and with it every parked op that waits for it.
pub(super) fn reject(tables: &mut WriteTables, hash: OpHash, reason: &str) -> Result<(), StorageError> {
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
