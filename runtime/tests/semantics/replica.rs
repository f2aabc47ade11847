//! The engine through the replica's API: denied writes, dry runs, rules and attestations at
//! ingest, queries, flips in the event stream, and explanations.

use crate::chat::{membership, Chat};
use crate::*;
use cairn::op::Edit;
use cairn::DenialReason;
use cairn::{IngestError, WriteError};

/// A replica holding the chat setup, and the setup's ops.
fn chat_replica() -> (Chat, Replica) {
    let chat = Chat::new();
    let order: Vec<usize> = (0..chat.sim.op_count()).collect();
    let replica = chat.sim.deliver(&order);
    (chat, replica)
}

fn post(chat: &Chat, author: &Keypair, body: &str) -> Change {
    insert("Message", &[("channel", reference(chat.channel)), ("sender", id(author)), ("body", text(body))])
}

#[test]
fn a_denied_write_names_the_rule_and_its_failing_clause_and_writes_nothing() {
    let (chat, replica) = chat_replica();
    let stranger = chat.sim.key();
    let (ops, events) = (replica.op_count().expect("count"), replica.last_event().expect("events"));
    let Err(WriteError::Denied(denial)) = replica.write(&stranger, vec![post(&chat, &stranger, "hi")]) else {
        panic!("a stranger's post is denied");
    };
    assert_eq!((denial.change, denial.collection.as_str(), denial.action), (0, "Message", "insert"));
    let DenialReason::RulesFailed(rules) = &denial.reason else { panic!("{denial}") };
    assert_eq!(rules.len(), 1);
    assert!(rules[0].text.starts_with("allow insert if sender = op.author"), "{}", rules[0].text);
    assert!(rules[0].clause.starts_with("exists Membership m where"), "{}", rules[0].clause);
    assert_eq!((replica.op_count().expect("count"), replica.last_event().expect("events")), (ops, events));
    // A dry run says the same, and a member's post is allowed, witnessed by the membership.
    assert!(matches!(
        replica.authorize(&stranger.identity, vec![post(&chat, &stranger, "hi")]),
        Err(WriteError::Denied(_))
    ));
    let attestations =
        replica.authorize(&chat.writer.identity, vec![post(&chat, &chat.writer, "hi")]).expect("allowed");
    assert_eq!(attestations.len(), 1);
    assert_eq!(attestations[0].witnesses[0].row, chat.writer_membership);
    // A check the op alone decides fails before any rule is read.
    let long = "x".repeat(4001);
    let result = replica.write(&chat.writer, vec![post(&chat, &chat.writer, &long)]);
    assert!(matches!(result, Err(WriteError::Payload(_))), "{result:?}");
    // An update of a row that does not exist names it.
    let missing = RowId([9; 32]);
    let Err(WriteError::Denied(denial)) =
        replica.write(&chat.founder, vec![set("Channel", missing, "topic", text("x"))])
    else {
        panic!("an update of a missing row is denied");
    };
    assert_eq!(denial.reason, DenialReason::NoSuchRow(missing));
}

#[test]
fn ingest_refuses_ops_that_break_rules_or_carry_false_attestations() {
    let (chat, replica) = chat_replica();
    // A stranger's post, signed and well formed, on top of the setup.
    let mut sim = chat.sim;
    let stranger = sim.key();
    let forged = sim.op(&stranger, &[chat.setup], vec![post_in(chat.channel, &stranger)]);
    let forged = sim.op_bytes(forged);
    assert!(matches!(replica.ingest(&forged), Err(IngestError::Denied { .. })));
    assert!(matches!(replica.ingest(&forged), Err(IngestError::PreviouslyRejected { .. })), "remembered");
    // A writer's genuine post, written on another replica with its attestation...
    let writer_replica = sim.deliver(&(0..4).collect::<Vec<_>>());
    let genuine = writer_replica.write(&chat.writer, vec![post_in(chat.channel, &chat.writer)]).expect("allowed");
    assert_eq!(genuine.op().attestations.len(), 1);
    // ...re-signed with a witness version that is not the membership's.
    let mut op = genuine.op().clone();
    op.attestations[0].witnesses[0].version = sim.genesis;
    let tampered = cairn::op::Op { signature: [0; 64], ..op }.sign(&sim.suite, &chat.writer.secret);
    let result = replica.ingest(tampered.bytes());
    assert!(matches!(result, Err(IngestError::Attestation { .. })), "{result:?}");
    // The genuine one is accepted.
    assert!(matches!(replica.ingest(genuine.bytes()), Ok(cairn::Ingested::Accepted(_))));
}

