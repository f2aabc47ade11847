//! Capability scenarios on the chat schema of schemas/chat.schema.

use crate::*;

/// A channel owned by the founder, an admin `A` and a writer `W`.
pub struct Chat {
    pub sim: Sim,
    pub founder: Keypair,
    pub admin: Keypair,
    pub writer: Keypair,
    pub channel: RowId,
    pub admin_membership: RowId,
    pub writer_membership: RowId,
    /// The last op of the setup: everything after it that names it as parent saw the setup.
    pub setup: OpHash,
}

impl Chat {
    pub fn new() -> Chat {
        let mut sim = Sim::chat();
        let founder = sim.founder.clone();
        let (admin, writer) = (sim.key(), sim.key());
        let channel_op =
            sim.op(&founder, &[], vec![insert("Channel", &[("name", text("general")), ("owner", id(&founder))])]);
        let channel = sim.row(channel_op);
        let admin_op = sim.op(&founder, &[], vec![membership(channel, &admin, "admin")]);
        let writer_op = sim.op(&founder, &[], vec![membership(channel, &writer, "writer")]);
        Chat {
            admin_membership: sim.row(admin_op),
            writer_membership: sim.row(writer_op),
            setup: writer_op,
            sim,
            founder,
            admin,
            writer,
            channel,
        }
    }

    pub fn post(&mut self, author: &Keypair, parents: &[OpHash], body: &str) -> OpHash {
        let change =
            insert("Message", &[("channel", reference(self.channel)), ("sender", id(author)), ("body", text(body))]);
        self.sim.op(author, parents, vec![change])
    }

    pub fn set_role(&mut self, author: &Keypair, parents: &[OpHash], membership: RowId, role: &str) -> OpHash {
        self.sim.op(author, parents, vec![set("Membership", membership, "role", text(role))])
    }
}

pub fn membership(channel: RowId, member: &Keypair, role: &str) -> Change {
    insert("Membership", &[("channel", reference(channel)), ("member", id(member)), ("role", text(role))])
}

#[test]
fn s01_a_use_before_a_revoke_stays() {
    let mut chat = Chat::new();
    let (writer, founder, membership) = (chat.writer.clone(), chat.founder.clone(), chat.writer_membership);
    let message = chat.post(&writer, &[chat.setup], "hello");
    let revoke = chat.set_role(&founder, &[message], membership, "reader");
    assert_eq!(effectiveness(&chat.sim, &[message, revoke]), [true, true]);
}

#[test]
fn s02_a_use_concurrent_with_a_revoke_is_rolled_back() {
    let mut chat = Chat::new();
    let (writer, founder, membership) = (chat.writer.clone(), chat.founder.clone(), chat.writer_membership);
    let message = chat.post(&writer, &[chat.setup], "hello");
    let revoke = chat.set_role(&founder, &[chat.setup], membership, "reader");
    assert_eq!(effectiveness(&chat.sim, &[message, revoke]), [false, true]);
    // Before the revoke arrived, the message was effective: the later op flipped it.
    let before =
        History::new(&chat.sim.schema, &chat.sim.suite, &chat.sim.partial(&[chat.setup, message])).expect("history");
    assert!(before.effectiveness()[&message]);
    assert_eq!(chat.sim.history().state().rows("Message").len(), 0);
}

#[test]
fn s03_a_use_after_a_regrant_stays() {
    let mut chat = Chat::new();
    let (writer, founder, membership) = (chat.writer.clone(), chat.founder.clone(), chat.writer_membership);
    let revoke = chat.set_role(&founder, &[chat.setup], membership, "reader");
    let regrant = chat.set_role(&founder, &[revoke], membership, "writer");
    let message = chat.post(&writer, &[regrant], "back again");
    assert_eq!(effectiveness(&chat.sim, &[revoke, regrant, message]), [true, true, true]);
}

