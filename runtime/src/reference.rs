//! The reference evaluator: validity under concurrency exactly as docs/semantics.md defines
//! it, computed literally and slowly, for tests and audits.
//!
//! For a set of ops X (closed under parents), an op O is *effective in X* when its rules hold
//! both in S(P(O)), the state of its causal past, and in S(X \ F(O)), the state of everything
//! in X except O and its descendants. S(Y) is the fold of the ops effective in Y. Each step
//! recurses on a strictly smaller closed set, so the definition is well-founded and depends
//! only on the set, never on arrival order. Nothing here is incremental or indexed: results are
//! memoized per set, and the cost grows quickly with the number of concurrent ops. The
//! runtime's incremental engine must agree with this module on every history.

use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::ids::{Identity, OpHash, RowId};
use crate::op::{self, Change, Edit, Op, Payload, VerifiedOp};
use schemac::ir::{self, Comparison, Expr, RowRef, Type};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// A set of ops, as a bitset over their positions in the history.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct OpSet(Vec<u64>);

impl OpSet {
    fn empty(size: usize) -> OpSet {
        OpSet(vec![0; size.div_ceil(64)])
    }

    fn contains(&self, index: usize) -> bool {
        self.0[index / 64] & (1 << (index % 64)) != 0
    }

    fn insert(&mut self, index: usize) {
        self.0[index / 64] |= 1 << (index % 64);
    }

    fn union(&mut self, other: &OpSet) {
        for (word, other) in self.0.iter_mut().zip(&other.0) {
            *word |= other;
        }
    }

    fn minus(&self, other: &OpSet) -> OpSet {
        OpSet(self.0.iter().zip(&other.0).map(|(word, other)| word & !other).collect())
    }

    fn members(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(word_index, word)| {
            (0..64).filter(move |bit| word & (1 << bit) != 0).map(move |bit| word_index * 64 + bit)
        })
    }
}

/// Why ops cannot form a history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    #[error("op {0} has a parent that is not in the history")]
    MissingParent(OpHash),
    #[error("the history has no genesis op")]
    NoGenesis,
}

/// A version of a register: later (depth, op hash) wins; within one op, the later change and
/// edit.
type Version = (u64, OpHash, u32, u32);

#[derive(Debug, Clone, PartialEq)]
struct Register {
    value: Value,
    version: Version,
}

/// One field's merged state.
#[derive(Debug, Clone, PartialEq)]
enum FieldState {
    Register(Register),
    /// An observed-remove set: each element with the ops that added it.
    Set(Vec<(Value, Vec<usize>)>),
    /// Per-key registers; a `None` value is a removed key.
    Map(BTreeMap<String, (Option<Value>, Version)>),
    Counter(i64),
}

impl FieldState {
    /// The field's value as rules and the digest see it.
    fn value(&self) -> Value {
        match self {
            FieldState::Register(register) => register.value.clone(),
            FieldState::Set(elements) => {
                let mut values: Vec<Value> = elements.iter().map(|(value, _)| value.clone()).collect();
                crate::json::canonical_set(&mut values);
                Value::Array(values)
            }
            FieldState::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter_map(|(key, (value, _))| value.clone().map(|value| (key.clone(), value)))
                    .collect(),
            ),
            FieldState::Counter(total) => Value::Int(*total),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Row {
    collection: String,
    /// The parent row, for a row of a nested collection.
    parent: Option<RowId>,
    fields: BTreeMap<String, FieldState>,
    deleted: bool,
}

impl Row {
    fn field(&self, name: &str) -> Value {
        self.fields.get(name).map_or(Value::Null, FieldState::value)
    }
}

/// The state of a set of ops: every row any effective op inserted, with its merged fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    rows: BTreeMap<RowId, Row>,
}

impl State {
    /// Whether a row exists: inserted, not deleted, and (if nested) its parent exists.
    pub fn is_visible(&self, id: &RowId) -> bool {
        let mut current = *id;
        for _ in 0..64 {
            match self.rows.get(&current) {
                Some(row) if !row.deleted => match row.parent {
                    Some(parent) => current = parent,
                    None => return true,
                },
                _ => return false,
            }
        }
        false
    }

