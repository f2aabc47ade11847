//! Local writes: drafting an op on the replica's heads, judging it in its causal past (a
//! write the rules deny is refused before it is signed), storing it with its attestations and
//! the state it changes, and signing the batch's ops together before the transaction commits
//! (see `signing`), one transaction per batch.

use super::signing::{sign_records, Missing, ToSign};
use super::Replica;
use crate::cbor::Value;
use crate::dag::{Causality, OpInfo};
use crate::engine::{Engine, Unstored};
use crate::error::{StorageError, WriteError};
use crate::ids::{Identity, OpHash, RowId};
use crate::keys::Keypair;
use crate::model::rules::Verdict;
use crate::model::validate;
use crate::op::{self, Change, Op, Payload, VerifiedOp};
use crate::store::{WriteTables, OPS};

impl Replica {
    /// Writes a batch of changes as one op signed by `author`, after checking it against the
    /// schema. Its parents are this replica's heads (which include the author's previous op).
    pub fn write(&self, author: &Keypair, changes: Vec<Change>) -> Result<VerifiedOp, WriteError> {
        let mut ops = self.write_ops(author, vec![changes])?;
        ops.pop().ok_or_else(|| WriteError::Storage(StorageError::Corrupt("no op written".into())))
    }

    /// Writes several ops in one transaction, each on top of the previous one: all are stored
    /// or none is.
    pub fn write_ops(&self, author: &Keypair, batches: Vec<Vec<Change>>) -> Result<Vec<VerifiedOp>, WriteError> {
        let batches = self.checked_batches(author, batches)?;
        let transaction = self.begin_write()?;
        let written = self.append_batches(&transaction, author, batches)?;
        let items: Vec<ToSign> = written
            .iter()
            .map(|(local, hash, _)| ToSign { local: *local, hash: *hash, secret: &author.secret, signature: None })
            .collect();
        let mut ops = transaction.open_table(OPS).map_err(StorageError::from)?;
        let signatures = sign_records(&mut ops, &items, self.suite.as_ref(), Missing::Fail)?.signatures;
        drop(ops);
        self.commit(transaction)?;
        self.watchers.notify();
        Ok(written
            .into_iter()
            .zip(signatures)
            .map(|((_, hash, op), signature)| op.into_signed(hash, signature))
            .collect())
    }

    /// A local write's batches with their defaults filled in, checked against the schema.
    pub(super) fn checked_batches(
        &self,
        author: &Keypair,
        batches: Vec<Vec<Change>>,
    ) -> Result<Vec<Vec<Change>>, WriteError> {
        let schema = self.schema();
        let batches: Vec<Vec<Change>> =
            batches.into_iter().map(|changes| validate::with_defaults(schema, changes, &author.identity)).collect();
        for changes in &batches {
            validate::validate_changes(schema, changes, &self.limits)?;
        }
        Ok(batches)
    }

    /// Appends one op per batch, each on top of the previous one, with a blank signature (see
    /// `signing`): for each, its local number, its hash and the op. For a single batch, every
    /// error but a storage error comes before the transaction is written to (the op is judged
    /// before a new author is numbered), which the deferred writes' shared transaction relies
    /// on; with more, a later batch's refusal leaves the earlier ones written, and the caller
    /// drops the transaction.
    pub(super) fn append_batches(
        &self,
        transaction: &redb::WriteTransaction,
        author: &Keypair,
        batches: Vec<Vec<Change>>,
    ) -> Result<Vec<(u64, OpHash, Op)>, WriteError> {
        let mut written = Vec::with_capacity(batches.len());
        let mut tables = WriteTables::open(transaction, &self.recent)?;
        if tables.local_of(&OpHash(self.id.0))?.is_none() {
            return Err(WriteError::NoGenesis);
        }
        let mut author_number = tables.known_author(&author.identity)?;
        if let Some(number) = author_number {
            refuse_equivocated(&tables, &author.identity, number)?;
        }
        for changes in batches {
            let (number, op) = self.append_local(&mut tables, author, author_number, changes)?;
            author_number = Some(number);
            written.push(op);
        }
        tables.finish()?;
        Ok(written)
    }

