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

use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::ids::{Identity, OpHash, RowId};
use crate::op::{Attestation, Change, Edit, Witness};
use crate::state::{self, Folding, Row};
use crate::store::StorageError;
use schemac::ir::{self, Comparison, Expr, RowRef};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// Which rows of a collection an `exists` needs to look at.
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    /// At most these rows (`x = e`).
    Rows(Vec<RowId>),
    /// Rows whose fields equal these values (`x.f = e and x.g = e2`).
    Equal(Vec<(String, Value)>),
    /// Any row of the collection.
    All,
}

/// How a rule reads a row, which decides which of its writes matter (see [`ReadFields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Use {
    /// The row a change writes, as its collection's rules and checks read it.
    Subject,
    /// A row an `exists` binds.
    Bound,
    /// A parent row, read only for whether it is visible.
    Visibility,
}

/// A state that rules read.
pub trait World {
    /// A row as the state holds it, deleted or not; `None` if no effective op inserted it. A
    /// world may return a row that is exact only in what `used` reads: whether it exists and is
    /// deleted, its parent, and the fields [`ReadFields`] lists for that use (and, for
    /// [`Use::Bound`], its version).
    fn row(&self, id: &RowId, used: Use) -> Result<Option<Rc<Row>>, StorageError>;

    /// Calls `visit` with rows of `collection` (at least every visible one that satisfies
    /// `probe`), until `visit` returns true.
    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError>;
}

/// A row, if it is visible: inserted, not deleted, and (for a nested row) its parent visible.
pub fn visible_row(world: &dyn World, id: &RowId, used: Use) -> Result<Option<Rc<Row>>, StorageError> {
    let Some(row) = world.row(id, used)? else { return Ok(None) };
    let mut current = row.clone();
    for _ in 0..64 {
        if current.deleted {
            return Ok(None);
        }
        match current.parent {
            None => return Ok(Some(row)),
            Some(parent) => match world.row(&parent, Use::Visibility)? {
                Some(parent_row) => current = parent_row,
                None => return Ok(None),
            },
        }
    }
    Ok(None)
}

/// The fields rules and checks read, per collection and per [`Use`]: as the row being written
/// (`f`, `old.f`, `new.f` in the collection's own rules and checks) and as a row bound by
/// `exists C x` (`x.f`). Writes to other fields cannot change any verdict, and a row's version
/// (what attestations name) moves only with writes that a bound use can see.
#[derive(Debug, Clone, Default)]
pub struct ReadFields {
    subject: BTreeMap<String, BTreeSet<String>>,
    bound: BTreeMap<String, BTreeSet<String>>,
}

impl ReadFields {
    pub fn new(schema: &ir::Schema) -> ReadFields {
        fn visit(expr: &Expr, subject: &str, bound: &[(&str, &str)], read: &mut ReadFields) {
            match expr {
                Expr::Field { row, path } => {
                    let Some(field) = path.first() else { return };
                    let (map, collection) = match row {
                        RowRef::Subject | RowRef::Old | RowRef::New => (&mut read.subject, Some(subject)),
                        RowRef::Bound(name) => (
                            &mut read.bound,
                            bound.iter().rev().find(|(variable, _)| variable == name).map(|(_, c)| *c),
                        ),
                    };
                    if let Some(collection) = collection {
                        map.entry(collection.to_owned()).or_default().insert(field.clone());
                    }
                }
                Expr::Exists { collection, variable, condition } => {
                    if let Some(condition) = condition {
                        let mut inner = bound.to_vec();
                        inner.push((variable.as_str(), collection.as_str()));
                        visit(condition, subject, &inner, read);
                    }
                }
                _ => subexpressions(expr).into_iter().for_each(|inner| visit(inner, subject, bound, read)),
            }
        }
        let mut read = ReadFields::default();
        for (name, collection) in &schema.collections {
            for rule in &collection.rules {
                visit(&rule.condition, name, &[], &mut read);
            }
            for check in collection.fields.iter().filter_map(|field| field.check.as_ref()) {
                visit(check, name, &[], &mut read);
            }
        }
        read
    }

