//! Random writes on every side of 2, 3 and 5 replicas, random partial syncs (partitions) and
//! a final heal: every replica ends with the same ops and the same state, which is also the
//! state of a replica that ingested all of it in one shuffled import.

use crate::*;
use cairn::Edit;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Write { replica: usize, count: usize },
    Star { replica: usize, pick: usize },
    Delete { replica: usize, pick: usize },
    Sync { left: usize, right: usize },
}

fn steps(replicas: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => (0..replicas, 1..4usize).prop_map(|(replica, count)| Step::Write { replica, count }),
        2 => (0..replicas, any::<usize>()).prop_map(|(replica, pick)| Step::Star { replica, pick }),
        1 => (0..replicas, any::<usize>()).prop_map(|(replica, pick)| Step::Delete { replica, pick }),
        2 => (0..replicas, 0..replicas).prop_map(|(left, right)| Step::Sync { left, right }),
    ];
    proptest::collection::vec(step, 1..40)
}

fn run(replica_count: usize, steps: &[Step], shuffle: u64) {
    let (first, founder) = database();
    let mut replicas = vec![first];
    for _ in 1..replica_count {
        let joined = join(&replicas[0]);
        lockstep(&joined, &replicas[0], SessionOptions::default());
        replicas.push(joined);
    }
    // Each replica writes with its own key; a key belongs to one replica.
    let authors: Vec<Keypair> = (0..replica_count)
        .map(|index| if index == 0 { founder.clone() } else { Keypair::generate(&Ed25519Blake3) })
        .collect();
    let pick_note = |replica: &Replica, pick: usize| {
        let notes = replica.query("Note").rows().expect("notes");
        (!notes.is_empty()).then(|| notes[pick % notes.len()].id)
    };
    for step in steps {
        match *step {
            Step::Write { replica, count } => write_notes(&replicas[replica], &authors[replica], count, "random"),
            Step::Star { replica, pick } => {
                if let Some(row) = pick_note(&replicas[replica], pick) {
                    replicas[replica]
                        .transaction(&authors[replica], |tx| {
                            tx.update("Note", row, vec![Edit::increment("stars", 1)]);
                        })
                        .expect("star");
                }
            }
            Step::Delete { replica, pick } => {
                if let Some(row) = pick_note(&replicas[replica], pick) {
                    replicas[replica]
                        .transaction(&authors[replica], |tx| {
                            tx.delete("Note", row);
                        })
                        .expect("delete");
                }
            }
            Step::Sync { left, right } if left != right => {
                lockstep(&replicas[left], &replicas[right], SessionOptions::default());
            }
            Step::Sync { .. } => {}
        }
    }
    // Heal: a ring, twice, carries every op everywhere.
    for _ in 0..2 {
        for index in 0..replica_count {
            let next = (index + 1) % replica_count;
            if next != index {
                lockstep(&replicas[index], &replicas[next], SessionOptions::default());
            }
        }
    }
    for replica in &replicas[1..] {
        assert_converged(&replicas[0], replica);
    }
    // The reference: everything imported at once, in a shuffled order.
    let mut all = replicas[0].export(&[]).expect("export");
    let mut state = shuffle;
    for index in (1..all.len()).rev() {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        all.swap(index, (state >> 33) as usize % (index + 1));
    }
    let fresh = join(&replicas[0]);
    let slices: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    for result in fresh.ingest_batch(&slices) {
        result.expect("accepted");
    }
    assert_converged(&replicas[0], &fresh);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn two_replicas_converge(steps in steps(2), shuffle in any::<u64>()) {
        run(2, &steps, shuffle);
    }

    #[test]
    fn three_replicas_converge(steps in steps(3), shuffle in any::<u64>()) {
        run(3, &steps, shuffle);
    }

    #[test]
    fn five_replicas_converge(steps in steps(5), shuffle in any::<u64>()) {
        run(5, &steps, shuffle);
    }
}