#[test]
fn an_attested_witness_settles_an_exists_only_when_it_satisfies_the_condition() {
    let (chat, replica) = chat_replica();
    let mut sim = chat.sim;
    let stranger = sim.key();
    let witnessed_by =
        |author: &Keypair| replica.authorize(&author.identity, vec![post_in(chat.channel, author)]).expect("allowed");
    let (writers, admins) = (witnessed_by(&chat.writer), witnessed_by(&chat.admin));
    assert_eq!(admins[0].witnesses[0].row, chat.admin_membership);
    // A post on the setup, re-signed with the attestations given.
    let mut attested = |author: &Keypair, attestations: cairn::Attestations| {
        let hash = sim.op(author, &[chat.setup], vec![post_in(chat.channel, author)]);
        let op = cairn::op::Op::decode(&sim.op_bytes(hash)).expect("decodes");
        cairn::op::Op { attestations, signature: [0; 64], ..op }.sign(&sim.suite, &author.secret)
    };
    // The writer's membership is a visible row at that version, so the attestation holds, but
    // it is not the stranger's: the rule fails.
    let result = replica.ingest(attested(&stranger, writers).bytes());
    assert!(matches!(result, Err(IngestError::Denied { .. })), "{result:?}");
    // The admin's membership is not the writer's either, but the writer's own is found.
    let result = replica.ingest(attested(&chat.writer, admins).bytes());
    assert!(matches!(result, Ok(cairn::Ingested::Accepted(_))), "{result:?}");
    replica.check_integrity().expect("the materialized state matches the log");
}

fn post_in(channel: RowId, author: &Keypair) -> Change {
    insert("Message", &[("channel", reference(channel)), ("sender", id(author)), ("body", text("hello"))])
}

#[test]
fn a_late_revoke_rolls_uses_back_and_a_late_demotion_reinstates_them() {
    let (chat, replica) = chat_replica();
    let mut sim = chat.sim;
    let (writer, admin, founder) = (chat.writer.clone(), chat.admin.clone(), chat.founder.clone());
    let posts: Vec<OpHash> = (0..3)
        .scan(chat.setup, |last, index| {
            *last = sim.op(&writer, &[*last], vec![post_in(chat.channel, &writer)]);
            let _ = index;
            Some(*last)
        })
        .collect();
    for post in &posts {
        replica.ingest(&sim.op_bytes(*post)).expect("post");
    }
    assert_eq!(replica.rows("Message", &[]).expect("rows").len(), 3);
    let before = replica.last_event().expect("events");
    // The admin demoted the writer concurrently with the posts.
    let revoke = sim.op(&admin, &[chat.setup], vec![set("Membership", chat.writer_membership, "role", text("reader"))]);
    replica.ingest(&sim.op_bytes(revoke)).expect("revoke");
    let events = replica.events_after(before, usize::MAX).expect("events");
    let kinds = |kind: EventKind| events.iter().filter(|event| event.kind == kind).count();
    assert_eq!((kinds(EventKind::OpRolledBack), kinds(EventKind::RowDeleted)), (3, 3));
    assert!(replica.rows("Message", &[]).expect("rows").is_empty());
    let explained = replica.explain(&posts[0]).expect("reads").expect("held");
    assert!(!explained.effective);
    assert_eq!(explained.defeated_by, vec![(revoke, admin.identity)]);
    // The founder demoted the admin concurrently with the revoke: the posts come back.
    let before = replica.last_event().expect("events");
    let demotion =
        sim.op(&founder, &[chat.setup], vec![set("Membership", chat.admin_membership, "role", text("reader"))]);
    replica.ingest(&sim.op_bytes(demotion)).expect("demotion");
    let events = replica.events_after(before, usize::MAX).expect("events");
    let reinstated: Vec<OpHash> =
        events.iter().filter(|event| event.kind == EventKind::OpReinstated).map(|event| event.op).collect();
    assert_eq!(reinstated.len(), 3);
    assert!(posts.iter().all(|post| reinstated.contains(post)));
    assert_eq!(replica.rows("Message", &[]).expect("rows").len(), 3);
    let seqs: Vec<u64> = replica.events_after(0, usize::MAX).expect("events").iter().map(|event| event.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "sequence numbers have no gaps");
    replica.check_integrity().expect("the materialized state matches the log");
}

