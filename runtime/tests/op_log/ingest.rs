//! Every ingest check, with a crafted bad op each, for every crypto suite; and convergence of
//! replicas that receive the same random DAG in different orders.

use crate::support::*;
use cairn::op::{Change, Payload, VerifiedOp};
use cairn::CryptoSuite;
use cairn::Value;
use cairn::{DatabaseId, IngestError, Ingested, Keypair, OpHash, Replica};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;

fn ingest(replica: &Replica, op: &VerifiedOp) -> Result<Ingested, IngestError> {
    replica.ingest(op.bytes())
}

/// Runs a check against every suite: the op log must not depend on which one.
fn for_each_suite(check: impl Fn(Arc<dyn CryptoSuite>)) {
    for suite in suites() {
        check(suite);
    }
}

#[test]
fn a_valid_chain_is_accepted_and_replayed_elsewhere() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let author = fixture.keypair();
        let first = fixture.replica.write(&author, vec![insert("one")]).expect("write");
        let second = fixture.replica.write(&author, vec![insert("two")]).expect("write");
        assert_eq!(first.op().seq, 1);
        assert_eq!(second.op().seq, 2);
        assert!(second.op().parents.contains(&first.hash()));
        let other = fixture.join();
        for entry in fixture.replica.log().expect("log") {
            assert!(matches!(other.ingest(&entry.bytes), Ok(Ingested::Accepted(_))));
        }
        assert_eq!(other.heads().expect("heads"), fixture.replica.heads().expect("heads"));
        assert!(matches!(other.ingest(second.bytes()), Ok(Ingested::Duplicate(_))));
        other.check_integrity().expect("integrity");
    });
}

#[test]
fn oversized_ops_are_refused_before_decoding() {
    let fixture = Fixture::new(suites()[0].clone());
    let huge = vec![0u8; fixture.replica.limits().max_op_bytes + 1];
    assert!(matches!(fixture.replica.ingest(&huge), Err(IngestError::TooLarge { .. })));
    let big_text = "x".repeat(fixture.replica.limits().max_value_bytes + 1);
    let mut draft = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2);
    draft.payload = Payload::Changes(vec![insert(&big_text)]);
    let op = draft.sign(fixture.suite.as_ref(), &fixture.keypair());
    assert!(matches!(ingest(&fixture.replica, &op), Err(IngestError::OverLimit { .. })));
    // Too many parents: refused before anything else, even though the parents are unknown.
    let parents: Vec<OpHash> = (0..=64u8).map(|index| OpHash([index; 32])).collect();
    let crowded = Draft::new(fixture.replica.id(), 1, parents, 2).sign(fixture.suite.as_ref(), &fixture.keypair());
    assert!(matches!(ingest(&fixture.replica, &crowded), Err(IngestError::OverLimit { .. })));
    // A long map key in an `unset` counts like any other string.
    let mut draft = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2);
    draft.payload = Payload::Changes(vec![Change::Update {
        collection: "Note".into(),
        row: cairn::RowId([1; 32]),
        edits: vec![cairn::Edit::Unset { field: "tags".into(), key: big_text.clone() }],
    }]);
    let op = draft.sign(fixture.suite.as_ref(), &fixture.keypair());
    assert!(matches!(ingest(&fixture.replica, &op), Err(IngestError::OverLimit { .. })));
    assert_eq!(fixture.replica.op_count().expect("count"), 1, "nothing but the genesis was stored");
}

#[test]
fn undecodable_bytes_are_a_decode_error() {
    let fixture = Fixture::new(suites()[0].clone());
    assert!(matches!(fixture.replica.ingest(&[0x8a, 0x01]), Err(IngestError::Decode(_))));
    assert!(matches!(fixture.replica.ingest(b"not cbor at all"), Err(IngestError::Decode(_))));
}

