//! Ingest: ops from peers through every check of docs/SPEC.md §2.4, in order, one write
//! transaction per batch. Size, decoding, hash and signature need no store and run first (for
//! a stream or a large batch, on a second thread, while the ops before are stored); the checks
//! of the op against its parents are pure functions (`checks`); ops that wait for parents and
//! ops rejected for good are kept apart (`parking`).

mod checks;
mod parking;

use super::Replica;
use crate::crypto::CryptoSuite;
use crate::dag::{Causality, OpInfo};
use crate::engine::{Engine, Inadmissible, Unstored};
use crate::error::{IngestError, StorageError, VerifyError};
use crate::ids::{Identity, OpHash};
use crate::model::validate;
use crate::op::{self, Op, Payload, VerifiedOp};
use crate::store::WriteTables;
use parking::{park, reject, unpark};
use redb::{ReadableTable, ReadableTableMetadata};

/// The result of ingesting one op.
pub type IngestResult = Result<Ingested, IngestError>;

/// What became of an op that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Stored, with every check passed.
    Accepted(OpHash),
    /// The replica already had it.
    Duplicate(OpHash),
    /// Valid so far, waiting for these parents; it is checked again when they arrive.
    Parked {
        /// The op.
        op: OpHash,
        /// The parents it waits for.
        missing: Vec<OpHash>,
    },
    /// Stored, but its author signed two ops with one sequence number; both are kept as
    /// evidence and the author is flagged (see [`Replica::equivocators`]).
    Equivocation {
        /// The op.
        op: OpHash,
        /// The other op with the same author and sequence number.
        other: OpHash,
        /// The author who signed both.
        author: Identity,
        /// The sequence number both carry.
        seq: u64,
    },
}

impl Replica {
    /// Ingests one op from a peer.
    pub fn ingest(&self, bytes: &[u8]) -> Result<Ingested, IngestError> {
        self.ingest_batch(&[bytes]).pop().unwrap_or_else(|| unreachable!("one result per op"))
    }

    /// Ingests ops from a peer in one transaction, verifying their signatures in batches.
    /// Returns one result per op, in order; ops may come in any order (children wait for their
    /// parents within the batch and across batches).
    ///
    /// A large batch is verified a slice at a time on a second thread while this one stores
    /// the slices before it, in the one transaction: verifying all of it first, even on every
    /// core, kept the storing thread waiting until the last signature was checked.
    pub fn ingest_batch(&self, batch: &[&[u8]]) -> Vec<IngestResult> {
        if batch.len() >= 2 * VERIFY_SLICE && cores() >= 2 {
            // With more than two cores, each slice is verified on all of them.
            let slices = batch.chunks(VERIFY_SLICE).collect();
            return self.verifying_ahead(slices, cores() > 2, |parts| self.store_parts(batch.len(), parts));
        }
        let prepared = self.prepare(batch, true);
        self.store_prepared(prepared)
    }

    /// Ingests a long sequence of ops in transactions of `batch_size`, verifying the next batch
    /// on a second thread while the current one is stored. Same results as calling
    /// [`Replica::ingest_batch`] on each batch in turn.
    pub fn ingest_stream(&self, ops: &[&[u8]], batch_size: usize) -> Vec<IngestResult> {
        let batches = byte_bounded_batches(ops, batch_size.max(1));
        self.verifying_ahead(batches, false, |batches| batches.flat_map(|batch| self.store_prepared(batch)).collect())
    }

