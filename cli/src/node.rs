//! A node's directory: where its store and default key live, opening the store (waiting for
//! another `cairn` process to let go of it), loading keys, and compiling the schema a node is
//! created with.

use crate::context::Context;
use crate::Failure;
use cairn::{load_key, save_key, Ed25519Blake3, Keypair, OpenError, Replica, SchemaError, Storage, StorageError};
use std::path::{Path, PathBuf};

/// The store file of a node directory.
pub fn store_path(dir: &Path) -> PathBuf {
    dir.join("cairn.redb")
}

/// The file in a node directory that names the key the node was created with, when `init` or
/// `join` was given `--key`.
fn remembered_key(dir: &Path) -> PathBuf {
    dir.join("key-path")
}

/// The key a command writes with: `--key`, else the key the node was created with (`init` or
/// `join` with `--key`), else the directory's `identity.key`.
pub fn key_path(dir: &Path, key: &Option<PathBuf>) -> PathBuf {
    if let Some(key) = key {
        return key.clone();
    }
    match std::fs::read_to_string(remembered_key(dir)) {
        Ok(path) if !path.trim().is_empty() => PathBuf::from(path.trim_end_matches('\n')),
        _ => dir.join("identity.key"),
    }
}

/// Remembers the key a node is created with, so later commands write with it without `--key`.
pub fn remember_key(dir: &Path, key: &Option<PathBuf>) -> Result<(), Failure> {
    let Some(key) = key else { return Ok(()) };
    let absolute = std::path::absolute(key)?;
    let text = absolute.to_str().ok_or_else(|| format!("the key path {} is not UTF-8", absolute.display()))?;
    std::fs::write(remembered_key(dir), format!("{text}\n"))?;
    Ok(())
}

/// What `init` and `join` say about the key, on stderr (stdout is the database id).
pub fn key_note(cx: &Context, keypair: &Keypair, path: &Path) {
    cx.note(&format!(
        "writing as {} (key file {}). This key belongs to this replica only: a copy writing on another replica \
         at the same time voids every op both sign from then on. Give each replica its own key.",
        keypair.identity,
        path.display()
    ));
}

/// Loads the key a command writes with.
pub fn load_writer_key(dir: &Path, key: &Option<PathBuf>) -> Result<Keypair, Failure> {
    Ok(load_key(&key_path(dir, key), &Ed25519Blake3)?)
}

/// Loads the key, creating the directory's default key on first use (never a key elsewhere).
pub fn load_or_create_key(dir: &Path, key: &Option<PathBuf>) -> Result<Keypair, Failure> {
    let path = key_path(dir, key);
    if path == dir.join("identity.key") && !path.exists() {
        let keypair = Keypair::generate(&Ed25519Blake3);
        save_key(&path, &Ed25519Blake3, &keypair)?;
        return Ok(keypair);
    }
    Ok(load_key(&path, &Ed25519Blake3)?)
}

/// Compiles a schema file, printing its errors as `schemac check` does.
pub fn compile_schema(cx: &Context, path: &Path) -> Result<cairn::Schema, Failure> {
    match cairn::load_schema(path) {
        Ok(schema) => Ok(schema),
        Err(SchemaError::Invalid { path, rendered, .. }) => {
            cx.note(rendered.trim_end());
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