    /// Whether a change can affect a row as `used` reads it: inserts and deletes always (a
    /// row's existence), updates when they write a field that use reads.
    pub fn relevant(&self, change: &Change, used: Use) -> bool {
        match change {
            Change::Insert { .. } | Change::Delete { .. } => true,
            Change::Update { collection, edits, .. } => {
                let fields = match used {
                    Use::Subject => self.subject.get(collection),
                    Use::Bound => self.bound.get(collection),
                    Use::Visibility => None,
                };
                edits.iter().any(|edit| fields.is_some_and(|fields| fields.contains(edit.field())))
            }
        }
    }

    /// Whether a change can affect any verdict.
    pub fn affects_verdicts(&self, change: &Change) -> bool {
        self.relevant(change, Use::Subject) || self.relevant(change, Use::Bound)
    }
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
    /// The op's tag in set fields, and which tags it has seen (see [`Folding`]).
    pub tag: u64,
    pub seen: &'a dyn Fn(u64) -> Result<bool, StorageError>,
}

/// Why a change is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change {change} ({action} in {collection}): {reason}")]
pub struct Denial {
    /// The change's index in the op.
    pub change: u32,
    pub collection: String,
    /// `insert`, `update` or `delete`.
    pub action: &'static str,
    pub reason: DenialReason,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenialReason {
    #[error("the schema has no collection `{0}`")]
    UnknownCollection(String),
    #[error("row {0} is not a visible row of this collection")]
    NoSuchRow(RowId),
    #[error("the parent row is not a visible row of `{0}`")]
    NoParent(String),
    #[error("the check on field `{field}` does not hold: {check}")]
    CheckFailed { field: String, check: String },
    #[error("no rule allows it")]
    NoRule,
    #[error("{}", describe_failed_rules(.0))]
    RulesFailed(Vec<FailedRule>),
}

/// A rule that covered a change but did not hold, and the first clause of it that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRule {
    /// The rule's index among its collection's rules.
    pub rule: u32,
    /// The rule as the schema says it.
    pub text: String,
    /// Its first failing clause: descending into `and`, the first operand that is false.
    pub clause: String,
}

fn describe_failed_rules(rules: &[FailedRule]) -> String {
    rules
        .iter()
        .map(|failed| format!("rule #{} `{}` fails at `{}`", failed.rule, failed.text, failed.clause))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Judges every change of an op in order. `Ok(Ok(attestations))`: every change is allowed,
/// with the rule and witnesses for each; `Ok(Err(denial))`: the first change that is not.
pub fn judge(world: &dyn World, op: &Judged) -> Result<Result<Vec<Attestation>, Denial>, StorageError> {
    let overlay = Overlay { base: world, rows: RefCell::new(BTreeMap::new()) };
    let folding = Folding { hash: op.hash, depth: op.depth, tag: op.tag, seen: op.seen, read: op.read };
    let mut attestations = Vec::with_capacity(op.changes.len());
    for (index, change) in op.changes.iter().enumerate() {
        let index = index as u32;
        match judge_change(&overlay, op, &folding, index, change)? {
            Ok((attestation, target, after)) => {
                attestations.push(attestation);
                overlay.rows.borrow_mut().insert(target, Rc::new(after));
            }
            Err(reason) => {
                let action = match change {
                    Change::Insert { .. } => "insert",
                    Change::Update { .. } => "update",
                    Change::Delete { .. } => "delete",
                };
                return Ok(Err(Denial { change: index, collection: change.collection().to_owned(), action, reason }));
            }
        }
    }
    Ok(Ok(attestations))
}

type ChangeVerdict = Result<(Attestation, RowId, Row), DenialReason>;

fn judge_change(
    world: &Overlay,
    op: &Judged,
    folding: &Folding,
    index: u32,
    change: &Change,
) -> Result<ChangeVerdict, StorageError> {
    let Some(collection) = op.schema.collections.get(change.collection()) else {
        return Ok(Err(DenialReason::UnknownCollection(change.collection().to_owned())));
    };
    let target = state::target(op.suite, &op.hash, index, change);
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
                    return Ok(Err(DenialReason::NoParent(parent_collection.clone())));
                }
            }
            None
        }
        Change::Update { .. } | Change::Delete { .. } => {
            match visible_row(world, &target, Use::Subject)?.filter(|row| row.collection == change.collection()) {
                Some(row) => Some(row),
                None => return Ok(Err(DenialReason::NoSuchRow(target))),
            }
        }
    };
    let Some(after) = state::fold_change(op.schema, before.as_deref(), folding, index, change)? else {
        return Ok(Err(DenialReason::NoSuchRow(target)));
    };
    let new = match change {
        Change::Delete { .. } => None,
        _ => Some(&after),
    };
    if let Some(new) = new {
        let values = new.values();
        let lookup = |name: &str| values.get(name);
        for field in &collection.fields {
            if let Some(check) = &field.check {
                if crate::eval::evaluate_check(check, &lookup) == Some(false) {
                    return Ok(Err(DenialReason::CheckFailed { field: field.name.clone(), check: check.to_string() }));
                }
            }
        }
    }
    let edited: Vec<&str> = match change {
        Change::Update { edits, .. } => edits.iter().map(Edit::field).collect(),
        _ => Vec::new(),
    };
    let witnesses = RefCell::new(Vec::new());
    let scope = Scope {
        world,
        author: op.author,
        founder: op.founder,
        subject_id: target,
        subject: new.or(before.as_deref()),
        old: before.as_deref(),
        new,
        bound: Vec::new(),
        witnesses: &witnesses,
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
            return Ok(Ok((attestation, target, after)));
        }
        failed.push(FailedRule {
            rule: rule_index as u32,
            text: rule.to_string(),
            clause: scope.failing_clause(&rule.condition)?.to_string(),
        });
    }
    Ok(Err(if failed.is_empty() { DenialReason::NoRule } else { DenialReason::RulesFailed(failed) }))
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
    rows: RefCell<BTreeMap<RowId, Rc<Row>>>,
}

