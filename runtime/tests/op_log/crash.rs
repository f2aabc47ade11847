//! Crash safety: a child process writing ops is killed at random moments; the store always
//! reopens, passes the integrity check (materialized rows included), and holds every op the
//! child acknowledged. A child consuming the event stream is killed at random moments too; its
//! sink ends with every event exactly once.
//!
//! A child writing in deferred mode ([`Replica::write_deferred`]) is killed too: every op it
//! flushed survives, every op in the store is signed, and its author writes on after the crash
//! without having signed any sequence number twice.
//!
//! The children are this same test binary, started with `CAIRN_CRASH_CHILD`,
//! `CAIRN_DEFERRED_CHILD` or `CAIRN_CONSUMER_CHILD` set; each then runs only its `…_child_…`
//! test.

use cairn::{load_key, save_key};
use cairn::{CryptoSuite, Ed25519Blake3, Keypair, OpHash, Replica, Storage};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const RUNS: usize = 50;

#[test]
fn crash_child_writes_until_killed() {
    let Some(dir) = std::env::var_os("CAIRN_CRASH_CHILD") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let key = load_key(&dir.join("key"), &Ed25519Blake3).expect("key");
    let replica = Replica::open(Storage::File(&dir.join("store.redb"))).expect("open");
    let stdout = std::io::stdout();
    let mut index = 0u64;
    loop {
        let op = replica.write(&key, vec![crate::support::insert(&format!("note {index}"))]).expect("write");
        // Printed only after the commit returned: this is the acknowledgement.
        use std::io::Write;
        let mut out = stdout.lock();
        writeln!(out, "ACK {}", op.hash()).expect("stdout");
        out.flush().expect("flush");
        index += 1;
    }
}

/// Writes deferred ops and flushes after a random number of them; prints `ACK` for each op
/// once its flush returned.
#[test]
fn deferred_child_writes_until_killed() {
    let Some(dir) = std::env::var_os("CAIRN_DEFERRED_CHILD") else {
        return;
    };
    use std::io::Write;
    let dir = std::path::PathBuf::from(dir);
    let key = load_key(&dir.join("key"), &Ed25519Blake3).expect("key");
    let replica = Replica::open(Storage::File(&dir.join("store.redb"))).expect("open");
    let mut dice = crate::support::Dice(std::process::id() as u64);
    let mut index = 0u64;
    loop {
        let mut written = Vec::new();
        for _ in 0..1 + dice.below(40) {
            let hash =
                replica.write_deferred(&key, vec![crate::support::insert(&format!("note {index}"))]).expect("write");
            println!("WROTE {hash}");
            written.push(hash);
            index += 1;
        }
        replica.flush().expect("flush");
        let mut out = std::io::stdout().lock();
        for hash in written {
            writeln!(out, "ACK {hash}").expect("stdout");
        }
        out.flush().expect("flush stdout");
    }
}

fn is_child() -> bool {
    ["CAIRN_CRASH_CHILD", "CAIRN_DEFERRED_CHILD", "CAIRN_CONSUMER_CHILD"]
        .iter()
        .any(|name| std::env::var_os(name).is_some())
}

/// Starts the child test `test` with `variable` set to `dir`, kills it after a random moment,
/// and returns the hashes it acknowledged and those it wrote (deferred) before it.
fn run_child_until_killed(
    test: &str,
    variable: &str,
    dir: &std::path::Path,
    dice: &mut crate::support::Dice,
) -> (Vec<OpHash>, Vec<OpHash>) {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(variable, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let (mut acknowledged, mut written) = (Vec::new(), Vec::new());
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(hash) = line.strip_prefix("ACK ") {
                acknowledged.push(hash.parse::<OpHash>().expect("hash"));
            } else if let Some(hash) = line.strip_prefix("WROTE ") {
                written.push(hash.parse::<OpHash>().expect("hash"));
            }
        }
        (acknowledged, written)
    });
    std::thread::sleep(Duration::from_millis(30 + dice.below(150) as u64));
    child.kill().expect("kill");
    let _ = child.wait();
    reader.join().expect("reader")
}

