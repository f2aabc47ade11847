//! Store files this program did not write: they are refused with a message that says how to
//! move the database, and left as they were.

use cairn::{OpenError, Replica, Storage, StorageError};

/// The first 512 bytes of a store written by cairn's earlier storage engine (redb 2's file
/// format 2): enough for the engine to recognise the file.
const EARLIER_STORE: &[u8] = include_bytes!("data/redb2-store-header.redb");

#[test]
fn a_store_from_an_earlier_engine_is_refused_and_left_untouched() {
    let dir = std::env::temp_dir().join(format!("cairn-earlier-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("store.redb");
    std::fs::write(&path, EARLIER_STORE).expect("write the old file");

    let Err(error) = Replica::open(Storage::File(&path)) else { panic!("an earlier store is refused") };
    assert!(
        matches!(error, OpenError::Storage(StorageError::OlderFile { file_format: 2 })),
        "unexpected error: {error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("cairn export") && message.contains("cairn import"), "{message}");
    assert_eq!(std::fs::read(&path).expect("read back"), EARLIER_STORE, "the file is unchanged");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_store_of_another_layout_version_is_refused_with_how_to_move_it() {
    let dir = std::env::temp_dir().join(format!("cairn-other-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("store.redb");
    let _ = std::fs::remove_file(&path);
    let founder = cairn::Keypair::generate(&cairn::Ed25519Blake3);
    drop(Replica::create(Storage::File(&path), &founder, crate::support::schema()).expect("create"));
    // Rewrite the recorded layout version, as a store written by another version would hold.
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    {
        let database = redb::Database::open(&path).expect("open with redb");
        let transaction = database.begin_write().expect("write");
        transaction.open_table(meta).expect("meta").insert("format", 1u64.to_be_bytes().as_slice()).expect("insert");
        transaction.commit().expect("commit");
    }
    let Err(error) = Replica::open(Storage::File(&path)) else { panic!("a store of another layout is refused") };
    assert!(matches!(error, OpenError::Format { found: 1, .. }), "unexpected error: {error:?}");
    let message = error.to_string();
    assert!(message.contains("cairn export") && message.contains("cairn import"), "{message}");
    // Nothing was migrated: the store still records the layout it was written in.
    let database = redb::Database::open(&path).expect("open with redb");
    let transaction = redb::ReadableDatabase::begin_read(&database).expect("read");
    let meta = transaction.open_table(meta).expect("meta");
    let format = meta.get("format").expect("get").map(|bytes| bytes.value().to_vec());
    assert_eq!(format, Some(1u64.to_be_bytes().to_vec()), "the refused store is left as it was");
    drop((meta, transaction, database));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// More ops than the hash and row-id indexes keep apart as recent (32,768): the move out of the
/// recent tables, lookups on both sides of it, and a reopened store that reads the recent ones
/// back from the file. Also: op records and events fill one page per chunk.
#[test]
fn lookups_hold_across_the_move_of_recent_index_entries_and_a_reopen() {
    use cairn::op::{Change, Edit};
    let dir = std::env::temp_dir().join(format!("cairn-recent-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("store.redb");
    let founder = cairn::Keypair::generate(&cairn::Ed25519Blake3);
    let replica = Replica::create(Storage::File(&path), &founder, crate::support::schema()).expect("create");
    let mut written = Vec::new();
    for batch in 0..34 {
        let changes = (0..1_000).map(|index| vec![crate::support::insert(&format!("{batch}/{index}"))]).collect();
        written.extend(replica.write_ops(&founder, changes).expect("write"));
    }
    // A chunk that outgrew its page would take two, and its table about twice its bytes.
    let usage = replica.storage_usage().expect("usage");
    for name in ["ops", "events"] {
        let table = usage.tables.iter().find(|table| table.name == name).expect("the table");
        assert!(
            table.page_bytes * 10 < table.stored_bytes * 11,
            "{name}: {} bytes of pages for {} bytes stored",
            table.page_bytes,
            table.stored_bytes
        );
    }
    let peer = Replica::join(Storage::Memory, replica.id(), crate::support::schema()).expect("join");
    let check = |replica: &Replica| {
        // An op from before the move, one from around it, and one after: found by hash, and their
        // rows found by id.
        for op in [&written[10], &written[32_500], &written[33_990]] {
            assert!(matches!(replica.ingest(op.bytes()), Ok(cairn::Ingested::Duplicate(_))));
            let row = replica.row_id(&op.hash(), 0);
            let edit = Edit::Set { field: "text".into(), value: cairn::Value::Text("edited".into()) };
            replica
                .write(&founder, vec![Change::Update { collection: "Note".into(), row, edits: vec![edit] }])
                .expect("update");
            let text = replica.get("Note", &row).expect("read").expect("the row").get("text").cloned();
            assert_eq!(text, Some(cairn::Value::Text("edited".into())));
        }
        replica.check_integrity().expect("integrity");
    };
    check(&replica);
    drop(replica);
    let reopened = Replica::open(Storage::File(&path)).expect("reopen");
    check(&reopened);
    // A peer gets every op, and a second sync finds nothing to send.
    for bytes in reopened.export(&[]).expect("export") {
        peer.ingest(&bytes).expect("ingest");
    }
    assert_eq!(peer.digest().expect("digest"), reopened.digest().expect("digest"));
    drop(reopened);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