#[test]
fn bad_signatures_and_tampered_content_are_refused() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let author = fixture.keypair();
        let op = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2).sign(suite.as_ref(), &author);
        // A flipped signature bit.
        let mut forged = op.op().clone();
        forged.signature[0] ^= 1;
        assert!(matches!(fixture.replica.ingest(&forged.encode()), Err(IngestError::BadSignature { .. })));
        // Content changed after signing: its hash no longer matches the signature.
        let mut tampered = op.op().clone();
        tampered.payload = Payload::Changes(vec![insert("changed")]);
        let error = fixture.replica.ingest(&tampered.encode()).expect_err("tampered op");
        assert!(matches!(error, IngestError::BadSignature { .. }), "{error}");
        // A blank signature by a small-order key (the identity point), which ed25519's
        // batch equation accepts for any message: refused, as every blank signature is.
        let mut small_order = op.op().clone();
        small_order.author = cairn::Identity({
            let mut key = [0u8; 32];
            key[0] = 1;
            key
        });
        small_order.signature = [0; 64];
        let error = fixture.replica.ingest(&small_order.encode()).expect_err("blank signature");
        assert!(matches!(error, IngestError::BadSignature { .. }), "{error}");
        // The genuine op is still accepted: a forgery does not poison its hash.
        assert!(matches!(ingest(&fixture.replica, &op), Ok(Ingested::Accepted(_))));
        assert_eq!(fixture.replica.op_count().expect("count"), 2);
    });
}

#[test]
fn ops_of_another_database_are_refused() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let stranger = Fixture::new(suite.clone());
        let author = fixture.keypair();
        let mut draft = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2);
        draft.database = Some(DatabaseId([7; 32]));
        assert!(matches!(
            ingest(&fixture.replica, &draft.sign(suite.as_ref(), &author)),
            Err(IngestError::WrongDatabase { .. })
        ));
        // Another database's genesis.
        let foreign_genesis = stranger.replica.log().expect("log").remove(0);
        assert!(matches!(fixture.replica.ingest(&foreign_genesis.bytes), Err(IngestError::Genesis { .. })));
    });
}

#[test]
fn ops_with_unknown_parents_wait_for_them() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let author = fixture.keypair();
        let first = fixture.replica.write(&author, vec![insert("one")]).expect("write");
        let second = fixture.replica.write(&author, vec![insert("two")]).expect("write");
        let other = fixture.join();
        // Children first: everything waits, then the genesis releases the chain.
        assert!(matches!(ingest(&other, &second), Ok(Ingested::Parked { .. })));
        assert!(matches!(ingest(&other, &first), Ok(Ingested::Parked { .. })));
        assert!(matches!(ingest(&other, &second), Ok(Ingested::Parked { .. })));
        assert_eq!(other.op_count().expect("count"), 0);
        let genesis = fixture.replica.log().expect("log").remove(0);
        assert!(matches!(other.ingest(&genesis.bytes), Ok(Ingested::Accepted(_))));
        assert_eq!(other.op_count().expect("count"), 3);
        assert_eq!(other.heads().expect("heads"), vec![second.hash()]);
        other.check_integrity().expect("integrity");
    });
}

#[test]
fn broken_author_chains_and_wrong_depths_are_refused_for_good() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let author = fixture.keypair();
        let first = fixture.replica.write(&author, vec![insert("one")]).expect("write");
        let genesis = fixture.genesis();
        // Sequence 3 with the author's op 1 as its parent: op 2 is missing from the chain.
        let skipped = Draft::new(fixture.replica.id(), 3, vec![first.hash()], 3).sign(suite.as_ref(), &author);
        assert!(matches!(ingest(&fixture.replica, &skipped), Err(IngestError::Sequence { .. })));
        // A second op with seq 2 that does not have the author's op 1 as a parent.
        let orphaned = Draft::new(fixture.replica.id(), 2, vec![genesis], 2).sign(suite.as_ref(), &author);
        assert!(matches!(ingest(&fixture.replica, &orphaned), Err(IngestError::Sequence { .. })));
        // A first op claiming depth 5 on top of the genesis (depth 1).
        let deep = Draft::new(fixture.replica.id(), 1, vec![genesis], 5).sign(suite.as_ref(), &fixture.keypair());
        assert!(matches!(ingest(&fixture.replica, &deep), Err(IngestError::Depth { expected: 2, found: 5, .. })));
        // Refused for good: the same bytes are not checked again.
        assert!(matches!(ingest(&fixture.replica, &deep), Err(IngestError::PreviouslyRejected { .. })));
        // An op without parents that is not a genesis.
        let rootless = Draft::new(fixture.replica.id(), 1, vec![], 1).sign(suite.as_ref(), &fixture.keypair());
        assert!(matches!(ingest(&fixture.replica, &rootless), Err(IngestError::Sequence { .. })));
        fixture.replica.check_integrity().expect("integrity");
    });
}

