//! Causality in the op DAG: each op's metadata ([`OpInfo`]), the version vector of its causal
//! past ([`Clock`]), and whether one op is an ancestor of another, over any store that can look
//! ops up ([`Causality`]).

use crate::error::{corrupt, StorageError};
use crate::ids::OpHash;

/// What the log keeps about each op besides its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpInfo {
    pub local: u64,
    pub depth: u64,
    pub author: u32,
    pub seq: u64,
    pub hash: OpHash,
}

/// A version vector: for each author number, the highest sequence number in a causal past.
/// Sorted by author number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Clock(pub Vec<(u32, u64)>);

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

    /// Pairs of LEB128 varints (author number, seq): small numbers take one or two bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.0.len() * 4);
        for (author, seq) in &self.0 {
            write_varint(&mut bytes, u64::from(*author));
            write_varint(&mut bytes, *seq);
        }
        bytes
    }

    pub fn decode(mut bytes: &[u8]) -> Result<Clock, StorageError> {
        let mut entries = Vec::new();
        while !bytes.is_empty() {
            let author = read_varint(&mut bytes)?;
            let seq = read_varint(&mut bytes)?;
            let author = u32::try_from(author).map_err(|_| corrupt("a clock names an author number over 2^32"))?;
            entries.push((author, seq));
        }
        Ok(Clock(entries))
    }
}

fn write_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push(value as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

fn read_varint(bytes: &mut &[u8]) -> Result<u64, StorageError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or_else(|| corrupt("a clock ends inside a number"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("a clock number is longer than 64 bits"))
}

/// What ancestry questions need from a store: ops by hash and by local number, their clocks and
/// parents, and the authors who forked their chains.
pub(crate) trait Causality {
    fn local_of(&self, hash: &OpHash) -> Result<Option<u64>, StorageError>;
    fn info(&self, local: u64) -> Result<Option<OpInfo>, StorageError>;
    fn clock(&self, local: u64) -> Result<Clock, StorageError>;
    fn parents(&self, local: u64) -> Result<Vec<u64>, StorageError>;
    /// The lowest sequence number at which an author signed two ops, if it did.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_round_trip_and_reject_truncation() {
        let clock = Clock(vec![(0, 1), (7, 300), (u32::MAX, u64::MAX)]);
        let bytes = clock.encode();
        assert_eq!(Clock::decode(&bytes).expect("decodes"), clock);
        assert!(Clock::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut merged = Clock(vec![(1, 5)]);
        merged.merge(&Clock(vec![(0, 2), (1, 3), (4, 9)]));
        assert_eq!(merged, Clock(vec![(0, 2), (1, 5), (4, 9)]));
        assert_eq!(merged.get(4), 9);
        assert_eq!(merged.get(3), 0);
    }
}
