//! Signing ops already in the log: a local write appends its ops with a blank signature, then
//! signs them all at once (on two threads when there are many) and writes the signatures into
//! their records, in the transaction that commits them. Ops of one batch are signed in
//! parallel this way, and deferred writes (see `deferred`) are signed by the flush.

use crate::crypto::{CryptoSuite, SecretKey};
use crate::error::{corrupt, StorageError};
use crate::ids::OpHash;
use crate::store::{set_signature, Patched};
use redb::ReadableTable;

/// An op of the log to sign: its local number, its hash and its author's key, and its
/// signature if it was made already (a deferred write's, by the background signer).
pub(crate) struct ToSign<'k> {
    pub local: u64,
    pub hash: OpHash,
    pub secret: &'k SecretKey,
    pub signature: Option<[u8; 64]>,
}

/// What to do with an op that is not in the log under its hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missing {
    /// It must be there: the store is corrupt.
    Fail,
    /// Leave it out: a deferred write whose commit failed without applying it.
    Skip,
}

/// From how many ops signing is split over two threads.
const PARALLEL_FROM: usize = 64;

/// What [`sign_records`] did.
pub(crate) struct Signed {
    /// The signatures, in the order of the items.
    pub signatures: Vec<[u8; 64]>,
    /// How many records now hold theirs (the others were skipped).
    pub patched: usize,
}

/// Signs the ops and writes each signature into its record, checking first that the record is
/// the op's (its hash).
pub(crate) fn sign_records(
    ops: &mut redb::Table<u64, &'static [u8]>,
    items: &[ToSign],
    suite: &dyn CryptoSuite,
    missing: Missing,
) -> Result<Signed, StorageError> {
    let sign = |slice: &[ToSign]| -> Vec<[u8; 64]> {
        slice
            .iter()
            .map(|item| {
                item.signature.unwrap_or_else(|| suite.sign(item.secret, &crate::op::signed_message(&item.hash)))
            })
            .collect()
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
    let mut patched = 0;
    for index in order {
        let ToSign { local, hash, .. } = items[index];
        if let Some((start, chunk)) = &mut open {
            match set_signature(chunk, *start, local, &hash, &signatures[index])? {
                Patched::Done => {
                    patched += 1;
                    continue;
                }
                Patched::NotThisOp => {
                    mismatch(missing, local)?;
                    continue;
                }
                Patched::NotInChunk => ops.insert(*start, chunk.as_slice())?,
            };
            open = None;
        }
        let Some((start, mut chunk)) =
            ops.range(..=local)?.next_back().transpose()?.map(|(start, chunk)| (start.value(), chunk.value().to_vec()))
        else {
            mismatch(missing, local)?;
            continue;
        };
        if set_signature(&mut chunk, start, local, &hash, &signatures[index])? == Patched::Done {
            patched += 1;
        } else {
            mismatch(missing, local)?;
        }
        open = Some((start, chunk));
    }
    if let Some((start, chunk)) = open {
        ops.insert(start, chunk.as_slice())?;
    }
    Ok(Signed { signatures, patched })
}

/// An op that is not in the log under its hash: an error, or nothing to sign.
fn mismatch(missing: Missing, local: u64) -> Result<(), StorageError> {
    match missing {
        Missing::Fail => Err(corrupt(format!("op #{local} is not the op to sign"))),
        Missing::Skip => Ok(()),
    }
}
