//! The state engine: keeps the materialized rows, each op's effectiveness, the query indexes
//! and the event stream in step with the op log, one op at a time, inside the log's write
//! transaction (docs/semantics.md §6).
//!
//! Every op the log holds is admissible: an op whose rules fail in its causal past is refused
//! before it is stored. What remains is effectiveness (docs/semantics.md §1, point 2). When an op N arrives:
//!
//! - ops in N's causal past keep their verdict (N is in their future, so the set they are
//!   judged in does not change);
//! - of the ops concurrent with N, only those whose rules read what N writes, or what another
//!   such op writes, can flip ("touched", found from static footprints: the rows an op's changes
//!   target and the collections its rules' `exists` read);
//! - each touched op O is judged in X \ F(O), lazily: a row's state in a set is the fold of its
//!   writers that are effective in that set, each judged the same way in a smaller set. Views
//!   are "everything except the futures of these ops"; results are memoized per view for the
//!   round, and a view equal to the state before the round reads the materialized rows.
//!
//! Rows whose writers flipped are folded again from their effective writers; rows that only N
//! writes are folded forward. Then the flags, rows, indexes and events are written.
//!
//! The work is split by job: `causality` (which ops precede which, and which are concurrent),
//! `admission` (judging an op not yet stored), `verdicts` (effectiveness in a view), `views`
//! (rows as a view's effective ops leave them), `footprint` (which ops a new op may flip),
//! `apply` (writing rows, indexes, flags and events) and `explain`.

mod admission;
mod apply;
mod causality;
mod explain;
mod footprint;
mod verdicts;
mod views;

pub(crate) use admission::Inadmissible;

use crate::crypto::CryptoSuite;
use crate::dag::Causality;
use crate::dag::{Clock, OpInfo};
use crate::error::StorageError;
use crate::ids::{Identity, OpHash, RowId};
use crate::model::row::RowState;
use crate::op::{Change, Op, Payload};
use crate::plan::Plan;
use crate::store::{InfoLookup, WriteTables};
use schemac::ir;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use verdicts::Round;

/// An op as the engine uses it.
pub(crate) struct Loaded {
    pub info: OpInfo,
    pub clock: Clock,
    pub op: Op,
}

impl Loaded {
    pub(crate) fn changes(&self) -> &[Change] {
        match &self.op.payload {
            Payload::Changes(changes) => changes,
            Payload::Genesis { .. } => &[],
        }
    }
}

/// The engine for one write transaction.
pub(crate) struct Engine<'r> {
    schema: &'r ir::Schema,
    plan: &'r Plan,
    suite: &'r dyn CryptoSuite,
    founder: Identity,
    loaded: RefCell<HashMap<u64, Rc<Loaded>>>,
    stamps: RefCell<HashMap<u64, Rc<(OpInfo, Clock)>>>,
    round: RefCell<Round>,
    /// Rows of the materialized state read in this transaction, decoded once; a row the engine
    /// writes is dropped from it.
    materialized: RefCell<HashMap<RowId, Option<Rc<RowState>>>>,
    /// Each author's latest sequence number in the log, read on first use in the transaction.
    latest: RefCell<Option<HashMap<u32, u64>>>,
    /// Rule-index keys the judge read in this transaction, each with its rows in order, or
    /// `None` for a key with too many to keep; the engine's own insert under a key drops it.
    rule_index: RefCell<HashMap<[u8; 32], IndexRows>>,
}

/// The rows of a rule-index key, in order; `None` when there are too many to keep.
type IndexRows = Option<Rc<[RowId]>>;

/// An op not yet in the log, as the engine sees it while judging it.
pub(crate) struct Unstored<'a> {
    pub hash: OpHash,
    pub author: Identity,
    pub depth: u64,
    pub changes: &'a [Change],
    pub parents: &'a [OpInfo],
}

/// How many ops outside an unstored op's past `past_view` collects by walking before it
/// switches to the version vector.
const PAST_WALK_BUDGET: usize = 256;

/// The tag an op not yet in the log uses in set fields while it is judged.
const UNSTORED_TAG: u64 = u64::MAX;