impl World for Overlay<'_> {
    fn row(&self, id: &RowId, used: Use) -> Result<Option<Rc<Row>>, StorageError> {
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

fn truthy(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

/// What a rule's expression can see.
struct Scope<'s> {
    world: &'s dyn World,
    author: Identity,
    founder: Identity,
    subject_id: RowId,
    subject: Option<&'s Row>,
    old: Option<&'s Row>,
    new: Option<&'s Row>,
    bound: Vec<(String, RowId, Rc<Row>)>,
    /// The rows `exists` found, with their versions.
    witnesses: &'s RefCell<Vec<Witness>>,
}

impl Scope<'_> {
    fn bound(&self, name: &str) -> Option<&(String, RowId, Rc<Row>)> {
        self.bound.iter().rev().find(|(bound, _, _)| bound == name)
    }

    fn row_of(&self, reference: &RowRef) -> Option<&Row> {
        match reference {
            RowRef::Subject => self.subject,
            RowRef::Old => self.old,
            RowRef::New => self.new,
            RowRef::Bound(name) => self.bound(name).map(|(_, _, row)| row.as_ref()),
        }
    }

    fn evaluate(&self, expr: &Expr) -> Result<Value, StorageError> {
        Ok(match expr {
            Expr::Literal(value) => crate::eval::literal(value),
            Expr::Field { row, path } => {
                let Some(row) = self.row_of(row) else { return Ok(Value::Null) };
                let Some((first, rest)) = path.split_first() else { return Ok(Value::Null) };
                crate::eval::record_path(row.field(first), rest)
            }
            Expr::RowId(RowRef::Subject | RowRef::Old | RowRef::New) => Value::Bytes(self.subject_id.0.to_vec()),
            Expr::RowId(RowRef::Bound(name)) => match self.bound(name) {
                Some((_, id, _)) => Value::Bytes(id.0.to_vec()),
                None => Value::Null,
            },
            Expr::OpAuthor => Value::Bytes(self.author.0.to_vec()),
            Expr::DbFounder => Value::Bytes(self.founder.0.to_vec()),
            Expr::Not(inner) => Value::Bool(!truthy(&self.evaluate(inner)?)),
            Expr::And(left, right) => Value::Bool(truthy(&self.evaluate(left)?) && truthy(&self.evaluate(right)?)),
            Expr::Or(left, right) => Value::Bool(truthy(&self.evaluate(left)?) || truthy(&self.evaluate(right)?)),
            Expr::Compare { op, left, right } => {
                Value::Bool(crate::eval::compare(*op, &self.evaluate(left)?, &self.evaluate(right)?))
            }
            Expr::In { value, options } => {
                let value = self.evaluate(value)?;
                let mut found = false;
                for option in options {
                    if self.evaluate(option)? == value {
                        found = true;
                        break;
                    }
                }
                Value::Bool(found)
            }
            Expr::Len(inner) => crate::eval::length(self.evaluate(inner)?),
            Expr::Exists { collection, variable, condition } => {
                Value::Bool(self.exists(collection, variable, condition.as_deref())?)
            }
        })
    }

    /// `exists C x where D1 or D2 or I`, where `I` does not read `x`, is evaluated as
    /// `(exists C x where D1) or (exists C x where D2) or (I and exists C x)`: each part has its
    /// own probe, and `I` is not evaluated per row.
    fn exists(&self, collection: &str, variable: &str, condition: Option<&Expr>) -> Result<bool, StorageError> {
        let Some(condition) = condition else { return self.exists_where(collection, variable, None) };
        let mut disjuncts = Vec::new();
        flatten_or(condition, &mut disjuncts);
        if disjuncts.len() == 1 {
            return self.exists_where(collection, variable, Some(condition));
        }
        let (dependent, independent): (Vec<&Expr>, Vec<&Expr>) =
            disjuncts.into_iter().partition(|disjunct| mentions(disjunct, variable));
        for disjunct in dependent {
            if self.exists_where(collection, variable, Some(disjunct))? {
                return Ok(true);
            }
        }
        for disjunct in independent {
            if truthy(&self.evaluate(disjunct)?) {
                return self.exists_where(collection, variable, None);
            }
        }
        Ok(false)
    }

    fn exists_where(&self, collection: &str, variable: &str, condition: Option<&Expr>) -> Result<bool, StorageError> {
        let probe = match condition {
            None => Some(Probe::All),
            Some(condition) => self.probe(condition, variable)?,
        };
        let Some(probe) = probe else { return Ok(false) };
        let mut found: Option<(RowId, Rc<Row>)> = None;
        self.world.scan(collection, &probe, &mut |id| {
            let Some(row) = visible_row(self.world, &id, Use::Bound)? else { return Ok(false) };
            if row.collection != collection {
                return Ok(false);
            }
            let holds = match condition {
                None => true,
                Some(condition) => {
                    let mut bound = self.bound.clone();
                    bound.push((variable.to_owned(), id, row.clone()));
                    let inner = Scope { bound, ..*self };
                    truthy(&inner.evaluate(condition)?)
                }
            };
            if holds {
                found = Some((id, row));
            }
            Ok(holds)
        })?;
        match found {
            Some((id, row)) => {
                self.witnesses.borrow_mut().push(Witness {
                    collection: collection.to_owned(),
                    row: id,
                    version: row.version.1,
                });
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The rows an `exists` over `variable` must look at for `condition` (a conjunction; an
    /// `or` inside it is checked per row): `x = e` names a row, `x.f = e` keys an index, a
    /// false clause that does not read `x` rules every row out (`None`).
    fn probe(&self, condition: &Expr, variable: &str) -> Result<Option<Probe>, StorageError> {
        let mut conjuncts = Vec::new();
        flatten_and(condition, &mut conjuncts);
        let mut rows = None;
        let mut equal = Vec::new();
        for conjunct in conjuncts {
            if !mentions(conjunct, variable) {
                if !truthy(&self.evaluate(conjunct)?) {
                    return Ok(None);
                }
                continue;
            }
            let Expr::Compare { op: Comparison::Equal, left, right } = conjunct else { continue };
            for (side, other) in [(left, right), (right, left)] {
                if mentions(other, variable) {
                    continue;
                }
                match side.as_ref() {
                    Expr::RowId(RowRef::Bound(name)) if name == variable => {
                        rows = Some(match self.evaluate(other)? {
                            Value::Bytes(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
                                Ok(id) => vec![RowId(id)],
                                Err(_) => Vec::new(),
                            },
                            _ => Vec::new(),
                        });
                    }
                    Expr::Field { row: RowRef::Bound(name), path } if name == variable && path.len() == 1 => {
                        equal.push((path[0].clone(), self.evaluate(other)?));
                    }
                    _ => {}
                }
            }
        }
        Ok(Some(match (rows, equal.is_empty()) {
            (Some(rows), _) => Probe::Rows(rows),
            (None, false) => Probe::Equal(equal),
            (None, true) => Probe::All,
        }))
    }

    /// The first clause of a false condition that is false: descending into `and`.
    fn failing_clause<'e>(&self, expr: &'e Expr) -> Result<&'e Expr, StorageError> {
        match expr {
            Expr::And(left, right) => {
                if truthy(&self.evaluate(left)?) {
                    self.failing_clause(right)
                } else {
                    self.failing_clause(left)
                }
            }
            _ => Ok(expr),
        }
    }
}

/// The operands of a chain of `and` (or of `or`, with `conjunction` false).
fn flatten<'e>(expr: &'e Expr, conjunction: bool, into: &mut Vec<&'e Expr>) {
    match (expr, conjunction) {
        (Expr::And(left, right), true) | (Expr::Or(left, right), false) => {
            flatten(left, conjunction, into);
            flatten(right, conjunction, into);
        }
        _ => into.push(expr),
    }
}

fn flatten_and<'e>(expr: &'e Expr, into: &mut Vec<&'e Expr>) {
    flatten(expr, true, into)
}