    /// Runs `store` on this thread with the parts of `ops` prepared, in order, on a second
    /// thread, which works one part ahead. Each part's `offset` is where it starts in `ops`.
    fn verifying_ahead<T>(
        &self,
        parts: Vec<&[&[u8]]>,
        parallel: bool,
        store: impl FnOnce(&mut dyn Iterator<Item = Prepared>) -> T,
    ) -> T {
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel::<Prepared>(1);
            scope.spawn(move || {
                let mut offset = 0;
                for part in parts {
                    if sender.send(Prepared { offset, ..self.prepare(part, parallel) }).is_err() {
                        break;
                    }
                    offset += part.len();
                }
            });
            store(&mut receiver.into_iter())
        })
    }

    /// Size limits, decoding, hash and signature: everything before the store is touched.
    fn prepare(&self, batch: &[&[u8]], parallel: bool) -> Prepared {
        let mut results: Vec<Option<IngestResult>> = (0..batch.len()).map(|_| None).collect();
        let mut decoded = Vec::new();
        let mut positions = Vec::new();
        for (index, bytes) in batch.iter().enumerate() {
            if bytes.len() > self.limits.max_op_bytes {
                results[index] =
                    Some(Err(IngestError::TooLarge { size: bytes.len(), limit: self.limits.max_op_bytes }));
                continue;
            }
            match Op::decode(bytes) {
                Ok(op) => {
                    if let Err(limit) = op::check_size(&op, &self.limits) {
                        results[index] = Some(Err(IngestError::OverLimit { op: op.hash(self.suite.as_ref()), limit }));
                        continue;
                    }
                    decoded.push((op, bytes.to_vec()));
                    positions.push(index);
                }
                Err(error) => results[index] = Some(Err(error.into())),
            }
        }
        let verified = if parallel {
            verify_in_parallel(self.suite.as_ref(), decoded)
        } else {
            op::verify(self.suite.as_ref(), decoded)
        };
        let mut candidates = Vec::new();
        for (index, result) in positions.into_iter().zip(verified) {
            match result {
                Ok(op) => {
                    let payload = self.check_payload(&op);
                    candidates.push(Candidate { index, op, payload });
                }
                Err(VerifyError::BadSignature { author }) => {
                    let op = Op::decode(batch[index]).map(|op| op.hash(self.suite.as_ref())).unwrap_or(OpHash([0; 32]));
                    results[index] = Some(Err(IngestError::BadSignature { op, author }));
                }
            }
        }
        Prepared { offset: 0, results, candidates }
    }

    /// Everything after the signature, in one write transaction. The batch is a whole (a
    /// stream's batches are each their own), so its ops are numbered from 0.
    fn store_prepared(&self, prepared: Prepared) -> Vec<IngestResult> {
        self.store_parts(prepared.results.len(), &mut std::iter::once(Prepared { offset: 0, ..prepared }))
    }

    /// Stores the parts of a batch of `count` ops, in order, in one write transaction, taking
    /// each part as it comes. Parts that end before the batch does (their thread failed)
    /// leave the transaction uncommitted.
    fn store_parts(&self, count: usize, parts: &mut dyn Iterator<Item = Prepared>) -> Vec<IngestResult> {
        let mut results: Vec<Option<IngestResult>> = (0..count).map(|_| None).collect();
        let note_refused = |results: &mut Vec<Option<IngestResult>>, offset: usize, part: Vec<Option<IngestResult>>| {
            for (index, result) in part.into_iter().enumerate().filter(|(_, result)| result.is_some()) {
                results[offset + index] = result;
            }
        };
        let covered = std::cell::Cell::new(0);
        let stored = {
            let candidates = (&mut *parts).flat_map(|Prepared { offset, results: part, candidates }| {
                covered.set(offset + part.len());
                note_refused(&mut results, offset, part);
                candidates
                    .into_iter()
                    .map(move |candidate| Ok(Candidate { index: offset + candidate.index, ..candidate }))
            });
            let short = std::iter::once_with(|| {
                (covered.get() < count)
                    .then(|| Err(StorageError::Transaction("the batch's verification stopped short".into())))
            });
            self.ingest_verified(candidates.chain(short.flatten()))
        };
        // Parts a failed transaction did not reach still say why their ops were refused.
        for Prepared { offset, results: part, .. } in parts {
            note_refused(&mut results, offset, part);
        }
        match stored {
            Ok(outcomes) => {
                for (index, outcome) in outcomes {
                    results[index] = Some(outcome);
                }
            }
            Err(error) => {
                let message = error.to_string();
                for result in results.iter_mut().filter(|result| result.is_none()) {
                    *result = Some(Err(IngestError::Storage(StorageError::Transaction(message.clone()))));
                }
            }
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or_else(|| Err(IngestError::Storage(StorageError::Transaction("no result".into()))))
            })
            .collect()
    }

    /// Checks and stores candidates in one write transaction; an `Err` among them abandons it.
    fn ingest_verified(
        &self,
        candidates: impl Iterator<Item = Result<Candidate, StorageError>>,
    ) -> Result<Vec<(usize, IngestResult)>, StorageError> {
        let transaction = self.begin_write()?;
        let mut outcomes = Vec::with_capacity(candidates.size_hint().0);
        {
            let mut tables = WriteTables::open(&transaction, &self.recent)?;
            // One engine for the whole transaction, so its caches serve every op in it.
            let mut engine = None;
            for candidate in candidates {
                let Candidate { index, op, payload } = candidate?;
                let hash = op.hash();
                let outcome = self.ingest_one(&mut tables, &mut engine, op, payload);
                if let Err(error) = &outcome {
                    if error.is_permanent() {
                        reject(&mut tables, hash, &error.to_string())?;
                    }
                    if let Err(IngestError::Storage(error)) = outcome {
                        return Err(error);
                    }
                }
                outcomes.push((index, outcome));
            }
            tables.finish()?;
        }
        self.commit(transaction)?;
        let stored = outcomes
            .iter()
            .any(|(_, outcome)| matches!(outcome, Ok(Ingested::Accepted(_) | Ingested::Equivocation { .. })));
        if stored {
            self.watchers.notify();
        }
        Ok(outcomes)
    }

    /// Whether the op's schema is known and its payload valid against it. Needs no store, so it
    /// runs with the signature checks (on the verifying thread, for a stream or a large batch).
    fn check_payload(&self, verified: &VerifiedOp) -> Result<(), IngestError> {
        let op = verified.op();
        let hash = verified.hash();
        let schema = self.schemas.get(&op.schema).ok_or_else(|| IngestError::UnknownSchema {
            op: hash,
            schema: format!("blake3:{}", crate::ids::to_hex(&op.schema)),
        })?;
        if let Payload::Changes(changes) = &op.payload {
            validate::validate_changes(schema, changes, &self.limits)
                .map_err(|error| IngestError::Payload { op: hash, error: Box::new(error) })?;
        }
        Ok(())
    }

    /// Checks and stores one verified op, then any parked ops that were waiting for it.
    fn ingest_one<'r>(
        &'r self,
        tables: &mut WriteTables,
        engine: &mut Option<Engine<'r>>,
        op: VerifiedOp,
        payload: Result<(), IngestError>,
    ) -> Result<Ingested, IngestError> {
        let hash = op.hash();
        if holds(tables, &op)? {
            return Ok(Ingested::Duplicate(hash));
        }
        if !tables.parked.is_empty()? && tables.parked.get(&hash.0)?.is_some() {
            return Ok(Ingested::Parked { op: hash, missing: Vec::new() });
        }
        if !tables.rejected.is_empty()? {
            if let Some(reason) = tables.rejected.get(&hash.0)? {
                return Err(IngestError::PreviouslyRejected { op: hash, reason: reason.value().to_owned() });
            }
        }
        let outcome = self.check_and_append(tables, engine, op, payload)?;
        if matches!(outcome, Ingested::Accepted(_) | Ingested::Equivocation { .. }) {
            self.release_waiting(tables, engine, hash)?;
        }
        Ok(outcome)
    }

    /// Re-ingests parked ops whose last missing parent just arrived.
    fn release_waiting<'r>(
        &'r self,
        tables: &mut WriteTables,
        engine: &mut Option<Engine<'r>>,
        arrived: OpHash,
    ) -> Result<(), IngestError> {
        if tables.parked.is_empty()? {
            return Ok(());
        }
        let mut queue = vec![arrived];
        while let Some(parent) = queue.pop() {
            let mut waiting = Vec::new();
            for entry in tables.waiting.remove_all(&parent.0)? {
                waiting.push(OpHash(*entry?.value()));
            }
            for child in waiting {
                let Some(bytes) = unpark(tables, &child)? else { continue };
                // Parked ops were decoded and verified before they were parked.
                let Ok(op) = Op::decode(&bytes) else { continue };
                if !self.missing_parents(tables, &op)?.is_empty() {
                    // Still waiting for another parent, whose `waiting` entry is still there.
                    park(tables, &child, &bytes, self.limits.max_parked)?;
                    continue;
                }
                let Some(Ok(verified)) = op::verify(self.suite.as_ref(), vec![(op, bytes)]).pop() else { continue };
                let payload = self.check_payload(&verified);
                // Kept to park it again: the op itself goes to the engine when it is stored.
                let bytes = verified.bytes().to_vec();
                match self.check_and_append(tables, engine, verified, payload) {
                    Ok(Ingested::Accepted(hash) | Ingested::Equivocation { op: hash, .. }) => queue.push(hash),
                    Ok(_) => {}
                    Err(IngestError::Storage(error)) => return Err(error.into()),
                    Err(error) if error.is_permanent() => reject(tables, child, &error.to_string())?,
                    // Refused for now (an unknown schema, say): it waits again, until evicted.
                    Err(_) => park(tables, &child, &bytes, self.limits.max_parked)?,
                }
            }
        }
        Ok(())
    }

    fn missing_parents(&self, tables: &WriteTables, op: &Op) -> Result<Vec<OpHash>, StorageError> {
        let mut missing = Vec::new();
        for parent in &op.parents {
            if tables.local_of(parent)?.is_none() {
                missing.push(*parent);
            }
        }
        Ok(missing)
    }

    /// The checks after the signature, in the documented order, then the append.
    fn check_and_append<'r>(
        &'r self,
        tables: &mut WriteTables,
        engine: &mut Option<Engine<'r>>,
        verified: VerifiedOp,
        payload: Result<(), IngestError>,
    ) -> Result<Ingested, IngestError> {
        let op = verified.op();
        let hash = verified.hash();
        checks::database(op, hash, self.id)?;
        // Parents present, or the op waits for them (unless one was rejected for good).
        let mut parents: Vec<OpInfo> = Vec::with_capacity(op.parents.len());
        let mut missing = Vec::new();
        for parent in &op.parents {
            match tables.local_of(parent)? {
                Some(local) => parents
                    .push(tables.info(local)?.ok_or_else(|| StorageError::Corrupt("parent without info".into()))?),
                None => missing.push(*parent),
            }
        }
        if !missing.is_empty() {
            if !tables.rejected.is_empty()? {
                for parent in &missing {
                    if tables.rejected.get(&parent.0)?.is_some() {
                        return Err(IngestError::RejectedParent { op: hash, parent: *parent });
                    }
                }
            }
            park(tables, &hash, verified.bytes(), self.limits.max_parked)?;
            for parent in &missing {
                tables.waiting.insert(&parent.0, &hash.0)?;
            }
            return Ok(Ingested::Parked { op: hash, missing });
        }
        checks::depth(op, hash, &parents)?;
        let author = match tables.known_author(&op.author)? {
            Some(number) => number,
            None => tables.author_number(&op.author)?,
        };
        checks::chain(op, author, &parents).map_err(|problem| IngestError::Sequence { op: hash, problem })?;
        // Schema known; payload valid against it (checked before the transaction, reported
        // here, in its place in the order).
        payload?;
        // Attestations, then the rules in the op's causal past: an op its own author could not
        // have written is refused for good. Only then, for an op that passed: whether ops concurrent
        // with it exist, whose verdicts it may change.
        let concurrent = match &op.payload {
            Payload::Changes(changes) => {
                let engine = self.engine_for(tables, engine)?;
                let candidate = Unstored { hash, author: op.author, depth: op.depth, changes, parents: &parents };
                engine.admit(tables, &candidate, &op.attestations).map_err(|inadmissible| match inadmissible {
                    Inadmissible::Attestation(error) => IngestError::Attestation { op: hash, error },
                    Inadmissible::Denied(denial) => IngestError::Denied { op: hash, author: op.author, denial },
                    Inadmissible::Storage(error) => IngestError::Storage(error),
                })?;
                Some(engine.has_concurrent(tables, &parents)?)
            }
            Payload::Genesis { .. } => None,
        };
        let existing = tables.chain_entries(author, op.seq)?;
        let parent_locals: Vec<u64> = parents.iter().map(|info| info.local).collect();
        let local = tables.append(&hash, verified.bytes(), op.depth, author, op.seq, &parent_locals)?;
        let mut outcome = Ingested::Accepted(hash);
        if let Some(other_local) = existing.first() {
            let other =
                tables.info(*other_local)?.ok_or_else(|| StorageError::Corrupt("equivocation without info".into()))?;
            let from = tables.equivocated_from(author)?.map_or(op.seq, |from| from.min(op.seq));
            tables.equivocators.insert(author, from)?;
            outcome = Ingested::Equivocation { op: hash, other: other.hash, author: op.author, seq: op.seq };
        }
        if let (Some(concurrent), Some(engine)) = (concurrent, engine.as_ref()) {
            // The engine takes the op, decoded already, rather than read it back.
            engine.settle(tables, local, verified.into_parts().0, true, concurrent)?;
        }
        Ok(outcome)
    }

    /// The transaction's engine, made on first use: one engine for the whole transaction, so
    /// its caches serve every op in it.
    fn engine_for<'r, 'e>(
        &'r self,
        tables: &WriteTables,
        engine: &'e mut Option<Engine<'r>>,
    ) -> Result<&'e Engine<'r>, StorageError> {
        Ok(match engine {
            Some(engine) => engine,
            None => {
                let founder =
                    self.founder(tables)?.ok_or_else(|| StorageError::Corrupt("ops without a genesis".into()))?;
                engine.insert(Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder))
            }
        })
    }
}

