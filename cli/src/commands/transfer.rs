//! `cairn export` and `cairn import`: ops moved as an export stream (docs/SPEC.md §2.6). Import
//! checks every op as ingest does, so a stream with one bad op still imports the others.

use crate::context::Context;
use crate::Failure;
use cairn::export::{self, ExportReader};
use cairn::{IngestError, Ingested, OpHash};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// How many ops `import` ingests per transaction.
const IMPORT_BATCH: usize = 1_000;

pub fn export(cx: &Context, dir: &Path, since: &[String]) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let since: Vec<OpHash> = since.iter().map(|text| text.parse()).collect::<Result<_, _>>()?;
    let mut out = cx.out();
    out.write_all(&export::header(replica.id()))?;
    for bytes in replica.export(&since)? {
        out.write_all(&bytes)?;
    }
    out.flush()?;
    Ok(())
}

pub fn import(cx: &Context, dir: &Path) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let input = cx.stdin()?;
    // Input that is not an export at all is a different failure from ops that are refused.
    let stream = ExportReader::new(&input).map_err(|error| Failure::Unreadable(error.into()))?;
    stream.require_database(replica.id())?;
    let (mut accepted, mut duplicate, mut rejected, mut parked) = (0u64, 0u64, 0u64, 0u64);
    let mut errors = Vec::new();
    let mut equivocations = Vec::new();
    let mut ops: Vec<&[u8]> = Vec::new();
    let mut stream_error = None;
    for item in stream {
        match item {
            Ok(bytes) => ops.push(bytes),
            Err(error) => stream_error = Some(error.to_string()),
        }
    }
    let mut waiting = Vec::new();
    let mut storage_failure = None;
    for result in replica.ingest_stream(&ops, IMPORT_BATCH) {
        match result {
            Ok(Ingested::Accepted(_)) => accepted += 1,
            Ok(Ingested::Duplicate(_)) => duplicate += 1,
            Ok(Ingested::Parked { op, .. }) => waiting.push(op),
            Ok(Ingested::Equivocation { op, other, author, seq }) => {
                accepted += 1;
                equivocations.push(json!({ "op": op.to_string(), "other": other.to_string(), "author": author.to_string(), "seq": seq }));
            }
            Err(error) => {
                if matches!(error, IngestError::Storage(_)) {
                    storage_failure = Some(error.to_string());
                }
                rejected += 1;
                errors.push(json!({ "op": error.op().map(|op| op.to_string()), "reason": error.to_string() }));
            }
        }
    }
    // An op that waited for a parent later in the stream was stored when the parent came.
    for op in waiting {
        if replica.contains(&op)? {
            accepted += 1;
        } else {
            parked += 1;
        }
    }
    if let Some(reason) = stream_error {
        rejected += 1;
        errors.push(json!({ "op": null, "reason": format!("the rest of the stream is unreadable: {reason}") }));
    }
    let summary = json!({
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": rejected,
        "parked": parked,
        "errors": errors,
        "equivocations": equivocations,
    });
    let mut text =
        format!("accepted {accepted}, duplicate {duplicate}, rejected {rejected}, waiting for parents {parked}");
    for error in &errors {
        text.push_str(&format!(
            "\n  rejected {}: {}",
            error["op"].as_str().unwrap_or("(undecodable)"),
            error["reason"].as_str().unwrap_or("")
        ));
    }
    for equivocation in &equivocations {
        text.push_str(&format!(
            "\n  equivocation: {} signed {} and {} with sequence number {}: the key was used on two replicas, and \
             every op it signs from there on is void",
            equivocation["author"].as_str().unwrap_or(""),
            equivocation["op"].as_str().unwrap_or(""),
            equivocation["other"].as_str().unwrap_or(""),
            equivocation["seq"]
        ));
    }
    if parked > 0 {
        text.push_str(&format!(
            "\n  {parked} ops wait for parents this replica does not hold; import an export that has them"
        ));
    }
    cx.print(summary, text)?;
    if let Some(reason) = storage_failure {
        // The store could not take the ops: the import did not happen, whatever was counted.
        return Err(format!("the import stopped on a storage failure: {reason}").into());
    }
    // Exit 0 only when every op was accepted or already held.
    if rejected > 0 || parked > 0 {
        return Err(Failure::Reported);
    }
    Ok(())
}
