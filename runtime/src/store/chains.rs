//! Each author's ops by sequence number: which local number holds the author's op at a
//! sequence number (two or more: an equivocation), and the author's latest op.
//!
//! An author's ops come in sequence-number order and mostly in runs of consecutive local
//! numbers (a batch of an author's ops is stored one after another), so they are kept as
//! runs: `chain_runs` maps (author, first seq) to (last seq, first local), the op at seq `s` of
//! the run being at local `first local + s - first seq`. A write transaction extends an
//! author's run in memory and writes it once when it ends, where an entry per op cost a B-tree
//! insert per op. An op that does not raise its author's highest sequence number (the second
//! op at a number, or an op of another fork) is kept apart in `chain_forks`, one entry each.

use crate::error::StorageError;
use redb::{ReadableTable, TableDefinition};
use std::collections::HashMap;

/// (author, first seq) → (last seq, first local).
pub(crate) const CHAIN_RUNS: TableDefinition<(u32, u64), (u64, u64)> = TableDefinition::new("chain_runs");
/// (author, seq, local) → (), for the ops outside the runs.
pub(crate) const CHAIN_FORKS: TableDefinition<(u32, u64, u64), ()> = TableDefinition::new("chain_forks");

/// A run: first seq, last seq, first local.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    first: u64,
    last: u64,
    local: u64,
}

impl Run {
    fn local_at(&self, seq: u64) -> Option<u64> {
        (self.first..=self.last).contains(&seq).then(|| self.local + (seq - self.first))
    }
}

/// The chains of one write transaction: the tables, and each author's run this transaction
/// is extending (it replaces the table's run with the same first number, if any).
pub(crate) struct Chains<'txn> {
    runs: redb::Table<'txn, (u32, u64), (u64, u64)>,
    forks: redb::Table<'txn, (u32, u64, u64), ()>,
    pending: HashMap<u32, Run>,
}