#[test]
fn unknown_schemas_and_invalid_payloads_are_refused() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let genesis = fixture.genesis();
        let mut unknown_schema = Draft::new(fixture.replica.id(), 1, vec![genesis], 2);
        unknown_schema.schema = [9; 32];
        assert!(matches!(
            ingest(&fixture.replica, &unknown_schema.sign(suite.as_ref(), &fixture.keypair())),
            Err(IngestError::UnknownSchema { .. })
        ));
        let bad_payloads = vec![
            Change::Insert { collection: "Note".into(), fields: vec![("text".into(), Value::Int(5))] },
            Change::Insert { collection: "Nope".into(), fields: vec![] },
            Change::Insert { collection: "Note".into(), fields: vec![] },
            Change::Insert { collection: "Note".into(), fields: vec![("text".into(), Value::Text("x".repeat(101)))] },
            Change::Insert {
                collection: "Note".into(),
                fields: vec![
                    ("text".into(), Value::Text("ok".into())),
                    ("tags".into(), Value::Array(vec![Value::Text("b".into()), Value::Text("a".into())])),
                ],
            },
        ];
        for change in bad_payloads {
            let mut draft = Draft::new(fixture.replica.id(), 1, vec![genesis], 2);
            draft.payload = Payload::Changes(vec![change.clone()]);
            let result = ingest(&fixture.replica, &draft.sign(suite.as_ref(), &fixture.keypair()));
            assert!(matches!(result, Err(IngestError::Payload { .. })), "{change:?} gave {result:?}");
        }
        assert_eq!(fixture.replica.op_count().expect("count"), 1);
    });
}

#[test]
fn equivocation_keeps_both_ops_as_evidence_and_flags_the_author() {
    for_each_suite(|suite| {
        let fixture = Fixture::new(suite.clone());
        let author = fixture.keypair();
        let genesis = fixture.genesis();
        let mut left = Draft::new(fixture.replica.id(), 1, vec![genesis], 2);
        left.payload = Payload::Changes(vec![insert("left")]);
        let mut right = Draft::new(fixture.replica.id(), 1, vec![genesis], 2);
        right.payload = Payload::Changes(vec![insert("right")]);
        let (left, right) = (left.sign(suite.as_ref(), &author), right.sign(suite.as_ref(), &author));
        assert!(matches!(ingest(&fixture.replica, &left), Ok(Ingested::Accepted(_))));
        match ingest(&fixture.replica, &right) {
            Ok(Ingested::Equivocation { other, author: flagged, seq, .. }) => {
                assert_eq!(other, left.hash());
                assert_eq!(flagged, author.identity);
                assert_eq!(seq, 1);
            }
            other => panic!("expected an equivocation, got {other:?}"),
        }
        assert_eq!(fixture.replica.equivocators().expect("flags"), vec![(author.identity, 1)]);
        // Both are in the log, so every replica that sees both converges on the same set.
        let other = fixture.join();
        for entry in fixture.replica.log().expect("log").iter().rev() {
            let _ = other.ingest(&entry.bytes);
        }
        assert_eq!(other.heads().expect("heads"), fixture.replica.heads().expect("heads"));
        assert_eq!(other.equivocators().expect("flags"), vec![(author.identity, 1)]);
        // Ancestry across the fork is still answered (by walking, for the flagged author).
        let child = Draft::new(fixture.replica.id(), 2, vec![left.hash()], 3).sign(suite.as_ref(), &author);
        assert!(matches!(ingest(&fixture.replica, &child), Ok(Ingested::Accepted(_))));
        assert_eq!(fixture.replica.is_ancestor(&left.hash(), &child.hash()).expect("query"), Some(true));
        assert_eq!(fixture.replica.is_ancestor(&right.hash(), &child.hash()).expect("query"), Some(false));
    });
}

