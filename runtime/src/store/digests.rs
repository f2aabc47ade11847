//! The op set as sync reconciles it: items `(depth, op hash)` in order. The `depths` table
//! lists them; `depth_sums` keeps, for buckets of 64, 64², 64³ and 64⁴ consecutive depths, the
//! count of their ops and the sum of their hashes (as 256-bit little-endian integers, modulo
//! 2²⁵⁶), so that the sum over any range of items is a few hundred reads at most, whatever the
//! size of the log (docs/SPEC.md §5.2). Every depth from 1 to the greatest holds at least one op
//! (an op at depth d has a parent at d − 1), so ranges of depths are ranges of ops too.

use crate::error::{corrupt, StorageError};
use crate::ids::OpHash;
use redb::ReadableTable;
use std::collections::HashMap;

/// log2 of the number of depths (or buckets) a bucket of the next level holds.
const FANOUT_BITS: u32 = 6;
/// Bucket levels kept: 1 (64 depths) to 4 (64⁴ depths).
const LEVELS: u32 = 4;

/// A position in the item order: an op sorts before a bound when its `(depth, hash)` is less.
/// `Bound::new(d)` is the start of depth `d`; [`Bound::END`] is after every op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bound {
    /// The depth.
    pub depth: u64,
    /// Within the depth, the first op hash at or after the bound.
    pub hash: [u8; 32],
}

impl Bound {
    /// Before every op.
    pub const START: Bound = Bound { depth: 0, hash: [0; 32] };
    /// After every op.
    pub const END: Bound = Bound { depth: u64::MAX, hash: [0xff; 32] };

    /// The start of a depth.
    pub fn new(depth: u64) -> Bound {
        Bound { depth, hash: [0; 32] }
    }

    /// Whether an op sorts before the bound.
    pub fn after(&self, depth: u64, hash: &OpHash) -> bool {
        (depth, &hash.0) < (self.depth, &self.hash)
    }
}

/// The count and hash sum of a set of ops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetSum {
    /// How many ops.
    pub count: u64,
    /// The sum of their hashes, a 256-bit little-endian integer modulo 2²⁵⁶.
    pub sum: [u8; 32],
}

impl SetSum {
    /// Adds one op.
    pub fn add(&mut self, hash: &OpHash) {
        self.count += 1;
        add_into(&mut self.sum, &hash.0);
    }

    /// Adds another set (disjoint from this one).
    pub fn merge(&mut self, other: &SetSum) {
        self.count += other.count;
        add_into(&mut self.sum, &other.sum);
    }

    /// The 16-byte fingerprint sync compares: the first 16 bytes of
    /// blake3(count as 8 bytes little-endian ‖ sum).
    pub fn fingerprint(&self) -> [u8; 16] {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&self.count.to_le_bytes());
        hasher.update(&self.sum);
        let mut fingerprint = [0; 16];
        fingerprint.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        fingerprint
    }

    fn encode(&self) -> [u8; 40] {
        let mut bytes = [0; 40];
        bytes[..8].copy_from_slice(&self.count.to_be_bytes());
        bytes[8..].copy_from_slice(&self.sum);
        bytes
    }

    fn decode(bytes: &[u8]) -> Result<SetSum, StorageError> {
        let bytes: &[u8; 40] = bytes.try_into().map_err(|_| corrupt("a depth sum is not 40 bytes"))?;
        let mut count = [0; 8];
        count.copy_from_slice(&bytes[..8]);
        let mut sum = [0; 32];
        sum.copy_from_slice(&bytes[8..]);
        Ok(SetSum { count: u64::from_be_bytes(count), sum })
    }
}

fn add_into(sum: &mut [u8; 32], addend: &[u8; 32]) {
    let mut carry = 0u16;
    for (byte, other) in sum.iter_mut().zip(addend) {
        let total = u16::from(*byte) + u16::from(*other) + carry;
        *byte = total as u8;
        carry = total >> 8;
    }
}

/// The buckets an op at `depth` counts in, one per level.
fn buckets(depth: u64) -> impl Iterator<Item = (u8, u64)> {
    (1..=LEVELS).map(move |level| (level as u8, depth >> (FANOUT_BITS * level)))
}

/// A transaction's additions to `depth_sums`, written together when it ends.
#[derive(Debug, Default)]
pub(crate) struct PendingSums(HashMap<(u8, u64), SetSum>);

impl PendingSums {
    pub fn add(&mut self, depth: u64, hash: &OpHash) {
        for bucket in buckets(depth) {
            self.0.entry(bucket).or_default().add(hash);
        }
    }

    /// Adds the pending sums to their buckets' rows.
    pub fn write(self, table: &mut redb::Table<(u8, u64), &[u8]>) -> Result<(), StorageError> {
        let mut pending: Vec<((u8, u64), SetSum)> = self.0.into_iter().collect();
        pending.sort_unstable_by_key(|(bucket, _)| *bucket);
        for (bucket, addition) in pending {
            let mut sum = match table.get(bucket)? {
                Some(bytes) => SetSum::decode(bytes.value())?,
                None => SetSum::default(),
            };
            sum.merge(&addition);
            table.insert(bucket, sum.encode().as_slice())?;
        }
        Ok(())
    }
}