    /// The visible rows of a collection, by id, each as a map of field values.
    pub fn rows(&self, collection: &str) -> Vec<(RowId, BTreeMap<String, Value>)> {
        self.rows
            .iter()
            .filter(|(id, row)| row.collection == collection && self.is_visible(id))
            .map(|(id, row)| (*id, row.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect()))
            .collect()
    }

    /// One visible row's field values.
    pub fn row(&self, id: &RowId) -> Option<BTreeMap<String, Value>> {
        if !self.is_visible(id) {
            return None;
        }
        self.rows.get(id).map(|row| row.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect())
    }

    /// A hash of the visible state: equal on every replica that holds the same ops.
    pub fn digest(&self) -> [u8; 32] {
        let mut writer = crate::cbor::Writer::new();
        let visible: Vec<(&RowId, &Row)> = self.rows.iter().filter(|(id, _)| self.is_visible(id)).collect();
        writer.array(visible.len());
        for (id, row) in visible {
            let fields = row.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect();
            writer.array(3).text(&row.collection).bytes(&id.0).value(&Value::Map(fields));
        }
        *blake3::hash(&writer.bytes).as_bytes()
    }
}

/// Why an op is or is not effective (see [`History::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub op: OpHash,
    pub author: Identity,
    pub effective: bool,
    /// Whether its rules held in its author's view (its causal past).
    pub admissible: bool,
    /// The first change no rule allows (in the causal past if not admissible, otherwise in the
    /// state it is judged in).
    pub failing_change: Option<u32>,
    /// The concurrent ops that defeated it.
    pub defeated_by: Vec<OpHash>,
}

/// A history: ops closed under parents, in a topological order.
pub struct History<'a> {
    schema: &'a ir::Schema,
    suite: &'a dyn CryptoSuite,
    ops: Vec<(OpHash, Op)>,
    founder: Identity,
    /// Strict ancestors of each op.
    past: Vec<OpSet>,
    /// Each op and its descendants.
    future: Vec<OpSet>,
    effective_memo: std::cell::RefCell<HashMap<(usize, OpSet), bool>>,
    state_memo: std::cell::RefCell<HashMap<OpSet, Rc<State>>>,
}

