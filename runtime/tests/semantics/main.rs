//! The scenarios of docs/semantics.md, one test each, run through the reference evaluator.
//!
//! Histories are built by hand: every op names its parents, so "concurrent" means exactly
//! "neither is in the other's past".

use cairn::op::{Change, Edit, Op, Payload, VerifiedOp};
use cairn::reference::History;
use cairn::Value;
use cairn::{DatabaseId, Ed25519Blake3, EventKind, Keypair, OpHash, Replica, RowId, Storage};
use std::collections::{BTreeMap, HashMap};

mod chat;
mod engine;
mod fields;
mod properties;
mod random;
mod replica;

/// Builds histories op by op.
pub struct Sim {
    pub suite: Ed25519Blake3,
    pub schema: schemac::ir::Schema,
    pub founder: Keypair,
    pub genesis: OpHash,
    ops: Vec<VerifiedOp>,
    depth: HashMap<OpHash, u64>,
    last: HashMap<[u8; 32], (u64, OpHash)>,
}

impl Sim {
    pub fn new(schema_text: &str) -> Sim {
        let checked = schemac::check_source(schema_text, Some(&schemac::Priors::new()));
        let schema = checked.ir.unwrap_or_else(|| panic!("schema: {:?}", checked.diagnostics));
        let suite = Ed25519Blake3;
        let founder = Keypair::generate(&suite);
        let genesis = Op {
            database: None,
            schema: schemac::schema_hash(&schema).0,
            author: founder.identity,
            seq: 1,
            parents: vec![],
            depth: 1,
            payload: Payload::Genesis { nonce: [7; 16] },
            attestations: Default::default(),
            signature: [0; 64],
        }
        .sign(&suite, &founder.secret);
        let hash = genesis.hash();
        let mut sim = Sim {
            suite,
            schema,
            founder: founder.clone(),
            genesis: hash,
            ops: vec![genesis],
            depth: HashMap::from([(hash, 1)]),
            last: HashMap::new(),
        };
        sim.last.insert(founder.identity.0, (1, hash));
        sim
    }

    pub fn chat() -> Sim {
        Sim::new(include_str!("../../../schemas/chat.schema"))
    }

    pub fn key(&self) -> Keypair {
        Keypair::generate(&self.suite)
    }

    /// An op by `author` on top of `parents` (and the author's own previous op).
    pub fn op(&mut self, author: &Keypair, parents: &[OpHash], changes: Vec<Change>) -> OpHash {
        let (seq, previous) = match self.last.get(&author.identity.0) {
            Some((seq, hash)) => (seq + 1, Some(*hash)),
            None => (1, None),
        };
        let mut all_parents: Vec<OpHash> = parents.to_vec();
        if let Some(previous) = previous {
            all_parents.push(previous);
        }
        if all_parents.is_empty() {
            all_parents.push(self.genesis);
        }
        all_parents.sort();
        all_parents.dedup();
        let depth = 1 + all_parents.iter().map(|parent| self.depth[parent]).max().unwrap_or(0);
        let op = Op {
            database: Some(DatabaseId(self.genesis.0)),
            schema: schemac::schema_hash(&self.schema).0,
            author: author.identity,
            seq,
            parents: all_parents,
            depth,
            payload: Payload::Changes(changes),
            attestations: Default::default(),
            signature: [0; 64],
        }
        .sign(&self.suite, &author.secret);
        let hash = op.hash();
        self.depth.insert(hash, depth);
        self.last.insert(author.identity.0, (seq, hash));
        self.ops.push(op);
        hash
    }

    /// The canonical bytes of an op of the history.
    pub fn op_bytes(&self, hash: OpHash) -> Vec<u8> {
        self.ops.iter().find(|op| op.hash() == hash).map(|op| op.bytes().to_vec()).expect("an op of the history")
    }

    pub fn op_count(&self) -> usize {
        self.ops.len()
    }

    /// The row inserted by the first change of `op`.
    pub fn row(&self, op: OpHash) -> RowId {
        cairn::op::row_id(&self.suite, &op, 0)
    }