/// Whether the log holds an op. Every stored op is filed under its author and sequence number,
/// so unless its author has an op with that number (the op itself, or one it equivocates
/// with), the hash index, keyed at random, need not be read.
fn holds(tables: &WriteTables, op: &VerifiedOp) -> Result<bool, StorageError> {
    let Some(author) = tables.known_author(&op.op().author)? else { return Ok(false) };
    if tables.chain_entries(author, op.op().seq)?.is_empty() {
        return Ok(false);
    }
    Ok(tables.local_of(&op.hash())?.is_some())
}

/// How many bytes of ops `ingest_stream` decodes into one batch at most: a decoded op takes
/// several times its encoded size, and at most three batches are in memory at once.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// Splits ops into batches of at most `count` ops and [`MAX_BATCH_BYTES`] bytes (a larger op
/// gets a batch of its own).
fn byte_bounded_batches<'o>(ops: &'o [&'o [u8]], count: usize) -> Vec<&'o [&'o [u8]]> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < ops.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < ops.len() && end - start < count && (end == start || bytes + ops[end].len() <= MAX_BATCH_BYTES) {
            bytes += ops[end].len();
            end += 1;
        }
        batches.push(&ops[start..end]);
        start = end;
    }
    batches
}

/// How many ops `ingest_batch` verifies at a time while it stores the ones before them.
const VERIFY_SLICE: usize = 128;

