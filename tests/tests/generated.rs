//! The generated chat module driven end to end, as an app uses it: two replicas, a write a rule
//! denies and one it allows, a post concurrent with its author's demotion rolled back on both
//! sides, typed queries, typed events and consumers, compiled checks, and a store of another
//! schema refused.

use cairn::{Cause, Ed25519Blake3, Keypair, OpenError, PayloadError, WriteError};
use cairn_tests::chat::{self, Db, Event, NewChannel, NewMembership, NewMessage, Role};

/// Delivers every op each replica holds to the other.
fn sync(left: &Db, right: &Db) {
    for (from, to) in [(left, right), (right, left)] {
        let ops = from.replica().export(&[]).expect("export");
        let slices: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
        for result in to.replica().ingest_batch(&slices) {
            result.expect("ingest");
        }
    }
}

#[test]
fn the_chat_story_through_generated_types() {
    let (founder, writer) = (Keypair::generate(&Ed25519Blake3), Keypair::generate(&Ed25519Blake3));
    let ours = Db::create_in_memory(founder.clone()).expect("create");
    let (committed, (channel, membership)) = ours
        .transaction(|tx| {
            let channel = tx.channel().insert(NewChannel::new("general", founder.identity));
            let membership = tx.membership().insert(NewMembership::new(channel, writer.identity, Role::Writer));
            (channel, membership)
        })
        .expect("setup");
    let channel = committed.row(channel).expect("the channel's id");
    let membership = committed.row(membership).expect("the membership's id");
    let theirs = Db::join_in_memory(ours.id(), writer.clone()).expect("join");
    sync(&ours, &theirs);
    assert_eq!(theirs.channel().get(channel).expect("get").expect("visible").name, "general");

    // A rule denies: only the owner (or an admin) renames a channel.
    let denied = theirs.channel().update(channel).name("mine").apply();
    assert!(matches!(denied, Err(WriteError::Denied(_))), "{denied:?}");
    // A rule allows: a writer posts; `sender` takes its default, the author.
    let hello = theirs.message().insert(NewMessage::new(channel, "hello")).expect("post");
    assert_eq!(theirs.message().get(hello).expect("get").expect("visible").sender, writer.identity);
    sync(&ours, &theirs);

    // Concurrently: the founder demotes the writer, who posts again without having seen it.
    ours.membership().update(membership).role(Role::Reader).apply().expect("demote");
    let late = theirs.message().insert(NewMessage::new(channel, "late")).expect("post");
    sync(&ours, &theirs);
    for db in [&ours, &theirs] {
        let bodies: Vec<String> = db
            .message()
            .query()
            .where_channel(channel)
            .rows()
            .expect("query")
            .into_iter()
            .map(|row| row.body)
            .collect();
        assert_eq!(bodies, ["hello"], "the late post is rolled back on every replica");
        assert_eq!(db.message().query().count().expect("count"), 1);
    }
    assert_eq!(ours.replica().digest().expect("digest"), theirs.replica().digest().expect("digest"));

    // Typed events: the late post appeared, then was rolled back.
    let events: Vec<Event> = theirs.events_after(0, 100).expect("events").into_iter().map(|(_, event)| event).collect();
    assert!(events.iter().any(|event| matches!(event, Event::MessageInserted { row, .. } if row.id == late)));
    assert!(events.iter().any(|event| matches!(event, Event::OpRolledBack { .. })));
    assert!(events
        .iter()
        .any(|event| matches!(event, Event::MessageDeleted { id, cause: Cause::RolledBack, .. } if *id == late)));
    assert!(events
        .iter()
        .any(|event| matches!(event, Event::MembershipUpdated { changes, .. } if changes.role == Some(Role::Reader))));
    let late_op = theirs
        .replica()
        .log()
        .expect("log")
        .into_iter()
        .find(|logged| !logged.effective)
        .expect("an op that is not effective");
    let explanation = theirs.explain(&late_op.hash).expect("explain").expect("known");
    assert!(!explanation.effective);

    // A consumer resumes after what it committed.
    let mut consumer = theirs.consumer("feed").expect("consumer");
    let batch = consumer.poll(1_000).expect("poll");
    assert_eq!(batch.len(), events.len());
    consumer.commit(batch.last().expect("events").0).expect("commit");
    assert!(theirs.consumer("feed").expect("consumer").poll(10).expect("poll").is_empty());
}

#[test]
fn compiled_checks_refuse_a_row_before_it_is_signed() {
    let founder = Keypair::generate(&Ed25519Blake3);
    let db = Db::create_in_memory(founder.clone()).expect("create");
    let before = db.replica().op_count().expect("count");
    let refused = db.channel().insert(NewChannel::new("", founder.identity));
    assert!(
        matches!(&refused, Err(WriteError::Payload(PayloadError::CheckFailed { field, .. })) if field == "name"),
        "{refused:?}"
    );
    assert_eq!(db.replica().op_count().expect("count"), before, "nothing was written");
    let channel = db.channel().insert(NewChannel::new("ok", founder.identity)).expect("insert");
    let row = db.channel().get(channel).expect("get").expect("visible");
    assert_eq!(row.check(), Ok(()));
    let too_long = chat::Channel { name: "x".repeat(65), ..row };
    assert_eq!(too_long.check(), Err("name"));
}