#[test]
fn queries_filter_by_field_through_the_index_and_by_scan() {
    let (chat, replica) = chat_replica();
    let reader = chat.sim.key();
    replica.write(&chat.founder, vec![membership(chat.channel, &reader, "reader")]).expect("member");
    let admins = replica.rows("Membership", &[("role".into(), text("admin"))]).expect("rows");
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].id, chat.admin_membership);
    let by_member =
        replica.rows("Membership", &[("member".into(), id(&reader)), ("role".into(), text("reader"))]).expect("rows");
    assert_eq!(by_member.len(), 1);
    assert_eq!(replica.rows("Membership", &[]).expect("rows").len(), 3);
    assert!(replica.rows("Membership", &[("role".into(), text("nobody"))]).expect("rows").is_empty());
    let channel = replica.get("Channel", &chat.channel).expect("reads").expect("visible");
    assert_eq!(channel["name"], text("general"));
    assert_eq!(replica.get("Membership", &chat.channel).expect("reads"), None, "another collection's row");
    // After a role change, the index follows the current value.
    replica
        .write(&chat.founder, vec![set("Membership", chat.admin_membership, "role", text("writer"))])
        .expect("demote");
    assert!(replica.rows("Membership", &[("role".into(), text("admin"))]).expect("rows").is_empty());
    assert_eq!(replica.rows("Membership", &[("role".into(), text("writer"))]).expect("rows").len(), 2);
    // The digest is that of the reference state of the same ops.
    let ops: Vec<VerifiedOp> = replica
        .log()
        .expect("log")
        .into_iter()
        .map(|entry| {
            cairn::op::verify(&chat.sim.suite, vec![(entry.op, entry.bytes)]).pop().expect("one").expect("valid")
        })
        .collect();
    let reference = History::new(&chat.sim.schema, &chat.sim.suite, &ops).expect("history");
    assert_eq!(replica.digest().expect("digest").0, reference.state().digest());
}

#[test]
fn following_the_stream_yields_events_as_they_are_written() {
    let (chat, replica) = chat_replica();
    let start = replica.last_event().expect("events");
    std::thread::scope(|scope| {
        let follower = scope.spawn(|| {
            replica
                .follow(start, std::time::Duration::from_millis(5))
                .take(2)
                .map(|event| event.expect("event").kind)
                .collect::<Vec<_>>()
        });
        std::thread::sleep(std::time::Duration::from_millis(30));
        let op = replica.write(&chat.writer, vec![post_in(chat.channel, &chat.writer)]).expect("post");
        let row = replica.row_id(&op.hash(), 0);
        replica.write(&chat.writer, vec![delete("Message", row)]).expect("delete");
        assert_eq!(follower.join().expect("follower"), [EventKind::RowInserted, EventKind::RowDeleted]);
    });
}