#[test]
fn s04_a_post_after_a_seen_revoke_is_not_admissible() {
    let mut chat = Chat::new();
    let (writer, founder, membership) = (chat.writer.clone(), chat.founder.clone(), chat.writer_membership);
    let revoke = chat.set_role(&founder, &[chat.setup], membership, "reader");
    let message = chat.post(&writer, &[revoke], "too late");
    let history = chat.sim.history();
    assert_eq!(history.admissible(&message), Some(false));
    assert!(!history.effectiveness()[&message]);
}

#[test]
fn s05_two_admins_revoking_each_other_concurrently_both_fail() {
    let mut chat = Chat::new();
    let founder = chat.founder.clone();
    let second = chat.sim.key();
    let second_op = chat.sim.op(&founder, &[chat.setup], vec![membership(chat.channel, &second, "admin")]);
    let second_membership = chat.sim.row(second_op);
    let admin = chat.admin.clone();
    let first_revokes = chat.set_role(&admin, &[second_op], second_membership, "reader");
    let admin_membership = chat.admin_membership;
    let second_revokes = chat.set_role(&second, &[second_op], admin_membership, "reader");
    assert_eq!(effectiveness(&chat.sim, &[first_revokes, second_revokes]), [false, false]);
    let history = chat.sim.history();
    assert_eq!(history.explain(&first_revokes).map(|explained| explained.defeated_by), Some(vec![second_revokes]));
    assert_eq!(history.explain(&second_revokes).map(|explained| explained.defeated_by), Some(vec![first_revokes]));
    let state = chat.sim.history().state();
    assert_eq!(state.row(&second_membership).map(|row| row["role"].clone()), Some(text("admin")));
}

#[test]
fn s06_a_revoke_by_someone_who_lost_the_right_concurrently_is_rolled_back_and_uses_reinstated() {
    let mut chat = Chat::new();
    let (admin, founder, writer) = (chat.admin.clone(), chat.founder.clone(), chat.writer.clone());
    let (admin_membership, writer_membership) = (chat.admin_membership, chat.writer_membership);
    let message = chat.post(&writer, &[chat.setup], "hello");
    let revoke = chat.set_role(&admin, &[chat.setup], writer_membership, "reader");
    // Without the demotion, the revoke defeats the message.
    let without = History::new(&chat.sim.schema, &chat.sim.suite, &chat.sim.partial(&[chat.setup, message, revoke]))
        .expect("history");
    assert!(!without.effectiveness()[&message]);
    // The founder demotes the admin concurrently: the revoke fails, the message is reinstated.
    let demotion = chat.set_role(&founder, &[chat.setup], admin_membership, "reader");
    assert_eq!(effectiveness(&chat.sim, &[demotion, revoke, message]), [true, false, true]);
}

#[test]
fn s07_a_cascade_three_levels_deep() {
    let mut chat = Chat::new();
    let (founder, admin) = (chat.founder.clone(), chat.admin.clone());
    let (second, third) = (chat.sim.key(), chat.sim.key());
    let grant_second = chat.sim.op(&admin, &[chat.setup], vec![membership(chat.channel, &second, "admin")]);
    let grant_third = chat.sim.op(&second, &[grant_second], vec![membership(chat.channel, &third, "writer")]);
    let message = chat.post(&third, &[grant_third], "deep");
    assert_eq!(effectiveness(&chat.sim, &[grant_second, grant_third, message]), [true, true, true]);
    // The founder demotes the first admin concurrently with the whole chain.
    let admin_membership = chat.admin_membership;
    let demotion = chat.set_role(&founder, &[chat.setup], admin_membership, "reader");
    assert_eq!(effectiveness(&chat.sim, &[demotion, grant_second, grant_third, message]), [true, false, false, false]);
}

