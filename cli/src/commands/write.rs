//! `cairn put`, `cairn update` and `cairn delete`: local writes, each one op, checked against
//! the schema and its rules before it is signed.

use crate::context::Context;
use crate::node::load_writer_key;
use crate::Failure;
use cairn::json::{changes_from_json, update_from_json};
use cairn::{Change, RowId};
use serde_json::{json, Value as Json};
use std::path::{Path, PathBuf};

pub fn put(cx: &Context, dir: &Path, collection: &str, row: &str, key: &Option<PathBuf>) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let keypair = load_writer_key(dir, key)?;
    let json: Json = serde_json::from_str(row)?;
    let changes = changes_from_json(replica.schema(), collection, &json)?;
    let op = replica.write(&keypair, changes)?;
    let ids: Vec<String> = replica.touched_rows(&op).iter().map(RowId::to_string).collect();
    if json.is_array() {
        cx.print(json!({ "ids": ids, "op": op.hash().to_string() }), format!("{} {}", ids.join(" "), op.hash()))?;
    } else {
        let id = ids.first().cloned().unwrap_or_default();
        cx.print(json!({ "id": id, "op": op.hash().to_string() }), format!("{id} {}", op.hash()))?;
    }
    Ok(())
}

pub fn update(
    cx: &Context,
    dir: &Path,
    collection: &str,
    id: &str,
    changes: &str,
    key: &Option<PathBuf>,
) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let keypair = load_writer_key(dir, key)?;
    let row: RowId = id.parse()?;
    let json: Json = serde_json::from_str(changes)?;
    let change = update_from_json(replica.schema(), collection, row, &json)?;
    let op = replica.write(&keypair, vec![change])?;
    cx.print(json!({ "id": row.to_string(), "op": op.hash().to_string() }), op.hash().to_string())?;
    Ok(())
}

pub fn delete(cx: &Context, dir: &Path, collection: &str, id: &str, key: &Option<PathBuf>) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let keypair = load_writer_key(dir, key)?;
    let row: RowId = id.parse()?;
    let op = replica.write(&keypair, vec![Change::Delete { collection: collection.to_owned(), row }])?;
    cx.print(json!({ "id": row.to_string(), "op": op.hash().to_string() }), op.hash().to_string())?;
    Ok(())
}
