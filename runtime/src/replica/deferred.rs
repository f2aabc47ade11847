//! Deferred durability: local writes that return before they are on disk, for workloads of many
//! small writes that can afford to lose the last moments of them in a crash.
//!
//! A deferred write is judged, stored and materialized like any other, but it is stored
//! *unsigned*: its signature is made inside the durable commit that flushes it
//! ([`Replica::flush`], or any durable commit of the replica). Deferred writes share one write
//! transaction, left open between them: a commit per write cost more than the write itself.
//! Whatever else the replica does (a read, another write, an ingest) first commits that
//! transaction without a disk sync, so every path sees the deferred writes. Two guarantees
//! follow:
//!
//! - a crash loses only ops that were never signed, so after it the replica never signs a
//!   second op with a sequence number it signed before (that would be an equivocation, and its
//!   author's later ops would all be void);
//! - nothing that a crash may lose leaves the replica: every path that hands ops or events out
//!   (sync, export, the log, the event stream, integrity checks) flushes first, and a sync
//!   session never sends an op that is still unsigned.
//!
//! Queries and rule checks see deferred writes at once (read your writes).

use super::presign::Presigner;
use super::signing::{sign_records, Missing, ToSign};
use super::Replica;
use crate::error::{corrupt, StorageError, WriteError};
use crate::ids::OpHash;
use crate::keys::Keypair;
use crate::op::Change;
use crate::store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The most deferred writes a replica holds unsigned; the next write is durable, and signs
/// them all.
pub const MAX_DEFERRED: usize = 10_000;

/// Ops stored unsigned, waiting for the durable commit that signs them.
pub(crate) struct Deferred {
    pending: Mutex<Vec<PendingOp>>,
    /// The write transaction deferred writes share, while no one else needs the store, with
    /// the number of waiting ops when it began (those after it are lost if it is).
    open: Mutex<Option<(redb::WriteTransaction, usize)>>,
    /// The last event of the last durable commit: readers of the stream stop there while
    /// deferred writes wait.
    durable_events: AtomicU64,
    /// Signs deferred writes in the background, started by the first one (see `presign`).
    presigner: std::sync::OnceLock<Presigner>,
}

/// An unsigned op in the log, with the key that signs it.
struct PendingOp {
    local: u64,
    hash: OpHash,
    author: Keypair,
}

impl Deferred {
    /// For a store whose events up to `last_event` are on disk.
    pub fn new(last_event: u64) -> Deferred {
        Deferred {
            pending: Mutex::new(Vec::new()),
            open: Mutex::new(None),
            durable_events: AtomicU64::new(last_event),
            presigner: std::sync::OnceLock::new(),
        }
    }

