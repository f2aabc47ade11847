//! A node's directory: where its store and default key live, opening the store (waiting for
//! another `cairn` process to let go of it), loading keys, and compiling the schema a node is
//! created with.

use crate::Failure;
use cairn::{load_key, save_key, Ed25519Blake3, Keypair, OpenError, Replica, SchemaError, Storage, StorageError};
use std::path::{Path, PathBuf};

/// The store file of a node directory.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("cairn.redb")
}

/// The key a command writes with: `--key`, or the directory's `identity.key`.
pub fn key_path(dir: &Path, key: &Option<PathBuf>) -> PathBuf {
    key.clone().unwrap_or_else(|| dir.join("identity.key"))
}

/// Loads the key a command writes with.
pub fn load_writer_key(dir: &Path, key: &Option<PathBuf>) -> Result<Keypair, Failure> {
    Ok(load_key(&key_path(dir, key), &Ed25519Blake3)?)
}

/// Loads the key, creating the directory's default key on first use.
pub fn load_or_create_key(dir: &Path, key: &Option<PathBuf>) -> Result<Keypair, Failure> {
    let path = key_path(dir, key);
    if key.is_none() && !path.exists() {
        let keypair = Keypair::generate(&Ed25519Blake3);
        save_key(&path, &Ed25519Blake3, &keypair)?;
        return Ok(keypair);
    }
    Ok(load_key(&path, &Ed25519Blake3)?)
}

/// Compiles a schema file, printing its errors as `schemac check` does.
pub fn compile_schema(path: &Path) -> Result<cairn::Schema, Failure> {
    match cairn::load_schema(path) {
        Ok(schema) => Ok(schema),
        Err(SchemaError::Invalid { path, rendered, .. }) => {
            eprint!("{rendered}");
            Err(format!("{} has errors", path.display()).into())
        }
        Err(error) => Err(error.into()),
    }
}

/// How long a command waits for another `cairn` process (an `events --follow`, say) to let go
/// of the store: redb lets one process at a time open it.
const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the node's replica.
pub fn open(dir: &Path) -> Result<Replica, Failure> {
    let path = store_path(dir);
    if !path.exists() {
        return Err(format!("{} holds no database (run `cairn init` or `cairn join`)", dir.display()).into());
    }
    let deadline = std::time::Instant::now() + STORE_WAIT;
    loop {
        match Replica::open(Storage::File(&path)) {
            Err(OpenError::Storage(StorageError::InUse)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return Ok(result?),
        }
    }
}
