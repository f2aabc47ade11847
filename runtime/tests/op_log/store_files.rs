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
