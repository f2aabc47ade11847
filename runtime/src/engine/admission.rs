//! Admission: judging an op that is not in the log yet in its causal past. Its attestations
//! are checked first (each names a rule that covers its change, and each witness is visible at
//! that version), then its rules; an op that fails either is not admissible, for good.

use super::views::ViewWorld;
use super::{Engine, Unstored, UNSTORED_TAG};
use crate::error::{AttestationError, Denial, StorageError};
use crate::model::rules::{self, Judged, Verdict};
use crate::model::world::visible_row;
use crate::op::{Attestation, Change, Edit};
use crate::plan::Use;
use crate::store::WriteTables;

/// Why an op is not admissible, or could not be judged.
#[derive(Debug)]
pub(crate) enum Inadmissible {
    /// An attestation the op's past does not bear out.
    Attestation(AttestationError),
    /// A change no rule allows in the op's past.
    Denied(Box<Denial>),
    Storage(StorageError),
}

impl From<StorageError> for Inadmissible {
    fn from(error: StorageError) -> Inadmissible {
        Inadmissible::Storage(error)
    }
}

impl Engine<'_> {
    /// Admits an op from a peer: judges it in its causal past, its attestations first, then
    /// its rules.
    pub(crate) fn admit(
        &self,
        tables: &WriteTables,
        candidate: &Unstored,
        attestations: &[Attestation],
    ) -> Result<(), Inadmissible> {
        let view = self.past_view(tables, candidate.parents)?;
        let world = ViewWorld { engine: self, tables, view: &view };
        if let Some(error) = self.false_attestation(&world, candidate, attestations)? {
            return Err(Inadmissible::Attestation(error));
        }
        match self.judge_unstored_in(&world, candidate, attestations, false)? {
            Verdict::Allowed(_) => Ok(()),
            Verdict::Denied(denial) => Err(Inadmissible::Denied(Box::new(denial))),
        }
    }

    /// Judges an op that is not in the log yet (a local draft) in its causal past: for each
    /// change the rule and witnesses, which the write signs as its attestations, or the denial.
    pub(crate) fn judge_unstored(&self, tables: &WriteTables, candidate: &Unstored) -> Result<Verdict, StorageError> {
        let view = self.past_view(tables, candidate.parents)?;
        self.judge_unstored_in(&ViewWorld { engine: self, tables, view: &view }, candidate, &[], true)
    }

    /// Judges `candidate` in `world`, its `exists` trying the rows `attestations` name first;
    /// `attest`: whether the verdict names the rule and witnesses of each change.
    fn judge_unstored_in(
        &self,
        world: &ViewWorld,
        candidate: &Unstored,
        attestations: &[Attestation],
        attest: bool,
    ) -> Result<Verdict, StorageError> {
        // Rounds end with an empty memo (see `settle`), and nothing is written between rounds:
        // what this judgment reads stays valid for the next one until an op is appended.
        let tables = world.tables;
        let seen = |tag: u64| -> Result<bool, StorageError> {
            if tag == UNSTORED_TAG {
                return Ok(true);
            }
            let tagged = self.load(tables, tag)?;
            self.in_past_of(tables, &tagged.info, candidate.parents)
        };
        let judged = Judged {
            schema: self.schema,
            read: &self.plan.read,
            suite: self.suite,
            founder: self.founder,
            author: candidate.author,
            hash: candidate.hash,
            depth: candidate.depth,
            changes: candidate.changes,
            check_references: true,
            tag: UNSTORED_TAG,
            seen: &seen,
            hints: attestations,
            attest,
        };
        rules::judge(world, &judged)
    }

    /// The first attestation that the op's past does not bear out: one that names no change of
    /// the op, or a rule that does not cover its change, or a witness that is not a visible row
    /// of that collection at that version.
    fn false_attestation(
        &self,
        world: &ViewWorld,
        candidate: &Unstored,
        attestations: &[Attestation],
    ) -> Result<Option<AttestationError>, StorageError> {
        for attestation in attestations {
            let Some(change) = candidate.changes.get(attestation.change as usize) else {
                return Ok(Some(AttestationError::NoSuchChange { change: attestation.change }));
            };
            let edited: Vec<&str> = match change {
                Change::Update { edits, .. } => edits.iter().map(Edit::field).collect(),
                _ => Vec::new(),
            };
            let rule = self
                .schema
                .collections
                .get(change.collection())
                .and_then(|collection| collection.rules.get(attestation.rule as usize));
            if !rule.is_some_and(|rule| rules::covers(rule, change, &edited)) {
                return Ok(Some(AttestationError::RuleDoesNotCover {
                    change: attestation.change,
                    rule: attestation.rule,
                }));
            }
            for witness in &attestation.witnesses {
                let row = visible_row(world, &witness.row, Use::Bound)?;
                let holds = row
                    .as_ref()
                    .is_some_and(|row| row.collection == witness.collection && row.version.1 == witness.version);
                if !holds {
                    return Ok(Some(AttestationError::WitnessNotInPast {
                        collection: witness.collection.to_string(),
                        row: witness.row,
                        version: witness.version,
                    }));
                }
            }
        }
        Ok(None)
    }
}