/// The cores this process may use, asked of the OS once (on Linux, that reads the cgroup's
/// quota): every ingest would ask otherwise.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |count| count.get()))
}

/// Below this many ops, one thread verifies them all: splitting costs more than it saves.
const PARALLEL_VERIFY_THRESHOLD: usize = 64;

/// Verifies ops in as many batches as the machine has cores, one batch per thread, keeping
/// their order. Each batch uses the suite's batch verification; the result for each op is the
/// same as verifying it alone.
fn verify_in_parallel(suite: &dyn CryptoSuite, ops: Vec<(Op, Vec<u8>)>) -> Vec<Result<VerifiedOp, VerifyError>> {
    if ops.len() < PARALLEL_VERIFY_THRESHOLD || cores() < 2 {
        return op::verify(suite, ops);
    }
    let threads = cores();
    let chunk_size = ops.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    let mut rest = ops;
    while rest.len() > chunk_size {
        let tail = rest.split_off(chunk_size);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks.into_iter().map(|chunk| scope.spawn(move || op::verify(suite, chunk))).collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    })
}

/// A batch after the checks that need no store: the results so far, and the verified ops.
struct Prepared {
    /// Where its first op is in the batch it is a slice of.
    offset: usize,
    results: Vec<Option<IngestResult>>,
    candidates: Vec<Candidate>,
}

