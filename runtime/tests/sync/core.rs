//! The protocol core in lockstep: round trips and bytes, convergence from every starting point,
//! and resumption after a cut.

use crate::*;

#[test]
fn replicas_in_sync_find_out_in_one_round_trip_and_under_100_bytes() {
    let (ours, founder) = database();
    write_notes(&ours, &founder, 20, "note");
    let theirs = join(&ours);
    lockstep(&ours, &theirs, SessionOptions::default());
    let again = lockstep(&ours, &theirs, SessionOptions::default());
    assert_eq!(again.flights, 1, "a hello each way, and both know");
    assert_eq!(again.initiator.round_trips, 1);
    for bytes in [again.initiator.bytes_sent, again.acceptor.bytes_sent] {
        assert!(bytes < 100, "{bytes} bytes");
    }
    assert_eq!((again.initiator.ops_sent, again.acceptor.ops_sent), (0, 0));
}

#[test]
fn an_empty_replica_gets_everything_parents_first() {
    let (ours, founder) = database();
    write_notes(&ours, &founder, 2_500, "note");
    let theirs = join(&ours);
    let run = lockstep(&theirs, &ours, SessionOptions::default());
    assert_converged(&ours, &theirs);
    assert_eq!(run.acceptor.ops_sent, 2_501);
    assert_eq!((run.initiator.ops_waiting, run.initiator.ops_rejected), (0, 0));
}

#[test]
fn diverged_replicas_reconcile_ranges_and_converge() {
    let (ours, founder) = database();
    write_notes(&ours, &founder, 300, "common");
    let theirs = join(&ours);
    lockstep(&ours, &theirs, SessionOptions::default());
    let other = Keypair::generate(&Ed25519Blake3);
    write_notes(&ours, &founder, 40, "ours");
    write_notes(&theirs, &other, 25, "theirs");
    let run = lockstep(&ours, &theirs, SessionOptions::default());
    assert_converged(&ours, &theirs);
    assert_eq!((run.initiator.ops_sent, run.acceptor.ops_sent), (40, 25));
    assert_eq!(ours.op_count().expect("count"), 1 + 300 + 40 + 25);
}

#[test]
fn a_replica_behind_gets_what_it_lacks_at_once_whatever_its_size() {
    let (ours, founder) = database();
    write_notes(&ours, &founder, 3_000, "old");
    let theirs = join(&ours);
    lockstep(&ours, &theirs, SessionOptions::default());
    write_notes(&ours, &founder, 5, "new");
    for (initiator, acceptor) in [(&ours, &theirs), (&theirs, &ours)] {
        let behind = join(&ours);
        lockstep(acceptor, &behind, SessionOptions::default());
        let run = lockstep(initiator, acceptor, SessionOptions::default());
        assert_converged(initiator, acceptor);
        assert!(run.flights <= 6, "{} flights", run.flights);
        let overhead = run.initiator.bytes_sent + run.acceptor.bytes_sent
            - run.initiator.op_bytes_sent
            - run.acceptor.op_bytes_sent;
        assert!(overhead < 2_560 + 64 * 5, "{overhead} bytes besides the ops");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 16, ..Default::default() })]

    /// Both sides hold ops the other lacks; the first session is cut after a random number of
    /// flights, part of the last one delivered; a second session sends only what had not arrived.
    #[test]
    fn a_sync_cut_anywhere_resumes_without_sending_again_what_arrived(
        flights in 0usize..14,
        delivered in 0usize..4,
    ) {
        let (ours, founder) = database();
        write_notes(&ours, &founder, 2_000, "note");
        let theirs = join(&ours);
        let writer = Keypair::generate(&Ed25519Blake3);
        let early: Vec<Vec<u8>> = ours.export(&[]).expect("export").into_iter().take(300).collect();
        for result in theirs.ingest_batch(&early.iter().map(Vec::as_slice).collect::<Vec<_>>()) {
            result.expect("early ops");
        }
        write_notes(&theirs, &writer, 200, "theirs");
        let (lacked_by_theirs, lacked_by_ours) = (2_001 - 300, 200);
        let options = SessionOptions { batch_ops: 250, window: 1, ..SessionOptions::default() };
        {
            let mut left = Session::new(&theirs, Role::Initiator, options);
            let mut right = Session::new(&ours, Role::Acceptor, options);
            left.start().expect("start");
            right.start().expect("start");
            for flight in 0..=flights {
                let (from_left, from_right) = (drain(&mut left), drain(&mut right));
                let keep = if flight == flights { delivered } else { usize::MAX };
                from_left.iter().take(keep).for_each(|frame| {
                    right.receive(frame).expect("frame");
                });
                from_right.iter().take(keep).for_each(|frame| {
                    left.receive(frame).expect("frame");
                });
            }
        }
        let arrived_at_theirs = theirs.op_count().expect("count") - (300 + 200);
        let arrived_at_ours = ours.op_count().expect("count") - 2_001;
        let run = lockstep(&theirs, &ours, options);
        assert_converged(&ours, &theirs);
        proptest::prop_assert_eq!(run.acceptor.ops_sent, lacked_by_theirs - arrived_at_theirs);
        proptest::prop_assert_eq!(run.initiator.ops_sent, lacked_by_ours - arrived_at_ours);
    }
}

