//! `cairn log`: the signed op log, one op per line, parents first.

use crate::node::open;
use crate::output::Output;
use crate::Failure;
use cairn::{OpHash, Payload};
use serde_json::json;
use std::io::Write;
use std::path::Path;

pub fn log(output: Output, dir: &Path) -> Result<(), Failure> {
    let replica = open(dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for entry in replica.log()? {
        let kind = match &entry.op.payload {
            Payload::Genesis { .. } => "genesis",
            Payload::Changes(_) => "changes",
        };
        let parents: Vec<String> = entry.op.parents.iter().map(OpHash::to_string).collect();
        if output.json {
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
