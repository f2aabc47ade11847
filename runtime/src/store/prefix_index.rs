//! An index from random 8-byte prefixes (of op hashes, of row ids) to numbers (op locals, row
//! numbers), kept in a large table written in bulk, and a small part for the recent entries.
//!
//! Every insert into a B-tree keyed by a random value lands on a random leaf, and redb copies a
//! leaf the first time a transaction writes it. A thousand random inserts into one table
//! therefore copy (and the commit writes, checksums and syncs) about a thousand leaves, however
//! few bytes they add, and the cost per insert grows with the table. So new entries are written
//! in number order, which grows with the log, to a small table (number → prefix: appended at
//! its end), and kept in memory by prefix (`RecentEntries`), where lookups find them. When the
//! small table holds [`RECENT_LIMIT`] entries, they move into a middle table in one sorted
//! pass, which writes each of its leaves at most once; when the middle table holds
//! [`MIDDLE_LIMIT`], it moves into the large table the same way. A move writes about every
//! leaf of the table it goes into, so moving every [`RECENT_LIMIT`] entries straight into the
//! large table cost more and more as the log grew (a third of ingest's time per op at a
//! million ops); the middle table makes the large table's moves eight times rarer. And a move
//! into the large table is spread over [`SLICES`] transactions, one slice of the prefixes
//! each, so that no one commit pays for the whole table (half a second at a million ops). The
//! slice a move is at is stored with the tables (the caller keeps it in `meta`), so an aborted
//! transaction takes its step back and a store opened anew goes on where the move stopped.
//!
//! The memory part may hold more than the committed small table (entries of a transaction not
//! yet committed, or aborted, or moved by a commit since): a lookup confirms every number it
//! finds against the op's or the row's record, so an extra entry costs a read, never a wrong
//! answer. It never holds less: it is loaded from the small table when the replica opens, takes
//! every insert, and drops only what a committed transaction moved (`prune`).

use crate::error::StorageError;
use redb::{ReadableTable, ReadableTableMetadata};
use std::collections::BTreeSet;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// How many entries the small table takes before they move into the middle one.
pub(crate) const RECENT_LIMIT: u64 = 32_768;

/// How many entries the middle table takes before they move into the large one.
pub(crate) const MIDDLE_LIMIT: u64 = 8 * RECENT_LIMIT;

/// Into how many slices of the prefixes (by their top bits) a move of the middle table into
/// the large one is cut, one per transaction.
pub(crate) const SLICES: u64 = 8;

/// A key of the large table: the prefix, then the number it leads to.
pub(crate) type PrefixKey = (u64, u64);

/// A replica's recent entries of one index, by prefix, shared by its transactions.
#[derive(Debug, Default)]
pub(crate) struct RecentEntries(RwLock<Entries>);

/// The entries, and the number below which they were pruned: a read transaction begun before
/// that prune may still hold entries below it in its own small table.
#[derive(Debug, Default)]
struct Entries {
    by_prefix: BTreeSet<PrefixKey>,
    pruned_below: u64,
}

impl RecentEntries {
    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn insert(&self, key: PrefixKey) {
        self.write().by_prefix.insert(key);
    }

    /// Takes the entries of a small table (when the replica opens).
    pub fn load(&self, table: &impl ReadableTable<u64, u64>) -> Result<(), StorageError> {
        let mut entries = self.write();
        for entry in table.iter()? {
            let (number, prefix) = entry?;
            entries.by_prefix.insert((prefix.value(), number.value()));
        }
        Ok(())
    }

    /// Drops the entries below `bound`, which a committed transaction moved into the large table.
    fn prune_below(&self, bound: u64) {
        let mut entries = self.write();
        entries.by_prefix.retain(|(_, number)| *number >= bound);
        entries.pruned_below = entries.pruned_below.max(bound);
    }

    fn len(&self) -> usize {
        self.read().by_prefix.len()
    }
}

/// The recent entries of both indexes of a replica.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    pub hashes: RecentEntries,
    pub row_ids: RecentEntries,
}

impl Recent {
    /// After a commit: drops from memory the entries that committed transactions moved into the
    /// large tables, read from the committed state (in a read transaction begun now, after the
    /// commit). Costs nothing until the memory part outgrows the limit.
    pub fn prune(&self, database: &redb::Database) -> Result<(), StorageError> {
        let limit = RECENT_LIMIT as usize;
        if self.hashes.len() <= limit && self.row_ids.len() <= limit {
            return Ok(());
        }
        let transaction = redb::ReadableDatabase::begin_read(database)?;
        let next_local = super::read_next_local(&transaction.open_table(super::META)?)?;
        // Everything below the small table's first entry (all of it when the table is empty)
        // is in the large table.
        let first = |table: redb::ReadOnlyTable<u64, u64>| -> Result<Option<u64>, StorageError> {
            Ok(table.first()?.map(|(number, _)| number.value()))
        };
        let hashes = first(transaction.open_table(super::HASHES_RECENT)?)?.unwrap_or(next_local);
        let row_ids = first(transaction.open_table(super::ROW_IDS_RECENT)?)?.unwrap_or(next_local << 16);
        self.hashes.prune_below(hashes);
        self.row_ids.prune_below(row_ids);
        Ok(())
    }
}

