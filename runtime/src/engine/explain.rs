//! Explaining a verdict (docs/semantics.md §4), and checking that the materialized state is
//! what the engine's rules make of the log.

use super::Engine;
use crate::dag::{Causality, OpInfo};
use crate::error::StorageError;
use crate::ids::OpHash;
use crate::model::rules::Verdict;
use crate::op::{Attestations, Payload};
use crate::store::{self, WriteTables};
use redb::ReadableTable;

/// What [`Engine::explain`] finds.
pub(crate) struct Explained {
    pub effective: bool,
    pub equivocated: bool,
    /// The op judged in everything but its own future: its rules and witnesses, or the denial.
    pub verdict: Verdict,
    pub defeated_by: Vec<OpHash>,
    /// For an op its rules allow: the concurrent ops whose writes its rules could read, each
    /// with whether it was effective in the world the op was judged in, and if not, why.
    pub judged_with: Vec<(OpHash, Option<Verdict>)>,
}

impl Engine<'_> {
    /// Why an op is or is not effective now (see [`crate::replica::Explanation`]).
    pub(crate) fn explain(&self, tables: &WriteTables, local: u64) -> Result<Explained, StorageError> {
        self.reset_round(None);
        let op = self.load(tables, local)?;
        let effective = self.stored_effective(tables, local)? || matches!(op.op.payload, Payload::Genesis { .. });
        let equivocated = self.equivocated_in(tables, &op, &[])?;
        let Payload::Changes(changes) = &op.op.payload else {
            return Ok(Explained {
                effective,
                equivocated,
                verdict: Verdict::Allowed(Attestations::new()),
                defeated_by: Vec::new(),
                judged_with: Vec::new(),
            });
        };
        // Only the op's own verdict shows its witnesses; the others are read for allowed or why not.
        let judge_in = |view: &[OpInfo], attest: bool| self.judge_stored(tables, &op, changes, view, attest);
        let verdict = judge_in(&[op.info], true)?;
        // The concurrent ops: not in the op's past, not in its future.
        let mut concurrent = Vec::new();
        let mut parents = Vec::new();
        for parent in &op.op.parents {
            if let Some(parent_local) = tables.local_of(parent)? {
                parents.push(self.load(tables, parent_local)?.info);
            }
        }
        for other in self.concurrent_with(tables, &parents)? {
            if other.info.local != local && !self.precedes(tables, &op.info, &other)? {
                concurrent.push(other);
            }
        }
        let mut defeated_by = Vec::new();
        let mut judged_with = Vec::new();
        if verdict.is_allowed() {
            // The world it was judged in: the concurrent ops whose writes its rules could read,
            // as they stood there (each judged without the op's future, and its own).
            let footprint = self.footprint(&op);
            for other in &concurrent {
                if footprint.is_disjoint(&self.writes(other)) {
                    continue;
                }
                let effective_there = self.effective_in(tables, other.info.local, &[op.info])?;
                let why = if effective_there {
                    None
                } else {
                    let view = self.judging_view(tables, &[op.info], other)?;
                    Some(self.judge_stored(tables, other, other.changes(), &view, false)?)
                };
                judged_with.push((other.info.hash, why));
            }
        } else {
            for other in &concurrent {
                if judge_in(&[op.info, other.info], false)?.is_allowed() {
                    defeated_by.push(other.info.hash);
                }
            }
            if defeated_by.is_empty() {
                defeated_by = concurrent.iter().map(|other| other.info.hash).collect();
            }
            defeated_by.sort();
        }
        self.reset_round(None);
        Ok(Explained { effective, equivocated, verdict, defeated_by, judged_with })
    }
}

impl Engine<'_> {
    /// Checks that every materialized row is the fold of its effective writers, and that event
    /// numbers have no gaps.
    pub fn verify(&self, tables: &WriteTables) -> Result<(), StorageError> {
        for entry in tables.rows.iter()? {
            let (number, record) = entry?;
            let (id, stored) = store::decode_row_record(number.value(), record.value())?;
            if store::row_number(&tables.rows, &tables.row_ids, &id)?.map(|found| found.0) != Some(number.value()) {
                return Err(StorageError::Corrupt(format!("row {id} is not found by its id")));
            }
            let mut writers = Vec::new();
            for local in store::row_writers(&tables.rows, &tables.row_ids, &tables.row_writers, &id)? {
                if self.stored_effective(tables, local)? {
                    writers.push(self.load(tables, local)?);
                }
            }
            if self.fold(tables, &id, &writers)? != stored {
                return Err(StorageError::Corrupt(format!("row {id} differs from the fold of its effective writers")));
            }
        }
        let mut expected = 1;
        store::visit_events(&tables.events, 1, &mut |seq, _| {
            if seq != expected {
                return Err(StorageError::Corrupt(format!("event {expected} is missing (found {seq})")));
            }
            expected += 1;
            Ok(true)
        })?;
        Ok(())
    }
}
