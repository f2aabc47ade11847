//! Judging an op against its schema's rules in some state: for each change, the rule that
//! allows it and the rows that witnessed it, or why no rule does.
//!
//! The state is a [`World`]: the reference evaluator's in-memory map, or the engine's view of
//! the store. A world answers two questions only: a row by id, and the rows of a collection
//! that might match a [`Probe`]. Probes come from the `where` clause of an `exists`: `x = e`
//! names one row, `x.f = e` keys an index, anything else scans. Every candidate is then checked
//! in full, so a world may always answer with more rows than match, never fewer.
//!
//! The changes of one op are judged in order, each seeing the ones before it (docs/semantics.md
//! §3.4); a change must name a visible row of its own collection, leave every `check` holding,
//! and be allowed by some rule.

use super::refs;
use super::row::{self, Folding, RowState};
use super::scope::{truthy, Actors, Scope};
use super::world::{visible_row, World};
use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::error::{Denial, DenialReason, FailedRule, StorageError};
use crate::ids::{Identity, OpHash, RowId};
use crate::op::{Attestation, Attestations, Change, Edit, Witnesses};
use crate::plan::{Probe, ReadFields, Use};
use schemac::ir;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// The outcome of judging an op in a state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every change is allowed: for each, the rule that allows it and the rows that witnessed it.
    Allowed(Attestations),
    /// The first change that no rule allows, and why.
    Denied(Denial),
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed(_))
    }
}

/// The outcome of judging one change.
enum ChangeVerdict {
    Allowed { attestation: Attestation, target: RowId, after: RowState },
    Denied(DenialReason),
}

/// The op being judged.
pub struct Judged<'a> {
    pub schema: &'a ir::Schema,
    /// [`ReadFields::new`] of the schema.
    pub read: &'a ReadFields,
    pub suite: &'a dyn CryptoSuite,
    /// The database's founder (`db.founder`).
    pub founder: Identity,
    pub author: Identity,
    pub hash: OpHash,
    pub depth: u64,
    pub changes: &'a [Change],
    /// Whether every reference the changes write must name a visible row of its collection:
    /// true when an op is judged in its causal past (admissibility), false when it is judged in
    /// a larger set, where a concurrent delete of the target is the rules' business.
    pub check_references: bool,
    /// The op's tag in set fields, and which tags it has seen (see [`Folding`]).
    pub tag: u64,
    pub seen: &'a dyn Fn(u64) -> Result<bool, StorageError>,
    /// Attestations to try first: an `exists` checks the witnesses they name for its change
    /// before it looks rows up. A witness that is visible and satisfies the condition settles
    /// the `exists` as a lookup would have, so the verdict is the same with or without them;
    /// an op's own attestations save its judge the lookup.
    pub hints: &'a [Attestation],
    /// Whether an allowed verdict names each change's rule and witnesses (a write signs them,
    /// `explain` shows them); admission and effectiveness need only allowed or denied.
    pub attest: bool,
}

/// Judges every change of an op in order, each seeing the changes before it.
pub fn judge(world: &dyn World, op: &Judged) -> Result<Verdict, StorageError> {
    let overlay = Overlay { base: world, rows: RefCell::new(BTreeMap::new()) };
    let folding =
        Folding { hash: op.hash, depth: op.depth, tag: op.tag, seen: op.seen, read: op.read, suite: op.suite };
    let actors = Actors::new(op.author, op.founder);
    let mut attestations = Attestations::with_capacity(if op.attest { op.changes.len() } else { 0 });
    for (index, change) in op.changes.iter().enumerate() {
        let index = index as u32;
        match judge_change(&overlay, op, &actors, &folding, index, change)? {
            ChangeVerdict::Allowed { attestation, target, after } => {
                if op.attest {
                    attestations.push(attestation);
                }
                overlay.rows.borrow_mut().insert(target, Rc::new(after));
            }
            ChangeVerdict::Denied(reason) => {
                let action = match change {
                    Change::Insert { .. } => "insert",
                    Change::Update { .. } => "update",
                    Change::Delete { .. } => "delete",
                };
                let denial = Denial { change: index, collection: change.collection().to_owned(), action, reason };
                return Ok(Verdict::Denied(denial));
            }
        }
    }
    Ok(Verdict::Allowed(attestations))
}

