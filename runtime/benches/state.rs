//! The state engine's costs, each against a baseline measured in the same run.
//!
//! `cargo bench -p cairn --bench state` prints:
//! - the cost of a rule check (`exists Membership m where m.channel = … and m.member = …`) with
//!   10 and with `CAIRN_BENCH_ROWS` (default 1,000,000) rows in the witnessed collection, as a
//!   dry-run check and as local writes of 1,000 ops per transaction;
//! - ingest of `CAIRN_BENCH_OPS` (default 100,000) rule-checked chat messages against the same
//!   number of ops under a schema whose rules are all `if true`, three runs of each, alternating,
//!   compared by their medians;
//! - a revoke that arrives after 10,000 concurrent uses it rolls back.

use cairn::op::{Change, Edit};
use cairn::Value;
use cairn::{CryptoSuite, Ed25519Blake3, EventKind, Keypair, Replica, RowId, Storage};
use std::time::{Duration, Instant};

mod support;
use support::{compile, env_count, TempDir};

const CHAT: &str = include_str!("../../schemas/chat.schema");
/// The chat schema's channels and messages with every rule `if true`: the same ops and indexes,
/// unchecked.
const OPEN: &str = r#"
schema open;

collection Channel {
    name: string check (len(name) >= 1 and len(name) <= 64),
    owner: identity readonly,
    topic: string?,
    allow insert, update, delete if true;
}

collection Message {
    channel: ref Channel readonly indexed,
    sender: identity readonly default op.author,
    body: string check (len(body) <= 4000),
    reactions: set<string>,
    likes: counter,
    allow insert, update, delete if true;
}
"#;

fn text(value: &str) -> Value {
    Value::Text(value.to_owned())
}

fn bytes(value: &[u8]) -> Value {
    Value::Bytes(value.to_vec())
}

fn membership(channel: RowId, member: &[u8; 32], role: &str) -> Change {
    Change::Insert {
        collection: "Membership".into(),
        fields: vec![
            ("channel".into(), bytes(&channel.0)),
            ("member".into(), bytes(member)),
            ("role".into(), text(role)),
        ],
    }
}

fn message(channel: RowId, sender: &Keypair, index: usize) -> Change {
    Change::Insert {
        collection: "Message".into(),
        fields: vec![
            ("channel".into(), bytes(&channel.0)),
            ("sender".into(), bytes(&sender.identity.0)),
            ("body".into(), text(&format!("message number {index}"))),
        ],
    }
}

/// A chat database with one channel, `rows` other members, and a writer.
struct Chat {
    replica: Replica,
    founder: Keypair,
    writer: Keypair,
    channel: RowId,
    writer_membership: RowId,
}

