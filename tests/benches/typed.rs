//! The generated layer against the dynamic API, in one run: inserts (a typed `NewMessage`
//! against a field list), and a query read into Rust values (a typed query against the dynamic
//! query whose rows are read into the same Rust values by hand, as an app must). Run with `cargo bench -p
//! cairn-tests --bench typed`; the target is a ratio of at least 1.0 (the layer costs nothing).

use cairn::{Ed25519Blake3, Keypair, Value};
use cairn_tests::chat::{ChannelId, Db, NewChannel, NewMembership, NewMessage, Role};
use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

const INSERTS: usize = 5_000;
const QUERIES: usize = 5;

fn typed_inserts(db: &Db, channel: ChannelId) -> Duration {
    let started = Instant::now();
    for index in 0..INSERTS {
        black_box(db.message().insert(NewMessage::new(channel, format!("message {index}"))).expect("insert"));
    }
    started.elapsed()
}

fn dynamic_inserts(db: &Db, author: &Keypair, channel: ChannelId) -> Duration {
    let replica = db.replica();
    let started = Instant::now();
    for index in 0..INSERTS {
        let fields = [("channel", Value::from(channel.row())), ("body", Value::from(format!("message {index}")))];
        black_box(replica.transaction(author, |tx| {
            tx.insert("Message", fields);
        }))
        .expect("insert");
    }
    started.elapsed()
}

/// A message row as an app holds it: every field in a Rust value (what the generated struct
/// gives, and what a dynamic read must build by hand to have the same).
#[allow(dead_code)]
struct Read {
    id: cairn::RowId,
    channel: cairn::RowId,
    sender: cairn::Identity,
    body: String,
    reactions: BTreeSet<String>,
    likes: i64,
}

fn typed_query(db: &Db, channel: ChannelId) -> Duration {
    let started = Instant::now();
    for _ in 0..QUERIES {
        let rows = db.message().query().where_channel(channel).rows().expect("query");
        black_box(rows);
    }
    started.elapsed()
}

fn dynamic_query(db: &Db, channel: ChannelId) -> Duration {
    let started = Instant::now();
    for _ in 0..QUERIES {
        let rows = db.replica().query("Message").filter("channel", channel.row()).rows().expect("query");
        let read: Vec<Read> = rows
            .into_iter()
            .map(|row| Read {
                id: row.id,
                channel: row["channel"].as_row_id().expect("a row id"),
                sender: row["sender"].as_identity().expect("an identity"),
                body: row["body"].as_str().expect("a string").to_owned(),
                reactions: row["reactions"]
                    .as_array()
                    .expect("a set")
                    .iter()
                    .map(|element| element.as_str().expect("a string").to_owned())
                    .collect(),
                likes: row["likes"].as_i64().expect("an int"),
            })
            .collect();
        black_box(read);
    }
    started.elapsed()
}

fn main() {
    let key = Keypair::generate(&Ed25519Blake3);
    let make = || {
        let db = Db::create_in_memory(key.clone()).expect("create");
        let (committed, channel) = db
            .transaction(|tx| {
                let channel = tx.channel().insert(NewChannel::new("general", key.identity));
                tx.membership().insert(NewMembership::new(channel, key.identity, Role::Admin));
                channel
            })
            .expect("setup");
        let channel = committed.row(channel).expect("channel");
        (db, channel)
    };
    // Fresh stores for each round of inserts; one store of 5,000 messages for the queries.
    let (typed, dynamic, ratio) = paired(8, |typed_first| {
        let ((typed_db, typed_channel), (dynamic_db, dynamic_channel)) = (make(), make());
        let typed = || typed_inserts(&typed_db, typed_channel);
        let dynamic = || dynamic_inserts(&dynamic_db, &key, dynamic_channel);
        if typed_first {
            (typed(), dynamic())
        } else {
            let dynamic = dynamic();
            (typed(), dynamic)
        }
    });
    let rate = |elapsed: Duration| INSERTS as f64 / elapsed.as_secs_f64();
    println!(
        "insert: typed {:>8.0}/s, dynamic {:>8.0}/s: typed is {ratio:.2}x the dynamic rate (target >= 1.0)",
        rate(typed),
        rate(dynamic),
    );
    let (db, channel) = make();
    typed_inserts(&db, channel);
    let (typed, dynamic, ratio) = paired(40, |typed_first| {
        if typed_first {
            (typed_query(&db, channel), dynamic_query(&db, channel))
        } else {
            let dynamic = dynamic_query(&db, channel);
            (typed_query(&db, channel), dynamic)
        }
    });
    println!(
        "query of {INSERTS} rows read into Rust values: typed {:>6.2} ms, dynamic {:>6.2} ms: typed is {ratio:.2}x the dynamic rate (target >= 1.0)",
        typed.as_secs_f64() * 1e3 / QUERIES as f64,
        dynamic.as_secs_f64() * 1e3 / QUERIES as f64,
    );
}

/// Runs `round` (typed time, dynamic time) `rounds` times, each side first in every other
/// round so that neither always runs on the other's leftovers. Returns each side's best time
/// and the median of the rounds' ratios (dynamic time / typed time): pairs measured a moment
/// apart see the same machine, and the median ignores the rounds a neighbour disturbed.
fn paired(rounds: usize, mut round: impl FnMut(bool) -> (Duration, Duration)) -> (Duration, Duration, f64) {
    let (mut typed, mut dynamic) = (Duration::MAX, Duration::MAX);
    let mut ratios = Vec::with_capacity(rounds);
    for index in 0..rounds {
        let (typed_time, dynamic_time) = round(index % 2 == 0);
        typed = typed.min(typed_time);
        dynamic = dynamic.min(dynamic_time);
        ratios.push(dynamic_time.as_secs_f64() / typed_time.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    (typed, dynamic, ratios[rounds / 2])
}