    pub fn history(&self) -> History<'_> {
        History::new(&self.schema, &self.suite, &self.ops).expect("a closed history")
    }

    /// The given ops and their causal past: what a replica holds when it has received these
    /// and nothing concurrent with them.
    pub fn partial(&self, ops: &[OpHash]) -> Vec<VerifiedOp> {
        let by_hash: HashMap<OpHash, &VerifiedOp> = self.ops.iter().map(|op| (op.hash(), op)).collect();
        let mut wanted: std::collections::BTreeSet<OpHash> = ops.iter().copied().collect();
        let mut queue: Vec<OpHash> = ops.to_vec();
        while let Some(hash) = queue.pop() {
            for parent in &by_hash[&hash].op().parents {
                if wanted.insert(*parent) {
                    queue.push(*parent);
                }
            }
        }
        self.ops.iter().filter(|op| wanted.contains(&op.hash())).cloned().collect()
    }

    pub fn effective(&self, op: OpHash) -> bool {
        self.check_engine();
        self.history().effectiveness()[&op]
    }

    /// A replica that joined this database and ingested its ops in the given order (indexes
    /// into the history; ops whose parents are missing wait for them).
    pub fn deliver(&self, order: &[usize]) -> Replica {
        let replica = self.joined();
        for index in order {
            expect_judged(*index, replica.ingest(self.ops[*index].bytes()));
        }
        replica
    }

    /// The ops in log order as one batch: one transaction, as sync and import deliver them,
    /// so that what the engine caches for a transaction serves (and must not mislead) every op
    /// after the first.
    pub fn deliver_batch(&self) -> Replica {
        let replica = self.joined();
        let ops: Vec<&[u8]> = self.ops.iter().map(VerifiedOp::bytes).collect();
        for (index, result) in replica.ingest_batch(&ops).into_iter().enumerate() {
            expect_judged(index, result);
        }
        replica
    }

    fn joined(&self) -> Replica {
        Replica::join(Storage::Memory, DatabaseId(self.genesis.0), self.schema.clone()).expect("a replica joins")
    }

    /// Checks the engine against the reference evaluator on this history, delivered in log
    /// order and in reverse one op at a time, and in log order as one batch: the same ops
    /// accepted (exactly those whose whole past is admissible), the same verdicts, the same
    /// digest, and events that rebuild the state.
    pub fn check_engine(&self) {
        let forward: Vec<usize> = (0..self.ops.len()).collect();
        let backward: Vec<usize> = forward.iter().rev().copied().collect();
        let mut digests = Vec::new();
        for replica in [self.deliver(&forward), self.deliver(&backward), self.deliver_batch()] {
            digests.push(self.compare(&replica));
            self.compare_explanations(&replica);
        }
        assert_eq!(digests[0], digests[1], "the delivery order changed the state");
        assert_eq!(digests[0], digests[2], "delivery in one batch changed the state");
    }

    /// Compares the engine's explanations with the reference's: the verdict, the failing change,
    /// and the ops that defeated each op.
    pub fn compare_explanations(&self, replica: &Replica) {
        let accepted: Vec<VerifiedOp> =
            self.ops.iter().filter(|op| replica.contains(&op.hash()).expect("reads")).cloned().collect();
        let reference = History::new(&self.schema, &self.suite, &accepted).expect("a closed history");
        for op in &accepted {
            let expected = reference.explain(&op.hash()).expect("explained");
            let explained = replica.explain(&op.hash()).expect("reads").expect("held");
            assert_eq!(explained.effective, expected.effective, "op {}", op.hash());
            assert_eq!(
                explained.denial.as_ref().map(|denial| denial.change),
                expected.failing_change,
                "op {}",
                op.hash()
            );
            let defeated_by: Vec<OpHash> = explained.defeated_by.iter().map(|(hash, _)| *hash).collect();
            assert_eq!(defeated_by, expected.defeated_by, "op {}", op.hash());
            if explained.effective {
                assert!(explained.denial.is_none());
            }
            // The world it was judged in, as the reference sees it.
            for other in &explained.judged_with {
                let expected = reference.effective_in_world_of(&op.hash(), &other.op);
                assert_eq!(Some(other.effective), expected, "op {} in the world of {}", other.op, op.hash());
            }
        }
    }

    /// Compares a replica with the reference; returns its digest.
    pub fn compare(&self, replica: &Replica) -> [u8; 32] {
        let everything = self.history();
        let mut expected_accepted = std::collections::BTreeSet::new();
        for op in &self.ops {
            let parents_accepted = op.op().parents.iter().all(|parent| expected_accepted.contains(parent));
            if parents_accepted && everything.admissible(&op.hash()) != Some(false) {
                expected_accepted.insert(op.hash());
            }
        }
        let accepted: Vec<VerifiedOp> =
            self.ops.iter().filter(|op| replica.contains(&op.hash()).expect("reads")).cloned().collect();
        let accepted_hashes: std::collections::BTreeSet<OpHash> = accepted.iter().map(|op| op.hash()).collect();
        assert_eq!(accepted_hashes, expected_accepted, "the engine accepted other ops than the reference admits");
        let reference = History::new(&self.schema, &self.suite, &accepted).expect("a closed history");
        for (op, effective) in reference.effectiveness() {
            assert_eq!(replica.is_effective(&op).expect("reads"), Some(effective), "op {op}");
        }
        let state = reference.state();
        let digest = replica.digest().expect("digest").0;
        assert_eq!(digest, state.digest(), "digest");
        // Replaying the events rebuilds the visible rows.
        let mut rebuilt: BTreeMap<RowId, BTreeMap<String, Value>> = BTreeMap::new();
        for event in replica.events_after(0, usize::MAX).expect("events") {
            let Some(row) = event.row else { continue };
            match event.kind {
                EventKind::RowInserted => {
                    rebuilt.insert(row, event.fields);
                }
                EventKind::RowUpdated => rebuilt.entry(row).or_default().extend(event.fields),
                EventKind::RowDeleted => {
                    rebuilt.remove(&row);
                }
                _ => {}
            }
        }
        rebuilt.retain(|row, _| state.is_visible(row));
        let mut visible = BTreeMap::new();
        for collection in self.schema.collections.keys() {
            for (id, fields) in state.rows(collection) {
                assert_eq!(
                    replica.get(collection, &id).expect("reads").map(|row| row.fields),
                    Some(fields.clone()),
                    "row {id}"
                );
                visible.insert(id, fields);
            }
        }
        assert_eq!(rebuilt, visible, "the events do not rebuild the state");
        digest
    }

    pub fn field(&self, row: RowId, field: &str) -> Option<Value> {
        self.history().state().row(&row).map(|fields| fields.get(field).cloned().unwrap_or(Value::Null))
    }
}

