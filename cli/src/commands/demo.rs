//! `cairn demo`: the whole story on the built-in chat schema, as a transcript. Two replicas in a
//! temporary folder, a founder and a writer; a write a rule denies; a sync over loopback TCP
//! with Noise; a post concurrent with the writer's demotion, rolled back on both sides once
//! they sync; and `explain` saying why.

use crate::context::Context;
use crate::Failure;
use cairn::net::{self, SyncOptions, SyncReport};
use cairn::{Ed25519Blake3, Edit, EventKind, Keypair, Replica, Storage, Value};
use std::path::PathBuf;
use std::sync::Arc;

const CHAT: &str = include_str!("../../../schemas/chat.schema");

/// The demo's folder, removed when the demo ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn demo(cx: &Context) -> Result<(), Failure> {
    let scratch = Scratch(std::env::temp_dir().join(format!("cairn-demo-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0)?;
    let say = |text: String| cx.print(serde_json::json!({ "demo": text }), text);
    let schema = schemac::check_source(CHAT, Some(&schemac::Priors::new()))
        .ir
        .ok_or("the built-in chat schema does not compile")?;
    let (founder, writer) = (Keypair::generate(&Ed25519Blake3), Keypair::generate(&Ed25519Blake3));
    say(format!("Two people: the founder {} and a writer {}.", short(&founder.identity), short(&writer.identity)))?;

    let ours = Arc::new(Replica::create(Storage::File(&scratch.0.join("founder.redb")), &founder, schema.clone())?);
    let (_, rows) = ours.transaction(&founder, |tx| {
        let channel = tx.insert("Channel", [("name", Value::from("general")), ("owner", founder.identity.into())]);
        tx.insert(
            "Membership",
            [("channel", channel.into()), ("member", writer.identity.into()), ("role", "writer".into())],
        );
    })?;
    let (channel, membership) = (rows[0], rows[1]);
    say(format!(
        "The founder creates database {} with a channel and the writer's membership, in one op.",
        short_db(&ours)
    ))?;

    let theirs = Arc::new(Replica::join(Storage::File(&scratch.0.join("writer.redb")), ours.id(), schema)?);
    let runtime = tokio::runtime::Runtime::new()?;
    let (address, founder_identity) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (reports, _) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(net::serve(ours.clone(), listener, founder.clone(), SyncOptions::default(), reports));
        Ok::<_, std::io::Error>((address, founder.identity))
    })?;
    let sync = |label: &str| -> Result<SyncReport, Failure> {
        let report = runtime.block_on(net::connect_and_sync(
            theirs.clone(),
            address,
            writer.clone(),
            Some(founder_identity),
            SyncOptions::default(),
        ));
        if let Some(error) = &report.error {
            return Err(format!("the demo's sync failed: {error}").into());
        }
        say(format!(
            "{label}: over TCP with Noise to {address}, the founder's node proved its identity; {} ops went to the writer, {} to the founder, in {} round trips.",
            report.stats.ops_received, report.stats.ops_sent, report.stats.round_trips
        ))?;
        Ok(report)
    };
    sync("The writer joins and syncs")?;

    let denied = theirs.transaction(&writer, |tx| {
        tx.update("Channel", channel, vec![Edit::set("name", "mine")]);
    });
    match denied {
        Err(error) => {
            say(format!("The writer tries to rename the channel; the rules refuse it before it is signed:\n  {error}"))?
        }
        Ok(_) => return Err("the schema let a writer rename the channel".into()),
    }

    let (post, _) = theirs.transaction(&writer, |tx| {
        tx.insert("Message", [("channel", channel.into()), ("body", "hello, everyone".into())]);
    })?;
    let (demotion, _) = ours.transaction(&founder, |tx| {
        tx.update("Membership", membership, vec![Edit::set("role", "reader")]);
    })?;
    say(format!(
        "Offline from each other, the writer posts ({}) and the founder demotes the writer to reader ({}).",
        short_op(&post.hash()),
        short_op(&demotion.hash())
    ))?;
    say(format!("Before they sync, the writer's replica shows {} message(s).", theirs.query("Message").count()?))?;

    sync("They sync again")?;
    for (name, replica) in [("founder", &ours), ("writer", &theirs)] {
        say(format!(
            "On the {name}'s replica: the post is {}, {} message(s) visible, digest {}.",
            if replica.is_effective(&post.hash())? == Some(true) { "effective" } else { "rolled back" },
            replica.query("Message").count()?,
            replica.digest()?
        ))?;
    }
    if ours.digest()? != theirs.digest()? {
        return Err("the replicas did not converge".into());
    }
    let explanation = ours.explain(&post.hash())?.ok_or("the founder's replica lacks the post")?;
    say(format!("Why, says explain:\n{explanation}"))?;
    let events = theirs.events_after(0, 100)?;
    let rollback = events.iter().find(|event| event.kind == EventKind::OpRolledBack && event.op == post.hash());
    if let Some(event) = rollback {
        say(format!(
            "The writer's event stream reported it as event {}: op_rolled_back, by {}.",
            event.seq,
            event.by.map(|op| short_op(&op)).unwrap_or_default()
        ))?;
    }
    say("Both replicas hold the same ops and the same state; the demo's folder is removed.".to_owned())?;
    Ok(())
}

fn short(identity: &cairn::Identity) -> String {
    identity.to_string().chars().take(16).collect::<String>() + "…"
}

fn short_op(op: &cairn::OpHash) -> String {
    op.to_string().chars().take(15).collect::<String>() + "…"
}

fn short_db(replica: &Replica) -> String {
    replica.id().to_string().chars().take(15).collect::<String>() + "…"
}
