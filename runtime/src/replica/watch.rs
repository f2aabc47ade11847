//! Watching a replica for new ops: callbacks run after every durable transaction that stored
//! ops (local writes, ingest, the flush of deferred writes), so that a live sync session can
//! push them to its peer at once.

use super::Replica;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A registered watcher (see [`Replica::watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WatchId(u64);

type Callback = Arc<dyn Fn() + Send + Sync>;

/// The callbacks of a replica.
#[derive(Default)]
pub(crate) struct Watchers {
    next: AtomicU64,
    callbacks: Mutex<Vec<(WatchId, Callback)>>,
}

impl Watchers {
    /// Runs every callback (outside the lock, so a callback may watch or unwatch).
    pub fn notify(&self) {
        let callbacks: Vec<Callback> = match self.callbacks.lock() {
            Ok(callbacks) => callbacks.iter().map(|(_, callback)| callback.clone()).collect(),
            Err(poisoned) => poisoned.into_inner().iter().map(|(_, callback)| callback.clone()).collect(),
        };
        for callback in callbacks {
            callback();
        }
    }
}

impl Replica {
    /// Calls `callback` after every durable transaction that stores ops in this replica (a local
    /// write, ops from a peer, or the flush of deferred writes), until [`Replica::unwatch`]. The callback runs on the writing thread
    /// and should only signal: wake a task, send on a channel.
    pub fn watch(&self, callback: impl Fn() + Send + Sync + 'static) -> WatchId {
        let id = WatchId(self.watchers.next.fetch_add(1, Ordering::Relaxed));
        let mut callbacks = self.watchers.callbacks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        callbacks.push((id, Arc::new(callback)));
        id
    }

    /// Stops a watcher.
    pub fn unwatch(&self, id: WatchId) {
        let mut callbacks = self.watchers.callbacks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        callbacks.retain(|(existing, _)| *existing != id);
    }
}
