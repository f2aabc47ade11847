//! The log's records: each op's hash, depth, author number, sequence number, version vector
//! and canonical bytes, packed into chunks of about one page.
//!
//! redb splits a full leaf in two halves, so a table that only appends small values ends up half
//! empty, while one value of nearly a page fills its page: the `ops` table maps the local number
//! of a chunk's first op to the chunk, and a record is found by walking its chunk.

use crate::dag::OpInfo;
use crate::error::{corrupt, StorageError};
use crate::ids::OpHash;
use redb::ReadableTable;

/// The fixed part of a record: hash, depth, author number, seq, length of the clock (u32: a
/// clock holds one entry per author in the op's past, which peers control).
pub(crate) const RECORD_HEADER: usize = 32 + 8 + 4 + 8 + 4;

/// How many bytes of entries a chunk (of op records, of events) holds before a new one starts:
/// a chunk and its leaf's bookkeeping fit one 4 KiB page.
pub(crate) const CHUNK_BUDGET: usize = 3_900;

/// The chunk a write transaction appends to, in a table of chunks keyed by their first entry's
/// number (op records, events): the table's last chunk, reopened if the next entry fits, or a
/// new one; written when the next entry does not fit and by [`OpenChunk::finish`]. Chunks fill
/// across transactions.
#[derive(Default)]
pub(crate) struct OpenChunk {
    open: Option<(u64, Vec<u8>)>,
}

impl OpenChunk {
    /// The open chunk, if it would hold the entry numbered `number`: its first number and bytes.
    pub fn holding(&self, number: u64) -> Option<(u64, &[u8])> {
        match &self.open {
            Some((start, chunk)) if number >= *start => Some((*start, chunk.as_slice())),
            _ => None,
        }
    }

    /// Appends the entry numbered `number`, of `length` bytes, which `write` adds to the chunk.
    pub fn push(
        &mut self,
        table: &mut redb::Table<u64, &'static [u8]>,
        number: u64,
        length: usize,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), StorageError> {
        if self.open.is_none() {
            self.open = table.last()?.and_then(|(start, chunk)| {
                let chunk = chunk.value();
                (chunk.len() + length <= CHUNK_BUDGET).then(|| {
                    let mut open = Vec::with_capacity(CHUNK_BUDGET);
                    open.extend_from_slice(chunk);
                    (start.value(), open)
                })
            });
        }
        match &mut self.open {
            Some((_, chunk)) if chunk.len() + length <= CHUNK_BUDGET => write(chunk),
            open => {
                if let Some((start, chunk)) = open.take() {
                    table.insert(start, chunk.as_slice())?;
                }
                let mut chunk = Vec::with_capacity(CHUNK_BUDGET.max(length));
                write(&mut chunk);
                *open = Some((number, chunk));
            }
        }
        Ok(())
    }

    /// Writes the open chunk.
    pub fn finish(&mut self, table: &mut redb::Table<u64, &'static [u8]>) -> Result<(), StorageError> {
        if let Some((start, chunk)) = self.open.take() {
            table.insert(start, chunk.as_slice())?;
        }
        Ok(())
    }
}

/// One op as the log keeps it.
pub(crate) struct Record<'a> {
    pub info: OpInfo,
    /// The encoded version vector of the op's causal past.
    pub clock: &'a [u8],
    /// The op's canonical bytes.
    pub bytes: &'a [u8],
}

/// Appends a length-prefixed record to a chunk.
pub(crate) fn encode_record(
    chunk: &mut Vec<u8>,
    hash: &OpHash,
    depth: u64,
    author: u32,
    seq: u64,
    clock: &[u8],
    bytes: &[u8],
) {
    let length = RECORD_HEADER + clock.len() + bytes.len();
    chunk.extend_from_slice(&(length as u32).to_be_bytes());
    chunk.extend_from_slice(&hash.0);
    chunk.extend_from_slice(&depth.to_be_bytes());
    chunk.extend_from_slice(&author.to_be_bytes());
    chunk.extend_from_slice(&seq.to_be_bytes());
    chunk.extend_from_slice(&(clock.len() as u32).to_be_bytes());
    chunk.extend_from_slice(clock);
    chunk.extend_from_slice(bytes);
}

