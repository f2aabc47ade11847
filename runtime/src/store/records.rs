//! The log's records: each op's hash, depth, author number, sequence number, version vector
//! and canonical bytes, packed into chunks of about one page.
//!
//! A record keeps an op's bytes *compact* when it can: without the database id, schema hash
//! and author key that every op carries near its start (102 of the about 260 bytes of a small
//! op), which the store knows already. The database id is the store's, the author key is the
//! record's author number's, and the schema hash gets a number in `schema_numbers`.
//! [`Record::op_bytes`] puts them back.
//!
//! redb splits a full leaf in two halves, so a table that only appends small values ends up half
//! empty, while one value of nearly a page fills its page: the `ops` table maps the local number
//! of a chunk's first op to the chunk, and a record is found by walking its chunk.

use crate::dag::OpInfo;
use crate::error::{corrupt, StorageError};
use crate::ids::OpHash;
use redb::ReadableTable;
use std::borrow::Cow;

/// The fixed part of a record: hash, depth, author number, seq, length of the clock (u32: a
/// clock holds one entry per author in the op's past, which peers control).
pub(crate) const RECORD_HEADER: usize = 32 + 8 + 4 + 8 + 4;

/// How many bytes of entries a chunk (of op records, of events) holds before a new one starts:
/// a chunk and its leaf's bookkeeping fit one 4 KiB page exactly. A redb leaf holding one entry
/// with a `u64` key takes 16 bytes besides the value (4 of header, 4 for the value's end, 8 of
/// key); one byte more and redb gives the leaf two pages (the per-table figures of the op_log
/// bench would show the table doubling).
pub(crate) const CHUNK_BUDGET: usize = 4_080;

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
    /// The op's bytes as stored: canonical, or compact (see [`Record::op_bytes`]). Either way
    /// they end with the signature.
    pub stored: &'a [u8],
}

/// Where an op's canonical bytes hold its database id, schema hash and author key: three CBOR
/// byte strings of 32 bytes, after the array head and the format version.
const KEYS_END: usize = 2 + 3 * 34;
const KEY_HEAD: [u8; 2] = [0x58, 0x20];
/// What a compact op has where a canonical one has the database id's head (0x58, or 0xf6 for
/// the genesis's null): then the schema number follows, 4 bytes, and the rest of the op.
const COMPACT_MARK: u8 = 0;
/// The bytes a compact op has in place of the three keys: the mark and the schema number.
pub(crate) const COMPACT_HEAD: usize = 2 + 1 + 4;

/// The keys a compact op leaves out.
pub(crate) struct ElidedKeys {
    pub database: [u8; 32],
    pub schema: [u8; 32],
    pub author: [u8; 32],
}

/// Finds what a compact op leaves out: implemented by the transactions' tables.
pub(crate) trait ElidedLookup {
    /// The store's database id, the hash of schema number `schema`, and author `author`'s key.
    fn elided_keys(&self, schema: u32, author: u32) -> Result<ElidedKeys, StorageError>;
}

impl<'a> Record<'a> {
    /// The op's canonical bytes: the stored ones, or a compact op with its keys put back.
    pub fn op_bytes(&self, lookup: &(impl ElidedLookup + ?Sized)) -> Result<Cow<'a, [u8]>, StorageError> {
        let stored = self.stored;
        if stored.get(2) != Some(&COMPACT_MARK) {
            return Ok(Cow::Borrowed(stored));
        }
        let number = stored
            .get(3..COMPACT_HEAD)
            .and_then(|number| <[u8; 4]>::try_from(number).ok())
            .ok_or_else(|| corrupt(format!("op #{} has a truncated record", self.info.local)))?;
        let keys = lookup.elided_keys(u32::from_be_bytes(number), self.info.author)?;
        let mut bytes = Vec::with_capacity(stored.len() - COMPACT_HEAD + KEYS_END);
        bytes.extend_from_slice(&stored[..2]);
        for key in [&keys.database, &keys.schema, &keys.author] {
            bytes.extend_from_slice(&KEY_HEAD);
            bytes.extend_from_slice(key);
        }
        bytes.extend_from_slice(&stored[COMPACT_HEAD..]);
        Ok(Cow::Owned(bytes))
    }
}

/// The schema hash of an op whose canonical bytes hold `database` and `author` where a compact
/// op leaves them out: the op can be stored compact, with that schema's number.
pub(crate) fn compactable<'b>(bytes: &'b [u8], database: &[u8; 32], author: &[u8; 32]) -> Option<&'b [u8; 32]> {
    let keys = bytes.get(2..KEYS_END)?;
    let (database_item, rest) = keys.split_at(34);
    let (schema_item, author_item) = rest.split_at(34);
    let holds = |item: &[u8], key: &[u8; 32]| item[..2] == KEY_HEAD && item[2..] == key[..];
    if !holds(database_item, database) || !holds(author_item, author) || schema_item[..2] != KEY_HEAD {
        return None;
    }
    schema_item[2..].try_into().ok()
}