#[test]
fn s08_not_exists_is_defeated_by_a_concurrent_insert() {
    let mut chat = Chat::new();
    let (writer, admin) = (chat.writer.clone(), chat.admin.clone());
    let message = chat.post(&writer, &[chat.setup], "regret");
    let message_row = chat.sim.row(message);
    let removal = chat.sim.op(&writer, &[message], vec![delete("Message", message_row)]);
    let ban = chat.sim.op(
        &admin,
        &[message],
        vec![insert("Ban", &[("channel", reference(chat.channel)), ("user", id(&writer))])],
    );
    assert_eq!(effectiveness(&chat.sim, &[removal, ban]), [false, true]);
    assert!(chat.sim.history().state().row(&message_row).is_some(), "the message stays");
}

#[test]
fn s09_a_delete_wins_over_a_concurrent_update() {
    let mut chat = Chat::new();
    let (founder, admin, channel) = (chat.founder.clone(), chat.admin.clone(), chat.channel);
    let removal = chat.sim.op(&founder, &[chat.setup], vec![delete("Channel", channel)]);
    let update = chat.sim.op(&admin, &[chat.setup], vec![set("Channel", channel, "topic", text("news"))]);
    assert_eq!(effectiveness(&chat.sim, &[removal, update]), [true, false]);
    assert!(chat.sim.history().state().row(&channel).is_none());
}

#[test]
fn s10_an_action_without_a_rule_is_denied() {
    let mut chat = Chat::new();
    let stranger = chat.sim.key();
    let message = chat.post(&stranger, &[chat.setup], "spam");
    let history = chat.sim.history();
    assert_eq!(history.admissible(&message), Some(false));
    assert!(!history.effectiveness()[&message]);
}

#[test]
fn s11_update_of_named_fields_is_checked_per_field() {
    let mut chat = Chat::new();
    let (writer, admin) = (chat.writer.clone(), chat.admin.clone());
    let message = chat.post(&writer, &[chat.setup], "original");
    let row = chat.sim.row(message);
    // A member may react, but only the sender may edit the body.
    let react = chat.sim.op(
        &admin,
        &[message],
        vec![edit("Message", row, vec![Edit::Add { field: "reactions".into(), elements: vec![text("+1")] }])],
    );
    let rewrite = chat.sim.op(&admin, &[react], vec![set("Message", row, "body", text("edited by admin"))]);
    let own_edit = chat.sim.op(&writer, &[react], vec![set("Message", row, "body", text("edited"))]);
    assert_eq!(effectiveness(&chat.sim, &[react, rewrite, own_edit]), [true, false, true]);
    assert_eq!(chat.sim.field(row, "body"), Some(text("edited")));
}

#[test]
fn s12_a_batch_is_effective_as_a_whole_or_not_at_all() {
    let mut chat = Chat::new();
    let (founder, writer) = (chat.founder.clone(), chat.writer.clone());
    let newcomer = chat.sim.key();
    // A valid membership and a message body edit the founder may not make: neither applies.
    let message = chat.post(&writer, &[chat.setup], "mine");
    let message_row = chat.sim.row(message);
    let batch = chat.sim.op(
        &founder,
        &[message],
        vec![membership(chat.channel, &newcomer, "writer"), set("Message", message_row, "body", text("not yours"))],
    );
    assert!(!chat.sim.effective(batch));
    let state = chat.sim.history().state();
    assert_eq!(state.rows("Membership").len(), 2, "the batch's membership did not apply");
    assert_eq!(state.row(&message_row).map(|row| row["body"].clone()), Some(text("mine")));
}

#[test]
fn s13_a_batch_sees_its_own_earlier_changes() {
    let mut chat = Chat::new();
    let founder = chat.founder.clone();
    let message = |chat: &Chat| {
        insert(
            "Message",
            &[("channel", reference(chat.channel)), ("sender", id(&chat.founder)), ("body", text("first post"))],
        )
    };
    // The owner makes itself a writer and posts, in one op: the post's rule sees the membership.
    let in_order =
        chat.sim.op(&founder, &[chat.setup], vec![membership(chat.channel, &founder, "writer"), message(&chat)]);
    assert!(chat.sim.effective(in_order));
    // The other way round, the post comes before the membership exists.
    let mut other = Chat::new();
    let founder = other.founder.clone();
    let reversed =
        other.sim.op(&founder, &[other.setup], vec![message(&other), membership(other.channel, &founder, "writer")]);
    assert!(!other.sim.effective(reversed));
}