/// Reads over the item order, from a read or a write transaction.
pub(crate) struct Items<'t, D, S> {
    pub depths: &'t D,
    pub sums: &'t S,
}

impl<D, S> Items<'_, D, S>
where
    D: ReadableTable<(u64, u64), &'static [u8; 32]>,
    S: ReadableTable<(u8, u64), &'static [u8]>,
{
    /// The ops in `[lower, upper)`, in order. For small ranges: it reads every op.
    pub fn list(&self, lower: Bound, upper: Bound) -> Result<Vec<(u64, OpHash)>, StorageError> {
        let mut items = Vec::new();
        if lower >= upper {
            return Ok(items);
        }
        let last_depth = upper.depth.saturating_add(1);
        for entry in self.depths.range((lower.depth, 0)..(last_depth, 0))? {
            let (key, hash) = entry?;
            let (depth, _) = key.value();
            let hash = OpHash(*hash.value());
            if !lower.after(depth, &hash) && upper.after(depth, &hash) {
                items.push((depth, hash));
            }
        }
        items.sort_unstable();
        Ok(items)
    }

    /// The count and hash sum of the ops in `[lower, upper)`.
    pub fn sum(&self, lower: Bound, upper: Bound) -> Result<SetSum, StorageError> {
        let mut total = SetSum::default();
        // No op lies beyond the greatest depth, so the range can end there.
        let upper = upper.min(Bound::new(self.max_depth()?.saturating_add(1)));
        if lower >= upper {
            return Ok(total);
        }
        if lower.depth == upper.depth || (lower.hash != [0; 32] && lower.depth + 1 == upper.depth) {
            for (_, hash) in self.list(lower, upper)? {
                total.add(&hash);
            }
            return Ok(total);
        }
        // A partial first depth, whole depths, a partial last depth.
        let mut first_whole = lower.depth;
        if lower.hash != [0; 32] {
            for (_, hash) in self.list(lower, Bound::new(lower.depth + 1))? {
                total.add(&hash);
            }
            first_whole += 1;
        }
        let end_whole = upper.depth;
        total.merge(&self.whole_depths(first_whole, end_whole)?);
        if upper.hash != [0; 32] {
            for (_, hash) in self.list(Bound::new(upper.depth), upper)? {
                total.add(&hash);
            }
        }
        Ok(total)
    }

    /// The sum over the depths `[start, end)`: whole buckets where they fit, single depths at
    /// the edges.
    fn whole_depths(&self, start: u64, end: u64) -> Result<SetSum, StorageError> {
        let mut total = SetSum::default();
        let mut position = start;
        while position < end {
            let level = (1..=LEVELS).rev().find(|level| {
                let width = 1u64 << (FANOUT_BITS * level);
                position.is_multiple_of(width) && position.checked_add(width).is_some_and(|next| next <= end)
            });
            match level {
                Some(level) => {
                    if let Some(bytes) = self.sums.get((level as u8, position >> (FANOUT_BITS * level)))? {
                        total.merge(&SetSum::decode(bytes.value())?);
                    }
                    position += 1u64 << (FANOUT_BITS * level);
                }
                None => {
                    let next = ((position >> FANOUT_BITS) + 1).checked_shl(FANOUT_BITS).unwrap_or(u64::MAX).min(end);
                    for entry in self.depths.range((position, 0)..(next, 0))? {
                        total.add(&OpHash(*entry?.1.value()));
                    }
                    position = next;
                }
            }
        }
        Ok(total)
    }

    /// The greatest depth of any op, 0 when there is none.
    pub fn max_depth(&self) -> Result<u64, StorageError> {
        Ok(self.depths.last()?.map_or(0, |(key, _)| key.value().0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_add_with_carry_and_fingerprints_depend_on_the_count() {
        let mut sum = SetSum::default();
        sum.add(&OpHash([0xff; 32]));
        sum.add(&OpHash([1; 32]));
        // 0xff..ff + 0x0101..01 = 0x0101..0100 (mod 2^256): each byte 0 with a carry, plus 1.
        let mut expected = [1u8; 32];
        expected[0] = 0;
        assert_eq!(sum.sum, expected);
        assert_eq!(sum.count, 2);
        let other = SetSum { count: 3, sum: sum.sum };
        assert_ne!(sum.fingerprint(), other.fingerprint());
        assert_eq!(SetSum::decode(&sum.encode()).expect("decodes"), sum);
    }

    #[test]
    fn bounds_order_ops_by_depth_then_hash() {
        let bound = Bound { depth: 5, hash: [0x80; 32] };
        assert!(bound.after(4, &OpHash([0xff; 32])));
        assert!(bound.after(5, &OpHash([0x7f; 32])));
        assert!(!bound.after(5, &OpHash([0x80; 32])));
        assert!(!bound.after(6, &OpHash([0; 32])));
        assert!(Bound::END.after(u64::MAX - 1, &OpHash([0xff; 32])));
    }
}