#[test]
fn an_equivocation_voids_both_ops_whichever_arrives_first() {
    let suite: Arc<dyn CryptoSuite> = Arc::new(cairn::Ed25519Blake3);
    let fixture = Fixture::new(suite.clone());
    let author = fixture.keypair();
    let genesis = fixture.genesis();
    let fork = |text: &str| {
        let mut draft = Draft::new(fixture.replica.id(), 1, vec![genesis], 2);
        draft.payload = Payload::Changes(vec![insert(text)]);
        draft.sign(suite.as_ref(), &author)
    };
    let (left, right) = (fork("left"), fork("right"));
    let other = fixture.join();
    for entry in fixture.replica.log().expect("the genesis") {
        other.ingest(&entry.bytes).expect("genesis");
    }
    for (replica, order) in [(&fixture.replica, [&left, &right]), (&other, [&right, &left])] {
        for op in order {
            ingest(replica, op).expect("ingest");
        }
        // The author signed two ops with one sequence number: neither takes effect, and the
        // state does not depend on which came first.
        for op in [&left, &right] {
            assert_eq!(replica.is_effective(&op.hash()).expect("verdict"), Some(false));
        }
        assert!(replica.rows("Note", &[]).expect("rows").is_empty());
        replica.check_integrity().expect("integrity");
    }
    assert_eq!(fixture.replica.digest().expect("digest"), other.digest().expect("digest"));
}

/// Builds a random DAG: each op has its author's previous op and a random sample of earlier
/// ops as parents.
fn random_dag(fixture: &Fixture, dice: &mut Dice, count: usize) -> Vec<VerifiedOp> {
    let authors: Vec<Keypair> = (0..3).map(|_| fixture.keypair()).collect();
    let mut last: Vec<Option<(u64, OpHash, u64)>> = vec![None; authors.len()];
    let mut all: Vec<(OpHash, u64)> = vec![(fixture.genesis(), 1)];
    let mut ops = Vec::new();
    for index in 0..count {
        let who = dice.below(authors.len());
        let mut parents: BTreeSet<(OpHash, u64)> = BTreeSet::new();
        for _ in 0..1 + dice.below(3) {
            parents.insert(all[dice.below(all.len())]);
        }
        if let Some((_, hash, depth)) = last[who] {
            parents.insert((hash, depth));
            // Parents by the same author must all be older than the previous op: keep only it.
            parents.retain(|(parent, _)| {
                *parent == hash
                    || ops.iter().all(|op: &VerifiedOp| op.hash() != *parent || op.op().author != authors[who].identity)
            });
        } else {
            parents.retain(|(parent, _)| {
                ops.iter().all(|op: &VerifiedOp| op.hash() != *parent || op.op().author != authors[who].identity)
            });
            if parents.is_empty() {
                parents.insert((fixture.genesis(), 1));
            }
        }
        let depth = 1 + parents.iter().map(|(_, depth)| *depth).max().unwrap_or(0);
        let seq = last[who].map_or(1, |(seq, _, _)| seq + 1);
        let mut draft = Draft::new(fixture.replica.id(), seq, parents.iter().map(|(hash, _)| *hash).collect(), depth);
        draft.payload = Payload::Changes(vec![insert(&format!("op {index}"))]);
        let op = draft.sign(fixture.suite.as_ref(), &authors[who]);
        last[who] = Some((seq, op.hash(), depth));
        all.push((op.hash(), depth));
        ops.push(op);
    }
    ops
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_whatever_the_delivery_order(seed in 1u64.., count in 1usize..40, batch in 1usize..8) {
        let fixture = Fixture::new(suites()[seed as usize % 2].clone());
        let mut dice = Dice(seed);
        let ops = random_dag(&fixture, &mut dice, count);
        let genesis = fixture.replica.log().expect("log").remove(0).bytes;
        let mut reference: Option<(Vec<OpHash>, BTreeSet<OpHash>)> = None;
        for round in 0..3 {
            let replica = fixture.join();
            let mut delivery: Vec<Vec<u8>> = ops.iter().map(|op| op.bytes().to_vec()).collect();
            delivery.push(genesis.clone());
            for index in (1..delivery.len()).rev() {
                delivery.swap(index, dice.below(index + 1));
            }
            let slices: Vec<&[u8]> = delivery.iter().map(Vec::as_slice).collect();
            // One replica takes the pipelined path, the others one batch at a time.
            let results = if round == 0 {
                replica.ingest_stream(&slices, batch)
            } else {
                slices.chunks(batch).flat_map(|chunk| replica.ingest_batch(chunk)).collect()
            };
            for result in results {
                prop_assert!(result.is_ok(), "{:?}", result);
            }
            prop_assert_eq!(replica.op_count().expect("count"), count as u64 + 1);
            replica.check_integrity().expect("integrity");
            let log: BTreeSet<OpHash> = replica.log().expect("log").into_iter().map(|entry| entry.hash).collect();
            let heads = replica.heads().expect("heads");
            match &reference {
                None => reference = Some((heads, log)),
                Some((expected_heads, expected_log)) => {
                    prop_assert_eq!(&heads, expected_heads);
                    prop_assert_eq!(&log, expected_log);
                }
            }
            // Ancestry from the version vectors agrees with the parent links.
            for op in &ops {
                for parent in &op.op().parents {
                    prop_assert_eq!(replica.is_ancestor(parent, &op.hash()).expect("query"), Some(true));
                    prop_assert_eq!(replica.is_ancestor(&op.hash(), parent).expect("query"), Some(false));
                }
            }
        }
    }
}