/// A verified op waiting for the write transaction, with the result of its payload check.
struct Candidate {
    index: usize,
    op: VerifiedOp,
    payload: Result<(), IngestError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Change;
    use crate::{Ed25519Blake3, Keypair, Storage, Value};

    /// A batch whose verifying thread stops short (it failed) stores nothing of it.
    #[test]
    fn a_batch_whose_parts_stop_short_is_not_committed() {
        let text = "schema s;\ncollection Note { text: string, allow insert if true; }\n";
        let schema = || schemac::check_source(text, None).ir.expect("the schema checks");
        let founder = Keypair::generate(&Ed25519Blake3);
        let source = Replica::create(Storage::Memory, &founder, schema()).expect("create");
        let note = |index: usize| {
            vec![Change::Insert {
                collection: "Note".into(),
                fields: vec![("text".into(), Value::Text(index.to_string()))],
            }]
        };
        source.write_ops(&founder, (0..3).map(note).collect()).expect("write");
        let ops = source.export(&[]).expect("export");
        let slices: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
        let target = Replica::join(Storage::Memory, source.id(), schema()).expect("join");
        let first_half = target.prepare(&slices[..2], false);
        let results = target.store_parts(slices.len(), &mut std::iter::once(first_half));
        assert_eq!(target.op_count().expect("count"), 0);
        assert!(results.iter().all(|result| matches!(result, Err(IngestError::Storage(_)))), "{results:?}");
        // The whole batch is stored as one.
        let whole = target.prepare(&slices, false);
        let results = target.store_parts(slices.len(), &mut std::iter::once(whole));
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(target.op_count().expect("count"), 4);
    }
}
