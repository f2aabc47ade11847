//! `cairn log`: the signed op log, one op per line, parents first.

use crate::context::Context;
use crate::Failure;
use cairn::{OpHash, Payload};
use serde_json::json;
use std::io::Write;
use std::path::Path;

pub fn log(cx: &Context, dir: &Path) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let mut out = cx.out();
    for entry in replica.log()? {
        let kind = match &entry.op.payload {
            Payload::Genesis { .. } => "genesis",
            Payload::Changes(_) => "changes",
        };
        let parents: Vec<String> = entry.op.parents.iter().map(OpHash::to_string).collect();
        if cx.json {
            let line = json!({
                "hash": entry.hash.to_string(),
                "author": entry.op.author.to_string(),
                "seq": entry.op.seq,
                "depth": entry.op.depth,
                "parents": parents,
                "kind": kind,
                "effective": entry.effective,
            });
            writeln!(out, "{line}")?;
        } else {
            let effective = if entry.effective { "effective" } else { "not-effective" };
            writeln!(
                out,
                "{} {kind} {effective} seq={} depth={} author={}",
                entry.hash, entry.op.seq, entry.op.depth, entry.op.author
            )?;
        }
    }
    Ok(())
}
