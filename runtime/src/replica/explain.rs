//! Why an op is or is not effective (docs/semantics.md §4), as a value that prints the way
//! `cairn explain` does: the rules that allow each change, by their text, with their witnesses,
//! or the first change no rule allows, and the concurrent ops that defeated it.

use super::Replica;
use crate::dag::Causality;
use crate::engine::Engine;
use crate::error::{Denial, StorageError};
use crate::ids::{Identity, OpHash};
use crate::model::rules::Verdict;
use crate::op::{Payload, Witness};
use crate::store::{InfoLookup, WriteTables};
use std::fmt;

/// Why an op is or is not effective (see [`Replica::explain`]). `Display` prints it as
/// `cairn explain` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The op explained.
    pub op: OpHash,
    /// Its author.
    pub author: Identity,
    /// Whether it is effective in everything this replica holds.
    pub effective: bool,
    /// Whether the author signed another op with a sequence number at or before this one's.
    pub equivocated: bool,
    /// Judged in everything this replica holds except the op and its future: for each change,
    /// the rule that allows it and the rows that witnessed it.
    pub allowed_by: Vec<Allowance>,
    /// Or the first change that no rule allows there, with the failing rules and clauses.
    pub denial: Option<Denial>,
    /// The concurrent ops that defeated it, with their authors: each op whose absence (with its
    /// future) would let the rules hold; all concurrent ops if no single one would.
    pub defeated_by: Vec<(OpHash, Identity)>,
    /// For an op its rules allow, the world it was judged in: the concurrent ops whose writes its
    /// rules could read, and whether each was effective there (everything this replica holds
    /// but the op's own future), and if not, why.
    pub judged_with: Vec<ConcurrentOp>,
}

/// An op concurrent with an explained op, as it stood in the world that op was judged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrentOp {
    /// The concurrent op.
    pub op: OpHash,
    /// Its author.
    pub author: Identity,
    /// Whether it was effective there.
    pub effective: bool,
    /// If not, the change no rule allowed there (none when its author equivocated).
    pub denial: Option<Denial>,
}

/// The rule that allows one change of an op, and the rows that witnessed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    /// The change's index in the op.
    pub change: u32,
    /// The collection the change writes.
    pub collection: String,
    /// The rule's index among the collection's rules.
    pub rule: u32,
    /// The rule as the schema says it: `allow insert if …`.
    pub text: String,
    /// The rows its `exists` found, at the versions it saw.
    pub witnesses: Vec<Witness>,
}

impl fmt::Display for Explanation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.effective { "effective" } else { "not effective" };
        write!(formatter, "{} by {}: {verdict}", self.op, self.author)?;
        if self.equivocated {
            write!(formatter, "\n  its author signed two ops with one sequence number")?;
        }
        for allowed in &self.allowed_by {
            write!(formatter, "\n  change {} ({}) allowed by `{}`", allowed.change, allowed.collection, allowed.text)?;
            for witness in &allowed.witnesses {
                write!(formatter, "\n    witness {} {} at {}", witness.collection, witness.row, witness.version)?;
            }
        }
        if let Some(denial) = &self.denial {
            write!(formatter, "\n  {denial}")?;
        }
        for (op, author) in &self.defeated_by {
            write!(formatter, "\n  defeated by {op} (by {author})")?;
        }
        if !self.judged_with.is_empty() {
            write!(formatter, "\n  judged in everything but its own future, where, concurrently:")?;
        }
        for other in &self.judged_with {
            write!(formatter, "\n    {} (by {}) ", other.op, other.author)?;
            match (&other.denial, other.effective) {
                (_, true) => write!(formatter, "was effective")?,
                (Some(denial), false) => write!(formatter, "was not effective: {denial}")?,
                (None, false) => write!(formatter, "was not effective: its author equivocated")?,
            }
        }
        Ok(())
    }
}

impl Replica {
    /// Why an op is or is not effective; `None` if the log does not hold it. Judging needs the
    /// engine's write-side view, so this takes (and abandons) a write transaction.
    pub fn explain(&self, op: &OpHash) -> Result<Option<Explanation>, StorageError> {
        let transaction = self.begin_write()?;
        let explanation = {
            let tables = WriteTables::open(&transaction, &self.recent)?;
            let Some(local) = tables.local_of(op)? else { return Ok(None) };
            let founder =
                self.founder(&tables)?.ok_or_else(|| StorageError::Corrupt("an op without a genesis".into()))?;
            let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
            let explained = engine.explain(&tables, local)?;
            let (_, _, explained_op) =
                tables.load(local)?.ok_or_else(|| StorageError::Corrupt(format!("op {op} vanished")))?;
            let author = explained_op.author;
            let mut defeated_by = Vec::new();
            for hash in explained.defeated_by {
                let missing = || StorageError::Corrupt(format!("op {hash} defeated {op} but is not in the log"));
                let other = tables.local_of(&hash)?.ok_or_else(missing)?;
                let (_, _, other) = tables.load(other)?.ok_or_else(missing)?;
                defeated_by.push((hash, other.author));
            }
            let (allowed_by, denial) = match explained.verdict {
                Verdict::Allowed(attestations) => {
                    let changes = match &explained_op.payload {
                        Payload::Changes(changes) => changes.as_slice(),
                        Payload::Genesis { .. } => &[],
                    };
                    let allowances = attestations
                        .into_iter()
                        .map(|attestation| {
                            let collection = changes
                                .get(attestation.change as usize)
                                .map(|change| change.collection().to_owned())
                                .unwrap_or_default();
                            let text = self
                                .schema()
                                .collections
                                .get(&collection)
                                .and_then(|definition| definition.rules.get(attestation.rule as usize))
                                .map(ToString::to_string)
                                .unwrap_or_default();
                            Allowance {
                                change: attestation.change,
                                collection,
                                rule: attestation.rule,
                                text,
                                witnesses: attestation.witnesses.into_vec(),
                            }
                        })
                        .collect();
                    (allowances, None)
                }
                Verdict::Denied(denial) => (Vec::new(), Some(denial)),
            };
            let mut judged_with = Vec::new();
            for (hash, why) in explained.judged_with {
                let missing = || StorageError::Corrupt(format!("op {hash} is concurrent with {op} but not in the log"));
                let other = tables.local_of(&hash)?.ok_or_else(missing)?;
                let (_, _, other) = tables.load(other)?.ok_or_else(missing)?;
                let denial = match &why {
                    Some(Verdict::Denied(denial)) => Some(denial.clone()),
                    Some(Verdict::Allowed(_)) | None => None,
                };
                judged_with.push(ConcurrentOp { op: hash, author: other.author, effective: why.is_none(), denial });
            }
            Explanation {
                op: *op,
                author,
                effective: explained.effective,
                equivocated: explained.equivocated,
                allowed_by,
                denial,
                defeated_by,
                judged_with,
            }
        };
        transaction.abort()?;
        Ok(Some(explanation))
    }
}
