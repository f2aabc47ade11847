//! Deferred writes: applied at once, signed and made durable by the flush, and never handed
//! out (log, export, events) before it.

use crate::support::{insert, Fixture};
use cairn::{Ed25519Blake3, Ingested, MAX_DEFERRED};
use std::sync::Arc;

#[test]
fn deferred_writes_are_read_at_once_and_signed_by_the_flush() {
    let fixture = Fixture::new(Arc::new(Ed25519Blake3));
    let author = fixture.keypair();
    let hashes: Vec<_> = (0..3)
        .map(|index| fixture.replica.write_deferred(&author, vec![insert(&format!("note {index}"))]).expect("write"))
        .collect();
    assert_eq!(fixture.replica.deferred_count(), 3);
    assert_eq!(fixture.replica.rows("Note", &[]).expect("rows").len(), 3, "queries read deferred writes");
    assert_eq!(fixture.replica.flush().expect("flush"), 3);
    assert_eq!((fixture.replica.deferred_count(), fixture.replica.flush().expect("flush")), (0, 0));
    let log = fixture.replica.log().expect("log");
    for hash in &hashes {
        let entry = log.iter().find(|entry| entry.hash == *hash).expect("in the log");
        let verified = cairn::op::verify(fixture.suite.as_ref(), vec![(entry.op.clone(), entry.bytes.clone())]);
        assert!(verified.into_iter().all(|result| result.is_ok()), "op {hash} is signed");
    }
    fixture.replica.check_integrity().expect("integrity");
}

#[test]
fn what_leaves_the_replica_is_flushed_first() {
    let fixture = Fixture::new(Arc::new(Ed25519Blake3));
    let author = fixture.keypair();
    fixture.replica.write_deferred(&author, vec![insert("for a peer")]).expect("write");
    // An export flushes, so a peer verifies and accepts every op it gets.
    let exported = fixture.replica.export(&[]).expect("export");
    assert_eq!(fixture.replica.deferred_count(), 0);
    let peer = fixture.join();
    for bytes in &exported {
        assert!(matches!(peer.ingest(bytes), Ok(Ingested::Accepted(_))), "the peer accepts the op");
    }
    // Reading the event stream flushes too: no consumer sees an event a crash may take back.
    let before = fixture.replica.last_event().expect("last event");
    fixture.replica.write_deferred(&author, vec![insert("for a consumer")]).expect("write");
    assert_eq!(fixture.replica.last_event().expect("last event"), before, "a waiting event is not counted");
    let events = fixture.replica.events_after(before, usize::MAX).expect("events");
    assert_eq!((events.len(), fixture.replica.deferred_count()), (1, 0));
}

#[test]
fn a_durable_write_signs_the_deferred_ones_before_it_and_the_queue_is_bounded() {
    let fixture = Fixture::new(Arc::new(Ed25519Blake3));
    let author = fixture.keypair();
    fixture.replica.write_deferred(&author, vec![insert("deferred")]).expect("write");
    fixture.replica.write(&author, vec![insert("durable")]).expect("write");
    assert_eq!(fixture.replica.deferred_count(), 0, "a durable commit never holds an unsigned op");
    for index in 0..=MAX_DEFERRED {
        fixture.replica.write_deferred(&author, vec![insert(&format!("n{index}"))]).expect("write");
    }
    assert_eq!(fixture.replica.deferred_count(), 0, "the write beyond the bound is durable, with the others");
    fixture.replica.check_integrity().expect("integrity");
}

/// A schema where only the founder (the first op's author) may insert a `Ledger` row.
const GUARDED: &str = r#"
schema guarded;

collection Note {
    text: string,
    allow insert if true;
}

collection Ledger {
    entry: string,
    allow insert if op.author = db.founder;
}
"#;

#[test]
fn a_refused_deferred_write_leaves_the_ones_before_it_in_place() {
    let checked = schemac::check_source(GUARDED, Some(&schemac::Priors::new()));
    let schema = checked.ir.unwrap_or_else(|| panic!("the schema compiles: {:?}", checked.diagnostics));
    let founder = cairn::Keypair::generate(&Ed25519Blake3);
    let replica = cairn::Replica::create(cairn::Storage::Memory, &founder, schema).expect("create");
    let stranger = cairn::Keypair::generate(&Ed25519Blake3);
    for index in 0..2 {
        replica.write_deferred(&stranger, vec![insert(&format!("note {index}"))]).expect("write");
    }
    // Judged (and denied) in the transaction the deferred writes share, after they were written.
    let ledger = cairn::op::Change::Insert {
        collection: "Ledger".into(),
        fields: vec![("entry".into(), cairn::Value::Text("forged".into()))],
    };
    let refused = replica.write_deferred(&stranger, vec![ledger]);
    assert!(matches!(refused, Err(cairn::WriteError::Denied(_))), "unexpected: {refused:?}");
    replica.write_deferred(&stranger, vec![insert("after the refusal")]).expect("write");
    assert_eq!(replica.rows("Note", &[]).expect("rows").len(), 3);
    assert_eq!(replica.rows("Ledger", &[]).expect("rows").len(), 0);
    assert_eq!(replica.flush().expect("flush"), 3);
    replica.check_integrity().expect("integrity");
}

#[test]
fn deferred_writes_on_one_thread_and_reads_and_durable_writes_on_another_see_each_other() {
    let fixture = Fixture::new(Arc::new(Ed25519Blake3));
    let (deferred_author, durable_author) = (fixture.keypair(), fixture.keypair());
    let replica = &fixture.replica;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for index in 0..2_000 {
                replica.write_deferred(&deferred_author, vec![insert(&format!("d{index}"))]).expect("deferred");
            }
        });
        scope.spawn(|| {
            let mut seen = 0;
            for index in 0..50 {
                replica.write(&durable_author, vec![insert(&format!("w{index}"))]).expect("durable");
                let now = replica.rows("Note", &[]).expect("rows").len();
                assert!(now > seen, "every read sees at least the writes before it");
                seen = now;
            }
        });
    });
    replica.flush().expect("flush");
    assert_eq!((replica.rows("Note", &[]).expect("rows").len(), replica.deferred_count()), (2_050, 0));
    replica.check_integrity().expect("integrity");
}
