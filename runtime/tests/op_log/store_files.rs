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
