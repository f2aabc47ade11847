//! Every command, its JSON shape, exit codes, and an export/import round trip that survives a
//! corrupted op.

use crate::*;

#[test]
fn a_database_round_trip_through_every_command() {
    let scratch = Scratch::new("round-trip");
    let (node, copy) = (scratch.path("node"), scratch.path("copy"));
    let guest_key = scratch.path("guest.key");

    let guest = json(&cairn(&["--json", "key", "new", &guest_key]));
    let guest_identity = text(&guest, "identity");
    assert!(guest_identity.starts_with("ed25519:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&guest_key).expect("key file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(!cairn(&["key", "new", &guest_key]).status.success(), "a key file is never overwritten");

    let created = json(&cairn(&["--json", "init", &node, "--schema", &chat_schema()]));
    let database = text(&created, "db");
    let founder = text(&created, "identity");
    assert!(database.starts_with("blake3:"));

    let channel =
        json(&cairn(&["--json", "put", &node, "Channel", &format!(r#"{{"name": "general", "owner": "{founder}"}}"#)]));
    let channel_id = text(&channel, "id");
    assert!(channel_id.starts_with("row:") && text(&channel, "op").starts_with("blake3:"));
    // The founder owns the channel, so may add members.
    let membership = json(&cairn(&[
        "--json",
        "put",
        &node,
        "Membership",
        &format!(r#"{{"channel": "{channel_id}", "member": "{guest_identity}", "role": "writer"}}"#),
    ]));
    // The guest may not: a denied write names the rule and its failing clause, and writes nothing.
    let denied = cairn(&[
        "put",
        &node,
        "Membership",
        &format!(r#"{{"channel": "{channel_id}", "member": "{guest_identity}", "role": "admin"}}"#),
        "--key",
        &guest_key,
    ]);
    assert!(!denied.status.success());
    let message = String::from_utf8_lossy(&denied.stderr);
    assert!(message.contains("denied") && message.contains("rule #0") && message.contains("fails at"), "{message}");
    // Several changes, across collections, as one op.
    let batch = json(&cairn(&[
        "--json",
        "put",
        &node,
        "Channel",
        &format!(
            r#"[{{"insert": {{"name": "random", "owner": "{founder}"}}}}, {{"collection": "Membership", "insert": {{"channel": "{channel_id}", "member": "{founder}", "role": "admin"}}}}, {{"update": "{channel_id}", "fields": {{"topic": "batch"}}}}]"#
        ),
    ]));
    let ids = batch["ids"].as_array().expect("ids");
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[2].as_str(), Some(channel_id.as_str()));
    assert!(!cairn(&["put", &node, "Channel", r#"[{"insert": {"name": "ok"}}, {"remove": "row:00"}]"#])
        .status
        .success());
    let updated = json(&cairn(&["--json", "update", &node, "Channel", &channel_id, r#"{"topic": "everything"}"#]));
    assert_eq!(text(&updated, "id"), channel_id);
    // A second author writes with its own key, as the membership allows.
    let posted = json(&cairn(&[
        "--json",
        "put",
        &node,
        "Message",
        &format!(r#"{{"channel": "{channel_id}", "body": "hello"}}"#),
        "--key",
        &guest_key,
    ]));
    let deleted = json(&cairn(&["--json", "delete", &node, "Message", &text(&posted, "id"), "--key", &guest_key]));
    assert!(text(&deleted, "op").starts_with("blake3:"));
    let _ = membership;

    // Bad input: a clear error, a non-zero exit, and nothing written.
    for bad in [r#"{"name": 5}"#, r#"{"nmae": "x"}"#, "not json", r#"{"name": ""}"#] {
        let output = cairn(&["put", &node, "Channel", bad]);
        assert!(!output.status.success(), "{bad} was accepted");
        assert!(String::from_utf8_lossy(&output.stderr).starts_with("error:"));
    }

    let log = cairn(&["--json", "log", &node]);
    assert!(log.status.success());
    let lines: Vec<Json> = String::from_utf8_lossy(&log.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 7, "genesis and six writes");
    assert_eq!(lines[0]["kind"], "genesis");
    assert_eq!(text(&lines[0], "hash"), database);
    for line in &lines {
        for key in ["hash", "author", "seq", "depth", "parents", "kind"] {
            assert!(!line[key].is_null(), "log line without {key}: {line}");
        }
    }
    assert!(lines.iter().any(|line| text(line, "author") == guest_identity));

    let joined = json(&cairn(&["--json", "join", &copy, "--db", &database, "--schema", &chat_schema()]));
    assert_eq!(text(&joined, "db"), database);
    let export = cairn(&["export", &node]);
    assert!(export.status.success());
    let imported = json(&cairn_with_stdin(&["--json", "import", &copy], &export.stdout));
    assert_eq!(
        (imported["accepted"].as_u64(), imported["duplicate"].as_u64(), imported["rejected"].as_u64()),
        (Some(7), Some(0), Some(0))
    );
    let again = json(&cairn_with_stdin(&["--json", "import", &copy], &export.stdout));
    assert_eq!(again["duplicate"].as_u64(), Some(7));
    let copy_log = cairn(&["--json", "log", &copy]);
    let copy_hashes: std::collections::BTreeSet<String> = String::from_utf8_lossy(&copy_log.stdout)
        .lines()
        .map(|line| text(&serde_json::from_str(line).expect("JSON"), "hash"))
        .collect();
    let node_hashes: std::collections::BTreeSet<String> = lines.iter().map(|line| text(line, "hash")).collect();
    assert_eq!(copy_hashes, node_hashes);
    assert!(json(&cairn(&["--json", "check", &copy]))["ok"].as_bool().unwrap_or(false));
    // The copy holds the same ops, so the same state.
    let digest = text(&json(&cairn(&["--json", "digest", &node])), "digest");
    assert!(digest.starts_with("blake3:"));
    assert_eq!(text(&json(&cairn(&["--json", "digest", &copy])), "digest"), digest);
    assert_eq!(cairn(&["get", &copy, "Channel"]).stdout, cairn(&["get", &node, "Channel"]).stdout);

    // --since leaves out what the reader has.
    let heads = text(&lines[2], "hash");
    let partial = cairn(&["export", &node, "--since", &heads]);
    assert!(partial.stdout.len() < export.stdout.len());
}

#[test]
fn an_import_with_one_bad_op_keeps_the_good_ones() {
    let scratch = Scratch::new("bad-op");
    let (node, copy) = (scratch.path("node"), scratch.path("copy"));
    let created = json(&cairn(&["--json", "init", &node, "--schema", &chat_schema()]));
    let founder = text(&created, "identity");
    for name in ["one", "two", "three"] {
        json(&cairn(&["--json", "put", &node, "Channel", &format!(r#"{{"name": "{name}", "owner": "{founder}"}}"#)]));
    }
    json(&cairn(&["--json", "join", &copy, "--db", &text(&created, "db"), "--schema", &chat_schema()]));
    let mut export = cairn(&["export", &node]).stdout;
    // Flip one byte inside the last op's signature: it still decodes, but fails verification.
    let last = export.len() - 10;
    export[last] ^= 0xff;
    // A rejected op makes the import fail (exit 1), and the good ones are still kept.
    let report = json_with_code(&cairn_with_stdin(&["--json", "import", &copy], &export), 1);
    assert_eq!(report["accepted"].as_u64(), Some(3));
    assert_eq!(report["rejected"].as_u64(), Some(1));
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["reason"].as_str().unwrap_or("").contains("signature"), "{}", errors[0]);
    assert!(errors[0]["op"].as_str().unwrap_or("").starts_with("blake3:"));
    // A stream that is not an export at all (exit 2), or nothing.
    let garbage = cairn_with_stdin(&["import", &copy], b"hello");
    assert_eq!(garbage.status.code(), Some(2));
    let empty = cairn_with_stdin(&["import", &copy], b"");
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("empty"), "{}", String::from_utf8_lossy(&empty.stderr));
}

#[test]
fn commands_on_a_missing_node_fail_cleanly() {
    let scratch = Scratch::new("missing");
    for arguments in [vec!["log", "nowhere"], vec!["put", "nowhere", "Channel", "{}"], vec!["check", "nowhere"]] {
        let arguments: Vec<String> = arguments
            .iter()
            .map(|argument| if *argument == "nowhere" { scratch.path("nowhere") } else { argument.to_string() })
            .collect();
        let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
        let output = cairn(&arguments);
        assert!(!output.status.success());
        assert!(String::from_utf8_lossy(&output.stderr).contains("error:"));
    }
}

#[test]
fn imports_count_what_happened_to_each_op() {
    let scratch = Scratch::new("counts");
    let (node, copy, again) = (scratch.path("node"), scratch.path("copy"), scratch.path("again"));
    let created = json(&cairn(&["--json", "init", &node, "--schema", &chat_schema()]));
    let founder = text(&created, "identity");
    for name in ["one", "two", "three"] {
        json(&cairn(&["--json", "put", &node, "Channel", &format!(r#"{{"name": "{name}", "owner": "{founder}"}}"#)]));
    }
    let export = cairn(&["export", &node]).stdout;
    // Children first: everything waits, then arrives; nothing is left waiting.
    let reader = cairn::export::ExportReader::new(&export).expect("an export");
    let header = cairn::export::header(reader.database());
    let ops: Vec<Vec<u8>> = reader.map(|op| op.expect("op").to_vec()).collect();
    let reversed: Vec<u8> = header.iter().copied().chain(ops.iter().rev().flatten().copied()).collect();
    json(&cairn(&["--json", "join", &copy, "--db", &text(&created, "db"), "--schema", &chat_schema()]));
    let report = json(&cairn_with_stdin(&["--json", "import", &copy], &reversed));
    assert_eq!(
        (report["accepted"].as_u64(), report["parked"].as_u64(), report["rejected"].as_u64()),
        (Some(4), Some(0), Some(0))
    );
    // Invalid UTF-8 inside one op: that op is refused, its descendants wait, the stream goes on.
    let position = export.windows(3).position(|window| window == b"one").expect("the first channel's name");
    let mut corrupted = export.clone();
    corrupted[position] = 0xff;
    json(&cairn(&["--json", "join", &again, "--db", &text(&created, "db"), "--schema", &chat_schema()]));
    let report = json_with_code(&cairn_with_stdin(&["--json", "import", &again], &corrupted), 1);
    assert_eq!(
        (report["accepted"].as_u64(), report["rejected"].as_u64(), report["parked"].as_u64()),
        (Some(1), Some(1), Some(2)),
        "{report}"
    );
}

#[test]
fn state_queries_explanations_and_events() {
    let scratch = Scratch::new("state");
    let node = scratch.path("node");
    let guest_key = scratch.path("guest.key");
    let guest = text(&json(&cairn(&["--json", "key", "new", &guest_key])), "identity");
    let founder = text(&json(&cairn(&["--json", "init", &node, "--schema", &chat_schema()])), "identity");
    let channel = text(
        &json(&cairn(&["--json", "put", &node, "Channel", &format!(r#"{{"name": "general", "owner": "{founder}"}}"#)])),
        "id",
    );
    for (member, role) in [(&founder, "admin"), (&guest, "writer")] {
        let fields = format!(r#"{{"channel": "{channel}", "member": "{member}", "role": "{role}"}}"#);
        json(&cairn(&["--json", "put", &node, "Membership", &fields]));
    }
    let post = json(&cairn(&[
        "--json",
        "put",
        &node,
        "Message",
        &format!(r#"{{"channel": "{channel}", "body": "hi"}}"#),
        "--key",
        &guest_key,
    ]));

    // get: one row, a whole collection, and a filter on a field.
    let rows = json_lines(&cairn(&["get", &node, "Membership"]));
    assert_eq!(rows.len(), 2);
    let writers = json_lines(&cairn(&["get", &node, "Membership", "--where", "role=writer"]));
    assert_eq!(writers.len(), 1);
    assert_eq!(text(&writers[0], "member"), guest);
    let by_member = json_lines(&cairn(&["get", &node, "Membership", "--where", &format!("member={founder}")]));
    assert_eq!(text(&by_member[0], "role"), "admin");
    let one = json_lines(&cairn(&["get", &node, "Message", &text(&post, "id")]));
    assert_eq!((text(&one[0], "id"), text(&one[0], "body")), (text(&post, "id"), "hi".to_owned()));
    assert!(!cairn(&["get", &node, "Message", "--where", "nope=1"]).status.success());

    // explain: the rule that allowed the post and the membership that witnessed it.
    let explained = json(&cairn(&["--json", "explain", &node, &text(&post, "op")]));
    assert_eq!(explained["effective"], Json::Bool(true));
    assert!(text(&explained, "rule").starts_with("allow insert if"), "{explained}");
    assert_eq!(explained["defeated_by"], Json::Array(Vec::new()));
    let witnesses = &explained["allowed_by"][0]["witnesses"];
    assert_eq!(witnesses[0]["collection"], "Membership", "{explained}");

    // events: every effect once, in order; a consumer resumes after its checkpoint.
    let events = json_lines(&cairn(&["events", &node]));
    let kinds: Vec<&str> = events.iter().map(|event| event["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, ["row_inserted"; 4]);
    let seqs: Vec<u64> = events.iter().map(|event| event["seq"].as_u64().unwrap_or(0)).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    for event in &events {
        for key in ["seq", "kind", "collection", "row", "op"] {
            assert!(!event[key].is_null(), "event without {key}: {event}");
        }
    }
    assert_eq!(json_lines(&cairn(&["events", &node, "--consumer", "ui"])).len(), 4);
    assert_eq!(json_lines(&cairn(&["events", &node, "--consumer", "ui"])).len(), 0);
    let demoted =
        json(&cairn(&["--json", "update", &node, "Membership", &text(&writers[0], "id"), r#"{"role": "reader"}"#]));
    let next = json_lines(&cairn(&["events", &node, "--consumer", "ui"]));
    assert_eq!(next.len(), 1);
    assert_eq!((next[0]["kind"].as_str(), next[0]["seq"].as_u64()), (Some("row_updated"), Some(5)));
    assert_eq!(next[0]["fields"]["role"], "reader");
    assert_eq!(text(&next[0], "op"), text(&demoted, "op"));
    // The demoted writer can no longer post.
    let refused =
        cairn(&["put", &node, "Message", &format!(r#"{{"channel": "{channel}", "body": "no"}}"#), "--key", &guest_key]);
    assert!(!refused.status.success());
}

#[test]
fn events_follow_sees_writes_from_other_processes() {
    use std::io::BufRead;
    let scratch = Scratch::new("follow");
    let node = scratch.path("node");
    let founder = text(&json(&cairn(&["--json", "init", &node, "--schema", &chat_schema()])), "identity");
    let mut follower = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["events", &node, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("follow");
    let lines = std::io::BufReader::new(follower.stdout.take().expect("stdout")).lines();
    for name in ["one", "two"] {
        json(&cairn(&["--json", "put", &node, "Channel", &format!(r#"{{"name": "{name}", "owner": "{founder}"}}"#)]));
    }
    let seen: Vec<Json> = lines.take(2).map(|line| serde_json::from_str(&line.expect("line")).expect("JSON")).collect();
    let _ = follower.kill();
    let _ = follower.wait();
    assert_eq!(seen.iter().map(|event| event["seq"].as_u64()).collect::<Vec<_>>(), [Some(1), Some(2)]);
    assert_eq!(seen[1]["fields"]["name"], "two");
}