/// The op's bytes as a compact record stores them, in two parts: a head (array head and
/// version, the mark, the schema number) and the rest of the canonical bytes. For bytes that
/// [`compactable`] accepted (so at least the keys long).
pub(crate) fn compact(bytes: &[u8], schema: u32) -> ([u8; COMPACT_HEAD], &[u8]) {
    let mut head = [0u8; COMPACT_HEAD];
    head[..2].copy_from_slice(&bytes[..2]);
    head[2] = COMPACT_MARK;
    head[3..].copy_from_slice(&schema.to_be_bytes());
    (head, &bytes[KEYS_END..])
}

/// Appends a length-prefixed record to a chunk; the op's stored bytes are given in two parts,
/// one after the other (see [`compact`]).
pub(crate) fn encode_record(
    chunk: &mut Vec<u8>,
    hash: &OpHash,
    depth: u64,
    author: u32,
    seq: u64,
    clock: &[u8],
    [head, tail]: [&[u8]; 2],
) {
    let length = RECORD_HEADER + clock.len() + head.len() + tail.len();
    chunk.extend_from_slice(&(length as u32).to_be_bytes());
    chunk.extend_from_slice(&hash.0);
    chunk.extend_from_slice(&depth.to_be_bytes());
    chunk.extend_from_slice(&author.to_be_bytes());
    chunk.extend_from_slice(&seq.to_be_bytes());
    chunk.extend_from_slice(&(clock.len() as u32).to_be_bytes());
    chunk.extend_from_slice(clock);
    chunk.extend_from_slice(head);
    chunk.extend_from_slice(tail);
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
        stored: &record[RECORD_HEADER + clock_length..],
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
            encode_record(
                &mut chunk,
                &OpHash([index as u8; 32]),
                index + 1,
                0,
                index + 1,
                &[1, 2],
                [&[], &[index as u8; 10]],
            );
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

    /// Canonical bytes shaped like an op's: array head, version, then database, schema and
    /// author as 32-byte byte strings, then the rest.
    fn op_like(database: u8, schema: u8, author: u8) -> Vec<u8> {
        let mut bytes = vec![0x8a, 1];
        for key in [database, schema, author] {
            bytes.extend_from_slice(&KEY_HEAD);
            bytes.extend_from_slice(&[key; 32]);
        }
        bytes.extend_from_slice(b"the rest of the op, then its signature");
        bytes
    }

    struct Keys;

    impl ElidedLookup for Keys {
        fn elided_keys(&self, schema: u32, author: u32) -> Result<ElidedKeys, StorageError> {
            Ok(ElidedKeys { database: [7; 32], schema: [schema as u8; 32], author: [author as u8; 32] })
        }
    }

    #[test]
    fn compact_ops_get_their_keys_back() {
        let bytes = op_like(7, 3, 9);
        let schema = compactable(&bytes, &[7; 32], &[9; 32]).expect("compactable");
        assert_eq!(schema, &[3; 32]);
        let (head, tail) = compact(&bytes, 3);
        let mut chunk = Vec::new();
        encode_record(&mut chunk, &OpHash([1; 32]), 1, 9, 1, &[], [&head, tail]);
        let record = parse_record(0, &chunk[4..]).expect("record");
        assert_eq!(record.stored.len(), bytes.len() - (KEYS_END - COMPACT_HEAD));
        assert_eq!(record.op_bytes(&Keys).expect("expands").as_ref(), bytes.as_slice());
        // Another database or author, or a genesis (null database), is kept whole.
        assert!(compactable(&bytes, &[8; 32], &[9; 32]).is_none());
        assert!(compactable(&bytes, &[7; 32], &[8; 32]).is_none());
        let mut genesis = vec![0x8a, 1, 0xf6];
        genesis.extend_from_slice(&bytes[36..]);
        assert!(compactable(&genesis, &[7; 32], &[9; 32]).is_none());
        let mut chunk = Vec::new();
        encode_record(&mut chunk, &OpHash([1; 32]), 1, 9, 1, &[], [&[], &genesis]);
        let record = parse_record(0, &chunk[4..]).expect("record");
        assert_eq!(record.op_bytes(&Keys).expect("whole").as_ref(), genesis.as_slice());
    }
}
