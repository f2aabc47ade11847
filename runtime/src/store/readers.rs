//! The ops whose verdict can depend on a collection's rows, kept as runs of each author's
//! sequence numbers: (collection key, author, first seq) → last seq.
//!
//! An author's ops mostly come one after another and read the same collections (a chat
//! member's messages all look up memberships), so one run stands for many ops, and a write
//! transaction extends its runs in memory, writing each once when it ends. An entry per op cost
//! a random-ish B-tree insert per op, a fifth of what rule-checked ingest pays beyond
//! rule-free ingest. A sequence number already covered adds nothing, so an author's second op
//! at one number (an equivocation) shares the run, and the chains table gives every op at a
//! number; the engine checks each of them, so including an op of the other fork costs a check,
//! never a verdict. (A run extended in memory may reach a later one; it takes it in when it
//! is written, so stored runs never overlap, and reads merge the one in memory.)

use crate::error::StorageError;
use redb::{ReadableTable, TableDefinition};
use std::collections::BTreeMap;

/// The runs: (collection key, author number, first seq) → last seq.
pub(crate) const READER_RUNS: TableDefinition<(&[u8; 32], u32, u64), u64> = TableDefinition::new("reader_runs");

/// A collection key and an author number: what a run belongs to.
type Owner = ([u8; 32], u32);

/// The runs of one write transaction: the table, and the run of each owner this transaction
/// is extending, written by [`ReaderRuns::finish`]. A pending run replaces the table's run
/// with the same first number, if any.
pub(crate) struct ReaderRuns<'txn> {
    pub table: redb::Table<'txn, (&'static [u8; 32], u32, u64), u64>,
    pending: BTreeMap<Owner, (u64, u64)>,
}