fn chat(storage: Storage, rows: usize) -> Chat {
    let founder = Keypair::generate(&Ed25519Blake3);
    let writer = Keypair::generate(&Ed25519Blake3);
    let replica = Replica::create(storage, &founder, compile(CHAT)).expect("create");
    let (_, ids) = replica
        .transaction(&founder, |tx| {
            tx.insert("Channel", [("name", text("general")), ("owner", bytes(&founder.identity.0))]);
        })
        .expect("channel");
    let channel = ids[0];
    let op = replica.write(&founder, vec![membership(channel, &writer.identity.0, "writer")]).expect("writer");
    let writer_membership = replica.row_id(&op.hash(), 0);
    // Other members, 100 to an op and 100 ops to a transaction.
    let mut next = 0u64;
    while (next as usize) < rows {
        let mut batches = Vec::new();
        for _ in 0..100 {
            let mut changes = Vec::new();
            while changes.len() < 100 && (next as usize) < rows {
                let member = *blake3::hash(&next.to_le_bytes()).as_bytes();
                changes.push(membership(channel, &member, "reader"));
                next += 1;
            }
            if !changes.is_empty() {
                batches.push(changes);
            }
        }
        replica.write_ops(&founder, batches).expect("members");
    }
    Chat { replica, founder, writer, channel, writer_membership }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// Rule checks with few and with many rows in the witnessed collection.
fn rule_cost(rows: usize) -> (f64, f64) {
    let dir = TempDir::new(&format!("rules-{rows}"));
    let started = Instant::now();
    let chat = chat(Storage::File(&dir.store("chat")), rows);
    let built = started.elapsed();
    let checks = 2_000;
    let started = Instant::now();
    for index in 0..checks {
        chat.replica
            .authorize(&chat.writer.identity, vec![message(chat.channel, &chat.writer, index)])
            .expect("allowed");
    }
    let check_rate = per_second(checks, started.elapsed());
    let writes = 5_000;
    let started = Instant::now();
    for round in 0..writes / 1_000 {
        let batches =
            (0..1_000).map(|index| vec![message(chat.channel, &chat.writer, round * 1_000 + index)]).collect();
        chat.replica.write_ops(&chat.writer, batches).expect("writes");
    }
    let write_rate = per_second(writes, started.elapsed());
    println!(
        "{rows:>9} rows: built in {:>6.1} s; dry-run check {:>8.0}/s ({:>6.1} µs); checked write {:>7.0} ops/s",
        built.as_secs_f64(),
        check_rate,
        1e6 / check_rate,
        write_rate
    );
    (check_rate, write_rate)
}

/// Ingest rate of ops exported from a source replica into a fresh store, removed afterwards.
fn ingest_rate(dir: &TempDir, name: &str, source: &Replica, schema: &str) -> f64 {
    let exported = source.export(&[]).expect("export");
    let path = dir.store(name);
    let target = Replica::join(Storage::File(&path), source.id(), compile(schema)).expect("join");
    let ops: Vec<&[u8]> = exported.iter().map(Vec::as_slice).collect();
    let started = Instant::now();
    let results = target.ingest_stream(&ops, 1_000);
    let elapsed = started.elapsed();
    assert!(results.iter().all(Result::is_ok), "every op is accepted");
    assert_eq!(source.digest().expect("digest"), target.digest().expect("digest"));
    drop(target);
    let _ = std::fs::remove_file(&path);
    per_second(ops.len(), elapsed)
}

/// Writes `count` messages by the writer, 1,000 ops to a transaction.
fn post_messages(replica: &Replica, channel: RowId, writer: &Keypair, count: usize) {
    for round in 0..count.div_ceil(1_000) {
        let batches = (0..1_000.min(count - round * 1_000))
            .map(|index| vec![message(channel, writer, round * 1_000 + index)])
            .collect();
        replica.write_ops(writer, batches).expect("messages");
    }
}

fn ingest(count: usize) {
    let dir = TempDir::new("state-ingest");
    let chat = chat(Storage::File(&dir.store("chat-source")), 10);
    post_messages(&chat.replica, chat.channel, &chat.writer, count);
    // The same messages under rules that are all `if true`.
    let open = Replica::create(Storage::File(&dir.store("open-source")), &chat.founder, compile(OPEN)).expect("open");
    let (_, ids) = open
        .transaction(&chat.founder, |tx| {
            tx.insert("Channel", [("name", text("general")), ("owner", bytes(&chat.founder.identity.0))]);
        })
        .expect("channel");
    post_messages(&open, ids[0], &chat.writer, count);
    // The two alternate, three times each, and the medians are compared: one pair of runs on a
    // shared machine can differ by several percent either way.
    let (mut unchecked, mut checked) = (Vec::new(), Vec::new());
    for round in 0..3 {
        unchecked.push(ingest_rate(&dir, &format!("open-{round}"), &open, OPEN));
        checked.push(ingest_rate(&dir, &format!("chat-{round}"), &chat.replica, CHAT));
        println!(
            "  round {}: rules `if true` {:>8.0} ops/s, rule-checked {:>8.0} ops/s ({:.2}x)",
            round + 1,
            unchecked[round],
            checked[round],
            checked[round] / unchecked[round]
        );
    }
    let (unchecked, checked) = (median(unchecked), median(checked));
    println!("ingest, the same messages with rules `if true` (baseline) {unchecked:>8.0} ops/s (median of 3)");
    println!(
        "ingest, rule-checked chat messages                        {checked:>8.0} ops/s (median of 3)   {:.2}x baseline (target >= 0.90)",
        checked / unchecked
    );
}

fn median(mut rates: Vec<f64>) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// A revoke that arrives after `uses` concurrent messages it defeats.
fn late_revoke(uses: usize) {
    let dir = TempDir::new("state-revoke");
    let chat = chat(Storage::File(&dir.store("a")), 0);
    // A second replica that has the setup only, where the founder demotes the writer.
    let other = Replica::join(Storage::File(&dir.store("b")), chat.replica.id(), compile(CHAT)).expect("join");
    for bytes in chat.replica.export(&[]).expect("export") {
        other.ingest(&bytes).expect("setup");
    }
    let demotion = Change::Update {
        collection: "Membership".into(),
        row: chat.writer_membership,
        edits: vec![Edit::Set { field: "role".into(), value: text("reader") }],
    };
    let revoke = other.write(&chat.founder, vec![demotion]).expect("revoke");
    for round in 0..uses.div_ceil(1_000) {
        let batches = (0..1_000.min(uses - round * 1_000))
            .map(|index| vec![message(chat.channel, &chat.writer, round * 1_000 + index)])
            .collect();
        chat.replica.write_ops(&chat.writer, batches).expect("uses");
    }
    let before = chat.replica.last_event().expect("events");
    let started = Instant::now();
    chat.replica.ingest(revoke.bytes()).expect("the revoke is accepted");
    let elapsed = started.elapsed();
    let events = chat.replica.events_after(before, usize::MAX).expect("events");
    let rolled_back = events.iter().filter(|event| event.kind == EventKind::OpRolledBack).count();
    assert_eq!(rolled_back, uses, "every use is rolled back");
    assert!(chat.replica.rows("Message", &[]).expect("rows").is_empty());
    println!(
        "late revoke rolling back {uses} uses: {:.2} s ({:.1} µs per rolled-back op, {} events)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / uses as f64,
        events.len()
    );
}

fn main() {
    let rows = env_count("CAIRN_BENCH_ROWS", 1_000_000);
    let ops = env_count("CAIRN_BENCH_OPS", 100_000);
    println!("state engine benchmark, suite {}", Ed25519Blake3.name());
    let (few_checks, few_writes) = rule_cost(10);
    let (many_checks, many_writes) = rule_cost(rows);
    println!(
        "rule cost, {rows} rows vs 10: dry-run checks {:.2}x the rate, checked writes {:.2}x the rate (flat is 1.00x)",
        many_checks / few_checks,
        many_writes / few_writes
    );
    ingest(ops);
    late_revoke(10_000);
}
