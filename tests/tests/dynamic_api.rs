//! The chat scenario written as a newcomer would, through the public API of `cairn` only: two
//! replicas, a write a rule denies, a revoke concurrent with a post, explain, and a consumer.

use cairn::{Cause, Ed25519Blake3, Edit, EventKind, Keypair, Order, Replica, Storage, Value};

fn schema() -> cairn::Schema {
    cairn::load_schema(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/chat.schema")).expect("chat.schema")
}

/// Gives `to` every op `from` holds.
fn send(from: &Replica, to: &Replica) {
    let ops = from.export(&[]).expect("export");
    for result in to.ingest_batch(&ops.iter().map(Vec::as_slice).collect::<Vec<_>>()) {
        result.expect("accepted");
    }
}

#[test]
fn the_chat_scenario_through_the_public_api() {
    let (founder, writer) = (Keypair::generate(&Ed25519Blake3), Keypair::generate(&Ed25519Blake3));
    let ours = Replica::create(Storage::Memory, &founder, schema()).expect("create");
    let (_, rows) = ours
        .transaction(&founder, |tx| {
            tx.insert("Channel", [("name", Value::from("general")), ("owner", founder.identity.into())]);
        })
        .expect("channel");
    let channel = rows[0];
    let (_, rows) = ours
        .transaction(&founder, |tx| {
            let member = [("channel", channel.into()), ("member", writer.identity.into()), ("role", "writer".into())];
            tx.insert("Membership", member);
        })
        .expect("membership");
    let membership = rows[0];
    let theirs = Replica::join(Storage::Memory, ours.id(), schema()).expect("join");
    send(&ours, &theirs);
    // A rule denies a stranger's channel; the error names the rule and the clause that failed.
    let denied = theirs.transaction(&writer, |tx| {
        tx.insert("Channel", [("name", Value::from("x")), ("owner", founder.identity.into())]);
    });
    let message = denied.expect_err("denied").to_string();
    assert!(message.contains("allow insert if owner = op.author"), "{message}");
    // The writer posts (sender defaults to op.author) while the founder demotes it.
    let (post, rows) = theirs
        .transaction(&writer, |tx| {
            tx.insert("Message", [("channel", channel.into()), ("body", "hello".into())]);
        })
        .expect("post");
    assert_eq!(theirs.get("Message", &rows[0]).expect("get").expect("visible")["sender"], writer.identity.into());
    let (demotion, _) = ours
        .transaction(&founder, |tx| {
            tx.update("Membership", membership, vec![Edit::set("role", "reader")]);
        })
        .expect("demote");
    send(&ours, &theirs);
    send(&theirs, &ours);
    assert_eq!(ours.digest().expect("digest"), theirs.digest().expect("digest"));
    for replica in [&ours, &theirs] {
        assert_eq!(replica.is_effective(&post.hash()).expect("held"), Some(false));
        assert!(replica.query("Message").rows().expect("query").is_empty());
        let explanation = replica.explain(&post.hash()).expect("explain").expect("held");
        assert_eq!(explanation.defeated_by, vec![(demotion.hash(), founder.identity)]);
        assert!(explanation.to_string().contains("defeated by"), "{explanation}");
    }
    // The writer's consumer sees its post appear, then vanish because it was rolled back.
    let mut consumer = theirs.consumer("ui").expect("consumer");
    let events = consumer.poll(100).expect("events");
    let vanished = events.iter().find(|event| event.kind == EventKind::RowDeleted).expect("the post vanished");
    assert_eq!((vanished.cause, vanished.op), (Cause::RolledBack, post.hash()));
    let rollback = events.iter().find(|event| event.kind == EventKind::OpRolledBack).expect("a rollback");
    assert_eq!(rollback.by, Some(demotion.hash()));
    consumer.commit(events.last().expect("events").seq).expect("commit");
    assert!(theirs.consumer("ui").expect("consumer").poll(100).expect("events").is_empty());
    // Reads come back in the order the inserts happened, or by a field.
    let roles: Vec<Value> = ours
        .query("Membership")
        .order(Order::by("role"))
        .rows()
        .expect("rows")
        .iter()
        .map(|row| row["role"].clone())
        .collect();
    assert_eq!(roles, vec![Value::from("reader")]);
}

#[test]
fn misspelled_names_get_the_compilers_hint() {
    let founder = Keypair::generate(&Ed25519Blake3);
    let replica = Replica::create(Storage::Memory, &founder, schema()).expect("create");
    let unknown = replica.query("Chanel").rows().expect_err("no such collection").to_string();
    assert!(unknown.contains("did you mean `Channel`?"), "{unknown}");
    let field = replica.query("Channel").filter("nmae", "general").rows().expect_err("no such field").to_string();
    assert!(field.contains("did you mean `name`?"), "{field}");
    let write = replica.transaction(&founder, |tx| {
        tx.insert("Channel", [("name", Value::from("general")), ("ownr", founder.identity.into())]);
    });
    let write = write.expect_err("no such field").to_string();
    assert!(write.contains("did you mean `owner`?"), "{write}");
}

#[test]
fn rows_come_back_in_insertion_order_by_default() {
    let founder = Keypair::generate(&Ed25519Blake3);
    let replica = Replica::create(Storage::Memory, &founder, schema()).expect("create");
    for name in ["zeta", "alpha", "mu", "beta"] {
        replica
            .transaction(&founder, |tx| {
                tx.insert("Channel", [("name", Value::from(name)), ("owner", founder.identity.into())]);
            })
            .expect("insert");
    }
    let names = |order: Order| -> Vec<String> {
        let rows = replica.query("Channel").order(order).rows().expect("rows");
        rows.iter().map(|row| row["name"].as_str().expect("a name").to_owned()).collect()
    };
    assert_eq!(names(Order::Inserted), ["zeta", "alpha", "mu", "beta"]);
    assert_eq!(names(Order::by("name")), ["alpha", "beta", "mu", "zeta"]);
    assert_eq!(names(Order::by_descending("name")), ["zeta", "mu", "beta", "alpha"]);
    let first = replica.query("Channel").limit(2).rows().expect("rows");
    assert_eq!(first.len(), 2);
    assert_eq!(replica.query("Channel").filter("name", "mu").count().expect("count"), 1);
}

#[test]
fn related_rows_are_created_in_one_op_and_references_name_rows_of_their_collection() {
    let founder = Keypair::generate(&Ed25519Blake3);
    let replica = Replica::create(Storage::Memory, &founder, schema()).expect("create");
    let (_, rows) = replica
        .transaction(&founder, |tx| {
            let channel = tx.insert("Channel", [("name", Value::from("general")), ("owner", founder.identity.into())]);
            tx.insert(
                "Membership",
                [("channel", channel.into()), ("member", founder.identity.into()), ("role", "admin".into())],
            );
        })
        .expect("one op");
    let membership = replica.get("Membership", &rows[1]).expect("get").expect("visible");
    assert_eq!(membership["channel"].as_row_id(), Some(rows[0]));
    // A `ref Channel` that names a membership is refused before anything is signed.
    let stray = replica.transaction(&founder, |tx| {
        tx.insert(
            "Membership",
            [("channel", rows[1].into()), ("member", founder.identity.into()), ("role", "admin".into())],
        );
    });
    let message = stray.expect_err("a dangling reference").to_string();
    assert!(message.contains("is not a visible row of `Channel`"), "{message}");
}
