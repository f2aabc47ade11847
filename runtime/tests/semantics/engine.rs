//! The engine against the reference evaluator on random histories of every example schema,
//! delivered in random orders.
//!
//! Every scenario test also runs its history through the engine (see `Sim::check_engine`);
//! here the histories are random: 3,400 per schema by default (10,200 in all, each delivered to
//! two replicas in two random orders); `CAIRN_ENGINE_CASES` sets another number per schema.

use crate::properties::random_history;
use crate::random::{editor_history, taskboard_history};
use crate::Sim;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CAIRN_ENGINE_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(3_400)
}

/// A seeded shuffle of the history's ops: parents often arrive after their children and wait.
fn delivery_order(count: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..count).collect();
    let mut state = seed | 1;
    for index in (1..count).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(index, (state % (index as u64 + 1)) as usize);
    }
    order
}

/// Two replicas fed the history in two orders agree with the reference and with each other.
fn check(sim: &Sim, seeds: (u64, u64)) {
    let first = sim.deliver(&delivery_order(sim.op_count(), seeds.0));
    let second = sim.deliver(&delivery_order(sim.op_count(), seeds.1));
    assert_eq!(sim.compare(&first), sim.compare(&second));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn the_engine_agrees_with_the_reference_on_chat(
        choices in proptest::collection::vec(any::<u8>(), 4..40),
        seeds in any::<(u64, u64)>(),
    ) {
        check(&random_history(&choices).0.sim, seeds);
    }

    #[test]
    fn the_engine_agrees_with_the_reference_on_taskboard(
        choices in proptest::collection::vec(any::<u8>(), 4..40),
        seeds in any::<(u64, u64)>(),
    ) {
        check(&taskboard_history(&choices), seeds);
    }

    #[test]
    fn the_engine_agrees_with_the_reference_on_editor(
        choices in proptest::collection::vec(any::<u8>(), 4..40),
        seeds in any::<(u64, u64)>(),
    ) {
        check(&editor_history(&choices), seeds);
    }
}

/// Each generator reaches every verdict (effective, rolled back, inadmissible), so the
/// agreement above is not vacuous.
#[test]
fn every_generator_reaches_every_verdict() {
    type Generator = fn(&[u8]) -> Sim;
    let generators: [(&str, Generator); 3] = [
        ("chat", |choices| random_history(choices).0.sim),
        ("taskboard", taskboard_history),
        ("editor", editor_history),
    ];
    for (name, generate) in generators {
        let (mut effective, mut rolled_back, mut inadmissible) = (0, 0, 0);
        for seed in 0..150u32 {
            let choices: Vec<u8> =
                (0..24).map(|index| (seed.wrapping_mul(2_654_435_761).rotate_left(index) % 251) as u8).collect();
            let sim = generate(&choices);
            let history = sim.history();
            for (op, is_effective) in history.effectiveness() {
                match (history.admissible(&op), is_effective) {
                    (_, true) => effective += 1,
                    (Some(true), false) => rolled_back += 1,
                    _ => inadmissible += 1,
                }
            }
        }
        assert!(
            effective > 0 && rolled_back > 0 && inadmissible > 0,
            "{name}: {effective} effective, {rolled_back} rolled back, {inadmissible} inadmissible"
        );
    }
}

/// An `exists` over a rule-index key with more rows than the engine keeps for a transaction
/// (64) is read from the index each time, delivered alone or in one batch.
#[test]
fn an_exists_over_many_rows_of_one_key_finds_the_last_one() {
    use crate::{effectiveness, insert, reference, text};
    use cairn::Value;
    let mut sim = Sim::new(
        "schema hall;
        collection Room { name: string, allow insert if true; }
        collection Seat { room: ref Room readonly, taken: bool, allow insert if true; }
        collection Talk { room: ref Room readonly, allow insert if exists Seat s where s.room = room and s.taken = true; }",
    );
    let founder = sim.founder.clone();
    let room = sim.op(&founder, &[], vec![insert("Room", &[("name", text("main"))])]);
    let room_row = sim.row(room);
    let seat = |taken: bool| insert("Seat", &[("room", reference(room_row)), ("taken", Value::Bool(taken))]);
    let free = sim.op(&founder, &[room], (0..70).map(|_| seat(false)).collect());
    let talk = insert("Talk", &[("room", reference(room_row))]);
    let early = sim.op(&founder, &[free], vec![talk.clone()]);
    let taken = sim.op(&founder, &[early], vec![seat(true)]);
    let late = sim.op(&founder, &[taken], vec![talk]);
    assert_eq!(effectiveness(&sim, &[free, taken, late]), [true, true, true]);
    assert_eq!(sim.history().admissible(&early), Some(false));
}
