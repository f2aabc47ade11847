//! Crash safety: a child process writing ops is killed at random moments; the store always
//! reopens, passes the integrity check, and holds every op the child acknowledged.
//!
//! The child is this same test binary, started with `CAIRN_CRASH_CHILD` set; it then runs only
//! `crash_child_writes_until_killed`, which writes ops forever and prints each hash after its
//! transaction commits.

use cairn::keys::{load_key, save_key};
use cairn::{Ed25519Blake3, Keypair, OpHash, Replica, Storage};
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
    let replica = Replica::open(Storage::File(&dir.join("store.redb")), Arc::new(Ed25519Blake3)).expect("open");
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

#[test]
fn killed_writers_lose_nothing_acknowledged() {
    if std::env::var_os("CAIRN_CRASH_CHILD").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("cairn-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let suite = Arc::new(Ed25519Blake3);
    let key = Keypair::generate(suite.as_ref());
    save_key(&dir.join("key"), suite.as_ref(), &key).expect("key");
    drop(
        Replica::create(Storage::File(&dir.join("store.redb")), suite.clone(), &key, crate::support::schema())
            .expect("create"),
    );
    let mut acknowledged: Vec<OpHash> = Vec::new();
    let mut dice = crate::support::Dice(0x5eed ^ std::process::id() as u64);
    for run in 0..RUNS {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "crash::crash_child_writes_until_killed", "--nocapture", "--test-threads=1"])
            .env("CAIRN_CRASH_CHILD", &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut hashes = Vec::new();
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(hash) = line.strip_prefix("ACK ") {
                    hashes.push(hash.parse::<OpHash>().expect("hash"));
                }
            }
            hashes
        });
        std::thread::sleep(Duration::from_millis(30 + dice.below(150) as u64));
        child.kill().expect("kill");
        let _ = child.wait();
        acknowledged.extend(reader.join().expect("reader"));
        let replica = Replica::open(Storage::File(&dir.join("store.redb")), suite.clone())
            .unwrap_or_else(|error| panic!("run {run}: the store does not reopen: {error}"));
        replica.check_integrity().unwrap_or_else(|error| panic!("run {run}: {error}"));
        let log: std::collections::HashSet<OpHash> =
            replica.log().expect("log").into_iter().map(|entry| entry.hash).collect();
        for hash in &acknowledged {
            assert!(log.contains(hash), "run {run}: acknowledged op {hash} is lost");
        }
    }
    assert!(acknowledged.len() > RUNS, "the children wrote too little to prove anything: {}", acknowledged.len());
    let _ = std::fs::remove_dir_all(&dir);
}