/// The tables of one index in a transaction, with the replica's recent entries.
pub(crate) struct PrefixIndex<'m, S, R> {
    /// The entries moved in bulk from the middle table: (prefix, number) → ().
    pub settled: S,
    /// The entries moved in bulk from the small table since the last move into `settled`.
    pub middle: S,
    /// The entries since the last move: number → prefix.
    pub recent: R,
    memory: &'m RecentEntries,
}

impl<'m, S, R> PrefixIndex<'m, S, R> {
    pub fn new(settled: S, middle: S, recent: R, memory: &'m RecentEntries) -> PrefixIndex<'m, S, R> {
        PrefixIndex { settled, middle, recent, memory }
    }
}

impl<S: ReadableTable<PrefixKey, ()>, R: ReadableTable<u64, u64>> PrefixIndex<'_, S, R> {
    /// The numbers filed under a prefix, in order. Some may not be in this transaction's view
    /// (see the module docs): confirm each.
    pub fn numbers(&self, prefix: u64) -> Result<Vec<u64>, StorageError> {
        let (mut numbers, pruned_below) = {
            let entries = self.memory.read();
            let numbers: Vec<u64> =
                entries.by_prefix.range((prefix, 0)..=(prefix, u64::MAX)).map(|(_, number)| *number).collect();
            (numbers, entries.pruned_below)
        };
        for table in [&self.settled, &self.middle] {
            for entry in table.range((prefix, 0)..=(prefix, u64::MAX))? {
                numbers.push(entry?.0.value().1);
            }
        }
        // A transaction begun before the last prune may hold, in its own small table, entries
        // that memory dropped and that its large table does not have yet: read those there.
        for entry in self.recent.range(..pruned_below)? {
            let (number, entry_prefix) = entry?;
            if entry_prefix.value() == prefix {
                numbers.push(number.value());
            }
        }
        // Memory keeps moved entries until a commit prunes them: both sides may hold one.
        if numbers.len() > 1 {
            numbers.sort_unstable();
            numbers.dedup();
        }
        Ok(numbers)
    }

    /// How many entries the index holds.
    pub fn len(&self) -> Result<u64, StorageError> {
        Ok(self.settled.len()? + self.middle.len()? + self.recent.len()?)
    }

    /// Calls `visit` with every entry, in key order (the three tables merged).
    pub fn for_each(&self, visit: &mut dyn FnMut(PrefixKey) -> Result<(), StorageError>) -> Result<(), StorageError> {
        let mut recent = Vec::new();
        for entry in self.recent.iter()? {
            let (number, prefix) = entry?;
            recent.push((prefix.value(), number.value()));
        }
        for entry in self.middle.iter()? {
            recent.push(entry?.0.value());
        }
        recent.sort_unstable();
        let mut recent = recent.into_iter().peekable();
        for entry in self.settled.iter()? {
            let key = entry?.0.value();
            while let Some(earlier) = recent.next_if(|earlier| *earlier < key) {
                visit(earlier)?;
            }
            visit(key)?;
        }
        recent.try_for_each(visit)
    }
}

