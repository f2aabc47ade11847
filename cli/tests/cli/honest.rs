//! A node that never misleads its user: one key on two replicas is refused and reported, exit
//! codes tell the truth, references name rows of their collection, related rows are created in
//! one op, and the log, the events and `explain` say what happened.

use crate::*;

/// A chat node with one channel; returns the node, its database id, the founder and the channel.
fn chat_node(scratch: &Scratch, name: &str, key: Option<&str>) -> (String, String, String, String) {
    let node = scratch.path(name);
    let mut arguments = vec!["--json", "init", &node, "--schema"];
    let schema = chat_schema();
    arguments.push(&schema);
    if let Some(key) = key {
        arguments.extend(["--key", key]);
    }
    let created = json(&cairn(&arguments));
    let founder = text(&created, "identity");
    let channel =
        json(&cairn(&["--json", "put", &node, "Channel", &format!(r#"{{"name": "general", "owner": "{founder}"}}"#)]));
    (node, text(&created, "db"), founder, text(&channel, "id"))
}

#[test]
fn one_key_on_two_replicas_is_reported_and_then_refused() {
    let scratch = Scratch::new("equivocation");
    let key = scratch.path("shared.key");
    json(&cairn(&["--json", "key", "new", &key]));
    let (first, database, founder, channel) = chat_node(&scratch, "first", Some(&key));
    // init says whose key it writes with, and that it belongs to one replica.
    let second = scratch.path("second");
    let joined = cairn(&["join", &second, "--db", &database, "--schema", &chat_schema(), "--key", &key]);
    assert!(String::from_utf8_lossy(&joined.stderr).contains("belongs to this replica only"));
    let export = cairn(&["export", &first]).stdout;
    json(&cairn_with_stdin(&["--json", "import", &second], &export));
    // The key file given to init and join is the one later commands write with.
    let shown = json(&cairn(&["--json", "key", "show", &key]));
    assert_eq!(text(&shown, "identity"), founder);
    // Both replicas write with the key at once: the same sequence number, two different ops.
    let topic = |node: &str, words: &str| {
        json(&cairn(&["--json", "update", node, "Channel", &channel, &format!(r#"{{"topic": "{words}"}}"#)]))
    };
    topic(&first, "from the first");
    topic(&second, "from the second");
    let report = cairn_with_stdin(&["import", &first], &cairn(&["export", &second]).stdout);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    let said = String::from_utf8_lossy(&report.stdout);
    assert!(said.contains(&format!("equivocation: {founder}")) && said.contains("used on two replicas"), "{said}");
    // From then on, a write with that key is refused, saying what happened and what to do.
    let refused = cairn(&["put", &first, "Channel", &format!(r#"{{"name": "more", "owner": "{founder}"}}"#)]);
    assert_eq!(refused.status.code(), Some(1));
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("used on two replicas") && error.contains("cairn key new"), "{error}");
}

#[test]
fn exit_codes_tell_the_truth() {
    let scratch = Scratch::new("exit-codes");
    let (node, database, _, _) = chat_node(&scratch, "node", None);
    let export = cairn(&["export", &node]).stdout;
    // Every op accepted: 0; again, every op already held: 0.
    let copy = scratch.path("copy");
    json(&cairn(&["--json", "join", &copy, "--db", &database, "--schema", &chat_schema()]));
    json_with_code(&cairn_with_stdin(&["--json", "import", &copy], &export), 0);
    let again = json_with_code(&cairn_with_stdin(&["--json", "import", &copy], &export), 0);
    assert_eq!(again["duplicate"].as_u64(), Some(2));
    // A replica joined with another schema refuses the genesis (its schema is unknown there) and
    // so the op on top of it waits: 1, with the reason listed.
    let other = scratch.path("other");
    let taskboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/taskboard.schema").display().to_string();
    json(&cairn(&["--json", "join", &other, "--db", &database, "--schema", &taskboard]));
    let refused = json_with_code(&cairn_with_stdin(&["--json", "import", &other], &export), 1);
    assert_eq!(refused["accepted"].as_u64(), Some(0));
    assert_eq!((refused["rejected"].as_u64(), refused["parked"].as_u64()), (Some(1), Some(1)), "{refused}");
    assert!(refused["errors"][0]["reason"].as_str().is_some_and(|reason| reason.contains("unknown schema")));
    // An unknown --since hash is an error, not "everything".
    let unknown = format!("blake3:{}", "ab".repeat(32));
    let since = cairn(&["export", &node, "--since", &unknown]);
    assert_eq!(since.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&since.stderr).contains("does not hold"));
}

#[test]
fn references_name_rows_of_their_collection_and_related_rows_are_created_together() {
    let scratch = Scratch::new("references");
    let (node, _, founder, channel) = chat_node(&scratch, "node", None);
    // A channel and its first membership in one op: `{"change": 0}` is the channel this op inserts.
    let batch = format!(
        r#"[{{"insert": {{"name": "random", "owner": "{founder}"}}}},
            {{"collection": "Membership", "insert": {{"channel": {{"change": 0}}, "member": "{founder}", "role": "admin"}}}}]"#
    );
    let written = json(&cairn(&["--json", "put", &node, "Channel", &batch]));
    let ids: Vec<String> =
        written["ids"].as_array().expect("ids").iter().map(|id| id.as_str().expect("an id").to_owned()).collect();
    let membership = json_lines(&cairn(&["get", &node, "Membership", &ids[1]]));
    assert_eq!(membership[0]["channel"].as_str(), Some(ids[0].as_str()));
    // A change may only name an earlier insert into the collection the field refers to.
    let forward = format!(
        r#"[{{"collection": "Membership", "insert": {{"channel": {{"change": 1}}, "member": "{founder}", "role": "admin"}}}},
            {{"insert": {{"name": "later", "owner": "{founder}"}}}}]"#
    );
    let refused = cairn(&["put", &node, "Channel", &forward]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not an earlier insert"));
    // A `ref Channel` that names a row of another collection is refused, and nothing is written.
    let message = format!(r#"{{"channel": "{}", "member": "{founder}", "role": "reader"}}"#, ids[1]);
    let dangling = cairn(&["put", &node, "Membership", &message]);
    assert_eq!(dangling.status.code(), Some(1));
    let error = String::from_utf8_lossy(&dangling.stderr);
    assert!(error.contains("is not a visible row of `Channel`"), "{error}");
    assert_eq!(json_lines(&cairn(&["get", &node, "Membership"])).len(), 1);
    assert_eq!(json_lines(&cairn(&["get", &node, "Channel", &channel])).len(), 1);
}

#[test]
fn the_log_events_and_explain_say_what_happened() {
    let scratch = Scratch::new("history");
    let (ours, database, _, channel) = chat_node(&scratch, "ours", None);
    let writer_key = scratch.path("writer.key");
    let writer = text(&json(&cairn(&["--json", "key", "new", &writer_key])), "identity");
    let member = format!(r#"{{"channel": "{channel}", "member": "{writer}", "role": "writer"}}"#);
    let membership = text(&json(&cairn(&["--json", "put", &ours, "Membership", &member])), "id");
    let theirs = scratch.path("theirs");
    json(&cairn(&["--json", "join", &theirs, "--db", &database, "--schema", &chat_schema(), "--key", &writer_key]));
    json(&cairn_with_stdin(&["--json", "import", &theirs], &cairn(&["export", &ours]).stdout));
    // The writer posts (with the key it joined with, no --key) while the founder demotes it.
    let post =
        json(&cairn(&["--json", "put", &theirs, "Message", &format!(r#"{{"channel": "{channel}", "body": "hi"}}"#)]));
    let posted = json_lines(&cairn(&["get", &theirs, "Message", &text(&post, "id")]));
    assert_eq!(posted[0]["sender"].as_str(), Some(writer.as_str()));
    let demotion = json(&cairn(&["--json", "update", &ours, "Membership", &membership, r#"{"role": "reader"}"#]));
    json(&cairn_with_stdin(&["--json", "import", &theirs], &cairn(&["export", &ours]).stdout));
    // The log says which op is not effective, in text and in JSON.
    let log = json_lines(&cairn(&["--json", "log", &theirs]));
    let entry = log.iter().find(|entry| entry["hash"] == post["op"]).expect("the post is logged");
    assert_eq!(entry["effective"], Json::Bool(false));
    let text_log = String::from_utf8_lossy(&cairn(&["log", &theirs]).stdout).to_string();
    assert!(text_log.contains(&format!("{} changes not-effective", text(&post, "op"))), "{text_log}");
    // The rollback event names the post's rows and the op that defeated it; the row vanished
    // because its own op was rolled back.
    let events = json_lines(&cairn(&["events", &theirs]));
    let rollback = events.iter().find(|event| event["kind"] == "op_rolled_back").expect("a rollback");
    assert_eq!(rollback["by"], demotion["op"]);
    assert_eq!(rollback["rows"][0]["collection"], "Message");
    let vanished = events.iter().find(|event| event["kind"] == "row_deleted").expect("the post vanished");
    assert_eq!((vanished["cause"].as_str(), &vanished["op"]), (Some("rolled_back"), &post["op"]));
    // explain, for the effective demotion, shows the world it was judged in.
    let explained = cairn(&["explain", &theirs, &text(&post, "op")]);
    assert!(String::from_utf8_lossy(&explained.stdout).contains(&format!("defeated by {}", text(&demotion, "op"))));
}
