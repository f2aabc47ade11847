//! A chat on generated types, from create to events (docs/guide.md walks through it): a
//! channel and its first membership in one transaction, posts and reactions, a query, the
//! typed event stream, and the store opened again.

use cairn::{Ed25519Blake3, Keypair};

mod chat {
    cairn::include_schema!("chat");
}

use chat::{ChannelField, Db, Event, MessageField, NewChannel, NewMembership, NewMessage, Role};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let directory = std::env::temp_dir().join(format!("chat-app-{}", std::process::id()));
    std::fs::create_dir_all(&directory)?;
    let store = directory.join("chat.redb");
    let me = Keypair::generate(&Ed25519Blake3);
    let db = Db::create(&store, me.clone())?;
    println!("created database {} as {}", db.id(), db.author());

    // A channel and my membership in it, in one op: the membership names the channel this
    // same transaction inserts.
    let (committed, channel) = db.transaction(|tx| {
        let channel = tx.channel().insert(NewChannel::new("general", me.identity));
        tx.membership().insert(NewMembership::new(channel, me.identity, Role::Admin));
        channel
    })?;
    let channel = committed.row(channel).ok_or("the transaction inserted the channel")?;

    let hello = db.message().insert(NewMessage::new(channel, "Hello"))?;
    db.message().insert(NewMessage::new(channel, "Anyone here?"))?;
    db.message().update(hello).add_reactions(["👋".to_owned()]).increment_likes(1).apply()?;
    db.channel().update(channel).topic("Everything").apply()?;

    // A rule refuses what the schema does not allow: an empty channel name fails its check
    // before anything is signed.
    if let Err(refused) = db.channel().insert(NewChannel::new("", me.identity)) {
        println!("refused: {refused}");
    }

    for message in db.message().query().where_channel(channel).order_by_descending(MessageField::Likes).rows()? {
        println!("{:>2} likes  {}  {:?}", message.likes, message.body, message.reactions);
    }
    for channel in db.channel().query().order_by(ChannelField::Name).rows()? {
        println!("#{} ({})", channel.name, channel.topic.as_deref().unwrap_or("no topic"));
    }

    // The event stream, typed, read by a named consumer that remembers where it stopped.
    let mut feed = db.consumer("feed")?;
    let events = feed.poll(100)?;
    for (seq, event) in &events {
        match event {
            Event::MessageInserted { row, .. } => println!("event {seq}: new message {:?}", row.body),
            Event::MessageUpdated { changes, .. } => println!("event {seq}: message changed: {changes:?}"),
            other => println!("event {seq}: {other:?}"),
        }
    }
    if let Some((last, _)) = events.last() {
        feed.commit(*last)?;
    }
    drop(feed);
    drop(db);

    // The store keeps everything; opening it checks that it holds this schema.
    let db = Db::open(&store, me)?;
    println!(
        "reopened: {} messages, consumer at event {}",
        db.message().query().count()?,
        db.consumer("feed")?.checkpoint()
    );
    drop(db);
    std::fs::remove_dir_all(&directory)?;
    Ok(())
}