impl<'r> Engine<'r> {
    pub(crate) fn new(
        schema: &'r ir::Schema,
        plan: &'r Plan,
        suite: &'r dyn CryptoSuite,
        founder: Identity,
    ) -> Engine<'r> {
        Engine {
            schema,
            plan,
            suite,
            founder,
            loaded: RefCell::default(),
            stamps: RefCell::default(),
            round: RefCell::default(),
            materialized: RefCell::default(),
            latest: RefCell::default(),
            rule_index: RefCell::default(),
        }
    }
}

impl Engine<'_> {
    pub(super) fn load(&self, tables: &WriteTables, local: u64) -> Result<Rc<Loaded>, StorageError> {
        if let Some(loaded) = self.loaded.borrow().get(&local) {
            return Ok(loaded.clone());
        }
        let (info, clock, op) =
            tables.load(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} is missing")))?;
        let loaded = Rc::new(Loaded { info, clock, op });
        self.loaded.borrow_mut().insert(local, loaded.clone());
        Ok(loaded)
    }

    /// An op's metadata and version vector, without decoding it.
    pub(super) fn stamp(&self, tables: &WriteTables, local: u64) -> Result<Rc<(OpInfo, Clock)>, StorageError> {
        if let Some(stamp) = self.stamps.borrow().get(&local) {
            return Ok(stamp.clone());
        }
        let stamp =
            Rc::new(tables.stamp(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} is missing")))?);
        self.stamps.borrow_mut().insert(local, stamp.clone());
        Ok(stamp)
    }

    pub(super) fn forked_from(&self, tables: &WriteTables, author: u32) -> Result<Option<u64>, StorageError> {
        if let Some(known) = self.round.borrow().forked.get(&author) {
            return Ok(*known);
        }
        let from = tables.equivocated_from(author)?;
        self.round.borrow_mut().forked.insert(author, from);
        Ok(from)
    }

    pub(super) fn reset_round(&self, new: Option<u64>) {
        *self.round.borrow_mut() = Round { new, ..Round::default() };
    }

    /// Brings the state up to date after an op was appended to the log: its rows, indexes and
    /// verdict, and every verdict it flips. `op` is the op appended as `local` (decoded
    /// already, so it is not read back); `concurrent` is what [`Engine::has_concurrent`] said
    /// of it before it was appended.
    pub(crate) fn settle(
        &self,
        tables: &mut WriteTables,
        local: u64,
        op: Op,
        admitted: bool,
        concurrent: bool,
    ) -> Result<(), StorageError> {
        let (info, clock) =
            tables.stamp(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} is missing")))?;
        let new = Rc::new(Loaded { info, clock, op });
        self.loaded.borrow_mut().insert(local, new.clone());
        // A new round first: judging the op before it was appended cached what the store said
        // then, and appending it may have flagged its author an equivocator.
        self.reset_round(Some(local));
        let author_forked = self.forked_from(tables, new.info.author)?.is_some_and(|from| new.info.seq >= from);
        // With nothing concurrent, an admitted op is effective and nothing reads the rows it
        // inserts before `apply` writes them: their records are written once, with their state.
        let settled_at_once = admitted && !concurrent && !author_forked;
        self.index_writers(tables, &new, !settled_at_once)?;
        self.note_appended(tables, &new)?;
        let effective = if !admitted {
            false
        } else if author_forked || concurrent {
            self.effective_in(tables, local, &[])?
        } else {
            true
        };
        self.round.borrow_mut().decided.insert(local, effective);
        let touched = self.touched(tables, &new, concurrent, author_forked)?;
        self.round.borrow_mut().pending = touched.iter().map(|op| op.info.local).collect();
        let mut flipped = Vec::new();
        for op in &touched {
            let verdict = self.effective_in(tables, op.info.local, &[])?;
            let mut round = self.round.borrow_mut();
            round.pending.remove(&op.info.local);
            round.decided.insert(op.info.local, verdict);
            drop(round);
            if verdict != self.stored_effective(tables, op.info.local)? {
                flipped.push((op.clone(), verdict));
            }
        }
        self.reset_round(None);
        self.apply(tables, &new, effective, &flipped)
    }
}
