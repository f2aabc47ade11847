//! `cairn events`: the event stream as JSON lines, optionally as a named consumer that resumes
//! after its checkpoint, optionally following new events.

use crate::context::Context;
use crate::Failure;
use cairn::Replica;
use serde_json::{json, Value as Json};
use std::io::Write;
use std::path::Path;

/// How many events `cairn events` reads (and, for a consumer, commits) at a time.
const EVENT_BATCH: usize = 1_000;

pub fn events(cx: &Context, dir: &Path, consumer: Option<&str>, follow: bool) -> Result<(), Failure> {
    let mut after = None;
    loop {
        // The store is opened for each batch and closed while waiting, so that other `cairn`
        // processes can write to it meanwhile (a running node keeps it open for all of them).
        let replica = cx.replica(dir)?;
        let mut consumer = consumer.map(|name| replica.consumer(name)).transpose()?;
        let from = after.unwrap_or_else(|| consumer.as_ref().map_or(0, |consumer| consumer.checkpoint()));
        let batch = replica.events_after(from, EVENT_BATCH)?;
        if batch.is_empty() {
            if !follow {
                return Ok(());
            }
            drop(consumer);
            drop(replica);
            after = Some(from);
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        let mut out = cx.out();
        for event in &batch {
            writeln!(out, "{}", event_json(&replica, event))?;
        }
        out.flush()?;
        drop(out);
        let last = batch.last().map_or(from, |event| event.seq);
        after = Some(last);
        // The checkpoint moves only after the events are written out: a consumer that dies in
        // between sees them again (at least once), never loses one.
        if let Some(consumer) = consumer.as_mut() {
            consumer.commit(last)?;
        }
    }
}

fn event_json(replica: &Replica, event: &cairn::Event) -> Json {
    let fields: serde_json::Map<String, Json> = event
        .fields
        .iter()
        .map(|(name, value)| {
            let ty = event
                .collection
                .as_ref()
                .and_then(|collection| replica.schema().collections.get(collection))
                .and_then(|collection| collection.field(name));
            let json = match ty {
                Some(field) => cairn::json::to_json(&field.ty, value),
                None => cairn::json::untyped_json(value),
            };
            (name.clone(), json)
        })
        .collect();
    json!({
        "seq": event.seq,
        "kind": event.kind.name(),
        "collection": event.collection,
        "row": event.row.map(|row| row.to_string()),
        "op": event.op.to_string(),
        "fields": fields,
        "cause": event.cause.name(),
        "rows": event.rows.iter().map(|(collection, row)| json!({ "collection": collection, "row": row.to_string() })).collect::<Vec<_>>(),
        "by": event.by.map(|by| by.to_string()),
    })
}