#[test]
fn a_large_batch_gives_each_op_its_own_result_in_its_place() {
    // Large enough that `ingest_batch` verifies it a slice at a time while it stores.
    let fixture = Fixture::new(suites()[0].clone());
    let mut dice = Dice(7);
    let ops = random_dag(&fixture, &mut dice, 700);
    let mut delivery: Vec<Vec<u8>> = ops.iter().map(|op| op.bytes().to_vec()).collect();
    // Children before parents, across slices: they wait, and are released within the batch.
    delivery.reverse();
    let mut forged = ops[5].op().clone();
    forged.signature[0] ^= 1;
    delivery.insert(300, forged.encode());
    delivery.insert(520, b"not cbor at all".to_vec());
    delivery.push(ops[0].bytes().to_vec());
    // The genesis last: until it comes, every op waits for it.
    delivery.push(fixture.replica.log().expect("log").remove(0).bytes);
    let slices: Vec<&[u8]> = delivery.iter().map(Vec::as_slice).collect();
    let replica = fixture.join();
    let results = replica.ingest_batch(&slices);
    assert_eq!(results.len(), delivery.len());
    assert!(matches!(results[300], Err(IngestError::BadSignature { .. })), "{:?}", results[300]);
    assert!(matches!(results[520], Err(IngestError::Decode(_))), "{:?}", results[520]);
    assert!(matches!(results.last(), Some(Ok(Ingested::Accepted(_)))));
    assert_eq!(replica.op_count().expect("count"), 701, "the genesis and every valid op");
    replica.check_integrity().expect("integrity");
    // Each result is the one ingesting the ops one at a time gives, in its place.
    let one_by_one = fixture.join();
    for (bytes, result) in slices.iter().zip(&results) {
        assert_eq!(format!("{:?}", one_by_one.ingest(bytes)), format!("{result:?}"));
    }
    assert_eq!(replica.heads().expect("heads"), one_by_one.heads().expect("heads"));
    assert_eq!(replica.digest().expect("digest"), one_by_one.digest().expect("digest"));
}

#[test]
fn local_writes_respect_the_limits_peers_enforce() {
    let fixture = Fixture::new(suites()[0].clone());
    // Seventy concurrent authors leave seventy heads.
    for _ in 0..70 {
        let op = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2)
            .sign(fixture.suite.as_ref(), &fixture.keypair());
        assert!(matches!(ingest(&fixture.replica, &op), Ok(Ingested::Accepted(_))));
    }
    let author = fixture.keypair();
    let first = fixture.replica.write(&author, vec![insert("merge")]).expect("write");
    assert_eq!(first.op().parents.len(), fixture.replica.limits().max_parents);
    let second = fixture.replica.write(&author, vec![insert("merge again")]).expect("write");
    assert!(second.op().parents.contains(&first.hash()), "the author's previous op is always a parent");
    // Peers accept both.
    let other = fixture.join();
    let log: Vec<Vec<u8>> = fixture.replica.log().expect("log").into_iter().map(|entry| entry.bytes).collect();
    let slices: Vec<&[u8]> = log.iter().map(Vec::as_slice).collect();
    assert!(other.ingest_batch(&slices).iter().all(|result| matches!(result, Ok(Ingested::Accepted(_)))));
    // An op over the size peers accept is refused before anything is stored.
    let big = |letter: char| Value::Text(letter.to_string().repeat(250 << 10));
    let tags = Value::Array(vec![big('a'), big('b'), big('c'), big('d'), big('e')]);
    let change = Change::Insert {
        collection: "Note".into(),
        fields: vec![("text".into(), Value::Text("big".into())), ("tags".into(), tags)],
    };
    let count = fixture.replica.op_count().expect("count");
    assert!(matches!(fixture.replica.write(&author, vec![change]), Err(cairn::WriteError::TooLarge { .. })));
    assert_eq!(fixture.replica.op_count().expect("count"), count);
}

