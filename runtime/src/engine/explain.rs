//! Explaining a verdict (docs/semantics.md §4), and checking that the materialized state is
//! what the engine's rules make of the log.

use super::Engine;
use crate::dag::{Causality, OpInfo};
use crate::error::StorageError;
use crate::ids::{OpHash, RowId};
use crate::model::rules::Verdict;
use crate::op::Payload;
use crate::store::{self, WriteTables};
use redb::ReadableTable;

/// What [`Engine::explain`] finds.
pub(crate) struct Explained {
    pub effective: bool,
    pub equivocated: bool,
    /// The op judged in everything but its own future: its rules and witnesses, or the denial.
    pub verdict: Verdict,
    pub defeated_by: Vec<OpHash>,
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
                verdict: Verdict::Allowed(Vec::new()),
                defeated_by: Vec::new(),
            });
        };
        let judge_in = |view: &[OpInfo]| self.judge_stored(tables, &op, changes, view);
        let verdict = judge_in(&[op.info])?;
        let mut defeated_by = Vec::new();
        if !verdict.is_allowed() {
            // The concurrent ops: not in the op's past, not in its future.
            let mut concurrent = Vec::new();
            let parents: Vec<OpInfo> = {
                let mut infos = Vec::new();
                for parent in &op.op.parents {
                    if let Some(parent_local) = tables.local_of(parent)? {
                        infos.push(self.load(tables, parent_local)?.info);
                    }
                }
                infos
            };
            for other in self.concurrent_with(tables, &parents)? {
                if other.info.local != local && !self.precedes(tables, &op.info, &other)? {
                    concurrent.push(other);
                }
            }
            for other in &concurrent {
                if judge_in(&[op.info, other.info])?.is_allowed() {
                    defeated_by.push(other.info.hash);
                }
            }
            if defeated_by.is_empty() {
                defeated_by = concurrent.iter().map(|other| other.info.hash).collect();
            }
            defeated_by.sort();
        }
        self.reset_round(None);
        Ok(Explained { effective, equivocated, verdict, defeated_by })
    }
}

impl Engine<'_> {
    /// Checks that every materialized row is the fold of its effective writers, and that event
    /// numbers have no gaps.
    pub fn verify(&self, tables: &WriteTables) -> Result<(), StorageError> {
        for entry in tables.rows.iter()? {
            let (id, record) = entry?;
            let id = RowId(*id.value());
            let (_, stored) = store::decode_row_record(record.value())?;
            let mut writers = Vec::new();
            for local in store::row_writers(&tables.rows, &tables.row_writers, &id)? {
                if self.stored_effective(tables, local)? {
                    writers.push(self.load(tables, local)?);
                }
            }
            if self.fold(tables, &id, &writers)? != stored {
                return Err(StorageError::Corrupt(format!("row {id} differs from the fold of its effective writers")));
            }
        }
        for (expected, entry) in (1..).zip(tables.events.iter()?) {
            let seq = entry?.0.value();
            if seq != expected {
                return Err(StorageError::Corrupt(format!("event {expected} is missing (found {seq})")));
            }
        }
        Ok(())
    }
}
