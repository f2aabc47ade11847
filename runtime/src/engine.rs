//! The state engine: keeps the materialized rows, each op's effectiveness, the query indexes
//! and the event stream in step with the op log, one op at a time, inside the log's write
//! transaction (docs/semantics.md §6).
//!
//! Every op the log holds is admissible: an op whose rules fail in its causal past is refused
//! before it is stored. What remains is effectiveness, DESIGN §5 point 2. When an op N arrives:
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

use crate::cbor::{Value, Writer};
use crate::crypto::CryptoSuite;
use crate::ids::{Identity, OpHash, RowId};
use crate::op::{Attestation, Change, Op, Payload};
use crate::rules::{self, Denial, Judged, Probe, Use, World};
use crate::state::{self, Folding, Row};
use crate::store::{self, Clock, InfoLookup, OpInfo, StorageError, WriteTables};
use redb::{ReadableTable, ReadableTableMetadata};
use schemac::ir::{self, Expr, Type};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;

/// What the engine derives from a schema once: indexes and footprints.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// For each collection, the readonly field sets its rule indexes key on.
    indexes: BTreeMap<String, Vec<Vec<String>>>,
    /// For each collection, the collections its rules' `exists` read.
    reads: BTreeMap<String, BTreeSet<String>>,
    /// For each collection, itself and its nested collections, transitively: what a change to
    /// one of its rows can make appear or vanish.
    scope: BTreeMap<String, BTreeSet<String>>,
    /// For each nested collection, the collections of its ancestors.
    ancestors: BTreeMap<String, Vec<String>>,
    /// For each collection, the fields queries can look up by value.
    queryable: BTreeMap<String, BTreeSet<String>>,
    /// The fields rules and checks read.
    read: rules::ReadFields,
}

impl Plan {
    pub fn new(schema: &ir::Schema) -> Plan {
        let mut plan = Plan { read: rules::ReadFields::new(schema), ..Plan::default() };
        for (collection, fields) in rules::index_keys(schema) {
            let Some(definition) = schema.collections.get(&collection) else { continue };
            let mut keyed: Vec<Vec<String>> = Vec::new();
            for fields in fields {
                // Readonly fields never change after the insert, so an index entry written at
                // insert time stays exact in every view.
                let readonly: Vec<String> = fields
                    .into_iter()
                    .filter(|name| definition.field(name).is_some_and(|field| field.readonly))
                    .collect();
                if !readonly.is_empty() && !keyed.contains(&readonly) {
                    keyed.push(readonly);
                }
            }
            plan.indexes.insert(collection, keyed);
        }
        for (name, definition) in &schema.collections {
            let mut read = BTreeSet::new();
            for rule in &definition.rules {
                exists_collections(&rule.condition, &mut read);
            }
            plan.reads.insert(name.clone(), read);
            let mut ancestors = Vec::new();
            let mut parent = definition.parent.clone();
            while let Some(name) = parent {
                if ancestors.contains(&name) {
                    break;
                }
                parent = schema.collections.get(&name).and_then(|collection| collection.parent.clone());
                ancestors.push(name);
            }
            for ancestor in &ancestors {
                plan.scope.entry(ancestor.clone()).or_default().insert(name.clone());
            }
            plan.scope.entry(name.clone()).or_default().insert(name.clone());
            plan.ancestors.insert(name.clone(), ancestors);
            let queryable =
                definition.fields.iter().filter(|field| is_scalar(&field.ty)).map(|field| field.name.clone()).collect();
            plan.queryable.insert(name.clone(), queryable);
        }
        plan
    }

    /// The readonly field sets indexed for a collection.
    pub fn indexes(&self, collection: &str) -> &[Vec<String>] {
        self.indexes.get(collection).map_or(&[], Vec::as_slice)
    }

    pub fn is_queryable(&self, collection: &str, field: &str) -> bool {
        self.queryable.get(collection).is_some_and(|fields| fields.contains(field))
    }
}

fn is_scalar(ty: &Type) -> bool {
    match ty {
        Type::Optional(inner) => is_scalar(inner),
        Type::Set(_) | Type::Map(_) | Type::List(_) | Type::Counter | Type::Record(_) => false,
        _ => true,
    }
}

fn exists_collections(expr: &Expr, into: &mut BTreeSet<String>) {
    if let Expr::Exists { collection, .. } = expr {
        into.insert(collection.clone());
    }
    for inner in rules::subexpressions(expr) {
        exists_collections(inner, into);
    }
}