pub fn text(value: &str) -> Value {
    Value::Text(value.into())
}

pub fn id(key: &Keypair) -> Value {
    Value::Bytes(key.identity.0.to_vec())
}

pub fn reference(row: RowId) -> Value {
    Value::Bytes(row.0.to_vec())
}

pub fn insert(collection: &str, fields: &[(&str, Value)]) -> Change {
    Change::Insert {
        collection: collection.into(),
        fields: fields.iter().map(|(name, value)| (name.to_string(), value.clone())).collect(),
    }
}

pub fn set(collection: &str, row: RowId, field: &str, value: Value) -> Change {
    Change::Update { collection: collection.into(), row, edits: vec![Edit::Set { field: field.into(), value }] }
}

pub fn edit(collection: &str, row: RowId, edits: Vec<Edit>) -> Change {
    Change::Update { collection: collection.into(), row, edits }
}

pub fn delete(collection: &str, row: RowId) -> Change {
    Change::Delete { collection: collection.into(), row }
}

/// An ingest's outcome is a verdict: the op is taken, or refused for what it does or for a
/// refused parent. Anything else (a malformed op, a storage error) fails the test.
fn expect_judged<T>(index: usize, result: Result<T, cairn::IngestError>) {
    match result {
        Ok(_)
        | Err(
            cairn::IngestError::Denied { .. }
            | cairn::IngestError::RejectedParent { .. }
            | cairn::IngestError::Payload { .. },
        ) => {}
        Err(other) => panic!("op {index}: {other}"),
    }
}

/// The effectiveness of several ops at once, for readable assertions.
pub fn effectiveness(sim: &Sim, ops: &[OpHash]) -> Vec<bool> {
    sim.check_engine();
    let all: BTreeMap<OpHash, bool> = sim.history().effectiveness();
    ops.iter().map(|op| all[op]).collect()
}
