//! Reading the state: `cairn get` (rows as JSON lines), `cairn digest` and `cairn check`.

use crate::context::Context;
use crate::Failure;
use cairn::json::field_value_from_json;
use cairn::RowId;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::Path;

pub fn get(cx: &Context, dir: &Path, collection: &str, id: Option<&str>, filters: &[String]) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let mut filter = Vec::new();
    for text in filters {
        let (name, value) = text.split_once('=').ok_or_else(|| format!("`--where {text}`: expected FIELD=VALUE"))?;
        let json = serde_json::from_str(value).unwrap_or_else(|_| Json::String(value.to_owned()));
        filter.push((name.to_owned(), field_value_from_json(replica.schema(), collection, name, &json)?));
    }
    let rows = match id {
        Some(id) => {
            let id: RowId = id.parse()?;
            let found = replica.get(collection, &id)?.ok_or_else(|| format!("no visible {collection} row {id}"))?;
            let keep = filter.iter().all(|(name, value)| found.get(name) == Some(value));
            if keep {
                vec![found]
            } else {
                Vec::new()
            }
        }
        None => replica.rows(collection, &filter)?,
    };
    let definition =
        replica.schema().collections.get(collection).ok_or_else(|| format!("unknown collection `{collection}`"))?;
    let mut out = cx.out();
    for row in rows {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), Json::String(row.id.to_string()));
        for field in &definition.fields {
            if let Some(value) = row.get(&field.name) {
                object.insert(field.name.clone(), cairn::json::to_json(&field.ty, value));
            }
        }
        writeln!(out, "{}", Json::Object(object))?;
    }
    Ok(())
}

pub fn digest(cx: &Context, dir: &Path) -> Result<(), Failure> {
    let digest = cx.replica(dir)?.digest()?.to_string();
    cx.print(json!({ "digest": digest }), digest.clone())?;
    Ok(())
}

pub fn check(cx: &Context, dir: &Path) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    replica.check_integrity()?;
    let count = replica.op_count()?;
    cx.print(json!({ "ok": true, "ops": count }), format!("ok: {count} ops"))?;
    Ok(())
}