impl PrefixIndex<'_, redb::Table<'_, PrefixKey, ()>, redb::Table<'_, u64, u64>> {
    /// Files a number under a prefix (in the small table, and in memory).
    pub fn insert(&mut self, (prefix, number): PrefixKey) -> Result<(), StorageError> {
        self.recent.insert(number, prefix)?;
        self.memory.insert((prefix, number));
        Ok(())
    }

    /// Moves the small table's entries into the middle one once it holds [`RECENT_LIMIT`], and
    /// the middle table's into the large one once it holds [`MIDDLE_LIMIT`], a slice per
    /// transaction: sorted, so each leaf is written once. Memory keeps the small table's
    /// entries until the transaction has committed (see [`Recent::prune`]).
    ///
    /// `next_slice` is where a move of the middle table is (`None` when there is none); the
    /// caller stores what this returns in the same transaction.
    pub fn settle(&mut self, next_slice: Option<u64>) -> Result<Option<u64>, StorageError> {
        if self.recent.len()? >= RECENT_LIMIT {
            let mut keys = Vec::with_capacity(RECENT_LIMIT as usize);
            for entry in self.recent.iter()? {
                let (number, prefix) = entry?;
                keys.push((prefix.value(), number.value()));
            }
            keys.sort_unstable();
            for key in keys {
                self.middle.insert(key, ())?;
            }
            self.recent.retain(|_, _| false)?;
        }
        let slice = match next_slice {
            Some(slice) if slice < SLICES => slice,
            _ if self.middle.len()? >= MIDDLE_LIMIT => 0,
            _ => return Ok(None),
        };
        let width = u64::MAX / SLICES + 1;
        let first = slice * width;
        let last = first + (width - 1);
        for entry in self.middle.range((first, 0)..=(last, u64::MAX))? {
            self.settled.insert(entry?.0.value(), ())?;
        }
        self.middle.retain_in((first, 0)..=(last, u64::MAX), |_, _| false)?;
        Ok((slice + 1 < SLICES).then_some(slice + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::{ReadableDatabase, TableDefinition};

    const SETTLED: TableDefinition<PrefixKey, ()> = TableDefinition::new("settled");
    const MIDDLE: TableDefinition<PrefixKey, ()> = TableDefinition::new("middle");
    const RECENT: TableDefinition<u64, u64> = TableDefinition::new("recent");

    type Reading<'m> = PrefixIndex<'m, redb::ReadOnlyTable<PrefixKey, ()>, redb::ReadOnlyTable<u64, u64>>;
    type Writing<'t> = PrefixIndex<'t, redb::Table<'t, PrefixKey, ()>, redb::Table<'t, u64, u64>>;

    /// The index as a read transaction sees it, with this memory part.
    fn reading<'m>(transaction: &redb::ReadTransaction, memory: &'m RecentEntries) -> Reading<'m> {
        PrefixIndex::new(
            transaction.open_table(SETTLED).expect("settled"),
            transaction.open_table(MIDDLE).expect("middle"),
            transaction.open_table(RECENT).expect("recent"),
            memory,
        )
    }

    /// The index in a write transaction.
    fn writing<'t>(transaction: &'t redb::WriteTransaction, memory: &'t RecentEntries) -> Writing<'t> {
        PrefixIndex::new(
            transaction.open_table(SETTLED).expect("settled"),
            transaction.open_table(MIDDLE).expect("middle"),
            transaction.open_table(RECENT).expect("recent"),
            memory,
        )
    }

    /// Commits a transaction that files `keys` and settles, keeping where a move of the middle
    /// table is in `slice`, as `meta` does.
    fn commit(
        database: &redb::Database,
        memory: &RecentEntries,
        slice: &std::cell::Cell<Option<u64>>,
        keys: impl IntoIterator<Item = PrefixKey>,
    ) {
        let transaction = database.begin_write().expect("write");
        {
            let mut index = writing(&transaction, memory);
            for key in keys {
                index.insert(key).expect("insert");
            }
            slice.set(index.settle(slice.get()).expect("settle"));
        }
        transaction.commit().expect("commit");
    }

    /// What the index says, read in a read transaction with this memory part.
    fn listing(database: &redb::Database, memory: &RecentEntries, prefixes: &[u64]) -> (Vec<Vec<u64>>, Vec<PrefixKey>) {
        let transaction = database.begin_read().expect("read");
        let index = reading(&transaction, memory);
        let found = prefixes
            .iter()
            .map(|prefix| {
                let mut numbers = index.numbers(*prefix).expect("numbers");
                numbers.sort_unstable();
                numbers
            })
            .collect();
        let mut listed = Vec::new();
        index
            .for_each(&mut |entry| {
                listed.push(entry);
                Ok(())
            })
            .expect("list");
        assert_eq!(index.len().expect("len"), listed.len() as u64);
        (found, listed)
    }

    #[test]
    fn a_reader_from_before_a_move_and_its_prune_still_finds_the_moved_entries() {
        let database = super::super::in_memory();
        let memory = RecentEntries::default();
        let slice = std::cell::Cell::new(None);
        let write = |numbers: std::ops::Range<u64>| commit(&database, &memory, &slice, numbers.map(|n| (n % 977, n)));
        write(0..1_000);
        let stale = database.begin_read().expect("read");
        // The move, committed, then pruned from memory as a commit does.
        write(1_000..RECENT_LIMIT);
        memory.prune_below(RECENT_LIMIT);
        assert_eq!(memory.len(), 0);
        let index = reading(&stale, &memory);
        assert_eq!(index.numbers(5).expect("numbers"), vec![5, 982]);
    }

    #[test]
    fn entries_are_found_and_listed_in_order_across_moves_through_all_three_tables_and_after_a_reopen() {
        let database = super::super::in_memory();
        let memory = RecentEntries::default();
        // Scattered prefixes, a few of them shared, in transactions of 1,000 as ingest writes them.
        let key = |number: u64| (number.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 50_000, number);
        // Past a move of the middle table into the large one, and one more into the middle.
        let total = MIDDLE_LIMIT + 40_000;
        let slice = std::cell::Cell::new(None);
        for start in (0..total).step_by(1_000) {
            commit(&database, &memory, &slice, (start..(start + 1_000).min(total)).map(key));
        }
        // A transaction that inserts and then aborts leaves its entries in memory.
        memory.insert((key(0).0, total + 7));

        let prefixes: Vec<u64> =
            [0, 1, RECENT_LIMIT - 1, RECENT_LIMIT, MIDDLE_LIMIT, total - 1].iter().map(|n| key(*n).0).collect();
        let expected_numbers: Vec<Vec<u64>> =
            prefixes.iter().map(|prefix| (0..total).filter(|number| key(*number).0 == *prefix).collect()).collect();
        let mut expected_listing: Vec<PrefixKey> = (0..total).map(key).collect();
        expected_listing.sort_unstable();

        let (mut found, listed) = listing(&database, &memory, &prefixes);
        // The aborted entry is there, to be confirmed against a record by the caller.
        assert_eq!(found[0].pop(), Some(total + 7));
        assert_eq!((found, listed), (expected_numbers.clone(), expected_listing.clone()));

        let read = database.begin_read().expect("read");
        let (settled, middle) = (read.open_table(SETTLED).expect("settled"), read.open_table(MIDDLE).expect("middle"));
        assert!(settled.len().expect("len") >= MIDDLE_LIMIT && middle.len().expect("len") >= RECENT_LIMIT);
        // Memory drops what moved, once committed; a reopened replica loads the small table.
        let moved = read.open_table(RECENT).expect("recent").first().expect("first").map_or(total, |(n, _)| n.value());
        memory.prune_below(moved);
        assert_eq!(memory.len() as u64, total - moved + 1);
        let reopened = RecentEntries::default();
        reopened.load(&database.begin_read().expect("read").open_table(RECENT).expect("recent")).expect("load");
        assert_eq!(listing(&database, &reopened, &prefixes), (expected_numbers, expected_listing));
    }

    #[test]
    fn the_middle_table_moves_into_the_large_one_a_slice_per_transaction() {
        let database = super::super::in_memory();
        let memory = RecentEntries::default();
        let cursor = std::cell::Cell::new(None);
        // Prefixes spread over every slice.
        let key = |number: u64| (number.wrapping_mul(0x9e37_79b9_7f4a_7c15), number);
        let sizes = |database: &redb::Database| {
            let read = database.begin_read().expect("read");
            let settled = read.open_table(SETTLED).expect("settled").len().expect("len");
            (settled, read.open_table(MIDDLE).expect("middle").len().expect("len"))
        };
        let write = |numbers: std::ops::Range<u64>| commit(&database, &memory, &cursor, numbers.map(key));
        for start in (0..MIDDLE_LIMIT).step_by(RECENT_LIMIT as usize) {
            write(start..start + RECENT_LIMIT);
        }
        // The transaction that filled the middle table moved one slice of it, about an eighth.
        let (settled, middle) = sizes(&database);
        assert_eq!(settled + middle, MIDDLE_LIMIT);
        assert!(settled > MIDDLE_LIMIT / 16 && settled < MIDDLE_LIMIT * 3 / 16, "{settled} moved at once");
        // A transaction that moves the next slice and aborts takes its step back with it.
        {
            let transaction = database.begin_write().expect("write");
            assert_eq!(writing(&transaction, &memory).settle(cursor.get()).expect("settle"), Some(2));
        }
        assert_eq!((sizes(&database).0, cursor.get()), (settled, Some(1)));
        // Each of the next transactions moves one more, with or without entries of its own.
        let mut moved = vec![settled];
        for _ in 1..SLICES {
            write(0..0);
            moved.push(sizes(&database).0);
        }
        assert!(moved.windows(2).all(|pair| pair[0] < pair[1]), "{moved:?}");
        assert_eq!((sizes(&database), cursor.get()), ((MIDDLE_LIMIT, 0), None));
        // The next transaction has nothing to move.
        write(0..0);
        assert_eq!(sizes(&database), (MIDDLE_LIMIT, 0));
        let prefixes: Vec<u64> = [0, 1, MIDDLE_LIMIT / 2, MIDDLE_LIMIT - 1].iter().map(|n| key(*n).0).collect();
        let (found, listed) = listing(&database, &RecentEntries::default(), &prefixes);
        assert_eq!(found, vec![vec![0], vec![1], vec![MIDDLE_LIMIT / 2], vec![MIDDLE_LIMIT - 1]]);
        let mut expected: Vec<PrefixKey> = (0..MIDDLE_LIMIT).map(key).collect();
        expected.sort_unstable();
        assert_eq!(listed, expected);
    }
}
