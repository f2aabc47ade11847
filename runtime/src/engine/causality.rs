//! Causality for the engine: whether one op precedes another (by version vector, or by a walk
//! when an author forked its chain), which ops are concurrent with a new op, and the views that
//! exclude an op's future or everything outside an unstored op's past.

use super::{Engine, Loaded, PAST_WALK_BUDGET};
use crate::dag::{Causality, Clock, OpInfo};
use crate::error::StorageError;
use crate::store::WriteTables;
use redb::ReadableTableMetadata;
use std::collections::BTreeSet;
use std::rc::Rc;

impl Engine<'_> {
    /// Whether `ancestor` is strictly in the causal past of `descendant`.
    pub(super) fn precedes(
        &self,
        tables: &WriteTables,
        ancestor: &OpInfo,
        descendant: &Loaded,
    ) -> Result<bool, StorageError> {
        self.precedes_stamp(tables, ancestor, &descendant.info, &descendant.clock)
    }

    pub(super) fn precedes_stamp(
        &self,
        tables: &WriteTables,
        ancestor: &OpInfo,
        descendant: &OpInfo,
        clock: &Clock,
    ) -> Result<bool, StorageError> {
        if ancestor.depth >= descendant.depth {
            return Ok(false);
        }
        if self.forked_from(tables, ancestor.author)?.is_some_and(|from| ancestor.seq >= from) {
            return tables.is_ancestor(ancestor, descendant);
        }
        Ok(clock.get(ancestor.author) >= ancestor.seq)
    }

    /// Whether an op is in the causal past of an unstored op with these parents.
    pub(super) fn in_past_of(
        &self,
        tables: &WriteTables,
        op: &OpInfo,
        parents: &[OpInfo],
    ) -> Result<bool, StorageError> {
        for parent in parents {
            if parent.local == op.local {
                return Ok(true);
            }
            let stamp = self.stamp(tables, parent.local)?;
            if self.precedes_stamp(tables, op, &stamp.0, &stamp.1)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a view (everything except the futures of `excluded`) holds an op.
    pub(super) fn in_view(&self, tables: &WriteTables, view: &[OpInfo], op: &Loaded) -> Result<bool, StorageError> {
        for excluded in view {
            if excluded.local == op.info.local || self.precedes(tables, excluded, op)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The view an op is judged in from `view`: without the op's own future, and without the
    /// exclusions that its future already covers, so equal sets get equal keys.
    pub(super) fn judging_view(
        &self,
        tables: &WriteTables,
        view: &[OpInfo],
        op: &Loaded,
    ) -> Result<Vec<OpInfo>, StorageError> {
        let mut kept = vec![op.info];
        for excluded in view {
            if !self.precedes(tables, &op.info, &*self.load(tables, excluded.local)?)? {
                kept.push(*excluded);
            }
        }
        // Drop exclusions inside another's future.
        let mut minimal = Vec::with_capacity(kept.len());
        for candidate in &kept {
            let loaded = self.load(tables, candidate.local)?;
            let mut covered = false;
            for other in &kept {
                if other.local != candidate.local && self.precedes(tables, other, &loaded)? {
                    covered = true;
                    break;
                }
            }
            if !covered {
                minimal.push(*candidate);
            }
        }
        minimal.sort_by_key(|info| info.local);
        minimal.dedup_by_key(|info| info.local);
        Ok(minimal)
    }

    /// Whether the log holds ops outside the causal past of an op with these parents: unless
    /// its parents are the log's heads (the usual case), it does, since a head that is not a
    /// parent is in no parent's past.
    pub(crate) fn has_concurrent(&self, tables: &WriteTables, parents: &[OpInfo]) -> Result<bool, StorageError> {
        for head in tables.heads() {
            if !parents.iter().any(|parent| parent.local == head) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The ops the log holds that are not in the causal past of an op with these parents
    /// (everything concurrent with it), in log order.
    pub(super) fn concurrent_with(
        &self,
        tables: &WriteTables,
        parents: &[OpInfo],
    ) -> Result<Vec<Rc<Loaded>>, StorageError> {
        Ok(self.walk_concurrent(tables, parents, usize::MAX)?.unwrap_or_default())
    }

    /// Walks down from the heads to the past of an op with these parents, collecting the ops
    /// outside it; `None` once more than `budget` ops are found.
    pub(super) fn walk_concurrent(
        &self,
        tables: &WriteTables,
        parents: &[OpInfo],
        budget: usize,
    ) -> Result<Option<Vec<Rc<Loaded>>>, StorageError> {
        if !self.has_concurrent(tables, parents)? {
            return Ok(Some(Vec::new()));
        }
        let mut stack: Vec<u64> = tables.heads().collect();
        let mut seen = BTreeSet::new();
        let mut concurrent = Vec::new();
        while let Some(local) = stack.pop() {
            if !seen.insert(local) {
                continue;
            }
            let stamp = self.stamp(tables, local)?;
            if self.in_past_of(tables, &stamp.0, parents)? {
                continue;
            }
            if concurrent.len() == budget {
                return Ok(None);
            }
            let op = self.load(tables, local)?;
            for parent in &op.op.parents {
                if let Some(parent_local) = tables.local_of(parent)? {
                    stack.push(parent_local);
                }
            }
            concurrent.push(op);
        }
        concurrent.sort_by_key(|op| op.info.local);
        Ok(Some(concurrent))
    }

    /// The view of an unstored op's causal past: the log less the futures of some ops outside
    /// that past that cover all the others. When few ops are outside, they are found by walking
    /// down from the heads; otherwise, without reading them, from the version vector: every op
    /// outside the past descends from (or is) the first op of its author that the past lacks.
    /// Either way the cost is bounded before the op is judged, whatever its parents.
    pub(super) fn past_view(&self, tables: &WriteTables, parents: &[OpInfo]) -> Result<Vec<OpInfo>, StorageError> {
        if let Some(concurrent) = self.walk_concurrent(tables, parents, PAST_WALK_BUDGET)? {
            let locals: BTreeSet<u64> = concurrent.iter().map(|op| op.info.local).collect();
            let mut view = Vec::new();
            for op in &concurrent {
                let mut minimal = true;
                for parent in &op.op.parents {
                    if tables.local_of(parent)?.is_some_and(|local| locals.contains(&local)) {
                        minimal = false;
                        break;
                    }
                }
                if minimal {
                    view.push(op.info);
                }
            }
            return Ok(view);
        }
        let mut clock = Clock::default();
        for parent in parents {
            clock.merge(&self.stamp(tables, parent.local)?.1);
        }
        let authors = u32::try_from(tables.authors.len()?).unwrap_or(u32::MAX);
        let mut view = Vec::new();
        for author in 0..authors {
            let seen = clock.get(author);
            // A forked author's other branch may hold ops at sequence numbers the past has.
            let from = match self.forked_from(tables, author)? {
                Some(fork) if fork <= seen => fork,
                _ => seen.saturating_add(1),
            };
            for seq in from..=seen.saturating_add(1) {
                for local in tables.chain_entries(author, seq)? {
                    let info = self.stamp(tables, local)?.0;
                    if !self.in_past_of(tables, &info, parents)? {
                        view.push(info);
                    }
                }
            }
        }
        Ok(view)
    }
}
