//! The engine against the reference evaluator on random histories delivered in random orders.
//!
//! Every scenario test also runs its history through the engine (see `Sim::check_engine`);
//! here the histories are random. `CAIRN_ENGINE_CASES` raises the number of histories.

use crate::properties::random_history;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("CAIRN_ENGINE_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any delivery order gives the reference's verdicts, digest and rows.
    #[test]
    fn the_engine_agrees_with_the_reference(
        choices in proptest::collection::vec(any::<u8>(), 4..40),
        order_seed in any::<u64>(),
    ) {
        let (chat, _) = random_history(&choices);
        let count = chat.sim.op_count();
        let mut order: Vec<usize> = (0..count).collect();
        // A seeded shuffle: parents often arrive after their children and must wait.
        let mut state = order_seed | 1;
        for index in (1..count).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(index, (state % (index as u64 + 1)) as usize);
        }
        let replica = chat.sim.deliver(&order);
        chat.sim.compare(&replica);
    }
}