impl<'a> History<'a> {
    pub fn new(
        schema: &'a ir::Schema,
        suite: &'a dyn CryptoSuite,
        ops: &[VerifiedOp],
    ) -> Result<History<'a>, HistoryError> {
        let mut sorted: Vec<(OpHash, Op)> = ops.iter().map(|op| (op.hash(), op.op().clone())).collect();
        // A topological order: by depth, then hash (parents are always shallower).
        sorted.sort_by_key(|(hash, op)| (op.depth, *hash));
        sorted.dedup_by_key(|(hash, _)| *hash);
        let index: HashMap<OpHash, usize> =
            sorted.iter().enumerate().map(|(position, (hash, _))| (*hash, position)).collect();
        let size = sorted.len();
        let mut past = vec![OpSet::empty(size); size];
        for position in 0..size {
            let mut ancestors = OpSet::empty(size);
            for parent in &sorted[position].1.parents {
                let parent_position = *index.get(parent).ok_or(HistoryError::MissingParent(sorted[position].0))?;
                ancestors.insert(parent_position);
                ancestors.union(&past[parent_position]);
            }
            past[position] = ancestors;
        }
        let mut future = vec![OpSet::empty(size); size];
        for (position, set) in future.iter_mut().enumerate() {
            set.insert(position);
        }
        for (position, ancestors) in past.iter().enumerate() {
            for ancestor in ancestors.members() {
                future[ancestor].insert(position);
            }
        }
        let founder = sorted
            .iter()
            .find(|(_, op)| matches!(op.payload, Payload::Genesis { .. }))
            .map(|(_, op)| op.author)
            .ok_or(HistoryError::NoGenesis)?;
        Ok(History {
            schema,
            suite,
            ops: sorted,
            founder,
            past,
            future,
            effective_memo: Default::default(),
            state_memo: Default::default(),
        })
    }

    fn everything(&self) -> OpSet {
        let mut all = OpSet::empty(self.ops.len());
        for position in 0..self.ops.len() {
            all.insert(position);
        }
        all
    }

    /// Whether each op is effective in the whole history.
    pub fn effectiveness(&self) -> BTreeMap<OpHash, bool> {
        let all = self.everything();
        (0..self.ops.len()).map(|position| (self.ops[position].0, self.effective_in(position, &all))).collect()
    }

    /// Whether an op is admissible: its rules hold in the state of its causal past.
    pub fn admissible(&self, hash: &OpHash) -> Option<bool> {
        let position = self.ops.iter().position(|(candidate, _)| candidate == hash)?;
        let past = self.past[position].clone();
        Some(self.rules_hold(position, &self.state_of(&past)))
    }

    /// The state of the whole history.
    pub fn state(&self) -> Rc<State> {
        self.state_of(&self.everything())
    }

    fn effective_in(&self, position: usize, set: &OpSet) -> bool {
        let key = (position, set.clone());
        if let Some(known) = self.effective_memo.borrow().get(&key) {
            return *known;
        }
        let (_, op) = &self.ops[position];
        let effective = match &op.payload {
            Payload::Genesis { .. } => true,
            Payload::Changes(_) => {
                // An author who signed two ops with one sequence number loses every op from it on.
                let equivocated = set.members().any(|other| {
                    other != position
                        && self.ops[other].1.author == op.author
                        && self.ops[other].1.seq <= op.seq
                        && set.members().any(|third| {
                            third != other
                                && self.ops[third].1.author == op.author
                                && self.ops[third].1.seq == self.ops[other].1.seq
                        })
                });
                !equivocated
                    && self.rules_hold(position, &self.state_of(&self.past[position]))
                    && self.rules_hold(position, &self.state_of(&set.minus(&self.future[position])))
            }
        };
        self.effective_memo.borrow_mut().insert(key, effective);
        effective
    }

    fn state_of(&self, set: &OpSet) -> Rc<State> {
        if let Some(known) = self.state_memo.borrow().get(set) {
            return known.clone();
        }
        let mut state = State::default();
        for position in set.members() {
            if self.effective_in(position, set) {
                self.apply(&mut state, position, 0..usize::MAX);
            }
        }
        let state = Rc::new(state);
        self.state_memo.borrow_mut().insert(set.clone(), state.clone());
        state
    }

    /// Applies some of an op's changes (by index) to a state.
    fn apply(&self, state: &mut State, position: usize, range: std::ops::Range<usize>) {
        let (hash, op) = &self.ops[position];
        let Payload::Changes(changes) = &op.payload else { return };
        for (change_index, change) in changes.iter().enumerate().skip(range.start).take(range.len()) {
            let change_index = change_index as u32;
            match change {
                Change::Insert { collection, fields } => {
                    let id = op::row_id(self.suite, hash, change_index);
                    let Some(definition) = self.schema.collections.get(collection) else { continue };
                    let given: BTreeMap<&str, &Value> =
                        fields.iter().map(|(name, value)| (name.as_str(), value)).collect();
                    let mut row_fields = BTreeMap::new();
                    for field in &definition.fields {
                        let value = given.get(field.name.as_str()).map(|value| (*value).clone());
                        let version = (op.depth, *hash, change_index, 0);
                        let field_state = match &field.ty {
                            Type::Set(_) => FieldState::Set(match value {
                                Some(Value::Array(items)) => {
                                    items.into_iter().map(|item| (item, vec![position])).collect()
                                }
                                _ => Vec::new(),
                            }),
                            Type::Map(_) => FieldState::Map(match value {
                                Some(Value::Map(entries)) => {
                                    entries.into_iter().map(|(key, value)| (key, (Some(value), version))).collect()
                                }
                                _ => BTreeMap::new(),
                            }),
                            Type::Counter => FieldState::Counter(match value {
                                Some(Value::Int(start)) => start,
                                _ => 0,
                            }),
                            Type::List(_) => FieldState::Register(Register {
                                value: value.unwrap_or(Value::Array(Vec::new())),
                                version,
                            }),
                            _ => FieldState::Register(Register { value: value.unwrap_or(Value::Null), version }),
                        };
                        row_fields.insert(field.name.clone(), field_state);
                    }
                    let parent = definition.parent.as_ref().and_then(|_| match given.get("parent") {
                        Some(Value::Bytes(bytes)) => <[u8; 32]>::try_from(bytes.as_slice()).ok().map(RowId),
                        _ => None,
                    });
                    state
                        .rows
                        .insert(id, Row { collection: collection.clone(), parent, fields: row_fields, deleted: false });
                }
                Change::Update { collection, row, edits } => {
                    let Some(target) = state.rows.get_mut(row) else { continue };
                    if target.deleted || target.collection != *collection {
                        continue;
                    }
                    for (edit_index, edit) in edits.iter().enumerate() {
                        let version = (op.depth, *hash, change_index, edit_index as u32);
                        self.apply_edit(target, edit, version, position);
                    }
                }
                Change::Delete { collection, row } => {
                    if let Some(target) = state.rows.get_mut(row).filter(|target| target.collection == *collection) {
                        target.deleted = true;
                    }
                }
            }
        }
    }

    fn apply_edit(&self, row: &mut Row, edit: &Edit, version: Version, position: usize) {
        let Some(field) = row.fields.get_mut(edit.field()) else { return };
        match (edit, field) {
            (Edit::Set { value, .. }, FieldState::Register(register)) if version > register.version => {
                *register = Register { value: value.clone(), version };
            }
            (Edit::Add { elements, .. }, FieldState::Set(members)) => {
                for element in elements {
                    match members.iter_mut().find(|(existing, _)| existing == element) {
                        Some((_, tags)) => tags.push(position),
                        None => members.push((element.clone(), vec![position])),
                    }
                }
            }
            (Edit::Remove { elements, .. }, FieldState::Set(members)) => {
                // A remove undoes the adds it has seen: those in its causal past.
                let seen = &self.past[position];
                for element in elements {
                    if let Some((_, tags)) = members.iter_mut().find(|(existing, _)| existing == element) {
                        // The op's own earlier adds are seen too.
                        tags.retain(|tag| !seen.contains(*tag) && *tag != position);
                    }
                }
                members.retain(|(_, tags)| !tags.is_empty());
            }
            (Edit::Put { key, value, .. }, FieldState::Map(entries)) => {
                let newer = entries.get(key).is_none_or(|(_, existing)| version > *existing);
                if newer {
                    entries.insert(key.clone(), (Some(value.clone()), version));
                }
            }
            (Edit::Unset { key, .. }, FieldState::Map(entries)) => {
                let newer = entries.get(key).is_none_or(|(_, existing)| version > *existing);
                if newer {
                    entries.insert(key.clone(), (None, version));
                }
            }
            (Edit::Increment { amount, .. }, FieldState::Counter(total)) => *total = total.wrapping_add(*amount),
            _ => {}
        }
    }

    /// Whether every change of the op is allowed by a rule in `state` (each change also seeing
    /// the op's earlier changes).
    fn rules_hold(&self, position: usize, state: &State) -> bool {
        self.first_denied_change(position, state).is_none()
    }

    /// The first change of an op that no rule allows in `state`, if any.
    fn first_denied_change(&self, position: usize, state: &State) -> Option<u32> {
        let (hash, op) = &self.ops[position];
        let Payload::Changes(changes) = &op.payload else { return None };
        for (change_index, change) in changes.iter().enumerate() {
            let mut before = state.clone();
            self.apply(&mut before, position, 0..change_index);
            if !self.change_allowed(&before, position, hash, change_index as u32, change) {
                return Some(change_index as u32);
            }
        }
        None
    }

    /// Why an op is or is not effective: whether its author's view allowed it, the first change
    /// that fails, and the concurrent ops that defeated it.
    ///
    /// `defeated_by` lists each op concurrent with this one whose absence (with its own future)
    /// would make the op's rules hold. When no single op does, it lists every concurrent op:
    /// the op falls to their combination.
    pub fn explain(&self, hash: &OpHash) -> Option<Explanation> {
        let position = self.ops.iter().position(|(candidate, _)| candidate == hash)?;
        let all = self.everything();
        let effective = self.effective_in(position, &all);
        let author = self.ops[position].1.author;
        let past_state = self.state_of(&self.past[position]);
        if let Some(change) = self.first_denied_change(position, &past_state) {
            return Some(Explanation {
                op: *hash,
                author,
                effective,
                admissible: false,
                failing_change: Some(change),
                defeated_by: Vec::new(),
            });
        }
        let judged = all.minus(&self.future[position]);
        let failing_change = self.first_denied_change(position, &self.state_of(&judged));
        let mut defeated_by = Vec::new();
        if failing_change.is_some() {
            let concurrent: Vec<usize> = judged.minus(&self.past[position]).members().collect();
            defeated_by = concurrent
                .iter()
                .filter(|other| self.rules_hold(position, &self.state_of(&judged.minus(&self.future[**other]))))
                .map(|other| self.ops[*other].0)
                .collect();
            if defeated_by.is_empty() {
                defeated_by = concurrent.iter().map(|other| self.ops[*other].0).collect();
            }
            defeated_by.sort();
        }
        Some(Explanation { op: *hash, author, effective, admissible: true, failing_change, defeated_by })
    }

    /// Whether an update or delete names a visible row of its own collection.
    fn names_row(&self, state: &State, change: &Change, row: &RowId) -> bool {
        state.is_visible(row) && state.rows.get(row).is_some_and(|target| target.collection == change.collection())
    }

    fn change_allowed(
        &self,
        state: &State,
        position: usize,
        hash: &OpHash,
        change_index: u32,
        change: &Change,
    ) -> bool {
        let Some(collection) = self.schema.collections.get(change.collection()) else { return false };
        let (subject_id, old, new) = match change {
            Change::Insert { .. } => {
                let id = op::row_id(self.suite, hash, change_index);
                let mut after = state.clone();
                self.apply(&mut after, position, change_index as usize..change_index as usize + 1);
                match after.rows.get(&id) {
                    Some(row) => (id, None, Some(row.clone())),
                    None => return false,
                }
            }
            Change::Update { row, .. } => {
                if !self.names_row(state, change, row) {
                    return false;
                }
                let mut after = state.clone();
                self.apply(&mut after, position, change_index as usize..change_index as usize + 1);
                match (state.rows.get(row), after.rows.get(row)) {
                    (Some(before), Some(after)) => (*row, Some(before.clone()), Some(after.clone())),
                    _ => return false,
                }
            }
            Change::Delete { row, .. } => {
                if !self.names_row(state, change, row) {
                    return false;
                }
                match state.rows.get(row) {
                    Some(before) => (*row, Some(before.clone()), None),
                    None => return false,
                }
            }
        };
        // Every field's check holds on the row after the change.
        if let Some(after) = &new {
            let values: BTreeMap<String, Value> =
                after.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect();
            let row = |name: &str| values.get(name);
            let checks_hold = collection
                .fields
                .iter()
                .filter_map(|field| field.check.as_ref())
                .all(|check| crate::eval::evaluate_check(check, &row) != Some(false));
            if !checks_hold {
                return false;
            }
        }
        let edited: Vec<&str> = match change {
            Change::Update { edits, .. } => edits.iter().map(Edit::field).collect(),
            _ => Vec::new(),
        };
        let author = self.ops[position].1.author;
        collection.rules.iter().any(|rule| {
            let covers = rule.actions.iter().any(|action| match (action, change) {
                (ir::Action::Insert, Change::Insert { .. }) | (ir::Action::Delete, Change::Delete { .. }) => true,
                (ir::Action::Update { fields: None }, Change::Update { .. }) => true,
                (ir::Action::Update { fields: Some(allowed) }, Change::Update { .. }) => {
                    edited.iter().all(|field| allowed.iter().any(|name| name == field))
                }
                _ => false,
            });
            if !covers {
                return false;
            }
            let subject = new.as_ref().or(old.as_ref());
            let scope = Scope {
                state,
                author,
                founder: self.founder,
                subject_id,
                subject,
                old: old.as_ref(),
                new: new.as_ref(),
                bound: Vec::new(),
            };
            matches!(scope.evaluate(&rule.condition), Value::Bool(true))
        })
    }
}