    /// The op an author would write now, unsigned: its parents are the author's previous op
    /// and the deepest heads (peers accept at most `max_parents`; the other heads join a later
    /// op), its depth and sequence number follow from them.
    fn draft(
        &self,
        tables: &WriteTables,
        author: &Identity,
        author_number: Option<u32>,
        changes: Vec<Change>,
    ) -> Result<(Op, Vec<OpInfo>), WriteError> {
        let previous = match author_number {
            Some(number) => tables.latest_by(number)?,
            None => None,
        };
        let mut heads: Vec<OpInfo> = Vec::new();
        for local in tables.heads() {
            if Some(local) != previous.map(|(_, previous)| previous) {
                heads.push(
                    tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("head #{local} has no info")))?,
                );
            }
        }
        heads.sort_by(|left, right| right.depth.cmp(&left.depth).then(left.hash.cmp(&right.hash)));
        let mut chosen = Vec::with_capacity(heads.len() + 1);
        if let Some((_, local)) = previous {
            chosen.push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt(format!("op #{local} has no info")))?);
        }
        let room = self.limits.max_parents.saturating_sub(chosen.len());
        chosen.extend(heads.into_iter().take(room));
        let depth = chosen.iter().map(|info| info.depth).max().unwrap_or(0);
        let mut parents: Vec<OpHash> = chosen.iter().map(|info| info.hash).collect();
        parents.sort();
        let op = Op {
            database: Some(self.id),
            schema: self.schema_hash(),
            author: *author,
            seq: previous.map_or(1, |(seq, _)| seq + 1),
            parents,
            depth: depth + 1,
            payload: Payload::Changes(changes),
            attestations: op::Attestations::new(),
            signature: [0; 64],
        };
        Ok((op, chosen))
    }

    /// Judges a drafted op in its causal past under `hash`: the attestations it would carry, or
    /// why it is denied.
    fn judge_draft(
        &self,
        tables: &WriteTables,
        engine: &Engine,
        op: &Op,
        hash: OpHash,
        parents: &[OpInfo],
    ) -> Result<op::Attestations, WriteError> {
        let Payload::Changes(changes) = &op.payload else { return Ok(op::Attestations::new()) };
        let unstored = Unstored { hash, author: op.author, depth: op.depth, changes, parents };
        match engine.judge_unstored(tables, &unstored)? {
            Verdict::Allowed(attestations) => Ok(attestations),
            Verdict::Denied(denial) => Err(WriteError::Denied(Box::new(denial))),
        }
    }

    /// Drafts, judges and appends one op; returns the author's number (assigned once the op is
    /// judged, for a new author) and the op's local number, hash and content.
    fn append_local(
        &self,
        tables: &mut WriteTables,
        author: &Keypair,
        author_number: Option<u32>,
        changes: Vec<Change>,
    ) -> Result<(u32, (u64, OpHash, Op)), WriteError> {
        let (unsigned, parents) = self.draft(tables, &author.identity, author_number, changes)?;
        let founder = self.founder(tables)?.ok_or(WriteError::NoGenesis)?;
        let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
        // The attestations are signed with the op, so they are found with a provisional hash;
        // only the ids of rows the op inserts depend on the hash, and they are not witnesses.
        let provisional = unsigned.hash(self.suite.as_ref());
        let mut attestations = self.judge_draft(tables, &engine, &unsigned, provisional, &parents)?;
        for attestation in &mut attestations {
            attestation.witnesses.retain(|witness| witness.version != provisional);
        }
        let op = Op { attestations, ..unsigned };
        let hash = op.hash(self.suite.as_ref());
        let inserts = matches!(&op.payload, Payload::Changes(changes)
            if changes.iter().any(|change| matches!(change, Change::Insert { .. })));
        if inserts {
            // Rules may compare the new rows' ids: judge again with the final hash.
            self.judge_draft(tables, &engine, &op, hash, &parents)?;
        }
        // Stored with a blank signature, which the commit fills in (see `signing`); the hash does
        // not cover the signature.
        let bytes = op.encode();
        if bytes.len() > self.limits.max_op_bytes {
            return Err(WriteError::TooLarge { size: bytes.len(), limit: self.limits.max_op_bytes });
        }
        let concurrent = engine.has_concurrent(tables, &parents)?;
        let parent_locals: Vec<u64> = parents.iter().map(|info| info.local).collect();
        let author_number = match author_number {
            Some(number) => number,
            None => tables.author_number(&author.identity)?,
        };
        let local = tables.append(&hash, &bytes, op.depth, author_number, op.seq, &parent_locals)?;
        engine.settle(tables, local, op.clone(), true, concurrent)?;
        Ok((author_number, (local, hash, op)))
    }

    /// Whether `author` may write these changes now, without writing them: for each change,
    /// the rule that allows it and the rows that witness it, or why it is denied (a typed
    /// error naming the rule and its failing clause). A write judges exactly so. Judging
    /// reads the engine's write-side tables, so this takes (and abandons) a write transaction.
    pub fn authorize(&self, author: &Identity, changes: Vec<Change>) -> Result<op::Attestations, WriteError> {
        let changes = validate::with_defaults(self.schema(), changes, author);
        validate::validate_changes(self.schema(), &changes, &self.limits)?;
        let transaction = self.begin_write()?;
        let verdict = {
            let tables = WriteTables::open(&transaction, &self.recent)?;
            let author_number = tables.known_author(author)?;
            if let Some(number) = author_number {
                refuse_equivocated(&tables, author, number)?;
            }
            let (draft, parents) = self.draft(&tables, author, author_number, changes)?;
            let founder = self.founder(&tables)?.ok_or(WriteError::NoGenesis)?;
            let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
            let hash = draft.hash(self.suite.as_ref());
            self.judge_draft(&tables, &engine, &draft, hash, &parents)
        };
        transaction.abort().map_err(StorageError::from)?;
        verdict
    }

    /// Writes the changes a closure adds to a [`Transaction`] as one op: all take effect or
    /// none. Returns the op and, for each change in order, the row it touches (the new row's id
    /// for an insert).
    pub fn transaction(
        &self,
        author: &Keypair,
        build: impl FnOnce(&mut Transaction),
    ) -> Result<(VerifiedOp, Vec<RowId>), WriteError> {
        let mut transaction = Transaction { changes: Vec::new() };
        build(&mut transaction);
        let op = self.write(author, transaction.changes)?;
        let rows = self.touched_rows(&op);
        Ok((op, rows))
    }

    /// For each change of an op, the row it inserts, updates or deletes.
    pub fn touched_rows(&self, op: &VerifiedOp) -> Vec<RowId> {
        let Payload::Changes(changes) = &op.op().payload else { return Vec::new() };
        changes
            .iter()
            .enumerate()
            .map(|(index, change)| match change {
                Change::Insert { .. } => self.row_id(&op.hash(), index as u32),
                Change::Update { row, .. } | Change::Delete { row, .. } => *row,
            })
            .collect()
    }

    /// The id of the row that the `index`-th change of `op` inserted.
    pub fn row_id(&self, op: &OpHash, index: u32) -> RowId {
        op::row_id(self.suite.as_ref(), op, index)
    }
}