#[test]
fn a_store_of_another_schema_is_refused() {
    let directory = std::env::temp_dir().join(format!("cairn-generated-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("directory");
    let path = directory.join("chat.redb");
    let key = Keypair::generate(&Ed25519Blake3);
    drop(Db::create(&path, key.clone()).expect("create"));
    let refused = cairn_tests::taskboard::Db::open(&path, key.clone());
    assert!(matches!(refused, Err(OpenError::SchemaMismatch { .. })), "{refused:?}");
    assert!(Db::open(&path, key).is_ok());
    std::fs::remove_dir_all(&directory).expect("clean up");
}

#[test]
fn builder_options_shape_the_generated_types() {
    use cairn_tests::custom::{taskboard, Estimate};
    let owner = Keypair::generate(&Ed25519Blake3);
    let db = taskboard::Db::create_in_memory(owner.clone()).expect("create");
    let board = db.board().insert(taskboard::NewBoard::new("Launch")).expect("board");
    let mut task = taskboard::NewTask::new(board, "Write the guide");
    task.estimate = Some(Estimate { points: 3, confidence: Some(0.5) });
    let task = db.task().insert(task).expect("task");
    let estimate: Option<Estimate> = db.task().get(task).expect("get").expect("visible").estimate;
    assert_eq!(estimate, Some(Estimate { points: 3, confidence: Some(0.5) }));
    let row = db.board().get(board).expect("get").expect("visible");
    let hashed: std::collections::HashSet<taskboard::Board> = [row.clone()].into_iter().collect();
    assert!(hashed.contains(&row));
    let json = serde_json::to_value(&row).expect("serialize");
    assert_eq!(json["name"], "Launch", "{json}");
}

#[test]
fn a_new_row_belongs_to_its_own_transaction() {
    let key = Keypair::generate(&Ed25519Blake3);
    let db = Db::create_in_memory(key.clone()).expect("create");
    let (first, channel) = db.transaction(|tx| tx.channel().insert(NewChannel::new("one", key.identity))).expect("one");
    // Used in a later transaction, it is refused, not taken for that transaction's change 0.
    let refused = db.transaction(|tx| {
        tx.channel().insert(NewChannel::new("two", key.identity));
        tx.membership().insert(NewMembership::new(channel, key.identity, Role::Admin));
    });
    assert!(matches!(refused, Err(WriteError::Payload(PayloadError::ChangeReference { .. }))), "{refused:?}");
    let (second, _) = db.transaction(|tx| tx.channel().insert(NewChannel::new("three", key.identity))).expect("three");
    assert_eq!(second.row(channel), None);
    assert!(first.row(channel).is_some());
}

#[test]
fn an_insert_carries_only_the_fields_that_were_set() {
    use cairn::typed::Insert;
    let key = Keypair::generate(&Ed25519Blake3);
    let db = Db::create_in_memory(key.clone()).expect("create");
    let channel = db.channel().insert(NewChannel::new("general", key.identity)).expect("channel");
    db.membership().insert(NewMembership::new(channel, key.identity, Role::Admin)).expect("membership");
    // Left at their start (no sender: its default; no reactions; zero likes), fields stay out.
    let plain = NewMessage::new(channel, "hello");
    let names: Vec<&str> = plain.clone().into_fields().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["channel", "body"]);
    // Set, they go in, and read back as set.
    let mut set = NewMessage::new(channel, "hi");
    set.reactions.insert("👋".to_owned());
    set.likes = 2;
    let mut names: Vec<&str> = set.clone().into_fields().into_iter().map(|(name, _)| name).collect();
    names.sort_unstable();
    assert_eq!(names, ["body", "channel", "likes", "reactions"]);
    let (plain, set) = (db.message().insert(plain).expect("plain"), db.message().insert(set).expect("set"));
    let plain = db.message().get(plain).expect("get").expect("visible");
    assert_eq!((plain.sender, plain.reactions.len(), plain.likes), (key.identity, 0, 0));
    let set = db.message().get(set).expect("get").expect("visible");
    assert_eq!((set.reactions.into_iter().collect::<Vec<_>>(), set.likes), (vec!["👋".to_owned()], 2));
    let mut topical = NewChannel::new("news", key.identity);
    topical.topic = Some("Today".into());
    let topical = db.channel().insert(topical).expect("topical");
    assert_eq!(db.channel().get(topical).expect("get").expect("visible").topic.as_deref(), Some("Today"));
}

#[test]
fn a_typed_query_over_another_collection_is_refused() {
    let key = Keypair::generate(&Ed25519Blake3);
    let db = Db::create_in_memory(key.clone()).expect("create");
    db.channel().insert(NewChannel::new("general", key.identity)).expect("channel");
    let wrong = cairn::typed::TypedQuery::<chat::Message>::new(db.replica().query("Channel")).rows();
    assert!(
        matches!(&wrong, Err(cairn::QueryError::Row(cairn::RowDecodeError::Collection { expected, found }))
            if expected == "Message" && found == "Channel"),
        "{wrong:?}"
    );
}