impl<'txn> ReaderRuns<'txn> {
    pub fn open(transaction: &'txn redb::WriteTransaction) -> Result<ReaderRuns<'txn>, StorageError> {
        Ok(ReaderRuns { table: transaction.open_table(READER_RUNS)?, pending: BTreeMap::new() })
    }

    /// Notes that the author's op with this sequence number reads the collection.
    pub fn note(&mut self, key: &[u8; 32], author: u32, seq: u64) -> Result<(), StorageError> {
        let owner = (*key, author);
        let ended = match self.pending.get_mut(&owner) {
            Some((first, last)) if (*first..=*last).contains(&seq) => return Ok(()),
            Some((_, last)) if last.checked_add(1) == Some(seq) => {
                *last = seq;
                return Ok(());
            }
            Some(run) => Some(*run),
            None => None,
        };
        if let Some((first, last)) = ended {
            self.store_run(key, author, first, last)?;
            self.pending.remove(&owner);
        }
        // The table is all there is for this owner now.
        let before = self.table.range((key, author, 0)..=(key, author, seq))?.next_back();
        let run = match before {
            Some(entry) => {
                let (guard, last) = entry?;
                Some((guard.value().2, last.value()))
            }
            None => None,
        };
        match run {
            Some((_, last)) if last >= seq => {}
            Some((first, last)) if last.checked_add(1) == Some(seq) => {
                self.pending.insert(owner, (first, seq));
            }
            _ => {
                self.pending.insert(owner, (seq, seq));
            }
        }
        Ok(())
    }

    /// The author's runs for the collection that reach `from` or beyond, in order, merged where
    /// they overlap.
    pub fn runs_from(&self, key: &[u8; 32], author: u32, from: u64) -> Result<Vec<(u64, u64)>, StorageError> {
        let pending = self.pending.get(&(*key, author)).copied();
        let mut runs = Vec::new();
        if let Some(entry) = self.table.range((key, author, 0)..=(key, author, from))?.next_back() {
            let (guard, last) = entry?;
            runs.push((guard.value().2, last.value()));
        }
        for entry in self.table.range((key, author, from.saturating_add(1))..=(key, author, u64::MAX))? {
            let (guard, last) = entry?;
            runs.push((guard.value().2, last.value()));
        }
        if let Some((first, last)) = pending {
            runs.retain(|run| run.0 != first);
            runs.push((first, last));
            runs.sort_unstable();
        }
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
        for (first, last) in runs.into_iter().filter(|run| run.1 >= from) {
            match merged.last_mut() {
                Some(previous) if first <= previous.1 => previous.1 = previous.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        Ok(merged)
    }

    /// Writes the runs this transaction extended.
    pub fn finish(&mut self) -> Result<(), StorageError> {
        for ((key, author), (first, last)) in std::mem::take(&mut self.pending) {
            self.store_run(&key, author, first, last)?;
        }
        Ok(())
    }

    /// Writes a run, taking in the stored runs it reaches (a run extended in memory may have
    /// grown into a later one), so that stored runs never overlap: a number's run is then the
    /// one with the greatest first number at or below it.
    fn store_run(&mut self, key: &[u8; 32], author: u32, first: u64, mut last: u64) -> Result<(), StorageError> {
        let mut reached = Vec::new();
        for entry in self.table.range((key, author, first.saturating_add(1))..=(key, author, last.saturating_add(1)))? {
            let (guard, other_last) = entry?;
            reached.push((guard.value().2, other_last.value()));
        }
        for (other_first, other_last) in reached {
            self.table.remove((key, author, other_first))?;
            last = last.max(other_last);
        }
        self.table.insert((key, author, first), last)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableTableMetadata;

    /// The sequence numbers the runs say read the collection, from `from` on.
    fn covered(runs: &ReaderRuns, from: u64) -> Vec<u64> {
        let runs = runs.runs_from(&[1; 32], 0, from).expect("runs");
        runs.into_iter().flat_map(|(first, last)| first.max(from)..=last).collect()
    }

    #[test]
    fn runs_cover_exactly_the_noted_numbers_across_transactions_and_out_of_order() {
        let database = crate::store::in_memory();
        // In order, in gaps, back in the past (a fork), and repeated, over three transactions.
        let transactions: [&[u64]; 3] = [&[1, 2, 3, 7, 8], &[9, 10, 4, 12, 2], &[5, 6, 7, 8, 13, 11, 20]];
        let mut noted = std::collections::BTreeSet::new();
        for seqs in transactions {
            let transaction = database.begin_write().expect("write");
            {
                let mut runs = ReaderRuns::open(&transaction).expect("open");
                for seq in seqs {
                    runs.note(&[1; 32], 0, *seq).expect("note");
                    noted.insert(*seq);
                    for from in [0, 3, 6, 11, 21] {
                        let expected: Vec<u64> = noted.iter().copied().filter(|seq| *seq >= from).collect();
                        assert_eq!(covered(&runs, from), expected, "after noting {seq}, from {from}");
                    }
                }
                // Another author and another collection are apart.
                assert!(runs.runs_from(&[1; 32], 1, 0).expect("runs").is_empty());
                assert!(runs.runs_from(&[2; 32], 0, 0).expect("runs").is_empty());
                runs.finish().expect("finish");
            }
            transaction.commit().expect("commit");
        }
        let transaction = database.begin_write().expect("write");
        let runs = ReaderRuns::open(&transaction).expect("open");
        assert_eq!(covered(&runs, 0), noted.into_iter().collect::<Vec<_>>());
        // 1-13 joined up as they came, 20 alone: a handful of entries for 15 ops, none
        // overlapping another.
        assert!(runs.table.len().expect("len") <= 6);
        let mut stored: Vec<(u64, u64)> = Vec::new();
        for entry in runs.table.iter().expect("iterate") {
            let (key, last) = entry.expect("entry");
            stored.push((key.value().2, last.value()));
        }
        assert!(stored.windows(2).all(|pair| pair[0].1 < pair[1].0), "stored runs overlap: {stored:?}");
    }
}