#[test]
fn s14_validity_can_flip_and_flip_back() {
    let mut chat = Chat::new();
    let (admin, founder, writer) = (chat.admin.clone(), chat.founder.clone(), chat.writer.clone());
    let (admin_membership, writer_membership) = (chat.admin_membership, chat.writer_membership);
    let message = chat.post(&writer, &[chat.setup], "hello");
    let revoke = chat.set_role(&admin, &[chat.setup], writer_membership, "reader");
    let demotion = chat.set_role(&founder, &[chat.setup], admin_membership, "reader");
    let views =
        [vec![chat.setup, message], vec![chat.setup, message, revoke], vec![chat.setup, message, revoke, demotion]];
    let verdicts: Vec<bool> = views
        .iter()
        .map(|ops| {
            History::new(&chat.sim.schema, &chat.sim.suite, &chat.sim.partial(ops)).expect("history").effectiveness()
                [&message]
        })
        .collect();
    assert_eq!(verdicts, [true, false, true]);
}

#[test]
fn s15_the_founder_is_the_root_of_the_capability_chain() {
    let mut chat = Chat::new();
    let stranger = chat.sim.key();
    // Only a channel's owner or admins manage its memberships; a stranger cannot grant itself.
    let grab = chat.sim.op(&stranger, &[chat.setup], vec![membership(chat.channel, &stranger, "admin")]);
    assert!(!chat.sim.effective(grab));
}

#[test]
fn s16_an_equivocating_author_loses_its_ops_from_the_fork_on() {
    let mut chat = Chat::new();
    let writer = chat.writer.clone();
    let before = chat.post(&writer, &[chat.setup], "honest");
    let fork_a = chat.post(&writer, &[before], "fork a");
    // A second op with the same sequence number: roll the simulator's chain back by one.
    chat.sim.rewind(&writer, before);
    let fork_b = chat.post(&writer, &[before], "fork b");
    assert_eq!(effectiveness(&chat.sim, &[before, fork_a, fork_b]), [true, false, false]);
}

#[test]
fn s16b_an_equivocation_found_past_a_long_concurrent_branch_voids_that_branch_too() {
    let mut chat = Chat::new();
    let writer = chat.writer.clone();
    let before = chat.post(&writer, &[chat.setup], "honest");
    // More ops after the fork than the engine walks one by one (it reads the authors' chains
    // instead, and must not keep what they said before the second fork was stored).
    let mut branch = vec![chat.post(&writer, &[before], "fork a")];
    for index in 0..300 {
        let last = *branch.last().expect("a branch");
        branch.push(chat.post(&writer, &[last], &format!("after fork a, {index}")));
    }
    chat.sim.rewind(&writer, before);
    let fork_b = chat.post(&writer, &[before], "fork b");
    let mut ops = vec![before, fork_b];
    ops.extend([branch[0], branch[150], branch[300]]);
    assert_eq!(effectiveness(&chat.sim, &ops), [true, false, false, false, false]);
}

impl Sim {
    /// Makes the author's next op reuse a sequence number, as an equivocating author would.
    pub fn rewind(&mut self, author: &Keypair, to: OpHash) {
        let seq = self.ops.iter().find(|op| op.hash() == to).map(|op| op.op().seq).expect("known op");
        self.last.insert(author.identity.0, (seq, to));
    }
}

