//! Nodes in separate processes: `serve` and `sync` over loopback, commands that go through a
//! running node instead of waiting for its lock, a live sync that carries a write at once,
//! `status`, and the demo.

use crate::*;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::time::{Duration, Instant};

/// A child process killed when the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cairn --json serve DIR --listen 127.0.0.1:0`; returns it, its address and identity.
fn serve(dir: &str) -> (Running, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["--json", "serve", dir, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cairn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first: Json = serde_json::from_str(&lines.next().expect("a line").expect("read")).expect("json");
    // Keep reading the session log so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (Running(child), text(&first, "listen"), text(&first, "identity"))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_and_sync_in_separate_processes() {
    let scratch = Scratch::new("network");
    let (ours, theirs) = (scratch.path("ours"), scratch.path("theirs"));
    let created = json(&cairn(&["--json", "init", &ours, "--schema", &chat_schema()]));
    let founder = text(&created, "identity");
    json(&cairn(&["--json", "put", &ours, "Channel", &format!(r#"{{"name": "general", "owner": "{founder}"}}"#)]));
    let (_node, address, identity) = serve(&ours);
    assert_eq!(identity, founder);
    // While the node runs, commands on its directory go through it, without waiting.
    let started = Instant::now();
    json(&cairn(&["--json", "put", &ours, "Channel", &format!(r#"{{"name": "random", "owner": "{founder}"}}"#)]));
    assert_eq!(json_lines(&cairn(&["get", &ours, "Channel"])).len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5), "the commands waited for the store's lock");
    // A joined replica syncs once, checking the node's identity.
    json(&cairn(&["--json", "join", &theirs, "--db", &text(&created, "db"), "--schema", &chat_schema()]));
    let synced = json(&cairn(&["--json", "sync", &theirs, "--peer", &address, "--peer-id", &identity]));
    assert_eq!((synced["completed"].as_bool(), synced["ops_received"].as_u64()), (Some(true), Some(3)), "{synced}");
    assert_eq!(json_lines(&cairn(&["get", &theirs, "Channel"])).len(), 2);
    // The wrong identity is refused, and the sync says so with exit code 1.
    let impostor = json(&cairn(&["--json", "key", "new", &scratch.path("impostor.key")]));
    let refused = cairn(&["sync", &theirs, "--peer", &address, "--peer-id", &text(&impostor, "identity")]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("handshake"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    // status names the peer and its last sync; through the node too.
    let status = json(&cairn(&["--json", "status", &theirs]));
    assert_eq!(status["ops"].as_u64(), Some(3));
    assert_eq!(status["peers"][0]["identity"].as_str(), Some(identity.as_str()));
    let node_status = json(&cairn(&["--json", "status", &ours]));
    assert_eq!(node_status["digest"], status["digest"]);
    // A live sync: a put on the serving node reaches the live replica at once.
    let mut live = Running(
        Command::new(env!("CARGO_BIN_EXE_cairn"))
            .args(["sync", &theirs, "--peer", &address, "--live"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run cairn sync --live"),
    );
    wait_for("the live sync's control socket", || Path::new(&theirs).join("cairn.sock").exists());
    json(&cairn(&["--json", "put", &ours, "Channel", &format!(r#"{{"name": "live", "owner": "{founder}"}}"#)]));
    // `get` on the live replica goes through the live sync's process.
    wait_for("the live push", || json_lines(&cairn(&["get", &theirs, "Channel"])).len() == 3);
    let _ = live.0.kill();
}

#[test]
fn the_demo_tells_the_whole_story() {
    let demo = cairn(&["demo"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let transcript = String::from_utf8_lossy(&demo.stdout);
    for expected in ["refuse it before it is signed", "the post is rolled back", "defeated by", "op_rolled_back"] {
        assert!(transcript.contains(expected), "the transcript lacks {expected:?}:\n{transcript}");
    }
}