/// What a rule's expression can see.
struct Scope<'s> {
    state: &'s State,
    author: Identity,
    founder: Identity,
    subject_id: RowId,
    subject: Option<&'s Row>,
    old: Option<&'s Row>,
    new: Option<&'s Row>,
    bound: Vec<(String, RowId)>,
}

impl Scope<'_> {
    fn row_of(&self, reference: &RowRef) -> Option<&Row> {
        match reference {
            RowRef::Subject => self.subject,
            RowRef::Old => self.old,
            RowRef::New => self.new,
            RowRef::Bound(name) => {
                let id = self.bound.iter().rev().find(|(bound, _)| bound == name)?.1;
                self.state.rows.get(&id)
            }
        }
    }

    fn evaluate(&self, expr: &Expr) -> Value {
        match expr {
            Expr::Literal(value) => crate::eval::literal(value),
            Expr::Field { row, path } => {
                let Some(row) = self.row_of(row) else { return Value::Null };
                let Some((first, rest)) = path.split_first() else { return Value::Null };
                crate::eval::record_path(row.field(first), rest)
            }
            Expr::RowId(RowRef::Subject | RowRef::Old | RowRef::New) => Value::Bytes(self.subject_id.0.to_vec()),
            Expr::RowId(RowRef::Bound(name)) => match self.bound.iter().rev().find(|(bound, _)| bound == name) {
                Some((_, id)) => Value::Bytes(id.0.to_vec()),
                None => Value::Null,
            },
            Expr::OpAuthor => Value::Bytes(self.author.0.to_vec()),
            Expr::DbFounder => Value::Bytes(self.founder.0.to_vec()),
            Expr::Not(inner) => Value::Bool(!matches!(self.evaluate(inner), Value::Bool(true))),
            Expr::And(left, right) => Value::Bool(
                matches!(self.evaluate(left), Value::Bool(true)) && matches!(self.evaluate(right), Value::Bool(true)),
            ),
            Expr::Or(left, right) => Value::Bool(
                matches!(self.evaluate(left), Value::Bool(true)) || matches!(self.evaluate(right), Value::Bool(true)),
            ),
            Expr::Compare { op, left, right } => Value::Bool(compare(*op, &self.evaluate(left), &self.evaluate(right))),
            Expr::In { value, options } => {
                let value = self.evaluate(value);
                Value::Bool(options.iter().any(|option| self.evaluate(option) == value))
            }
            Expr::Len(inner) => crate::eval::length(self.evaluate(inner)),
            Expr::Exists { collection, variable, condition } => {
                let found = self.state.rows.iter().any(|(id, row)| {
                    if row.collection != *collection || !self.state.is_visible(id) {
                        return false;
                    }
                    match condition {
                        None => true,
                        Some(condition) => {
                            let mut inner = Scope { bound: self.bound.clone(), ..*self };
                            inner.bound.push((variable.clone(), *id));
                            matches!(inner.evaluate(condition), Value::Bool(true))
                        }
                    }
                });
                Value::Bool(found)
            }
        }
    }
}

fn compare(op: Comparison, left: &Value, right: &Value) -> bool {
    crate::eval::compare(op, left, right)
}
