//! The checks of docs/SPEC.md §2.4 that judge an op against its parents alone: the database id
//! (step 4), its depth and its author's chain (step 6). Pure functions of the op and its
//! parents' metadata: they read and write no table.

use crate::dag::OpInfo;
use crate::error::{ChainError, IngestError};
use crate::ids::{DatabaseId, OpHash};
use crate::op::{Op, Payload};

/// Step 4: the op belongs to this database. A genesis op has no database id: its hash is the id.
pub(super) fn database(op: &Op, hash: OpHash, id: DatabaseId) -> Result<(), IngestError> {
    match (&op.database, &op.payload) {
        (None, Payload::Genesis { .. }) => {
            if DatabaseId::from(hash) != id {
                return Err(IngestError::Genesis { op: hash, reason: "the genesis of another database" });
            }
            if op.seq != 1 || op.depth != 1 || !op.parents.is_empty() {
                return Err(IngestError::Genesis {
                    op: hash,
                    reason: "a genesis op has seq 1, depth 1 and no parents",
                });
            }
            Ok(())
        }
        (None, _) => Err(IngestError::WrongDatabase { op: hash, expected: id, found: "none".into() }),
        (Some(_), Payload::Genesis { .. }) => {
            Err(IngestError::Genesis { op: hash, reason: "only the first op of a database is a genesis" })
        }
        (Some(database), _) if *database != id => {
            Err(IngestError::WrongDatabase { op: hash, expected: id, found: database.to_string() })
        }
        (Some(_), _) if op.parents.is_empty() => {
            Err(IngestError::Sequence { op: hash, problem: ChainError::NoParents })
        }
        (Some(_), _) => Ok(()),
    }
}

/// Step 6: the op's depth is one more than its deepest parent's.
pub(super) fn depth(op: &Op, hash: OpHash, parents: &[OpInfo]) -> Result<(), IngestError> {
    let expected = 1 + parents.iter().map(|info| info.depth).max().unwrap_or(0);
    if op.depth == expected {
        Ok(())
    } else {
        Err(IngestError::Depth { op: hash, expected, found: op.depth })
    }
}

/// Step 6: the author's chain. An op with sequence number `n > 1` has the author's op `n - 1`
/// among its parents and no newer op of the author; the author's first op has none of the
/// author's ops as a parent. (Two ops with one number are an equivocation, which is kept as
/// evidence, not refused.)
pub(super) fn chain(op: &Op, author: u32, parents: &[OpInfo]) -> Result<(), ChainError> {
    let own_parents: Vec<&OpInfo> = parents.iter().filter(|info| info.author == author).collect();
    match op.seq {
        0 => Err(ChainError::ZeroSequence),
        1 if !own_parents.is_empty() => Err(ChainError::FirstWithOwnParent),
        1 => Ok(()),
        seq => {
            if !own_parents.iter().any(|info| info.seq == seq - 1) {
                return Err(ChainError::MissingPrevious { previous: seq - 1 });
            }
            match own_parents.iter().find(|info| info.seq >= seq) {
                Some(newer) => Err(ChainError::NewerParent { parent: newer.seq }),
                None => Ok(()),
            }
        }
    }
}