/// Refuses to write with a key this replica knows signed two ops with one sequence number:
/// every op it signs from then on is void on every replica, so a write would be lost work.
///
/// A replica that holds ops of the key that it did not sign itself (the key's history, moved to
/// a new machine) continues the chain after the latest of them, so it never equivocates by
/// itself; only two replicas writing with one key at the same time can, and that is found here
/// as soon as both forks meet.
fn refuse_equivocated(tables: &WriteTables, author: &Identity, number: u32) -> Result<(), WriteError> {
    match tables.equivocated_from(number)? {
        Some(seq) => Err(WriteError::Equivocated { author: *author, seq }),
        None => Ok(()),
    }
}

/// The changes of one op, gathered by [`Replica::transaction`]: all take effect or none, and
/// each later change sees the earlier ones when the rules judge it.
#[derive(Debug, Default)]
pub struct Transaction {
    changes: Vec<Change>,
}

impl Transaction {
    /// Inserts a row into `collection` with these field values, by field name. Fields left out
    /// take their schema `default`, or start null (optional), empty (set, list, map) or at zero
    /// (counter); a required field without a default must be given.
    ///
    /// Returns the new row as a value for the `ref` fields of later changes of this transaction:
    /// its id depends on the op's hash, which is known once the op is signed (then
    /// [`Replica::transaction`] returns it).
    pub fn insert<K: Into<String>>(
        &mut self,
        collection: &str,
        fields: impl IntoIterator<Item = (K, Value)>,
    ) -> NewRow {
        let fields = fields.into_iter().map(|(name, value)| (name.into(), value)).collect();
        let change = u32::try_from(self.changes.len()).unwrap_or(u32::MAX);
        self.changes.push(Change::Insert { collection: collection.to_owned(), fields });
        NewRow { change }
    }

    /// Edits the row `row` of `collection`: each [`op::Edit`] sets a field, adds to or removes
    /// from a set, puts or unsets a map key, or increments a counter.
    pub fn update(&mut self, collection: &str, row: RowId, edits: Vec<op::Edit>) -> &mut Transaction {
        self.changes.push(Change::Update { collection: collection.to_owned(), row, edits });
        self
    }

    /// Deletes the row `row` of `collection` (and the rows nested in it).
    pub fn delete(&mut self, collection: &str, row: RowId) -> &mut Transaction {
        self.changes.push(Change::Delete { collection: collection.to_owned(), row });
        self
    }

    /// The changes gathered, in order.
    pub(crate) fn into_changes(self) -> Vec<Change> {
        self.changes
    }
}

/// A row inserted by an earlier change of the same transaction, as the value of a `ref` field
/// (docs/SPEC.md §2.2: `[k]`, "the row inserted by change k of this op").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewRow {
    change: u32,
}

impl NewRow {
    /// The index of the change that inserts it.
    pub fn change(&self) -> u32 {
        self.change
    }
}

impl From<NewRow> for Value {
    fn from(row: NewRow) -> Value {
        Value::Array(vec![Value::Int(i64::from(row.change))])
    }
}