/// Reads a record (without its length prefix).
pub(crate) fn parse_record(local: u64, record: &[u8]) -> Result<Record<'_>, StorageError> {
    if record.len() < RECORD_HEADER {
        return Err(corrupt(format!("op #{local} has a truncated record")));
    }
    let number =
        |range: std::ops::Range<usize>| record[range].iter().fold(0u64, |value, byte| value << 8 | u64::from(*byte));
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&record[..32]);
    let clock_length = number(52..56) as usize;
    if record.len() < RECORD_HEADER + clock_length {
        return Err(corrupt(format!("op #{local} has a truncated clock")));
    }
    let info =
        OpInfo { local, hash: OpHash(hash), depth: number(32..40), author: number(40..44) as u32, seq: number(44..52) };
    Ok(Record {
        info,
        clock: &record[RECORD_HEADER..RECORD_HEADER + clock_length],
        bytes: &record[RECORD_HEADER + clock_length..],
    })
}

/// The records of a chunk whose first op has local number `start`, in order.
pub(crate) fn chunk_records(chunk: &[u8], start: u64) -> Result<Vec<(u64, &[u8])>, StorageError> {
    let mut records = Vec::new();
    let mut rest = chunk;
    let mut local = start;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt(format!("the chunk at #{start} ends inside a length")));
        }
        let length = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let record =
            rest.get(4..4 + length).ok_or_else(|| corrupt(format!("the chunk at #{start} ends inside op #{local}")))?;
        records.push((local, record));
        rest = &rest[4 + length..];
        local += 1;
    }
    Ok(records)
}

/// Where the record of `local` lies in a chunk starting at `start` (without its length
/// prefix), if the chunk holds it.
fn record_span(chunk: &[u8], start: u64, local: u64) -> Result<Option<std::ops::Range<usize>>, StorageError> {
    let Some(index) = local.checked_sub(start) else { return Ok(None) };
    let mut offset = 0usize;
    for position in 0..=index {
        let Some(prefix) = chunk.get(offset..offset + 4) else { return Ok(None) };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let end = offset + 4 + length;
        if end > chunk.len() {
            return Err(corrupt(format!("the chunk at #{start} is truncated")));
        }
        if position == index {
            return Ok(Some(offset + 4..end));
        }
        offset = end;
    }
    Ok(None)
}

/// The record of `local` in a chunk starting at `start`, if the chunk holds it.
pub(crate) fn find_record(chunk: &[u8], start: u64, local: u64) -> Result<Option<&[u8]>, StorageError> {
    Ok(record_span(chunk, start, local)?.map(|span| &chunk[span]))
}

/// What [`set_signature`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patched {
    /// The record was the op's, and holds the signature now.
    Done,
    /// The chunk holds `local`, but another op than the one to sign.
    NotThisOp,
    /// The chunk does not hold `local`.
    NotInChunk,
}

/// Overwrites the signature of `local`'s record (the last 64 bytes of its op's canonical
/// bytes) in a chunk starting at `start`, if the record is that of the op with this hash.
pub(crate) fn set_signature(
    chunk: &mut [u8],
    start: u64,
    local: u64,
    hash: &OpHash,
    signature: &[u8; 64],
) -> Result<Patched, StorageError> {
    let Some(span) = record_span(chunk, start, local)? else { return Ok(Patched::NotInChunk) };
    if span.len() < RECORD_HEADER + signature.len() {
        return Err(corrupt(format!("the chunk at #{start} is truncated")));
    }
    if chunk[span.start..span.start + 32] != hash.0 {
        return Ok(Patched::NotThisOp);
    }
    chunk[span.end - signature.len()..span.end].copy_from_slice(signature);
    Ok(Patched::Done)
}

/// The hash index's key prefix for an op hash.
pub(crate) fn hash_prefix(hash: &OpHash) -> u64 {
    let mut prefix = [0u8; 8];
    prefix.copy_from_slice(&hash.0[..8]);
    u64::from_be_bytes(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_consecutive_records() {
        let mut chunk = Vec::new();
        for index in 0..5u64 {
            encode_record(&mut chunk, &OpHash([index as u8; 32]), index + 1, 0, index + 1, &[1, 2], &[index as u8; 10]);
        }
        let records = chunk_records(&chunk, 10).expect("parses");
        assert_eq!(records.len(), 5);
        let third = parse_record(12, records[2].1).expect("record");
        assert_eq!((third.info.local, third.info.depth, third.info.hash), (12, 3, OpHash([2; 32])));
        assert_eq!(find_record(&chunk, 10, 14).expect("ok").map(|record| record.len()), Some(records[4].1.len()));
        assert_eq!(find_record(&chunk, 10, 15).expect("ok"), None);
        assert_eq!(find_record(&chunk, 10, 9).expect("ok"), None);
        assert!(chunk_records(&chunk[..chunk.len() - 3], 10).is_err());
    }
}