#[test]
fn a_divergence_larger_than_one_reply_reconciles_over_more_rounds() {
    // Replies may hold 20 ranges: the 2,000 ops each side wrote apart cannot be answered in
    // one, so what does not fit goes back unsplit and is reconciled next round.
    let (ours, founder) = database();
    let theirs = join(&ours);
    lockstep(&ours, &theirs, SessionOptions::default());
    let other = Keypair::generate(&Ed25519Blake3);
    write_notes(&ours, &founder, 2_000, "ours");
    write_notes(&theirs, &other, 2_000, "theirs");
    let limits = cairn::sync::MessageLimits { max_ranges: 20, ..cairn::sync::MessageLimits::default() };
    let options = SessionOptions { limits, ..SessionOptions::default() };
    let run = lockstep(&ours, &theirs, options);
    assert_converged(&ours, &theirs);
    assert_eq!((run.initiator.ops_sent, run.acceptor.ops_sent), (2_000, 2_000));
}

#[test]
fn batches_cut_by_size_keep_parents_first() {
    // Ops of very different sizes, in batches of at most 3 KiB: a batch ends at the first op
    // that does not fit, so no op ever arrives before its parent.
    let (ours, founder) = database();
    for index in 0..200 {
        let text = "x".repeat(if index % 3 == 0 { 2_500 } else { 10 });
        ours.transaction(&founder, |tx| {
            tx.insert("Note", [("text", Value::from(text))]);
        })
        .expect("write");
    }
    let theirs = join(&ours);
    let options = SessionOptions { batch_bytes: 3_072, ..SessionOptions::default() };
    let run = lockstep(&theirs, &ours, options);
    assert_converged(&ours, &theirs);
    assert_eq!(run.initiator.ops_waiting, 0, "no op waited for a parent");
}

#[test]
fn deferred_writes_reach_a_peer_signed() {
    let (ours, founder) = database();
    for index in 0..5 {
        ours.write_deferred(
            &founder,
            vec![cairn::op::Change::Insert {
                collection: "Note".into(),
                fields: vec![("text".into(), cairn::Value::from(format!("deferred {index}")))],
            }],
        )
        .expect("write");
    }
    let theirs = join(&ours);
    let run = lockstep(&theirs, &ours, SessionOptions::default());
    assert_eq!(ours.deferred_count(), 0, "serving ops flushed them");
    assert_eq!((run.initiator.ops_rejected, run.acceptor.ops_sent), (0, 6));
    assert_converged(&ours, &theirs);
}

#[test]
fn ops_under_a_schema_this_replica_does_not_know_are_skipped_and_offered_again() {
    let (ours, founder) = database();
    write_notes(&ours, &founder, 5, "ours");
    // A replica of the same database given another schema: every op names one it lacks.
    let other = NOTES.replace("stars: counter,", "stars: counter,\n    pinned: bool?,");
    let other = schemac::check_source(&other, Some(&schemac::Priors::new())).ir.expect("the other schema compiles");
    let theirs = Replica::join(Storage::Memory, ours.id(), other).expect("join");
    for _ in 0..2 {
        // The genesis is skipped, not held against the peer; the notes built on it wait for it.
        // Nothing is stored, the session completes, and the next one offers the same again.
        let outcome = lockstep(&ours, &theirs, SessionOptions::default());
        let stats = &outcome.acceptor;
        assert_eq!((stats.ops_received, stats.ops_rejected, stats.ops_waiting), (0, 1, 5));
        assert_eq!(theirs.op_count().expect("count"), 0);
    }
    assert_eq!(ours.op_count().expect("count"), 6);
}