fn judge_change(
    world: &Overlay,
    op: &Judged,
    actors: &Actors,
    folding: &Folding,
    index: u32,
    change: &Change,
) -> Result<ChangeVerdict, StorageError> {
    let Some(collection) = op.schema.collections.get(change.collection()) else {
        return Ok(ChangeVerdict::Denied(DenialReason::UnknownCollection(change.collection().to_owned())));
    };
    let change = &*refs::resolve(op.schema, change, &|earlier| crate::op::row_id(op.suite, &op.hash, earlier));
    let target = row::target(op.suite, &op.hash, index, change);
    let before = match change {
        Change::Insert { fields, .. } => {
            // A nested row belongs to a visible row of its parent collection.
            if let Some(parent_collection) = &collection.parent {
                let parent = fields.iter().find(|(name, _)| name == "parent").and_then(|(_, value)| match value {
                    Value::Bytes(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).ok().map(RowId),
                    _ => None,
                });
                let visible = match parent {
                    Some(parent) => visible_row(world, &parent, Use::Visibility)?
                        .is_some_and(|row| row.collection == *parent_collection),
                    None => false,
                };
                if !visible {
                    return Ok(ChangeVerdict::Denied(DenialReason::NoParent(parent_collection.clone())));
                }
            }
            None
        }
        Change::Update { .. } | Change::Delete { .. } => {
            match visible_row(world, &target, Use::Subject)?.filter(|row| row.collection == change.collection()) {
                Some(row) => Some(row),
                None => return Ok(ChangeVerdict::Denied(DenialReason::NoSuchRow(target))),
            }
        }
    };
    let Some(after) = row::fold_change(op.schema, before.as_deref(), folding, index, change)? else {
        return Ok(ChangeVerdict::Denied(DenialReason::NoSuchRow(target)));
    };
    if op.check_references {
        for (field, referred, row) in refs::references(op.schema, change) {
            let names_a_row = visible_row(world, &row, Use::Visibility)?.is_some_and(|row| row.collection == referred);
            if !names_a_row {
                return Ok(ChangeVerdict::Denied(DenialReason::DanglingReference { field, collection: referred, row }));
            }
        }
    }
    let new = match change {
        Change::Delete { .. } => None,
        _ => Some(&after),
    };
    if let Some(new) = new {
        let values = new.values();
        let lookup = |name: &str| values.get(name);
        for field in &collection.fields {
            if let Some(check) = &field.check {
                if super::check::evaluate_check(check, &lookup) == Some(false) {
                    return Ok(ChangeVerdict::Denied(DenialReason::CheckFailed {
                        field: field.name.clone(),
                        check: check.to_string(),
                    }));
                }
            }
        }
    }
    let edited: Vec<&str> = match change {
        Change::Update { edits, .. } => edits.iter().map(Edit::field).collect(),
        _ => Vec::new(),
    };
    let witnesses = RefCell::new(Witnesses::new());
    let scope = Scope {
        world,
        actors,
        subject_id: target,
        subject: new.or(before.as_deref()),
        old: before.as_deref(),
        new,
        bound: None,
        witnesses: op.attest.then_some(&witnesses),
        hints: op.hints,
        change: index,
    };
    let mut failed = Vec::new();
    for (rule_index, rule) in collection.rules.iter().enumerate() {
        if !covers(rule, change, &edited) {
            continue;
        }
        witnesses.borrow_mut().clear();
        if truthy(&scope.evaluate(&rule.condition)?) {
            let mut witnesses = witnesses.take();
            witnesses.sort_by_key(|witness| witness.row);
            witnesses.dedup();
            let attestation = Attestation { change: index, rule: rule_index as u32, witnesses };
            return Ok(ChangeVerdict::Allowed { attestation, target, after });
        }
        failed.push(FailedRule {
            rule: rule_index as u32,
            text: rule.to_string(),
            clause: scope.failing_clause(&rule.condition)?.to_string(),
        });
    }
    Ok(ChangeVerdict::Denied(if failed.is_empty() { DenialReason::NoRule } else { DenialReason::RulesFailed(failed) }))
}

/// Whether a rule's actions include a change (an `update(f, g)` rule only updates of those fields).
pub fn covers(rule: &ir::Rule, change: &Change, edited: &[&str]) -> bool {
    rule.actions.iter().any(|action| match (action, change) {
        (ir::Action::Insert, Change::Insert { .. }) | (ir::Action::Delete, Change::Delete { .. }) => true,
        (ir::Action::Update { fields: None }, Change::Update { .. }) => true,
        (ir::Action::Update { fields: Some(allowed) }, Change::Update { .. }) => {
            edited.iter().all(|field| allowed.iter().any(|name| name == field))
        }
        _ => false,
    })
}

/// A world with an op's earlier changes applied on top.
struct Overlay<'w> {
    base: &'w dyn World,
    rows: RefCell<BTreeMap<RowId, Rc<RowState>>>,
}

impl World for Overlay<'_> {
    fn row(&self, id: &RowId, used: Use) -> Result<Option<Rc<RowState>>, StorageError> {
        if let Some(row) = self.rows.borrow().get(id) {
            return Ok(Some(row.clone()));
        }
        self.base.row(id, used)
    }

    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let written: Vec<RowId> = self
            .rows
            .borrow()
            .iter()
            .filter(|(id, row)| {
                row.collection == collection
                    && match probe {
                        Probe::Rows(rows) => rows.contains(id),
                        Probe::Equal(equal) => equal.iter().all(|(name, value)| row.field(name) == *value),
                        Probe::All => true,
                    }
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &written {
            if visit(*id)? {
                return Ok(());
            }
        }
        let all_written: std::collections::HashSet<RowId> = self.rows.borrow().keys().copied().collect();
        self.base.scan(collection, probe, &mut |id| if all_written.contains(&id) { Ok(false) } else { visit(id) })
    }
}
