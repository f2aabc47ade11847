//! Signing ops already in the log: a local write appends its ops with a blank signature, then
//! signs them all at once (on two threads when there are many) and writes the signatures into
//! their records, in the transaction that commits them. Ops of one batch are signed in
//! parallel this way, and deferred writes (see `deferred`) are signed by the flush.

use crate::crypto::{CryptoSuite, SecretKey};
use crate::error::{corrupt, StorageError};
use crate::ids::OpHash;
use crate::store::set_signature;
use redb::ReadableTable;

/// An op of the log to sign: its local number, its hash and its author's key.
pub(crate) struct ToSign<'k> {
    pub local: u64,
    pub hash: OpHash,
    pub secret: &'k SecretKey,
}

/// From how many ops signing is split over two threads.
const PARALLEL_FROM: usize = 64;

/// Signs the ops and writes each signature into its record; returns the signatures, in order.
pub(crate) fn sign_records(
    ops: &mut redb::Table<u64, &'static [u8]>,
    items: &[ToSign],
    suite: &dyn CryptoSuite,
) -> Result<Vec<[u8; 64]>, StorageError> {
    let sign = |slice: &[ToSign]| -> Vec<[u8; 64]> {
        slice.iter().map(|item| suite.sign(item.secret, &crate::op::signed_message(&item.hash))).collect()
    };
    let signatures = if items.len() >= PARALLEL_FROM {
        let (first, second) = items.split_at(items.len() / 2);
        std::thread::scope(|scope| {
            let other = scope.spawn(|| sign(second));
            let mut signatures = sign(first);
            signatures.extend(other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            signatures
        })
    } else {
        sign(items)
    };
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&index| items[index].local);
    // Records are packed in chunks: each chunk is read, patched and written back once.
    let mut open: Option<(u64, Vec<u8>)> = None;
    for index in order {
        let local = items[index].local;
        if let Some((start, chunk)) = &mut open {
            if set_signature(chunk, *start, local, &signatures[index])? {
                continue;
            }
            ops.insert(*start, chunk.as_slice())?;
        }
        let (start, mut chunk) = ops
            .range(..=local)?
            .next_back()
            .transpose()?
            .map(|(start, chunk)| (start.value(), chunk.value().to_vec()))
            .ok_or_else(|| corrupt(format!("op #{local} has no chunk")))?;
        if !set_signature(&mut chunk, start, local, &signatures[index])? {
            return Err(corrupt(format!("op #{local} is not in its chunk")));
        }
        open = Some((start, chunk));
    }
    if let Some((start, chunk)) = open {
        ops.insert(start, chunk.as_slice())?;
    }
    Ok(signatures)
}