/// Many members react to one message concurrently: each reaction is judged in a set without
/// the others, and none of them reads what the others write.
#[test]
fn concurrent_updates_of_one_row_do_not_compound() {
    let mut chat = Chat::new();
    let founder = chat.founder.clone();
    let members: Vec<Keypair> = (0..24).map(|_| chat.sim.key()).collect();
    let grants: Vec<Change> = members.iter().map(|member| membership(chat.channel, member, "reader")).collect();
    let granted = chat.sim.op(&founder, &[chat.setup], grants);
    let writer = chat.writer.clone();
    let posted = chat.sim.op(&writer, &[granted], vec![post_in(chat.channel, &writer)]);
    let message = chat.sim.row(posted);
    for (index, member) in members.iter().enumerate() {
        let reaction = Edit::Add { field: "reactions".into(), elements: vec![text(&format!("r{index}"))] };
        chat.sim.op(member, &[posted], vec![edit("Message", message, vec![reaction])]);
    }
    let replica = chat.sim.deliver(&(0..chat.sim.op_count()).collect::<Vec<_>>());
    let row = replica.get("Message", &message).expect("reads").expect("visible");
    let Value::Array(reactions) = &row["reactions"] else { panic!("reactions are a set") };
    let reactions: std::collections::BTreeSet<String> = reactions
        .iter()
        .map(|reaction| match reaction {
            Value::Text(text) => text.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(reactions, (0..24).map(|index| format!("r{index}")).collect());
}

/// Many admins change one member's role concurrently. Each change's rule reads its author's
/// membership, not the member's role, so none waits on the others: all are effective, and the
/// register keeps the write with the greatest (depth, hash).
#[test]
fn concurrent_role_changes_by_many_admins_do_not_compound() {
    let mut chat = Chat::new();
    let founder = chat.founder.clone();
    let admins: Vec<Keypair> = (0..20).map(|_| chat.sim.key()).collect();
    let grants: Vec<Change> = admins.iter().map(|admin| membership(chat.channel, admin, "admin")).collect();
    let granted = chat.sim.op(&founder, &[chat.setup], grants);
    let roles = ["reader", "writer"];
    let changes: Vec<OpHash> = admins
        .iter()
        .enumerate()
        .map(|(index, admin)| {
            let role = text(roles[index % 2]);
            chat.sim.op(admin, &[granted], vec![set("Membership", chat.writer_membership, "role", role)])
        })
        .collect();
    let replica = chat.sim.deliver(&(0..chat.sim.op_count()).collect::<Vec<_>>());
    for change in &changes {
        assert_eq!(replica.is_effective(change).expect("reads"), Some(true));
    }
    let winner = changes.iter().max().expect("changes");
    let index = changes.iter().position(|change| change == winner).expect("winner");
    let row = replica.get("Membership", &chat.writer_membership).expect("reads").expect("visible");
    assert_eq!(row["role"], text(roles[index % 2]));
}

/// Ops whose parents are far below the heads: more than the walk budget of concurrent ops, so
/// their past is found from version vectors. A stranger's op on the genesis is refused; the
/// founder's revoke on the setup rolls back every concurrent post.
#[test]
fn ops_on_old_parents_are_judged_in_their_past() {
    let (chat, replica) = chat_replica();
    let mut sim = chat.sim;
    let writer = chat.writer.clone();
    let mut last = chat.setup;
    for _ in 0..300 {
        last = sim.op(&writer, &[last], vec![post_in(chat.channel, &writer)]);
        replica.ingest(&sim.op_bytes(last)).expect("post");
    }
    assert_eq!(replica.rows("Message", &[]).expect("rows").len(), 300);
    let stranger = sim.key();
    let genesis = sim.genesis;
    let junk = sim.op(&stranger, &[genesis], vec![post_in(chat.channel, &stranger)]);
    assert!(matches!(replica.ingest(&sim.op_bytes(junk)), Err(IngestError::Denied { .. })));
    let founder = chat.founder.clone();
    let revoke =
        sim.op(&founder, &[chat.setup], vec![set("Membership", chat.writer_membership, "role", text("reader"))]);
    assert!(matches!(replica.ingest(&sim.op_bytes(revoke)), Ok(cairn::Ingested::Accepted(_))));
    assert!(replica.rows("Message", &[]).expect("rows").is_empty());
    replica.check_integrity().expect("consistent");
}
