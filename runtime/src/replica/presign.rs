//! Signatures for deferred writes, made on a background thread while the app goes on writing.
//!
//! A deferred write is stored unsigned and signed by the flush (see `deferred`); signing is
//! most of what a flush costs. So each deferred write also hands its op's hash and key to a
//! thread of the replica's, which signs it and keeps the signature in memory; the flush takes
//! the signatures made and makes the others. Nothing changes on disk: a crash loses the
//! signatures with the ops they sign, and the flush writes them in the same durable commit as
//! before. Ed25519 signing is deterministic, so a signature made twice is the same.

use crate::crypto::{CryptoSuite, SecretKey};
use crate::ids::OpHash;
use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

/// The signing thread of a replica, and what it has signed. The thread ends when this is
/// dropped.
pub(crate) struct Presigner {
    /// `None` when the thread could not be started: the flush signs everything then.
    requests: Option<Sender<(OpHash, SecretKey)>>,
    signed: Arc<Mutex<HashMap<OpHash, [u8; 64]>>>,
}

impl Presigner {
    pub fn start(suite: Arc<dyn CryptoSuite>) -> Presigner {
        let signed: Arc<Mutex<HashMap<OpHash, [u8; 64]>>> = Arc::default();
        let (sender, receiver) = std::sync::mpsc::channel::<(OpHash, SecretKey)>();
        let made = signed.clone();
        let started = std::thread::Builder::new().name("cairn-presign".into()).spawn(move || {
            for (hash, secret) in receiver {
                let signature = suite.sign(&secret, &crate::op::signed_message(&hash));
                lock(&made).insert(hash, signature);
            }
        });
        Presigner { requests: started.ok().map(|_| sender), signed }
    }

    /// Asks for the op's signature.
    pub fn request(&self, hash: OpHash, secret: &SecretKey) {
        if let Some(requests) = &self.requests {
            // A send fails only if the thread is gone; the flush then signs the op itself.
            let _ = requests.send((hash, secret.clone()));
        }
    }

    /// The op's signature, if the thread has made it.
    pub fn take(&self, hash: &OpHash) -> Option<[u8; 64]> {
        lock(&self.signed).remove(hash)
    }

    /// Forgets every signature made (after a flush, which signed every waiting op).
    pub fn clear(&self) {
        lock(&self.signed).clear();
    }
}

fn lock(signed: &Mutex<HashMap<OpHash, [u8; 64]>>) -> MutexGuard<'_, HashMap<OpHash, [u8; 64]>> {
    signed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
