//! `cairn::schema!` and `#[derive(cairn::Projection)]` in use: the macro generates the same
//! module as the build script, and a projection reads rows into an app's own struct.

use cairn::{Ed25519Blake3, Keypair, RowId};
use std::collections::BTreeSet;

mod chat {
    cairn::schema!("../schemas/chat.schema");
}

/// A message as a feed shows it: the body under another name, and no sender.
#[derive(Debug, PartialEq, cairn::Projection)]
#[cairn(schema = "../schemas/chat.schema", collection = "Message")]
struct Post {
    id: RowId,
    #[cairn(field = "body")]
    text: String,
    likes: i64,
    reactions: BTreeSet<String>,
}

#[test]
fn the_macro_generates_what_the_build_script_does() {
    assert_eq!(chat::SCHEMA_HASH, cairn_tests::chat::SCHEMA_HASH);
    let founder = Keypair::generate(&Ed25519Blake3);
    let db = chat::Db::create_in_memory(founder.clone()).expect("create");
    let channel = db.channel().insert(chat::NewChannel::new("general", founder.identity)).expect("channel");
    assert_eq!(db.channel().all().expect("rows").len(), 1);
    assert_eq!(db.channel().get(channel).expect("get").expect("visible").name, "general");
}

#[test]
fn a_projection_reads_rows_into_an_app_struct() {
    let founder = Keypair::generate(&Ed25519Blake3);
    let db = cairn_tests::chat::Db::create_in_memory(founder.clone()).expect("create");
    let (committed, (channel, _)) = db
        .transaction(|tx| {
            let channel = tx.channel().insert(cairn_tests::chat::NewChannel::new("general", founder.identity));
            let membership = tx.membership().insert(cairn_tests::chat::NewMembership::new(
                channel,
                founder.identity,
                cairn_tests::chat::Role::Admin,
            ));
            (channel, membership)
        })
        .expect("setup");
    let channel = committed.row(channel).expect("id");
    let message = db.message().insert(cairn_tests::chat::NewMessage::new(channel, "hi")).expect("post");
    db.message().update(message).add_reactions(["👍".to_owned()]).increment_likes(2).apply().expect("react");
    let posts: Vec<Post> = db.replica().query_as::<Post>().rows().expect("rows");
    assert_eq!(
        posts,
        [Post { id: message.row(), text: "hi".into(), likes: 2, reactions: BTreeSet::from(["👍".to_owned()]) }]
    );
    assert_eq!(db.replica().get_as::<Post>(&message.row()).expect("get").map(|post| post.likes), Some(2));
}
