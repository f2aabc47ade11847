//! Properties of the reference evaluator on random chat histories.

use crate::chat::{membership, Chat};
use crate::*;
use proptest::prelude::*;

/// Builds a random history on top of the chat setup: random authors post, change roles, ban
/// and delete, each op on a random sample of earlier ops.
pub fn random_history(choices: &[u8]) -> (Chat, Vec<OpHash>) {
    let mut chat = Chat::new();
    let mut people = vec![chat.founder.clone(), chat.admin.clone(), chat.writer.clone(), chat.sim.key()];
    let mut memberships = vec![chat.admin_membership, chat.writer_membership];
    let mut messages: Vec<RowId> = Vec::new();
    let mut ops = vec![chat.setup];
    let mut next = choices.iter().copied().cycle();
    let mut pick = |bound: usize| next.next().unwrap_or(0) as usize % bound.max(1);
    for _ in 0..choices.len().min(10) {
        let author = people[pick(people.len())].clone();
        let parents: Vec<OpHash> = (0..1 + pick(2)).map(|_| ops[pick(ops.len())]).collect();
        let change = match pick(5) {
            0 => {
                let body = format!("message {}", ops.len());
                insert(
                    "Message",
                    &[("channel", reference(chat.channel)), ("sender", id(&author)), ("body", text(&body))],
                )
            }
            1 => {
                let role = ["reader", "writer", "admin"][pick(3)];
                set("Membership", memberships[pick(memberships.len())], "role", text(role))
            }
            2 => {
                let newcomer = chat.sim.key();
                people.push(newcomer.clone());
                membership(chat.channel, &newcomer, ["reader", "writer", "admin"][pick(3)])
            }
            3 if !messages.is_empty() => delete("Message", messages[pick(messages.len())]),
            _ => insert("Ban", &[("channel", reference(chat.channel)), ("user", id(&people[pick(people.len())]))]),
        };
        let kind = match &change {
            Change::Insert { collection, .. } => collection.clone(),
            _ => String::new(),
        };
        let op = chat.sim.op(&author, &parents, vec![change]);
        match kind.as_str() {
            "Message" => messages.push(chat.sim.row(op)),
            "Membership" => memberships.push(chat.sim.row(op)),
            _ => {}
        }
        ops.push(op);
    }
    (chat, ops)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// An effective op is admissible, and the result does not depend on the order ops are given.
    #[test]
    fn effective_ops_are_admissible_and_order_does_not_matter(choices in proptest::collection::vec(any::<u8>(), 4..40)) {
        let (chat, _) = random_history(&choices);
        let history = chat.sim.history();
        let effectiveness = history.effectiveness();
        for (op, effective) in &effectiveness {
            if *effective {
                prop_assert_eq!(history.admissible(op), Some(true));
            }
        }
        let mut reversed = chat.sim.partial(&effectiveness.keys().copied().collect::<Vec<_>>());
        reversed.reverse();
        let other = History::new(&chat.sim.schema, &chat.sim.suite, &reversed).expect("history");
        prop_assert_eq!(other.effectiveness(), effectiveness);
        prop_assert_eq!(other.state().digest(), history.state().digest());
    }

    /// An op that descends from every op leaves the verdicts on the earlier ops as they were:
    /// it is in the future of each of them.
    #[test]
    fn an_op_after_everything_changes_no_earlier_verdict(choices in proptest::collection::vec(any::<u8>(), 4..40)) {
        let (mut chat, ops) = random_history(&choices);
        let before = chat.sim.history().effectiveness();
        let founder = chat.founder.clone();
        let heads: Vec<OpHash> = ops.clone();
        let closing = chat.post(&founder, &heads, "after everything");
        let after = chat.sim.history().effectiveness();
        for (op, verdict) in &before {
            prop_assert_eq!(after.get(op), Some(verdict), "op {} flipped", op);
        }
        prop_assert!(after.contains_key(&closing));
    }

    /// Without concurrency, an op is effective exactly when it is admissible.
    #[test]
    fn a_linear_history_is_judged_by_admissibility_alone(choices in proptest::collection::vec(any::<u8>(), 4..40)) {
        let mut chat = Chat::new();
        let people = [chat.founder.clone(), chat.admin.clone(), chat.writer.clone()];
        let mut last = chat.setup;
        for (index, choice) in choices.iter().take(12).enumerate() {
            let author = people[*choice as usize % people.len()].clone();
            let op = if choice % 3 == 0 {
                let membership = if choice % 2 == 0 { chat.writer_membership } else { chat.admin_membership };
                chat.set_role(&author, &[last], membership, ["reader", "writer", "admin"][*choice as usize % 3])
            } else {
                chat.post(&author, &[last], &format!("post {index}"))
            };
            last = op;
        }
        let history = chat.sim.history();
        for (op, effective) in history.effectiveness() {
            prop_assert_eq!(history.admissible(&op), Some(effective));
        }
    }
}