#[test]
fn killed_deferred_writers_lose_nothing_flushed_and_sign_no_sequence_number_twice() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cairn-deferred-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let suite = Ed25519Blake3;
    let key = Keypair::generate(&suite);
    save_key(&dir.join("key"), &suite, &key).expect("key");
    drop(Replica::create(Storage::File(&dir.join("store.redb")), &key, crate::support::schema()).expect("create"));
    let mut acknowledged: Vec<OpHash> = Vec::new();
    let mut dice = crate::support::Dice(0xdefe ^ std::process::id() as u64);
    let mut lost = 0;
    for run in 0..RUNS / 2 {
        let test = "crash::deferred_child_writes_until_killed";
        let (flushed, written) = run_child_until_killed(test, "CAIRN_DEFERRED_CHILD", &dir, &mut dice);
        acknowledged.extend(flushed);
        let replica = Replica::open(Storage::File(&dir.join("store.redb")))
            .unwrap_or_else(|error| panic!("run {run}: the store does not reopen: {error}"));
        replica.check_integrity().unwrap_or_else(|error| panic!("run {run}: {error}"));
        let log = replica.log().expect("log");
        // The log leaves out unsigned records: none is left, so it lists every stored op.
        assert_eq!(log.len() as u64, replica.op_count().expect("count"), "run {run}: an unsigned op was kept");
        let hashes: std::collections::HashSet<OpHash> = log.iter().map(|entry| entry.hash).collect();
        for hash in &acknowledged {
            assert!(hashes.contains(hash), "run {run}: flushed op {hash} is lost");
        }
        lost += written.iter().filter(|hash| !hashes.contains(hash)).count();
        // Every stored op carries a valid signature: none was stored unsigned for good.
        for entry in log {
            let verified = cairn::op::verify(&suite as &dyn CryptoSuite, vec![(entry.op, entry.bytes)]);
            assert!(verified.into_iter().all(|result| result.is_ok()), "run {run}: op {} is not signed", entry.hash);
        }
        // The author writes on: its chain continues from what the crash left, with no second
        // op for any sequence number.
        replica.write(&key, vec![crate::support::insert("after the crash")]).expect("write after the crash");
        assert!(replica.equivocators().expect("equivocators").is_empty(), "run {run}: the author equivocated");
    }
    assert!(acknowledged.len() > RUNS, "the children wrote too little to prove anything: {}", acknowledged.len());
    assert!(lost > 0, "no crash caught a deferred write before its flush: the test proves nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn killed_writers_lose_nothing_acknowledged() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cairn-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let suite = Arc::new(Ed25519Blake3);
    let key = Keypair::generate(suite.as_ref());
    save_key(&dir.join("key"), suite.as_ref(), &key).expect("key");
    drop(Replica::create(Storage::File(&dir.join("store.redb")), &key, crate::support::schema()).expect("create"));
    let mut acknowledged: Vec<OpHash> = Vec::new();
    let mut dice = crate::support::Dice(0x5eed ^ std::process::id() as u64);
    for run in 0..RUNS {
        let test = "crash::crash_child_writes_until_killed";
        acknowledged.extend(run_child_until_killed(test, "CAIRN_CRASH_CHILD", &dir, &mut dice).0);
        let replica = Replica::open(Storage::File(&dir.join("store.redb")))
            .unwrap_or_else(|error| panic!("run {run}: the store does not reopen: {error}"));
        replica.check_integrity().unwrap_or_else(|error| panic!("run {run}: {error}"));
        let log: std::collections::HashSet<OpHash> =
            replica.log().expect("log").into_iter().map(|entry| entry.hash).collect();
        for hash in &acknowledged {
            assert!(log.contains(hash), "run {run}: acknowledged op {hash} is lost");
        }
        // Every note op is effective: one visible row each, written with its op.
        assert_eq!(replica.rows("Note", &[]).expect("rows").len(), log.len() - 1, "run {run}");
    }
    assert!(acknowledged.len() > RUNS, "the children wrote too little to prove anything: {}", acknowledged.len());
    let _ = std::fs::remove_dir_all(&dir);
}

const EVENTS: usize = 400;

/// The consumer's own state: the sequence numbers it has applied, one per line, appended and
/// synced one at a time.
fn read_sink(path: &std::path::Path) -> Vec<u64> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().filter_map(|line| line.parse().ok()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn consumer_child_applies_events_until_killed() {
    let Some(dir) = std::env::var_os("CAIRN_CONSUMER_CHILD") else {
        return;
    };
    use std::io::Write;
    let dir = std::path::PathBuf::from(dir);
    let replica = Replica::open(Storage::File(&dir.join("store.redb"))).expect("open");
    let sink_path = dir.join("sink");
    let mut consumer = replica.consumer("sink").expect("consumer");
    // The sink may hold events applied after the last commit: the commit did not happen. It
    // is the sink that knows what was applied, so the checkpoint catches up first.
    let applied = read_sink(&sink_path).last().copied().unwrap_or(0);
    if applied > consumer.checkpoint() {
        consumer.commit(applied).expect("catch up");
    }
    let mut sink = std::fs::OpenOptions::new().create(true).append(true).open(&sink_path).expect("sink");
    loop {
        let events = consumer.poll(16).expect("poll");
        let Some(last) = events.last().map(|event| event.seq) else { break };
        for event in &events {
            sink.write_all(format!("{}\n", event.seq).as_bytes()).expect("write");
            sink.sync_data().expect("sync");
            std::thread::sleep(Duration::from_micros(500));
        }
        consumer.commit(last).expect("commit");
    }
    println!("DONE");
}

#[test]
fn killed_consumers_lose_and_repeat_no_event() {
    if is_child() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cairn-consumer-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let suite = Arc::new(Ed25519Blake3);
    let key = Keypair::generate(suite.as_ref());
    {
        let replica =
            Replica::create(Storage::File(&dir.join("store.redb")), &key, crate::support::schema()).expect("create");
        let batches = (0..EVENTS).map(|index| vec![crate::support::insert(&format!("note {index}"))]).collect();
        replica.write_ops(&key, batches).expect("notes");
        assert_eq!(replica.last_event().expect("events"), EVENTS as u64);
    }
    let mut dice = crate::support::Dice(0xc0ffee ^ std::process::id() as u64);
    let mut kills = 0;
    for run in 0..200 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "crash::consumer_child_applies_events_until_killed", "--nocapture", "--test-threads=1"])
            .env("CAIRN_CONSUMER_CHILD", &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        std::thread::sleep(Duration::from_millis(20 + dice.below(60) as u64));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("kill");
            kills += 1;
        }
        let output = child.wait_with_output().expect("wait");
        let done = String::from_utf8_lossy(&output.stdout).contains("DONE");
        let applied = read_sink(&dir.join("sink"));
        let expected: Vec<u64> = (1..=applied.len() as u64).collect();
        assert_eq!(applied, expected, "run {run}: the sink lost or repeated an event");
        if done {
            assert_eq!(applied.len(), EVENTS, "run {run}: the consumer stopped early");
            break;
        }
    }
    assert_eq!(read_sink(&dir.join("sink")).len(), EVENTS, "the consumers never finished");
    assert!(kills >= 3, "the consumers were killed only {kills} times: too few to prove anything");
    let _ = std::fs::remove_dir_all(&dir);
}