fn flatten_or<'e>(expr: &'e Expr, into: &mut Vec<&'e Expr>) {
    flatten(expr, false, into)
}

/// An expression's direct operands (an `exists`'s condition included).
pub fn subexpressions(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::Not(inner) | Expr::Len(inner) => vec![inner],
        Expr::And(left, right) | Expr::Or(left, right) | Expr::Compare { left, right, .. } => vec![left, right],
        Expr::In { value, options } => std::iter::once(value.as_ref()).chain(options).collect(),
        Expr::Exists { condition, .. } => condition.as_deref().into_iter().collect(),
        Expr::Literal(_) | Expr::Field { .. } | Expr::RowId(_) | Expr::OpAuthor | Expr::DbFounder => Vec::new(),
    }
}

/// Whether an expression reads the row bound to `variable`.
fn mentions(expr: &Expr, variable: &str) -> bool {
    match expr {
        Expr::Field { row: RowRef::Bound(name), .. } | Expr::RowId(RowRef::Bound(name)) => name == variable,
        _ => subexpressions(expr).into_iter().any(|inner| mentions(inner, variable)),
    }
}

/// The `exists` lookups of a schema's rules that an index can answer: for each collection,
/// the sets of fields that `x.f = e` clauses key on together. The engine keeps one index per
/// entry (docs/semantics.md §6).
pub fn index_keys(schema: &ir::Schema) -> BTreeMap<String, Vec<Vec<String>>> {
    let mut keys: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    fn visit(expr: &Expr, keys: &mut BTreeMap<String, Vec<Vec<String>>>) {
        match expr {
            Expr::Exists { collection, variable, condition: Some(condition) } => {
                let mut disjuncts = Vec::new();
                flatten_or(condition, &mut disjuncts);
                for disjunct in disjuncts {
                    let mut conjuncts = Vec::new();
                    flatten_and(disjunct, &mut conjuncts);
                    let mut fields: Vec<String> = conjuncts
                        .iter()
                        .filter_map(|conjunct| match conjunct {
                            Expr::Compare { op: Comparison::Equal, left, right } => [(left, right), (right, left)]
                                .into_iter()
                                .find_map(|(side, other)| match side.as_ref() {
                                    Expr::Field { row: RowRef::Bound(name), path }
                                        if name == variable && path.len() == 1 && !mentions(other, variable) =>
                                    {
                                        Some(path[0].clone())
                                    }
                                    _ => None,
                                }),
                            _ => None,
                        })
                        .collect();
                    fields.sort();
                    fields.dedup();
                    let entry = keys.entry(collection.clone()).or_default();
                    if !fields.is_empty() && !entry.contains(&fields) {
                        entry.push(fields);
                    }
                }
                visit(condition, keys);
            }
            _ => subexpressions(expr).into_iter().for_each(|inner| visit(inner, keys)),
        }
    }
    for collection in schema.collections.values() {
        for rule in &collection.rules {
            visit(&rule.condition, &mut keys);
        }
    }
    keys
}