#[test]
fn parking_is_bounded_and_children_of_rejected_ops_are_rejected() {
    let fixture = Fixture::new(suites()[0].clone());
    let limits = cairn::op::Limits { max_parked: 3, ..*fixture.replica.limits() };
    let replica =
        fixture.options().limits(limits).join(cairn::Storage::Memory, fixture.replica.id(), schema()).expect("join");
    // Five orphans from a flooding author: only the three newest stay parked.
    let flooder = fixture.keypair();
    let orphans: Vec<VerifiedOp> = (0..5u8)
        .map(|index| {
            Draft::new(fixture.replica.id(), 1, vec![OpHash([index; 32])], 2).sign(fixture.suite.as_ref(), &flooder)
        })
        .collect();
    for orphan in &orphans {
        assert!(matches!(ingest(&replica, orphan), Ok(Ingested::Parked { .. })));
    }
    // An honest chain delivered children first still completes: its ops evict the orphans.
    let author = fixture.keypair();
    let first = fixture.replica.write(&author, vec![insert("one")]).expect("write");
    let second = fixture.replica.write(&author, vec![insert("two")]).expect("write");
    assert!(matches!(ingest(&replica, &second), Ok(Ingested::Parked { .. })));
    assert!(matches!(ingest(&replica, &first), Ok(Ingested::Parked { .. })));
    let genesis = fixture.replica.log().expect("log").remove(0).bytes;
    assert!(matches!(replica.ingest(&genesis), Ok(Ingested::Accepted(_))));
    assert_eq!(replica.op_count().expect("count"), 3);
    replica.check_integrity().expect("integrity");

    // A child waiting for an op that turns out invalid is rejected with it, and so is a child
    // that arrives after the parent was rejected.
    let bad_author = fixture.keypair();
    let mut bad = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2);
    bad.payload = Payload::Changes(vec![Change::Insert { collection: "Nope".into(), fields: vec![] }]);
    let bad = bad.sign(fixture.suite.as_ref(), &bad_author);
    let child = Draft::new(fixture.replica.id(), 2, vec![bad.hash()], 3).sign(fixture.suite.as_ref(), &bad_author);
    assert!(matches!(ingest(&replica, &child), Ok(Ingested::Parked { .. })));
    assert!(matches!(ingest(&replica, &bad), Err(IngestError::Payload { .. })));
    assert!(matches!(ingest(&replica, &child), Err(IngestError::PreviouslyRejected { .. })));
    let late_child =
        Draft::new(fixture.replica.id(), 1, vec![bad.hash()], 3).sign(fixture.suite.as_ref(), &fixture.keypair());
    assert!(matches!(ingest(&replica, &late_child), Err(IngestError::RejectedParent { .. })));
}

#[test]
fn a_transaction_writes_several_rows_as_one_op() {
    let fixture = Fixture::new(suites()[0].clone());
    let author = fixture.keypair();
    let first = fixture.replica.write(&author, vec![insert("first")]).expect("write");
    let first_row = fixture.replica.row_id(&first.hash(), 0);
    let (op, rows) = fixture
        .replica
        .transaction(&author, |tx| {
            tx.insert("Note", [("text", Value::Text("a".into()))]);
            tx.insert("Note", [("text", Value::Text("b".into()))]);
            tx.update("Note", first_row, vec![cairn::Edit::Increment { field: "stars".into(), amount: 1 }])
                .delete("Note", first_row);
        })
        .expect("transaction");
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0], fixture.replica.row_id(&op.hash(), 0));
    assert_eq!(rows[1], fixture.replica.row_id(&op.hash(), 1));
    assert_ne!(rows[0], rows[1]);
    assert_eq!(&rows[2..], &[first_row, first_row]);
    // One bad change refuses the whole batch, and nothing is written.
    let count = fixture.replica.op_count().expect("count");
    let refused = fixture.replica.transaction(&author, |tx| {
        tx.insert("Note", [("text", Value::Text("fine".into()))]);
        tx.insert("Note", [("text", Value::Int(3))]);
    });
    assert!(matches!(refused, Err(cairn::WriteError::Payload(_))));
    assert_eq!(fixture.replica.op_count().expect("count"), count);
}