/// The key of every row ever inserted into a collection, in [`crate::store::ROW_INDEX`].
pub(crate) fn collection_key(collection: &str) -> [u8; 32] {
    let mut writer = Writer::new();
    writer.array(2).text("collection").text(collection);
    *blake3::hash(&writer.bytes).as_bytes()
}

/// The key of the rows of a collection whose fields have these values, in
/// [`crate::store::ROW_INDEX`] (readonly fields) and [`crate::store::FIELD_INDEX`] (one field).
pub(crate) fn index_key<'v>(collection: &str, fields: impl IntoIterator<Item = (&'v str, &'v Value)>) -> [u8; 32] {
    let fields: Vec<(&str, &Value)> = fields.into_iter().collect();
    let mut writer = Writer::new();
    writer.array(2 + fields.len() * 2).text("index").text(collection);
    for (name, value) in fields {
        writer.text(name);
        match value {
            // `-0.0 = 0.0` in rules and queries, so both get one key.
            Value::Float(float) if *float == 0.0 => writer.float(0.0),
            value => writer.value(value),
        };
    }
    *blake3::hash(&writer.bytes).as_bytes()
}

/// An op as the engine uses it.
pub(crate) struct Loaded {
    pub info: OpInfo,
    pub clock: Clock,
    pub op: Op,
}

impl Loaded {
    fn changes(&self) -> &[Change] {
        match &self.op.payload {
            Payload::Changes(changes) => changes,
            Payload::Genesis { .. } => &[],
        }
    }
}

/// What the engine must know about a row change to footprint it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Row(RowId),
    Collection(String),
}

/// One round's working memory: the verdicts and rows computed for each view.
#[derive(Default)]
struct Round {
    /// The op this round adds: a view that excludes only it is the state before the round.
    new: Option<u64>,
    /// Ops whose stored verdict may be stale until they are judged again.
    pending: BTreeSet<u64>,
    /// Verdicts in the whole log, decided this round.
    decided: HashMap<u64, bool>,
    verdicts: HashMap<(u64, Vec<u64>), bool>,
    rows: HashMap<(Vec<u64>, RowId, Use), Option<Rc<Row>>>,
    forked: HashMap<u32, Option<u64>>,
}

