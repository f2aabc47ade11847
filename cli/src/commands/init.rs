//! `cairn init` (a new database, with its genesis op) and `cairn join` (an empty replica of an
//! existing database, to fill by import).

use crate::context::Context;
use crate::node::{compile_schema, key_note, key_path, load_or_create_key, remember_key, store_path};
use crate::Failure;
use cairn::{DatabaseId, Replica, Storage};
use serde_json::json;
use std::path::{Path, PathBuf};

pub fn init(cx: &Context, dir: &Path, schema: &Path, key: &Option<PathBuf>) -> Result<(), Failure> {
    let schema = compile_schema(cx, schema)?;
    std::fs::create_dir_all(dir)?;
    let keypair = load_or_create_key(dir, key)?;
    let replica = Replica::create(Storage::File(&store_path(dir)), &keypair, schema)?;
    remember_key(dir, key)?;
    key_note(cx, &keypair, &key_path(dir, key));
    let id = replica.id().to_string();
    cx.print(json!({ "db": id, "identity": keypair.identity.to_string() }), id)?;
    Ok(())
}

pub fn join(cx: &Context, dir: &Path, db: &str, schema: &Path, key: &Option<PathBuf>) -> Result<(), Failure> {
    let id: DatabaseId = db.parse()?;
    let schema = compile_schema(cx, schema)?;
    std::fs::create_dir_all(dir)?;
    let keypair = load_or_create_key(dir, key)?;
    let replica = Replica::join(Storage::File(&store_path(dir)), id, schema)?;
    remember_key(dir, key)?;
    key_note(cx, &keypair, &key_path(dir, key));
    let id = replica.id().to_string();
    cx.print(json!({ "db": id, "identity": keypair.identity.to_string() }), id)?;
    Ok(())
}