#[test]
fn s25_a_change_must_name_its_row_s_own_collection() {
    let mut chat = Chat::new();
    let (writer, admin) = (chat.writer.clone(), chat.admin.clone());
    let message = chat.post(&writer, &[chat.setup], "mine");
    let message_row = chat.sim.row(message);
    // Membership's delete rule would let an admin through; the row is a Message, though.
    let disguised = chat.sim.op(&admin, &[message], vec![delete("Membership", message_row)]);
    assert!(!chat.sim.effective(disguised));
    assert!(chat.sim.history().state().row(&message_row).is_some());
}

#[test]
fn s28_explain_names_the_rule_breaker_and_the_ops_that_defeated_an_op() {
    let mut chat = Chat::new();
    let (admin, founder, writer) = (chat.admin.clone(), chat.founder.clone(), chat.writer.clone());
    let (admin_membership, writer_membership) = (chat.admin_membership, chat.writer_membership);
    let message = chat.post(&writer, &[chat.setup], "hello");
    let revoke = chat.set_role(&admin, &[chat.setup], writer_membership, "reader");
    let late = chat.post(&writer, &[revoke], "after the revoke");
    {
        let history = chat.sim.history();
        let explained = history.explain(&message).expect("known op");
        assert!(explained.admissible && !explained.effective);
        assert_eq!((explained.failing_change, explained.defeated_by.clone()), (Some(0), vec![revoke]));
        assert_eq!(explained.author, writer.identity);
        let refused = history.explain(&late).expect("known op");
        assert!(!refused.admissible && refused.defeated_by.is_empty() && refused.failing_change == Some(0));
    }
    // The founder demotes the admin concurrently: now the revoke is the defeated one.
    let demotion = chat.set_role(&founder, &[chat.setup], admin_membership, "reader");
    let history = chat.sim.history();
    let revoke_explained = history.explain(&revoke).expect("known op");
    assert_eq!(revoke_explained.defeated_by, vec![demotion]);
    let message_explained = history.explain(&message).expect("known op");
    assert!(
        message_explained.effective
            && message_explained.defeated_by.is_empty()
            && message_explained.failing_change.is_none()
    );
}

/// Admins who each revoke the next one around a ring, all concurrently: the `n` revokes and the
/// ring's admins.
fn revoke_ring(n: usize) -> (Chat, Vec<OpHash>, Vec<Keypair>) {
    let mut chat = Chat::new();
    let founder = chat.founder.clone();
    let admins: Vec<Keypair> = (0..n).map(|_| chat.sim.key()).collect();
    let grants: Vec<Change> = admins.iter().map(|admin| membership(chat.channel, admin, "admin")).collect();
    let setup = chat.sim.op(&founder, &[chat.setup], grants);
    let memberships: Vec<RowId> =
        (0..n).map(|index| cairn::op::row_id(&chat.sim.suite, &setup, index as u32)).collect();
    let revokes = (0..n)
        .map(|index| chat.set_role(&admins[index].clone(), &[setup], memberships[(index + 1) % n], "reader"))
        .collect();
    (chat, revokes, admins)
}

#[test]
fn s29_two_admins_in_a_ring_of_revokes_keep_their_rights() {
    let (chat, revokes, _) = revoke_ring(2);
    assert_eq!(effectiveness(&chat.sim, &revokes), [false, false]);
}

#[test]
fn s30_three_admins_in_a_ring_of_revokes_all_lose_them() {
    let (chat, revokes, admins) = revoke_ring(3);
    assert_eq!(effectiveness(&chat.sim, &revokes), [true, true, true]);
    // Explain says why each revoke stood: in the world it was judged in, the revoke of its own
    // author was not effective, because the revoke before that one defeated it.
    let replica = chat.sim.deliver(&(0..chat.sim.op_count()).collect::<Vec<_>>());
    for index in 0..3 {
        let explanation = replica.explain(&revokes[index]).expect("reads").expect("held");
        let revoke_of_author = revokes[(index + 2) % 3];
        let there = explanation.judged_with.iter().find(|other| other.op == revoke_of_author).expect("listed");
        assert!(!there.effective, "{explanation}");
        assert_eq!(there.author, admins[(index + 2) % 3].identity);
        assert!(
            there.denial.as_ref().is_some_and(|denial| denial.to_string().contains("m.role = admin")),
            "{explanation}"
        );
        assert!(explanation.to_string().contains("was not effective"), "{explanation}");
    }
}