/// What happened to a row or an op, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    RowInserted,
    RowUpdated,
    RowDeleted,
    OpRolledBack,
    OpReinstated,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RowInserted => "row_inserted",
            EventKind::RowUpdated => "row_updated",
            EventKind::RowDeleted => "row_deleted",
            EventKind::OpRolledBack => "op_rolled_back",
            EventKind::OpReinstated => "op_reinstated",
        }
    }

    fn from_name(name: &str) -> Option<EventKind> {
        [
            EventKind::RowInserted,
            EventKind::RowUpdated,
            EventKind::RowDeleted,
            EventKind::OpRolledBack,
            EventKind::OpReinstated,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// An effect on the state: a row that appeared, changed or vanished, or an op that stopped or
/// started being effective. Numbered without gaps in the order this replica saw them.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
    /// The row's collection (for row events).
    pub collection: Option<String>,
    pub row: Option<RowId>,
    /// The op that caused it: the op that arrived, or the op that flipped.
    pub op: OpHash,
    /// For an insert, every field's value; for an update, the new values of the fields that
    /// changed; nothing otherwise.
    pub fields: BTreeMap<String, Value>,
}

impl Event {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.array(5).text(self.kind.name());
        match &self.collection {
            Some(collection) => writer.text(collection),
            None => writer.null(),
        };
        match &self.row {
            Some(row) => writer.bytes(&row.0),
            None => writer.null(),
        };
        writer.bytes(&self.op.0);
        writer.value(&Value::Map(self.fields.iter().map(|(name, value)| (name.clone(), value.clone())).collect()));
        writer.bytes
    }

    pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Result<Event, StorageError> {
        let corrupt = |error: crate::cbor::DecodeError| StorageError::Corrupt(format!("event {seq}: {error}"));
        let mut reader = crate::cbor::Reader::new(bytes);
        reader.array().map_err(corrupt)?;
        let kind = EventKind::from_name(reader.text().map_err(corrupt)?)
            .ok_or_else(|| StorageError::Corrupt(format!("event {seq} has an unknown kind")))?;
        let collection =
            if reader.null().map_err(corrupt)? { None } else { Some(reader.text().map_err(corrupt)?.to_owned()) };
        let row =
            if reader.null().map_err(corrupt)? { None } else { Some(RowId(reader.fixed_bytes().map_err(corrupt)?)) };
        let op = OpHash(reader.fixed_bytes().map_err(corrupt)?);
        let fields = match reader.value(0).map_err(corrupt)? {
            Value::Map(entries) => entries.into_iter().collect(),
            _ => return Err(StorageError::Corrupt(format!("event {seq} has no field map"))),
        };
        Ok(Event { seq, kind, collection, row, op, fields })
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
}

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
    pub fn new(schema: &'r ir::Schema, plan: &'r Plan, suite: &'r dyn CryptoSuite, founder: Identity) -> Engine<'r> {
        Engine {
            schema,
            plan,
            suite,
            founder,
            loaded: RefCell::default(),
            stamps: RefCell::default(),
            round: RefCell::default(),
        }
    }

    fn load(&self, tables: &WriteTables, local: u64) -> Result<Rc<Loaded>, StorageError> {
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
    fn stamp(&self, tables: &WriteTables, local: u64) -> Result<Rc<(OpInfo, Clock)>, StorageError> {
        if let Some(stamp) = self.stamps.borrow().get(&local) {
            return Ok(stamp.clone());
        }
        let stamp =
            Rc::new(tables.stamp(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} is missing")))?);
        self.stamps.borrow_mut().insert(local, stamp.clone());
        Ok(stamp)
    }

    fn forked_from(&self, tables: &WriteTables, author: u32) -> Result<Option<u64>, StorageError> {
        if let Some(known) = self.round.borrow().forked.get(&author) {
            return Ok(*known);
        }
        let from = tables.equivocated_from(author)?;
        self.round.borrow_mut().forked.insert(author, from);
        Ok(from)
    }

    /// Whether `ancestor` is strictly in the causal past of `descendant`.
    fn precedes(&self, tables: &WriteTables, ancestor: &OpInfo, descendant: &Loaded) -> Result<bool, StorageError> {
        self.precedes_stamp(tables, ancestor, &descendant.info, &descendant.clock)
    }

    fn precedes_stamp(
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
    fn in_past_of(&self, tables: &WriteTables, op: &OpInfo, parents: &[OpInfo]) -> Result<bool, StorageError> {
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
    fn in_view(&self, tables: &WriteTables, view: &[OpInfo], op: &Loaded) -> Result<bool, StorageError> {
        for excluded in view {
            if excluded.local == op.info.local || self.precedes(tables, excluded, op)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The view an op is judged in from `view`: without the op's own future, and without the
    /// exclusions that its future already covers, so equal sets get equal keys.
    fn judging_view(&self, tables: &WriteTables, view: &[OpInfo], op: &Loaded) -> Result<Vec<OpInfo>, StorageError> {
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

    /// The verdict the log keeps for an op: as of before the round (the op the round adds was
    /// not in the log then).
    fn stored_effective(&self, tables: &WriteTables, local: u64) -> Result<bool, StorageError> {
        if self.round.borrow().new == Some(local) {
            return Ok(false);
        }
        Ok(tables.ineffective.get(local)?.is_none())
    }

    /// Whether an op in the view is effective in it.
    fn effective_in(&self, tables: &WriteTables, local: u64, view: &[OpInfo]) -> Result<bool, StorageError> {
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
        let effective = self.judge_stored(tables, &op, changes, &judging)?.is_ok();
        self.round.borrow_mut().verdicts.insert(key, effective);
        Ok(effective)
    }

    /// Judges an op of the log in a view (which excludes the op's future).
    fn judge_stored(
        &self,
        tables: &WriteTables,
        op: &Loaded,
        changes: &[Change],
        view: &[OpInfo],
    ) -> Result<Result<Vec<Attestation>, Denial>, StorageError> {
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
            tag: op.info.local,
            seen: &seen,
        };
        rules::judge(&world, &judged)
    }

    /// Whether the op's author signed two ops with one sequence number, at or before the op's,
    /// both in the view (which holds the op).
    fn equivocated_in(&self, tables: &WriteTables, op: &Loaded, view: &[OpInfo]) -> Result<bool, StorageError> {
        let Some(from) = self.forked_from(tables, op.info.author)? else { return Ok(false) };
        if from > op.info.seq {
            return Ok(false);
        }
        let others = view;
        let mut by_seq: BTreeMap<u64, usize> = BTreeMap::new();
        let range = (op.info.author, from, 0)..=(op.info.author, op.info.seq, u64::MAX);
        for entry in tables.chains.range(range)? {
            let (_, seq, local) = entry?.0.value();
            let candidate = self.load(tables, local)?;
            if local == op.info.local || self.in_view(tables, others, &candidate)? {
                *by_seq.entry(seq).or_default() += 1;
            }
        }
        Ok(by_seq.values().any(|count| *count > 1))
    }

    /// Whether a set-field tag names an op the given op has seen (itself or its past).
    fn seen_by(&self, tables: &WriteTables, op: &Loaded, tag: u64) -> Result<bool, StorageError> {
        if tag == op.info.local {
            return Ok(true);
        }
        let tagged = self.load(tables, tag)?;
        self.precedes(tables, &tagged.info, op)
    }

    /// Whether a view is the state before this round: it excludes nothing the log held then.
    fn is_materialized(&self, view: &[OpInfo]) -> bool {
        match self.round.borrow().new {
            Some(new) => view.len() == 1 && view[0].local == new,
            None => view.is_empty(),
        }
    }

    /// A row as a view's effective ops leave it.
    fn row_in(
        &self,
        tables: &WriteTables,
        view: &[OpInfo],
        id: &RowId,
        used: Use,
    ) -> Result<Option<Rc<Row>>, StorageError> {
        let key = (view.iter().map(|info| info.local).collect::<Vec<_>>(), *id, used);
        if let Some(known) = self.round.borrow().rows.get(&key) {
            return Ok(known.clone());
        }
        if self.is_materialized(view) {
            let row = read_row(tables, id)?.map(Rc::new);
            self.round.borrow_mut().rows.insert(key, row.clone());
            return Ok(row);
        }
        // Only the writers that `used` can see matter here: the insert, deletes, and updates of
        // fields that use reads. (Judging many concurrent writers of other fields, such as
        // reactions, in each other's views would grow exponentially with their number.) The row
        // returned is exact in what the use reads; its other fields may not be.
        let mut effective = Vec::new();
        let mut matches_stored = true;
        for (position, local) in row_writers(tables, id)?.into_iter().enumerate() {
            let writer = self.load(tables, local)?;
            if position > 0 && !self.writes_relevantly(&writer, id, used) {
                continue;
            }
            let counts = self.in_view(tables, view, &writer)? && self.effective_in(tables, local, view)?;
            if counts != self.stored_effective(tables, local)? {
                matches_stored = false;
            }
            if counts {
                effective.push(writer);
            }
        }
        let row = if matches_stored {
            // The same writers as the materialized row: no need to fold again.
            read_row(tables, id)?.map(Rc::new)
        } else {
            self.fold(tables, id, &effective)?.map(Rc::new)
        };
        self.round.borrow_mut().rows.insert(key, row.clone());
        Ok(row)
    }

    /// Whether an op updates or deletes a row in a way that `used` reads.
    fn writes_relevantly(&self, writer: &Loaded, id: &RowId, used: Use) -> bool {
        writer.changes().iter().any(|change| match change {
            Change::Insert { .. } => false,
            Change::Update { row, .. } | Change::Delete { row, .. } => {
                row == id && self.plan.read.relevant(change, used)
            }
        })
    }

    /// Folds a row from its effective writers, in log order (a topological order).
    fn fold(&self, tables: &WriteTables, id: &RowId, writers: &[Rc<Loaded>]) -> Result<Option<Row>, StorageError> {
        let mut row: Option<Row> = None;
        for writer in writers {
            row = self.fold_writer(tables, id, writer, row)?;
        }
        Ok(row)
    }

    /// Folds the changes of one op that target a row into it.
    fn fold_writer(
        &self,
        tables: &WriteTables,
        id: &RowId,
        writer: &Loaded,
        mut row: Option<Row>,
    ) -> Result<Option<Row>, StorageError> {
        let seen = |tag: u64| self.seen_by(tables, writer, tag);
        let folding = Folding {
            hash: writer.info.hash,
            depth: writer.info.depth,
            tag: writer.info.local,
            seen: &seen,
            read: &self.plan.read,
        };
        for (index, change) in writer.changes().iter().enumerate() {
            if state::target(self.suite, &writer.info.hash, index as u32, change) != *id {
                continue;
            }
            if let Some(next) = state::fold_change(self.schema, row.as_ref(), &folding, index as u32, change)? {
                row = Some(next);
            }
        }
        Ok(row)
    }

    /// The ops the log holds that are not in the causal past of an op with these parents
    /// (everything concurrent with it), in log order.
    pub fn concurrent_with(&self, tables: &WriteTables, parents: &[OpInfo]) -> Result<Vec<Rc<Loaded>>, StorageError> {
        Ok(self.walk_concurrent(tables, parents, usize::MAX)?.unwrap_or_default())
    }

    /// Walks down from the heads to the past of an op with these parents, collecting the ops
    /// outside it; `None` once more than `budget` ops are found.
    fn walk_concurrent(
        &self,
        tables: &WriteTables,
        parents: &[OpInfo],
        budget: usize,
    ) -> Result<Option<Vec<Rc<Loaded>>>, StorageError> {
        let mut stack: Vec<u64> = Vec::new();
        for entry in tables.heads.iter()? {
            stack.push(entry?.0.value());
        }
        // The usual case: the op's parents are the log's heads, so the log is its past.
        if stack.iter().all(|head| parents.iter().any(|parent| parent.local == *head)) {
            return Ok(Some(Vec::new()));
        }
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
    fn past_view(&self, tables: &WriteTables, parents: &[OpInfo]) -> Result<Vec<OpInfo>, StorageError> {
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

    /// Judges an op that is not in the log yet in its causal past: admissibility.
    pub fn admit(
        &self,
        tables: &WriteTables,
        candidate: &Unstored,
    ) -> Result<Result<Vec<Attestation>, Denial>, StorageError> {
        // Rounds end with an empty memo (see `settle`), and nothing is written between rounds:
        // what this judgment reads stays valid for the next one until an op is appended.
        let view = self.past_view(tables, candidate.parents)?;
        let world = ViewWorld { engine: self, tables, view: &view };
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
            tag: UNSTORED_TAG,
            seen: &seen,
        };
        rules::judge(&world, &judged)
    }

    /// Checks an op's attestations against its causal past: each names a rule that covers its
    /// change, and each witness is a visible row of that collection at that version.
    pub fn check_attestations(
        &self,
        tables: &WriteTables,
        candidate: &Unstored,
        attestations: &[Attestation],
    ) -> Result<Result<(), String>, StorageError> {
        let view = self.past_view(tables, candidate.parents)?;
        let world = ViewWorld { engine: self, tables, view: &view };
        for attestation in attestations {
            let Some(change) = candidate.changes.get(attestation.change as usize) else {
                return Ok(Err(format!(
                    "an attestation names change {}, which the op does not have",
                    attestation.change
                )));
            };
            let edited: Vec<&str> = match change {
                Change::Update { edits, .. } => edits.iter().map(crate::op::Edit::field).collect(),
                _ => Vec::new(),
            };
            let rule = self
                .schema
                .collections
                .get(change.collection())
                .and_then(|collection| collection.rules.get(attestation.rule as usize));
            if !rule.is_some_and(|rule| rules::covers(rule, change, &edited)) {
                return Ok(Err(format!(
                    "change {} names rule #{}, which does not cover it",
                    attestation.change, attestation.rule
                )));
            }
            for witness in &attestation.witnesses {
                let row = rules::visible_row(&world, &witness.row, rules::Use::Bound)?;
                let holds = row
                    .as_ref()
                    .is_some_and(|row| row.collection == witness.collection && row.version.1 == witness.version);
                if !holds {
                    return Ok(Err(format!(
                        "witness {} of {} at version {} is not in the op's past",
                        witness.row, witness.collection, witness.version
                    )));
                }
            }
        }
        Ok(Ok(()))
    }

    fn reset_round(&self, new: Option<u64>) {
        *self.round.borrow_mut() = Round { new, ..Round::default() };
    }

    /// Brings the state up to date after an op was appended to the log: its rows, indexes and
    /// verdict, and every verdict it flips. `concurrent` is what [`Engine::concurrent_with`]
    /// returned for it before it was appended.
    pub fn settle(
        &self,
        tables: &mut WriteTables,
        local: u64,
        admitted: bool,
        concurrent: &[Rc<Loaded>],
    ) -> Result<(), StorageError> {
        let new = self.load(tables, local)?;
        self.index_writers(tables, &new)?;
        self.reset_round(Some(local));
        let author_forked = self.forked_from(tables, new.info.author)?.is_some_and(|from| new.info.seq >= from);
        let effective = if !admitted {
            false
        } else if author_forked || !concurrent.is_empty() {
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

    /// The concurrent ops whose verdict the new op may change: those whose footprint meets
    /// what the new op writes, or what another touched op writes (to a fixed point). When the
    /// new op forks its author's chain, every op of that author from the fork on.
    fn touched(
        &self,
        tables: &WriteTables,
        new: &Loaded,
        concurrent: &[Rc<Loaded>],
        author_forked: bool,
    ) -> Result<Vec<Rc<Loaded>>, StorageError> {
        if concurrent.is_empty() && !author_forked {
            return Ok(Vec::new());
        }
        let mut dirty: BTreeSet<Key> = BTreeSet::new();
        self.add_writes(&mut dirty, new);
        let mut touched: BTreeSet<u64> = BTreeSet::new();
        // Every op of a forked author from the fork on: in the log's past or not, the set it is
        // judged in now holds both forks.
        let mut forked_ops = Vec::new();
        if author_forked {
            let from = self.forked_from(tables, new.info.author)?.unwrap_or(0);
            let range = (new.info.author, from, 0)..=(new.info.author, u64::MAX, u64::MAX);
            for entry in tables.chains.range(range)? {
                let local = entry?.0.value().2;
                if local != new.info.local && touched.insert(local) {
                    let op = self.load(tables, local)?;
                    self.add_writes(&mut dirty, &op);
                    forked_ops.push(op);
                }
            }
        }
        let mut footprints: HashMap<u64, BTreeSet<Key>> = HashMap::new();
        loop {
            let mut grew = false;
            for op in concurrent {
                if touched.contains(&op.info.local) {
                    continue;
                }
                let footprint = match footprints.get(&op.info.local) {
                    Some(footprint) => footprint,
                    None => footprints.entry(op.info.local).or_insert(self.footprint(op)),
                };
                if footprint.iter().any(|key| dirty.contains(key)) {
                    touched.insert(op.info.local);
                    self.add_writes(&mut dirty, op);
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        let mut touched_ops: Vec<Rc<Loaded>> =
            concurrent.iter().filter(|op| touched.contains(&op.info.local)).cloned().collect();
        for op in forked_ops {
            if !touched_ops.iter().any(|other| other.info.local == op.info.local) {
                touched_ops.push(op);
            }
        }
        touched_ops.sort_by_key(|op| op.info.local);
        Ok(touched_ops)
    }

    /// What an op's writes can change: the rows it targets, and the collections (with their
    /// nested collections) those rows belong to. Updates of fields no rule reads change nothing
    /// a verdict depends on.
    fn add_writes(&self, dirty: &mut BTreeSet<Key>, op: &Loaded) {
        for (index, change) in op.changes().iter().enumerate() {
            if !self.plan.read.affects_verdicts(change) {
                continue;
            }
            dirty.insert(Key::Row(state::target(self.suite, &op.info.hash, index as u32, change)));
            match self.plan.scope.get(change.collection()) {
                Some(collections) => dirty.extend(collections.iter().cloned().map(Key::Collection)),
                None => {
                    dirty.insert(Key::Collection(change.collection().to_owned()));
                }
            }
        }
    }

    /// What an op's verdict can depend on: the rows its changes name, the collections its rules
    /// look into, and the collections of the ancestors of the rows it names.
    fn footprint(&self, op: &Loaded) -> BTreeSet<Key> {
        let mut footprint = BTreeSet::new();
        for (index, change) in op.changes().iter().enumerate() {
            let collection = change.collection();
            if let Some(read) = self.plan.reads.get(collection) {
                footprint.extend(read.iter().cloned().map(Key::Collection));
            }
            if let Some(ancestors) = self.plan.ancestors.get(collection) {
                footprint.extend(ancestors.iter().cloned().map(Key::Collection));
            }
            if !matches!(change, Change::Insert { .. }) {
                footprint.insert(Key::Row(state::target(self.suite, &op.info.hash, index as u32, change)));
            }
        }
        footprint
    }

    /// Records which rows an op writes, and indexes the rows it inserts.
    fn index_writers(&self, tables: &mut WriteTables, op: &Loaded) -> Result<(), StorageError> {
        let unseen = |_: u64| Ok(false);
        let folding = Folding {
            hash: op.info.hash,
            depth: op.info.depth,
            tag: op.info.local,
            seen: &unseen,
            read: &self.plan.read,
        };
        for (index, change) in op.changes().iter().enumerate() {
            let target = state::target(self.suite, &op.info.hash, index as u32, change);
            let Change::Insert { collection, .. } = change else {
                tables.row_writers.insert((&target.0, op.info.local), ())?;
                continue;
            };
            let number = store::row_number(op.info.local, index as u32);
            tables.rows.insert(&target.0, store::encode_row_record(number, None).as_slice())?;
            tables.row_index.insert((&collection_key(collection), number), &target.0)?;
            let indexes = self.plan.indexes(collection);
            if indexes.is_empty() {
                continue;
            }
            let Some(row) = state::fold_change(self.schema, None, &folding, index as u32, change)? else { continue };
            for fields in indexes {
                let values: Vec<(String, Value)> = fields.iter().map(|name| (name.clone(), row.field(name))).collect();
                let key = index_key(collection, values.iter().map(|(name, value)| (name.as_str(), value)));
                tables.row_index.insert((&key, number), &target.0)?;
            }
        }
        Ok(())
    }

    /// Writes the round's outcome: flags, rows, query indexes and events.
    fn apply(
        &self,
        tables: &mut WriteTables,
        new: &Rc<Loaded>,
        new_effective: bool,
        flipped: &[(Rc<Loaded>, bool)],
    ) -> Result<(), StorageError> {
        let mut events = Vec::new();
        if !new_effective {
            tables.ineffective.insert(new.info.local, ())?;
        }
        // Rows to fold again from scratch, and the op each change is blamed on.
        let mut refold: BTreeMap<RowId, OpHash> = BTreeMap::new();
        for (op, effective) in flipped {
            if *effective {
                tables.ineffective.remove(op.info.local)?;
            } else {
                tables.ineffective.insert(op.info.local, ())?;
            }
            let kind = if *effective { EventKind::OpReinstated } else { EventKind::OpRolledBack };
            events.push(Event { seq: 0, kind, collection: None, row: None, op: op.info.hash, fields: BTreeMap::new() });
            for (index, change) in op.changes().iter().enumerate() {
                refold.entry(state::target(self.suite, &op.info.hash, index as u32, change)).or_insert(op.info.hash);
            }
        }
        let mut forward: BTreeSet<RowId> = BTreeSet::new();
        if new_effective {
            for (index, change) in new.changes().iter().enumerate() {
                let target = state::target(self.suite, &new.info.hash, index as u32, change);
                if !refold.contains_key(&target) {
                    forward.insert(target);
                }
            }
        }
        for id in forward {
            let (number, before) = self.record(tables, &id)?;
            let after = self.fold_writer(tables, &id, new, before.clone())?;
            self.store_row(tables, &id, (number, before), after, new.info.hash, &mut events)?;
        }
        for (id, blamed) in refold {
            let (number, before) = self.record(tables, &id)?;
            let mut writers = Vec::new();
            for local in row_writers(tables, &id)? {
                if self.stored_effective(tables, local)? {
                    writers.push(self.load(tables, local)?);
                }
            }
            let after = self.fold(tables, &id, &writers)?;
            self.store_row(tables, &id, (number, before), after, blamed, &mut events)?;
        }
        let mut seq = tables.events.last()?.map_or(0, |(seq, _)| seq.value());
        for mut event in events {
            seq += 1;
            event.seq = seq;
            tables.events.insert(seq, event.encode().as_slice())?;
        }
        Ok(())
    }

    /// A row's number and materialized state; every row an op writes has a record.
    fn record(&self, tables: &WriteTables, id: &RowId) -> Result<(u64, Option<Row>), StorageError> {
        read_record(tables, id)?.ok_or_else(|| StorageError::Corrupt(format!("row {id} has no record")))
    }

    /// Writes a row's new state, keeps its query index entries in step, and notes the event.
    /// `before` is the row's record: its number and its state before the round.
    fn store_row(
        &self,
        tables: &mut WriteTables,
        id: &RowId,
        (number, before): (u64, Option<Row>),
        after: Option<Row>,
        op: OpHash,
        events: &mut Vec<Event>,
    ) -> Result<(), StorageError> {
        if before == after {
            return Ok(());
        }
        let live = |row: &Option<Row>| row.as_ref().filter(|row| !row.deleted).map(Row::values);
        let (old_values, new_values) = (live(&before), live(&after));
        let collection = after.as_ref().or(before.as_ref()).map(|row| row.collection.clone()).unwrap_or_default();
        for (values, insert) in [(&old_values, false), (&new_values, true)] {
            let Some(values) = values else { continue };
            for (name, value) in values {
                if !self.plan.is_queryable(&collection, name) {
                    continue;
                }
                if old_values.as_ref().and_then(|old| old.get(name))
                    == new_values.as_ref().and_then(|new| new.get(name))
                {
                    continue;
                }
                let key = index_key(&collection, [(name.as_str(), value)]);
                if insert {
                    tables.field_index.insert((&key, number), &id.0)?;
                } else {
                    tables.field_index.remove((&key, number))?;
                }
            }
        }
        tables.rows.insert(&id.0, store::encode_row_record(number, after.as_ref()).as_slice())?;
        let kind_and_fields = match (old_values, new_values) {
            (None, Some(new)) => Some((EventKind::RowInserted, new)),
            (Some(_), None) => Some((EventKind::RowDeleted, BTreeMap::new())),
            (Some(old), Some(new)) => {
                let changed: BTreeMap<String, Value> =
                    new.into_iter().filter(|(name, value)| old.get(name) != Some(value)).collect();
                (!changed.is_empty()).then_some((EventKind::RowUpdated, changed))
            }
            (None, None) => None,
        };
        if let Some((kind, fields)) = kind_and_fields {
            events.push(Event { seq: 0, kind, collection: Some(collection), row: Some(*id), op, fields });
        }
        Ok(())
    }

    /// Why an op is or is not effective now (see [`crate::replica::Explanation`]).
    pub fn explain(&self, tables: &WriteTables, local: u64) -> Result<Explained, StorageError> {
        self.reset_round(None);
        let op = self.load(tables, local)?;
        let effective = self.stored_effective(tables, local)? || matches!(op.op.payload, Payload::Genesis { .. });
        let equivocated = self.equivocated_in(tables, &op, &[])?;
        let Payload::Changes(changes) = &op.op.payload else {
            return Ok(Explained { effective, equivocated, verdict: Ok(Vec::new()), defeated_by: Vec::new() });
        };
        let judge_in = |view: &[OpInfo]| self.judge_stored(tables, &op, changes, view);
        let verdict = judge_in(&[op.info])?;
        let mut defeated_by = Vec::new();
        if verdict.is_err() {
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
                if judge_in(&[op.info, other.info])?.is_ok() {
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
            for local in row_writers(tables, &id)? {
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

/// What [`Engine::explain`] finds.
pub(crate) struct Explained {
    pub effective: bool,
    pub equivocated: bool,
    /// The op judged in everything but its own future: its rules and witnesses, or the denial.
    pub verdict: Result<Vec<Attestation>, Denial>,
    pub defeated_by: Vec<OpHash>,
}

/// A row's number and materialized state, if any op inserted it.
fn read_record(tables: &WriteTables, id: &RowId) -> Result<Option<(u64, Option<Row>)>, StorageError> {
    match tables.rows.get(&id.0)? {
        Some(bytes) => store::decode_row_record(bytes.value()).map(Some),
        None => Ok(None),
    }
}

fn read_row(tables: &WriteTables, id: &RowId) -> Result<Option<Row>, StorageError> {
    Ok(read_record(tables, id)?.and_then(|(_, row)| row))
}

/// The ops that write a row, in log order: its insert, then its updates and deletes.
fn row_writers(tables: &WriteTables, id: &RowId) -> Result<Vec<u64>, StorageError> {
    let mut locals = Vec::new();
    if let Some((number, _)) = read_record(tables, id)? {
        locals.push(number >> 16);
    }
    for entry in tables.row_writers.range((&id.0, 0)..=(&id.0, u64::MAX))? {
        locals.push(entry?.0.value().1);
    }
    Ok(locals)
}

/// The state of a view, for the rule judge.
struct ViewWorld<'e, 't> {
    engine: &'e Engine<'e>,
    tables: &'e WriteTables<'t>,
    view: &'e [OpInfo],
}

impl World for ViewWorld<'_, '_> {
    fn row(&self, id: &RowId, used: Use) -> Result<Option<Rc<Row>>, StorageError> {
        self.engine.row_in(self.tables, self.view, id, used)
    }

    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let key = match probe {
            Probe::Rows(rows) => {
                for row in rows {
                    if visit(*row)? {
                        break;
                    }
                }
                return Ok(());
            }
            Probe::Equal(equal) => {
                // The widest indexed field set that the probe gives values for.
                let indexed = self
                    .engine
                    .plan
                    .indexes(collection)
                    .iter()
                    .filter(|fields| fields.iter().all(|field| equal.iter().any(|(name, _)| name == field)))
                    .max_by_key(|fields| fields.len());
                match indexed {
                    Some(fields) => {
                        let values = fields.iter().filter_map(|field| {
                            equal.iter().find(|(name, _)| name == field).map(|(name, value)| (name.as_str(), value))
                        });
                        index_key(collection, values)
                    }
                    None => collection_key(collection),
                }
            }
            Probe::All => collection_key(collection),
        };
        store::visit_index(&self.tables.row_index, &key, visit)
    }
}
