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

use super::row::{Folding, RowState};
use super::rules::{self, Verdict};
use super::world::{visible_row, World};
use crate::cbor::Value;
use crate::crypto::CryptoSuite;
use crate::error::{Denial, StorageError};
use crate::ids::{Identity, OpHash, RowId};
use crate::op::{Op, Payload, VerifiedOp};
use crate::plan::{Probe, ReadFields, Use};
use schemac::ir;
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

pub use crate::error::HistoryError;

/// The state of a set of ops: every row any effective op inserted, with its merged fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    rows: BTreeMap<RowId, Rc<RowState>>,
}

impl State {
    /// Whether a row exists: inserted, not deleted, and (if nested) its parent exists.
    pub fn is_visible(&self, id: &RowId) -> bool {
        matches!(visible_row(self, id, Use::Visibility), Ok(Some(_)))
    }

    /// The visible rows of a collection, by id, each as a map of field values.
    pub fn rows(&self, collection: &str) -> Vec<(RowId, BTreeMap<String, Value>)> {
        self.rows
            .iter()
            .filter(|(id, row)| row.collection == collection && self.is_visible(id))
            .map(|(id, row)| (*id, row.values()))
            .collect()
    }

    /// One visible row's field values.
    pub fn row(&self, id: &RowId) -> Option<BTreeMap<String, Value>> {
        if !self.is_visible(id) {
            return None;
        }
        self.rows.get(id).map(|row| row.values())
    }

    /// A hash of the visible state: equal on every replica that holds the same ops.
    pub fn digest(&self) -> [u8; 32] {
        let mut digest = super::digest::Digest::default();
        for (id, row) in self.rows.iter().filter(|(id, _)| self.is_visible(id)) {
            digest.add(id, row);
        }
        digest.finish()
    }
}

impl World for State {
    /// The reference folds every writer, so its rows are exact for every use.
    fn row(&self, id: &RowId, _: Use) -> Result<Option<Rc<RowState>>, StorageError> {
        Ok(self.rows.get(id).cloned())
    }

    /// The reference keeps no index: every probe scans the collection.
    fn scan(
        &self,
        collection: &str,
        _probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        for (id, row) in &self.rows {
            if row.collection == collection && visit(*id)? {
                break;
            }
        }
        Ok(())
    }
}

/// Why an op is or is not effective (see [`History::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The op explained.
    pub op: OpHash,
    /// Its author.
    pub author: Identity,
    /// Whether it is effective in the whole history.
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
    read: ReadFields,
    /// Strict ancestors of each op.
    past: Vec<OpSet>,
    /// Each op and its descendants.
    future: Vec<OpSet>,
    effective_memo: std::cell::RefCell<HashMap<(usize, OpSet), bool>>,
    state_memo: std::cell::RefCell<HashMap<OpSet, Rc<State>>>,
}

impl<'a> History<'a> {
    /// A history of these ops (in any order; they must be closed under parents and include the
    /// genesis).
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
            read: ReadFields::new(schema),
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
        Some(self.rules_hold(position, &self.state_of(&past), true))
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
                    && self.rules_hold(position, &self.state_of(&self.past[position]), true)
                    && self.rules_hold(position, &self.state_of(&set.minus(&self.future[position])), false)
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
                self.apply(&mut state, position);
            }
        }
        let state = Rc::new(state);
        self.state_memo.borrow_mut().insert(set.clone(), state.clone());
        state
    }

    /// Folds every change of an effective op into a state.
    fn apply(&self, state: &mut State, position: usize) {
        let (hash, op) = &self.ops[position];
        let Payload::Changes(changes) = &op.payload else { return };
        let seen = |tag: u64| Ok(tag as usize == position || self.past[position].contains(tag as usize));
        let folding = Folding {
            hash: *hash,
            depth: op.depth,
            tag: position as u64,
            seen: &seen,
            read: &self.read,
            suite: self.suite,
        };
        for (index, change) in changes.iter().enumerate() {
            let target = super::row::target(self.suite, hash, index as u32, change);
            let current = state.rows.get(&target).cloned();
            // The fold only fails when `seen` does, and this one cannot.
            if let Ok(Some(row)) =
                super::row::fold_change(self.schema, current.as_deref(), &folding, index as u32, change)
            {
                state.rows.insert(target, Rc::new(row));
            }
        }
    }

    /// Whether every change of the op is allowed by a rule in `state` (each change also seeing
    /// the op's earlier changes). In the op's causal past (`past`), its references must also
    /// name visible rows.
    fn rules_hold(&self, position: usize, state: &State, past: bool) -> bool {
        self.first_denial(position, state, past).is_none()
    }

    /// The first change of an op that no rule allows in `state`, if any.
    fn first_denial(&self, position: usize, state: &State, past: bool) -> Option<Denial> {
        let (hash, op) = &self.ops[position];
        let Payload::Changes(changes) = &op.payload else { return None };
        let seen = |tag: u64| Ok(tag as usize == position || self.past[position].contains(tag as usize));
        let judged = rules::Judged {
            schema: self.schema,
            read: &self.read,
            suite: self.suite,
            founder: self.founder,
            author: op.author,
            hash: *hash,
            depth: op.depth,
            changes,
            check_references: past,
            tag: position as u64,
            seen: &seen,
            hints: &[],
            attest: true,
        };
        // Reading the reference state cannot fail.
        match rules::judge(state, &judged) {
            Ok(Verdict::Denied(denial)) => Some(denial),
            Ok(Verdict::Allowed(_)) | Err(_) => None,
        }
    }

    /// Whether `other` is effective in the world `op` is judged in: the whole history without
    /// `op` and its future. `None` if either is not in the history.
    pub fn effective_in_world_of(&self, op: &OpHash, other: &OpHash) -> Option<bool> {
        let position = self.ops.iter().position(|(candidate, _)| candidate == op)?;
        let other = self.ops.iter().position(|(candidate, _)| candidate == other)?;
        let world = self.everything().minus(&self.future[position]);
        Some(world.contains(other) && self.effective_in(other, &world))
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
        if let Some(change) = self.first_denial(position, &past_state, true).map(|denial| denial.change) {
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
        let failing_change = self.first_denial(position, &self.state_of(&judged), false).map(|denial| denial.change);
        let mut defeated_by = Vec::new();
        if failing_change.is_some() {
            let concurrent: Vec<usize> = judged.minus(&self.past[position]).members().collect();
            defeated_by = concurrent
                .iter()
                .filter(|other| self.rules_hold(position, &self.state_of(&judged.minus(&self.future[**other])), false))
                .map(|other| self.ops[*other].0)
                .collect();
            if defeated_by.is_empty() {
                defeated_by = concurrent.iter().map(|other| self.ops[*other].0).collect();
            }
            defeated_by.sort();
        }
        Some(Explanation { op: *hash, author, effective, admissible: true, failing_change, defeated_by })
    }
}
