//! Effectiveness in a view: an op is effective in "the log except the futures of these ops"
//! when its author did not equivocate there and its rules hold in the view without its own
//! future. Verdicts are memoized per view for the round; the one in the whole log is the
//! stored flag unless the round is deciding it.

use super::views::ViewWorld;
use super::{Engine, Loaded};
use crate::dag::OpInfo;
use crate::error::StorageError;
use crate::ids::RowId;
use crate::model::row::RowState;
use crate::model::rules::{self, Judged, Verdict};
use crate::op::{Change, Payload};
use crate::plan::Use;
use crate::store::WriteTables;
use redb::ReadableTable;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// One round's working memory: the verdicts and rows computed for each view.
#[derive(Default)]
pub(super) struct Round {
    /// The op this round adds: a view that excludes only it is the state before the round.
    pub new: Option<u64>,
    /// Ops whose stored verdict may be stale until they are judged again.
    pub pending: BTreeSet<u64>,
    /// Verdicts in the whole log, decided this round.
    pub decided: HashMap<u64, bool>,
    pub verdicts: HashMap<(u64, Vec<u64>), bool>,
    pub rows: HashMap<(Vec<u64>, RowId, Use), Option<Rc<RowState>>>,
    pub forked: HashMap<u32, Option<u64>>,
}

impl Engine<'_> {
    /// The verdict the log keeps for an op: as of before the round (the op the round adds was
    /// not in the log then).
    pub(super) fn stored_effective(&self, tables: &WriteTables, local: u64) -> Result<bool, StorageError> {
        if self.round.borrow().new == Some(local) {
            return Ok(false);
        }
        Ok(tables.ineffective.get(local)?.is_none())
    }

    /// Whether an op in the view is effective in it.
    pub(super) fn effective_in(&self, tables: &WriteTables, local: u64, view: &[OpInfo]) -> Result<bool, StorageError> {
        let op = self.load(tables, local)?;
        let Payload::Changes(changes) = &op.op.payload else { return Ok(true) };
        // Equivocation is judged in the set the op is judged in, its own future included.
        if self.equivocated_in(tables, &op, view)? {
            return Ok(false);
        }
        let forked = self.forked_from(tables, op.info.author)?.is_some_and(|from| op.info.seq >= from);
        let judging = self.judging_view(tables, view, &op)?;
        if judging.len() == 1 && !forked {
            // Judged in the whole log less its own future: the verdict the log keeps, unless
            // this round is still deciding it.
            let round = self.round.borrow();
            if let Some(decided) = round.decided.get(&local) {
                return Ok(*decided);
            }
            if !round.pending.contains(&local) && round.new != Some(local) {
                drop(round);
                return self.stored_effective(tables, local);
            }
        }
        let key = (local, judging.iter().map(|info| info.local).collect::<Vec<_>>());
        if let Some(known) = self.round.borrow().verdicts.get(&key) {
            return Ok(*known);
        }
        // The set judged in is `judging` without the op itself; the op's future is excluded
        // from it by `judging` already.
        let effective = self.judge_stored(tables, &op, changes, &judging, false)?.is_allowed();
        self.round.borrow_mut().verdicts.insert(key, effective);
        Ok(effective)
    }

    /// Judges an op of the log in a view (which excludes the op's future); `attest`: whether
    /// the verdict names the rule and witnesses of each change.
    pub(super) fn judge_stored(
        &self,
        tables: &WriteTables,
        op: &Loaded,
        changes: &[Change],
        view: &[OpInfo],
        attest: bool,
    ) -> Result<Verdict, StorageError> {
        let world = ViewWorld { engine: self, tables, view };
        let seen = |tag: u64| self.seen_by(tables, op, tag);
        let judged = Judged {
            schema: self.schema,
            read: &self.plan.read,
            suite: self.suite,
            founder: self.founder,
            author: op.op.author,
            hash: op.info.hash,
            depth: op.info.depth,
            changes,
            check_references: false,
            tag: op.info.local,
            seen: &seen,
            hints: &op.op.attestations,
            attest,
        };
        rules::judge(&world, &judged)
    }

    /// Whether the op's author signed two ops with one sequence number, at or before the op's,
    /// both in the view (which holds the op).
    pub(super) fn equivocated_in(
        &self,
        tables: &WriteTables,
        op: &Loaded,
        view: &[OpInfo],
    ) -> Result<bool, StorageError> {
        let Some(from) = self.forked_from(tables, op.info.author)? else { return Ok(false) };
        if from > op.info.seq {
            return Ok(false);
        }
        let others = view;
        let mut by_seq: BTreeMap<u64, usize> = BTreeMap::new();
        let chain = tables.chains.from(op.info.author, from)?;
        for (seq, local) in chain.into_iter().take_while(|(seq, _)| *seq <= op.info.seq) {
            let candidate = self.load(tables, local)?;
            if local == op.info.local || self.in_view(tables, others, &candidate)? {
                *by_seq.entry(seq).or_default() += 1;
            }
        }
        Ok(by_seq.values().any(|count| *count > 1))
    }

    /// Whether a set-field tag names an op the given op has seen (itself or its past).
    pub(super) fn seen_by(&self, tables: &WriteTables, op: &Loaded, tag: u64) -> Result<bool, StorageError> {
        if tag == op.info.local {
            return Ok(true);
        }
        let tagged = self.load(tables, tag)?;
        self.precedes(tables, &tagged.info, op)
    }
}