    /// The last event a reader may be given now (read after its read transaction began):
    /// `None` when no write waits, so every stored event is durable.
    pub fn event_bound(&self) -> Option<u64> {
        let pending = self.lock();
        (!pending.is_empty()).then(|| self.durable_events.load(Ordering::Acquire))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<PendingOp>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_open(&self) -> MutexGuard<'_, Option<(redb::WriteTransaction, usize)>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether stored op bytes are those of a local op not yet signed: a blank signature, which no
/// signing produces and `op::verify` refuses, so no ingested op carries it.
pub(crate) fn is_unsigned(bytes: &[u8]) -> bool {
    bytes.len() >= 64 && bytes[bytes.len() - 64..] == crate::op::BLANK_SIGNATURE
}

/// A replica dropped with deferred writes flushes them (an error here has no one to go to; a
/// caller that must know calls [`Replica::flush`] first). If the flush fails, the store is left
/// as a crash leaves it: closing redb would make the unsigned ops durable, so the database is
/// forgotten instead (its file stays locked until the process ends), and the next open finds
/// the last durable commit.
impl Drop for Replica {
    fn drop(&mut self) {
        if self.flush().is_ok() {
            return;
        }
        let placeholder = redb::Database::builder().create_with_backend(redb::backends::InMemoryBackend::new());
        if let Ok(placeholder) = placeholder {
            std::mem::forget(std::mem::replace(&mut self.database, placeholder));
        }
    }
}

impl Replica {
    /// Writes a batch of changes as one op by `author`, judged and applied at once, but durable
    /// (and signed) only at the next [`Replica::flush`] or durable write. Returns the op's hash.
    ///
    /// A crash before the flush loses the op, and the deferred writes after it; a crash never
    /// loses a flushed op, nor one that a later durable commit (a write, an ingest) took along. Until the flush, no peer, export or event consumer sees the
    /// op, while queries on this replica do. At most [`MAX_DEFERRED`] writes wait: the write
    /// after that number commits durably, with every waiting one.
    pub fn write_deferred(&self, author: &Keypair, changes: Vec<Change>) -> Result<OpHash, WriteError> {
        let batches = self.checked_batches(author, vec![changes])?;
        // Held to the end: writers that want the store wait here, then commit what is open.
        let mut open = self.deferred.lock_open();
        let (transaction, waiting_before) = match open.take() {
            Some(open) => open,
            None => (self.database.begin_write().map_err(StorageError::from)?, self.deferred_count()),
        };
        let written = match self.append_batches(&transaction, author, batches) {
            Ok(written) => written,
            Err(WriteError::Storage(error)) => {
                // The transaction is dropped, and with it the deferred writes it held, as a
                // crash would drop them: none was signed.
                drop(transaction);
                self.deferred.lock().truncate(waiting_before);
                return Err(error.into());
            }
            Err(refused) => {
                // Refused before anything was written (see `append_batches`).
                *open = Some((transaction, waiting_before));
                return Err(refused);
            }
        };
        let hash = written.last().map(|(_, hash, _)| *hash).ok_or_else(|| corrupt("no op written"))?;
        let at_bound = {
            let mut pending = self.deferred.lock();
            pending.extend(written.iter().map(|(local, hash, _)| PendingOp {
                local: *local,
                hash: *hash,
                author: author.clone(),
            }));
            pending.len() > MAX_DEFERRED
        };
        let presigner = self.deferred.presigner.get_or_init(|| Presigner::start(self.suite.clone()));
        for (_, hash, _) in &written {
            presigner.request(*hash, &author.secret);
        }
        if at_bound {
            // Released first: the commit calls watchers, which may read the replica.
            drop(open);
            self.commit(transaction)?;
        } else {
            *open = Some((transaction, waiting_before));
        }
        Ok(hash)
    }

    /// Makes every deferred write durable: signs them and syncs the store. Returns how many
    /// ops it signed (0 when none waited, and then it costs no disk sync).
    pub fn flush(&self) -> Result<usize, StorageError> {
        let mut open = self.deferred.lock_open();
        if self.deferred.lock().is_empty() {
            return Ok(0);
        }
        let transaction = match open.take() {
            Some((transaction, _)) => transaction,
            None => self.database.begin_write()?,
        };
        drop(open);
        self.commit(transaction)
    }

    /// A read transaction that sees every write, deferred ones included.
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StorageError> {
        let open = self.deferred.lock_open();
        let transaction = self.commit_open(open)?;
        drop(transaction);
        Ok(redb::ReadableDatabase::begin_read(&self.database)?)
    }

    /// A write transaction of its own; deferred writes are committed first. A holder of a write
    /// transaction must not call this, nor [`Replica::begin_read`]: a deferred write that waits
    /// for the store holds the lock they take.
    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction, StorageError> {
        let open = self.deferred.lock_open();
        let open = self.commit_open(open)?;
        // Begun before the lock is released, so that no deferred write opens a transaction
        // (and keeps it) in between.
        let transaction = self.database.begin_write()?;
        drop(open);
        Ok(transaction)
    }

    /// Commits the deferred writes' open transaction, if any, without a disk sync.
    fn commit_open<'g>(
        &self,
        mut open: MutexGuard<'g, Option<(redb::WriteTransaction, usize)>>,
    ) -> Result<MutexGuard<'g, Option<(redb::WriteTransaction, usize)>>, StorageError> {
        if let Some((mut transaction, waiting_before)) = open.take() {
            let committed = transaction
                .set_durability(redb::Durability::None)
                .map_err(|error| StorageError::Transaction(error.to_string()))
                .and_then(|()| transaction.commit().map_err(StorageError::from));
            if let Err(error) = committed {
                self.deferred.lock().truncate(waiting_before);
                return Err(error);
            }
            self.prune_recent();
        }
        Ok(open)
    }

    /// After a commit, drops the recent index entries it may have moved from memory (see
    /// `store::prefix_index`). The commit stands whatever happens here: a failed read only
    /// leaves entries in memory, which lookups confirm anyway, until the next commit.
    fn prune_recent(&self) {
        let _ = self.recent.prune(&self.database);
    }

    /// How many deferred writes wait for a flush.
    pub fn deferred_count(&self) -> usize {
        self.deferred.lock().len()
    }

    /// Commits a write transaction durably. Unsigned deferred ops are signed first, in the same
    /// transaction, so a durable commit never holds an unsigned op. Returns how many it signed.
    pub(crate) fn commit(&self, transaction: redb::WriteTransaction) -> Result<usize, StorageError> {
        let mut pending = self.deferred.lock();
        let mut signed = 0;
        if !pending.is_empty() {
            let mut ops = transaction.open_table(store::OPS)?;
            let items: Vec<ToSign> = pending
                .iter()
                .map(|op| ToSign {
                    local: op.local,
                    hash: op.hash,
                    secret: &op.author.secret,
                    signature: self.deferred.presigner.get().and_then(|presigner| presigner.take(&op.hash)),
                })
                .collect();
            signed = sign_records(&mut ops, &items, self.suite.as_ref(), Missing::Skip)?.patched;
        }
        let last_event = store::last_event(&transaction.open_table(store::EVENTS)?)?;
        transaction.commit()?;
        self.prune_recent();
        self.deferred.durable_events.store(last_event, Ordering::Release);
        pending.clear();
        if let Some(presigner) = self.deferred.presigner.get() {
            presigner.clear();
        }
        drop(pending);
        if signed > 0 {
            self.watchers.notify();
        }
        Ok(signed)
    }
}