#[test]
fn s31_four_admins_in_a_ring_of_revokes_keep_their_rights() {
    let (chat, revokes, _) = revoke_ring(4);
    assert_eq!(effectiveness(&chat.sim, &revokes), [false, false, false, false]);
}

#[test]
fn s32_a_reference_to_a_row_of_another_collection_is_not_admissible() {
    let mut chat = Chat::new();
    let (writer, founder) = (chat.writer.clone(), chat.founder.clone());
    let message = chat.post(&writer, &[chat.setup], "hello");
    let message_row = chat.sim.row(message);
    // A membership whose `channel` names the message: refused, however it arrives.
    let stray = chat.sim.op(&founder, &[message], vec![membership(message_row, &writer, "admin")]);
    let history = chat.sim.history();
    assert_eq!(history.admissible(&stray), Some(false));
    assert!(!chat.sim.deliver(&(0..chat.sim.op_count()).collect::<Vec<_>>()).contains(&stray).expect("reads"));
    assert_eq!(effectiveness(&chat.sim, &[message, stray]), [true, false]);
}

#[test]
fn s33_a_row_and_a_row_that_refers_to_it_in_one_op() {
    let mut chat = Chat::new();
    let founder = chat.founder.clone();
    let newcomer = chat.sim.key();
    // Change 1 names the channel that change 0 inserts, as `[0]`.
    let channel = insert("Channel", &[("name", text("random")), ("owner", id(&founder))]);
    let grant = insert(
        "Membership",
        &[("channel", Value::Array(vec![Value::Int(0)])), ("member", id(&newcomer)), ("role", text("writer"))],
    );
    let both = chat.sim.op(&founder, &[chat.setup], vec![channel, grant]);
    let post = chat.post(&newcomer, &[both], "first");
    assert_eq!(effectiveness(&chat.sim, &[both, post]), [true, false], "the post names the general channel");
    let created = cairn::op::row_id(&chat.sim.suite, &both, 0);
    let membership = cairn::op::row_id(&chat.sim.suite, &both, 1);
    assert_eq!(chat.sim.field(membership, "channel"), Some(reference(created)));
    let in_new_channel =
        insert("Message", &[("channel", reference(created)), ("sender", id(&newcomer)), ("body", text("hi"))]);
    let post = chat.sim.op(&newcomer, &[both], vec![in_new_channel]);
    assert_eq!(effectiveness(&chat.sim, &[post]), [true]);
}

#[test]
fn s34_a_ban_within_one_batch_stops_the_deletes_after_it() {
    let mut chat = Chat::new();
    let (writer, admin) = (chat.writer.clone(), chat.admin.clone());
    let first = chat.post(&writer, &[chat.setup], "one");
    let second = chat.post(&writer, &[first], "two");
    // The delete looks the writer's ban up and finds none. Delivered in one batch, the engine
    // may remember that lookup for the transaction: the ban must make it forget.
    let allowed = chat.sim.op(&writer, &[second], vec![delete("Message", chat.sim.row(first))]);
    let ban = insert("Ban", &[("channel", reference(chat.channel)), ("user", id(&writer))]);
    let ban = chat.sim.op(&admin, &[allowed], vec![ban]);
    let refused = chat.sim.op(&writer, &[ban], vec![delete("Message", chat.sim.row(second))]);
    assert_eq!(effectiveness(&chat.sim, &[allowed, ban]), [true, true]);
    assert_eq!(chat.sim.history().admissible(&refused), Some(false));
}