impl<'txn> Chains<'txn> {
    pub fn open(transaction: &'txn redb::WriteTransaction) -> Result<Chains<'txn>, StorageError> {
        Ok(Chains {
            runs: transaction.open_table(CHAIN_RUNS)?,
            forks: transaction.open_table(CHAIN_FORKS)?,
            pending: HashMap::new(),
        })
    }

    /// The author's run with the greatest first number at or below `seq`, the pending one
    /// taking the place of the stored one it extends.
    fn run_at_or_before(&self, author: u32, seq: u64) -> Result<Option<Run>, StorageError> {
        if let Some(run) = self.pending.get(&author).filter(|run| run.first <= seq) {
            return Ok(Some(*run));
        }
        Ok(match self.runs.range((author, 0)..=(author, seq))?.next_back() {
            Some(entry) => {
                let (key, value) = entry?;
                let ((_, first), (last, local)) = (key.value(), value.value());
                Some(Run { first, last, local })
            }
            None => None,
        })
    }

    /// The author's last run, if any.
    fn last_run(&self, author: u32) -> Result<Option<Run>, StorageError> {
        self.run_at_or_before(author, u64::MAX)
    }

    /// Records that the author's op with this sequence number is at `local`.
    pub fn note(&mut self, author: u32, seq: u64, local: u64) -> Result<(), StorageError> {
        let last = self.last_run(author)?;
        // The author's highest number is its last run's: an op goes to the forks only at a
        // number no higher than that.
        if last.is_some_and(|run| seq <= run.last) {
            self.forks.insert((author, seq, local), ())?;
            return Ok(());
        }
        match last {
            Some(run) if run.last + 1 == seq && run.local + (seq - run.first) == local => {
                self.pending.insert(author, Run { last: seq, ..run });
            }
            _ => {
                if let Some(run) = self.pending.remove(&author) {
                    self.runs.insert((author, run.first), (run.last, run.local))?;
                }
                self.pending.insert(author, Run { first: seq, last: seq, local });
            }
        }
        Ok(())
    }

    fn last_fork(&self, author: u32) -> Result<Option<(u64, u64)>, StorageError> {
        Ok(match self.forks.range((author, 0, 0)..=(author, u64::MAX, u64::MAX))?.next_back() {
            Some(entry) => {
                let (_, seq, local) = entry?.0.value();
                Some((seq, local))
            }
            None => None,
        })
    }

    /// Locals of an author's ops with one sequence number (two or more: equivocation).
    pub fn entries(&self, author: u32, seq: u64) -> Result<Vec<u64>, StorageError> {
        let mut locals: Vec<u64> =
            self.run_at_or_before(author, seq)?.and_then(|run| run.local_at(seq)).into_iter().collect();
        for entry in self.forks.range((author, seq, 0)..=(author, seq, u64::MAX))? {
            locals.push(entry?.0.value().2);
        }
        locals.sort_unstable();
        Ok(locals)
    }

    /// The latest op an author has in this log: (seq, local), the greatest local at the
    /// greatest sequence number.
    pub fn latest(&self, author: u32) -> Result<Option<(u64, u64)>, StorageError> {
        let in_runs = self.last_run(author)?.map(|run| (run.last, run.local + (run.last - run.first)));
        Ok(in_runs.max(self.last_fork(author)?))
    }

    /// The author's ops from sequence number `from` on, as (seq, local), in order.
    pub fn from(&self, author: u32, from: u64) -> Result<Vec<(u64, u64)>, StorageError> {
        let mut runs = Vec::new();
        if let Some(run) = self.run_at_or_before(author, from)? {
            runs.push(run);
        }
        for entry in self.runs.range((author, from.saturating_add(1))..=(author, u64::MAX))? {
            let (key, value) = entry?;
            let ((_, first), (last, local)) = (key.value(), value.value());
            runs.push(Run { first, last, local });
        }
        if let Some(pending) = self.pending.get(&author) {
            runs.retain(|run| run.first != pending.first);
            runs.push(*pending);
        }
        let mut found: Vec<(u64, u64)> = Vec::new();
        for run in runs {
            found.extend((run.first.max(from)..=run.last).map(|seq| (seq, run.local + (seq - run.first))));
        }
        for entry in self.forks.range((author, from, 0)..=(author, u64::MAX, u64::MAX))? {
            let (_, seq, local) = entry?.0.value();
            found.push((seq, local));
        }
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Writes the runs this transaction extended.
    pub fn finish(&mut self) -> Result<(), StorageError> {
        for (author, run) in std::mem::take(&mut self.pending) {
            self.runs.insert((author, run.first), (run.last, run.local))?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<[redb::TableStats; 2], StorageError> {
        use redb::ReadableTableMetadata;
        Ok([self.runs.stats()?, self.forks.stats()?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_answer_as_one_entry_per_op_would_across_transactions_forks_and_interleaving() {
        let database = crate::store::in_memory();
        // (author, seq, local) in the order a log appends them: two authors interleaved, a run
        // that continues in the next transaction, an op at a number already taken (an
        // equivocation), and a fork that goes on from an earlier number.
        let transactions: [&[(u32, u64, u64)]; 3] = [
            &[(0, 1, 1), (0, 2, 2), (1, 1, 3), (0, 3, 4), (0, 4, 5)],
            &[(0, 5, 6), (0, 6, 7), (1, 2, 8), (0, 4, 9), (0, 5, 10)],
            &[(0, 7, 11), (1, 3, 12), (1, 4, 13), (0, 8, 14), (1, 3, 15)],
        ];
        let mut all: Vec<(u32, u64, u64)> = Vec::new();
        for ops in transactions {
            let transaction = database.begin_write().expect("write");
            {
                let mut chains = Chains::open(&transaction).expect("open");
                for &(author, seq, local) in ops {
                    chains.note(author, seq, local).expect("note");
                    all.push((author, seq, local));
                    for author in [0, 1, 2] {
                        let mine: Vec<(u64, u64)> =
                            all.iter().filter(|op| op.0 == author).map(|op| (op.1, op.2)).collect();
                        assert_eq!(chains.latest(author).expect("latest"), mine.iter().copied().max());
                        for seq in 0..10 {
                            let mut expected: Vec<u64> = mine.iter().filter(|op| op.0 == seq).map(|op| op.1).collect();
                            expected.sort_unstable();
                            assert_eq!(chains.entries(author, seq).expect("entries"), expected);
                            let mut from: Vec<(u64, u64)> = mine.iter().copied().filter(|op| op.0 >= seq).collect();
                            from.sort_unstable();
                            assert_eq!(chains.from(author, seq).expect("from"), from);
                        }
                    }
                }
                chains.finish().expect("finish");
            }
            transaction.commit().expect("commit");
        }
        let transaction = database.begin_write().expect("write");
        let chains = Chains::open(&transaction).expect("open");
        let [runs, forks] = chains.stats().expect("stats");
        assert!(runs.leaf_pages() <= 1 && forks.leaf_pages() <= 1);
        assert_eq!(chains.entries(0, 5).expect("entries"), vec![6, 10]);
    }
}
